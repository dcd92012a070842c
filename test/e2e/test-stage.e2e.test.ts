/**
 * The seed article's test stage, built for real: buildah (like BuildKit) skips a stage nothing uses,
 * so the original ships an app whose tests fail; after dfopt's test-stage repair the same failing
 * test fails the build, and a passing one builds an image that runs the same.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { folderContext } from "../../src/io/context.ts";
import type { Builder } from "../../src/verify/builder.ts";
import { TRANSFORMS } from "../../transforms/index.ts";
import { ROOT, setUpBuildah, WORK } from "./buildah-env.ts";

const APP = path.join(ROOT, "fixtures/e2e-cases/test-stage");
let builder: Builder;

beforeAll(async () => {
  builder = setUpBuildah().builder;
  await loadParsers();
});

/** A copy of the app in WORK with `sum.js` replaced, and dfopt's rewrite of its Dockerfile beside it. */
function appCopy(name: string, sum: string): { dir: string; rewritten: string } {
  const dir = path.join(WORK, "test-stage", name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(APP, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "sum.js"), sum);
  const original = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
  const result = optimizeFile(original, folderContext(dir), { transforms: TRANSFORMS });
  expect(result.error).toBeNull();
  expect(result.changes.map((c) => c.transform)).toContain("test-stage");
  const rewritten = path.join(dir, "Dockerfile.dfopt");
  fs.writeFileSync(rewritten, result.output);
  return { dir, rewritten };
}

test("a failing test: the original build skips it and succeeds, the rewrite fails on it", async () => {
  const { dir, rewritten } = appCopy("failing", "module.exports = (a, b) => a - b;\n");
  const tags = [
    "localhost/dfopt-e2e/test-stage:failing-original",
    "localhost/dfopt-e2e/test-stage:failing-dfopt",
  ];
  try {
    const original = await builder.build(path.join(dir, "Dockerfile"), dir, tags[0], { noCache: true });
    expect(original.error).toBeNull();
    const repaired = await builder.build(rewritten, dir, tags[1], { noCache: true });
    expect(repaired.ok).toBe(false);
    expect(repaired.error).toContain("FAIL: sum(2, 2) is 0");
  } finally {
    await builder.remove(tags);
  }
});

test("a passing test: the rewrite builds and the image prints the same", async () => {
  const { dir, rewritten } = appCopy("passing", "module.exports = (a, b) => a + b;\n");
  const tags = [
    "localhost/dfopt-e2e/test-stage:passing-original",
    "localhost/dfopt-e2e/test-stage:passing-dfopt",
  ];
  try {
    const before = await builder.build(path.join(dir, "Dockerfile"), dir, tags[0], { noCache: true });
    expect(before.error).toBeNull();
    const after = await builder.build(rewritten, dir, tags[1], { noCache: true });
    expect(after.error).toBeNull();
    const runs = [];
    for (const tag of tags) runs.push(await builder.run(tag, { timeoutMs: 60_000 }));
    for (const run of runs) expect(run.exitCode).toBe(0);
    expect(runs[1].stdout).toBe(runs[0].stdout);
    expect(runs[0].stdout.trim()).toBe("4");
  } finally {
    await builder.remove(tags);
  }
});
