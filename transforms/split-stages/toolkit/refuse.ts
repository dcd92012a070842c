/**
 * The one way a planner gives up: `refuse(reason, at)` throws a `PlanRefusal`,
 * and `guarded` (around every planner's `plan`) turns it into a refuse outcome
 * that the dispatcher reports as the engine's Refusal.
 */
import type { Instr } from "../../../src/engine/parse.ts";
import type { SplitOutcome } from "../types.ts";

/**
 * Thrown by the planners to give up with a reason. Not an Error: most files
 * end in one, and an Error would capture a stack trace each time.
 */
export class PlanRefusal {
  constructor(
    readonly reason: string,
    readonly line: number | null,
  ) {}

  toString(): string {
    return this.reason;
  }
}

/** Gives up planning with `reason`, at an instruction or a line (null: the file as a whole). */
export function refuse(reason: string, at: Instr | number | null = null): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- deliberately not an Error (see PlanRefusal); `guarded` catches it
  throw new PlanRefusal(reason, at === null || typeof at === "number" ? at : at.line);
}

/** Runs a planner, turning a thrown `PlanRefusal` into a refuse outcome. */
export function guarded(fn: () => SplitOutcome): SplitOutcome {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PlanRefusal) return { kind: "refuse", reason: e.reason, line: e.line };
    throw e;
  }
}

/** A short, single-line quote of an instruction for refusal reasons. */
export function quote(instr: Instr, max = 60): string {
  const t = instr.text
    .replace(/\\\r?\n\s*/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return "`" + (t.length > max ? t.slice(0, max - 1) + "…" : t) + "`";
}
