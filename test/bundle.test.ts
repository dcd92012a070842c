import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../src/cli/main.ts";
import { textSink, withoutTimings } from "./text-sink.ts";
import { loadParsers } from "../src/engine/engine.ts";

// What users run: bin/dfopt.cjs → dist/cli.cjs (the launcher) → dist/dfopt.cjs,
// with dist/worker.js and the .wasm files beside it. `npm ci` builds dist/.
const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/dfopt.cjs");
const built = fs.existsSync(path.join(ROOT, "dist/dfopt.cjs"));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-bundle-"));
const cacheDir = path.join(dir, "compile-cache");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function bundled(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, DFOPT_COMPILE_CACHE: cacheDir, NO_COLOR: "1", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: untimed(r.stderr) };
}

/** The summary line says how long the run took. */
const untimed = (text: string) => text.replace(/in [\d.]+ s(?:, [\d,]+ files\/s)?/g, "in <time>");

async function inProcess(args: string[]) {
  const out = textSink();
  const err = textSink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream, cwd: dir });
  return { code, stdout: out.text(), stderr: untimed(err.text()) };
}

const SIMPLE = "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\n";
const NEEDS_TREE_SITTER =
  'FROM ubuntu:22.04\nRUN if [[ "$(uname -m)" == x86_64 ]]; then echo amd64; else echo other; fi\nRUN apt-get update && apt-get install -y curl\n';

