/**
 * npm run corpus [-- --sample N] [-- --shard i/n]
 *
 * Runs every transform over ../shared/corpus/dockerfiles (in-process, empty
 * build context, as test/corpus-check.ts does) and prints: files, changed,
 * refused by reason, errors by kind, seconds; and the invariant violations:
 * output that does not parse, a second run that changes something, a line
 * no edit touched that is no longer byte-identical (line ending, trailing
 * blanks, BOM), comment lines lost, COPY --link or heredocs that were not
 * in the input.
 */
import fs from "node:fs";
import path from "node:path";
import { structuredPatch } from "diff";
import { parseShard, shardFiles } from "../src/io/discover.ts";
import { reasonKey } from "../src/report/summary.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { CORPUS, checkFile, corpusAvailable, corpusFiles } from "../test/corpus-check.ts";
import { loadParsers } from "../src/engine/engine.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * Lines that come out of the rewrite differing from an input line only in
 * bytes no transform means to touch: line ending, trailing blanks, a BOM.
 * A rewritten line that is otherwise equal means an "untouched" line lost
 * its exact bytes.
 */
export function alteredUntouchedLines(before: string, after: string): string[] {
  const patch = structuredPatch("a", "b", before, after, undefined, undefined, { context: 0 });
  const found: string[] = [];
  const loose = (l: string) => l.replace(/^\uFEFF/, "").replace(/[ \t\r]+$/, "");
  for (const h of patch.hunks) {
    const removed = h.lines.filter((l) => l.startsWith("-")).map((l) => l.slice(1));
    const added = new Set(h.lines.filter((l) => l.startsWith("+")).map((l) => l.slice(1)));
    const addedLoose = new Map([...added].map((l) => [loose(l), l]));
    for (const r of removed) {
      if (added.has(r) || loose(r) === "") continue;
      const twin = addedLoose.get(loose(r));
      if (twin !== undefined && twin !== r) found.push(JSON.stringify(r) + " → " + JSON.stringify(twin));
    }
  }
  return found;
}

const newSyntax = (before: string, after: string): string[] => {
  const out: string[] = [];
  const link = /^\s*COPY\b[^\n]*--link\b/im;
  const heredoc = /^\s*RUN\b[^\n]*<<-?\s*["']?[A-Za-z_]/im;
  if (link.test(after) && !link.test(before)) out.push("COPY --link introduced");
  if (heredoc.test(after) && !heredoc.test(before)) out.push("RUN heredoc introduced");
  return out;
};

async function main(): Promise<void> {
  if (!corpusAvailable) {
    console.log(`corpus: ${CORPUS} not found; nothing to do (the shared corpus is not on this machine).`);
    return;
  }
  await loadParsers();
  let files = corpusFiles();
  const sample = arg("--sample");
  if (sample) {
    const n = Number(sample);
    const step = Math.max(1, Math.floor(files.length / n));
    files = files.filter((_, i) => i % step === 0).slice(0, n);
  }
  const shard = arg("--shard");
  if (shard) {
    const s = parseShard(shard);
    files = shardFiles(files, s.index, s.count);
  }

  const started = performance.now();
  let changed = 0;
  let refusedFiles = 0;
  const reasons = new Map<string, number>();
  const errors = new Map<string, number>();
  const violations = new Map<string, string[]>();
  const violate = (kind: string, file: string, detail: string) => {
    const list = violations.get(kind) ?? [];
    list.push(`${file}: ${detail.split("\n")[0].slice(0, 200)}`);
    violations.set(kind, list);
  };
  let done = 0;
  for (const name of files) {
    const raw = fs.readFileSync(path.join(CORPUS, name), "utf8");
    const { result, violations: found } = checkFile(name, raw, TRANSFORMS);
    for (const v of found) violate(v.kind, name, v.detail);
    if (result.error) errors.set(result.error.kind, (errors.get(result.error.kind) ?? 0) + 1);
    if (result.changed) {
      changed++;
      for (const d of alteredUntouchedLines(result.original, result.output))
        violate("untouched-line-altered", name, d);
      for (const d of newSyntax(result.original, result.output)) violate("new-syntax", name, d);
    }
    if (result.refusals.length > 0) refusedFiles++;
    for (const r of result.refusals) {
      const k = reasonKey(r.transform, r.reason);
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
    if (++done % 1000 === 0) process.stderr.write(`  ${done}/${files.length}\n`);
  }
  const seconds = (performance.now() - started) / 1000;

  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
  console.log(
    `corpus: ${files.length} files in ${seconds.toFixed(1)} s (${(files.length / seconds).toFixed(0)} files/s, one thread)`,
  );
  console.log(
    `  changed ${changed}, with refusals ${refusedFiles}, errors ${[...errors.values()].reduce((a, b) => a + b, 0)}`,
  );
  console.log("  errors by kind:");
  for (const [k, n] of top(errors, 50)) console.log(`    ${String(n).padStart(6)}  ${k}`);
  console.log(`  refusals by reason (top 25 of ${reasons.size}):`);
  for (const [k, n] of top(reasons, 25)) console.log(`    ${String(n).padStart(6)}  ${k}`);
  const total = [...violations.values()].reduce((a, l) => a + l.length, 0);
  console.log(`  invariant violations: ${total}`);
  for (const [kind, list] of violations) {
    console.log(`    ${kind}: ${list.length}`);
    for (const v of list.slice(0, 5)) console.log(`      ${v}`);
  }
  process.exitCode = total > 0 ? 1 : 0;
}

await main();
