import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { fallbackParserReady } from "../src/engine/parse.ts";
import { shellReady } from "../src/engine/shell.ts";
import { emptyContext } from "../src/io/context.ts";
import { processAll } from "../src/io/pool.ts";
import { dryRunSettings, type FileReport } from "../src/io/process.ts";
import { TRANSFORMS } from "../transforms/index.ts";

// This file must not load the parsers up front: it checks that tree-sitter
// and dockerfile-ast are loaded only when a file needs them, and that the
// result is the same either way.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-lazy-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// every change, as optimizeFile makes them by default
const settings = dryRunSettings(dir, { safe: false });

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

async function runOne(file: string): Promise<FileReport> {
  const out: FileReport[] = [];
  await processAll([file], settings, 1, (r) => out.push(r));
  return out[0];
}

const SIMPLE = "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl && echo done\n";
const NEEDS_TREE_SITTER =
  'FROM ubuntu:22.04\nRUN if [[ "$(uname -m)" == x86_64 ]]; then echo amd64; else echo other; fi\nRUN apt-get update && apt-get install -y curl\n';

describe("tree-sitter is loaded only when a script needs it", () => {
  it("a file of common shell runs without loading it (nor dockerfile-ast)", async () => {
    expect(shellReady()).toBe(false);
    expect(fallbackParserReady()).toBe(false);
    const report = await runOne(write("simple.Dockerfile", SIMPLE));
    expect(report.error).toBeNull();
    expect(report.changed).toBe(true);
    expect(shellReady()).toBe(false);
    expect(fallbackParserReady()).toBe(false);
  });

  it("a file with a [[ ]] test loads it, and gets the same result as with it loaded first", async () => {
    const file = write("test.Dockerfile", NEEDS_TREE_SITTER);
    const lazy = await runOne(file);
    expect(shellReady()).toBe(true);
    expect(lazy.error).toBeNull();
    const eager = await runOne(file);
    expect(lazy).toEqual(eager);
    const defaults = TRANSFORMS.filter((t) => !t.defaultOff);
    const direct = optimizeFile(NEEDS_TREE_SITTER, emptyContext, { transforms: defaults });
    expect(lazy.changes).toEqual(direct.changes);
  });
});

const HEREDOC =
  "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\nCOPY <<EOF /etc/motd\nhello\nEOF\nMAINTAINER someone\n";

describe("dockerfile-ast (the fallback reader) is loaded only when a file needs it", () => {
  it("a file with a heredoc loads it, and gets the same result as with it loaded first", async () => {
    expect(fallbackParserReady()).toBe(false);
    const lazy = await runOne(write("heredoc.Dockerfile", HEREDOC));
    expect(fallbackParserReady()).toBe(true);
    expect(lazy.error).toBeNull();
    expect(lazy.changed).toBe(true);
    expect(await runOne(write("heredoc.Dockerfile", HEREDOC))).toEqual(lazy);
    await loadParsers();
    const defaults = TRANSFORMS.filter((t) => !t.defaultOff);
    const direct = optimizeFile(HEREDOC, emptyContext, { transforms: defaults });
    expect(lazy.changes).toEqual(direct.changes);
  });
});
