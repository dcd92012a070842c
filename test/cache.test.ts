import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers } from "../src/engine/engine.ts";
import { entryPath } from "../src/io/cache.ts";
import { dfopt, tree } from "./cli-run.ts";
import { withoutTimings } from "./text-sink.ts";

beforeAll(loadParsers);

const APT = "FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\n";
const fromCache = (stderr: string) => /\((\d+) from the cache\)/.exec(stderr)?.[1] ?? "0";
const cacheEntries = (dir: string) =>
  (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".json"));

describe("--cache", () => {
  test("a second run takes every report from the cache, and prints the same output", async () => {
    const dir = tree({ "a/Dockerfile": APT, "b/Dockerfile": "FROM alpine\nRUN apk add curl\n" });
    const first = await dfopt(["--unsafe", "--format", "json", "--cache", "."], dir);
    const second = await dfopt(["--unsafe", "--format", "json", "--cache", "."], dir);
    expect(first.code).toBe(0);
    expect(fromCache(first.stderr)).toBe("0");
    expect(fromCache(second.stderr)).toBe("2");
    expect(withoutTimings(second.stdout)).toBe(withoutTimings(first.stdout));
    expect(JSON.parse(first.stdout).files).toHaveLength(2);
    expect(cacheEntries(path.join(dir, "node_modules/.cache/dfopt"))).toHaveLength(2);
  });

  test("a Dockerfile that changed is processed again", async () => {
    const dir = tree({ "a/Dockerfile": APT, "b/Dockerfile": APT });
    await dfopt(["--unsafe", "--cache", "."], dir);
    fs.writeFileSync(path.join(dir, "b/Dockerfile"), APT.replace("curl", "wget"));
    const r = await dfopt(["--unsafe", "--cache", "."], dir);
    expect(fromCache(r.stderr)).toBe("1");
    expect(r.stdout).toContain(
      "+RUN apt-get update && apt-get install -y --no-install-recommends wget ca-certificates",
    );
  });

  test("a changed context file invalidates every report that read it, also one that got it from a memo", async () => {
    // Both Dockerfiles share one context: the second reads .nvmrc through the
    // memo filled by the first, and must still depend on it.
    const dir = tree({
      "app/Dockerfile": 'FROM node\nCMD ["node", "x.js"]\n',
      "app/web.Dockerfile": 'FROM node:latest\nCMD ["node", "y.js"]\n',
      "app/.nvmrc": "20\n",
    });
    const first = await dfopt(["--unsafe", "--only", "pin-tags", "--cache", "app"], dir);
    expect(first.stdout.match(/\+FROM node:20/g)).toHaveLength(2);
    fs.writeFileSync(path.join(dir, "app/.nvmrc"), "22\n");
    const second = await dfopt(["--unsafe", "--only", "pin-tags", "--cache", "app"], dir);
    expect(fromCache(second.stderr)).toBe("0");
    expect(second.stdout.match(/\+FROM node:22/g)).toHaveLength(2);
    const third = await dfopt(["--unsafe", "--only", "pin-tags", "--cache", "app"], dir);
    expect(fromCache(third.stderr)).toBe("2");
    expect(third.stdout).toBe(second.stdout);
  });

  test("a new entry in the folder invalidates a report that read the folder's listing", async () => {
    const dir = tree({ "svc/Dockerfile": APT });
    const first = await dfopt(
      ["--only", "dockerignore", "--format", "json", "--cache", "svc/Dockerfile"],
      dir,
    );
    expect(JSON.parse(first.stdout).files[0].sideFiles[0].path).toBe("svc/.dockerignore");
    fs.writeFileSync(path.join(dir, "svc/worker.Dockerfile"), APT);
    const second = await dfopt(
      ["--only", "dockerignore", "--format", "json", "--cache", "svc/Dockerfile"],
      dir,
    );
    expect(fromCache(second.stderr)).toBe("0");
    const report = JSON.parse(second.stdout).files[0];
    expect(report.changed).toBe(false);
    expect(report.refusals[0].reason).toMatch(/holds 2 Dockerfiles/);
  });

  test("the config, the transforms chosen and the options are part of what a report rests on", async () => {
    const dir = tree({ "a/Dockerfile": APT });
    const first = await dfopt(["--unsafe", "--cache", "."], dir);
    expect(first.stdout).toContain(
      "+RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates",
    );
    expect(fromCache((await dfopt(["--unsafe", "--cache", "."], dir)).stderr)).toBe("1");
    expect(fromCache((await dfopt(["--unsafe", "--cache", "--only", "apt-get-yes", "."], dir)).stderr)).toBe(
      "0",
    );
    expect(fromCache((await dfopt(["--unsafe", "--cache", "--merge-runs", "all", "."], dir)).stderr)).toBe(
      "0",
    );
    fs.writeFileSync(
      path.join(dir, "dfopt.config.json"),
      JSON.stringify({ transforms: { "apt-get-update-alone": false } }),
    );
    const r = await dfopt(["--unsafe", "--cache", "."], dir);
    expect(fromCache(r.stderr)).toBe("0");
    expect(r.stdout).not.toContain("apt-get update && apt-get install");
  });

  test("--write writes a change the cache knows, then keeps the unchanged result", async () => {
    const dir = tree({ "a/Dockerfile": APT });
    await dfopt(["--unsafe", "--skip", "dockerignore", "--cache", "."], dir);
    const write = await dfopt(["--unsafe", "--skip", "dockerignore", "--write", "--cache", "."], dir);
    expect(write.stdout).toBe("wrote a/Dockerfile\n");
    expect(fromCache(write.stderr)).toBe("0");
    const written = fs.readFileSync(path.join(dir, "a/Dockerfile"), "utf8");
    expect(written).not.toBe(APT);
    // The next run processes the new text and keeps its "nothing to change".
    await dfopt(["--unsafe", "--skip", "dockerignore", "--write", "--cache", "."], dir);
    const again = await dfopt(["--unsafe", "--skip", "dockerignore", "--write", "--cache", "."], dir);
    expect(again.stdout).toBe("");
    expect(fromCache(again.stderr)).toBe("1");
    expect(fs.readFileSync(path.join(dir, "a/Dockerfile"), "utf8")).toBe(written);
  });

  test("--check answers from the cache with the same list and exit code", async () => {
    const dir = tree({ "a/Dockerfile": APT, "b/Dockerfile": "FROM scratch\nCOPY x /x\n" });
    const first = await dfopt(["--unsafe", "--only", "apt-get-update-alone", "--check", "--cache", "."], dir);
    const second = await dfopt(
      ["--unsafe", "--only", "apt-get-update-alone", "--check", "--cache", "."],
      dir,
    );
    expect(first.code).toBe(1);
    expect(second.code).toBe(1);
    expect(first.stdout).toBe("a/Dockerfile\n");
    expect(second.stdout).toBe(first.stdout);
    expect(fromCache(second.stderr)).toBe("2");
  });

  test("an entry that cannot be read is processed again and rewritten", async () => {
    const dir = tree({ "a/Dockerfile": APT });
    const first = await dfopt(["--unsafe", "--cache-location", "cache", "."], dir);
    const [entry] = cacheEntries(path.join(dir, "cache"));
    fs.writeFileSync(path.join(dir, "cache", entry), '{"format":1,"key":');
    const second = await dfopt(["--unsafe", "--cache-location", "cache", "."], dir);
    expect(fromCache(second.stderr)).toBe("0");
    expect(second.stdout).toBe(first.stdout);
    expect(fromCache((await dfopt(["--unsafe", "--cache-location", "cache", "."], dir)).stderr)).toBe("1");
  });

  test("an entry that cannot be written costs only the reuse: the run goes on and leaves no temporary file", async () => {
    const dir = tree({ "a/Dockerfile": APT });
    const cache = path.join(dir, "cache");
    const entry = entryPath(cache, path.join(dir, "a/Dockerfile"));
    fs.mkdirSync(entry, { recursive: true }); // a folder where the entry would go: the rename fails
    const first = await dfopt(["--unsafe", "--cache-location", "cache", "."], dir);
    const second = await dfopt(["--unsafe", "--cache-location", "cache", "."], dir);
    expect(first.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(fromCache(second.stderr)).toBe("0");
    expect(fs.readdirSync(path.dirname(entry))).toEqual([path.basename(entry)]);
  });

  test("a cache folder that cannot be made is a usage error naming it", async () => {
    const dir = tree({ "a/Dockerfile": APT, taken: "a file, not a folder" });
    const r = await dfopt(["--unsafe", "--cache-location", "taken/cache", "."], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--cache: cannot use ${path.join(dir, "taken/cache")}`);
    expect(r.stdout).toBe("");
  });

  test("a cache folder deleted between two runs of one process is filled again", async () => {
    const dir = tree({ "a/Dockerfile": APT });
    await dfopt(["--unsafe", "--cache", "."], dir);
    fs.rmSync(path.join(dir, "node_modules/.cache/dfopt"), { recursive: true });
    await dfopt(["--unsafe", "--cache", "."], dir);
    expect(cacheEntries(path.join(dir, "node_modules/.cache/dfopt"))).toHaveLength(1);
    expect(fromCache((await dfopt(["--unsafe", "--cache", "."], dir)).stderr)).toBe("1");
  });

  test("worker threads read and write the same entries", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`s${i}/Dockerfile`] = APT.replace("curl", `pkg${i}`);
    const dir = tree(files);
    const first = await dfopt(["--unsafe", "--format", "json", "--jobs", "2", "--cache", "."], dir);
    const second = await dfopt(["--unsafe", "--format", "json", "--jobs", "2", "--cache", "."], dir);
    expect(fromCache(second.stderr)).toBe("30");
    expect(withoutTimings(second.stdout)).toBe(withoutTimings(first.stdout));
  });
});
