/** The shell of RUN, CMD and ENTRYPOINT: commands, words, exec form, and what file commands change. */
import type { DockerfileModel, Instr } from "../../../src/engine/parse.ts";
import { basename, isInside, resolvePath } from "../../../src/engine/paths.ts";
import { type ShellCommand, shellOf, type ShellScript, shellTree } from "../../../src/engine/shell.ts";
import { walkShellTree } from "../../../src/engine/shell-tree.ts";
import { expandKnown, SCRATCH_PATHS } from "./instructions.ts";
import { quote, refuse } from "./refuse.ts";
import { execWords, type StartCommand } from "../../lib/start-command.ts";

/** Parsed shell of a RUN (null for exec form/heredoc or unparsable shell). */
export function runScript(model: DockerfileModel, instr: Instr): ShellScript | null {
  const s = shellOf(instr, model.text, model.escapeChar);
  return s && !s.hasErrors ? s : null;
}

/** Simple commands of a RUN, as word values (null words when they hold expansions). */
export function shellCommands(model: DockerfileModel, instr: Instr): ShellCommand[] | null {
  if (instr.execForm) {
    const argv = execWords(model, instr);
    return argv ? [fakeCommand(instr, argv)] : null;
  }
  const s = runScript(model, instr);
  return s ? s.commands : null;
}

/** Shell commands of a RUN; refuses a RUN it cannot read (`shellCommands` gives null instead). */
export function runCommands(model: DockerfileModel, instr: Instr): ShellCommand[] {
  if (instr.execForm) {
    const words = execWords(model, instr) ?? refuse(`cannot read the exec-form RUN`, instr.line);
    return [fakeCommand(instr, words)];
  }
  if (instr.hasHeredoc) refuse("RUN heredoc: cannot see what it does", instr.line);
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors) refuse("cannot parse the shell of this RUN", instr.line);
  return script.commands;
}

// Same property order as the objects src/engine/shell.ts builds: one hidden
// class for every command and word keeps the hot paths monomorphic in V8.
function fakeCommand(instr: Instr, argv: string[]): ShellCommand {
  const w = (v: string) => ({ start: instr.start, end: instr.end, raw: v, value: v });
  const words = argv.map(w);
  return {
    node: {
      type: "command",
      named: true,
      field: null,
      start: instr.start,
      end: instr.end,
      children: [],
      parent: null,
    },
    start: instr.start,
    end: instr.end,
    name: words[0] ?? null,
    args: words.slice(1),
    words,
    assignments: [],
    hasRedirects: false,
  };
}

/** Word values of a command (`null` entries for words with expansions). */
export function wordValues(c: ShellCommand): Array<string | null> {
  return c.words.map((w) => w.value);
}

/**
 * The command line of a CMD/ENTRYPOINT: its words, and whether it is shell
 * form. Shell form with anything but one plain command gives `words: null`.
 */
export function commandWords(
  model: DockerfileModel,
  instr: Instr,
): { words: string[] | null; shell: boolean } {
  if (instr.execForm) return { words: execWords(model, instr), shell: false };
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors) return { words: null, shell: true };
  const top = shellTree(script).root.statements;
  const only = top.length === 1 && top[0].pipelines.length === 1 ? top[0].pipelines[0] : null;
  // One simple command, not negated, not in the background, with no redirect.
  const node = only && !only.negated && only.commands.length === 1 ? only.commands[0] : null;
  if (!node || node.kind !== "simple" || top[0].background || script.commands.length !== 1) {
    return { words: null, shell: true };
  }
  const cmd = node.command;
  if (cmd.assignments.length > 0 || node.redirects.length > 0) return { words: null, shell: true };
  const words = cmd.words.map((w) => w.value);
  if (words.some((w) => w === null || /[*?[\]{}~]/.test(w))) return { words: null, shell: true };
  return { words: words as string[], shell: true };
}

/** The JSON exec form of `words`. */
export function execForm(words: string[]): string {
  return `[${words.map((w) => JSON.stringify(w)).join(", ")}]`;
}

