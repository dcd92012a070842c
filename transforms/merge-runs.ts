import type { DockerfileModel, Instr, Stage } from "../src/engine/parse.ts";
import { applyEdits } from "../src/engine/edits.ts";
import { parseShell, shellOf, shellTree, type ShellCommand, type ShellScript } from "../src/engine/shell.ts";
import { continuationIndent } from "../src/engine/style.ts";
import { readSuppressions } from "../src/engine/suppress.ts";
import type { ShellTreeNode } from "../src/engine/shell-tree.ts";
import { isAndChain, isSimpleTail, setsErrexit } from "./pkg/shell-edits.ts";
import { effectiveShell, type ShellInfo } from "./lib/run-shell.ts";
import type {
  Change,
  Edit,
  Refusal,
  Transform,
  TransformInput,
  TransformResult,
} from "../src/engine/types.ts";

/**
 * merge-runs: joins consecutive shell-form RUNs of a stage into one RUN.
 *
 * Separate RUNs `X` and `Y` behave like the script `X && Y` run by one shell,
 * except for shell state (directory, variables, options, functions, traps)
 * that X leaves behind. The merged RUN is built part by part:
 *   - a part that is not last and may leak state is wrapped in `( ... )`;
 *   - a part that is not first and is not a plain `&&` chain (it has `;`,
 *     `||`, a trailing `;`) is wrapped in `( ... )` so `&&` binds to all of it;
 *   - a part that is not last and ends with `;` is wrapped so `; &&` never appears.
 * Every part left of `&&` is a "tested" command for `set -e`: sh ignores errexit
 * inside compound commands there. So under errexit (SHELL -e or `set -e` in the
 * part) a non-last part is joined only when it needs no subshell and its last
 * command is a simple command or pipeline.
 * Refused outright: `exit`/`exec`/`return`, background jobs `&`, shell syntax
 * tree-sitter cannot read, a shell comment where joined text would follow it,
 * non-POSIX shells (SHELL powershell/cmd, Windows base images), linter
 * directives between the RUNs, and merges that would exceed MAX_MERGED_LINES.
 * Comments between the RUNs move inside the merged RUN as their own lines
 * (Docker drops comment lines inside a continuation); blank lines between
 * them are dropped (an empty continuation line is deprecated in Docker). A
 * comment holding the escape character is not moved (dockerfile-ast misreads it).
 * Every merge is re-parsed before it is proposed: the merged script must parse
 * without errors and hold the same commands, in order, as its parts.
 * Scope: the final stage (where layers ship), or every stage with
 * `mergeRuns: "all"`. A RUN under `# hadolint ignore=DL3059` or
 * `# dfopt ignore=merge-runs` is left as it is. Groups are built greedily from
 * the top, so a second run finds nothing more to merge.
 */

/** A merged RUN never grows past this many lines: huge RUNs defeat the layer cache. */
export const MAX_MERGED_LINES = 50;

const RULE_IDS = ["DL3059"];

/** Commands that change the state of the shell that runs them. */
const LEAKY_COMMANDS = new Map<string, string>([
  ["cd", "changes directory with cd"],
  ["pushd", "changes directory with pushd"],
  ["popd", "changes directory with popd"],
  ["export", "sets variables with export"],
  ["set", "changes shell options with set"],
  ["unset", "unsets variables"],
  ["umask", "changes the umask"],
  ["source", "sources a script"],
  [".", "sources a script with ."],
  ["alias", "defines an alias"],
  ["unalias", "removes an alias"],
  ["shopt", "changes shell options with shopt"],
  ["ulimit", "changes limits with ulimit"],
  ["trap", "sets a trap"],
  ["eval", "runs eval"],
  ["readonly", "sets variables with readonly"],
  ["declare", "sets variables with declare"],
  ["typeset", "sets variables with typeset"],
  ["local", "sets variables with local"],
  ["let", "sets variables with let"],
  ["read", "sets variables with read"],
  ["mapfile", "sets variables with mapfile"],
  ["readarray", "sets variables with readarray"],
  ["getopts", "sets variables with getopts"],
  ["shift", "shifts positional parameters"],
  ["hash", "changes the command hash"],
  ["enable", "changes builtins with enable"],
  ["builtin", "runs a builtin"],
  ["command", "runs a builtin via command"],
]);

