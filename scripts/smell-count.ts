/**
 * npx tsx scripts/smell-count.ts [--sample N] [--rule ID]
 *
 * Repairable findings over ../shared/corpus/dockerfiles (empty build
 * context), per peer rule, in the originals and after `dfopt --write` with
 * the default transforms, both as they apply today (safe and unsafe
 * changes) and under `--safe` (safe changes only). A finding is what a
 * transform reports for a rule in one read of the file: a change it would
 * make or a refusal saying why it cannot (every transform on, including
 * unsafe changes, as a linter would flag them). DL3015 is also counted by an
 * independent reader (apt-get/apt install calls without
 * --no-install-recommends), and every output is checked to still parse.
 * `--rule ID` lists the refusal reasons left for that rule (DL3015 by default).
 * `--peer NAME=DIR` adds a column for another tool's repairs: DIR/<corpus file>/Dockerfile holds its
 * output for that file (e.g. tally lint --fix --fix-unsafe run on copies); only those files are read.
 */
import fs from "node:fs";
import path from "node:path";
import { inputError, loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { emptyContext } from "../src/io/context.ts";
import { reasonKey } from "../src/report/summary.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { runScripts, toolCalls } from "../transforms/pkg/shell-edits.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "../test/corpus-check.ts";

function missingFlag(text: string): number {
  let n = 0;
  for (const rs of runScripts(parseDockerfile(text))) {
    for (const call of toolCalls(rs, ["apt-get", "apt"])) {
      if (call.sub?.value !== "install") continue;
      if (!call.words.some((w) => /install-recommends/i.test(w.value ?? w.raw))) n++;
    }
  }
  return n;
}

type Counts = Map<string, number>;
const add = (m: Counts, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);

/**
 * Rule → findings in one read of `text` (one per rule and line, however many
 * transforms report it); refusal reasons of `rule` go to `reasons`.
 */
function findings(text: string, into: Counts, rule: string, reasons?: Counts): void {
  const model = parseDockerfile(text);
  const seen = new Set<string>();
  const found = (r: string, line: number | null) => {
    if (seen.has(`${r} ${line}`)) return false;
    seen.add(`${r} ${line}`);
    add(into, r);
    return true;
  };
  for (const t of TRANSFORMS) {
    if (!t.rules?.length) continue;
    let result;
    try {
      result = t.run({ model, context: emptyContext, options: DEFAULT_OPTIONS });
    } catch {
      continue;
    }
    for (const c of result.changes) for (const r of c.rules ?? t.rules) found(r, c.line);
    for (const f of result.refusals)
      for (const r of f.rules ?? t.rules)
        if (found(r, f.line) && reasons && r === rule) add(reasons, reasonKey(t.id, f.reason));
  }
}

async function main(): Promise<void> {
  if (!corpusAvailable) {
    console.log(`smell-count: ${CORPUS} not found`);
    return;
  }
  await loadParsers();
  let files = corpusFiles();
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const sample = arg("--sample");
  if (sample) files = files.filter((_, k) => k % Math.floor(files.length / Number(sample)) === 0);
  const rule = arg("--rule") ?? "DL3015";
  const [peerName, peerDir] = (arg("--peer") ?? "").split("=");
  if (peerDir) files = files.filter((f) => fs.existsSync(path.join(peerDir, f, "Dockerfile")));
  const peer: Counts = new Map();
  const defaults = TRANSFORMS.filter((t) => !t.defaultOff);
  const before: Counts = new Map();
  const after: Counts = new Map();
  const afterSafe: Counts = new Map();
  const reasons: Counts = new Map();
  const apt = { before: 0, after: 0, afterSafe: 0, files: 0, filesAfter: 0 };
  let unparsable = 0;
  let unparsablePeer = 0;
  let read = 0;
  for (const name of files) {
    const raw = fs.readFileSync(path.join(CORPUS, name), "utf8");
    const broken = (text: string) => inputError(text, parseDockerfile(text)) !== null;
    try {
      if (broken(raw)) continue;
      findings(raw, before, rule);
    } catch {
      continue;
    }
    read++;
    const written = optimizeFile(raw, emptyContext, { transforms: defaults });
    const safe = optimizeFile(raw, emptyContext, { transforms: defaults, safeOnly: true });
    for (const out of [written.output, safe.output]) if (broken(out)) unparsable++;
    findings(written.output, after, rule, reasons);
    findings(safe.output, afterSafe, rule);
    if (peerDir) {
      const theirs = fs.readFileSync(path.join(peerDir, name, "Dockerfile"), "utf8");
      if (broken(theirs)) unparsablePeer++;
      else findings(theirs, peer, rule);
    }
    const n = missingFlag(raw);
    if (n === 0) continue;
    apt.files++;
    apt.before += n;
    const left = missingFlag(written.output);
    apt.after += left;
    if (left > 0) apt.filesAfter++;
    apt.afterSafe += missingFlag(safe.output);
  }
  const pct = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;
  const row = (cells: (string | number)[]) =>
    `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(16) : String(c).padStart(14))).join(" | ")} |`;
  console.log(`Repairable findings over ${read} parsing corpus files (of ${files.length}):\n`);
  const peerCols = peerDir ? [`${peerName}`, "left"] : [];
  console.log(row(["rule", "originals", "after --write", "left", "after --safe", "left", ...peerCols]));
  console.log(row(["---", "---:", "---:", "---:", "---:", "---:", ...peerCols.map(() => "---:")]));
  const rules = [...before.keys()].sort((a, b) => before.get(b)! - before.get(a)! || a.localeCompare(b));
  const total = { b: 0, a: 0, s: 0, p: 0 };
  const peerCells = (n: number, of: number) => (peerDir ? [n, pct(n, of)] : []);
  for (const r of rules) {
    const [b, a, s, p] = [before.get(r)!, after.get(r) ?? 0, afterSafe.get(r) ?? 0, peer.get(r) ?? 0];
    total.b += b;
    total.a += a;
    total.s += s;
    total.p += p;
    console.log(row([r, b, a, pct(a, b), s, pct(s, b), ...peerCells(p, b)]));
  }
  console.log(
    row([
      "all",
      total.b,
      total.a,
      pct(total.a, total.b),
      total.s,
      pct(total.s, total.b),
      ...peerCells(total.p, total.b),
    ]),
  );
  console.log(
    `\nDL3015 by the independent reader (apt-get/apt install calls without --no-install-recommends, ` +
      `in ${apt.files} files): originals ${apt.before}, after --write ${apt.after} ` +
      `(${pct(apt.after, apt.before)}, in ${apt.filesAfter} files), after --safe ${apt.afterSafe} ` +
      `(${pct(apt.afterSafe, apt.before)})`,
  );
  console.log(`Outputs that do not parse where the original does: ${unparsable}`);
  if (peerDir) console.log(`${peerName} outputs that do not parse (not counted): ${unparsablePeer}`);
  console.log(`\n${rule} refusal reasons left after --write (top 25):`);
  for (const [k, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`  ${String(n).padStart(6)}  ${k}`);
}

await main();
