import fs from "node:fs";
import path from "node:path";
import { isInside } from "../engine/paths.ts";

/**
 * How dfopt writes a file (README "What dfopt writes"):
 * - a symbolic link is written through (its target rewritten, the link kept)
 *   only when the target lies inside `linksWithin`; otherwise it is refused;
 * - a file with several hard links, or one whose owner and group the process
 *   cannot give a new file, is rewritten in place (the inode, and so every
 *   link, owner, group and mode, is kept; on failure its old bytes are put back);
 * - any other file is replaced atomically: a temporary file in the same
 *   folder, given the old file's owner, group and mode, then renamed over it.
 * Everything that can be checked is checked by `planWrite`, before anything is
 * written, so that a Dockerfile and its side files are refused together.
 */
export interface WritePlan {
  /** The path as the user sees it, for messages. */
  shown: string;
  /** The file that is written: the path itself, or a link's target. */
  target: string;
  /** The target as it is now; null when it is created. */
  existing: fs.Stats | null;
  inPlace: boolean;
}

/** A write refused by the rules above, or that failed; the message names the file. */
export class WriteError extends Error {
  constructor(
    message: string,
    readonly kind: "write-refused" | "write-failed",
  ) {
    super(message);
  }
}

const refuse = (message: string) => new WriteError(message, "write-refused");
const failed = (shown: string, e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  return new WriteError(`cannot write ${shown}: ${err.code ?? err.message}`, "write-failed");
};

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (e) {
    // ENOTDIR: a file stands where a folder of the path should be, so nothing is there either
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw e;
  }
}

/**
 * Checks that `file` may be written and how. `linksWithin`: the folder a
 * symbolic link's target (and the file's real folder) must lie in, named
 * `linksWithin.shown` in messages; null: a link is never written through.
 */
export function planWrite(
  file: string,
  shown: string,
  linksWithin: { dir: string; shown: string } | null,
): WritePlan {
  let target = file;
  let existing: fs.Stats | null;
  try {
    const link = lstatOrNull(file);
    if (link?.isSymbolicLink() && !linksWithin)
      throw refuse(`${shown} is a symbolic link; dfopt does not write through it`);
    if (linksWithin) {
      // The real place of the file: its link resolved, and any linked folder above it.
      let real: string;
      try {
        real = link?.isSymbolicLink()
          ? fs.realpathSync(file)
          : path.join(fs.realpathSync(path.dirname(file)), path.basename(file));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !link?.isSymbolicLink()) throw e;
        throw refuse(`${shown} is a symbolic link to a file that does not exist`);
      }
      if (!isInside(real, fs.realpathSync(linksWithin.dir))) {
        const where = link?.isSymbolicLink() ? "is a symbolic link to a file" : "lies in a linked folder";
        throw refuse(`${shown} ${where} outside ${linksWithin.shown}`);
      }
      target = real;
    }
    existing = link?.isSymbolicLink() ? fs.statSync(target) : link;
  } catch (e) {
    if (e instanceof WriteError) throw e;
    throw failed(shown, e);
  }
  if (existing && !existing.isFile()) throw refuse(`${shown} is not a regular file`);
  const inPlace = !!existing && (existing.nlink > 1 || !canGiveOwner(existing));
  try {
    fs.accessSync(inPlace ? target : path.dirname(target), fs.constants.W_OK);
  } catch (e) {
    throw failed(shown, e);
  }
  return { shown, target, existing, inPlace };
}

/** Whether a file this process creates can be given `st`'s owner and group. */
function canGiveOwner(st: fs.Stats): boolean {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return true; // no owners (Windows), or root
  return st.uid === uid && (st.gid === process.getgid!() || process.getgroups!().includes(st.gid));
}

/** Writes `content` as planned; throws a WriteError naming the file. */
export function writePlanned(plan: WritePlan, content: string): void {
  if (plan.inPlace) writeInPlace(plan, content);
  else replaceAtomically(plan, content);
}

function replaceAtomically({ shown, target, existing }: WritePlan, content: string): void {
  const dir = path.dirname(target);
  const tmp = path.join(
    dir,
    `.${path.basename(target)}.dfopt-${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`,
  );
  let fd: number | null = null;
  try {
    // O_EXCL: never opens a file (or a link) someone put at that name.
    fd = fs.openSync(tmp, "wx", existing ? 0o600 : 0o666);
    fs.writeSync(fd, content);
    if (existing) {
      if (process.getuid) fs.fchownSync(fd, existing.uid, existing.gid);
      fs.fchmodSync(fd, existing.mode & 0o7777); // after chown, which clears set-id bits
    }
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw failed(shown, e);
  }
}

function writeInPlace({ shown, target }: WritePlan, content: string): void {
  let fd: number;
  try {
    fd = fs.openSync(target, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw failed(shown, e);
  }
  try {
    const old = fs.readFileSync(fd);
    const bytes = Buffer.from(content, "utf8");
    try {
      fs.writeSync(fd, bytes, 0, bytes.length, 0);
      fs.ftruncateSync(fd, bytes.length);
    } catch (e) {
      // Put the old bytes back rather than leave half a file.
      try {
        fs.writeSync(fd, old, 0, old.length, 0);
        fs.ftruncateSync(fd, old.length);
      } catch {
        // nothing more to do: the error below names the file
      }
      throw failed(shown, e);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks a `--report` target before any file is processed: its folder exists
 * and can be written, the report is not a symbolic link, and no folder
 * between a scanned folder (`scanned`, absolute) and the report is one — a
 * repository could plant a link there. Throws a WriteError naming the path.
 */
export function planReport(file: string, cwd: string, scanned: string[]): WritePlan {
  const show = (p: string) => path.relative(cwd, p) || ".";
  const dir = path.dirname(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw refuse(`cannot write ${show(file)}: folder ${show(dir)} does not exist`);
  }
  if (!st.isDirectory()) throw refuse(`cannot write ${show(file)}: ${show(dir)} is not a folder`);
  const linked = linkedFolderUnder(dir, scanned);
  if (linked)
    throw refuse(
      `cannot write ${show(file)}: ${show(linked)} is a symbolic link inside a scanned folder; dfopt does not write through it`,
    );
  return planWrite(file, show(file), null);
}

/**
 * The first folder, from `dir` up to (not including) a scanned folder that
 * holds it, that is a symbolic link; null when there is none (folders that do
 * not exist yet are skipped). A scanned repository could have planted it.
 */
export function linkedFolderUnder(dir: string, scanned: string[]): string | null {
  for (const root of scanned) {
    for (let d = dir; d !== root && isInside(d, root); d = path.dirname(d)) {
      if (lstatOrNull(d)?.isSymbolicLink()) return d;
    }
  }
  return null;
}
