/**
 * The result cache (`--cache`): a run keeps each file's report, and a later
 * run reuses it when nothing it rests on has changed. A report rests on
 * - the Dockerfile's text;
 * - dfopt itself and the run's settings (`ResultCacheSettings.key`);
 * - the config that applies to the file;
 * - every answer the build context gave while the file was processed: the
 *   reads noted through src/engine/context-reads.ts, each stored with a
 *   digest of its answer and asked again before the report is reused.
 * One small JSON file per Dockerfile (named by a hash of its absolute path),
 * so that workers read and write their own entries and memory stays flat.
 * The cache is best effort: an entry that cannot be read is a miss, and one
 * that cannot be written is skipped.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtin } from "../engine/lazy.ts";
import type { FolderContext } from "./context.ts";
import { readTextOrUndefined } from "./safe-read.ts";
import { sha1 } from "./hash.ts";
import type { FileReport, ProcessSettings } from "./process.ts";

export interface ResultCacheSettings {
  /** Folder holding the entries. */
  dir: string;
  /** dfopt's fingerprint and every setting a report depends on (`resultCacheKey`). */
  key: string;
}

/** The default --cache-location, relative to the folder dfopt runs in (where tools keep caches). */
export const DEFAULT_CACHE_DIR = "node_modules/.cache/dfopt";

/**
 * The key every entry of a run must carry: dfopt's code, the Node version,
 * and each setting a report depends on. Not the mode: a dry run's entries
 * serve --check and --write (which takes only kept "nothing to change").
 */
export function resultCacheKey(settings: Omit<ProcessSettings, "cache" | "mode">): string {
  const {
    only,
    skip,
    contextDir,
    contextShared,
    configPath,
    cliOptions,
    computeDiff,
    cwd,
    allowConfigPlugins,
    safe,
  } = settings;
  // A plugin's code is part of the code that computes reports.
  const plugins = (settings.plugins ?? []).map((file) => [file, fileDigest(file)]);
  return sha1(
    JSON.stringify([
      codeFingerprint(),
      process.version,
      only,
      skip,
      contextDir,
      contextShared === true,
      configPath,
      cliOptions,
      computeDiff,
      cwd,
      safe ?? null,
      ...(plugins.length > 0 || allowConfigPlugins ? [plugins, !!allowConfigPlugins] : []),
    ]),
  );
}

/**
 * A hash of the code that computes reports: the bundles beside the running
 * one, or, run from sources (tsx, vitest), every source file and the lockfile.
 */
function codeFingerprint(): string {
  const here = fileURLToPath(import.meta.url);
  let files: string[];
  if (here.endsWith(".ts")) {
    const root = path.resolve(path.dirname(here), "../..");
    files = ["src", "transforms"]
      .flatMap((dir) =>
        (fs.readdirSync(path.join(root, dir), { recursive: true }) as string[]).map((f) =>
          path.join(root, dir, f),
        ),
      )
      .filter((f) => f.endsWith(".ts"))
      .sort();
    files.push(path.join(root, "package-lock.json"));
  } else {
    files = [here, path.join(path.dirname(here), "worker.js")];
  }
  return sha1(
    files
      .map((f) => {
        try {
          return `${f}\0${fs.readFileSync(f, "utf8")}`;
        } catch {
          return `${f}\0-`;
        }
      })
      .join("\0"),
  );
}

/** An entry holds one report, its diff included (for a Dockerfile of at most 1 MiB). */
const MAX_ENTRY_BYTES = 32 * 1024 * 1024;

/** Bump when the entry layout changes. */
const ENTRY_FORMAT = 1;

interface Entry {
  format: number;
  key: string;
  /** sha1 of the Dockerfile's text. */
  text: string;
  config: string;
  contextRoot: string;
  /** [read key, digest of its answer] for every build-context read the report rests on. */
  reads: [string, string][];
  report: FileReport;
}

/** Where the entry for `file` lives. */
export function entryPath(dir: string, file: string): string {
  const h = sha1(path.resolve(file));
  return path.join(dir, h.slice(0, 2), `${h.slice(2)}.json`);
}

export interface CacheProbe {
  entry: string;
  text: string;
  config: string;
}

export function probeFor(cache: ResultCacheSettings, file: string, text: string, config: string): CacheProbe {
  return { entry: entryPath(cache.dir, file), text: sha1(text), config };
}

/** The stored report when its entry matches and every context read it rests on gives the same answer. */
export function cachedReport(
  cache: ResultCacheSettings,
  probe: CacheProbe,
  context: FolderContext,
): FileReport | null {
  let entry: Entry;
  // The cache folder may sit in the repository being processed: an entry is
  // read as a regular file only (not a FIFO or link planted there), and capped.
  const text = readTextOrUndefined(probe.entry, { maxBytes: MAX_ENTRY_BYTES, noFollow: true });
  if (text === undefined) return null;
  try {
    entry = JSON.parse(text) as Entry;
  } catch {
    return null;
  }
  if (
    entry?.format !== ENTRY_FORMAT ||
    entry.key !== cache.key ||
    entry.text !== probe.text ||
    entry.config !== probe.config ||
    entry.contextRoot !== context.root ||
    !Array.isArray(entry.reads) ||
    typeof entry.report !== "object" ||
    entry.report === null
  )
    return null;
  try {
    for (const [read, digest] of entry.reads) if (context.readDigest(read) !== digest) return null;
  } catch {
    return null;
  }
  return entry.report;
}

/** Entry folders known to exist (at most 256 per cache). */
const madeFolders = new Set<string>();

/** Forgets which entry folders exist: the cache may have been deleted since the last run. */
export function forgetMadeFolders(): void {
  madeFolders.clear();
}

export function storeReport(
  cache: ResultCacheSettings,
  probe: CacheProbe,
  context: FolderContext,
  reads: ReadonlySet<string>,
  report: FileReport,
): void {
  try {
    const entry: Entry = {
      format: ENTRY_FORMAT,
      key: cache.key,
      text: probe.text,
      config: probe.config,
      contextRoot: context.root,
      reads: [...reads].map((r) => [r, context.readDigest(r)]),
      report,
    };
    const folder = path.dirname(probe.entry);
    if (!madeFolders.has(folder)) {
      fs.mkdirSync(folder, { recursive: true });
      madeFolders.add(folder);
    }
    // A reader (another dfopt run on the same cache) never sees half an entry.
    const { threadId } = builtin<typeof import("node:worker_threads")>("node:worker_threads");
    const tmp = `${probe.entry}.${process.pid}-${threadId}.tmp`;
    try {
      // Never through a link planted at the temporary name: remove it, then create anew.
      fs.rmSync(tmp, { force: true });
      fs.writeFileSync(tmp, JSON.stringify(entry), { flag: "wx" });
      fs.renameSync(tmp, probe.entry);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  } catch {
    // best effort: the next run processes the file again
  }
}

function fileDigest(file: string): string {
  try {
    return sha1(fs.readFileSync(file, "utf8"));
  } catch {
    return "-";
  }
}
