import type { DockerfileModel } from "./parse.ts";
import { NO_SUPPRESSIONS, readSuppressions } from "./suppress.ts";

/**
 * What a transform that declares `reads` (src/engine/types.ts) sees of a
 * model, as one string: equal strings mean it decides the same on both
 * models. Null when that cannot be told (a file with suppression comments:
 * a suppression names instructions by line, so moving lines can change what
 * it governs). Kept per model and per list of keywords.
 */
export function readsFingerprint(model: DockerfileModel, reads: readonly string[]): string | null {
  let byReads = fingerprints.get(model);
  if (!byReads) fingerprints.set(model, (byReads = new Map<string, string | null>()));
  const key = reads.join(",");
  let print = byReads.get(key);
  if (print === undefined) byReads.set(key, (print = fingerprint(model, new Set(reads))));
  return print;
}

const fingerprints = new WeakMap<DockerfileModel, Map<string, string | null>>();

const SEPARATOR = "\n\0";

function fingerprint(model: DockerfileModel, reads: ReadonlySet<string>): string | null {
  if (readSuppressions(model) !== NO_SUPPRESSIONS) return null;
  const parts: string[] = [model.escapeChar];
  let comment = 0;
  const comments = model.comments;
  const stageOf = new Map(model.stages.map((s) => [s.from, s]));
  for (const instr of model.instructions) {
    // comments in their place among the instructions (blank lines and positions are not kept)
    while (comment < comments.length && comments[comment].start < instr.start)
      parts.push(comments[comment++].text);
    if (reads.has(instr.keyword)) parts.push(instr.text);
    else if (instr.keyword === "FROM") {
      const stage = stageOf.get(instr);
      const flags = instr.flags.map((f) => `--${f.name}=${f.value ?? ""}`).join(" ");
      const image = stage?.image;
      // a variable left unresolved (or resolving to nothing) is how it is written, not what it names
      const unresolved = image?.usesVariables && (image.expanded === "" || image.expanded.includes("$"));
      parts.push(`FROM ${flags} ${unresolved ? image.raw : (image?.expanded ?? "")} AS ${stage?.name ?? ""}`);
    } else if (instr.stage >= 0) parts.push(instr.keyword);
    // An ARG before the first FROM that it does not read only feeds the FROM lines (expanded above)
    // and the defaults of ARGs in stages (read by a transform that reads ARG).
  }
  while (comment < comments.length) parts.push(comments[comment++].text);
  return parts.join(SEPARATOR);
}
