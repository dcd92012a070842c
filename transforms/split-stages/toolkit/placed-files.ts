/**
 * Files a build RUN puts in place with `cp`/`mv` (`cp src/Rocket.toml .`,
 * `mv dist/app.conf /etc/app/`): the paths the runtime stage must copy from
 * the build stage, read statically from the command's words.
 */
import { basename, isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { ShellCommand } from "../../../src/engine/shell.ts";

/**
 * Folders every base image already has: a copy into one of them places
 * `folder/<name>`; the runtime stage must never take the folder itself.
 */
const SYSTEM_FOLDER =
  /^\/(?:|bin|sbin|lib|lib64|etc|opt|srv|var|var\/lib|tmp|root|home|usr|usr\/bin|usr\/sbin|usr\/lib|usr\/share|usr\/local|usr\/local\/bin|usr\/local\/sbin|usr\/local\/lib|usr\/local\/share)$/;

/** cp/mv options that take the next word as their value. */
const VALUE_OPTIONS = new Set(["-t", "-S", "--target-directory", "--suffix"]);

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
 * WORKDIRs, the RUN's cwd). A reason instead when it cannot be told.
 */
export function placement(
  cmd: ShellCommand,
  cwd: string | null,
  expand: (raw: string) => string | null,
  isFolder: (path: string) => boolean,
): Placement | { why: string } {
  const name = basename(cmd.name?.value ?? "");
  if (cwd === null) return { why: "the folder it runs in is not known" };
  const operands: string[] = [];
  let target: string | null = null;
  let asFile = false;
  let endOfOptions = false;
  for (let i = 0; i < cmd.args.length; i++) {
    const w = cmd.args[i];
    const value = w.value ?? expand(w.raw.replace(/^"(.*)"$/, "$1"));
    if (value === null) return { why: `\`${w.raw}\` uses a variable whose value is not fixed` };
    if (!endOfOptions && value === "--") endOfOptions = true;
    else if (!endOfOptions && value.startsWith("-") && value !== "-") {
      const [flag, attached] = value.split("=", 2);
      if (flag === "-T" || flag === "--no-target-directory") asFile = true;
      if (flag === "-t" || flag === "--target-directory") {
        const v = attached ?? cmd.args[i + 1]?.value ?? null;
        if (v === null) return { why: "its target folder cannot be read" };
        target = v;
      }
      if (VALUE_OPTIONS.has(flag) && attached === undefined) i++;
    } else operands.push(value);
  }
  if (target === null && operands.length < 2) return { why: `\`${name}\` has no source or no destination` };
  const dest = resolvePath(cwd, target ?? operands[operands.length - 1]);
  const sources = (target === null ? operands.slice(0, -1) : operands).map((s) => resolvePath(cwd, s));
  const intoFolder =
    !asFile &&
    (target !== null ||
      sources.length > 1 ||
      /\/\.?$/.test(target ?? operands[operands.length - 1]) ||
      SYSTEM_FOLDER.test(dest) ||
      isFolder(dest));
  let placed: string[];
  if (!intoFolder) placed = [dest];
  else if (sources.some((s) => /[*?[]/.test(s))) {
    // Which names a glob brings is not known here: take the folder, unless every image has it.
    if (SYSTEM_FOLDER.test(dest) || isFolder(dest))
      return { why: `files matched by a pattern go into ${dest}, which holds other files too` };
    placed = [dest];
  } else placed = sources.map((s) => resolvePath(dest, basename(s)));
  if (placed.some((p) => SYSTEM_FOLDER.test(p))) return { why: `it would replace the folder ${placed[0]}` };
  if (sources.some((s) => !/[*?[]/.test(s) && placed.some((p) => isInside(p, s) || isInside(s, p))))
    return { why: "it copies a path into itself" };
  return { placed, moved: name === "mv" ? sources : [] };
}
