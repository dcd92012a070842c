import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import { shellTree, type ShellCommand, type ShellScript, type ShellWord } from "../../src/engine/shell.ts";
import {
  inOpaqueBlock,
  lastCommandOf,
  type ShellAndOr,
  type ShellBlock,
  type ShellBlockRole,
  type ShellCommandNode,
  type ShellPipeline,
  type ShellSimple,
} from "../../src/engine/shell-tree.ts";
import type { Change, Edit, Refusal } from "../../src/engine/types.ts";
import { analysisOf, trustedRunScripts, type RunScript } from "../lib/analysis.ts";
import { parentStage } from "../lib/stages.ts";
import { shellOfRun } from "../lib/run-shell.ts";

/**
 * Shared helpers for the package-manager smell repairs. Every repair edits
 * the shell text of a RUN at exact positions (a flag after `install`, a
 * clean-up appended after the last command); a RUN is never re-printed.
 */

export type { RunScript } from "../lib/analysis.ts";

/**
 * The trusted shell-form RUNs (lib/analysis.ts RunScript) of the model, or
 * of some of its instructions.
 */
export function runScripts(
  model: DockerfileModel,
  instrs: readonly Instr[] = model.instructions,
): readonly RunScript[] {
  return instrs === model.instructions ? analysisOf(model).runScripts : trustedRunScripts(model, instrs);
}

/** A package-manager (or curl, npm, pip) invocation inside a RUN. */
export interface ToolCall {
  instr: Instr;
  script: ShellScript;
  cmd: ShellCommand;
  /** `sudo`/`env` words before the tool, as written (reused for inserted commands). */
  prefix: ShellWord[];
  /** The tool word and everything after it. For `python -m pip`, starts at `pip`. */
  words: ShellWord[];
  /** Basename of the tool, e.g. `apt-get`, `pip`. */
  tool: string;
  /** The subcommand word (`install`), null when there is none or it is hidden in a variable. */
  sub: ShellWord | null;
  /** Index of `sub` in `words`. */
  subIndex: number;
}

/** The call's command in the dfopt shell tree (src/engine/shell-tree.ts). */
export function callNode(call: Pick<ToolCall, "script" | "cmd">): ShellSimple {
  return shellTree(call.script).nodeOf(call.cmd)!;
}

const basename = (s: string) => s.slice(s.lastIndexOf("/") + 1);

/** yum options that take a value (dnf accepts the same, and more). */
const YUM_VALUE_OPTIONS = [
  "-c",
  "--config",
  "--installroot",
  "--releasever",
  "--setopt",
  "-d",
  "-e",
  "--enablerepo",
  "--disablerepo",
  "-x",
  "--exclude",
];

/**
 * Options of each tool that take the next word as their value (when written
 * without `=`). A Map: a command named `constructor` or `toString` must not
 * find Object.prototype's members.
 */
const VALUE_OPTIONS = new Map<string, ReadonlySet<string>>(
  Object.entries({
    "apt-get": new Set([
      "-o",
      "-c",
      "-t",
      "--option",
      "--config-file",
      "--target-release",
      "--default-release",
    ]),
    apt: new Set(["-o", "-c", "-t", "--option", "--config-file", "--target-release", "--default-release"]),
    apk: new Set([
      "-X",
      "--repository",
      "-p",
      "--root",
      "--arch",
      "--cache-dir",
      "--keys-dir",
      "--repositories-file",
    ]),
    yum: new Set(YUM_VALUE_OPTIONS),
    dnf: new Set([...YUM_VALUE_OPTIONS, "--repo", "--repoid"]),
    zypper: new Set([
      "-R",
      "--root",
      "-c",
      "--config",
      "-D",
      "--reposd-dir",
      "-C",
      "--cache-dir",
      "--raw-cache-dir",
      "--solv-cache-dir",
      "--pkg-cache-dir",
      "-p",
      "--plus-repo",
      "-r",
    ]),
    pip: new Set([
      "--proxy",
      "--log",
      "--cache-dir",
      "--python",
      "--timeout",
      "--retries",
      "--exists-action",
      "--cert",
      "--client-cert",
      "--trusted-host",
      "-i",
      "--index-url",
    ]),
    npm: new Set([
      "--prefix",
      "-C",
      "--cache",
      "--registry",
      "--loglevel",
      "--userconfig",
      "-w",
      "--workspace",
    ]),
    yarn: new Set([
      "--cwd",
      "--cache-folder",
      "--modules-folder",
      "--network-timeout",
      "--registry",
      "--mutex",
    ]),
    curl: new Set(),
  }),
);
const NO_VALUE_OPTIONS: ReadonlySet<string> = new Set();