/** Commands that end the shell or replace it: the script after them would not run as before. */
const ENDING_COMMANDS = new Set(["exit", "exec", "return", "logout"]);

/** Special builtins not listed above: `A=1 :` sets A for the rest of the script in POSIX sh. */
const SPECIAL_BUILTINS = new Set([":", "times", "break", "continue"]);

const LINTER_DIRECTIVE = /^#\s*(hadolint\b|dfopt\b|trivy:|checkov:|tally\b|check\s*=)/i;

interface RunInfo {
  instr: Instr;
  script: ShellScript;
  /** A reason this RUN never joins another one (exit, &, parse errors). */
  blocked: string | null;
  /** What state this RUN leaves for the commands after it, or null. */
  leak: string | null;
  /** The part runs with errexit: `set -e` in it (anywhere) or the SHELL has -e. */
  errexit: string | null;
  /** The script is a single `&&` chain (safe right of `&&` without grouping). */
  andChain: boolean;
  /** The script ends with a `;`. */
  trailingSeparator: boolean;
  /** Its last command is simple enough to stay under errexit when left of `&&`. */
  simpleTail: boolean;
  /** A `# comment` inside the shell (would swallow text appended after it). */
  shellComment: boolean;
  flagsKey: string;
  /** Lines this part contributes to a merged RUN when it is not first. */
  tailLines: number;
}

function run({ model, options }: TransformInput): TransformResult {
  const changes: Change[] = [];
  const refusals: Refusal[] = [];
  if (model.stages.length === 0) return { changes, refusals };
  const stages = options.mergeRuns === "all" ? model.stages : [model.stages[model.stages.length - 1]];
  const suppressions = readSuppressions(model);
  const commentLines = new Set(model.comments.map((c) => c.line));

  for (const stage of stages) {
    // Checking every growing group re-parses O(n²) text; check the finished
    // groups instead, and redo the stage step by step if one fails.
    const fast = mergeStage(model, stage, suppressions, commentLines, false);
    const result = fast ?? mergeStage(model, stage, suppressions, commentLines, true)!;
    changes.push(...result.changes);
    refusals.push(...result.refusals);
  }
  return { changes, refusals };
}

/**
 * Groups the stage's RUNs greedily from the top. With `checkEachStep`, every
 * candidate group is re-parsed before it grows; without, only finished groups
 * are, and null is returned when one of them fails.
 */
function mergeStage(
  model: DockerfileModel,
  stage: Stage,
  suppressions: ReturnType<typeof readSuppressions>,
  commentLines: Set<number>,
  checkEachStep: boolean,
): { changes: Change[]; refusals: Refusal[] } | null {
  const changes: Change[] = [];
  const refusals: Refusal[] = [];
  let failed = false;
  let group: RunInfo[] = [];
  const flush = () => {
    if (group.length > 1) {
      if (!checkEachStep && !readsTheSame(model, group)) failed = true;
      changes.push(mergeGroup(model, group));
    }
    group = [];
  };
  stage.instructions.forEach((instr, index) => {
    if (failed) return;
    if (!isShellRun(instr)) {
      flush();
      return;
    }
    const shell = effectiveShell(model, stage, index);
    const info = analyse(model, instr, shell);
    // A RUN the user exempted (`# hadolint ignore=DL3059`, `# dfopt ignore=merge-runs`) stays as it is.
    if (!info || suppressions.isSuppressed(["merge-runs", ...RULE_IDS], instr.line)) {
      flush();
      return;
    }
    if (group.length === 0) {
      group = [info];
      return;
    }
    const verdict = canJoin(model, group, info, shell, commentLines, checkEachStep);
    if (verdict === true) {
      group.push(info);
      return;
    }
    if (verdict) refusals.push({ line: instr.line, reason: verdict, rules: RULE_IDS });
    flush();
    group = [info];
  });
  if (!failed) flush();
  return failed ? null : { changes, refusals };
}

function isShellRun(instr: Instr): boolean {
  return instr.keyword === "RUN" && !instr.execForm && !instr.hasHeredoc && instr.argsSpan !== null;
}

