import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { ConfigError, optimize, optimizeFiles, PluginError } from "../src/api.ts";
import { loadParsers } from "../src/engine/engine.ts";
import { dfopt, tree } from "./cli-run.ts";

beforeAll(loadParsers);

const EXAMPLE = path.resolve(import.meta.dirname, "../examples/node-api");
const exampleFiles = () => {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(EXAMPLE, { recursive: true }) as string[]) {
    const abs = path.join(EXAMPLE, name);
    if (fs.statSync(abs).isFile()) files[name.split(path.sep).join("/")] = fs.readFileSync(abs, "utf8");
  }
  return files;
};

describe("optimize()", () => {
  test("gives the JSON report's entry for the file, plus the output, from a folder or the same files in memory", async () => {
    const files = exampleFiles();
    const dir = tree(files);
    const cli = await dfopt(["--format", "json", "--unsafe", "Dockerfile"], dir);
    const { sideFiles: entrySideFiles, ...entry } = JSON.parse(cli.stdout).files[0];
    const text = files.Dockerfile;
    const fromFolder = await optimize(text, { path: "Dockerfile", cwd: dir, safe: false });
    const inMemory = await optimize(text, {
      path: path.join(dir, "Dockerfile"),
      cwd: dir,
      context: files,
      safe: false,
    });
    for (const result of [fromFolder, inMemory]) {
      const { output, sideFiles, ...rest } = result;
      expect(rest).toEqual(entry);
      expect(sideFiles.map(({ content: _, ...f }) => f)).toEqual(entrySideFiles);
      expect(sideFiles[0].content).toMatch(/^# Created by dfopt/);
      expect(output).toMatch(/^ARG NODE_VERSION=20\n/);
    }
    // The output is what --write writes.
    expect((await dfopt(["--write", "--unsafe", "Dockerfile"], dir)).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8")).toBe(fromFolder.output);
  });

  test("takes only/skip, config keys and a config file; reads no config without a path", async () => {
    const text = "from node:latest\nRUN npm install\n";
    const context = { "package.json": '{"engines":{"node":">=20"}}' };
    const only = await optimize(text, { context, only: ["instruction-case"] });
    expect(only.output).toBe("FROM node:latest\nRUN npm install\n");
    const toggled = await optimize(text, {
      context,
      transforms: { "instruction-case": false },
      only: undefined,
    });
    expect(toggled.changes.map((c) => c.transform)).not.toContain("instruction-case");
    const dir = tree({
      "dfopt.config.json": JSON.stringify({ transforms: { "pin-tags": false } }),
      ...context,
    });
    const searched = await optimize(text, { path: "Dockerfile", cwd: dir, safe: false });
    expect(searched.changes.map((c) => c.transform)).not.toContain("pin-tags");
    const none = await optimize(text, { path: "Dockerfile", cwd: dir, config: false, safe: false });
    expect(none.changes.map((c) => c.transform)).toContain("pin-tags");
    const named = await optimize(text, { context, cwd: dir, config: "dfopt.config.json", safe: false });
    expect(named.changes.map((c) => c.transform)).not.toContain("pin-tags");
  });

  test("a file dfopt cannot process resolves with its error and the input as output", async () => {
    const r = await optimize("FROM alpine:3.20\nFORM x\n");
    expect(r.error).toEqual({ kind: "unknown-instruction", message: "unknown instruction 'FORM'", line: 2 });
    expect(r.output).toBe("FROM alpine:3.20\nFORM x\n");
    expect(r.changed).toBe(false);
  });

  test("bad options reject with ConfigError or PluginError", async () => {
    await expect(optimize("FROM x\n", { only: ["nope"] })).rejects.toThrow(ConfigError);
    await expect(optimize("FROM x\n", { mergeRuns: "some" as "all" })).rejects.toThrow(/'mergeRuns' must be/);
    await expect(optimize("FROM x\n", { plugins: ["/nonexistent/p.mjs"] })).rejects.toThrow(PluginError);
  });
});

describe("optimizeFiles()", () => {
  test("processes every Dockerfile under the paths in worker threads, and writes with write: true", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 26; i++) files[`svc${i}/Dockerfile`] = "FROM debian:12\nMAINTAINER me\n";
    files["bad/Dockerfile"] = "";
    const dir = tree(files);
    const seen: string[] = [];
    const dry = await optimizeFiles(["."], {
      cwd: dir,
      jobs: 2,
      only: ["maintainer-to-label"],
      onFile: (f) => seen.push(f.path),
    });
    expect(dry.summary).toEqual({ files: 27, changed: 26, errors: 1 });
    expect(seen).toEqual(dry.files.map((f) => f.path));
    const svc = dry.files.find((f) => f.path === "svc0/Dockerfile")!;
    expect(svc.diff).toContain("--- a/svc0/Dockerfile");
    expect(dry.files.find((f) => f.path === "bad/Dockerfile")!.error?.kind).toBe("empty");
    expect(fs.readFileSync(path.join(dir, "svc0/Dockerfile"), "utf8")).toBe(files["svc0/Dockerfile"]);
    const written = await optimizeFiles(["svc0", "missing"], {
      cwd: dir,
      write: true,
      only: ["maintainer-to-label"],
    });
    expect(written.problems.map((p) => p.path)).toEqual([path.join(dir, "missing")]);
    expect(fs.readFileSync(path.join(dir, "svc0/Dockerfile"), "utf8")).toBe(written.files[0].output);
    expect(written.files[0].output).not.toBe(files["svc0/Dockerfile"]);
  });
});
