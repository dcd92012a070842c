import type { Change, Edit } from "./types.ts";

const overlaps = (a: Edit, b: Edit) =>
  (a.start < b.end && b.start < a.end) || (a.start === b.start && a.end === b.end);

/**
 * Picks the changes to apply this pass: in order of position, a change whose
 * edits overlap an already accepted edit is deferred (the transform runs again
 * on the new text and may propose it then). All edits of a change apply together.
 */
export function selectChanges(changes: readonly Change[]): { accepted: Change[]; deferred: Change[] } {
  const ordered = [...changes].sort((a, b) => firstStart(a) - firstStart(b));
  const taken: Edit[] = [];
  const accepted: Change[] = [];
  const deferred: Change[] = [];
  for (const change of ordered) {
    const conflicts =
      change.edits.some((e, i) => change.edits.some((f, j) => i < j && overlaps(e, f))) ||
      change.edits.some((e) => taken.some((t) => overlaps(e, t)));
    if (conflicts) {
      deferred.push(change);
      continue;
    }
    accepted.push(change);
    taken.push(...change.edits);
  }
  return { accepted, deferred };
}

function firstStart(change: Change): number {
  return change.edits.reduce((m, e) => Math.min(m, e.start), Infinity);
}

/** Applies non-overlapping edits to `text`. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let out = "";
  let pos = 0;
  for (const e of sorted) {
    if (e.start < pos || e.end < e.start || e.end > text.length) {
      throw new Error(`invalid edit ${e.start}-${e.end} (text length ${text.length})`);
    }
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}