/** Returns true to join, a refusal reason, or null to leave the pair alone silently. */
function canJoin(
  model: DockerfileModel,
  group: RunInfo[],
  next: RunInfo,
  shell: ShellInfo,
  commentLines: Set<number>,
  checkReading: boolean,
): true | string | null {
  const prev = group[group.length - 1];
  const p = prev.instr.line;
  const n = next.instr.line;
  // Only blank lines and comments may sit between them.
  for (let line = prev.instr.endLine + 1; line < n; line++) {
    const text = lineText(model, line);
    if (text.trim() === "") continue;
    if (!commentLines.has(line) || !text.trim().startsWith("#")) return null;
    if (LINTER_DIRECTIVE.test(text.trim())) {
      return `the comment at line ${line} is a linter directive for line ${n}; merging would detach it`;
    }
    // Docker drops such a line inside a continuation, but dockerfile-ast misreads an escape in it.
    if (text.includes(model.escapeChar)) {
      return `the comment at line ${line} contains the escape character ${model.escapeChar}; inside a merged RUN, parsers misread it`;
    }
  }
  for (const text of leadingComments(model, next.instr)) {
    if (text.includes(model.escapeChar)) {
      return `a comment in the RUN at line ${n} contains the escape character ${model.escapeChar}; inside a merged RUN, parsers misread it`;
    }
  }
  const tail = model.text.slice(
    prev.instr.argsSpan!.end,
    model.lineEndIncludingEol(prev.instr.argsSpan!.end),
  );
  if (tail.trim() !== "") return null;
  if (next.flagsKey !== group[0].flagsKey) {
    return `RUN at line ${n} has different flags than line ${p}; only RUNs with the same flags can be merged`;
  }
  if (!shell.posix) return `${shell.note}; RUNs are only merged for POSIX shells`;
  if (prev.blocked)
    return `RUN at line ${p} ${prev.blocked}; merging would change what line ${n} runs after it`;
  if (next.blocked)
    return `RUN at line ${n} ${next.blocked}; merging it into line ${p} would change its meaning`;
  if (prev.shellComment) {
    return `RUN at line ${p} contains a shell comment; in a merged RUN it would comment out line ${n}`;
  }
  const first = group.length === 1;
  const wrapPrev = prev.leak !== null || (!first && !prev.andChain) || prev.trailingSeparator;
  if (prev.errexit && wrapPrev) {
    const why = prev.leak ? `${prev.leak} and would need a subshell` : "would need a subshell";
    return `RUN at line ${p} ${why}, but it runs with set -e (${prev.errexit}), which sh ignores inside a subshell left of &&; not merged with line ${n}`;
  }
  if (prev.errexit && !prev.simpleTail) {
    return `RUN at line ${p} runs with set -e (${prev.errexit}) and ends in a compound command; left of && the shell would ignore set -e inside it; not merged with line ${n}`;
  }
  if (!next.andChain && next.shellComment) {
    return `RUN at line ${n} contains a shell comment and would need grouping; not merged with line ${p}`;
  }
  const lines = group.reduce(
    (sum, r, i) => sum + (i === 0 ? r.instr.endLine - r.instr.line + 1 : r.tailLines),
    0,
  );
  const comments = countComments(model, group[0].instr.line, n, commentLines, group);
  if (lines + comments + next.tailLines > MAX_MERGED_LINES) {
    return `merging line ${n} into the RUN at line ${group[0].instr.line} would make a RUN of more than ${MAX_MERGED_LINES} lines`;
  }
  if (checkReading && !readsTheSame(model, [...group, next])) {
    return `tree-sitter-bash reads the merged RUN differently from lines ${p} and ${n}; not merged`;
  }
  return true;
}

/** The merged script parses cleanly and holds the same commands, in order, as its parts. */
function readsTheSame(model: DockerfileModel, group: RunInfo[]): boolean {
  const change = mergeGroup(model, group);
  const text = applyEdits(model.text, change.edits);
  const delta = change.edits.reduce((d, e) => d + e.text.length - (e.end - e.start), 0);
  const first = group[0].instr.argsSpan!;
  const merged = parseShell(
    text,
    { start: first.start, end: group[group.length - 1].instr.argsSpan!.end + delta },
    model.escapeChar,
  );
  if (merged.hasErrors) return false;
  const words = (script: ShellScript) =>
    script.commands.map((c) =>
      script.text
        .slice(c.start - script.base, c.end - script.base)
        .replace(/\\\n/g, " ")
        .replace(/\s+/g, " ")
        .trim(),
    );
  const expected = group.flatMap((r) => words(r.script));
  const actual = words(merged);
  return expected.length === actual.length && expected.every((w, i) => w === actual[i]);
}

