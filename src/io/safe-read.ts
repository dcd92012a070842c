/**
 * The one way dfopt reads a file of a repository it does not control (the
 * Dockerfile, build-context files, config files, .gitignore files, cache
 * entries): regular files only, never more than a size cap, never blocking,
 * and, given a boundary folder, never through a symbolic link that leads out
 * of it. A failure says why in words that never quote the file's content.
 *
 * The file's type and size are checked before it is opened (a FIFO or device
 * is never opened) and again on the open descriptor (fstat), which is opened
 * with O_NONBLOCK and, inside a boundary, O_NOFOLLOW: a file swapped for a
 * FIFO or a link between the check and the open is caught, not waited on.
 * On Linux the opened descriptor's own path (/proc/self/fd) is checked
 * against the boundary too, so a folder swapped for a link is caught as well.
 */
import fs from "node:fs";
import { isInside } from "../engine/paths.ts";

/** Why a file was not read. */
export type ReadRefusal =
  "missing" | "directory" | "not-regular" | "outside" | "symlink" | "too-large" | "unreadable";

export interface ReadFailure {
  refusal: ReadRefusal;
  /** What is wrong, without the file's content: "not a regular file (a FIFO, device or socket)". */
  message: string;
  /** The system error code, when one caused the failure. */
  code?: string;
}

export type SafeRead = { bytes: Buffer } | { failure: ReadFailure };

export interface SafeReadOptions {
  /** Read at most this many bytes; a larger file is refused (`too-large`). */
  maxBytes: number;
  /**
   * A folder (already resolved with realpath) the file must really be in:
   * links inside it are followed, a link out of it is `outside`.
   */
  within?: string;
  /** Refuse a symbolic link as the last component (`symlink`), as git does for .gitignore. */
  noFollow?: boolean;
}

const { O_RDONLY, O_NONBLOCK = 0, O_NOFOLLOW = 0 } = fs.constants;
const PROC_FD = process.platform === "linux" ? "/proc/self/fd/" : null;

const failure = (refusal: ReadRefusal, message: string, code?: string): { failure: ReadFailure } => ({
  failure: code ? { refusal, message, code } : { refusal, message },
});

const MESSAGES = {
  directory: "is a directory, not a file",
  notRegular: "not a regular file (a FIFO, device or socket); dfopt does not read it",
  symlink: "is a symbolic link; dfopt does not follow it",
} as const;

function tooLarge(maxBytes: number) {
  return failure("too-large", `larger than ${maxBytes} bytes; dfopt does not read it`);
}

function fromError(e: unknown): { failure: ReadFailure } {
  const code = (e as NodeJS.ErrnoException).code ?? "EIO";
  if (code === "ENOENT" || code === "ENOTDIR") return failure("missing", "no such file", code);
  if (code === "ELOOP") return failure("symlink", MESSAGES.symlink, code);
  if (code === "EISDIR") return failure("directory", MESSAGES.directory, code);
  return failure("unreadable", `cannot read file (${code})`, code);
}

/** The real path of `p` when it exists and lies inside `root` (a real path); why not otherwise. */
export function realPathWithin(root: string, p: string): { real: string } | { failure: ReadFailure } {
  let real: string;
  try {
    real = fs.realpathSync.native(p);
  } catch (e) {
    return fromError(e);
  }
  return isInside(real, root)
    ? { real }
    : failure("outside", `is a symbolic link out of ${root}; dfopt does not follow it`);
}

/**
 * Reads up to `maxBytes` bytes of a regular file (the whole file when
 * `whole`, refusing a larger one), without blocking and without following
 * a link out of `within`.
 */
function readBytes(file: string, opts: SafeReadOptions, whole: boolean): SafeRead {
  let target = file;
  if (opts.within !== undefined) {
    // The last component may be a link that stays inside: read its target, never a link.
    const resolved = realPathWithin(opts.within, file);
    if ("failure" in resolved) return resolved;
    target = resolved.real;
  }
  const noFollow = opts.noFollow === true || opts.within !== undefined;
  let st: fs.Stats;
  try {
    st = noFollow ? fs.lstatSync(target) : fs.statSync(target);
  } catch (e) {
    return fromError(e);
  }
  const refused = refuseType(st, opts.maxBytes, whole);
  if (refused) return refused;
  let fd: number;
  try {
    fd = fs.openSync(target, O_RDONLY | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0));
  } catch (e) {
    return fromError(e);
  }
  try {
    const opened = fs.fstatSync(fd);
    const changed = refuseType(opened, opts.maxBytes, whole);
    if (changed) return changed;
    if (opts.within !== undefined && PROC_FD !== null) {
      let where: string | null = null;
      try {
        where = fs.readlinkSync(PROC_FD + fd);
      } catch {
        where = null; // no /proc (a sandbox): the realpath check above stands
      }
      if (where !== null && !isInside(where, opts.within))
        return failure("outside", `is outside ${opts.within}; dfopt does not read it`);
    }
    const limit = whole ? Math.min(opened.size, opts.maxBytes) + 1 : opts.maxBytes;
    const buffer = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const n = fs.readSync(fd, buffer, length, limit - length, length);
      if (n === 0) break;
      length += n;
    }
    // A file that grew past the cap while being read is refused like a large one.
    if (whole && length > opts.maxBytes) return tooLarge(opts.maxBytes);
    return { bytes: buffer.subarray(0, length) };
  } catch (e) {
    return fromError(e);
  } finally {
    fs.closeSync(fd);
  }
}

function refuseType(st: fs.Stats, maxBytes: number, whole: boolean): { failure: ReadFailure } | null {
  if (st.isDirectory()) return failure("directory", MESSAGES.directory);
  if (st.isSymbolicLink()) return failure("symlink", MESSAGES.symlink);
  if (!st.isFile()) return failure("not-regular", MESSAGES.notRegular);
  if (whole && st.size > maxBytes) return tooLarge(maxBytes);
  return null;
}

/** A regular file's whole content, refused when larger than `maxBytes`. */
export function readRegularFile(file: string, opts: SafeReadOptions): SafeRead {
  return readBytes(file, opts, true);
}

/** The first `opts.maxBytes` bytes of a regular file (fewer when it is shorter). */
export function readRegularStart(file: string, opts: SafeReadOptions): SafeRead {
  return readBytes(file, opts, false);
}

/** A regular file's content as UTF-8 text, or undefined for any failure. */
export function readTextOrUndefined(file: string, opts: SafeReadOptions): string | undefined {
  const read = readRegularFile(file, opts);
  return "bytes" in read ? read.bytes.toString("utf8") : undefined;
}

/**
 * A message for a JSON.parse error that never quotes the text (V8's own
 * messages show its first characters): the line and column when V8 gives a
 * position.
 */
export function jsonErrorMessage(error: unknown, text: string): string {
  const at = /at position (\d+)/.exec((error as Error).message ?? "");
  if (!at) return "invalid JSON";
  const offset = Math.min(Number(at[1]), text.length);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `invalid JSON at line ${line}, column ${column}`;
}