export function scriptOf(model: DockerfileModel, instr: Instr): ShellScript | null {
  return instr.execForm ? null : shellOf(instr, model.text, model.escapeChar);
}

/** Command name without a leading path: `./mvnw` → `mvnw`, `/usr/bin/go` → `go`. */
export function commandName(cmd: ShellCommand): string {
  const v = cmd.name?.value ?? "";
  return basename(v);
}

/** `sh ./gradlew build` → the words after the interpreter. */
export function effectiveWords(cmd: ShellCommand): Array<string | null> {
  const words = cmd.words.map((w) => w.value);
  const first = words[0] ? basename(words[0]) : "";
  if ((first === "sh" || first === "bash") && words.length > 1 && words[1] && !words[1].startsWith("-")) {
    return words.slice(1);
  }
  return words;
}

/** True when the RUN's shell has control flow the planners should not reason about (if/for/while/case/functions). */
export function hasControlFlow(model: DockerfileModel, instr: Instr): boolean {
  const s = shellOf(instr, model.text, model.escapeChar);
  if (!s) return false;
  let found = false;
  walkShellTree(shellTree(s).root, (n) => {
    if (
      n.kind === "if" ||
      n.kind === "for" ||
      n.kind === "while" ||
      n.kind === "case" ||
      n.kind === "function"
    )
      found = true;
    return found ? false : undefined;
  });
  return found;
}

/** Programs that expect to start as root (they drop privileges or manage system services themselves). */
export const ROOT_DAEMONS =
  /^(?:supervisord|nginx|httpd|apache2|apache2ctl|apachectl|cron|crond|sshd|service|systemctl|rsyslogd|syslogd|init|runsvdir|s6-svscan|gosu|su-exec|sudo|su)$/;

/** The first start command word that is a root daemon (see ROOT_DAEMONS), or null. */
export function rootDaemon(start: StartCommand): string | null {
  for (const argv of start.commands) {
    for (const w of argv) {
      if (w === null) continue;
      const name = w.split("/").pop() ?? "";
      if (ROOT_DAEMONS.test(name)) return name;
    }
  }
  return null;
}

/** Harmless file commands planners accept in build RUNs when they stay inside the app folder. */
export const FILE_COMMANDS = new Set([
  "mkdir",
  "cp",
  "mv",
  "rm",
  "ln",
  "touch",
  "chmod",
  "chown",
  "echo",
  "sed",
  "cat",
  "ls",
  "true",
  "test",
  "[",
  "set",
  "export",
  "sleep",
  "find",
  "printf",
]);

/**
 * A word's value as the shell sees it, with `$X`/`${X}` given by `expand`
 * (e.g. `expandKnown` over `shellVars`); null when it uses a variable whose
 * value is not fixed, or a command substitution. Globs
 * (`/var/lib/apt/lists/*`) keep their text.
 */
