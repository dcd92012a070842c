import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import {
  shellTree,
  type ShellCommand,
  type ShellNode,
  type ShellScript,
  type ShellWord,
} from "../../src/engine/shell.ts";
import type { ShellSimple } from "../../src/engine/shell-tree.ts";
import type { Change, Edit, Refusal } from "../../src/engine/types.ts";
import { analysisOf, trustedRunScripts, type RunScript } from "../lib/analysis.ts";
import { parentStage } from "../lib/stages.ts";

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

/** Ancestor types inside which a command may not run as written (or at all). */
const OPAQUE = new Set([
  "command_substitution",
  "process_substitution",
  "function_definition",
  "string",
  "arithmetic_expansion",
  "heredoc_body",
]);

/** The call's command in the dfopt shell tree (src/engine/shell-tree.ts). */
export function callNode(call: Pick<ToolCall, "script" | "cmd">): ShellSimple {
  return shellTree(call.script).nodeOf(call.cmd)!;
}

export function inOpaqueContext(node: ShellNode): boolean {
  for (let p = node.parent; p; p = p.parent) if (OPAQUE.has(p.type)) return true;
  return false;
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

/** Resolves `[VAR=x] [sudo [-E]] [env [VAR=x]] tool ...` and `python -m pip ...`. */
export function toolCall(rs: Pick<RunScript, "instr" | "script">, cmd: ShellCommand): ToolCall | null {
  if (inOpaqueContext(cmd.node)) return null;
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

const statementChildren = (n: ShellNode) => n.children.filter((c) => c.named && c.type !== "comment");

/** The last command executed in a statement (rightmost), following lists and pipelines. */
function lastCommand(n: ShellNode): ShellNode | null {
  if (n.type === "command") return n;
  if (["list", "pipeline", "redirected_statement", "negated_command"].includes(n.type)) {
    const kids = statementChildren(n);
    return kids.length > 0 ? lastCommand(kids[kids.length - 1]) : null;
  }
  return null;
}

/** Node types that are fine as the last operand left of `&&` under set -e. */
const SIMPLE_OPERANDS = new Set([
  "command",
  "test_command",
  "negated_command",
  "variable_assignment",
  "declaration_command",
  "unset_command",
]);

/** The command that becomes "tested" when `&& next` is appended: the rightmost operand. */
export function isSimpleTail(node: ShellNode): boolean {
  let n = node;
  while (n.type === "list") {
    const operands = n.children.filter((c) => c.named && c.type !== "comment");
    n = operands[operands.length - 1];
    if (!n) return false;
  }
  if (n.type === "redirected_statement") {
    const body = n.children.find((c) => c.field === "body");
    if (!body) return false;
    n = body;
  }
  if (n.type === "pipeline") {
    return n.children
      .filter((c) => c.named && c.type !== "comment")
      .every((c) => SIMPLE_OPERANDS.has(c.type));
  }
  return SIMPLE_OPERANDS.has(n.type);
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
  const stage = model.stages[rs.instr.stage];
  if (stage && effectiveShell(model, stage, stage.instructions.indexOf(rs.instr)).errexit) return true;
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
  const root = rs.script.root;
  const kids = root.children;
  if (kids.length === 0) return null;
  const lastTok = kids[kids.length - 1];
  if (lastTok.type === "&") return null;
  const stmts = statementChildren(root);
  if (stmts.length === 0) return null;
  const last = stmts[stmts.length - 1];
  if (last.end < rs.script.base + rs.script.text.trimEnd().length) return null;
  if (!isSimpleTail(last) && mayErrexit(model, rs)) return null;
  const lc = lastCommand(last);
  if (lc) {
    const cmd = rs.script.commands.find((c) => c.node.start === lc.start && c.node.end === lc.end);
    const name = cmd?.name?.value;
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
 * (no grouping): its top level is one and-or list whose operators are all
 * `&&`, not run in the background. This is the one grouping decision for
 * every rewrite that joins commands with `&&` (merge-runs, a prefixed
 * `apt-get update`): a script with `;`, `||`, `&`, `!`, or a function must be
 * grouped first. tree-sitter-bash hangs a redirect on the last command of a
 * list on the whole list (`a || b > f` reads as `(a || b) > f`); the shell
 * binds it to `b` alone, so the operators inside such a list count too.
 */
export function isAndChain(root: ShellNode): boolean {
  const top = root.children.filter((c) => c.type !== "comment");
  const statements = top.filter((c) => c.named);
  if (statements.length !== 1) return false;
  if (top.some((c) => !c.named && c.type !== ";")) return false;
  return andOperands(statements[0]);
}

function andOperands(node: ShellNode): boolean {
  switch (node.type) {
    case "list":
      return node.children.every((c) =>
        c.type === "comment" ? true : c.named ? andOperands(c) : c.type === "&&",
      );
    case "redirected_statement": {
      const body = node.children.find((c) => c.field === "body");
      return body ? andOperands(body) : true;
    }
    case "negated_command":
    case "function_definition":
      return false;
    default:
      return true;
  }
}

/**
 * The statement unit `X && ` would go in front of to run right before the
 * command: the command, or the pipeline (or redirected statement) it opens.
 * Null when it does not open one.
 */
function prefixUnit(cmd: ShellCommand): ShellNode | null {
  let unit = cmd.node;
  for (;;) {
    const p = unit.parent;
    if (!p) return null;
    if (p.type === "pipeline" || p.type === "redirected_statement") {
      if (statementChildren(p)[0] !== unit) return null;
      unit = p;
      continue;
    }
    return unit;
  }
}

/**
 * Whether `X && ` can be put right before the command without changing how
 * the surrounding list groups: the command (or the pipeline it starts) must
 * open its statement or follow `&&`/`;`, never `||`.
 */
export function prefixableAt(cmd: ShellCommand): number | null {
  const unit = prefixUnit(cmd);
  if (!unit) return null;
  const parent = unit.parent!;
  const idx = parent.children.indexOf(unit);
  const prev = idx > 0 ? parent.children[idx - 1] : null;
  if (!prev) return parent.type === "program" || parent.type === "list" ? unit.start : null;
  if (["&&", ";", "(", "{", "then", "else", "do"].includes(prev.type)) return unit.start;
  return null;
}

/**
 * Whether a failing `node` (a statement unit) fails the whole script: only
 * `&&` follows it in its lists, and it is the last statement of the script
 * (or of a subshell or `{ }` group that is). `set -e` does not help: the shell
 * ignores it for every command of an and-or list but the last.
 */
function failureEndsScript(node: ShellNode): boolean {
  for (let n = node; ;) {
    const p = n.parent;
    if (!p) return false;
    const after = p.children.slice(p.children.indexOf(n) + 1).filter((c) => c.type !== "comment");
    if (p.type === "list") {
      if (after.some((c) => !c.named && c.type !== "&&")) return false;
    } else if (p.type === "redirected_statement") {
      if (n.field !== "body") return false;
    } else if (p.type === "program") {
      return after.every((c) => c.type === ";");
    } else if (p.type === "subshell" || p.type === "compound_statement") {
      if (!after.every((c) => [";", ")", "}"].includes(c.type))) return false;
    } else {
      return false;
    }
    n = p;
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
  const point = prefixableAt(cmd);
  const unit = prefixUnit(cmd);
  if (point !== null && unit && failureEndsScript(unit)) {
    return [{ start: point, end: point, text: `${text} && ` }];
  }
  const root = rs.script.root;
  const statements = statementChildren(root);
  if (statements.length === 0) return null;
  const start = statements[0].start;
  if (isAndChain(root)) return [{ start, end: start, text: `${text} && ` }];
  const kids = root.children.filter((c) => c.type !== "comment");
  if (kids[kids.length - 1].type === "&" || rs.script.hasComment) return null;
  const end = kids[kids.length - 1].end;
  return [
    { start, end: start, text: `${text} && ( ` },
    { start: end, end, text: " )" },
  ];
}

export interface ShellInfo {
  posix: boolean;
  /** Why the shell is not POSIX, or where errexit comes from. */
  note: string;
  errexit: boolean;
}

const POSIX_SHELL = /^(sh|bash|dash|ash|ksh|mksh|zsh|busybox)$/;
const WINDOWS_IMAGE =
  /(^|\/)(windows|nanoserver|servercore|windowsservercore)(\/|$)|mcr\.microsoft\.com\/windows/i;

/** The shell RUN instructions at `index` of `stage` run with. */
export function effectiveShell(model: DockerfileModel, stage: Stage, index: number, depth = 0): ShellInfo {
  for (let i = index - 1; i >= 0; i--) {
    const instr = stage.instructions[i];
    if (instr.keyword !== "SHELL") continue;
    let argv: unknown;
    try {
      argv = instr.argsSpan ? JSON.parse(model.text.slice(instr.argsSpan.start, instr.argsSpan.end)) : null;
    } catch {
      argv = null;
    }
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      return { posix: false, note: `SHELL at line ${instr.line} cannot be read`, errexit: false };
    }
    const exe = argv[0].split(/[\\/]/).pop()!.toLowerCase();
    if (!POSIX_SHELL.test(exe)) {
      return { posix: false, note: `SHELL at line ${instr.line} uses ${exe}`, errexit: false };
    }
    const opts = argv.slice(1);
    const errexit = opts.some(
      (a, k) => (/^-[A-Za-z]*e/.test(a) && !a.startsWith("--")) || (a === "-o" && opts[k + 1] === "errexit"),
    );
    return { posix: true, note: `SHELL at line ${instr.line} has -e`, errexit };
  }
  // No SHELL in this stage: inherit from a parent stage, else the base image's default.
  const image = stage.image;
  if (image && depth < 20) {
    const parent = model.stages.find(
      (s) =>
        s.index < stage.index && s.name !== null && s.name.toLowerCase() === image.expanded.toLowerCase(),
    );
    if (parent) return effectiveShell(model, parent, parent.instructions.length, depth + 1);
    if (WINDOWS_IMAGE.test(image.expanded)) {
      return { posix: false, note: `the base image ${image.raw} runs RUN with cmd`, errexit: false };
    }
  }
  return { posix: true, note: "", errexit: false };
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
