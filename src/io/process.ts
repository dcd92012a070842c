import fs from "node:fs";
import path from "node:path";
import { optimizeFile, type AppliedChange, type FileError, type ReportedRefusal } from "../engine/engine.ts";
import { MAX_FILE_BYTES } from "../engine/engine.ts";
import { NotLoadedYet } from "../engine/lazy.ts";
import type { ResolvedImage, ResolvePin, Transform } from "../engine/types.ts";
import { configFor, forgetConfigs, resolveTransforms, type EffectiveConfig } from "../config.ts";
import { recordReads } from "../engine/context-reads.ts";
import { unifiedDiff } from "../report/diff.ts";
import { cachedReport, forgetMadeFolders, probeFor, storeReport, type ResultCacheSettings } from "./cache.ts";
import { folderContext, type FolderContext } from "./context.ts";
import { forgetVersionBots, versionBotsFor } from "./version-bots.ts";
import { writeFileAtomic } from "./write.ts";

/** Plain, serialisable settings: the same object drives in-process and worker-thread runs. */
export interface ProcessSettings {
  mode: "diff" | "write" | "check";
  /** Transform ids from --only / --skip (validated by the CLI). */
  only: string[] | null;
  skip: string[];
  /** --context: one build context for every file; null = each Dockerfile's folder. */
  contextDir: string | null;
  /** --config: one config file for every file; null = search upward from each Dockerfile. */
  configPath: string | null;
  /** CLI options that override the config file (`--merge-runs`, `--runtime`, `--registry-prefix`). */
  cliOptions: {
    mergeRuns?: "final" | "all";
    runtimeFlavour?: "slim" | "alpine" | "distroless";
    registryPrefix?: string;
    resolve?: ResolvePin;
  };
  /**
   * `--resolve`: the registry's answers each file needs, keyed by the file
   * as listed, looked up before the run (src/io/resolve.ts) so transforms stay pure.
   */
  resolved?: Record<string, Record<string, ResolvedImage>>;
  /** Compute the unified diff text (for diff/sarif output). */
  computeDiff: boolean;
  /** Folder paths in reports are relative to. */
  cwd: string;
  /** --cache: reuse reports of files whose inputs have not changed since they were kept. */
  cache?: ResultCacheSettings | null;
}

/** A dry run with every default (diffs computed), as the CLI runs it without options. */
export function dryRunSettings(cwd: string, overrides: Partial<ProcessSettings> = {}): ProcessSettings {
  return {
    mode: "diff",
    only: null,
    skip: [],
    contextDir: null,
    configPath: null,
    cliOptions: {},
    computeDiff: true,
    cwd,
    cache: null,
    ...overrides,
  };
}

export interface SideFileReport {
  path: string;
  message: string;
  /** New file (true) or changed existing one. */
  created: boolean;
}

export interface FileReport {
  path: string;
  changed: boolean;
  changes: AppliedChange[];
  refusals: ReportedRefusal[];
  error: FileError | null;
  /** Unified diff of the Dockerfile and any side files, when requested and changed. */
  diff: string | null;
  /** With --write: the files written. */
  written: string[];
  sideFiles: SideFileReport[];
  /** Taken from the result cache (--cache), not computed in this run. */
  cached?: boolean;
}

export function relativePath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel.split(path.sep).join("/") : file;
}

// Dockerfiles that share a folder share its (cached) context; a small LRU
// keeps memory flat over thousands of repositories.
const contexts = new Map<string, ReturnType<typeof folderContext>>();
const MAX_CACHED_CONTEXTS = 32;

/**
 * Drops what earlier runs in this process read (contexts, configs, the cache's
 * folders): files may have changed since, and a run must see them as they are.
 */
export function forgetRunCaches(): void {
  contexts.clear();
  forgetConfigs();
  forgetMadeFolders();
  forgetVersionBots();
}

/** The (cached) context of a folder, keyed by its absolute path: the context's root. */
function contextFor(dir: string) {
  const root = path.resolve(dir);
  let context = contexts.get(root);
  if (context) {
    contexts.delete(root);
  } else {
    context = folderContext(root);
    if (contexts.size >= MAX_CACHED_CONTEXTS) contexts.delete(contexts.keys().next().value!);
  }
  contexts.set(root, context);
  return context;
}

function readInput(file: string): { text: string } | { error: FileError } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      error: {
        kind: code === "ENOENT" ? "missing" : "unreadable",
        message: code === "ENOENT" ? "no such file" : `cannot read file (${code})`,
        line: null,
      },
    };
  }
  if (stat.isDirectory())
    return { error: { kind: "unreadable", message: "is a directory, not a file", line: null } };
  // A FIFO or device would block the read forever.
  if (!stat.isFile()) return { error: { kind: "unreadable", message: "not a regular file", line: null } };
  if (stat.size > MAX_FILE_BYTES) {
    return {
      error: {
        kind: "too-large",
        message: `file is larger than ${MAX_FILE_BYTES} bytes (1 MiB)`,
        line: null,
      },
    };
  }
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    return {
      error: {
        kind: "unreadable",
        message: `cannot read file (${(e as NodeJS.ErrnoException).code})`,
        line: null,
      },
    };
  }
  if (buf.includes(0))
    return { error: { kind: "binary", message: "binary file (contains NUL bytes)", line: null } };
  const text = buf.toString("utf8");
  if (text.includes("\uFFFD") && !Buffer.from(text, "utf8").equals(buf)) {
    return { error: { kind: "encoding", message: "file is not valid UTF-8", line: null } };
  }
  return { text };
}

