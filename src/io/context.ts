import fs from "node:fs";
import path from "node:path";
import { noteRead } from "../engine/context-reads.ts";
import type { BuildContext } from "../engine/types.ts";
import { sha1 } from "./hash.ts";
import { readRegularStart, readTextOrUndefined, realPathWithin } from "./safe-read.ts";

const MAX_CONTEXT_FILE = 2 * 1024 * 1024;
/**
 * File contents a context keeps for reuse. A folder with thousands of files
 * (an `ADD * /app/` beside them makes add-to-copy look at each) must not
 * keep them all: reads past this budget are not kept.
 */
const MAX_CACHED_BYTES = 8 * 1024 * 1024;
/** The same for file starts (readStart): 2,048 of 512 bytes. */
const MAX_CACHED_START_BYTES = 1024 * 1024;

/**
 * What the context needs from a stat; a full fs.Stats (with four Dates) is ~500 bytes.
 * `real` is the entry's path with every link resolved (inside the context).
 */
interface EntryStat {
  real: string;
  isFile: boolean;
  isDirectory: boolean;
  size: number;
  /** Whether the path to it passes through a link to a folder (itself included). */
  viaFolderLink: boolean;
}

/**
 * A link out of the context (or a second folder link along a path, see entryIn): it is there, but
 * is neither a file nor a folder dfopt looks into.
 */
const OUTSIDE: EntryStat = { real: "", isFile: false, isDirectory: false, size: 0, viaFolderLink: false };

/** A cache of texts that keeps entries while their total length is within `budget`. */
function boundedCache(budget: number) {
  const entries = new Map<string, string | undefined>();
  let used = 0;
  return {
    has: (key: string) => entries.has(key),
    get: (key: string) => entries.get(key),
    keep(key: string, value: string | undefined): string | undefined {
      const size = value?.length ?? 0;
      if (used + size <= budget) {
        entries.set(key, value);
        used += size;
      }
      return value;
    },
  };
}

/** A folder context also answers, for the result cache, what each read it noted gave. */
export interface FolderContext extends BuildContext {
  /**
   * A digest of the current answer behind a read key noted while reading
   * (src/engine/context-reads.ts): the same digest means every answer under
   * that key is the same. Keys: `L:dir` a folder listing with entry types,
   * `S:path` an entry's type from its own stat, `F:path` a file's content,
   * `H:bytes:path` its first bytes. Throws on a key it does not know.
   */
  readDigest(key: string): string;
}

/**
 * A build context backed by a folder on disk. Listings, stats and reads (up
 * to a budget) are cached, as a run never changes the context it reads, and
 * nothing throws. Entry types come from the folder listing, so asking about
 * every entry of a large folder costs one readdir, not one stat each.
 */
