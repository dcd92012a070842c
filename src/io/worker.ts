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
const settings = (workerData as { settings: ProcessSettings }).settings;

const post = (msg: FromWorker) => port.postMessage(msg);

try {
  await loadParsers();
  port.on("message", (msg: ToWorker) => {
    if (msg.type === "stop") {
      port.close();
      return;
    }
    for (const f of msg.files)
      post({ type: "report", index: f.index, report: processFile(f.path, settings) });
  });
  post({ type: "ready" });
} catch (e) {
  post({ type: "fatal", message: e instanceof Error ? e.message : String(e) });
}
