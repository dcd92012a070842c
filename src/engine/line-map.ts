import { diffLines } from "diff";
import type { DockerfileModel } from "./parse.ts";
import type { Edit } from "./types.ts";

/**
 * Maps lines of the texts transforms see back to the user's file. A
 * transform sees the output of the transforms before it (shell-pipefail's
 * SHELL line moves every RUN below it down one line), but every line dfopt
 * reports must be a line of the file the user has. The engine records each
 * batch of edits it applies; a line is mapped back through them, batch by
 * batch. A line dfopt inserted maps to the line where it was inserted.
 */
export class LineMap {
  private readonly batches: Batch[] = [];

  constructor(private readonly original: DockerfileModel) {}

  /** How many batches are recorded, for `truncate` when a transform is undone. */
  get size(): number {
    return this.batches.length;
  }

  /**
   * Records edits that turned `before` into the next text. The line diff of
   * an edit that rewrites many lines is only worked out once a line inside
   * it is asked about: most lines asked about lie outside every edit.
   */
  push(before: string, edits: readonly Edit[]): void {
    this.batches.push({ before, edits: sortedEdits(edits), exact: new Map() });
  }

  /** Forgets the batches recorded after the first `size`. */
  truncate(size: number): void {
    this.batches.length = size;
  }

  /**
   * The user's line for `line` of `model`: a text the recorded batches led
   * to, then `pending` edits (not recorded yet) when given.
   */
  line(model: DockerfileModel, line: number, pending: readonly Edit[] = []): number {
    const starts = model.lineStarts;
    let offset = starts[Math.min(Math.max(line, 1), starts.length) - 1];
    if (pending.length > 0) offset = offsetBefore(offset, sortedEdits(pending), 0);
    for (let i = this.batches.length - 1; i >= 0; i--) offset = offsetBeforeBatch(offset, this.batches[i]);
    return this.original.lineOf(offset);
  }

  /**
   * `text` with every line number it names (`line 3`, `lines 3, 4 and 5`,
   * `lines 3–5`) mapped as `line` maps them. The convention transforms write
   * lines in, in messages and refusal reasons.
   */
  text(model: DockerfileModel, text: string, pending: readonly Edit[] = []): string {
    if (this.batches.length === 0 && pending.length === 0) return text;
    return text.replace(LINE_MENTION, (mention) =>
      mention.replace(/\d+/g, (n) => String(this.line(model, Number(n), pending))),
    );
  }
}

const LINE_MENTION = /\b[Ll]ines? \d+(?:(?:, and |, | and |–|-)\d+)*/g;

/**
 * An edit that rewrites many lines (split-stages replaces a whole stage) as
 * the smaller edits of a line diff, so that a line it kept word for word
 * still maps to the user's line rather than to the start of the edit.
 */
function lineExact(before: string, edit: Edit): Edit[] {
  const old = before.slice(edit.start, edit.end);
  if (!old.includes("\n") || !edit.text.includes("\n")) return [edit];
  const out: Edit[] = [];
  let at = edit.start;
  let pending: Edit | null = null;
  for (const part of diffLines(old, edit.text)) {
    if (!part.added && !part.removed) {
      if (pending) out.push(pending);
      pending = null;
      at += part.value.length;
      continue;
    }
    pending ??= { start: at, end: at, text: "" };
    if (part.removed) {
      at += part.value.length;
      pending.end = at;
    } else {
      pending.text += part.value;
    }
  }
  if (pending) out.push(pending);
  return out;
}

function sortedEdits(edits: readonly Edit[]): Edit[] {
  return [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** A recorded batch: its edits (sorted), and the line diffs of those asked about. */
interface Batch {
  before: string;
  edits: Edit[];
  exact: Map<Edit, Edit[]>;
}

/**
 * offsetBefore over the batch's edits each replaced by its line diff
 * (lineExact), which only an offset inside the edit's new text needs: the
 * line diff covers the same span, so the offsets around it map the same.
 */
function offsetBeforeBatch(offset: number, batch: Batch): number {
  let delta = 0;
  for (const e of batch.edits) {
    const start = e.start + delta;
    if (offset < start) break;
    if (offset < start + e.text.length) {
      let parts = batch.exact.get(e);
      if (!parts) batch.exact.set(e, (parts = sortedEdits(lineExact(batch.before, e))));
      return offsetBefore(offset, parts, delta);
    }
    delta += e.text.length - (e.end - e.start);
  }
  return offset - delta;
}

/**
 * The offset in the text before `edits` (sorted) of `offset` in the text
 * after them; `delta`: how much edits before these moved the text.
 */
function offsetBefore(offset: number, edits: readonly Edit[], delta: number): number {
  for (const e of edits) {
    const start = e.start + delta;
    if (offset < start) break;
    if (offset < start + e.text.length) return e.start;
    delta += e.text.length - (e.end - e.start);
  }
  return offset - delta;
}
