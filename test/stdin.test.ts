import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { beforeAll, describe, expect, test } from "vitest";
import { main } from "../src/cli/main.ts";
import { loadParsers } from "../src/engine/engine.ts";
import { tree } from "./cli-run.ts";
import { textSink } from "./text-sink.ts";

beforeAll(loadParsers);

/** The CLI with `input` on stdin, as an editor runs it. */
async function piped(args: string[], input: string, cwd: string) {
  const out = textSink();
  const err = textSink();
  const stdin = Readable.from([Buffer.from(input)]);
  const code = await main(args, { stdin, stdout: out.stream, stderr: err.stream, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

// pin-tags pins `node:latest` to the major version package.json declares: the
// build context must come from --stdin-filepath's folder for it to know.
const UNPINNED = "FROM node:latest\r\nCMD node server.js\r\n";
const project = () =>
  tree({
    "api/package.json": JSON.stringify({ engines: { node: "^20.1" } }),
    "legacy/dfopt.config.json": JSON.stringify({ exclude: ["Dockerfile"] }),
  });

describe("--stdin with --stdin-filepath", () => {
  test("prints only the rewritten text, with the config and build context of the path", async () => {
    const dir = project();
    const r = await piped(
      ["--stdin", "--stdin-filepath", "api/Dockerfile", "--unsafe", "--only", "pin-tags"],
      UNPINNED,
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("FROM node:20\r\nCMD node server.js\r\n");
    expect(fs.existsSync(path.join(dir, "api/Dockerfile"))).toBe(false);
    // Without the path, the current folder has no package.json: another version.
    const bare = await piped(["--stdin", "--unsafe", "--only", "pin-tags"], UNPINNED, dir);
    expect(bare.stdout).toMatch(/^FROM node:\d+\r\n/);
    expect(bare.stdout).not.toBe(r.stdout);
    // legacy/dfopt.config.json excludes its Dockerfile: the text comes back as it was.
    const excluded = await piped(["--stdin", "--stdin-filepath", "legacy/Dockerfile"], UNPINNED, dir);
    expect(excluded).toEqual({ code: 0, stdout: UNPINNED, stderr: "" });
  });

  test("unchanged text comes back as it was; --check exits 1 when it would change", async () => {
    const dir = project();
    const same = "FROM node:20\nCMD node server.js\n";
    const r = await piped(
      ["--stdin", "--stdin-filepath", "api/Dockerfile", "--unsafe", "--only", "pin-tags"],
      same,
      dir,
    );
    expect(r).toEqual({ code: 0, stdout: same, stderr: "" });
    const check = await piped(
      ["--stdin", "--stdin-filepath", "api/Dockerfile", "--check", "--unsafe", "--only", "pin-tags"],
      UNPINNED,
      dir,
    );
    expect(check.code).toBe(1);
  });

  test("a Dockerfile dfopt cannot process prints nothing and exits 2; side files are only named", async () => {
    const dir = project();
    const bad = await piped(
      ["--stdin", "--stdin-filepath", "api/Dockerfile"],
      "FROM alpine:3.20\nFORM x\n",
      dir,
    );
    expect(bad).toEqual({
      code: 2,
      stdout: "",
      stderr: "dfopt: api/Dockerfile:2: error: unknown instruction 'FORM'\n",
    });
    const side = await piped(
      ["--stdin", "--stdin-filepath", "api/Dockerfile", "--only", "dockerignore"],
      UNPINNED,
      dir,
    );
    expect(side.stdout).toBe(UNPINNED);
    expect(side.stderr).toMatch(/^api\/\.dockerignore: not written with --stdin: create \.dockerignore/);
    expect(fs.existsSync(path.join(dir, "api/.dockerignore"))).toBe(false);
  });

  test("usage errors: paths, --write, --format, or --stdin-filepath alone", async () => {
    const dir = project();
    for (const args of [
      ["--stdin", "api"],
      ["--stdin", "--write"],
      ["--stdin", "--format", "json"],
      ["--stdin-filepath", "api/Dockerfile"],
    ]) {
      const r = await piped(args, UNPINNED, dir);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
    }
  });
});
