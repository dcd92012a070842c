/**
 * End-to-end `dfopt --write --verify` with buildah: each app in fixtures/e2e/ladder/ is verified by
 * real builds against the local stand-in base images (as the CLI runs it, on a copy of the app). Its
 * e2e.json says which rung must be kept and which must have failed first, so CI proves that the
 * ladder falls back. Run with `npx vitest run -c vitest.e2e.config.ts` as root (scripts/e2e/ci.sh).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import { main } from "../../src/cli/main.ts";
import { textSink } from "../text-sink.ts";
import { useStandInStorage, WORK } from "./buildah-env.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CASES_DIR = path.join(ROOT, "fixtures/e2e/ladder");

interface Expectation {
  why: string;
  /** Substring of the ORIGINAL image's output (the app itself works). */
  expect: string;
  /** The rung kept. */
  kept: string;
  /** Rungs that must have been tried and failed before it. */
  failed: string[];
}

const cases = fs
  .readdirSync(CASES_DIR)
  .filter((d) => fs.existsSync(path.join(CASES_DIR, d, "Dockerfile")))
  .sort();

beforeAll(useStandInStorage);

test.each(cases)("%s: --verify keeps the expected rung", async (name) => {
  const want = JSON.parse(fs.readFileSync(path.join(CASES_DIR, name, "e2e.json"), "utf8")) as Expectation;
  const app = fs.mkdtempSync(path.join(os.tmpdir(), `dfopt-ladder-${name}-`));
  try {
    fs.cpSync(path.join(CASES_DIR, name), app, { recursive: true });
    fs.rmSync(path.join(app, "e2e.json"));
    const original = fs.readFileSync(path.join(app, "Dockerfile"), "utf8");
    const out = textSink();
    const err = textSink();
    const code = await main(
      ["--write", "--verify", "--builder", "buildah", "--format", "json", "Dockerfile", "--jobs", "0"],
      { stdout: out.stream, stderr: err.stream, cwd: app },
    );
    process.stderr.write(err.text().replace(/^/gm, `[${name}] `));
    expect(code, err.text()).toBe(0);
    const file = JSON.parse(out.text()).files[0];
    fs.mkdirSync(path.join(WORK, "results"), { recursive: true });
    fs.writeFileSync(path.join(WORK, "results", `ladder-${name}.json`), JSON.stringify(file, null, 2));
    const v = file.verify;
    expect(v.originalBuilds, v.reason).toBe(true);
    expect(v.originalOutput).toContain(want.expect);
    expect(v.verified, `${want.why}: ${v.reason}`).toBe(true);
    expect(v.kept).toBe(want.kept);
    const failed = v.candidates.filter((c: { outcome: string }) => c.outcome === "failed");
    expect(failed.map((c: { rung: string }) => c.rung)).toEqual(want.failed);
    for (const c of failed) expect(c.reason, c.rung).toBeTruthy();
    expect(v.newBytes).toBeLessThan(v.originalBytes);
    // what --write wrote is the kept candidate, and only with the proof
    const written = fs.readFileSync(path.join(app, "Dockerfile"), "utf8");
    expect(written).not.toBe(original);
    expect(file.changed).toBe(true);
    // nothing of the run is left in the storage
    const images = execFileSync("buildah", ["images", "--format", "{{.Name}}"], { encoding: "utf8" });
    expect(images).not.toContain("dfopt-verify-");
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
});