const SUDO_VALUE_FLAGS = new Set(["-u", "-g", "-U", "-h", "-p", "-C", "-D", "-r", "-t"]);

/** Tool name as matched: `pip3.11` → `pip`, `python3 -m pip` → `pip`. */
function canonicalTool(name: string): string {
  if (/^pip[0-9.]*$/.test(name)) return "pip";
  return name;
}

/** What every substitution (`$(`, `<(`, backquotes) and function definition is written with. */
const OPAQUE_SYNTAX = /[(`]|\bfunction\b/;

/** Resolves `[VAR=x] [sudo [-E]] [env [VAR=x]] tool ...` and `python -m pip ...`. */
export function toolCall(rs: Pick<RunScript, "instr" | "script">, cmd: ShellCommand): ToolCall | null {
  // Inside a function body or a substitution, a command may not run as written (or at all).
  // A script with no `(`, backquote or `function` has neither, and needs no tree.
  if (OPAQUE_SYNTAX.test(rs.script.text) && inOpaqueBlock(shellTree(rs.script).nodeOf(cmd)!)) return null;
  const words = cmd.words;
  let i = 0;
  for (;;) {
    const w = words[i];
    if (!w || w.value === null) return null;
    const name = basename(w.value);
    if (name === "sudo") {
      i++;
      while (words[i]?.value?.startsWith("-")) {
        if (SUDO_VALUE_FLAGS.has(words[i].value!)) i++;
        i++;
      }
      continue;
    }
    if (name === "env") {
      i++;
      while (words[i]?.value && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i].value!)) i++;
      if (words[i]?.value?.startsWith("-")) return null;
      continue;
    }
    break;
  }
  const prefix = words.slice(0, i);
  let rest = words.slice(i);
  let tool = canonicalTool(basename(rest[0].value!));
  if (
    /^python[0-9.]*$/.test(tool) &&
    rest[1]?.value === "-m" &&
    rest[2]?.value &&
    /^pip[0-9.]*$/.test(rest[2].value)
  ) {
    rest = rest.slice(2);
    tool = "pip";
  }
  const valueOpts = VALUE_OPTIONS.get(tool) ?? NO_VALUE_OPTIONS;
  let sub: ShellWord | null = null;
  let subIndex = -1;
  for (let k = 1; k < rest.length; k++) {
    const v = rest[k].value;
    if (v === null) break;
    if (v.startsWith("-")) {
      if (valueOpts.has(v)) k++;
      continue;
    }
    sub = rest[k];
    subIndex = k;
    break;
  }
  return { instr: rs.instr, script: rs.script, cmd, prefix, words: rest, tool, sub, subIndex };
}

// A script keeps its calls when an edit elsewhere gives its RUN a new
// instruction (parseEdited moves the script with it): only `instr` changes.
const callsOfScript = new WeakMap<ShellScript, { instr: Instr; calls: Array<ToolCall | null> }>();

function callsOf(rs: RunScript): Array<ToolCall | null> {
  const known = callsOfScript.get(rs.script);
  let calls: Array<ToolCall | null>;
  if (!known) calls = rs.script.commands.map((cmd) => toolCall(rs, cmd));
  else if (known.instr === rs.instr) return known.calls;
  else calls = known.calls.map((c) => c && { ...c, instr: rs.instr });
  callsOfScript.set(rs.script, { instr: rs.instr, calls });
  return calls;
}

/** Every tool call of the given tools in the RUN. */
export function toolCalls(rs: RunScript, tools: readonly string[]): ToolCall[] {
  const calls = (rs.calls ??= callsOf(rs));
  const out: ToolCall[] = [];
  for (const call of calls) if (call && tools.includes(call.tool)) out.push(call);
  return out;
}

/** Option words after the tool (before and after the subcommand), values known. */
export function optionWords(call: ToolCall): string[] {
  const out: string[] = [];
  for (const w of call.words.slice(1)) {
    if (w.value === "--") break;
    if (w.value && w.value.startsWith("-")) out.push(w.value);
  }
  return out;
}

/**
 * Whether any option word is one of `longs` (`--yes`, `--yes=...`), or a
 * short-option cluster holding one of `shorts` (`-qy`). A cluster stops at
 * the first letter that takes a value (`-ofile` is `-o file`).
 */
export function hasOption(
  call: ToolCall,
  shorts: string,
  longs: readonly string[],
  valueLetters = "",
): boolean {
  for (const v of optionWords(call)) {
    if (v.startsWith("--")) {
      const name = v.split("=")[0];
      if (longs.includes(name)) return true;
      continue;
    }
    for (const ch of v.slice(1)) {
      if (shorts.includes(ch)) return true;
      if (valueLetters.includes(ch) || !/[A-Za-z0-9]/.test(ch)) break;
    }
  }
  return false;
}

/** Package arguments after the subcommand (non-option words, values may be null). */
export function operands(call: ToolCall, valueOpts: ReadonlySet<string> = NO_VALUE_OPTIONS): ShellWord[] {
  const out: ShellWord[] = [];
  for (let k = call.subIndex + 1; k < call.words.length; k++) {
    const v = call.words[k].value;
    if (v !== null && v.startsWith("-")) {
      if (valueOpts.has(v)) k++;
      continue;
    }
    out.push(call.words[k]);
  }
  return out;
}

/** Operands of a call, skipping the values of the tool's own value-taking options (`apt-get -o X install`). */
export function toolOperands(call: ToolCall): ShellWord[] {
  return operands(call, VALUE_OPTIONS.get(call.tool) ?? NO_VALUE_OPTIONS);
}

/**
 * The last word of the plain flags right after the subcommand (`install -y -q`
 * → `-q`), so an added flag lands after them; the subcommand when none.
 */
export function afterLeadingFlags(call: ToolCall): ShellWord {
  const valueOpts = VALUE_OPTIONS.get(call.tool) ?? NO_VALUE_OPTIONS;
  let last = call.sub!;
  for (let k = call.subIndex + 1; k < call.words.length; k++) {
    const v = call.words[k].value;
    if (v === null || !v.startsWith("-") || v === "--" || valueOpts.has(v)) break;
    last = call.words[k];
  }
  return last;
}

/** Insert ` text` right after a word. */
export function insertAfterWord(word: ShellWord, text: string): Edit {
  return { start: word.end, end: word.end, text: " " + text };
}

/** `sudo ` when the call runs under sudo (commands added next to it need it too), else "". */
export function prefixText(call: ToolCall): string {
  return call.prefix.some((w) => w.value !== null && basename(w.value) === "sudo") ? "sudo " : "";
}

/** Kinds of command that are fine as the last operand left of `&&` under set -e (not compound). */
const SIMPLE_OPERAND = (c: ShellCommandNode) =>
  c.kind === "simple" || (c.kind === "other" && c.what !== "redirect" && c.what !== "unknown");

/**
 * Whether the command that becomes "tested" when `&& next` is appended to the
 * and-or, its last pipeline, is made of simple commands (not a compound
 * command, whose errexit the shell would then ignore inside it).
 */
export function isSimpleTail(andOr: ShellAndOr): boolean {
  return andOr.pipelines[andOr.pipelines.length - 1].commands.every(SIMPLE_OPERAND);
}

/** `set -e`, `set -euxo pipefail`, `set -o errexit`, or arguments we cannot read. */
export function setsErrexit(args: Array<string | null>): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === null) return true;
    if (/^[-+][A-Za-z]*e/.test(a) && !a.startsWith("--")) return true;
    if ((a === "-o" || a === "+o") && (args[i + 1] === "errexit" || args[i + 1] === null)) return true;
  }
  return false;
}

/** Whether the RUN may run with errexit: its SHELL has -e, or it runs `set -e`. */
function mayErrexit(model: DockerfileModel, rs: RunScript): boolean {
  if (shellOfRun(model, rs.instr).errexit) return true;
  return rs.script.commands.some((c) => c.name?.value === "set" && setsErrexit(c.args.map((a) => a.value)));
}

/**
 * Offset where ` && <cmd>` can be appended so it runs after everything else
 * in the RUN: the end of the last top-level statement. Null when that would
 * be unsafe: a background job or `exit`/`exec` last, or a last compound
 * command (`( ... )`, `{ ...; }`, if, loops) under errexit, which the shell
 * would ignore inside it once `&&` follows.
 */
export function appendPoint(model: DockerfileModel, rs: RunScript): number | null {
  const statements = shellTree(rs.script).root.statements;
  const last = statements[statements.length - 1];
  if (!last || last.background) return null;
  // Anything after it (a `;`, a comment) would come between.
  if (last.end < rs.script.base + rs.script.text.trimEnd().length) return null;
  if (!isSimpleTail(last) && mayErrexit(model, rs)) return null;
  const lc = lastCommandOf(last);
  if (lc.kind === "simple") {
    const name = lc.command.name?.value;
    if (name === "exit" || name === "exec") return null;
  }
  return last.end;
}

/** Edit appending ` && <text>` at the end of the RUN's shell, or null. */
export function appendCommand(model: DockerfileModel, rs: RunScript, text: string): Edit | null {
  const at = appendPoint(model, rs);
  return at === null ? null : { start: at, end: at, text: ` && ${text}` };
}

/**
 * Whether `X && <script>` fails whenever X fails, with the script as written
 * (no grouping): it is one and-or list whose operators are all `&&`, not run
 * in the background, with no `!` and no function. This is the one grouping
 * decision for every rewrite that joins commands with `&&` (merge-runs, a
 * prefixed `apt-get update`): a script with `;`, `||`, `&`, `!`, or a
 * function must be grouped first.
 */
export function isAndChain(root: ShellBlock): boolean {
  if (root.statements.length !== 1) return false;
  const s = root.statements[0];
  return (
    !s.background &&
    s.ops.every((op) => op === "&&") &&
    s.pipelines.every((p) => !p.negated && p.commands.every((c) => c.kind !== "function"))
  );
}

/**
 * The pipeline `X && ` would go in front of to run right before the command:
 * the one the command opens. Null when it does not open one, or it is negated.
 */
function prefixUnit(node: ShellSimple): ShellPipeline | null {
  const p = node.parent;
  return p.commands[0] === node && !p.negated ? p : null;
}

/** Blocks whose first statement may get `X && ` in front (not a condition, case branch or substitution). */
const PREFIXABLE_BLOCKS = new Set<ShellBlockRole>(["script", "subshell", "group", "then", "else", "do"]);

/**
 * Whether `X && ` can be put right before the command without changing how
 * the surrounding list groups: the command (or the pipeline it starts) must
 * open its statement or follow `&&`/`;`, never `||` or `&`.
 */
export function prefixableAt(rs: Pick<RunScript, "script">, cmd: ShellCommand): number | null {
  const node = shellTree(rs.script).nodeOf(cmd);
  const unit = node && prefixUnit(node);
  if (!unit) return null;
  const andOr = unit.parent;
  const i = andOr.pipelines.indexOf(unit);
  if (i > 0) return andOr.ops[i - 1] === "&&" ? unit.start : null;
  const block = andOr.parent;
  const k = block.statements.indexOf(andOr);
  if (k > 0) return block.statements[k - 1].background ? null : unit.start;
  return PREFIXABLE_BLOCKS.has(block.role) ? unit.start : null;
}

/**
 * Whether a failing pipeline fails the whole script: only `&&` follows it in
 * its and-or, and that is the last statement of the script (or of a subshell
 * or `{ }` group that is). `set -e` does not help: the shell ignores it for
 * every command of an and-or list but the last.
 */
function failureEndsScript(unit: ShellPipeline): boolean {
  for (let p = unit; ;) {
    const andOr = p.parent;
    if (p.negated || andOr.ops.slice(andOr.pipelines.indexOf(p)).some((op) => op !== "&&")) return false;
    const block = andOr.parent;
    if (andOr.background || block.statements[block.statements.length - 1] !== andOr) return false;
    if (block.role === "script") return true;
    if (block.role !== "subshell" && block.role !== "group") return false;
    const owner = block.parent!;
    if (owner.parent.commands.length !== 1) return false;
    p = owner.parent;
  }
}

/**
 * Edits that run `text` right before `cmd` and join it with `&&`, so that a
 * failing `text` still fails the RUN, as it did in a RUN of its own. In place
 * (`text && cmd`) when the list allows it; else in front of the whole script,
 * grouped unless it is a plain `&&` chain (`text && ( script )`). Null when the
 * script cannot be grouped (a background job at its end).
 */
export function prependCommand(rs: RunScript, cmd: ShellCommand, text: string): Edit[] | null {
  const tree = shellTree(rs.script);
  const point = prefixableAt(rs, cmd);
  const node = tree.nodeOf(cmd);
  const unit = node && prefixUnit(node);
  if (point !== null && unit && failureEndsScript(unit)) {
    return [{ start: point, end: point, text: `${text} && ` }];
  }
  const statements = tree.root.statements;
  if (statements.length === 0) return null;
  const start = statements[0].start;
  if (isAndChain(tree.root)) return [{ start, end: start, text: `${text} && ` }];
  const last = statements[statements.length - 1];
  if (last.background || rs.script.hasComment) return null;
  const end = last.terminator?.end ?? last.end;
  return [
    { start, end: start, text: `${text} && ( ` },
    { start: end, end, text: " )" },
  ];
}

/** A RUN's `--mount=type=cache` targets. */
export function cacheMountTargets(instr: Instr): string[] {
  const out: string[] = [];
  for (const f of instr.flags) {
    if (f.name !== "mount" || !f.value) continue;
    const parts = f.value.split(",");
    if (!parts.some((p) => p.trim() === "type=cache")) continue;
    for (const p of parts) {
      const m = /^\s*(?:target|dst|destination)=(.*)$/.exec(p);
      if (m) out.push(m[1].replace(/^["']|["']$/g, ""));
    }
  }
  return out;
}

/** Stage indices built `FROM` the given stage (transitively), by stage name or index. */
export function descendantStages(model: DockerfileModel, stage: number): ReadonlySet<number> {
  return analysisOf(model).descendantStages(stage);
}

/** The final stage and the stages it is built FROM: their files end up in the image. */
export function finalImageStages(model: DockerfileModel): ReadonlySet<number> {
  return analysisOf(model).finalImageStages;
}

/** Instructions after `instr` in its stage and in every stage built from it. */
export function laterInstructions(model: DockerfileModel, instr: Instr): Instr[] {
  const stages = new Set([instr.stage, ...descendantStages(model, instr.stage)]);
  return model.instructions.filter(
    (i) => i.start > instr.start && stages.has(i.stage) && i.keyword !== "FROM",
  );
}

/** ENV (and ARG) names set in the stage before `instr`, or in the stages it is built from. */
export function envBefore(model: DockerfileModel, instr: Instr): Set<string> {
  const names = new Set<string>();
  const stages = new Set<number>();
  for (
    let s: number | null = instr.stage;
    s !== null && !stages.has(s);
    s = parentStage(model, model.stages[s])?.index ?? null
  )
    stages.add(s);
  for (const i of model.instructions) {
    if (i.start >= instr.start || !stages.has(i.stage)) continue;
    if (i.keyword !== "ENV" && i.keyword !== "ARG") continue;
    const words = i.args.map((a) => a.value);
    if (i.keyword === "ENV" && words.length >= 2 && !words[0].includes("=")) names.add(words[0]);
    else for (const w of words) names.add(w.split("=")[0]);
  }
  return names;
}

/** A change at a command, tagged with peer rule IDs. */
export function change(
  model: DockerfileModel,
  at: number,
  edits: Edit[],
  message: string,
  rules: string[],
): Change {
  return { edits, line: model.lineOf(at), message, rules };
}

export function refusal(model: DockerfileModel, at: number, reason: string, rules: string[]): Refusal {
  return { line: model.lineOf(at), reason, rules };
}
