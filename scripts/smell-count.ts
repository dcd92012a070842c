/**
 * npx tsx scripts/smell-count.ts [--sample N]
 *
 * DL3015 / DS-0029 (apt-get install without --no-install-recommends) over
 * ../shared/corpus/dockerfiles: how many install calls the originals have,
 * how many are left after dfopt's default transforms, and after the default
 * transforms plus apt-get-no-install-recommends; and whether every output
 * still parses. Calls are counted in every RUN tree-sitter reads, with the
 * same tool-call reader the repairs use.
 */
import fs from "node:fs";
import path from "node:path";
import { inputError, loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
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

async function main(): Promise<void> {
  if (!corpusAvailable) {
    console.log(`smell-count: ${CORPUS} not found`);
    return;
  }
  await loadParsers();
  let files = corpusFiles();
  const i = process.argv.indexOf("--sample");
  if (i > 0) files = files.filter((_, k) => k % Math.floor(files.length / Number(process.argv[i + 1])) === 0);
  const defaults = TRANSFORMS.filter((t) => !t.defaultOff);
  const withRepair = TRANSFORMS.filter((t) => !t.defaultOff || t.id === "apt-get-no-install-recommends");
  const totals = { before: 0, afterDefault: 0, afterRepair: 0, unparsable: 0, filesBefore: 0, filesAfter: 0 };
  const reasons = new Map<string, number>();
  for (const name of files) {
    const raw = fs.readFileSync(path.join(CORPUS, name), "utf8");
    let before: number;
    try {
      before = missingFlag(raw);
    } catch {
      continue;
    }
    if (before === 0) continue;
    totals.before += before;
    totals.filesBefore++;
    const plain = optimizeFile(raw, emptyContext, { transforms: defaults });
    const repaired = optimizeFile(raw, emptyContext, { transforms: withRepair });
    totals.afterDefault += missingFlag(plain.output);
    const left = missingFlag(repaired.output);
    totals.afterRepair += left;
    if (left > 0) totals.filesAfter++;
    const broken = (text: string) => inputError(text, parseDockerfile(text)) !== null;
    if (broken(repaired.output) && !broken(raw)) totals.unparsable++;
    for (const r of repaired.refusals) {
      if (r.transform !== "apt-get-no-install-recommends") continue;
      const k = reasonKey(r.transform, r.reason);
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
  }
  console.log(`DL3015/DS-0029 over ${files.length} corpus files (${totals.filesBefore} with the smell):`);
  console.log(`  apt-get install calls without --no-install-recommends: originals ${totals.before}`);
  console.log(`  after the default transforms:                          ${totals.afterDefault}`);
  console.log(
    `  after the defaults + apt-get-no-install-recommends:    ${totals.afterRepair} ` +
      `(${((100 * totals.afterRepair) / Math.max(1, totals.before)).toFixed(1)}%, in ${totals.filesAfter} files)`,
  );
  console.log(`  outputs that do not parse where the original does: ${totals.unparsable}`);
  console.log("  refusals by reason (top 15):");
  for (const [k, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`    ${String(n).padStart(6)}  ${k}`);
}

await main();