export function folderContext(root: string): FolderContext {
  const abs = path.resolve(root);
  const dirs = new Map<string, Map<string, fs.Dirent>>();
  const stats = new Map<string, EntryStat | null>();
  const sorted = new Map<string, string[]>();
  const files = boundedCache(MAX_CACHED_BYTES);
  const starts = boundedCache(MAX_CACHED_START_BYTES);
  const norm = (rel: string) => {
    // Most paths asked about are already plain (`package.json`, `src/app`).
    const first = rel.charCodeAt(0);
    if (first !== 46 && first !== 47 && rel.charCodeAt(rel.length - 1) !== 47 && rel !== "") return rel;
    const r = rel.replace(/^(?:\.?\/)+/, "").replace(/\/+$/, "");
    return r === "." ? "" : r;
  };
  let rootReal: string | null = null;
  /** The context's own real path: links inside it are followed only to places under it. */
  const realRoot = () => {
    if (rootReal === null) {
      try {
        rootReal = fs.realpathSync.native(abs);
      } catch {
        rootReal = abs;
      }
    }
    return rootReal;
  };
  /** The key with `.` and `..` segments resolved, or null when it leaves the context. */
  const canonical = (key: string) => {
    if (!/(?:^|\/)\.\.?(?:\/|$)|\/\//.test(key)) return key;
    const p = path.resolve(abs, key);
    if (p !== abs && !p.startsWith(abs + path.sep)) return null;
    return path.relative(abs, p).split(path.sep).join("/");
  };
  const listing = (rel: string) => {
    const key = norm(rel);
    let entries = dirs.get(key);
    if (!entries) {
      entries = new Map();
      const s = stat(key);
      try {
        if (s?.isDirectory)
          for (const d of fs.readdirSync(s.real, { withFileTypes: true })) entries.set(d.name, d);
      } catch {
        // unreadable: no entries
      }
      dirs.set(key, entries);
    }
    return entries;
  };
  /**
   * The entry at `rel`, one component at a time: a component that is a link
   * is resolved, and one resolving out of the context is OUTSIDE (the entry
   * is there but is not read); whatever lies beyond it is not in the context.
   */
  const stat = (rel: string): EntryStat | null => {
    const key = canonical(norm(rel));
    if (key === null) return null;
    if (stats.has(key)) return stats.get(key)!;
    let result: EntryStat | null = null;
    if (key === "")
      result = { real: realRoot(), isFile: false, isDirectory: true, size: 0, viaFolderLink: false };
    else {
      const slash = key.lastIndexOf("/");
      const parent = stat(slash === -1 ? "" : key.slice(0, slash));
      if (parent?.isDirectory) result = entryIn(parent, key.slice(slash + 1));
    }
    stats.set(key, result);
    return result;
  };
  /**
   * A link to a folder is followed once along a path: a folder link inside a folder reached
   * through one is OUTSIDE, as a link out is. Otherwise a walk (list, then isDirectory) through
   * a link to its own folder (`x -> .`), two folders linking each other, or a ladder of links
   * (`d0/{x,y} -> d1` …: 2^n paths) would not end. Docker's COPY follows a named source's links
   * but copies the links inside a folder as links.
   */
  const entryIn = (parent: EntryStat, name: string): EntryStat | null => {
    const p = path.join(parent.real, name);
    try {
      let s = fs.lstatSync(p);
      let real = p;
      let viaFolderLink = parent.viaFolderLink;
      if (s.isSymbolicLink()) {
        const target = realPathWithin(realRoot(), p);
        if ("failure" in target) return target.failure.refusal === "outside" ? OUTSIDE : null;
        real = target.real;
        s = fs.statSync(real);
        if (s.isDirectory()) {
          if (parent.viaFolderLink) return OUTSIDE;
          viaFolderLink = true;
        }
      }
      return { real, isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size, viaFolderLink };
    } catch {
      return null; // absent, or a dangling link
    }
  };
  /** The entry's type from its parent's listing when that is cached and not a link. */
  const direntOf = (rel: string) => {
    const key = norm(rel);
    const slash = key.lastIndexOf("/");
    const parent = slash === -1 ? "" : key.slice(0, slash);
    if (!dirs.has(parent)) return undefined;
    const d = dirs.get(parent)!.get(key.slice(slash + 1));
    return d && !d.isSymbolicLink() ? d : d === undefined ? null : undefined;
  };
  /** Notes where an entry's existence and type were read from: its parent's listing, or its own stat. */
  const noteEntry = (key: string, fromListing: boolean) => {
    if (!fromListing) noteRead(`S:${key}`);
    else {
      const slash = key.lastIndexOf("/");
      noteRead(`L:${slash === -1 ? "" : key.slice(0, slash)}`);
    }
  };
  const digests = new Map<string, string>();
  const context: FolderContext = {
    root: abs,
    readFile(rel) {
      const key = norm(rel);
      noteRead(`F:${key}`);
      if (files.has(key)) return files.get(key);
      const s = stat(key);
      const content =
        s?.isFile && s.size <= MAX_CONTEXT_FILE
          ? readTextOrUndefined(s.real, { within: realRoot(), maxBytes: MAX_CONTEXT_FILE })
          : undefined;
      return files.keep(key, content);
    },
    readStart(rel, bytes) {
      const key = norm(rel);
      noteRead(`H:${bytes}:${key}`);
      const cacheKey = `${bytes}\0${key}`;
      if (starts.has(cacheKey)) return starts.get(cacheKey);
      const s = stat(key);
      const read = s?.isFile ? readRegularStart(s.real, { within: realRoot(), maxBytes: bytes }) : null;
      const start = read && "bytes" in read ? read.bytes.toString("latin1") : undefined;
      return starts.keep(cacheKey, start);
    },
    exists(rel) {
      const key = norm(rel);
      if (key === "") return true;
      const d = direntOf(key);
      noteEntry(key, d !== undefined);
      return d === undefined ? stat(key) !== null : d !== null;
    },
    isDirectory(rel) {
      const key = norm(rel);
      if (key === "") return true;
      const d = direntOf(key);
      noteEntry(key, d !== undefined);
      return d === undefined ? (stat(key)?.isDirectory ?? false) : (d?.isDirectory() ?? false);
    },
    list(rel) {
      const key = norm(rel);
      noteRead(`L:${key}`);
      let names = sorted.get(key);
      if (!names) {
        names = [...listing(key).keys()].sort();
        sorted.set(key, names);
      }
      return names;
    },
    readDigest(readKey) {
      let digest = digests.get(readKey);
      if (digest === undefined) {
        digest = digestOf(readKey);
        digests.set(readKey, digest);
      }
      return digest;
    },
  };
  const typeOf = (d: fs.Dirent) =>
    d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : d.isFile() ? "f" : "o";
  const digestOf = (readKey: string): string => {
    const colon = readKey.indexOf(":");
    const kind = readKey.slice(0, colon);
    const rest = readKey.slice(colon + 1);
    switch (kind) {
      case "L": {
        const entries = [...listing(rest)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return sha1(entries.map(([name, d]) => `${typeOf(d)}${name}`).join("\0"), "base64");
      }
      case "S": {
        const s = stat(rest);
        return s === null ? "-" : s.isDirectory ? "d" : s.isFile ? "f" : "o";
      }
      case "F": {
        const content = context.readFile(rest);
        return content === undefined ? "-" : sha1(content, "base64");
      }
      case "H": {
        const at = rest.indexOf(":");
        const start = context.readStart(rest.slice(at + 1), Number(rest.slice(0, at)));
        return start === undefined ? "-" : sha1(start, "base64");
      }
      default:
        throw new Error(`unknown context read key: ${readKey}`);
    }
  };
  return context;
}

/** An in-memory build context: `{ "package.json": "...", "src/app.ts": "" }`. */
export function memoryContext(entries: Record<string, string>, root = "<memory>"): BuildContext {
  const norm = (p: string) => p.replace(/^\.?\/+/, "").replace(/\/+$/, "");
  const map = new Map(Object.entries(entries).map(([k, v]) => [norm(k), v]));
  const isDir = (rel: string) => {
    const r = norm(rel);
    if (r === "" || r === ".") return true;
    for (const k of map.keys()) if (k.startsWith(r + "/")) return true;
    return false;
  };
  return {
    root,
    readFile: (rel) => map.get(norm(rel)),
    readStart: (rel, bytes) => map.get(norm(rel))?.slice(0, bytes),
    exists: (rel) => map.has(norm(rel)) || isDir(rel),
    isDirectory: isDir,
    list(rel) {
      const r = norm(rel);
      const prefix = r === "" || r === "." ? "" : r + "/";
      const names = new Set<string>();
      for (const k of map.keys()) {
        if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split("/")[0]);
      }
      return [...names].sort();
    },
  };
}

/** A context with nothing in it, for Dockerfiles processed without their folder. */
export const emptyContext: BuildContext = memoryContext({}, "<none>");
