import { formatPatch } from "diff";
import { diffHunks } from "./line-diff.ts";
import { printable } from "./printable.ts";

/**
 * A git-style unified diff (`a/path`, `b/path`); `before === null` is a new
 * file. Line endings are kept as they are, so a CRLF change would show.
 * Same text as jsdiff's createTwoFilesPatch with 3 lines of context.
 */
export function unifiedDiff(path: string, before: string | null, after: string): string {
  const file = path.replace(/^\/+/, "");
  const patch = formatPatch({
    oldFileName: before === null ? "/dev/null" : `a/${file}`,
    newFileName: `b/${file}`,
    oldHeader: undefined,
    newHeader: undefined,
    hunks: diffHunks(before ?? "", after, 3),
  });
  // jsdiff starts with an "Index:"-less "===" header line; keep only ---/+++ and hunks.
  return patch.startsWith("=") ? patch.slice(patch.indexOf("\n") + 1) : patch;
}

/**
 * A diff for a terminal: the control characters and bidi marks of the file's lines written as
 * escapes (`\x1b`, `\u202e`), as less shows them when git pages a diff, so that a line of a hostile
 * Dockerfile cannot erase the line above it, set the title or write the clipboard. Tabs and a
 * line's final CR (CRLF files) stay. Only for a terminal: into a pipe or a file the patch is exact.
 */
export function terminalDiff(diff: string): string {
  return diff
    .split("\n")
    .map((line) => {
      const cr = line.endsWith("\r") ? "\r" : "";
      return (
        (cr ? line.slice(0, -1) : line)
          .split("\t")
          .map((part) => printable(part))
          .join("\t") + cr
      );
    })
    .join("\n");
}

const RESET = "\u001b[0m";
const COLORS: Record<string, string> = { "+": "\u001b[32m", "-": "\u001b[31m", "@": "\u001b[36m" };

export function colorizeDiff(diff: string): string {
  return diff
    .split("\n")
    .map((line) => {
      if (line.startsWith("+++") || line.startsWith("---")) return `\u001b[1m${line}${RESET}`;
      const color = COLORS[line[0]];
      return color ? color + line + RESET : line;
    })
    .join("\n");
}
