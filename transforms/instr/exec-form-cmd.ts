import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { firstExpansion, shellOf, shellTree } from "../../src/engine/shell.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { OFFICIAL_DEBIAN_FAMILY, isWindowsImage, rootImage, stageChain } from "./util.ts";
import { escapeRegExp } from "../lib/regexp.ts";

const RULES = ["DL3025", "JSONArgsRecommended"];

/** Shell builtins and keywords that are not programs exec form could run. */
const BUILTINS = new Set(
  (
    "cd export source . set eval trap ulimit umask alias unset readonly shift wait exit return let declare " +
    "local typeset : exec builtin command type hash read times shopt enable bind source ["
  ).split(" "),
);

/**
 * The argv a shell-form command runs, when running it needs nothing from a
 * shell; otherwise the reason it does.
 */
export function plainArgv(model: DockerfileModel, instr: Instr): { argv: string[] } | { reason: string } {
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors) return { reason: "the shell command does not parse" };
  const raw = model.text.slice(instr.argsSpan!.start, instr.argsSpan!.end);
  if (raw.trimStart().startsWith("["))
    return { reason: "it looks like broken JSON; Docker runs it as a shell string" };
  if (
    /(^|\n)[ \t]*#/.test(raw) ||
    /[\\`]/.test(raw.replace(new RegExp(`\\${model.escapeChar}[ \\t]*\\r?\\n`, "g"), ""))
  ) {
    return { reason: "it has comments, escapes or backticks" };
  }
  // One simple command: not a list, not in the background (`nginx &` exits at once), not negated or piped.
  const top = shellTree(script).root.statements;
  const pipe =
    top.length === 1 && !top[0].background && top[0].pipelines.length === 1 ? top[0].pipelines[0] : null;
  const node = pipe && !pipe.negated && pipe.commands.length === 1 ? pipe.commands[0] : null;
  // A redirect after the words (`cmd > f`) is shell syntax; one tree-sitter keeps inside the command is refused below.
  if (
    !node ||
    node.kind !== "simple" ||
    script.hasComment ||
    (node.redirects.length > 0 && !node.command.hasRedirects)
  ) {
    return { reason: "it uses shell syntax (lists, pipes, redirections, control flow or comments)" };
  }
  const cmd = node.command;
  if (cmd.assignments.length > 0 || cmd.hasRedirects || !cmd.name) {
    return { reason: "it sets variables or redirects" };
  }
  const expansion = firstExpansion(script, cmd);
  if (expansion !== null) {
    const shown = expansion.replace(/\s+/g, " ");
    return {
      reason: `it expands \`${shown.length > 40 ? `${shown.slice(0, 39)}…` : shown}\``,
    };
  }
  const argv: string[] = [];
  for (const w of cmd.words) {
    const value = w.value ?? (/^[0-9]+$/.test(w.raw) ? w.raw : null);
    if (value === null) return { reason: `\`${w.raw}\` needs the shell to expand it` };
    if (/[\n]/.test(w.raw)) return { reason: "a word is split over lines" };
    const unquoted = w.raw.replace(/'[^']*'|"[^"]*"/g, "");
    if (/[*?[\]{}~$!]/.test(unquoted)) return { reason: `\`${w.raw}\` needs the shell to expand it` };
    argv.push(value);
  }
  if (argv[0] === "exec" && argv.length > 1 && !argv[1].startsWith("-")) argv.shift();
  if (BUILTINS.has(argv[0])) return { reason: `\`${argv[0]}\` is a shell builtin` };
  return { argv };
}

/** Linux's default SHELL, which Docker puts before a shell-form command. */
const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** Official images that set no SHELL of their own (their shell form runs under /bin/sh -c). */
const NO_SHELL_IMAGES: ReadonlySet<string> = new Set([...OFFICIAL_DEBIAN_FAMILY, "alpine", "busybox"]);

/**
 * The command string Docker stores for a shell-form instruction: continuation
 * lines joined (the escape and the blanks after it removed, as BuildKit's
 * parser does), trimmed. Null when a comment or blank line sits inside it, or
 * a line ends in a way the builder would read otherwise.
 */
