/**
 * The stage walk of the compiled-ecosystem planners (Go, Java, Rust, .NET):
 * working directory, variables (with the base image's defaults) and the
 * context path behind every image path the COPYs create.
 */
import { globContext } from "../../../src/engine/glob.ts";
import {
  argDeclarations,
  type DockerfileModel,
  type Instr,
  type Stage,
  unquote,
  envPairs,
} from "../../../src/engine/parse.ts";
import { basename, contextPath, dirname, isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { ShellCommand } from "../../../src/engine/shell.ts";
import type { BuildContext } from "../../../src/engine/types.ts";
import { PlanRefusal } from "./refuse.ts";
import { commandName, runCommands } from "./shell.ts";
import type { SplitInput } from "../types.ts";
import { execWords } from "../../lib/start-command.ts";

export interface CopyEntry {
  instr: Instr;
  /** Context-relative source (normalised, "" for the context root). */
  source: string;
  /** Absolute image path the source lands on (for a folder: its contents). */
  dest: string;
}

export interface StageWalk {
  model: DockerfileModel;
  stage: Stage;
  context: BuildContext;
  /** Working directory when each instruction runs (null: cannot tell). */
  cwd: Map<Instr, string | null>;
  finalCwd: string | null;
  /** Whether the file sets WORKDIR at all. */
  setsWorkdir: boolean;
  /** Variables defined by the file (ENV, ARG defaults, global ARGs). */
  fileVars: Map<string, string | null>;
  copies: CopyEntry[];
  /** Expands variables in `value` as of `instr`; null if it uses one the file does not define. */
  expand(value: string, at: Instr | null, imageEnv?: Record<string, string>): string | null;
}

const VAR = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function variablesIn(value: string): string[] {
  return [...value.matchAll(VAR)].map((m) => m[1] ?? m[2]);
}

/**
 * Walks the stage. `imageDefaults` gives the base image's WORKDIR and ENV
 * (e.g. golang: `/go`, GOPATH=/go) for paths that depend on them.
 */
export function walkStage(
  input: SplitInput,
  imageDefaults: { workdir: string; env?: Record<string, string> },
): StageWalk {
  const { model, stage, context } = input;
  const vars = new Map<string, string | null>(model.globalArgValues);
  const snapshots = new Map<Instr, Map<string, string | null>>();
  const cwd = new Map<Instr, string | null>();
  const copies: CopyEntry[] = [];
  let dir: string | null = imageDefaults.workdir;
  let setsWorkdir = false;
  // RUN gets HOME=/root from the engine when the image sets none and the stage never leaves root.
  const asRoot = stage.instructions.every(
    (i) => i.keyword !== "USER" || /^(?:root|0)(?::|$)/.test(i.args[0]?.value ?? ""),
  );
  const imageEnv: Record<string, string> = { ...(asRoot ? { HOME: "/root" } : {}), ...imageDefaults.env };
  const expandWith = (value: string, env: Map<string, string | null>, extra: Record<string, string>) => {
    let ok = true;
    const out = value.replace(VAR, (_m, braced: string, bare: string) => {
      const name = braced ?? bare;
      const v = env.get(name) ?? extra[name];
      if (v === undefined || v === null) ok = false;
      return v ?? "";
    });
    return ok ? out : null;
  };
  for (const instr of stage.instructions) {
    snapshots.set(instr, new Map(vars));
    cwd.set(instr, dir);
    if (instr.keyword === "WORKDIR") {
      setsWorkdir = true;
      const raw = instr.args.map((a) => a.value).join(" ");
      const v = expandWith(unquote(raw), vars, imageEnv);
      dir = v === null || dir === null ? null : resolvePath(dir, v);
    } else if (instr.keyword === "ENV") {
      for (const [k, v] of envPairs(instr)) vars.set(k, v === null ? null : expandWith(v, vars, imageEnv));
    } else if (instr.keyword === "ARG") {
      for (const [k, v] of argDeclarations(instr)) {
        if (!vars.has(k) || v !== null) vars.set(k, v === null ? (model.globalArgValues.get(k) ?? null) : v);
      }
    } else if (
      (instr.keyword === "COPY" || instr.keyword === "ADD") &&
      !instr.flags.some((f) => f.name === "from")
    ) {
      for (const entry of copyEntries(model, instr, dir, context, (v) => expandWith(v, vars, imageEnv))) {
        copies.push(entry);
      }
    }
  }
  return {
    model,
    stage,
    context,
    cwd,
    finalCwd: dir,
    setsWorkdir,
    fileVars: vars,
    copies,
    expand(value, at, extra) {
      const env = at ? (snapshots.get(at) ?? vars) : vars;
      return expandWith(value, env, { ...imageEnv, ...(extra ?? {}) });
    },
  };
}

function copyEntries(
  model: DockerfileModel,
  instr: Instr,
  cwd: string | null,
  context: BuildContext,
  expand: (v: string) => string | null,
): CopyEntry[] {
  const words = instr.execForm ? execWords(model, instr) : instr.args.map((a) => a.value);
  if (!words || words.length < 2 || cwd === null) return [];
  const destRaw = expand(words[words.length - 1]);
  if (destRaw === null) return [];
  const destIsDir = destRaw.endsWith("/") || words.length > 2;
  const dest = resolvePath(cwd, destRaw);
  const out: CopyEntry[] = [];
  for (const srcRaw of words.slice(0, -1)) {
    const src = expand(srcRaw);
    if (src === null || /^[a-z]+:\/\//i.test(src)) continue;
    const rel = contextPath(src);
    const matches = /[*?[]/.test(rel) ? globContext(context, rel) : [rel];
    for (const m of matches) {
      const isDir = m === "" || context.isDirectory(m);
      const target = isDir
        ? dest
        : destIsDir || matches.length > 1
          ? `${dest === "/" ? "" : dest}/${basename(m)}`
          : dest;
      out.push({ instr, source: m, dest: target });
    }
  }
  return out;
}

/** Image path of a context path, per the COPYs that ran before `before` (last COPY wins). */
export function imagePathOf(walk: StageWalk, contextPath: string, before?: Instr): string | null {
  let found: string | null = null;
  for (const c of walk.copies) {
    if (before && c.instr.start >= before.start) break;
    if (c.source === contextPath) found = c.dest;
    else if (c.source === "") found = resolvePath(c.dest, contextPath);
    else if (contextPath.startsWith(c.source + "/")) {
      found = resolvePath(c.dest, contextPath.slice(c.source.length + 1));
    }
  }
  return found;
}

/** Context path that lands on the image directory `dir` (inverse of imagePathOf), if any. */
export function contextPathOf(walk: StageWalk, imageDir: string, before?: Instr): string | null {
  let found: string | null = null;
  for (const c of walk.copies) {
    if (before && c.instr.start >= before.start) break;
    const isFile = c.source !== "" && !walk.context.isDirectory(c.source);
    if (isFile) {
      // `COPY Cargo.toml ./` puts the file's folder at imageDir.
      if (dirname(c.dest) === imageDir)
        found = c.source.includes("/") ? dirname(`/${c.source}`).slice(1) : "";
      continue;
    }
    if (imageDir === c.dest) found = c.source;
    else if (isInside(imageDir, c.dest)) {
      const rest = imageDir.slice(c.dest === "/" ? 1 : c.dest.length + 1);
      found = c.source ? `${c.source}/${rest}` : rest;
    }
  }
  return found;
}

/** `cd x` commands inside a RUN before `before`, as the directory the command runs in. */
export function runCwd(input: SplitInput, walk: StageWalk, instr: Instr, cmd: ShellCommand): string | null {
  let dir = walk.cwd.get(instr) ?? null;
  if (dir === null) return null;
  for (const c of runCommands(input.model, instr)) {
    if (c.start >= cmd.start) break;
    if (commandName(c) === "cd") {
      const target = c.args[0]?.value;
      if (!target || c.args.length > 1) return null;
      const t = walk.expand(target, instr);
      if (t === null) return null;
      dir = resolvePath(dir, t);
    }
  }
  return dir;
}

/** The RUNs of the stage whose commands satisfy `pred`. */
export function runsWith(
  input: SplitInput,
  pred: (cmd: ShellCommand) => boolean,
): Array<{ instr: Instr; cmd: ShellCommand }> {
  const out: Array<{ instr: Instr; cmd: ShellCommand }> = [];
  for (const instr of input.stage.instructions) {
    if (instr.keyword !== "RUN") continue;
    let cmds: ShellCommand[];
    try {
      cmds = runCommands(input.model, instr);
    } catch (e) {
      if (e instanceof PlanRefusal) continue;
      throw e;
    }
    for (const cmd of cmds) if (pred(cmd)) out.push({ instr, cmd });
  }
  return out;
}
