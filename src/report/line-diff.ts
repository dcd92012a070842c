/**
 * The hunks of jsdiff's `structuredPatch` (v9), computed without its
 * generic machinery: the same Myers search with the same tie-breaking, over
 * lines interned to numbers. jsdiff's `formatPatch` still writes the text.
 * In a bulk run `structuredPatch` was 7-8% of a worker's time, and its
 * closures were re-optimised by V8 dozens of times; this is ~10x cheaper.
 * test/line-diff.test.ts checks that the output equals jsdiff's.
 */

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: string[];
}

/** Lines with their line ending (`\n` or `\r\n`), as jsdiff's diffLines splits them. */
export function splitLinesKeepingEnds(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl === -1) break;
    lines.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

interface Component {
  count: number;
  added: boolean;
  removed: boolean;
  previous: Component | undefined;
}

interface Path {
  oldPos: number;
  last: Component | undefined;
}

const enum Kind {
  Common,
  Added,
  Removed,
}

/**
 * The longest edit script the Myers search looks for. Its cost grows with the square of the edit
 * length, and a repository can make every line of a 1 MiB file change (100,000 RUNs merged into one:
 * minutes of CPU and gigabytes). Beyond it, as jsdiff does with its `maxEditLength`, the diff is the
 * common head and tail and one block of removed and added lines between them: still a valid patch.
 * dfopt's rewrites of the corpus stay far below it (at most a few hundred changed lines).
 */
const MAX_EDIT_LENGTH = 4000;

/** The common head and tail of `a` and `b`, and everything between them removed and then added. */
function headAndTail(a: Int32Array, b: Int32Array): Array<{ kind: Kind; count: number }> {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const runs = [
    { kind: Kind.Common, count: head },
    { kind: Kind.Removed, count: a.length - head - tail },
    { kind: Kind.Added, count: b.length - head - tail },
    { kind: Kind.Common, count: tail },
  ];
  return runs.filter((run) => run.count > 0);
}

/** Runs of common, added and removed lines, in order, as jsdiff's diffLines finds them. */
function lineRuns(oldLines: string[], newLines: string[]): Array<{ kind: Kind; count: number }> {
  // The search compares a line of one side with a line of the other only past the lines both
  // start with (its first move takes them all), so those get their position as their id and are
  // not hashed: -1, -2, ... on both sides, never equal to an interned id.
  let same = 0;
  while (same < oldLines.length && same < newLines.length && oldLines[same] === newLines[same]) same++;
  const ids = new Map<string, number>();
  const intern = (lines: string[]) => {
    const out = new Int32Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      if (i < same) {
        out[i] = -1 - i;
        continue;
      }
      let id = ids.get(lines[i]);
      if (id === undefined) ids.set(lines[i], (id = ids.size));
      out[i] = id;
    }
    return out;
  };
  const a = intern(oldLines);
  const b = intern(newLines);
  const oldLen = a.length;
  const newLen = b.length;

  const extend = (path: Path, diagonal: number): number => {
    let oldPos = path.oldPos;
    let newPos = oldPos - diagonal;
    let common = 0;
    while (newPos + 1 < newLen && oldPos + 1 < oldLen && a[oldPos + 1] === b[newPos + 1]) {
      newPos++;
      oldPos++;
      common++;
    }
    if (common > 0) path.last = { count: common, added: false, removed: false, previous: path.last };
    path.oldPos = oldPos;
    return newPos;
  };
  const step = (path: Path, added: boolean, removed: boolean, oldPosInc: number): Path => {
    const last = path.last;
    if (last && last.added === added && last.removed === removed) {
      return {
        oldPos: path.oldPos + oldPosInc,
        last: { count: last.count + 1, added, removed, previous: last.previous },
      };
    }
    return { oldPos: path.oldPos + oldPosInc, last: { count: 1, added, removed, previous: last } };
  };

  // bestPath is indexed by diagonal (-oldLen-newLen .. oldLen+newLen), shifted to start at 0.
  const offset = oldLen + newLen + 1;
  const bestPath = new Array<Path | undefined>(2 * offset + 1);
  const start: Path = { oldPos: -1, last: undefined };
  bestPath[offset] = start;
  let newPos = extend(start, 0);
  let found: Component | undefined;
  if (start.oldPos + 1 >= oldLen && newPos + 1 >= newLen) {
    found = start.last;
  } else {
    let minDiagonal = -Infinity;
    let maxDiagonal = Infinity;
    search: for (let editLength = 1; editLength <= newLen + oldLen; editLength++) {
      if (editLength > MAX_EDIT_LENGTH) return headAndTail(a, b);
      for (
        let diagonal = Math.max(minDiagonal, -editLength);
        diagonal <= Math.min(maxDiagonal, editLength);
        diagonal += 2
      ) {
        const removePath = bestPath[offset + diagonal - 1];
        const addPath = bestPath[offset + diagonal + 1];
        if (removePath) bestPath[offset + diagonal - 1] = undefined;
        let canAdd = false;
        if (addPath) {
          const addPathNewPos = addPath.oldPos - diagonal;
          canAdd = 0 <= addPathNewPos && addPathNewPos < newLen;
        }
        const canRemove = !!removePath && removePath.oldPos + 1 < oldLen;
        if (!canAdd && !canRemove) {
          bestPath[offset + diagonal] = undefined;
          continue;
        }
        const basePath =
          !canRemove || (canAdd && removePath.oldPos < addPath!.oldPos)
            ? step(addPath!, true, false, 0)
            : step(removePath, false, true, 1);
        newPos = extend(basePath, diagonal);
        if (basePath.oldPos + 1 >= oldLen && newPos + 1 >= newLen) {
          found = basePath.last;
          break search;
        }
        bestPath[offset + diagonal] = basePath;
        if (basePath.oldPos + 1 >= oldLen) maxDiagonal = Math.min(maxDiagonal, diagonal - 1);
        if (newPos + 1 >= newLen) minDiagonal = Math.max(minDiagonal, diagonal + 1);
      }
    }
  }
  const runs: Array<{ kind: Kind; count: number }> = [];
  for (let c = found; c; c = c.previous) {
    runs.push({ kind: c.added ? Kind.Added : c.removed ? Kind.Removed : Kind.Common, count: c.count });
  }
  return runs.reverse();
}

