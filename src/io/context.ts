import fs from "node:fs";
import path from "node:path";
import type { BuildContext } from "../engine/types.ts";

const MAX_CONTEXT_FILE = 2 * 1024 * 1024;

/** A build context backed by a folder on disk; reads are cached and never throw. */
export function folderContext(root: string): BuildContext {
  const abs = path.resolve(root);
  const files = new Map<string, string | undefined>();
  const dirs = new Map<string, string[]>();
  const resolve = (rel: string) => {
    const p = path.resolve(abs, rel.replace(/^\/+/, ""));
    return p === abs || p.startsWith(abs + path.sep) ? p : null;
  };
  const stat = (rel: string) => {
    const p = resolve(rel);
    if (!p) return null;
    try {
      return fs.statSync(p);
    } catch {
      return null;
    }
  };
  return {
    root: abs,
    readFile(rel) {
      if (files.has(rel)) return files.get(rel);
      let content: string | undefined;
      const p = resolve(rel);
      try {
        if (p && fs.statSync(p).isFile() && fs.statSync(p).size <= MAX_CONTEXT_FILE) {
          content = fs.readFileSync(p, "utf8");
        }
      } catch {
        content = undefined;
      }
      files.set(rel, content);
      return content;
    },
    exists: (rel) => stat(rel) !== null,
    isDirectory: (rel) => stat(rel)?.isDirectory() ?? false,
    list(rel) {
      const key = rel || ".";
      let entries = dirs.get(key);
      if (!entries) {
        const p = resolve(key);
        try {
          entries = p ? fs.readdirSync(p).sort() : [];
        } catch {
          entries = [];
        }
        dirs.set(key, entries);
      }
      return entries;
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
