/**
 * Worker-thread entry for src/io/pool.ts: loads both parsers once, then runs
 * `processFile` over the chunks of files it is handed, posting one report
 * per file. Bundled as dist/worker.js.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadParsers } from "../engine/engine.ts";
import type { FromWorker, ToWorker } from "./pool.ts";
import { processFile, type ProcessSettings } from "./process.ts";

const port = parentPort;
if (!port) throw new Error("src/io/worker.ts must run in a worker thread");
const { settings, stop } = workerData as { settings: ProcessSettings; stop: Int32Array | null };

const post = (msg: FromWorker) => port.postMessage(msg);

try {
  await loadParsers();
  port.on("message", (msg: ToWorker) => {
    if (msg.type === "stop") {
      port.close();
      return;
    }
    for (const [i, f] of msg.files.entries()) {
      if (stop && Atomics.load(stop, 0) === 1) {
        post({ type: "skipped", indices: msg.files.slice(i).map((s) => s.index) });
        break;
      }
      post({ type: "report", index: f.index, report: processFile(f.path, settings) });
    }
  });
  post({ type: "ready" });
} catch (e) {
  post({ type: "fatal", message: e instanceof Error ? e.message : String(e) });
}