/** jsdiff's hunks (`structuredPatch(...).hunks`) for `context` lines of context. */
export function diffHunks(before: string, after: string, context: number): Hunk[] {
  const oldLines = splitLinesKeepingEnds(before);
  const newLines = splitLinesKeepingEnds(after);
  const runs = lineRuns(oldLines, newLines);
  // Each run's lines, as jsdiff's buildValues gives them (added: new lines, others: old/new).
  let oldPos = 0;
  let newPos = 0;
  const parts = runs.map((run) => {
    let lines: string[];
    if (run.kind === Kind.Removed) {
      lines = oldLines.slice(oldPos, oldPos + run.count);
      oldPos += run.count;
    } else {
      lines = newLines.slice(newPos, newPos + run.count);
      newPos += run.count;
      if (run.kind === Kind.Common) oldPos += run.count;
    }
    return { kind: run.kind, lines };
  });
  parts.push({ kind: Kind.Common, lines: [] });

  const hunks: Hunk[] = [];
  let oldRangeStart = 0;
  let newRangeStart = 0;
  let range: string[] = [];
  let oldLine = 1;
  let newLine = 1;
  for (let i = 0; i < parts.length; i++) {
    const { kind, lines } = parts[i];
    if (kind !== Kind.Common) {
      if (!oldRangeStart) {
        const prev = parts[i - 1];
        oldRangeStart = oldLine;
        newRangeStart = newLine;
        if (prev) {
          range = context > 0 ? prev.lines.slice(-context).map((l) => " " + l) : [];
          oldRangeStart -= range.length;
          newRangeStart -= range.length;
        }
      }
      const mark = kind === Kind.Added ? "+" : "-";
      for (const line of lines) range.push(mark + line);
      if (kind === Kind.Added) newLine += lines.length;
      else oldLine += lines.length;
    } else {
      if (oldRangeStart) {
        if (lines.length <= context * 2 && i < parts.length - 2) {
          for (const line of lines) range.push(" " + line);
        } else {
          const contextSize = Math.min(lines.length, context);
          for (const line of lines.slice(0, contextSize)) range.push(" " + line);
          hunks.push({
            oldStart: oldRangeStart,
            oldLines: oldLine - oldRangeStart + contextSize,
            newStart: newRangeStart,
            newLines: newLine - newRangeStart + contextSize,
            lines: range,
          });
          oldRangeStart = 0;
          newRangeStart = 0;
          range = [];
        }
      }
      oldLine += lines.length;
      newLine += lines.length;
    }
  }
  for (const hunk of hunks) {
    const out: string[] = [];
    for (const line of hunk.lines) {
      if (line.endsWith("\n")) out.push(line.slice(0, -1));
      else out.push(line, "\\ No newline at end of file");
    }
    hunk.lines = out;
  }
  return hunks;
}
