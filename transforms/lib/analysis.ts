import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { shellOf, type ShellScript } from "../../src/engine/shell.ts";
import type { ToolCall } from "../pkg/shell-edits.ts";
import { parentStage } from "./stages.ts";
import { shellOfRun } from "./run-shell.ts";

/**
 * The one reading of a Dockerfile that transforms share: what several of
 * them would otherwise each work out again from the same model. Each part is
 * computed on first use and kept with the model (a model is never edited: an
 * edit makes a new one, which gets its own analysis). What belongs to one
 * instruction is kept with the instruction, since a parse after an edit keeps
 * the instruction objects before it (src/engine/parse.ts parseEdited).
 *
 * Transforms stay pure functions of their input: `analysisOf(model)` is a
 * cache of functions of the model, never state of its own.
 */
export interface FileAnalysis {
  readonly model: DockerfileModel;
  /** Shell-form RUNs whose shell can be trusted (see `RunScript`), in file order. */
  readonly runScripts: readonly RunScript[];
  /** The final stage and the stages it is built FROM (transitively): their files end up in the image. */
  readonly finalImageStages: ReadonlySet<number>;
  /** Stage indices built FROM the given stage (transitively), by stage name or index. */
  descendantStages(stage: number): ReadonlySet<number>;
}

/**
 * A shell-form RUN whose shell we can trust: a POSIX shell runs it (no SHELL
 * powershell or cmd, no Windows base image), it parsed without errors and
 * holds no inline `#` comment (Docker joins continuation lines before the
 * shell sees them, so an inline comment can swallow the rest of the RUN
 * while the parser thinks it ends at the line break).
 */
export interface RunScript {
  instr: Instr;
  script: ShellScript;
  /**
   * The RUN's commands as package-manager calls, once asked for
   * (transforms/pkg/shell-edits.ts toolCalls): kept here, so with the RUN.
   */
  calls: Array<ToolCall | null> | undefined;
}

const analyses = new WeakMap<DockerfileModel, FileAnalysis>();

export function analysisOf(model: DockerfileModel): FileAnalysis {
  let analysis = analyses.get(model);
  if (!analysis) analyses.set(model, (analysis = analyse(model)));
  return analysis;
}

function analyse(model: DockerfileModel): FileAnalysis {
  let runs: RunScript[] | undefined;
  let finals: Set<number> | undefined;
  const descendants = new Map<number, Set<number>>();
  return {
    model,
    get runScripts() {
      return (runs ??= trustedRunScripts(model, model.instructions));
    },
    get finalImageStages() {
      return (finals ??= imageStages(model));
    },
    descendantStages(stage) {
      let out = descendants.get(stage);
      if (!out) descendants.set(stage, (out = stagesBuiltFrom(model, stage)));
      return out;
    },
  };
}

const runScriptOfInstr = new WeakMap<Instr, RunScript | null>();

/** The trusted RUN scripts among `instrs`, each read once per instruction. */
export function trustedRunScripts(model: DockerfileModel, instrs: readonly Instr[]): RunScript[] {
  const out: RunScript[] = [];
  for (const instr of instrs) {
    if (instr.keyword !== "RUN") continue;
    let rs = runScriptOfInstr.get(instr);
    if (rs === undefined) runScriptOfInstr.set(instr, (rs = trustedRunScript(model, instr)));
    if (rs) out.push(rs);
  }
  return out;
}

function trustedRunScript(model: DockerfileModel, instr: Instr): RunScript | null {
  // A RUN that cmd or PowerShell runs is no sh script, whatever a sh parser makes of it.
  if (!shellOfRun(model, instr).posix) return null;
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors || script.hasComment) return null;
  return { instr, script, calls: undefined };
}

function imageStages(model: DockerfileModel): Set<number> {
  const out = new Set<number>();
  let cur: number | null = model.stages.length - 1;
  while (cur !== null && cur >= 0 && !out.has(cur)) {
    out.add(cur);
    cur = parentStage(model, model.stages[cur])?.index ?? null;
  }
  return out;
}

function stagesBuiltFrom(model: DockerfileModel, stage: number): Set<number> {
  const out = new Set<number>();
  const refersTo = (s: Stage, target: number) => {
    const t = model.stages[target];
    const img = s.image?.expanded.toLowerCase();
    if (!img) return false;
    return (t.name !== null && img === t.name.toLowerCase()) || img === String(target);
  };
  const queue = [stage];
  while (queue.length > 0) {
    const cur = queue.shift()!;
    for (const s of model.stages) {
      if (s.index > cur && !out.has(s.index) && refersTo(s, cur)) {
        out.add(s.index);
        queue.push(s.index);
      }
    }
  }
  return out;
}
