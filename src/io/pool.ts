import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ResourceLimits, Worker } from "node:worker_threads";
import { builtin, withLazyModules } from "../engine/lazy.ts";
import {
  forgetRunCaches,
  processFile,
  relativePath,
  type FileReport,
  type ProcessSettings,
} from "./process.ts";

/** Messages between the pool and src/io/worker.ts. */
export type ToWorker = { type: "chunk"; files: { index: number; path: string }[] } | { type: "stop" };
export type FromWorker =
  | { type: "ready" }
  /** Reports of files of the chunk, in order: a few at a time (see src/io/worker.ts). */
  | { type: "reports"; reports: { index: number; report: FileReport }[] }
  /** The run was told to stop: these files of the chunk were not started. */
  | { type: "skipped"; indices: number[] }
  | { type: "fatal"; message: string };

export interface PoolOptions {
  /** A worker silent for this long on one file is stopped, and the file reported as an error. */
  fileTimeoutMs?: number;
  /**
   * A worker posts its reports in batches (src/io/worker.ts), at least this
   * often while it has some (default 50 ms).
   */
  reportEveryMs?: number;
  /** At most this many reports are held while waiting for an earlier file (back-pressure). */
  maxAhead?: number;
  /** Memory limits for each worker (a worker over them dies: its file becomes an error). */
  resourceLimits?: ResourceLimits;
  /** false: process every file in the calling thread (no hang or crash isolation, no heap cap). */
  threads?: boolean;
  /**
   * Asked before each file is started: once it returns true no new file is
   * started; those under way are finished and reported, then the run ends.
   */
  shouldStop?: () => boolean;
}

/** Below this many files (per worker) a run stays in the main thread: a worker costs more to start than it saves. */
const MIN_FILES_PER_WORKER = 24;
const DEFAULT_FILE_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_AHEAD = 4096;
const DEFAULT_REPORT_EVERY_MS = 50;
/**
 * Heap caps of each worker. Left alone, V8 grows each isolate's heap far past
 * what one file needs (600+ MB over 4,000 files, live data ~40 MB); a file
 * that truly needs more is redone on the main thread. A 16 MB young
 * generation cost ~1% in time over 4,000 corpus files and saved ~60 MB.
 */
const DEFAULT_WORKER_HEAP_MB = 128;
const DEFAULT_WORKER_YOUNG_MB = 16;

export function defaultJobs(): number {
  return Math.max(1, os.availableParallelism());
}

/** An error report for a file a worker died on (or hung on). */
function crashReport(file: string, settings: ProcessSettings, message: string, kind: string): FileReport {
  return {
    path: relativePath(file, settings.cwd),
    changed: false,
    changes: [],
    refusals: [],
    error: { kind, message, line: null },
    diff: null,
    written: [],
    sideFiles: [],
  };
}

/**
 * The worker entry: `dist/worker.js` beside the bundle, or `src/io/worker.ts`
 * loaded through tsx when running from sources (vitest, tsx).
 */
function workerEntry(): { script: URL | string; eval: boolean } {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    // From sources: register tsx's loader inside the worker, then load the TypeScript entry.
    const tsxDir = path.dirname(createRequire(here).resolve("tsx/package.json"));
    const tsxApi = pathToFileURL(path.join(tsxDir, "dist/esm/api/index.mjs")).href;
    const entry = new URL("./worker.ts", here).href;
    const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return { script: code, eval: true };
  }
  return { script: new URL("./worker.js", here), eval: false };
}

/**
 * Runs `processFile` over `files`, in up to `jobs` worker threads when
 * there are enough files (one per 24, and at least one from 24 files on),
 * and calls `onReport` once per file IN INPUT ORDER. Work is handed out in
 * chunks on demand; a worker that crashes (or hangs) costs only the file it
 * was on, which becomes an error report.
 * Reports are streamed: only those that arrive ahead of an earlier, slower
 * file are held, and no more than `maxAhead` of them.
 */
export async function processAll(
  files: string[],
  settings: ProcessSettings,
  jobs: number,
  onReport: (r: FileReport) => void,
  poolOptions: PoolOptions = {},
): Promise<void> {
  forgetRunCaches();
  const bulk = files.length >= MIN_FILES_PER_WORKER;
  if (bulk) tuneJitForBulkRuns();
  if (!bulk || poolOptions.threads === false) {
    const stop = poolOptions.shouldStop;
    for (const f of files) {
      if (stop?.()) return;
      onReport(await withLazyModules(() => processFile(f, settings)));
      // Lets a failed write to stdout be heard (its 'error' event) before the next file.
      if (stop) await new Promise((resolve) => setImmediate(resolve));
    }
    return;
  }
  // A bulk run uses at least one worker, even with --jobs 1: a file that
  // hangs or exhausts memory then costs that file, not the run, and the
  // worker's heap cap keeps memory flat (the main thread has none: 2,000
  // corpus files peaked at 217–537 MB in it, at ~155 MB through one worker).
  const workers = Math.max(1, Math.min(Math.floor(jobs), Math.ceil(files.length / MIN_FILES_PER_WORKER)));
  await runPool(files, settings, workers, onReport, poolOptions);
}

