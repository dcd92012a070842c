import type { DockerfileModel, Instr, Span } from "./parse.ts";
import type { Edit } from "./types.ts";

/** Helpers so inserted text follows the file's own style. */

/** The keyword as this file would write it (lower-case files get lower-case). */
export function keyword(model: DockerfileModel, upper: string): string {
  let lower = 0;
  let total = 0;
  for (const i of model.instructions) {
    if (!/[a-z]/i.test(i.keywordText)) continue;
    total++;
    if (i.keywordText === i.keywordText.toLowerCase()) lower++;
  }
  return total > 0 && lower * 2 > total ? upper.toLowerCase() : upper;
}

/** Leading whitespace of the line an offset is on. */
export function indentAt(model: DockerfileModel, offset: number): string {
  const start = model.lineStart(model.lineOf(offset));
  const m = /^[ \t]*/.exec(model.text.slice(start, start + 200));
  return m ? m[0] : "";
}

/** Continuation indent used in this file's multi-line instructions (default 4 spaces). */
export function continuationIndent(model: DockerfileModel): string {
  for (const i of model.instructions) {
    if (i.endLine === i.line) continue;
    const secondLine = model.lineStart(i.line + 1);
    const m = /^[ \t]+/.exec(model.text.slice(secondLine, secondLine + 100));
    if (m) return m[0];
  }
  return "    ";
}

/** Insert whole lines before an instruction (each line gets the file's EOL). */
export function insertLinesBefore(model: DockerfileModel, instr: Instr, lines: string[]): Edit {
  const at = model.lineStart(instr.line);
  const eol = model.source.eol;
  return { start: at, end: at, text: lines.map((l) => l + eol).join("") };
}

/** Insert whole lines after an instruction, handling a missing final newline. */
export function insertLinesAfter(model: DockerfileModel, instr: Instr, lines: string[]): Edit {
  const eol = model.source.eol;
  const lastLineStart = model.lineStart(instr.endLine);
  const after = model.lineEndIncludingEol(lastLineStart);
  const endsWithNewline = model.text.slice(0, after).endsWith("\n");
  if (endsWithNewline) return { start: after, end: after, text: lines.map((l) => l + eol).join("") };
  return { start: after, end: after, text: lines.map((l) => eol + l).join("") };
}

/** Remove an instruction's whole lines (including its line ending). */
export function removeInstruction(model: DockerfileModel, instr: Instr): Edit {
  const start = model.lineStart(instr.line);
  const end = model.lineEndIncludingEol(model.lineStart(instr.endLine));
  return { start, end, text: "" };
}

export function replace(span: Span, text: string): Edit {
  return { start: span.start, end: span.end, text };
}

/** The escape + line ending that continues an instruction on the next line. */
export function continuation(model: DockerfileModel): string {
  return model.escapeChar + model.source.eol;
}
