/**
 * Control characters (C0, DEL, C1) and the Unicode marks that reorder text (bidi overrides and
 * isolates): what a file name, a Dockerfile line or a package.json value must not send to a terminal.
 */
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` for one line of human output: every control character and bidi mark written as an escape
 * (`\x1b`, `\x0a`, `\u202e`), so a hostile repository's names cannot move the cursor, clear the
 * screen, set the terminal's title, split one report line in two or reorder what is shown.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}
