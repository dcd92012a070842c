import path from "node:path";
import {
  optimizeFile,
  type AppliedChange,
  type FileError,
  type FileResult,
  type ReportedRefusal,
} from "../engine/engine.ts";
import { MAX_FILE_BYTES } from "../engine/engine.ts";
import { NotLoadedYet } from "../engine/lazy.ts";
import type { Applicability, BuildContext, ResolvedImage, ResolvePin, Transform } from "../engine/types.ts";
import {
  configFor,
  forgetConfigs,
  resolveTransforms,
  type DfoptConfig,
  type EffectiveConfig,
} from "../config.ts";
import { recordReads } from "../engine/context-reads.ts";
import { unifiedDiff } from "../report/diff.ts";
import { cachedReport, forgetMadeFolders, probeFor, storeReport, type ResultCacheSettings } from "./cache.ts";
import { folderContext } from "./context.ts";
import { repositoryRoot } from "./repository.ts";
import { readRegularFile } from "./safe-read.ts";
import { planWrite, WriteError, writePlanned } from "./write.ts";
import type { FileVerification } from "../verify/rewrite.ts";
import { forgetVersionBots, versionBotsFor } from "./version-bots.ts";

/** Plain, serialisable settings: the same object drives in-process and worker-thread runs. */
export interface ProcessSettings {
  mode: "diff" | "write" | "check";
  /** Transform ids from --only / --skip (validated by the CLI). */
  only: string[] | null;
  skip: string[];
  /** --context: one build context for every file; null = each Dockerfile's folder. */
  contextDir: string | null;
  /** --context serves more than one Dockerfile of the run (every shard counted). */
  contextShared?: boolean;
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
   * true (--safe) applies only safe changes, false (--unsafe) the unsafe ones too; unset, the
   * config's `"safe"` decides, and safe-only is the default.
   */
  safe?: boolean;
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
  /** Plugin files from --transform (absolute paths), loaded in each thread that processes files. */
  plugins?: string[];
  /** --allow-config-plugins: load the plugins a config found upward lists. */
  allowConfigPlugins?: boolean;
  /** The API's config keys, laid over each file's config; with `noConfig`, no config file is read. */
  configOverrides?: DfoptConfig;
  noConfig?: boolean;
  /** Keep the rewritten text and side files' contents in the report (--stdin, the API). */
  keepOutput?: boolean;
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
  applicability: Applicability;
  /** Its new content, with `keepOutput`. */
  content?: string;
}

