/**
 * Worker-thread entry for src/io/pool.ts: loads both parsers once, then runs
 * `processFile` over the chunks of files it is handed, posting the reports a
 * few at a time. Bundled as dist/worker.js.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadParsers } from "../engine/engine.ts";
import type { FromWorker, ToWorker } from "./pool.ts";
import { processFile, type FileReport, type ProcessSettings } from "./process.ts";

const port = parentPort;
if (!port) throw new Error("src/io/worker.ts must run in a worker thread");
const { settings, stop, current, reportEveryMs } = workerData as {
  settings: ProcessSettings;
  stop: Int32Array | null;
  /** The index of the file being processed, -1 between files: the pool reads it when this worker hangs or dies. */
  current: Int32Array;
  reportEveryMs: number;
};

const post = (msg: FromWorker) => port.postMessage(msg);

/*
 * Reports go out in batches of 1, 2, 4, ... files within a chunk, and at
 * least every `reportEveryMs`: a message per file cost a bulk run ~5-10% of
 * its CPU time (each one wakes the main thread). The first reports of a chunk
 * still go out at once (a run told to stop hears of them in time), and the
 * pool's per-file time limit still measures one file (plus at most
 * `reportEveryMs`).
 */

try {
  await loadParsers();
  port.on("message", (msg: ToWorker) => {
    if (msg.type === "stop") {
      port.close();
      return;
    }
    let batch: { index: number; report: FileReport }[] = [];
    let size = 1;
    let postedAt = performance.now();
    const flush = () => {
      if (batch.length === 0) return;
      post({ type: "reports", reports: batch });
      batch = [];
      postedAt = performance.now();
    };
    for (const [i, f] of msg.files.entries()) {
      if (stop && Atomics.load(stop, 0) === 1) {
        flush();
        post({ type: "skipped", indices: msg.files.slice(i).map((s) => s.index) });
        return;
      }
      Atomics.store(current, 0, f.index);
      const report = processFile(f.path, settings);
      Atomics.store(current, 0, -1);
      batch.push({ index: f.index, report });
      if (batch.length >= size || performance.now() - postedAt >= reportEveryMs) {
        flush();
        size *= 2;
      }
    }
    flush();
  });
  post({ type: "ready" });
} catch (e) {
  post({ type: "fatal", message: e instanceof Error ? e.message : String(e) });
}