/**
 * A bulk run spends a large share of its CPU in TurboFan's background
 * compiles: every worker optimises the same large transform functions itself,
 * and on a 2-core machine those compiles compete with the workers. Inlining
 * less and tiering up later cut that (the full corpus took 77 instead of 86
 * CPU seconds, see issue 5's notes). Both flags are compiler heuristics, safe
 * to change while running and read by worker isolates as they start.
 * `DFOPT_V8_TUNING=off` leaves V8's defaults (for comparisons).
 */
const BULK_JIT_FLAGS = ["--max-inlined-bytecode-size-cumulative=150", "--interrupt-budget=300000"];
let jitTuned = false;

function tuneJitForBulkRuns(): void {
  if (jitTuned || process.env.DFOPT_V8_TUNING === "off") return;
  jitTuned = true;
  const v8 = builtin<typeof import("node:v8")>("node:v8");
  for (const flag of BULK_JIT_FLAGS) v8.setFlagsFromString(flag);
}

interface Slot {
  worker: Worker;
  /** Files handed to this worker and not yet reported, in order. */
  pending: { index: number; path: string }[];
  /**
   * The index of the file the worker is processing, -1 between files, written
   * by the worker: it posts its reports a few at a time, so a worker that hangs
   * or dies may have finished files after the first one not reported.
   */
  current: Int32Array;
  timer: NodeJS.Timeout | null;
  alive: boolean;
  /** Waiting for work while the out-of-order buffer is full. */
  parked: boolean;
  /** Started (tree-sitter loaded). */
  ready: boolean;
}

/** Workers that die before they are ready, in a row, before the run gives up. */
const MAX_STARTUP_FAILURES = 3;

