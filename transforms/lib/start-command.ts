/** What a container runs (ENTRYPOINT + CMD), as words and simple commands. */
import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import { shellOf } from "../../src/engine/shell.ts";

/** The words of an exec-form instruction, or null when it is not valid JSON. */
export function execWords(model: DockerfileModel, instr: Instr): string[] | null {
  if (!instr.execForm || !instr.argsSpan) return null;
  return jsonArgv(model, model.text.slice(instr.argsSpan.start, instr.argsSpan.end));
}

/** The words of an exec-form JSON array as written (line continuations removed), or null when it is not one. */
export function jsonArgv(model: DockerfileModel, raw: string): string[] | null {
  const esc = model.escapeChar === "`" ? "`" : "\\\\";
  const flat = raw.replace(new RegExp(`${esc}[ \\t]*\\r?\\n`, "g"), "");
  try {
    const v: unknown = JSON.parse(flat);
    return Array.isArray(v) && v.every((x): x is string => typeof x === "string") ? v : null;
  } catch {
    return null;
  }
}

export interface StartCommand {
  /** The instructions that define it. */
  cmd: Instr | null;
  entrypoint: Instr | null;
  /**
   * The simple commands the container runs: for exec form the argv; for shell
   * form (or `sh -c "..."`) each command of the script. Null words contain expansions.
   */
  commands: Array<Array<string | null>>;
  /** Free text of everything run, for keyword checks. */
  text: string;
}

/**
 * What the container runs: ENTRYPOINT + CMD (the last of each in the stage).
 * Unwraps `sh -c "..."` / `bash -c` and leading `exec`.
 */
export function startCommand(
  model: DockerfileModel,
  stage: { readonly instructions: readonly Instr[] },
): StartCommand {
  const last = (k: string) => [...stage.instructions].reverse().find((i) => i.keyword === k) ?? null;
  const cmd = last("CMD");
  const entrypoint = last("ENTRYPOINT");
  const commands: Array<Array<string | null>> = [];
  const texts: string[] = [];
  const fromInstr = (i: Instr): Array<Array<string | null>> => {
    const argv = execWords(model, i);
    if (argv) return [argv];
    const s = shellOf(i, model.text, model.escapeChar);
    if (!s) return [];
    return s.commands.map((c) => [...c.words.map((w) => w.value)]);
  };
  let parts: Array<Array<string | null>> = [];
  if (entrypoint && entrypoint.execForm) {
    const ep = fromInstr(entrypoint);
    const cm = cmd && cmd.execForm ? (execWords(model, cmd) ?? []) : [];
    parts = ep.length === 1 ? [[...ep[0], ...cm]] : ep;
    texts.push(entrypoint.text);
    if (cmd) texts.push(cmd.text);
  } else if (entrypoint) {
    parts = fromInstr(entrypoint);
    texts.push(entrypoint.text);
  } else if (cmd) {
    parts = fromInstr(cmd);
    texts.push(cmd.text);
  }
  for (const argv of parts) {
    const shellIdx = argv.findIndex((w, i) => i > 0 && w === "-c");
    const isShell = argv[0] !== null && /(?:^|\/)(?:ba|da|a)?sh$/.test(argv[0] ?? "") && shellIdx > 0;
    if (isShell && typeof argv[shellIdx + 1] === "string") {
      // `sh -c "a && b"`: split on shell operators, good enough for keyword checks.
      for (const piece of (argv[shellIdx + 1] as string).split(/&&|\|\||;|\|/)) {
        const words = piece.trim().split(/\s+/).filter(Boolean);
        if (words.length)
          commands.push(words.map((w) => (w.includes("$") ? null : w.replace(/^["']|["']$/g, ""))));
      }
    } else {
      commands.push(argv[0] === "exec" ? argv.slice(1) : argv);
    }
  }
  return { cmd, entrypoint, commands, text: texts.join("\n") };
}
