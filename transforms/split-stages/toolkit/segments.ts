/**
 * The output of the Node and Python planners: the original text cut per
 * instruction (comments travel with the instruction below them) and laid out
 * again as a build stage and a runtime stage.
 *
 * Typical use in a planner:
 *   const segs = stageSegments(model, stage);             // original bytes, per instruction
 *   const { piece, name } = fromAsBuild(model, stage, segs.from);
 *   const build: Piece[] = [piece, ...segs.items.map((s) => seg(s))];
 *   const runtime: Piece[] = [newLines(`${keyword(model, "FROM")} ${baseImage(options, "node:20-slim")}`),
 *                             newLines(copyFromLine(model, name, "/app", "/app", "node:node")), ...];
 *   return layoutRewrite(model, segs, build, runtime, "message");
 * Every original instruction must be placed in `build` or `runtime` (layoutRewrite refuses otherwise),
 * so no line and no comment is lost; new lines use the file's EOL and keyword case.
 */
import type { DockerfileModel, Instr, Stage } from "../../../src/engine/parse.ts";
import { keyword } from "../../../src/engine/style.ts";
import type { Edit } from "../../../src/engine/types.ts";
import type { SplitOutcome } from "../types.ts";
import { userLine } from "./users.ts";
import { BOTH_STAGES, buildsAfter, dedupeWorkdirs, MOVABLE_WHEN_LAST, RUNTIME_ONLY } from "./instructions.ts";

export interface Segment {
  /** The instruction, or null for the trailing comment block. */
  instr: Instr | null;
  /** Comment and blank lines just before the instruction (exact bytes, each ending in an EOL). */
  leading: string;
  /** The instruction's whole lines (exact bytes, ending in an EOL; one is added when the file lacks a final newline). */
  body: string;
}

export interface StageSegments {
  /** Everything before the FROM line (global ARGs, parser directives, comments), exact bytes. */
  head: string;
  from: Segment;
  /** The stage's instructions in order. */
  items: Segment[];
  /** Comment/blank lines after the last instruction (exact bytes). */
  tail: string;
  /** Offset where the replaced region starts (start of the FROM line). */
  start: number;
}

function withEol(text: string, eol: string): string {
  return text.endsWith("\n") ? text : text + eol;
}

/** Cuts a single-stage file into segments of original bytes. */
export function stageSegments(model: DockerfileModel, stage: Stage): StageSegments {
  const eol = model.source.eol;
  const text = model.text;
  const lineSpan = (i: Instr) => ({
    start: model.lineStart(i.line),
    end: model.lineEndIncludingEol(model.lineStart(i.endLine)),
  });
  const fromSpan = lineSpan(stage.from);
  // Comments directly above FROM belong to the head (they usually describe the file).
  const head = text.slice(0, fromSpan.start);
  const from: Segment = {
    instr: stage.from,
    leading: "",
    body: withEol(text.slice(fromSpan.start, fromSpan.end), eol),
  };
  const items: Segment[] = [];
  let pos = fromSpan.end;
  for (const instr of stage.instructions) {
    const s = lineSpan(instr);
    items.push({
      instr,
      leading: text.slice(pos, Math.max(pos, s.start)),
      body: withEol(text.slice(s.start, s.end), eol),
    });
    pos = Math.max(pos, s.end);
  }
  return { head, from, items, tail: text.slice(pos), start: fromSpan.start };
}

/** A piece of the output: original bytes or new lines. */
export type Piece =
  | { kind: "segment"; segment: Segment; leading?: "exact" | "trim" | "none"; before?: string[] }
  | { kind: "lines"; lines: string[] };

/**
 * An original segment. `leading`: "exact" keeps the comment and blank lines
 * above it as written (for lines that stay in place), "trim" drops the blank
 * lines but keeps comments (for moved lines), "none" drops both.
 */
export const seg = (segment: Segment, leading: "exact" | "trim" | "none" = "exact"): Piece => ({
  kind: "segment",
  segment,
  leading,
});

/**
 * New lines placed before an original segment: after the blank lines that
 * precede it, before its comments (so a comment stays above its instruction).
 */
export const linesBefore = (piece: Piece, lines: string[]): Piece =>
  piece.kind === "segment"
    ? { ...piece, before: [...(piece.before ?? []), ...lines] }
    : { kind: "lines", lines: [...lines, ...piece.lines] };

export const newLines = (...lines: string[]): Piece => ({ kind: "lines", lines });

/** The segment's text with leading blank lines trimmed (comments kept). */
function pieceText(p: Piece, eol: string): string {
  if (p.kind === "lines") return p.lines.map((l) => l + eol).join("");
  const mode = p.leading ?? "exact";
  const blank = /^(?:[ \t]*\r?\n)*/.exec(p.segment.leading)![0];
  const comments = p.segment.leading.slice(blank.length);
  const inserted = (p.before ?? []).map((l) => l + eol).join("");
  if (mode === "none") return inserted + p.segment.body;
  return (mode === "exact" ? blank : "") + inserted + comments + p.segment.body;
}

/**
 * The FROM segment with ` AS build` added (keyword case follows the file).
 * When the stage already has a name, the FROM is kept and that name is used.
 */
export function fromAsBuild(
  model: DockerfileModel,
  stage: Stage,
  from: Segment,
): { piece: Piece; name: string } {
  if (stage.name) return { piece: seg(from), name: stage.name };
  const image = stage.image!;
  const lineStart = model.lineStart(stage.from.line);
  const at = image.rawSpan.end - lineStart;
  const as = keyword(model, "AS");
  const body = from.body.slice(0, at) + ` ${as} build` + from.body.slice(at);
  return { piece: { kind: "segment", segment: { ...from, body } }, name: "build" };
}

