/**
 * The single stage read instruction by instruction: which instructions belong
 * to the runtime, the ENV/ARG values and WORKDIR in effect at each one, and
 * what each COPY/ADD puts where.
 */
import {
  argDeclarations,
  envPairs,
  expandVariables,
  type Instr,
  type Stage,
  unquote,
} from "../../../src/engine/parse.ts";
import { absolutePath, contextPath, isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { BuildContext } from "../../../src/engine/types.ts";
import { refuse } from "./refuse.ts";

/** Instructions that only describe the runtime container; they move to the runtime stage. */
export const RUNTIME_ONLY = new Set([
  "EXPOSE",
  "VOLUME",
  "LABEL",
  "MAINTAINER",
  "HEALTHCHECK",
  "STOPSIGNAL",
  "ENTRYPOINT",
  "CMD",
]);

/** Instructions that affect both the build and the runtime (kept in build, repeated in runtime). */
export const BOTH_STAGES = new Set(["ENV", "WORKDIR", "USER", "ARG", "SHELL"]);

/** Of BOTH_STAGES, those a build stage may drop when nothing builds after them (WORKDIR stays: it creates the app folder). */
export const MOVABLE_WHEN_LAST = new Set(["ENV", "USER", "ARG", "SHELL"]);

/** True when some COPY/ADD of the stage (not --from) lands inside `appDir`. */
export function copiesInto(
  stage: Stage,
  appDir: string,
  globals?: ReadonlyMap<string, string | null>,
): boolean {
  const cwd = workdirs(stage, "/", globals);
  const vars = stageVars(stage, globals);
  return stage.instructions.some((i) => {
    const c = copyInfo(i, cwd.get(i) ?? null, vars.get(i));
    return !!c && !c.from && c.destAbs !== null && isInside(c.destAbs, appDir);
  });
}

/** Values of the ENV/ARG variables in effect before each instruction of the stage (null: declared without a known value). */
export function stageVars(
  stage: Stage,
  globals: ReadonlyMap<string, string | null> = new Map(),
): Map<Instr, Map<string, string | null>> {
  const out = new Map<Instr, Map<string, string | null>>();
  let vars = new Map<string, string | null>();
  for (const instr of stage.instructions) {
    out.set(instr, vars);
    if (instr.keyword === "ARG") {
      vars = new Map(vars);
      for (const [k, v] of argDeclarations(instr)) vars.set(k, v ?? globals.get(k) ?? vars.get(k) ?? null);
    } else if (instr.keyword === "ENV") {
      vars = new Map(vars);
      for (const [k, v] of envPairs(instr)) if (k && v !== null) vars.set(k, v);
    }
  }
  return out;
}

/** Scratch and cache folders a build may change freely: they are not part of the app. */
export const SCRATCH_PATHS =
  /^\/(?:tmp|var\/lib\/apt|var\/cache|var\/tmp|root\/\.npm|root\/\.cache|root\/\.yarn-cache|usr\/local\/share\/\.cache|dev\/null)(?:\/|$)/;

/**
 * The variables a RUN's shell sees before each instruction, as far as the
 * file fixes them: ENV values, expanded as BuildKit does when it reads the
 * ENV. ARGs are unknown (null): `--build-arg` can change them, so a path a
 * RUN builds from one is not known statically.
 */
export function shellVars(stage: Stage): Map<Instr, Map<string, string | null>> {
  const out = new Map<Instr, Map<string, string | null>>();
  let vars = new Map<string, string | null>();
  for (const instr of stage.instructions) {
    out.set(instr, vars);
    if (instr.keyword === "ARG") {
      vars = new Map(vars);
      for (const [k] of argDeclarations(instr)) vars.set(k, null);
    } else if (instr.keyword === "ENV") {
      const before = vars;
      vars = new Map(vars);
      for (const [k, v] of envPairs(instr)) vars.set(k, v === null ? null : expandKnown(v, before));
    }
  }
  return out;
}

/** Expands `$X`/`${X}` from `vars`; null when a variable is unknown. */
export function expandKnown(
  value: string,
  vars: ReadonlyMap<string, string | null> | undefined,
): string | null {
  if (!value.includes("$")) return value;
  if (!vars) return null;
  const names = [...value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
  if (names.some((n) => (vars.get(n) ?? null) === null)) return null;
  if (/\$\{[A-Za-z_]\w*:?[-+?]/.test(value)) return null;
  return expandVariables(value, vars);
}

/**
 * The working directory in effect at each instruction of the stage (before it
 * runs). `null` once a WORKDIR uses a variable the transform cannot resolve.
 */
export function workdirs(
  stage: Stage,
  initial = "/",
  globals?: ReadonlyMap<string, string | null>,
): Map<Instr, string | null> {
  const out = new Map<Instr, string | null>();
  const vars = stageVars(stage, globals);
  let cwd: string | null = initial;
  for (const instr of stage.instructions) {
    out.set(instr, cwd);
    if (instr.keyword === "WORKDIR") {
      const v = expandKnown(unquote(instr.args.map((a) => a.value).join(" ")), vars.get(instr));
      if (v === null) cwd = null;
      else cwd = v.startsWith("/") ? absolutePath(v) : cwd === null ? null : resolvePath(cwd, v);
    }
  }
  return out;
}

/** The WORKDIR after the whole stage (where CMD runs); null when it uses unknown variables. */
export function workdirAfter(
  stage: Stage,
  initial = "/",
  globals?: ReadonlyMap<string, string | null>,
): string | null {
  const last = stage.instructions[stage.instructions.length - 1];
  if (!last) return initial;
  const before = workdirs(stage, initial, globals).get(last) ?? null;
  if (last.keyword !== "WORKDIR") return before;
  const v = expandKnown(
    unquote(last.args.map((a) => a.value).join(" ")),
    stageVars(stage, globals).get(last),
  );
  if (v === null) return null;
  return v.startsWith("/") ? absolutePath(v) : before === null ? null : resolvePath(before, v);
}

/**
 * The app folder: the final WORKDIR, or, when that is `/`, the absolute
 * destination of the COPY/ADD of the whole context. Null when unknown.
 */
export function appFolder(stage: Stage, globals?: ReadonlyMap<string, string | null>): string | null {
  const wd = workdirAfter(stage, "/", globals);
  if (wd !== "/") return wd;
  const cwd = workdirs(stage, "/", globals);
  const vars = stageVars(stage, globals);
  for (const i of stage.instructions) {
    const c = copyInfo(i, cwd.get(i) ?? null, vars.get(i));
    if (c && !c.from && c.wholeContext && c.destAbs && c.destAbs !== "/")
      return SCRATCH_PATHS.test(c.destAbs) ? "/" : c.destAbs;
  }
  return "/";
}

/** The app folder (see `appFolder`); refuses when it is unknown, `/`, or nothing is copied into it. */
export function appFolderToCopy(stage: Stage, globals?: ReadonlyMap<string, string | null>): string {
  const appDir = appFolder(stage, globals);
  if (appDir === null) refuse("the WORKDIR uses variables the transform cannot resolve");
  if (appDir === "/") refuse("no WORKDIR: the app lives in / and cannot be copied on its own");
  if (!copiesInto(stage, appDir, globals))
    refuse(`nothing is copied into the app folder ${appDir} (the source is mounted at run time?)`);
  return appDir;
}

export interface CopyInfo {
  instr: Instr;
  /** `COPY` or `ADD`. */
  keyword: string;
  /** Source paths as written (relative to the context). */
  sources: string[];
  /** Destination as written. */
  dest: string;
  /** Destination resolved against the WORKDIR (null when it uses variables). */
  destAbs: string | null;
  /** The destination is a folder (ends in `/`, or several sources, or a `.`). */
  destIsDir: boolean;
  /** `--from=...` value, if any. */
  from: string | null;
  /** `--chown` value, if any. */
  chown: string | null;
  /** Copies the whole context (`.`, `./`, `*`). */
  wholeContext: boolean;
  /** ADD of a URL or archive (not a plain copy). */
  remote: boolean;
}

/** Parses a COPY/ADD (shell or JSON form). Null for heredocs. `vars` resolves variables in the destination. */
export function copyInfo(
  instr: Instr,
  cwd: string | null,
  vars?: ReadonlyMap<string, string | null>,
): CopyInfo | null {
  if (instr.keyword !== "COPY" && instr.keyword !== "ADD") return null;
  if (instr.hasHeredoc) return null;
  let words = instr.args.map((a) => a.value);
  if (instr.execForm) {
    try {
      const parsed: unknown = JSON.parse(
        instr.text.slice(instr.argsSpan!.start - instr.start, instr.argsSpan!.end - instr.start),
      );
      if (Array.isArray(parsed) && parsed.every((x): x is string => typeof x === "string")) words = parsed;
    } catch {
      return null;
    }
  }
  if (words.length < 2) return null;
  const dest = words[words.length - 1];
  const sources = words.slice(0, -1);
  const destExpanded = expandKnown(dest, vars);
  const destAbs =
    destExpanded === null
      ? null
      : destExpanded.startsWith("/")
        ? absolutePath(destExpanded)
        : cwd === null
          ? null
          : resolvePath(cwd, destExpanded);
  const flag = (n: string) => instr.flags.find((f) => f.name === n)?.value ?? null;
  return {
    instr,
    keyword: instr.keyword,
    sources,
    dest,
    destAbs,
    destIsDir: dest.endsWith("/") || dest === "." || dest === ".." || sources.length > 1,
    from: flag("from"),
    chown: flag("chown"),
    wholeContext: sources.some((s) => /^(?:\.\/?|\*|\.\/\*)$/.test(s)),
    remote:
      instr.keyword === "ADD" &&
      sources.some(
        (s) =>
          /^(?:https?|git):\/\//.test(s) || /\.(?:tar|tgz|tar\.\w+|zip)$/.test(s) || s.startsWith("git@"),
      ),
  };
}

/** Where a copied source lands (for folder destinations the base name is appended). */
export function copyTarget(c: CopyInfo, source: string): string | null {
  if (!c.destAbs) return null;
  if (!c.destIsDir) return c.destAbs;
  const base = source.replace(/\/+$/, "").split("/").pop() ?? "";
  return absolutePath(c.destAbs + "/" + base);
}

/** Context-relative sources of a COPY/ADD that are missing from a real build context (globs are skipped). */
export function missingSources(context: BuildContext, c: CopyInfo): string[] {
  if (context.root === "<none>" || c.from || c.remote) return [];
  return c.sources.filter(
    (s) => !/[*?[$]/.test(s) && !context.exists(s.replace(/^\.\//, "").replace(/\/+$/, "") || "."),
  );
}

/** The last USER of the stage, or null. */
export function originalUser(stage: Stage): Instr | null {
  return [...stage.instructions].reverse().find((i) => i.keyword === "USER") ?? null;
}

/**
 * Drops runtime WORKDIRs made pointless by a following absolute WORKDIR
 * (`WORKDIR /var/` then `WORKDIR /var/project`), keeping relative chains.
 */
export function dedupeWorkdirs(instrs: Instr[]): Instr[] {
  return instrs.filter((i, idx) => {
    if (i.keyword !== "WORKDIR") return true;
    const next = instrs[idx + 1];
    return !(next && next.keyword === "WORKDIR" && (next.args[0]?.value ?? "").startsWith("/"));
  });
}

/** True when a RUN, COPY or ADD follows `instr` in the stage (so ENV/WORKDIR/USER still matter to the build). */
export function buildsAfter(stage: Stage, instr: Instr): boolean {
  const idx = stage.instructions.indexOf(instr);
  return stage.instructions
    .slice(idx + 1)
    .some((i) => i.keyword === "RUN" || i.keyword === "COPY" || i.keyword === "ADD");
}

/**
 * The build-context file a COPY/ADD of the stage put at the image path `abs`
 * (the last one that wrote there), or null when none did or it cannot tell.
 */
export function contextFileAt(
  stage: Stage,
  context: BuildContext,
  abs: string,
  cwdAt: ReadonlyMap<Instr, string | null>,
  varsAt: ReadonlyMap<Instr, ReadonlyMap<string, string | null>>,
): string | null {
  let found: string | null = null;
  for (const instr of stage.instructions) {
    const c = copyInfo(instr, cwdAt.get(instr) ?? null, varsAt.get(instr));
    if (!c || c.from || c.remote || !c.destAbs) continue;
    for (const s of c.sources) {
      if (/[*?[$]/.test(s)) continue;
      const src = contextPath(s);
      const dir = src === "" || context.isDirectory(src);
      if (dir && isInside(abs, c.destAbs) && abs !== c.destAbs) {
        const rel = abs.slice(c.destAbs === "/" ? 1 : c.destAbs.length + 1);
        found = src ? `${src}/${rel}` : rel;
      } else if (!dir && copyTarget(c, src) === abs) found = src;
    }
  }
  return found !== null && context.exists(found) && !context.isDirectory(found) ? found : null;
}

/** JSON manifest from the context, or null when absent or unreadable. */
export function readJson(context: BuildContext, path: string): Record<string, unknown> | null {
  const text = context.readFile(path);
  if (text === undefined) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
