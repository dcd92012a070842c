import type { DockerfileModel } from "./parse.ts";
import { NO_SUPPRESSIONS, readSuppressions } from "./suppress.ts";

/**
 * Whether a transform that declares `reads` (src/engine/types.ts) sees the
 * same in both models, so decides the same on both. False when that cannot be
 * told: a file with suppression comments (a suppression names instructions by
 * line, so moving lines can change what it governs).
 */
export function readsTheSame(
  before: DockerfileModel,
  after: DockerfileModel,
  reads: readonly string[],
): boolean {
  const a = seenBy(before, reads);
  const b = seenBy(after, reads);
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What a transform reading `reads` sees of a model, in file order: the text
 * of each instruction it reads, each other instruction's keyword, each FROM
 * as the stage it starts, and the comments. Kept per model and per list of
 * keywords (transforms that read the same share it); most are texts the model
 * holds.
 */
function seenBy(model: DockerfileModel, reads: readonly string[]): string[] | null {
  let byReads = seen.get(model);
  if (!byReads) seen.set(model, (byReads = new Map<string, string[] | null>()));
  let key = keyOf.get(reads);
  if (key === undefined) keyOf.set(reads, (key = [...reads].sort().join(",")));
  let parts = byReads.get(key);
  if (parts === undefined) byReads.set(key, (parts = read(model, new Set(reads))));
  return parts;
}

const seen = new WeakMap<DockerfileModel, Map<string, string[] | null>>();
const keyOf = new WeakMap<readonly string[], string>();

function read(model: DockerfileModel, reads: ReadonlySet<string>): string[] | null {
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
  return parts;
}
