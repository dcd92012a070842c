/**
 * The raw text of a Dockerfile with the facts needed to edit it without
 * disturbing bytes nobody asked to change: BOM, line ending, final newline.
 */
export interface SourceText {
  /** Text without the BOM; all offsets in dfopt refer to this string. */
  text: string;
  hasBom: boolean;
  /** The dominant line ending, used for every line dfopt inserts. */
  eol: "\n" | "\r\n";
}

const BOM = "\uFEFF";

export function decodeSource(raw: string): SourceText {
  const hasBom = raw.startsWith(BOM);
  const text = hasBom ? raw.slice(1) : raw;
  return { text, hasBom, eol: detectEol(text) };
}

export function encodeSource(source: SourceText, text: string): string {
  return source.hasBom ? BOM + text : text;
}

export function detectEol(text: string): "\n" | "\r\n" {
  let crlf = 0;
  let lf = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
    if (i > 0 && text.charCodeAt(i - 1) === 13) crlf++;
    else lf++;
  }
  return crlf > lf ? "\r\n" : "\n";
}

/** Offsets of the first character of every line (zero-based lines). */
export function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
    starts.push(i + 1);
  }
  return starts;
}

/** Zero-based line containing `offset`. */
export function lineAt(lineStarts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
