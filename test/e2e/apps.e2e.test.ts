/**
 * End-to-end: every app in fixtures/e2e/ is rewritten by dfopt (all registered transforms), then the
 * original and the rewritten Dockerfile are really built with buildah against local stand-in base
 * images, both images are run, and their output compared. A fixture fails when the rewrite does not
 * build, does not give the same output, or is not smaller. Run with `npx vitest run -c vitest.e2e.config.ts`
 * as root with buildah + debootstrap installed (scripts/e2e/ci.sh sets all of that up).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../../src/engine/engine.ts";
import { folderContext } from "../../src/io/context.ts";
import type { Builder } from "../../src/verify/builder.ts";
import { compareBuilds, type Comparison } from "../../src/verify/compare.ts";
import { comparisonJson, renderE2eMarkdown, type E2eRow } from "../../src/verify/report.ts";
import { TRANSFORMS } from "../../transforms/index.ts";
import { ROOT, setUpBuildah, WORK } from "./buildah-env.ts";

const APPS_DIR = path.join(ROOT, "fixtures/e2e");
const RESULTS_DIR = path.join(WORK, "results");
const DOCS = path.join(ROOT, "docs/e2e-results.md");

interface Manifest {
  ecosystem: string;
  /** Source file changed before the rebuild measurement. */
  touch: string;
  comment: string;
  /** Substring the ORIGINAL image's output must contain (sanity check of the app itself). */
  expect: string;
  http?: { port: number; path: string };
}

const apps = fs
  .readdirSync(APPS_DIR)
  .filter((d) => fs.existsSync(path.join(APPS_DIR, d, "Dockerfile")))
  .sort();
const rows: E2eRow[] = [];
let builder: Builder;
let builderVersion = "";

beforeAll(async () => {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  ({ builder, version: builderVersion } = setUpBuildah());
  await loadParsers();
});

afterAll(() => {
  const write = process.env.DFOPT_E2E_DOCS ?? (rows.length === apps.length ? "1" : "0");
  if (write !== "1" || rows.length === 0) return;
  const notes = [
    "Base images are local stand-ins built by `scripts/e2e/base-images.sh` from Debian bookworm packages (node:20 carries the host's Node 20; golang:1.19 is Debian's Go 1.19.8; eclipse-temurin is Debian OpenJDK 17; python:3.11 is Debian's 3.11.2; rust:1.85 is Debian's rustc-web 1.85.0; distroless images are assembled from Debian files, nodejs20-debian12 with the host's Node 20 binary). Absolute sizes differ from the registry images; the comparison between original and rewrite is what counts.",
    "Build times are cold (layer cache pruned before each build, base images kept) on 2 shared cores, so they are noisy; rebuild = build again with the layer cache after appending a comment to one source file (the same file for both).",
    `Per-app details (rewritten Dockerfile, outputs, build errors): \`${RESULTS_DIR}/<app>.json\` after a run.`,
  ];
  fs.mkdirSync(path.dirname(DOCS), { recursive: true });
  fs.writeFileSync(
    DOCS,
    renderE2eMarkdown(rows, {
      date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
      builder: builderVersion,
      command: process.env.DFOPT_E2E_COMMAND ?? "scripts/e2e/ci.sh (vitest -c vitest.e2e.config.ts)",
      notes,
    }),
  );
});

function failureOf(c: Comparison, m: Manifest): string | null {
  if (!c.before.build.ok) return `the ORIGINAL did not build (fixture problem): ${c.before.build.error}`;
  if (!c.before.run?.ok) return `the ORIGINAL did not run (fixture problem): ${c.before.run?.error}`;
  const out = c.before.run.http ? c.before.run.http.body : c.before.run.stdout;
  if (!out.includes(m.expect))
    return `the ORIGINAL printed ${JSON.stringify(out)}, expected it to contain ${JSON.stringify(m.expect)}`;
  if (!c.after.build.ok) return `the rewritten Dockerfile did not build: ${c.after.build.error}`;
  if (!c.after.run?.ok) return `the rewritten image did not run: ${c.after.run?.error}`;
  if (c.sameOutput !== true) {
    const o = (s: typeof c.after) =>
      s.run?.http ? `HTTP ${s.run.http.status} ${s.run.http.body}` : s.run?.stdout;
    // how the rewritten run ended, to tell an app that printed nothing from output that was lost
    const ended = `exit code ${c.after.run.exitCode ?? "-"}${c.after.run.timedOut ? ", timed out" : ""}, stderr ${JSON.stringify(c.after.run.stderr.slice(-500))}`;
    return `different output: original ${JSON.stringify(o(c.before))}, rewritten ${JSON.stringify(o(c.after))} (${ended})`;
  }
  const b = c.before.image?.bytes;
  const a = c.after.image?.bytes;
  if (b == null || a == null) return "image size unknown";
  if (a >= b) return `the rewritten image is not smaller (${a} >= ${b} bytes)`;
  return null;
}

test.each(apps)("%s: rewrite builds, runs the same and is smaller", async (app) => {
  const dir = path.join(APPS_DIR, app);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "e2e.json"), "utf8")) as Manifest;
  const original = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
  const context = folderContext(dir);
  const result = optimizeFile(original, context, { transforms: TRANSFORMS });
  expect(result.error).toBeNull();
  // the rewrite must be stable: a second run over the output changes nothing
  const again = optimizeFile(result.output, context, { transforms: TRANSFORMS });
  expect(again.output).toBe(result.output);

  const applied = [...new Set(result.changes.map((c) => c.transform))];
  const refusals = result.refusals.map(
    (r) => `${r.transform}${r.line ? ` (line ${r.line})` : ""}: ${r.reason}`,
  );
  const dfopt =
    (result.changed
      ? `rewritten by ${applied.join(", ")}`
      : `not rewritten${TRANSFORMS.length === 0 ? " (no transforms registered)" : ""}`) +
    (refusals.length ? `; refusals: ${refusals.join("; ")}` : "");

  const workDir = path.join(WORK, "apps", app);
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const comparison = await compareBuilds({
    builder,
    originalText: original,
    rewrittenText: result.output,
    sideFiles: result.sideFiles,
    contextDir: dir,
    workDir,
    exclude: ["e2e.json"],
    touch: { file: manifest.touch, comment: manifest.comment },
    run: { timeoutMs: 60_000, http: manifest.http },
    tagPrefix: `localhost/dfopt-e2e/${app}`,
    cold: "prune",
    log: (l) => process.stderr.write(`[${app}] ${l}\n`),
  });
  let failure = failureOf(comparison, manifest);
  if (failure && !result.changed) failure = `dfopt did not rewrite it; ${failure}`;
  rows.push({ app, ecosystem: manifest.ecosystem, dfopt, comparison, failure });
  fs.writeFileSync(
    path.join(RESULTS_DIR, `${app}.json`),
    JSON.stringify(
      {
        app,
        dfopt,
        changes: result.changes,
        refusals: result.refusals,
        rewrittenDockerfile: result.output,
        sideFiles: result.sideFiles,
        failure,
        ...comparisonJson(comparison),
      },
      null,
      2,
    ),
  );
  expect(failure, `${app}: ${failure}`).toBeNull();
});
