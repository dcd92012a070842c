import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processAll } from "../src/io/pool.ts";
import { dryRunSettings, type FileReport, type ProcessSettings } from "../src/io/process.ts";
import { loadParsers } from "../src/engine/engine.ts";

let dir: string;
const good: string[] = [];
let settings: ProcessSettings;

const VARIANTS = [
  (i: number) => `FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl pkg${i}\nCMD ["bash"]\n`,
  (i: number) =>
    `FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt # ${i}\nCMD python app.py\n`,
  (i: number) => `FROM alpine:3.20\r\nRUN apk add curl\r\nRUN echo ${i}\r\n`,
  (i: number) => `from node:20\nmaintainer someone <a@b.c>\nrun npm install\nENV A ${i}\n`,
  () => `FROM scratch\nCOPY app /app\n`,
];

function collect(files: string[], jobs: number, opts = {}): Promise<FileReport[]> {
  const out: FileReport[] = [];
  return processAll(files, settings, jobs, (r) => out.push(r), opts).then(() => out);
}

beforeAll(async () => {
  await loadParsers();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-pool-"));
  for (let i = 0; i < 70; i++) {
    const d = path.join(dir, `svc${String(i).padStart(2, "0")}`);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, "Dockerfile"), VARIANTS[i % VARIANTS.length](i));
    fs.writeFileSync(path.join(d, "requirements.txt"), "flask==3.0.0\n");
    good.push(path.join(d, "Dockerfile"));
  }
  settings = dryRunSettings(dir);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("processAll", () => {
  it("reports unreadable and binary files in input order, same as in-process", async () => {
    const unreadableDir = path.join(dir, "weird", "Dockerfile"); // a folder named like a Dockerfile
    fs.mkdirSync(unreadableDir, { recursive: true });
    const dangling = path.join(dir, "dangling.Dockerfile");
    fs.symlinkSync(path.join(dir, "gone"), dangling);
    const binary = path.join(dir, "bin.Dockerfile");
    fs.writeFileSync(binary, Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x00, 0xff, 0x00, 0x10]));
    const files = [
      ...good.slice(0, 20),
      unreadableDir,
      ...good.slice(20, 40),
      binary,
      ...good.slice(40),
      dangling,
    ];

    const threaded = await collect(files, 2);
    expect(threaded.map((r) => r.path)).toEqual(files.map((f) => path.relative(dir, f)));
    expect(threaded[20].error?.kind).toBe("unreadable");
    expect(threaded[41].error?.kind).toBe("binary");
    expect(threaded[threaded.length - 1].error).not.toBeNull();
    const goodReports = threaded.filter((r) => !r.error);
    expect(goodReports).toHaveLength(good.length);
    expect(goodReports.filter((r) => r.changed).length).toBeGreaterThan(20);
    expect(goodReports.every((r) => !r.changed || (r.diff ?? "").startsWith("--- "))).toBe(true);

    // Worker threads and in-process give the same reports.
    const inProcess = await collect(files, 1, { threads: false });
    expect(threaded).toEqual(inProcess);
  });

  it("a file that hangs its worker becomes that file's error; the run goes on in order", async () => {
    const fifoDir = path.join(dir, "fifo");
    fs.mkdirSync(fifoDir);
    const fifo = path.join(fifoDir, "Dockerfile");
    execFileSync("mkfifo", [fifo]); // reading it blocks forever: no writer
    const files = [...good.slice(0, 30), fifo, ...good.slice(30)];
    try {
      const reports = await collect(files, 2, { fileTimeoutMs: 1500 });
      expect(reports.map((r) => r.path)).toEqual(files.map((f) => path.relative(dir, f)));
      // "timeout" while reads block on a FIFO; "unreadable" once processFile refuses non-regular files.
      expect(["timeout", "unreadable"]).toContain(reports[30].error?.kind);
      expect(reports.filter((r) => r.error)).toHaveLength(1);
      const expected = await collect(good, 1, { threads: false });
      expect(reports.filter((r) => !r.error)).toEqual(expected);
    } finally {
      // Unblock the stuck read so that the terminated worker can exit.
      try {
        const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        fs.closeSync(fd);
      } catch {
        // no reader left
      }
    }
  });

  it("a file a transform spins on becomes that file's error, though the files before it were not reported yet", async () => {
    // Workers post their reports a few at a time: when one hangs, the files of its chunk
    // before the stuck one are done but unreported; only the stuck one is the culprit.
    const plugin = path.join(dir, "spin.mjs");
    fs.writeFileSync(
      plugin,
      `export default { id: "spin", description: "spins on a marked file", applicability: "safe",
        run({ model }) { while (model.text.includes("# spin here")) {} return { changes: [], refusals: [] }; } };\n`,
    );
    const spinning = path.join(dir, "spin.Dockerfile");
    fs.writeFileSync(spinning, "FROM alpine:3.20\n# spin here\nRUN apk add curl\n");
    const withPlugin = { ...settings, plugins: [plugin] };
    // Sixth of the first worker's first chunk: its reports go out as files 1, 2-3, 4-7, ...
    const files = [...good.slice(0, 5), spinning, ...good.slice(5)];
    const reports: FileReport[] = [];
    await processAll(files, withPlugin, 2, (r) => reports.push(r), {
      fileTimeoutMs: 3000,
      reportEveryMs: 60_000, // batches by count only, whatever the machine's speed
    });
    expect(reports.map((r) => r.path)).toEqual(files.map((f) => path.relative(dir, f)));
    expect(reports[5].error?.kind).toBe("timeout");
    expect(reports.filter((r) => r.error)).toHaveLength(1);
    const expected: FileReport[] = [];
    await processAll(good, withPlugin, 1, (r) => expected.push(r), { threads: false });
    expect(reports.filter((r) => !r.error)).toEqual(expected);
  });

  it("with one job, a bulk run still goes through a worker (isolation and heap cap), a small one does not", async () => {
    // A worker that cannot start fails the run: proof that one was used.
    const starved = { resourceLimits: { maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1 } };
    await expect(collect(good.slice(0, 30), 1, starved)).rejects.toThrow(/worker/);
    expect(await collect(good.slice(0, 23), 1, starved)).toHaveLength(23);
    expect(await collect(good.slice(0, 30), 1, { ...starved, threads: false })).toHaveLength(30);
  });

  it("keeps input order under a tight back-pressure window", async () => {
    const order: string[] = [];
    await processAll(good, settings, 2, (r) => order.push(r.path), { maxAhead: 3 });
    expect(order).toEqual(good.map((f) => path.relative(dir, f)));
  });

  it("fails the run with a message when workers cannot start", async () => {
    await expect(
      collect(good, 2, { resourceLimits: { maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1 } }),
    ).rejects.toThrow(/worker/);
  });

  it("redoes on the main thread a file too big for a worker's heap cap", async () => {
    const big = path.join(dir, "big.Dockerfile");
    const runs = Array.from({ length: 4000 }, (_, i) => `RUN apt-get install -y pkg${i} && echo ${i}`);
    fs.writeFileSync(big, `FROM ubuntu:22.04\n${runs.join("\n")}\n`);
    const files = [...good.slice(0, 30), big, ...good.slice(30, 60)];
    const inProcess = await collect(files, 1, { threads: false });
    const capped = await collect(files, 2, { resourceLimits: { maxOldGenerationSizeMb: 24 } });
    expect(capped.map((r) => r.path)).toEqual(inProcess.map((r) => r.path));
    const bigReport = capped.find((r) => r.path === "big.Dockerfile")!;
    expect(bigReport.error).toBeNull();
    expect(bigReport.changed).toBe(true);
    expect(capped).toEqual(inProcess);
  });

  it("told to stop, starts no new file, not even within a worker's chunk; what it did is reported in order", async () => {
    for (const threads of [true, false]) {
      let seen = 0;
      const reports: FileReport[] = [];
      await processAll(good, settings, 2, (r) => reports.push(r) && seen++, {
        threads,
        shouldStop: () => seen >= 3,
      });
      // Each of the two workers is handed 9 files at a time here; they stop within their chunks.
      if (threads) expect(reports.length).toBeGreaterThanOrEqual(3);
      if (threads) expect(reports.length).toBeLessThan(18);
      else expect(reports).toHaveLength(3);
      // In input order; a file another worker finished after an earlier one was skipped is still reported.
      const indices = reports.map((r) => good.indexOf(path.join(dir, r.path)));
      expect(indices.slice(0, 3)).toEqual([0, 1, 2]);
      expect(indices).toEqual([...indices].sort((a, b) => a - b));
    }
  });

  it("handles an empty list and a single file in-process", async () => {
    expect(await collect([], 4)).toEqual([]);
    const one = await collect([good[0]], 4);
    expect(one).toHaveLength(1);
    expect(one[0].changed).toBe(true);
  });
});