/**
 * Reads, optimises, and (with --write) writes one Dockerfile. Never throws,
 * except NotLoadedYet before anything is written: run it through
 * `withLazyModules` unless `loadParsers()` has run.
 */
export function processFile(file: string, settings: ProcessSettings): FileReport {
  const shown = relativePath(file, settings.cwd);
  const report: FileReport = {
    path: shown,
    changed: false,
    changes: [],
    refusals: [],
    error: null,
    diff: null,
    written: [],
    sideFiles: [],
  };
  try {
    const input = readInput(file);
    if ("error" in input) return { ...report, error: input.error };
    const config = withRunInputs(configFor(file, settings), file, settings);
    if (config.error) return { ...report, error: config.error };
    if (config.excluded) return report;
    const context = contextFor(settings.contextDir ?? path.dirname(file));
    const cache = settings.cache ?? null;
    if (!cache) return optimizeInto(report, file, input.text, config, context, settings);
    // A change still has to be written: --write keeps and reuses only "nothing to change".
    const reusable = (r: FileReport) => settings.mode !== "write" || !r.changed;
    const probe = probeFor(cache, file, input.text, configDigest(config));
    const kept = cachedReport(cache, probe, context);
    if (kept && reusable(kept)) return { ...kept, cached: true };
    const { value, reads } = recordReads(() =>
      optimizeInto(report, file, input.text, config, context, settings),
    );
    if (value.error?.kind !== "internal" && reusable(value)) storeReport(cache, probe, context, reads, value);
    return value;
  } catch (e) {
    if (e instanceof NotLoadedYet) throw e;
    const err = e as Error;
    return {
      ...report,
      changed: false,
      diff: null,
      error: { kind: "internal", message: `internal error: ${err.message}`, line: null },
    };
  }
}

/**
 * The config with what the run found outside the build context for this
 * file: the registry's answers (--resolve) and the repository's
 * version-update bots. Both are options a report depends on.
 */
function withRunInputs(config: EffectiveConfig, file: string, settings: ProcessSettings): EffectiveConfig {
  if (config.error || config.excluded) return config;
  const resolved = settings.resolved?.[file] ?? config.options.resolved;
  const versionBots = versionBotsFor(path.dirname(file));
  if (resolved === config.options.resolved && versionBots === config.options.versionBots) return config;
  return { ...config, options: { ...config.options, resolved, versionBots } };
}

const configDigests = new WeakMap<object, string>();

/** What a report depends on in the config that applies to its file (the CLI's overrides are in the cache key). */
function configDigest(config: EffectiveConfig): string {
  let digest = configDigests.get(config.config);
  if (digest === undefined) {
    digest = JSON.stringify([config.file, config.config]);
    configDigests.set(config.config, digest);
  }
  const { resolved, versionBots } = config.options;
  const bots = versionBots.dependabotDocker || versionBots.renovate;
  return Object.keys(resolved).length === 0 && !bots
    ? digest
    : digest + JSON.stringify([resolved, versionBots]);
}

/** Optimises the text and fills in `report`; with --write, writes the results. */
function optimizeInto(
  report: FileReport,
  file: string,
  text: string,
  config: EffectiveConfig,
  context: FolderContext,
  settings: ProcessSettings,
): FileReport {
  const shown = report.path;
  const transforms: Transform[] = resolveTransforms(config, settings);
  const result = optimizeFile(text, context, { transforms, options: config.options });
  report.changes = result.changes;
  report.refusals = result.refusals;
  report.error = result.error;
  if (result.error) return report;

  const sideOutputs = result.sideFiles
    .map((f) => {
      const abs = path.join(context.root, f.path);
      const before = context.readFile(f.path);
      return { abs, before, after: f.content, message: f.message };
    })
    .filter((f) => f.before !== f.after);
  report.sideFiles = sideOutputs.map((f) => ({
    path: relativePath(f.abs, settings.cwd),
    message: f.message,
    created: f.before === undefined,
  }));
  report.changed = result.changed || sideOutputs.length > 0;
  if (!report.changed) return report;

  if (settings.computeDiff) {
    let diff = result.changed ? unifiedDiff(shown, result.original, result.output) : "";
    for (const f of sideOutputs) {
      diff += unifiedDiff(relativePath(f.abs, settings.cwd), f.before ?? null, f.after);
    }
    report.diff = diff;
  }
  if (settings.mode === "write") {
    if (result.changed) {
      writeFileAtomic(file, result.output);
      report.written.push(shown);
    }
    for (const f of sideOutputs) {
      writeFileAtomic(f.abs, f.after);
      report.written.push(relativePath(f.abs, settings.cwd));
    }
    if (sideOutputs.length > 0) contexts.delete(context.root);
  }
  return report;
}