function runPool(
  files: string[],
  settings: ProcessSettings,
  workerCount: number,
  onReport: (r: FileReport) => void,
  poolOptions: PoolOptions,
): Promise<void> {
  const fileTimeoutMs = poolOptions.fileTimeoutMs ?? DEFAULT_FILE_TIMEOUT_MS;
  const maxAhead = Math.max(1, poolOptions.maxAhead ?? DEFAULT_MAX_AHEAD);
  const entry = workerEntry();
  return new Promise<void>((resolve, reject) => {
    /** Files not yet handed out: requeued ones (after a crash) first. */
    const requeued: { index: number; path: string }[] = [];
    let nextToHand = 0;
    let nextToEmit = 0;
    /** Reports that arrived ahead of an earlier file; null: a file skipped after a stop. */
    const buffer = new Map<number, FileReport | null>();
    const slots = new Set<Slot>();
    let finished = false;
    let startupFailures = 0;
    // Set once the run is told to stop; a worker reads it before each file of its chunk.
    const stopFlag = poolOptions.shouldStop ? new Int32Array(new SharedArrayBuffer(4)) : null;
    /** Files to hand out: all of them, or, once the run is told to stop, those already handed out. */
    const total = () => {
      if (!poolOptions.shouldStop?.()) return files.length;
      if (stopFlag) Atomics.store(stopFlag, 0, 1);
      return nextToHand;
    };

    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      for (const s of slots) {
        s.alive = false;
        if (s.timer) clearTimeout(s.timer);
        s.worker.unref();
        void s.worker.terminate();
      }
      slots.clear();
      if (err) reject(err);
      else resolve();
    };

    const emit = (index: number, report: FileReport | null) => {
      buffer.set(index, report);
      try {
        while (buffer.has(nextToEmit)) {
          const r = buffer.get(nextToEmit);
          buffer.delete(nextToEmit);
          nextToEmit++;
          if (r) onReport(r);
        }
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (nextToEmit === total()) finish();
      else for (const s of slots) if (s.parked) feed(s);
    };

    const chunkSize = () => {
      const left = files.length - nextToHand;
      return Math.max(1, Math.min(64, Math.ceil(left / (workerCount * 4))));
    };

    const armTimer = (s: Slot) => {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      if (s.pending.length === 0 || !Number.isFinite(fileTimeoutMs)) return;
      s.timer = setTimeout(() => {
        const stuck = s.pending[0];
        if (!stuck) return;
        fail(
          s,
          `processing stopped after ${Math.round(fileTimeoutMs / 1000)} s; file left unchanged`,
          "timeout",
        );
      }, fileTimeoutMs);
    };

    const feed = (s: Slot) => {
      if (!s.alive || s.pending.length > 0) return;
      let chunk: { index: number; path: string }[];
      if (requeued.length > 0) {
        chunk = requeued.splice(0, 1); // one at a time, so a second crash names its file
      } else {
        if (nextToHand >= total()) {
          s.parked = false;
          retire(s);
          return;
        }
        if (nextToHand - nextToEmit >= maxAhead) {
          s.parked = true; // back-pressure: an earlier file is still being processed
          return;
        }
        const n = Math.min(chunkSize(), maxAhead - (nextToHand - nextToEmit));
        chunk = [];
        for (let i = 0; i < n && nextToHand < files.length; i++, nextToHand++) {
          chunk.push({ index: nextToHand, path: files[nextToHand] });
        }
      }
      s.parked = false;
      s.pending = chunk;
      s.worker.postMessage({ type: "chunk", files: chunk } satisfies ToWorker);
      armTimer(s);
    };

    const retire = (s: Slot) => {
      s.alive = false;
      if (s.timer) clearTimeout(s.timer);
      slots.delete(s);
      s.worker.postMessage({ type: "stop" } satisfies ToWorker);
    };

    /** The worker died or hung: its current file becomes an error, the rest go back in the queue. */
    const fail = (s: Slot, message: string, kind = "crash") => {
      if (!s.alive) return;
      s.alive = false;
      if (s.timer) clearTimeout(s.timer);
      slots.delete(s);
      // A thread stuck in a blocking call (e.g. reading a FIFO) cannot be stopped
      // until the call returns: unref it, so that it cannot keep the process alive.
      s.worker.unref();
      void s.worker.terminate();
      if (!s.ready && ++startupFailures >= MAX_STARTUP_FAILURES) {
        finish(new Error(`worker threads fail to start: ${message}`));
        return;
      }
      // The file it was on; the others were finished but not reported yet, or not started.
      const on = Atomics.load(s.current, 0);
      const at = s.pending.findIndex((p) => p.index === on);
      const [culprit] = s.pending.splice(Math.max(at, 0), 1);
      const rest = s.pending;
      s.pending = [];
      requeued.unshift(...rest);
      if (finished) return;
      if (nextToHand < total() || requeued.length > 0) spawn();
      if (culprit && kind === "out-of-memory") redoOnMainThread(culprit);
      else if (culprit) emit(culprit.index, crashReport(culprit.path, settings, message, kind));
      else if (slots.size === 0 && nextToEmit < total()) spawn();
    };

    /** A file too big for a worker's heap cap: the main thread has no cap. */
    const redoOnMainThread = (file: { index: number; path: string }) => {
      // not awaited: the report arrives through emit; the catch turns a failure into a crash report
      void withLazyModules(() => processFile(file.path, settings))
        .catch((e: unknown) =>
          crashReport(
            file.path,
            settings,
            `internal error: ${e instanceof Error ? e.message : String(e)}`,
            "crash",
          ),
        )
        .then((report) => {
          if (!finished) emit(file.index, report);
        });
    };

    const spawn = () => {
      if (finished) return;
      // Loaded here, not at start-up: a one-file run starts no worker.
      const { Worker } = builtin<typeof import("node:worker_threads")>("node:worker_threads");
      const current = new Int32Array(new SharedArrayBuffer(4)).fill(-1);
      const worker = new Worker(entry.script, {
        eval: entry.eval,
        workerData: {
          settings,
          stop: stopFlag,
          current,
          reportEveryMs: poolOptions.reportEveryMs ?? DEFAULT_REPORT_EVERY_MS,
        },
        resourceLimits: poolOptions.resourceLimits ?? {
          maxOldGenerationSizeMb: DEFAULT_WORKER_HEAP_MB,
          maxYoungGenerationSizeMb: DEFAULT_WORKER_YOUNG_MB,
        },
        stdout: false,
        stderr: false,
      });
      const s: Slot = { worker, pending: [], current, timer: null, alive: true, parked: false, ready: false };
      slots.add(s);
      worker.on("message", (msg: FromWorker) => {
        if (!s.alive || finished) return;
        switch (msg.type) {
          case "ready":
            s.ready = true;
            startupFailures = 0;
            feed(s);
            break;
          case "reports": {
            for (const { index } of msg.reports) {
              const i = s.pending.findIndex((p) => p.index === index);
              if (i >= 0) s.pending.splice(i, 1);
            }
            armTimer(s);
            for (const { index, report } of msg.reports) {
              emit(index, report);
              if (finished) return;
            }
            if (s.pending.length === 0) feed(s);
            break;
          }
          case "skipped":
            s.pending = s.pending.filter((p) => !msg.indices.includes(p.index));
            armTimer(s);
            for (const index of msg.indices) emit(index, null);
            if (s.pending.length === 0) feed(s);
            break;
          case "fatal":
            // The worker could not start (e.g. tree-sitter failed to load): no point retrying.
            finish(new Error(`worker failed to start: ${msg.message}`));
            break;
        }
      });
      worker.on("error", (e: NodeJS.ErrnoException) => {
        const kind = e.code === "ERR_WORKER_OUT_OF_MEMORY" && s.ready ? "out-of-memory" : "crash";
        fail(s, `internal error: worker crashed: ${e.message}`, kind);
      });
      worker.on("exit", (code) => {
        if (s.alive) fail(s, `internal error: worker exited with code ${code}`);
      });
    };

    if (files.length === 0) {
      resolve();
      return;
    }
    for (let i = 0; i < workerCount; i++) spawn();
  });
}
