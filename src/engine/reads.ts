import type { CommentLine, DockerfileModel, Instr, Stage } from "./parse.ts";
import { NO_SUPPRESSIONS, readSuppressions } from "./suppress.ts";

/**
 * Whether a transform that declares `reads` (src/engine/types.ts) sees the
 * same in both models, so decides the same on both. What it sees, in file
 * order: the comments, the text of each instruction it reads, the keyword of
 * every other instruction of a stage, and each FROM as the stage it starts
 * (flags, expanded base image, name). An ARG before the first FROM that it
 * does not read only feeds the FROM lines (their expanded images) and the
 * defaults of ARGs in stages (read by a transform that reads ARG), so it is
 * not seen. False when that cannot be told: a file with suppression comments
 * (a suppression names instructions by line, so moving lines can change what
 * it governs). Compared in place, item by item: it runs for every transform
 * a later round might skip, and most differ early or not at all.
 */
export function readsTheSame(
  before: DockerfileModel,
  after: DockerfileModel,
  reads: readonly string[],
): boolean {
  if (before.escapeChar !== after.escapeChar || before.comments.length !== after.comments.length)
    return false;
  if (readSuppressions(before) !== NO_SUPPRESSIONS || readSuppressions(after) !== NO_SUPPRESSIONS)
    return false;
  const read = readSet(reads);
  const a = new Cursor(before, read);
  const b = new Cursor(after, read);
  for (;;) {
    const x = a.next();
    const y = b.next();
    if (x === null || y === null) return x === y;
    if (!sameItem(x, y, a, b, read)) return false;
  }
}

const sets = new WeakMap<readonly string[], ReadonlySet<string>>();

function readSet(reads: readonly string[]): ReadonlySet<string> {
  let set = sets.get(reads);
  if (!set) sets.set(reads, (set = new Set(reads)));
  return set;
}

type Item = CommentLine | Instr;

const isInstr = (item: Item): item is Instr => "keyword" in item;

/** Walks a model's comments and instructions in file order, leaving out what a reader does not see. */
class Cursor {
  private instr = 0;
  private comment = 0;
  /** Stages started so far: the k-th FROM starts stage k. */
  stages = 0;

  constructor(
    private readonly model: DockerfileModel,
    private readonly read: ReadonlySet<string>,
  ) {}

  next(): Item | null {
    const { instructions, comments } = this.model;
    for (;;) {
      const i = instructions[this.instr];
      const c = comments[this.comment];
      if (c && (!i || c.start < i.start)) {
        this.comment++;
        return c;
      }
      if (!i) return null;
      this.instr++;
      if (i.keyword === "FROM") this.stages++;
      else if (i.stage < 0 && !this.read.has(i.keyword)) continue;
      return i;
    }
  }

  /** The stage the FROM just returned starts. */
  stage(): Stage | undefined {
    return this.model.stages[this.stages - 1];
  }
}

function sameItem(x: Item, y: Item, a: Cursor, b: Cursor, read: ReadonlySet<string>): boolean {
  if (!isInstr(x) || !isInstr(y)) return !isInstr(x) && !isInstr(y) && x.text === y.text;
  const i = x;
  const j = y;
  if (i.keyword !== j.keyword) return false;
  if (read.has(i.keyword)) return i.text === j.text;
  if (i.keyword !== "FROM") return true;
  return sameFrom(i, j) && sameStage(a.stage(), b.stage());
}

function sameFrom(i: Instr, j: Instr): boolean {
  if (i.flags.length !== j.flags.length) return false;
  return i.flags.every((f, k) => f.name === j.flags[k].name && f.value === j.flags[k].value);
}

/** The same stage name and base image, as expanded; an image left unresolved compares as written. */
function sameStage(s: Stage | undefined, t: Stage | undefined): boolean {
  if (!s || !t) return s === t;
  if (s.name !== t.name) return false;
  const p = s.image;
  const q = t.image;
  if (!p || !q) return p === q;
  return seenImage(p) === seenImage(q);
}

function seenImage(image: NonNullable<Stage["image"]>): string {
  // a variable left unresolved (or resolving to nothing) is how it is written, not what it names
  const unresolved = image.usesVariables && (image.expanded === "" || image.expanded.includes("$"));
  return unresolved ? `raw:${image.raw}` : image.expanded;
}