describe.skipIf(!built)("the bundled CLI", () => {
  beforeAll(async () => {
    await loadParsers();
    write("simple/Dockerfile", SIMPLE);
    write("test/Dockerfile", NEEDS_TREE_SITTER);
    for (let i = 0; i < 60; i++)
      write(`many/svc${i}/Dockerfile`, i % 2 ? SIMPLE : NEEDS_TREE_SITTER.replace("amd64", `a${i}`));
  });

  test("prints what the in-process CLI prints, for a file of common shell and one that needs tree-sitter", async () => {
    for (const args of [["simple/Dockerfile"], ["test/Dockerfile"], ["--format", "json", "simple", "test"]]) {
      const b = bundled(args);
      const p = await inProcess([...args, "--jobs", "1"]);
      expect(b.stderr).toBe(p.stderr);
      expect(b.stdout).toBe(p.stdout);
      expect(b.code).toBe(p.code);
    }
  });

  test("gives the same result from worker threads", async () => {
    const b = bundled(["--format", "jsonl", "--jobs", "2", "many"]);
    const p = await inProcess(["--format", "jsonl", "--jobs", "0", "many"]);
    expect(withoutTimings(b.stdout)).toBe(withoutTimings(p.stdout));
    expect(b.stdout.split("\n").filter(Boolean).length).toBe(61);
  });

  test("writes V8's code cache once, reuses it, and replaces a damaged one", () => {
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const first = bundled(["simple/Dockerfile"]);
    const files = fs.readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    const cacheFile = path.join(cacheDir, files[0]);
    const written = fs.statSync(cacheFile).mtimeMs;
    expect(bundled(["simple/Dockerfile"])).toEqual(first);
    expect(fs.statSync(cacheFile).mtimeMs).toBe(written);

    fs.writeFileSync(cacheFile, "not a code cache");
    expect(bundled(["simple/Dockerfile"])).toEqual(first);
    expect(fs.readFileSync(cacheFile, "utf8")).not.toBe("not a code cache");

    fs.rmSync(cacheDir, { recursive: true, force: true });
    expect(bundled(["simple/Dockerfile"], { DFOPT_COMPILE_CACHE: "off" })).toEqual(first);
    expect(fs.existsSync(cacheDir)).toBe(false);
  });

  test("keeps only the code caches used last", () => {
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.mkdirSync(cacheDir);
    const day = 24 * 3600;
    for (let i = 1; i <= 6; i++) {
      const stale = path.join(cacheDir, `stale-${i}.bin`);
      fs.writeFileSync(stale, "an older build's cache");
      fs.utimesSync(stale, Date.now() / 1000 - i * day, Date.now() / 1000 - i * day);
    }
    bundled(["simple/Dockerfile"]);
    const left = fs.readdirSync(cacheDir).sort();
    expect(left).toHaveLength(4);
    expect(left.filter((f) => f.startsWith("stale-"))).toEqual(["stale-1.bin", "stale-2.bin", "stale-3.bin"]);
  });

  test("never runs a code cache another user could have planted (a shared /tmp folder, a link, a foreign file)", () => {
    // The default folder is $TMPDIR/dfopt-compile-cache-<uid>: in a shared /tmp anyone can create
    // it first. V8 checks only the source's length against a cache, so a cache compiled from
    // other code of the same length runs that code instead of dfopt.
    const tmp = path.join(dir, "shared-tmp");
    fs.mkdirSync(tmp, { recursive: true });
    const env = { ...process.env, TMPDIR: tmp, NO_COLOR: "1" } as Record<string, string>;
    delete env.DFOPT_COMPILE_CACHE;
    const run = () => spawnSync(process.execPath, [BIN, "--version"], { cwd: dir, encoding: "utf8", env });
    const version = run();
    expect(version.status).toBe(0);
    const own = path.join(tmp, `dfopt-compile-cache-${process.getuid!()}`);
    const [name] = fs.readdirSync(own);
    expect(name).toMatch(/\.bin$/);
    const plant = (folder: string) => {
      // A cache compiled, in a Node of the same flags, from a same-length bundle that prints PLANTED.
      const script = `
        const fs = require("fs"), vm = require("vm");
        const bundle = ${JSON.stringify(path.join(ROOT, "dist/dfopt.cjs"))};
        const length = fs.readFileSync(bundle, "utf8").length;
        const evil = 'process.stdout.write("PLANTED\\\\n"); process.exit(0);';
        const src = evil + " ".repeat(length - evil.length);
        const s = new vm.Script("(function (exports, require, module, __filename, __dirname) { " + src + "\\n});", { filename: bundle });
        fs.writeFileSync(${JSON.stringify(path.join(folder, name))}, s.createCachedData());`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
      expect(r.stderr).toBe("");
    };
    // The planted cache does run when the folder is the user's own (what makes the attack work).
    plant(own);
    expect(run().stdout).toBe("PLANTED\n");

    // A folder others can write to.
    fs.rmSync(own, { recursive: true });
    fs.mkdirSync(own);
    fs.chmodSync(own, 0o777);
    plant(own);
    expect(run().stdout).toBe(version.stdout);
    expect(fs.readFileSync(path.join(own, name), "utf8")).toContain("PLANTED");

    // A link to a folder holding the planted cache.
    fs.rmSync(own, { recursive: true });
    const elsewhere = path.join(dir, "elsewhere");
    fs.mkdirSync(elsewhere, { recursive: true });
    plant(elsewhere);
    fs.symlinkSync(elsewhere, own);
    expect(run().stdout).toBe(version.stdout);
    fs.rmSync(own);

    // A cache file others can write to, or a link to one, in the user's own folder.
    fs.mkdirSync(own, { mode: 0o700 });
    plant(own);
    fs.chmodSync(path.join(own, name), 0o666);
    expect(run().stdout).toBe(version.stdout);
    fs.rmSync(path.join(own, name));
    fs.symlinkSync(path.join(elsewhere, name), path.join(own, name));
    expect(run().stdout).toBe(version.stdout);
    fs.rmSync(own, { recursive: true });

    // Run as root: a folder that another user made, even one only they can write to.
    if (process.getuid!() === 0) {
      fs.mkdirSync(own, { mode: 0o700 });
      plant(own);
      fs.chownSync(path.join(own, name), 1234, 1234);
      fs.chownSync(own, 1234, 1234);
      expect(run().stdout).toBe(version.stdout);
      fs.rmSync(own, { recursive: true });
    }
  });

  test("a one-file run loads neither Node's ESM loader nor built-ins it does not use (1-15 ms each)", () => {
    expect(fs.readFileSync(BIN, "utf8")).toContain("require(launcher)");
    const report = `process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(process.moduleLoadList)))`;
    const r = spawnSync(
      process.execPath,
      ["-e", `${report}; require(${JSON.stringify(BIN)})`, "dfopt", "simple/Dockerfile"],
      { cwd: dir, encoding: "utf8", env: { ...process.env, DFOPT_COMPILE_CACHE: cacheDir } },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("+++ b/simple/Dockerfile");
    const loaded: string[] = JSON.parse(r.stderr.slice(r.stderr.lastIndexOf("LOADED ") + 7));
    const heavy = ["child_process", "worker_threads", "perf_hooks", "crypto"].map((m) => `NativeModule ${m}`);
    expect(loaded.filter((m) => m.includes("esm/module_job") || heavy.includes(m))).toEqual([]);
    expect(loaded).toContain("NativeModule vm");
  });

  test("the bundles are ASCII, so Node reads them as one-byte strings (one non-ASCII character in a comment doubles that)", () => {
    for (const file of ["dist/dfopt.cjs", "dist/cli.cjs", "dist/worker.js"]) {
      const bytes = fs.readFileSync(path.join(ROOT, file));
      const at = bytes.findIndex((b) => b > 0x7f);
      expect({ file, at }).toEqual({ file, at: -1 });
    }
  });
});

test.skipIf(built)("bundle tests skipped: dist/ is not built (run `npm run build`)", () => {});