export function staticWord(
  w: ShellCommand["args"][number],
  expand: (raw: string) => string | null,
): string | null {
  if (w.value !== null) return w.value;
  if (!/[$`]/.test(w.raw)) return w.raw.replace(/["']/g, "");
  if (/[`'(]/.test(w.raw)) return null;
  return expand(w.raw.replace(/"/g, ""));
}

/**
 * For a file command (see FILE_COMMANDS) run in `cwd`: a refusal reason when
 * it changes something outside `appDir` (scratch and cache folders aside), else null.
 * `vars` gives the values of the variables its words use (see `shellVars`).
 */
export function fileCommandProblem(
  model: DockerfileModel,
  instr: Instr,
  c: ShellCommand,
  appDir: string,
  cwd: string = appDir,
  vars?: ReadonlyMap<string, string | null>,
): string | null {
  const name = (c.name?.value ?? "").split("/").pop() ?? "";
  const raw = c.args.map((a) => staticWord(a, (v) => expandKnown(v, vars)));
  if (raw.some((a) => a === null) && /^(?:mkdir|cp|mv|rm|ln|touch|chmod|chown)$/.test(name)) {
    return `${quote(instr)} changes paths named by variables`;
  }
  const plain = raw.filter((a): a is string => a !== null);
  const readOnly = /^(?:echo|cat|ls|test|\[|true|set|export|sleep|printf)$/.test(name);
  let paths = plain.filter((a) => !a.startsWith("-"));
  if (name === "chmod" || name === "chown") paths = paths.slice(1);
  const pathCommand = /^(?:mkdir|cp|mv|rm|ln|touch|chmod|chown)$/.test(name);
  const resolved = pathCommand
    ? paths.map((a) => resolvePath(cwd, a))
    : plain.filter((a) => a.startsWith("/"));
  if (name === "rm" && resolved.some((a) => isInside(appDir, a)))
    return `${quote(instr)} removes the app folder ${appDir}`;
  const outside = resolved.filter((a) => !isInside(a, appDir) && !SCRATCH_PATHS.test(a));
  if (!readOnly && outside.length > 0 && !(name === "mkdir" && outside.every((a) => isInside(appDir, a)))) {
    return `${quote(instr)} changes ${outside[0]}, outside the app folder ${appDir}`;
  }
  if (name === "find" && plain.some((a) => a === "-exec" || a === "-delete") && outside.length > 0) {
    return `${quote(instr)} changes files outside the app folder ${appDir}`;
  }
  return redirectProblem(model, instr, c, appDir, cwd, vars);
}

/** A refusal reason when a command's output redirect writes outside `appDir` (scratch paths aside), else null. */
export function redirectProblem(
  model: DockerfileModel,
  instr: Instr,
  c: ShellCommand,
  appDir: string,
  cwd: string = appDir,
  vars?: ReadonlyMap<string, string | null>,
): string | null {
  const script = shellOf(instr, model.text, model.escapeChar);
  const node = script && shellTree(script).nodeOf(c);
  if (!script || !node) return null;
  for (const r of node.redirects) {
    // Output to a file: `>`, `>>`, `>|`, `&>`; not `>&2` (a descriptor) or input.
    if (!/^&?>(?:>|\|)?$/.test(r.op) || !r.target) continue;
    const target = script.slice(r.target);
    if (target === "/dev/null" || target.startsWith("&")) continue;
    const value = !target.includes("$")
      ? target.replace(/^["']|["']$/g, "")
      : /[`'(]/.test(target)
        ? null
        : expandKnown(target.replace(/^"|"$/g, ""), vars);
    const abs = value === null ? null : resolvePath(cwd, value);
    if (!abs || (!isInside(abs, appDir) && !SCRATCH_PATHS.test(abs)))
      return `${quote(instr)} writes outside the app folder ${appDir}`;
  }
  return null;
}

/**
 * The command lines of a start script, to be checked like a CMD: comments,
 * blank lines and `set` options dropped, continuations joined. A reason
 * instead when the script is more than a list of commands (control flow,
 * functions, command substitution, heredocs, sourcing other files) or its
 * interpreter may be missing from the runtime image (`bash` on Alpine).
 */
export function scriptCommandLines(text: string, opts: { alpine: boolean }): string[] | { why: string } {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(lines[0] ?? "");
  const interpreter = shebang
    ? ((shebang[1].endsWith("/env") ? shebang[2] : shebang[1]) ?? "").split("/").pop()
    : "sh";
  if (interpreter !== "sh" && interpreter !== "bash") return { why: `runs under ${interpreter}` };
  if (interpreter === "bash" && opts.alpine)
    return { why: "needs bash, absent from the Alpine runtime image" };
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/^set(?:\s+[-+][a-z]+|\s+-o\s+\w+)*$/.test(line)) continue;
    const bare = line.replace(/\$\{\w+(?::?[-=+?][^}]*)?\}/g, "$X");
    if (
      /(?:^|[\s;&|])(?:if|then|else|elif|fi|for|while|until|do|done|case|esac|function|source|\.)(?:$|[\s;&|])|[{}]|\(\)|\$\(|`|<</.test(
        bare,
      )
    )
      return {
        why: `has \`${line.length > 40 ? line.slice(0, 39) + "…" : line}\`, more than a list of commands`,
      };
    out.push(line);
  }
  return out.length ? out : { why: "runs no command" };
}
