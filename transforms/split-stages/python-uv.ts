/**
 * uv in the Python planner: `uv sync` installs into the project environment
 * (`UV_PROJECT_ENVIRONMENT`, or `.venv` in the folder it runs in). That
 * environment is kept where the original puts it and copied to the runtime
 * stage (with the app folder when it lies inside it), so start commands that
 * name it (`/app/.venv/bin/python`) keep working.
 */
import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { basename, resolvePath } from "../../src/engine/paths.ts";
import { quote, refuse } from "./toolkit/refuse.ts";
import { shellCommands, wordValues } from "./toolkit/shell.ts";
import { envPairs } from "../../src/engine/parse.ts";

/** `COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /uvx /bin/`: the uv binary, a build tool only. */
export const UV_IMAGE = /^(?:ghcr\.io\/astral-sh\/uv|astral\/uv)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/;

/** Options of `uv sync` that pick another interpreter, project or environment than the planner reads. */
const UV_SYNC_REFUSED = /^(?:-p|--python|--directory|--project|--active|--script)(?:=|$)/;

/** The words after `uv` up to and including its subcommand (global flags skipped), and the rest. */
export function uvSubcommand(words: string[]): { sub: string; args: string[] } {
  const i = words.findIndex((w) => !w.startsWith("-"));
  return i === -1 ? { sub: "", args: [] } : { sub: words[i], args: words.slice(i + 1) };
}

/**
 * The project environment the stage's `uv sync` commands install into, and
 * the RUNs that do (null: no `uv sync`); refuses options and variables that
 * leave the environment unknown.
 */
export function findUvEnvironment(
  model: DockerfileModel,
  stage: Stage,
  cwdAt: Map<Instr, string | null>,
  varsAt: Map<Instr, Map<string, string | null>>,
): { path: string; creators: Set<Instr> } | null {
  let path: string | null = null;
  const creators = new Set<Instr>();
  for (const instr of stage.instructions) {
    if (instr.keyword !== "RUN" || instr.hasHeredoc) continue;
    const cmds = shellCommands(model, instr);
    if (!cmds) continue;
    let cwd = cwdAt.get(instr) ?? null;
    for (const c of cmds) {
      const w = wordValues(c);
      const name = basename(w[0] ?? "");
      if (name === "cd") {
        cwd = cwd !== null && w[1] ? resolvePath(cwd, w[1]) : null;
        continue;
      }
      if (name !== "uv") continue;
      if (w.some((x) => x === null))
        refuse(`${quote(instr)} passes uv arguments the transform cannot read`, instr);
      const { sub, args } = uvSubcommand(w.slice(1) as string[]);
      if (sub !== "sync") continue;
      const bad = args.find((a) => UV_SYNC_REFUSED.test(a));
      if (bad)
        refuse(`${quote(instr)}: uv sync ${bad} picks an environment the transform does not follow`, instr);
      if (cwd === null) refuse(`cannot tell the folder ${quote(instr)} runs in`, instr);
      const vars = varsAt.get(instr);
      const env = vars?.has("UV_PROJECT_ENVIRONMENT") ? vars.get("UV_PROJECT_ENVIRONMENT") : ".venv";
      if (env === null || env === undefined || env === "" || /\$/.test(env))
        refuse(`${quote(instr)}: UV_PROJECT_ENVIRONMENT is not fixed by the Dockerfile`, instr);
      const at = resolvePath(cwd, env);
      if (path !== null && path !== at)
        refuse(`${quote(instr)} syncs into ${at}, a second environment (${path} already)`, instr);
      path = at;
      creators.add(instr);
    }
  }
  return path === null ? null : { path, creators };
}

/**
 * Whether the build stage needs `ENV UV_PYTHON_DOWNLOADS=never`: uv downloads its
 * own Python when the image's does not fit the project, and a venv built on it would
 * not run on the runtime image. False when the file already keeps uv on the image's
 * Python; refuses settings that let uv pick one of its own.
 */
export function needsDownloadGuard(stage: Stage): boolean {
  let guarded = false;
  for (const i of stage.instructions) {
    if (i.keyword !== "ENV" && i.keyword !== "ARG") continue;
    for (const [k, v] of envPairs(i)) {
      if (k === "UV_PYTHON_DOWNLOADS" && v === "never") guarded = true;
      else if (k === "UV_PYTHON_PREFERENCE" && v === "only-system") guarded = true;
      else if (/^UV_PYTHON(?:_DOWNLOADS|_PREFERENCE|_INSTALL_DIR)?$/.test(k))
        refuse(`${quote(i)} lets uv choose a Python of its own, which the runtime image would not have`, i);
    }
  }
  return !guarded;
}
