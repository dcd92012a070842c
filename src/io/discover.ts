import fs from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "commander";
import ignore, { type Ignore } from "ignore";
import { isDockerfileName, isNeverDockerfile } from "../engine/dockerfile-names.ts";
import { repositoryRoot } from "./repository.ts";
import { readTextOrUndefined } from "./safe-read.ts";
import { globToRegExp } from "../engine/glob.ts";

export { isDockerfileName };

export interface DiscoverOptions {
  /** Gitignore-style patterns, relative to the cwd or to the input root. */
  exclude: string[];
  followSymlinks: boolean;
}

export interface DiscoverProblem {
  path: string;
  message: string;
}

/** Folders never walked into. */
const SKIP_DIRS = new Set([".git", "node_modules", "vendor"]);
const GLOB_CHARS = /[*?[\]{}]/;

/** One `.gitignore`: its rules apply to paths relative to `dir`. */
interface IgnoreLevel {
  /** Absolute folder holding the .gitignore. */
  dir: string;
  ig: Ignore;
}

/** A .gitignore larger than this is not read (git's own limit is 100 MiB; real ones are a few KiB). */
const MAX_GITIGNORE_BYTES = 1024 * 1024;

/** A folder's .gitignore: a regular file, never a link (git does not follow one either), FIFO or device. */
function readGitignore(dir: string): IgnoreLevel | null {
  const text = readTextOrUndefined(path.join(dir, ".gitignore"), {
    maxBytes: MAX_GITIGNORE_BYTES,
    noFollow: true,
  });
  return text === undefined ? null : { dir, ig: ignore().add(text) };
}

/** Git's rule: a deeper .gitignore overrides a shallower one; a `!` rule re-includes. */
function gitIgnored(levels: readonly IgnoreLevel[], abs: string, isDir: boolean): boolean {
  let ignored = false;
  for (const level of levels) {
    const rel = path.relative(level.dir, abs);
    if (!rel || rel.startsWith("..")) continue;
    const r = level.ig.test(toPosix(rel) + (isDir ? "/" : ""));
    if (r.ignored) ignored = true;
    else if (r.unignored) ignored = false;
  }
  return ignored;
}

function toPosix(p: string): string {
  return path.sep === "/" ? p : p.split(path.sep).join("/");
}

/** `.gitignore` files above an input folder, up to the repository root (the folder with `.git`). */
function ancestorIgnores(absDir: string): IgnoreLevel[] {
  const repoRoot = repositoryRoot(absDir);
  // not inside a repository: only the input's own .gitignore files count
  if (repoRoot === null || repoRoot === absDir) return [];
  const chain: string[] = [];
  for (let dir = path.dirname(absDir); ; dir = path.dirname(dir)) {
    chain.push(dir);
    if (dir === repoRoot) break;
  }
  return chain
    .reverse()
    .map(readGitignore)
    .filter((l): l is IgnoreLevel => l !== null);
}

interface Walker {
  files: Map<string, string>; // shown path → real path (for dedupe)
  visitedDirs: Set<string>;
  opts: DiscoverOptions;
  excluder: Ignore | null;
  cwd: string;
}

function excluded(w: Walker, abs: string, rootAbs: string, isDir: boolean): boolean {
  if (!w.excluder) return false;
  const suffix = isDir ? "/" : "";
  const relRoot = path.relative(rootAbs, abs);
  if (relRoot && !relRoot.startsWith("..") && w.excluder.ignores(toPosix(relRoot) + suffix)) return true;
  const relCwd = path.relative(w.cwd, abs);
  return (
    !!relCwd &&
    !relCwd.startsWith("..") &&
    !path.isAbsolute(relCwd) &&
    w.excluder.ignores(toPosix(relCwd) + suffix)
  );
}

function addFile(w: Walker, shown: string, abs: string): void {
  let real = abs;
  if (w.opts.followSymlinks) {
    try {
      real = fs.realpathSync(abs);
    } catch {
      real = abs;
    }
  }
  if (!w.files.has(shown)) w.files.set(shown, real);
}

