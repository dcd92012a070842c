import fs from "node:fs";
import path from "node:path";
import type { BuildContext } from "../engine/types.ts";

const MAX_CONTEXT_FILE = 2 * 1024 * 1024;

/**
 * A build context backed by a folder on disk. Reads, listings and stats are
 * cached (a run never changes the context it reads) and never throw; entry
 * types come from the folder listing, so asking about every entry of a large
 * folder costs one readdir, not one stat each.
 */
export function folderContext(root: string): BuildContext {
  const abs = path.resolve(root);
  const files = new Map<string, string | undefined>();
  const dirs = new Map<string, Map<string, fs.Dirent>>();
  const stats = new Map<string, fs.Stats | null>();
  const sorted = new Map<string, string[]>();
  const norm = (rel: string) => {
    const r = rel.replace(/^(?:\.?\/)+/, "").replace(/\/+$/, "");
    return r === "." ? "" : r;
  };
  const resolve = (rel: string) => {
    const p = path.resolve(abs, norm(rel));
    return p === abs || p.startsWith(abs + path.sep) ? p : null;
  };
  const listing = (rel: string) => {
    const key = norm(rel);
    let entries = dirs.get(key);
    if (!entries) {
      entries = new Map();
      const p = resolve(key);
      try {
        if (p) for (const d of fs.readdirSync(p, { withFileTypes: true })) entries.set(d.name, d);
      } catch {
        // absent or unreadable: no entries
      }
      dirs.set(key, entries);
    }
    return entries;
  };
  const stat = (rel: string) => {
    const key = norm(rel);
    if (stats.has(key)) return stats.get(key)!;
    let result: fs.Stats | null = null;
    const p = resolve(key);
    try {
      result = p ? fs.statSync(p) : null;
    } catch {
      result = null;
    }
    stats.set(key, result);
    return result;
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
  return {
    root: abs,
    readFile(rel) {
      const key = norm(rel);
      if (files.has(key)) return files.get(key);
      let content: string | undefined;
      const s = stat(key);
      const p = resolve(key);
      try {
        if (p && s?.isFile() && s.size <= MAX_CONTEXT_FILE) content = fs.readFileSync(p, "utf8");
      } catch {
        content = undefined;
      }
      files.set(key, content);
      return content;
    },
    exists(rel) {
      if (norm(rel) === "") return true;
      const d = direntOf(rel);
      return d === undefined ? stat(rel) !== null : d !== null;
    },
    isDirectory(rel) {
      if (norm(rel) === "") return true;
      const d = direntOf(rel);
      return d === undefined ? (stat(rel)?.isDirectory() ?? false) : (d?.isDirectory() ?? false);
    },
    list(rel) {
      const key = norm(rel);
      let names = sorted.get(key);
      if (!names) {
        names = [...listing(key).keys()].sort();
        sorted.set(key, names);
      }
      return names;
    },
  };
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
