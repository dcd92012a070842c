/**
 * Paths inside an image or a build context: always `/`-separated, whatever
 * the host (node:path/posix). Image paths are absolute and never climb above
 * `/`; context paths are relative to the context root and never leave it.
 */
import posix from "node:path/posix";

/** `p` normalised as an absolute path: `/a/./b/../c/` → `/a/c`; a relative `p` is read from `/`. */
export function absolutePath(p: string): string {
  return posix.resolve("/", p);
}

/** `p` resolved against the working directory `cwd` (read from `/` when relative). */
export function resolvePath(cwd: string, p: string): string {
  return posix.resolve("/", cwd, p);
}

/** A COPY/ADD source as a path relative to the context root (`./a/../b/` → `b`, `.` → ``). */
export function contextPath(p: string): string {
  return absolutePath(p).slice(1);
}

/** True when `inner` is `outer` or inside it. */
export function isInside(inner: string, outer: string): boolean {
  const a = absolutePath(inner);
  const b = absolutePath(outer);
  return a === b || b === "/" || a.startsWith(b + "/");
}

/** The last segment: `a/b/` → `b`, `/` → ``. */
export const basename = (p: string): string => posix.basename(p);

/** The folder of an absolute path: `/a/b/` → `/a`, `/a` → `/`. */
export function dirname(p: string): string {
  return posix.dirname(absolutePath(p));
}