/** Comment lines between the RUNs of a group (they move into the merged RUN). */
function countComments(
  model: DockerfileModel,
  from: number,
  to: number,
  commentLines: Set<number>,
  group: RunInfo[],
): number {
  let n = 0;
  const inside = (line: number) => group.some((r) => line >= r.instr.line && line <= r.instr.endLine);
  for (let line = from; line < to; line++) {
    if (commentLines.has(line) && !inside(line) && lineText(model, line).trim().startsWith("#")) n++;
  }
  return n;
}

/** Comment lines inside an instruction's continuation before its script starts (`RUN \⏎# note⏎  cmd`). */
function leadingComments(model: DockerfileModel, instr: Instr): string[] {
  const out: string[] = [];
  for (let line = instr.line + 1; line < model.lineOf(instr.argsSpan!.start); line++) {
    const text = lineText(model, line);
    if (text.trim().startsWith("#")) out.push(text);
  }
  return out;
}

function lineText(model: DockerfileModel, line: number): string {
  const start = model.lineStart(line);
  const end = model.lineEndIncludingEol(start);
  return model.text.slice(start, end).replace(/\r?\n$/, "");
}

function analyse(model: DockerfileModel, instr: Instr, shell: ShellInfo): RunInfo | null {
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script) return null;
  // Read on first use: a RUN with no shell-form RUN next to it is never asked.
  let known: ScriptFacts | undefined;
  const facts = () => {
    if (known) return known;
    known = factsOf.get(script);
    if (!known) factsOf.set(script, (known = scriptFacts(script)));
    return known;
  };
  const argsLine = model.lineOf(instr.argsSpan!.start);
  return {
    instr,
    script,
    get blocked() {
      return facts().blocked;
    },
    get leak() {
      return facts().leak;
    },
    get errexit() {
      if (shell.errexit) return shell.note;
      const set = facts().setsErrexit;
      return set ? "set at line " + model.lineOf(set.start) : null;
    },
    get andChain() {
      return facts().andChain;
    },
    get trailingSeparator() {
      return facts().trailingSeparator;
    },
    get simpleTail() {
      return facts().simpleTail;
    },
    get shellComment() {
      return facts().shellComment;
    },
    flagsKey: instr.flags
      .map((f) => `${f.name}=${f.value ?? ""}`)
      .sort()
      .join("\0"),
    tailLines: instr.endLine - argsLine + 1 + leadingComments(model, instr).length,
  };
}

/** What a RUN's script alone says about merging it: the same wherever the script sits. */
interface ScriptFacts {
  blocked: string | null;
  leak: string | null;
  /** The first `set` that turns errexit on, outside a subshell or not (its line is read where the script sits). */
  setsErrexit: ShellCommand | null;
  shellComment: boolean;
  andChain: boolean;
  trailingSeparator: boolean;
  simpleTail: boolean;
}

// Each round runs merge-runs again over RUNs that kept their scripts (a
// parse after an edit moves scripts with their instructions), so a script's
// facts are read once.
const factsOf = new WeakMap<ShellScript, ScriptFacts>();

