/**
 * Files a build RUN puts in place with `cp`/`mv` (`cp src/Rocket.toml .`,
 * `mv dist/app.conf /etc/app/`): the paths the runtime stage must copy from
 * the build stage, read statically from the command's words.
 */
import { basename, isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { Instr } from "../../../src/engine/parse.ts";
import type { ShellCommand } from "../../../src/engine/shell.ts";
import { expandKnown, SCRATCH_PATHS } from "./instructions.ts";
import { quote, refuse } from "./refuse.ts";
import { commandName, staticWord } from "./shell.ts";

/**
 * Folders every base image already has: a copy into one of them places
 * `folder/<name>`; the runtime stage must never take the folder itself.
 */
const SYSTEM_FOLDER =
  /^\/(?:|bin|sbin|lib|lib64|etc|opt|srv|var|var\/lib|tmp|root|home|usr|usr\/bin|usr\/sbin|usr\/lib|usr\/share|usr\/local|usr\/local\/bin|usr\/local\/sbin|usr\/local\/lib|usr\/local\/share)$/;

/** cp/mv long options that take the next word as their value (short ones: `-t`, `-S`). */
const VALUE_OPTIONS = new Set(["--target-directory", "--suffix", "--sparse"]);

export interface Placement {
  /** The paths the command creates or replaces (absolute). */
  placed: string[];
  /** The paths `mv` takes away (absolute, patterns kept). */
  moved: string[];
}

/**
 * What a `cp`/`mv` command run in `cwd` puts in place. `expand` gives a
 * word's value with the file's variables (null when one is not fixed);
 * `isFolder` says whether a path is a folder the stage surely has (its
 * WORKDIRs, the RUN's cwd). `made`, when given, names the folders the stage
 * itself makes: only into those may a pattern copy (the folder is then taken
 * whole). A reason instead when it cannot be told.
 */
export function placement(
  cmd: ShellCommand,
  cwd: string | null,
  expand: (raw: string) => string | null,
  isFolder: (path: string) => boolean,
  made?: (path: string) => boolean,
): Placement | { why: string } {
  const name = basename(cmd.name?.value ?? "");
  if (cwd === null) return { why: "the folder it runs in is not known" };
  const values: string[] = [];
  for (const w of cmd.args) {
    const value = staticWord(w, expand);
    if (value === null)
      return {
        why: /[`(]/.test(w.raw)
          ? `\`${w.raw}\` runs a command for its value`
          : `\`${w.raw}\` uses a variable whose value is not fixed`,
      };
    values.push(value);
  }
  const operands: string[] = [];
  let target: string | null = null;
  let asFile = false;
  let endOfOptions = false;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!endOfOptions && value === "--") endOfOptions = true;
    else if (!endOfOptions && value.startsWith("--")) {
      const [flag, attached] = value.split("=", 2);
      if (flag === "--parents") return { why: "`--parents` keeps the source folders under the destination" };
      if (flag === "--no-target-directory") asFile = true;
      if (flag === "--target-directory") {
        target = attached ?? values[i + 1] ?? null;
        if (target === null) return { why: "its target folder cannot be read" };
      }
      if (VALUE_OPTIONS.has(flag) && attached === undefined) i++;
    } else if (!endOfOptions && value.startsWith("-") && value !== "-") {
      // A cluster of short options (`-rf`, `-at /srv`, `-t/srv`): -t and -S take the rest or the next word.
      for (let j = 1; j < value.length; j++) {
        const flag = value[j];
        if (flag === "T") asFile = true;
        if (flag !== "t" && flag !== "S") continue;
        const v = j + 1 < value.length ? value.slice(j + 1) : (values[++i] ?? null);
        if (flag === "t") {
          if (v === null) return { why: "its target folder cannot be read" };
          target = v;
        }
        break;
      }
    } else operands.push(value);
  }
  if (operands.some((o) => o.startsWith("~"))) return { why: "a path starts with `~`" };
  if (target === null && operands.length < 2) return { why: `\`${name}\` has no source or no destination` };
  const destRaw = target ?? operands[operands.length - 1];
  const dest = resolvePath(cwd, destRaw);
  const sourcesRaw = target === null ? operands.slice(0, -1) : operands;
  const sources = sourcesRaw.map((s) => resolvePath(cwd, s));
  // `dir/.` copies what the folder holds, like a pattern.
  const contents = (i: number) => /[*?[]/.test(sources[i]) || /(?:^|\/)\.$/.test(sourcesRaw[i]);
  const intoFolder =
    !asFile &&
    (target !== null ||
      sources.length > 1 ||
      /(?:^|\/)\.{0,2}$/.test(destRaw) ||
      SYSTEM_FOLDER.test(dest) ||
      isFolder(dest));
  const pattern = sources.some((_, i) => contents(i));
  let placed: string[];
  if (pattern && (intoFolder || made)) {
    // Which names a pattern brings is not known here: take the folder, unless every image has it.
    if (made?.(dest)) placed = [dest];
    else if (SYSTEM_FOLDER.test(dest) || isFolder(dest))
      return { why: `files matched by a pattern go into ${dest}, which holds other files too` };
    else if (made)
      return { why: `files matched by a pattern go into ${dest}, a folder the stage does not make` };
    else placed = [dest];
  } else if (!intoFolder) placed = [dest];
  else placed = sources.map((s) => resolvePath(dest, basename(s)));
  if (placed.some((p) => SYSTEM_FOLDER.test(p))) return { why: `it would replace the folder ${placed[0]}` };
  if (sources.some((s, i) => !contents(i) && placed.some((p) => isInside(p, s) || isInside(s, p))))
    return { why: "it copies a path into itself" };
  return { placed, moved: name === "mv" ? sources : [] };
}

/**
 * The `cp`/`mv` (and `mkdir`) of a planner that copies whole folders to the
 * runtime stage (Node's app folder; Python's app folder and venv) whose
 * changes reach outside those folders, followed across the stage's RUNs:
 * `followOutside` reads each, `outsidePaths` gives what the runtime stage
 * copies from the build stage besides the folders.
 */
export interface PlacedOutside {
  /** Folders the runtime stage copies whole: what lands in them needs no copy of its own. */
  kept: string[];
  /** Folders the stage surely has (its WORKDIRs). */
  folders: Set<string>;
  /** Paths outside the kept folders the runtime stage copies, outermost only, in order. */
  paths: string[];
  /** What a `mv` took out of a kept folder, and where to (`/app/node_modules` → `/node_modules`). */
  movedOut: Array<{ from: string; to: string; instr: Instr }>;
  /** Folders `mkdir` made outside the kept ones: refused (`why`) unless something is placed in them. */
  made: Array<{ path: string; why: string; instr: Instr }>;
}

export function placedOutside(kept: string[], folders: Iterable<string | null>): PlacedOutside {
  const known = [...folders].filter((f): f is string => f !== null);
  return { kept, folders: new Set(known), paths: [], movedOut: [], made: [] };
}

/**
 * Follows a file command of `instr` run in `cwd` whose change reaches outside
 * the kept folders (`problem` says how): `cp`/`mv` by what they put in place,
 * `mkdir` by the folder it makes. `vars` are the variables the RUN's shell
 * sees (`shellVars`). A refusal reason when it cannot be followed, else null.
 */
export function followOutside(
  pl: PlacedOutside,
  instr: Instr,
  cmd: ShellCommand,
  cwd: string | null,
  vars: ReadonlyMap<string, string | null> | undefined,
  problem: string,
): string | null {
  const name = commandName(cmd);
  const expand = (raw: string) => expandKnown(raw, vars);
  const inKept = (p: string) => pl.kept.some((k) => isInside(p, k));
  const holdsKept = (p: string) => pl.kept.find((k) => isInside(k, p)) ?? null;
  if (name === "mkdir") return madeFolders(pl, instr, cmd, cwd, expand, problem);
  if (name === "chmod" || name === "touch") return onPlaced(pl, cmd, cwd, expand) ? null : problem;
  if (name !== "cp" && name !== "mv") return problem;
  // Folders: the known ones and their parents; a pattern may only go into one the stage makes.
  const isFolder = (d: string) => d === cwd || [...pl.folders, ...pl.kept].some((f) => isInside(f, d));
  const made = (d: string) =>
    inKept(d) || pl.made.some((m) => m.path === d) || pl.paths.some((p) => isInside(d, p));
  const p = placement(cmd, cwd, expand, isFolder, made);
  if ("why" in p) return `${quote(instr)}: \`${name}\` cannot be followed: ${p.why}`;
  for (const [i, source] of p.moved.entries()) {
    // A moved pattern takes from the folder it names (`dist/*` → dist).
    const from = source.replace(/\/[^/]*[*?[].*$/, "");
    const kept = holdsKept(from);
    if (kept)
      return `${quote(instr)} moves ${from}, and the runtime stage copies ${kept} from the build stage`;
    if (inKept(from)) {
      const to = p.placed[p.placed.length === p.moved.length ? i : 0];
      if (!inKept(to) && !SCRATCH_PATHS.test(to)) pl.movedOut.push({ from, to, instr });
    } else {
      // Placed paths it takes away are no longer copied; a path inside one is copied with it.
      const gone = pl.paths.filter((q) => isInside(q, from));
      pl.paths = pl.paths.filter((q) => !gone.includes(q));
      if (gone.length === 0 && !pl.paths.some((q) => isInside(from, q)) && !SCRATCH_PATHS.test(from))
        return `${quote(instr)} moves ${from} away, which the runtime image would still have`;
    }
  }
  for (const path of p.placed) {
    if (inKept(path) || SCRATCH_PATHS.test(path)) continue;
    const kept = holdsKept(path);
    if (kept)
      return `${quote(instr)} puts ${path} in place over ${kept}, which the runtime stage copies whole`;
    if (pl.paths.some((q) => isInside(path, q))) continue;
    pl.paths = [...pl.paths.filter((q) => !isInside(q, path)), path];
  }
  return null;
}

/**
 * True when a `chmod`/`touch` changes only paths inside the kept folders,
 * scratch folders, or what cp/mv placed before it (the copy carries the mode).
 */
function onPlaced(
  pl: PlacedOutside,
  cmd: ShellCommand,
  cwd: string | null,
  expand: (raw: string) => string | null,
): boolean {
  if (cwd === null) return false;
  const words = cmd.args.map((w) => staticWord(w, expand));
  if (words.some((w) => w === null)) return false;
  const operands = (words as string[]).filter((w) => !w.startsWith("-") || /^-[rwxXst]+$/.test(w));
  const paths = (commandName(cmd) === "chmod" ? operands.slice(1) : operands).map((w) => resolvePath(cwd, w));
  return paths.every(
    (p) =>
      pl.kept.some((k) => isInside(p, k)) || SCRATCH_PATHS.test(p) || pl.paths.some((q) => isInside(p, q)),
  );
}

/** `mkdir` outside the kept folders: its folders are recorded (see `PlacedOutside.made`). */
function madeFolders(
  pl: PlacedOutside,
  instr: Instr,
  cmd: ShellCommand,
  cwd: string | null,
  expand: (raw: string) => string | null,
  problem: string,
): string | null {
  if (cwd === null) return problem;
  for (let i = 0; i < cmd.args.length; i++) {
    const v = staticWord(cmd.args[i], expand);
    if (v === null) return problem;
    if (v === "--mode" || /^-[^-]*m$/.test(v)) i++;
    if (v.startsWith("-")) continue;
    const path = resolvePath(cwd, v);
    if (pl.kept.some((k) => isInside(k, path)) || pl.kept.some((k) => isInside(path, k))) continue;
    if (SCRATCH_PATHS.test(path)) continue;
    pl.made.push({ path, why: problem, instr });
    pl.folders.add(path);
  }
  return null;
}

/**
 * The paths the runtime stage copies besides the kept folders; refuses a
 * folder `mkdir` made outside them that nothing was put in (the app may write
 * there: it is not followed on its own).
 */
export function outsidePaths(pl: PlacedOutside): string[] {
  for (const m of pl.made)
    if (!pl.paths.some((p) => isInside(p, m.path) || isInside(m.path, p))) refuse(m.why, m.instr);
  return pl.paths;
}