/**
 * Walks `dirShown` (as the user typed it) once. `match` decides, for a path
 * relative to the walk root, whether a file is taken whatever its name
 * (glob inputs); otherwise Dockerfile names are taken.
 */
function walk(
  w: Walker,
  dirShown: string,
  levels: IgnoreLevel[],
  match: ((rel: string) => boolean) | null,
  onDir: ((rel: string, abs: string) => boolean) | null,
  maxDepth = Infinity,
): void {
  const rootAbs = path.resolve(dirShown);
  let rootReal: string;
  try {
    rootReal = fs.realpathSync(rootAbs);
  } catch {
    return;
  }
  if (w.visitedDirs.has(rootReal)) return;
  w.visitedDirs.add(rootReal);
  type Frame = { shown: string; abs: string; rel: string; levels: IgnoreLevel[] };
  const stack: Frame[] = [{ shown: dirShown, abs: rootAbs, rel: "", levels }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(frame.abs, { withFileTypes: true });
    } catch {
      continue;
    }
    let here = frame.levels;
    if (entries.some((e) => e.name === ".gitignore" && !e.isDirectory())) {
      const level = readGitignore(frame.abs);
      if (level) here = [...frame.levels, level];
    }
    for (const e of entries) {
      const name = e.name;
      const abs = path.join(frame.abs, name);
      const rel = frame.rel ? `${frame.rel}/${name}` : name;
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        if (!w.opts.followSymlinks) continue;
        try {
          isDir = fs.statSync(abs).isDirectory();
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) {
        if (SKIP_DIRS.has(name)) continue;
        if (here.length > 0 && gitIgnored(here, abs, true)) continue;
        if (excluded(w, abs, rootAbs, true)) continue;
        let real = abs;
        if (e.isSymbolicLink() || w.opts.followSymlinks) {
          try {
            real = fs.realpathSync(abs);
          } catch {
            continue;
          }
        }
        if (w.opts.followSymlinks) {
          if (w.visitedDirs.has(real)) continue; // a loop, or a folder already walked
          w.visitedDirs.add(real);
        }
        const shown = path.join(frame.shown, name);
        if (onDir && onDir(rel, abs)) {
          walk(w, shown, here, null, null);
          continue;
        }
        if (rel.split("/").length < maxDepth) stack.push({ shown, abs, rel, levels: here });
      } else {
        // A FIFO, device or socket with a Dockerfile's name is taken too: reading it
        // reports it as an error naming it, rather than leaving it out unsaid.
        const wanted = match ? match(rel) : isDockerfileName(name);
        if (!wanted) continue;
        if (here.length > 0 && gitIgnored(here, abs, false)) continue;
        if (excluded(w, abs, rootAbs, false)) continue;
        addFile(w, path.join(frame.shown, name), abs);
      }
    }
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Finds the Dockerfiles named by `inputs` (files, folders or globs). Folders
 * are walked recursively, honouring `.gitignore` files and skipping `.git`,
 * `node_modules` and `vendor`. A file named explicitly is always taken.
 */
export function discover(
  inputs: string[],
  opts: DiscoverOptions,
): { files: string[]; problems: DiscoverProblem[] } {
  const cwd = process.cwd();
  const w: Walker = {
    files: new Map(),
    visitedDirs: new Set(),
    opts,
    excluder: opts.exclude.length > 0 ? ignore().add(opts.exclude) : null,
    cwd,
  };
  const problems: DiscoverProblem[] = [];
  for (const raw of inputs) {
    const input = raw.length > 1 ? raw.replace(/[\\/]+$/, "") || raw : raw;
    const before = w.files.size;
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(input);
    } catch (e) {
      if (!isMissing(e)) {
        problems.push({ path: raw, message: `cannot read (${(e as NodeJS.ErrnoException).code})` });
        continue;
      }
    }
    if (!st && GLOB_CHARS.test(input)) {
      expandGlob(w, input, problems);
      if (w.files.size === before) problems.push({ path: raw, message: `no Dockerfiles match ${raw}` });
      continue;
    }
    if (!st) {
      problems.push({ path: raw, message: "no such file or directory" });
      continue;
    }
    if (st.isDirectory()) {
      const abs = path.resolve(input);
      const levels = ancestorIgnores(abs);
      // The same folder named twice (or inside another input) is walked once.
      const real = fs.realpathSync(abs);
      if (w.visitedDirs.has(real)) continue;
      walk(w, input, levels, null, null);
      if (w.files.size === before) problems.push({ path: raw, message: `no Dockerfiles found under ${raw}` });
    } else {
      addFile(w, path.normalize(input), path.resolve(input));
    }
  }
  // Sorted, deduplicated by resolved (and, following links, real) path.
  const seenAbs = new Set<string>();
  const seenReal = new Set<string>();
  const files: string[] = [];
  for (const shown of [...w.files.keys()].sort(compare)) {
    const abs = path.resolve(shown);
    const real = w.files.get(shown)!;
    if (seenAbs.has(abs) || seenReal.has(real)) continue;
    seenAbs.add(abs);
    seenReal.add(real);
    files.push(shown);
  }
  return { files, problems };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function expandGlob(w: Walker, input: string, problems: DiscoverProblem[]): void {
  const posix = toPosix(input);
  const parts = posix.split("/");
  const firstGlob = parts.findIndex((p) => GLOB_CHARS.test(p));
  const baseParts = parts.slice(0, firstGlob);
  const base = baseParts.length === 0 ? "." : baseParts.join("/") || "/";
  const pattern = globToRegExp(parts.slice(firstGlob).join("/"));
  let st: fs.Stats;
  try {
    st = fs.statSync(base);
  } catch {
    problems.push({ path: input, message: "no such file or directory" });
    return;
  }
  if (!st.isDirectory()) return;
  const levels = ancestorIgnores(path.resolve(base));
  // A matching folder is walked for Dockerfiles; a matching file is taken whatever its name,
  // except backups, ignore files and templates.
  const rest = parts.slice(firstGlob);
  const depth = rest.some((p) => p.includes("**")) ? Infinity : rest.length;
  walk(
    w,
    base,
    levels,
    (rel) => pattern.test(rel) && !isNeverDockerfile(rel.slice(rel.lastIndexOf("/") + 1)),
    (rel) => pattern.test(rel),
    depth,
  );
}

/** FNV-1a (32-bit) with a murmur3 finaliser, so that `% count` spreads evenly. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The path a shard is chosen by: relative to the cwd, `/`-separated, without `./`. */
export function shardKey(file: string, cwd = process.cwd()): string {
  let p = file;
  if (path.isAbsolute(p)) {
    const rel = path.relative(cwd, p);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) p = rel;
  }
  return path.posix.normalize(toPosix(p)).replace(/^(\.\/)+/, "");
}

/**
 * Part `index` (1-based) of `count`: the files whose path hash falls in it.
 * Deterministic across machines and list orders; the parts are disjoint and
 * together cover every file.
 */
export function shardFiles(files: string[], index: number, count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 1 || index > count) {
    throw new RangeError(`invalid shard ${index}/${count}: need 1 ≤ i ≤ n`);
  }
  if (count === 1) return [...files];
  return files.filter((f) => hash32(shardKey(f)) % count === index - 1);
}

/** Parses `--shard i/n` (1-based). Throws commander's InvalidArgumentError with a message on bad input. */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--shard must look like i/n, e.g. 2/5 (got "${text}")`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new InvalidArgumentError(`--shard ${text}: the number of shards must be at least 1`);
  if (index < 1 || index > count) {
    throw new InvalidArgumentError(`--shard ${text}: the shard number must be between 1 and ${count}`);
  }
  return { index, count };
}
