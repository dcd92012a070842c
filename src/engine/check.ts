import { KNOWN_INSTRUCTIONS, type DockerfileModel } from "./parse.ts";
import type { Edit } from "./types.ts";
import { shellOf } from "./shell.ts";

export interface Problem {
  /** Stable key without line numbers, so problems can be compared across edits. */
  key: string;
  line: number;
  message: string;
}

const IMAGE_LIKE = /[:/.@]/;

/**
 * What a misspelt keyword (`FORM`) or a template's placeholder (`CROSS_BUILD_COPY`, `apt-get` on a
 * line of its own) looks like: letters, `_` and `-`, short. No digits, so no token or key.
 */
const KEYWORD_LIKE = /^[A-Za-z_-]{1,24}$/;

/**
 * The error for a line that starts with no known instruction. A misspelt keyword is quoted; any
 * other first word is not: the file may be another file entirely (a Dockerfile linked to a
 * credentials file, found with --follow-symlinks), whose first line must not reach logs or reports.
 */
function unknownInstruction(keyword: string): string {
  return KEYWORD_LIKE.test(keyword)
    ? `unknown instruction '${keyword}'`
    : "unknown instruction: the line does not start with an instruction keyword";
}

/**
 * Structural problems a rewrite must never add: unknown instructions, FROM
 * without an image, duplicate stage names, `--from` references to stages that
 * do not exist, malformed exec form.
 */
export function structuralProblems(model: DockerfileModel): Problem[] {
  const problems: Problem[] = [];
  const stageNames = new Map<string, number>();
  for (const instr of model.instructions) {
    if (!KNOWN_INSTRUCTIONS.has(instr.keyword)) {
      problems.push({
        key: `unknown:${instr.keyword}`,
        line: instr.line,
        message: unknownInstruction(instr.keywordText),
      });
      continue;
    }
    if (instr.keyword === "FROM") {
      const stage = model.stages[instr.stage];
      if (!stage.image) {
        problems.push({ key: "from-without-image", line: instr.line, message: "FROM has no image" });
      }
      if (stage.name) {
        const name = stage.name.toLowerCase();
        if (stageNames.has(name)) {
          problems.push({
            key: `duplicate-stage:${name}`,
            line: instr.line,
            message: `stage name '${stage.name}' is used twice`,
          });
        }
        stageNames.set(name, instr.stage);
      }
      continue;
    }
    for (const ref of stageReferences(instr)) {
      const index = /^\d+$/.test(ref) ? Number(ref) : stageNames.get(ref.toLowerCase());
      const resolves = index !== undefined && index < instr.stage;
      if (!resolves && (/^\d+$/.test(ref) || !IMAGE_LIKE.test(ref))) {
        problems.push({
          key: `unresolved-from:${ref}`,
          line: instr.line,
          message: `--from=${ref} names no earlier stage`,
        });
      }
    }
  }
  return problems;
}

const NO_REFERENCES: string[] = [];

/** Stage names or indices an instruction reads from (`--from`, `--mount=...,from=`). */
export function stageReferences(instr: DockerfileModel["instructions"][number]): string[] {
  if (instr.flags.length === 0) return NO_REFERENCES;
  const refs: string[] = [];
  for (const flag of instr.flags) {
    if (flag.name === "from" && flag.value) refs.push(flag.value);
    if (flag.name === "mount" && flag.value) {
      const m = /(?:^|,)from=([^,]+)/.exec(flag.value);
      if (m) refs.push(m[1]);
    }
  }
  return refs.filter((r) => !r.includes("$"));
}

/** Number of shell-form RUNs whose shell tree-sitter cannot read. */
export function shellErrorCount(model: DockerfileModel): number {
  let n = 0;
  for (const instr of model.instructions) {
    if (instr.keyword === "RUN" && shellOf(instr, model.text, model.escapeChar)?.hasErrors) n++;
  }
  return n;
}

/**
 * Whether `next`, made from `start` by one transform, has a RUN with a new
 * text whose shell no longer parses, and more such RUNs than `start` had.
 * Most files have no RUN with shell errors at all: the RUN texts of `start`
 * are only gathered (and hashed) when `next` has one.
 */
export function shellNewlyBroken(start: DockerfileModel, next: DockerfileModel): boolean {
  const broken: string[] = [];
  for (const instr of next.instructions) {
    if (instr.keyword === "RUN" && shellOf(instr, next.text, next.escapeChar)?.hasErrors)
      broken.push(instr.text);
  }
  if (broken.length === 0) return false;
  const before = new Set(start.instructions.filter((i) => i.keyword === "RUN").map((i) => i.text));
  return broken.some((t) => !before.has(t)) && broken.length > shellErrorCount(start);
}

/** Problems in `after` that `before` did not have (compared by key, counting). */
export function newProblems(before: Problem[], after: Problem[]): Problem[] {
  const counts = new Map<string, number>();
  for (const p of before) counts.set(p.key, (counts.get(p.key) ?? 0) + 1);
  const added: Problem[] = [];
  for (const p of after) {
    const n = counts.get(p.key) ?? 0;
    if (n > 0) counts.set(p.key, n - 1);
    else added.push(p);
  }
  return added;
}

/**
 * An edit that adds text after the escape character ending the last
 * instruction's last non-blank line (`RUN a \` followed by blank lines or
 * comments up to the end of the file): the builder reads whatever it adds
 * as more of that instruction, so a line meant as a new instruction would
 * silently join its arguments. Returns the problem, or null.
 */
export function editIntoOpenContinuation(model: DockerfileModel, edits: readonly Edit[]): Problem | null {
  const last = model.instructions[model.instructions.length - 1];
  if (!last || last.hasHeredoc) return null;
  const escape = openContinuationOffset(last.text, model.escapeChar);
  if (escape === -1) return null;
  const at = last.start + escape;
  if (!edits.some((e) => e.start > at && e.text.trim() !== "")) return null;
  return {
    key: "open-continuation",
    line: last.line,
    message: `the ${last.keyword} at line ${last.line} ends with a line continuation (${model.escapeChar}), so a line added after it would become part of it`,
  };
}

/** Offset in `text` of the escape character that ends its last non-blank, non-comment line, or -1. */
function openContinuationOffset(text: string, escapeChar: string): number {
  let end = text.length;
  while (end > 0) {
    const start = text.lastIndexOf("\n", end - 1) + 1;
    const line = text.slice(start, end).trimEnd();
    // Comment lines inside a continuation are dropped by the builder; the first line is the keyword's.
    if (line !== "" && !(start > 0 && line.trimStart().startsWith("#"))) {
      return line.endsWith(escapeChar) ? start + line.length - 1 : -1;
    }
    end = start - 1;
  }
  return -1;
}