export interface FileReport {
  path: string;
  changed: boolean;
  changes: AppliedChange[];
  refusals: ReportedRefusal[];
  error: FileError | null;
  /** Unified diff of the Dockerfile and any side files, when requested and changed. */
  diff: string | null;
  /** With --write: the files written, in the order they were written (side files first). */
  written: string[];
  sideFiles: SideFileReport[];
  /** Taken from the result cache (--cache), not computed in this run. */
  cached?: boolean;
  /** The rewritten Dockerfile (the input when unchanged), with `keepOutput`. */
  output?: string;
  /** --verify: what the real builds proved (src/verify/files.ts). */
  verify?: FileVerification;
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
  forgetConfigs(); // and the repositories it found
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

export function readInput(file: string): { text: string } | { error: FileError } {
  // A FIFO or device would block the read forever, or never end: regular files only.
  const read = readRegularFile(file, { maxBytes: MAX_FILE_BYTES });
  if ("failure" in read) {
    const { refusal, message } = read.failure;
    const kind = refusal === "missing" ? "missing" : refusal === "too-large" ? "too-large" : "unreadable";
    return {
      error: {
        kind,
        message: refusal === "too-large" ? `file is larger than ${MAX_FILE_BYTES} bytes (1 MiB)` : message,
        line: null,
      },
    };
  }
  const buf = read.bytes;
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
  const report = emptyReport(relativePath(file, settings.cwd));
  const input = readInput(file);
  if ("error" in input) return { ...report, error: input.error };
  return processText(file, input.text, settings, report);
}

/**
 * `processFile` for a text already read (--stdin, the API): `file` says where
 * it would live, for its config and its default build context, which
 * `context` replaces when given. Throws like processFile.
 */
export function processText(
  file: string,
  text: string,
  settings: ProcessSettings,
  report: FileReport = emptyReport(relativePath(file, settings.cwd)),
  context?: BuildContext,
): FileReport {
  try {
    const config = withRunInputs(configFor(file, settings), file, settings);
    if (config.error) return { ...report, error: config.error };
    if (config.excluded) return settings.keepOutput ? { ...report, output: text } : report;
    if (context) return optimizeInto(report, file, text, config, context, settings);
    const folder = contextFor(settings.contextDir ?? path.dirname(file));
    // A config's plugins are code the result cache cannot fingerprint: not cached.
    const cache = config.config.plugins?.length ? null : (settings.cache ?? null);
    if (!cache) return optimizeInto(report, file, text, config, folder, settings);
    // A change still has to be written: --write keeps and reuses only "nothing to change".
    const reusable = (r: FileReport) => settings.mode !== "write" || !r.changed;
    const probe = probeFor(cache, file, text, configDigest(config));
    const kept = cachedReport(cache, probe, folder);
    if (kept && reusable(kept)) return { ...kept, cached: true };
    const { value, reads } = recordReads(() => optimizeInto(report, file, text, config, folder, settings));
    if (value.error?.kind !== "internal" && reusable(value)) storeReport(cache, probe, folder, reads, value);
    return value;
  } catch (e) {
    if (e instanceof NotLoadedYet) throw e;
    return internalError(report, e);
  }
}

function emptyReport(shown: string): FileReport {
  return {
    path: shown,
    changed: false,
    changes: [],
    refusals: [],
    error: null,
    diff: null,
    written: [],
    sideFiles: [],
  };
}

function internalError(report: FileReport, e: unknown): FileReport {
  const message = `internal error: ${e instanceof Error ? e.message : String(e)}`;
  return { ...report, changed: false, diff: null, error: { kind: "internal", message, line: null } };
}

/**
 * The config with what the run found outside the build context for this
 * file: the registry's answers (--resolve) and the repository's
 * version-update bots. Both are options a report depends on.
 */
export function withRunInputs(
  config: EffectiveConfig,
  file: string,
  settings: ProcessSettings,
): EffectiveConfig {
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
  context: BuildContext,
  settings: ProcessSettings,
): FileReport {
  const transforms: Transform[] = resolveTransforms(config, settings);
  const contextUse = {
    ownFolder: path.resolve(path.dirname(file)) === context.root,
    sharedInRun: settings.contextShared === true,
  };
  const safeOnly = settings.safe ?? config.config.safe ?? true;
  const result = optimizeFile(text, context, {
    transforms,
    options: { ...config.options, contextUse },
    safeOnly,
  });
  return reportResult(report, file, result, context, settings);
}

/**
 * Fills `report` from the engine's result for `file`: changes, refusals, side
 * files and the diff; with --write, writes them. Also fills in the rewrite
 * `--verify` keeps.
 */
export function reportResult(
  report: FileReport,
  file: string,
  result: FileResult,
  context: BuildContext,
  settings: ProcessSettings,
): FileReport {
  const shown = report.path;
  report.changes = result.changes;
  report.refusals = result.refusals;
  report.error = result.error;
  if (settings.keepOutput) report.output = result.output;
  if (result.error) return report;

  const sideOutputs = result.sideFiles
    .map((f) => {
      const abs = path.join(context.root, f.path);
      const before = context.readFile(f.path);
      return {
        abs,
        before,
        after: f.content,
        message: f.message,
        applicability: f.applicability ?? "unsafe",
      };
    })
    .filter((f) => f.before !== f.after);
  report.sideFiles = sideOutputs.map((f) => ({
    path: relativePath(f.abs, settings.cwd),
    message: f.message,
    created: f.before === undefined,
    applicability: f.applicability,
    ...(settings.keepOutput ? { content: f.after } : {}),
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
    const outputs = sideOutputs.map((f) => ({
      file: f.abs,
      content: f.after,
      within: { dir: context.root, what: "its build context" },
    }));
    if (result.changed) {
      // A Dockerfile may link anywhere in its repository; outside one, only within its own folder.
      const dir = path.resolve(path.dirname(file));
      const repo = repositoryRoot(dir);
      const within = repo ? { dir: repo, what: "its repository" } : { dir, what: "its folder" };
      outputs.push({ file, content: result.output, within });
    }
    writeOutputs(report, outputs, settings.cwd);
    if (report.written.length > 0 && sideOutputs.length > 0) contexts.delete(context.root);
  }
  return report;
}

/**
 * Writes a Dockerfile's outputs (side files first, the Dockerfile last), each
 * checked before any is written: one that is refused or cannot be written
 * leaves them all unwritten. A write that fails midway stops the rest; the
 * report then lists what was written and names the file that failed.
 */
function writeOutputs(
  report: FileReport,
  outputs: { file: string; content: string; within: { dir: string; what: string } }[],
  cwd: string,
): void {
  const label = (dir: string) => (path.resolve(dir) === path.resolve(cwd) ? "." : relativePath(dir, cwd));
  try {
    const plans = outputs.map(({ file, within }) =>
      planWrite(file, relativePath(file, cwd), {
        dir: within.dir,
        shown: `${within.what} (${label(within.dir)})`,
      }),
    );
    plans.forEach((plan, i) => {
      writePlanned(plan, outputs[i].content);
      report.written.push(plan.shown);
    });
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    const done =
      report.written.length > 0 ? `only ${report.written.join(", ")} was written` : "nothing was written";
    report.error = { kind: e.kind, message: `${e.message}; ${done}`, line: null };
  }
}