function shellFormText(model: DockerfileModel, instr: Instr): string | null {
  const raw = model.text.slice(instr.argsSpan!.start, instr.argsSpan!.end);
  const e = escapeRegExp(model.escapeChar);
  const continued = new RegExp(`^(.*[^${e}])${e}[ \\t]*$`);
  const lines = raw.split("\n").map((l) => l.replace(/\r$/, ""));
  let text = "";
  for (const [i, line] of lines.entries()) {
    if (i > 0 && (/^[ \t]*#/.test(line) || line.trim() === "")) return null;
    if (i === lines.length - 1) {
      text += line;
      break;
    }
    const m = continued.exec(line);
    if (!m) return null;
    text += m[1];
  }
  return text.trim() || null;
}

/** The last ENTRYPOINT that applies to a stage (its own, or from the stages it builds on in this file). */
function entrypointOf(model: DockerfileModel, stage: Stage): Instr | null {
  for (const s of stageChain(model, stage)) {
    const eps = s.instructions.filter((i) => i.keyword === "ENTRYPOINT");
    if (eps.length > 0) return eps[eps.length - 1];
  }
  return null;
}

export const execFormCmd: Transform = {
  id: "exec-form-cmd",
  description: "Write CMD in JSON (exec) form when it needs no shell",
  rationale:
    'Shell-form CMD runs as `/bin/sh -c "..."`, so the shell is PID 1 and SIGTERM from `docker stop` never reaches ' +
    "the app. When the command is a plain program with plain arguments (no variables, pipes, lists, redirections, " +
    "globs, `~`, escapes or builtins) JSON form runs the same argv directly; a leading `exec` is dropped. " +
    "A command that needs the shell, a CMD under an exec-form ENTRYPOINT of this file, and a shell-form " +
    "ENTRYPOINT (unless the `entrypoint` option asks for its argv) get the shell written out instead, " +
    '`["/bin/sh", "-c", "<the command>"]`: the command Docker stores for the shell form, so the image is the ' +
    "same (safe on the official images, which set no SHELL of their own; unsafe on others, which might). A " +
    "stage with a SHELL instruction is left alone (BuildKit stores that shell, buildah /bin/sh), as are " +
    "Windows images and commands with comment lines inside. A base image's own ENTRYPOINT is assumed to " +
    "be a wrapper that runs its arguments (as node's and most official images' are). ENTRYPOINT is only converted " +
    "when the per-transform option `entrypoint` is true and the stage has no CMD: a shell-form ENTRYPOINT ignores " +
    "CMD and `docker run` arguments, an exec-form one appends them, so that rewrite changes what `docker run image " +
    "args` does.",
  applicability: "unsafe",
  reads: ["CMD", "ENTRYPOINT", "SHELL"],
  applicabilityNote:
    "The program, not /bin/sh, becomes PID 1 (where the shell did not exec it already), so `docker stop`'s SIGTERM now reaches the app. Writing the shell out is safe on images known to set no SHELL of their own.",
  rules: RULES,
  options: {
    entrypoint: {
      type: "boolean",
      description: "also write a shell-form ENTRYPOINT in exec form when the stage has no CMD",
    },
  },
  run({ model, options }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const entrypointToo = options.perTransform["exec-form-cmd"]?.entrypoint === true;
    for (const stage of model.stages) {
      const img = rootImage(model, stage);
      const windows = img ? isWindowsImage(img.name, img.tag) : false;
      for (const instr of stage.instructions) {
        if ((instr.keyword !== "CMD" && instr.keyword !== "ENTRYPOINT") || instr.execForm || !instr.argsSpan)
          continue;
        const refuse = (reason: string) =>
          refusals.push({
            line: instr.line,
            reason: `shell-form ${instr.keyword} kept: ${reason}`,
            rules: RULES,
          });
        if (windows) continue;
        /**
         * Where the program itself cannot be run without a shell, the shell
         * Docker would run it with is written out: the image config is the same.
         */
        const explicitShell = (why: string) => {
          const raw = model.text.slice(instr.argsSpan!.start, instr.argsSpan!.end);
          const text = shellFormText(model, instr);
          if (instr.flags.length > 0 || raw.trimStart().startsWith("[") || !text) {
            refuse(why);
            return;
          }
          const img = rootImage(model, stage);
          const known = img !== null && NO_SHELL_IMAGES.has(img.name);
          const argv = [...DEFAULT_SHELL, text];
          const json = "[" + argv.map((a) => JSON.stringify(a)).join(", ") + "]";
          changes.push({
            edits: [{ ...instr.argsSpan!, text: json }],
            line: instr.line,
            message:
              `shell-form ${instr.keyword} → exec form with its shell written out (${why}); ` +
              `Docker stores the same command` +
              (known ? "" : ", assuming the base image sets no SHELL of its own"),
            rules: RULES,
            applicability: known ? "safe" : "unsafe",
          });
        };
        const shells = stageChain(model, stage).flatMap((s) =>
          s.instructions.filter((i) => i.keyword === "SHELL"),
        );
        if (shells.length > 0) {
          // BuildKit runs a shell-form command with SHELL, buildah with /bin/sh -c: unprovable.
          refuse("the stage sets SHELL, so the command runs under that shell");
          continue;
        }
        if (instr.keyword === "CMD") {
          const ep = entrypointOf(model, stage);
          if (ep && ep.execForm) {
            explicitShell("an exec-form ENTRYPOINT receives it as arguments");
            continue;
          }
        } else if (!entrypointToo || stage.instructions.some((i) => i.keyword === "CMD")) {
          explicitShell("a shell-form ENTRYPOINT ignores CMD and `docker run` arguments");
          continue;
        }
        const argv = plainArgv(model, instr);
        if ("reason" in argv) {
          explicitShell(argv.reason);
          continue;
        }
        const json = "[" + argv.argv.map((a) => JSON.stringify(a)).join(", ") + "]";
        changes.push({
          edits: [{ ...instr.argsSpan, text: json }],
          line: instr.line,
          message: `shell-form ${instr.keyword} → exec form`,
          rules: RULES,
        });
      }
    }
    return { changes, refusals };
  },
};