function scriptFacts(script: ShellScript): ScriptFacts {
  let blocked: string | null = script.hasErrors ? "has shell syntax dfopt cannot read" : null;
  let leak: string | null = null;
  let setsErrexitCmd: ShellCommand | null = null;
  const tree = shellTree(script);

  const walk = (node: ShellTreeNode, isolated: boolean) => {
    switch (node.kind) {
      case "block":
        for (const s of node.statements) walk(s, isolated || node.role === "substitution");
        return;
      case "and-or":
        if (node.background) blocked ??= "starts a background job with &";
        for (const p of node.pipelines) walk(p, isolated);
        return;
      case "pipeline":
        for (const c of node.commands) walk(c, isolated);
        return;
    }
    if (!isolated) {
      if (node.kind === "other" && (node.what === "declaration" || node.what === "unset")) {
        leak ??= `sets variables with ${/^\S*/.exec(script.slice(node))![0]}`;
      } else if (node.kind === "function") leak ??= "defines a shell function";
      else if (node.kind === "for") leak ??= "sets a loop variable";
      else if (node.kind === "other" && node.what === "assignment") leak ??= "sets a shell variable";
    }
    if (node.kind === "simple") {
      const cmd = node.command;
      const name = cmd.name ? cmd.name.value : null;
      if (cmd.name) {
        if (name === null) {
          if (!isolated) leak ??= "runs a command whose name is a variable";
        } else if (ENDING_COMMANDS.has(name)) {
          if (!isolated) blocked ??= `uses ${name}`;
        } else if (name === "set") {
          if (!isolated) leak ??= LEAKY_COMMANDS.get(name)!;
          if (setsErrexit(cmd.args.map((a) => a.value))) setsErrexitCmd ??= cmd;
        } else if (LEAKY_COMMANDS.has(name) && !isolated) {
          leak ??= LEAKY_COMMANDS.get(name)!;
        } else if (SPECIAL_BUILTINS.has(name) && cmd.assignments.length > 0 && !isolated) {
          // `A=1 :` keeps A in POSIX sh: assignments before special builtins persist.
          leak ??= "sets a shell variable";
        }
      }
    }
    if (!isolated && node.wordAssigns) {
      leak ??=
        node.wordAssigns === "expansion"
          ? "assigns a variable with ${VAR:=...}"
          : "assigns a variable in arithmetic";
    }
    if (node.kind !== "simple" && node.kind !== "other") {
      for (const b of node.blocks) walk(b, isolated || node.kind === "subshell");
    }
    for (const b of node.substitutions) walk(b, isolated);
  };
  walk(tree.root, false);

  const statements = tree.root.statements;
  const last = statements[statements.length - 1];
  return {
    blocked,
    leak,
    setsErrexit: setsErrexitCmd,
    shellComment: script.hasComment,
    andChain: isAndChain(tree.root),
    trailingSeparator: last?.terminator?.op === ";",
    simpleTail: last !== undefined && isSimpleTail(last),
  };
}

function mergeGroup(model: DockerfileModel, group: RunInfo[]): Change {
  const esc = model.escapeChar;
  const eol = model.source.eol;
  const indent = continuationIndent(model);
  const last = group.length - 1;
  const wrap = group.map((r, i) => {
    if (i < last && (r.leak !== null || r.trailingSeparator)) return true;
    return i > 0 && !r.andChain;
  });
  const edits: Edit[] = [];
  const first = group[0].instr;
  if (wrap[0]) edits.push({ start: first.argsSpan!.start, end: first.argsSpan!.start, text: "( " });
  for (let i = 0; i < last; i++) {
    const a = group[i].instr;
    const b = group[i + 1].instr;
    const comments: string[] = [];
    for (let line = a.endLine + 1; line < b.line; line++) {
      const text = lineText(model, line);
      if (text.trim() !== "") comments.push(text + eol);
    }
    // Comment lines between `RUN \` (and its flags) and the script are replaced too: keep them.
    for (const text of leadingComments(model, b)) comments.push(text + eol);
    edits.push({
      start: a.argsSpan!.end,
      end: b.argsSpan!.start,
      text: `${wrap[i] ? " )" : ""} ${esc}${eol}${comments.join("")}${indent}&& ${wrap[i + 1] ? "( " : ""}`,
    });
  }
  const end = group[last].instr.argsSpan!.end;
  if (wrap[last]) edits.push({ start: end, end, text: " )" });
  const lines = group.map((r) => r.instr.line);
  return {
    edits,
    line: first.line,
    message: `merged ${group.length} consecutive RUN instructions (lines ${lines.join(", ")}) into one layer`,
    rules: RULE_IDS,
  };
}

export const mergeRuns: Transform = {
  id: "merge-runs",
  description: "Merge consecutive RUN instructions of a stage into one RUN joined with &&",
  rationale:
    "Each RUN adds a layer; consecutive RUNs with nothing between them can share one, which shrinks " +
    "the image when a later command deletes what an earlier one wrote. The merge keeps meaning: each " +
    "script runs in order, a failure stops the rest, and a script that changes shell state (cd, export, " +
    "set) runs in a subshell so the next one starts as it did before. Scripts that exit, run background " +
    "jobs, use set -e in ways a merge would weaken, or run under a non-POSIX shell are left alone.",
  applicability: "safe",
  reads: ["RUN", "SHELL"],
  applicabilityNote:
    "The scripts run in order in one shell, a failure stops the rest, and state changes are kept to their own script; only the layers differ.",
  rules: RULE_IDS,
  run,
};
