import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { shellOf, visit, type ShellNode } from "../../src/engine/shell.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { isWindowsImage, rootImage, stageChain } from "./util.ts";

const RULES = ["DL3025", "JSONArgsRecommended"];

/** Shell builtins and keywords that are not programs exec form could run. */
const BUILTINS = new Set(
  (
    "cd export source . set eval trap ulimit umask alias unset readonly shift wait exit return let declare " +
    "local typeset : exec builtin command type hash read times shopt enable bind source ["
  ).split(" "),
);

/** The node types a plain word may be made of. */
const WORD_TYPES = new Set([
  "word",
  "raw_string",
  "string",
  "concatenation",
  "string_content",
  "command_name",
  "number",
]);

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
  const top = script.root.children.filter((c) => c.named);
  if (top.length !== 1 || top[0].type !== "command") {
    return { reason: "it uses shell syntax (lists, pipes, redirections, control flow or comments)" };
  }
  const cmd = script.commands[0];
  if (!cmd || cmd.node !== top[0] || cmd.assignments.length > 0 || cmd.hasRedirects || !cmd.name) {
    return { reason: "it sets variables or redirects" };
  }
  let bad: ShellNode | null = null;
  for (const child of cmd.node.children) {
    visit(child, (n) => {
      if (n.named && !WORD_TYPES.has(n.type)) bad ??= n;
    });
  }
  if (bad) return { reason: `it uses shell expansion (${(bad as ShellNode).type})` };
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
    "globs, `~`, escapes or builtins) JSON form runs the same argv directly; a leading `exec` is dropped. CMD is " +
    "left alone when the stage has an exec-form ENTRYPOINT in this file (the shell would be passed to it as " +
    "arguments) or a non-default SHELL, and on Windows images. A base image's own ENTRYPOINT is assumed to " +
    "be a wrapper that runs its arguments (as node's and most official images' are). ENTRYPOINT is only converted " +
    "when the per-transform option `entrypoint` is true and the stage has no CMD: a shell-form ENTRYPOINT ignores " +
    "CMD and `docker run` arguments, an exec-form one appends them, so that rewrite changes what `docker run image " +
    "args` does.",
  applicability: "unsafe",
  applicabilityNote:
    "The program, not /bin/sh, becomes PID 1 (where the shell did not exec it already), so `docker stop`'s SIGTERM now reaches the app.",
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
        const shells = stageChain(model, stage).flatMap((s) =>
          s.instructions.filter((i) => i.keyword === "SHELL"),
        );
        if (shells.length > 0) {
          refuse("the stage sets SHELL, so the command runs under that shell");
          continue;
        }
        if (instr.keyword === "CMD") {
          const ep = entrypointOf(model, stage);
          if (ep && ep.execForm) {
            refuse("an exec-form ENTRYPOINT would receive different arguments");
            continue;
          }
        } else {
          if (!entrypointToo) {
            refuse(
              "exec-form ENTRYPOINT would append CMD and `docker run` arguments, which shell form ignores " +
                "(opt in with the exec-form-cmd option `entrypoint: true`)",
            );
            continue;
          }
          if (stage.instructions.some((i) => i.keyword === "CMD")) {
            refuse("the stage sets CMD, which exec-form ENTRYPOINT would append");
            continue;
          }
        }
        const argv = plainArgv(model, instr);
        if ("reason" in argv) {
          refuse(argv.reason);
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
