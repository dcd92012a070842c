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
  private readonly batches: Edit[][] = [];

  constructor(private readonly original: DockerfileModel) {}

  /** How many batches are recorded, for `truncate` when a transform is undone. */
  get size(): number {
    return this.batches.length;
  }

  /** Records edits that turned the current text into the next one. */
  push(edits: readonly Edit[]): void {
    this.batches.push(sortedEdits(edits));
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
    if (pending.length > 0) offset = offsetBefore(offset, sortedEdits(pending));
    for (let i = this.batches.length - 1; i >= 0; i--) offset = offsetBefore(offset, this.batches[i]);
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

function sortedEdits(edits: readonly Edit[]): Edit[] {
  return [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** The offset in the text before `edits` (sorted) of `offset` in the text after them. */
function offsetBefore(offset: number, edits: readonly Edit[]): number {
  let delta = 0;
  for (const e of edits) {
    const start = e.start + delta;
    if (offset < start) break;
    if (offset < start + e.text.length) return e.start;
    delta += e.text.length - (e.end - e.start);
  }
  return offset - delta;
}