/**
 * Builds the rewrite: the text from the FROM line to the end of the file is
 * replaced by the build pieces, a blank line, and the runtime pieces. Every
 * segment of the original must appear in `build` or `runtime` (or be listed in
 * `dropped` with a reason) so no comment is lost; the trailing comments go last.
 */
export function layoutRewrite(
  model: DockerfileModel,
  segs: StageSegments,
  build: Piece[],
  runtime: Piece[],
  message: string,
): SplitOutcome {
  const eol = model.source.eol;
  const placed = new Set<Instr | null>();
  for (const p of [...build, ...runtime]) if (p.kind === "segment") placed.add(p.segment.instr);
  const missing = segs.items.find((s) => !placed.has(s.instr));
  if (missing) {
    const m = missing.instr!;
    return { kind: "refuse", reason: `internal: instruction at line ${m.line} was not placed`, line: m.line };
  }
  // Comments of segments that appear twice are kept only the first time.
  const seenLeading = new Set<Segment>();
  const render = (pieces: Piece[]) =>
    pieces
      .map((p) => {
        if (p.kind === "segment") {
          const original = segs.items.find((s) => s.instr === p.segment.instr) ?? p.segment;
          if (seenLeading.has(original)) return pieceText({ ...p, leading: "none" }, eol);
          seenLeading.add(original);
        }
        return pieceText(p, eol);
      })
      .join("");
  let out = render(build) + eol + render(runtime);
  const tail = segs.tail.replace(/^(?:[ \t]*\r?\n)+/, "");
  if (tail.trim() !== "") out += eol + withEol(tail, eol);
  const edit: Edit = { start: segs.start, end: model.text.length, text: out };
  return { kind: "rewrite", edits: [edit], message };
}

/** `COPY --from=<stage> [--chown=x] <src> <dest>` in the file's case. */
export function copyFromLine(
  model: DockerfileModel,
  stageName: string,
  src: string,
  dest: string,
  chown?: string | null,
): string {
  const flags = [`--from=${stageName}`, ...(chown ? [`--chown=${chown}`] : [])].join(" ");
  return `${keyword(model, "COPY")} ${flags} ${src} ${dest}`;
}

/**
 * The build stage of a segment-based plan: every original line in place, in
 * order, less the instructions that only concern the runtime (collected in
 * `runtimeInstrs`) and the user-creation RUNs (collected in `userRuns`, for the
 * top of the runtime stage); an ENV/ARG/USER/SHELL after which nothing builds
 * moves to the runtime stage only. `skip` leaves an instruction out (a COPY the
 * planner moves); `before`/`after` add the planner's own lines around one.
 */
export function buildStagePieces(
  stage: Stage,
  segOf: Map<Instr, Segment>,
  fromPiece: Piece,
  plan: {
    skip?: Instr | null;
    isUserRun: (instr: Instr) => boolean;
    before?: (instr: Instr) => string[];
    after?: (instr: Instr) => Piece[];
  },
): { build: Piece[]; runtimeInstrs: Instr[]; userRuns: Instr[] } {
  const build: Piece[] = [fromPiece];
  const runtimeInstrs: Instr[] = [];
  const userRuns: Instr[] = [];
  for (const instr of stage.instructions) {
    if (instr === plan.skip) continue;
    if (RUNTIME_ONLY.has(instr.keyword)) {
      runtimeInstrs.push(instr);
      continue;
    }
    if (plan.isUserRun(instr)) userRuns.push(instr);
    else if (BOTH_STAGES.has(instr.keyword)) {
      runtimeInstrs.push(instr);
      if (MOVABLE_WHEN_LAST.has(instr.keyword) && !buildsAfter(stage, instr)) continue;
    }
    const s = seg(segOf.get(instr)!);
    const before = plan.before?.(instr) ?? [];
    build.push(before.length ? linesBefore(s, before) : s);
    build.push(...(plan.after?.(instr) ?? []));
  }
  return { build, runtimeInstrs, userRuns };
}

/**
 * The runtime stage of a segment-based plan: FROM `image`, the planner's
 * `setup` (packages, users, ENV), the runtime instructions in order (one
 * WORKDIR per folder) with `copyLines` after the last WORKDIR (first when
 * there is none), and `USER <user>` before the start command when `user` is set.
 */
export function runtimeStagePieces(
  model: DockerfileModel,
  segOf: Map<Instr, Segment>,
  r: { image: string; setup: Piece[]; runtimeInstrs: Instr[]; copyLines: string[]; user: string | null },
): Piece[] {
  const runtime: Piece[] = [newLines(`${keyword(model, "FROM")} ${r.image}`), ...r.setup];
  const instrs = dedupeWorkdirs(r.runtimeInstrs);
  const lastWorkdir = [...instrs].reverse().find((i) => i.keyword === "WORKDIR") ?? null;
  if (!lastWorkdir) runtime.push(newLines(...r.copyLines));
  let userAdded = false;
  for (const instr of instrs) {
    if (r.user && !userAdded && (instr.keyword === "CMD" || instr.keyword === "ENTRYPOINT")) {
      runtime.push(newLines(userLine(model, r.user)));
      userAdded = true;
    }
    runtime.push(seg(segOf.get(instr)!, "trim"));
    if (instr === lastWorkdir) runtime.push(newLines(...r.copyLines));
  }
  if (r.user && !userAdded) runtime.push(newLines(userLine(model, r.user)));
  return runtime;
}
