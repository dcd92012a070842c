/**
 * The entry of the bundled CLI (dist/cli.cjs, run by bin/dfopt.cjs). It runs
 * the CommonJS bundle dist/dfopt.cjs through V8's code cache, the way Node
 * 22's `module.enableCompileCache()` would: a one-file run then skips most of
 * the parsing and compiling of ~1 MB of JavaScript. The cache lives in the
 * system's temporary folder (or $DFOPT_COMPILE_CACHE); V8 checks it against
 * the source and it is rewritten when stale. DFOPT_COMPILE_CACHE=off turns it off.
 *
 * Built as CommonJS, like bin/dfopt.cjs: an ES module entry would start
 * Node's ESM loader, ~15 ms of a one-file run.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";

/** The bundle's sha1, written in by scripts/build.mjs (hashing 1 MB at each start costs ~10 ms). */
declare const __DFOPT_BUNDLE_SHA1__: string;

const bundle = path.join(__dirname, "dfopt.cjs");
const source = fs.readFileSync(bundle, "utf8");
const cacheFile = compileCacheFile();
const cached = cacheFile ? readOwnCache(cacheFile) : undefined;
// The CommonJS wrapper, as Module.wrap writes it.
const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
const script = new vm.Script(wrapped, { filename: bundle, cachedData: cached });
if (cacheFile && (!cached || script.cachedDataRejected)) {
  // Written at exit, so that it holds the functions this run compiled too.
  process.once("exit", () => saveQuietly(cacheFile, () => script.createCachedData()));
}
const cjsModule = { exports: {} };
const run = script.runInThisContext() as (...args: unknown[]) => void;
run.call(
  cjsModule.exports,
  cjsModule.exports,
  createRequire(bundle),
  cjsModule,
  bundle,
  path.dirname(bundle),
);

function compileCacheFile(): string | null {
  const setting = process.env.DFOPT_COMPILE_CACHE;
  if (setting === "off" || setting === "0") return null;
  const dir = setting || path.join(os.tmpdir(), `dfopt-compile-cache-${process.getuid?.() ?? "user"}`);
  // V8 checks only the length of the source against a cache, so the key must
  // change with the content: the build's hash, and size and mtime for a bundle
  // edited after the build (npm gives every installed file the same mtime).
  const stat = fs.statSync(bundle);
  const key = [__DFOPT_BUNDLE_SHA1__.slice(0, 16), process.version, process.arch, stat.size, stat.mtimeMs];
  return path.join(dir, `${key.join("-")}.bin`);
}

/**
 * Whether `stat` (of the folder or the cache file, not followed through a link) is this user's
 * and no one else can write to it. A code cache is code: V8 checks only the source's length
 * against it, so a cache compiled from other code of the same length runs that code. The default
 * folder lies in the shared temporary folder, where another user can create it first (or a link
 * by its name): such a folder, or a file in it, is neither read nor written.
 */
function ownAndPrivate(stat: fs.Stats, kind: "folder" | "file"): boolean {
  if (kind === "folder" ? !stat.isDirectory() : !stat.isFile()) return false;
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) return false;
  return (stat.mode & 0o022) === 0;
}

/** The cache, when its folder and the file are the user's own; else none. */
function readOwnCache(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    if (!ownAndPrivate(fs.lstatSync(path.dirname(file)), "folder")) return undefined;
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    if (!ownAndPrivate(fs.fstatSync(fd), "file")) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined; // no cache yet
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Best effort: a read-only or full disk only costs the next run its speed-up. */
function saveQuietly(file: string, data: () => Buffer): void {
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownAndPrivate(fs.lstatSync(dir), "folder")) return;
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, data(), { mode: 0o600, flag: "wx" });
    fs.renameSync(temp, file);
    pruneOldCaches(path.dirname(file));
  } catch {
    // leave it
  }
}

/** Each build or Node version writes a new ~0.5 MB file: keep the few used last. */
const CACHES_KEPT = 4;

function pruneOldCaches(dir: string): void {
  const caches = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".bin"))
    .map((name) => ({ file: path.join(dir, name), mtime: fs.statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of caches.slice(CACHES_KEPT)) fs.rmSync(old.file, { force: true });
}
