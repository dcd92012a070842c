/**
 * `--verify` on the rewrite path and `dfopt verify`, against a fake builder: a script on PATH that
 * impersonates docker, podman or buildah (test/fake-builder), so the code path real builds take is
 * exercised for all three without a container engine. Real builds: test/e2e/ladder.e2e.test.ts.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { main } from "../src/cli/main.ts";
import { loadParsers } from "../src/engine/engine.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { folderContext } from "../src/io/context.ts";
import { candidatesFor, ladderFor } from "../src/verify/ladder.ts";
import { compareBuilds, outputDifference } from "../src/verify/compare.ts";
import type { Builder, RunOutcome } from "../src/verify/builder.ts";
import { differingOutputs, runRequestFor, verifyRewrite } from "../src/verify/rewrite.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { fakeState, installFakeBuilders } from "./fake-builder/install.ts";
import { textSink } from "./text-sink.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const GO_APP = path.join(ROOT, "fixtures/e2e/go-stdlib");
const BUILDERS = ["docker", "podman", "buildah"] as const;

const dirs: string[] = [];
const savedEnv = { ...process.env };
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-verify-rw-"));
  dirs.push(d);
  return d;
}
beforeEach(() => {
  for (const k of [
    "FAKE_FAIL_BUILD",
    "FAKE_BROKEN_RUN",
    "FAKE_RUN_SLEEP",
    "FAKE_PRINT_HOSTNAME",
    "FAKE_REQUIRE_ENV",
    "DFOPT_BUILDER",
  ])
    delete process.env[k];
});
afterEach(() => {
  process.env.PATH = savedEnv.PATH;
  process.env.TMPDIR = savedEnv.TMPDIR;
  if (savedEnv.TMPDIR === undefined) delete process.env.TMPDIR;
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A copy of the Go sample app (a real single-stage Dockerfile) and a fake builder setup. */
function goApp(builders: readonly string[] = BUILDERS) {
  const root = tmp();
  const app = path.join(root, "app");
  fs.cpSync(GO_APP, app, { recursive: true, filter: (s) => path.basename(s) !== "e2e.json" });
  const state = path.join(root, "state");
  const scratchTmp = path.join(root, "tmp");
  fs.mkdirSync(scratchTmp);
  process.env.PATH = installFakeBuilders(path.join(root, "bin"), state, [...builders]);
  process.env.TMPDIR = scratchTmp;
  const snapshot = () =>
    (fs.readdirSync(app, { recursive: true }) as string[])
      .sort()
      .map((f) => {
        const p = path.join(app, f);
        return fs.lstatSync(p).isFile() ? `${f}:${fs.readFileSync(p, "utf8")}` : f;
      })
      .join("\n");
  return {
    root,
    app,
    state,
    scratchTmp,
    snapshot,
    original: fs.readFileSync(path.join(app, "Dockerfile"), "utf8"),
  };
}

async function run(args: string[], cwd: string) {
  const out = textSink();
  const err = textSink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The Dockerfiles the fake was asked to build, by the name verify gave their copies. */
const built = (state: string) =>
  fakeState(state)
    .calls.filter((c) => c.includes("bud") || c.includes("build"))
    .map((c) => path.basename(c[c.indexOf("-f") + 1]));

describe("the ladder", () => {
  test("is data: the ecosystem's rungs most aggressive first, then the default rewrite, then no split", () => {
    expect(ladderFor("go", true).map((r) => r.id)).toEqual([
      "scratch",
      "distroless",
      "debian-slim",
      "default",
      "no-split",
      "no-split-original-user",
    ]);
    // Node and Python try their split rungs again as the original's user before giving up the split
    expect(ladderFor("python", true).map((r) => r.id)).toEqual([
      "slim-swap",
      "venv-slim",
      "default",
      "slim-swap-original-user",
      "venv-slim-original-user",
      "default-original-user",
      "no-split",
      "no-split-original-user",
    ]);
    expect(ladderFor(null, true).map((r) => r.id)).toEqual(["default", "no-split", "no-split-original-user"]);
    // --skip split-stages: only the rewrite as it is
    expect(ladderFor("go", false).map((r) => r.id)).toEqual(["default"]);
  });

  test("rungs that give the same text are one candidate, built once", async () => {
    await loadParsers();
    const { candidates, ecosystem } = candidatesFor(
      fs.readFileSync(path.join(GO_APP, "Dockerfile"), "utf8"),
      folderContext(GO_APP),
      TRANSFORMS,
      DEFAULT_OPTIONS,
    );
    expect(ecosystem).toBe("go");
    expect(candidates.map((c) => c.rungs.map((r) => r.id))).toEqual([
      ["scratch"],
      ["distroless", "debian-slim", "default"],
      // no transform adds a user here: the original-user rung gives the same text
      ["no-split", "no-split-original-user"],
    ]);
    expect(candidates[0].result.output).toMatch(/^FROM scratch$/m);
    expect(candidates[1].result.output).toMatch(/^FROM gcr\.io\/distroless\/static-debian12:nonroot$/m);
    expect(candidates[2].result.output).not.toMatch(/AS build/);
  });

  test("node: the split rungs again as the original's user (root), after the non-root ones", async () => {
    await loadParsers();
    const dir = tmp();
    // an app whose output shows its user: it prints its environment (HOME) at start
    fs.writeFileSync(
      path.join(dir, "Dockerfile"),
      'FROM node:18-alpine\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD ["node", "server.js"]\nEXPOSE 3000\n',
    );
    fs.writeFileSync(path.join(dir, "server.js"), "console.log(process.env.HOME);\n");
    fs.writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({ name: "app", dependencies: { express: "^4.18.2" } }),
    );
    fs.writeFileSync(path.join(dir, "package-lock.json"), "{}\n");
    const { candidates } = candidatesFor(
      fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"),
      folderContext(dir),
      TRANSFORMS,
      DEFAULT_OPTIONS,
    );
    const ids = candidates.map((c) => c.rungs.map((r) => r.id));
    expect(ids).toEqual([
      ["built-output"],
      // nothing runs a build tool at start: build-tool-start gives the slim text
      ["slim", "build-tool-start", "default"],
      ["built-output-original-user"],
      ["slim-original-user", "build-tool-start-original-user", "default-original-user"],
      ["no-split"],
      ["no-split-original-user"],
    ]);
    const text = (id: string) => candidates.find((c) => c.rungs[0].id === id)!.result.output;
    expect(text("slim")).toMatch(/^USER node$/m);
    // split, on the same runtime image, with no USER anywhere (the original ran as root)
    expect(text("slim-original-user")).toMatch(/ AS build$/m);
    expect(text("slim-original-user")).not.toMatch(/^USER /m);
    expect(text("slim-original-user")).not.toMatch(/--chown=node/);
    expect(text("no-split")).toMatch(/^USER node$/m);
    expect(text("no-split-original-user")).not.toMatch(/^USER /m);
    expect(text("no-split-original-user")).not.toMatch(/ AS build$/m);
  });

  test("node: a plain `node <file>` start runs on distroless first, as nonroot, then as root", async () => {
    await loadParsers();
    const app = path.join(ROOT, "fixtures/split-stages/node-distroless-runtime-install");
    const dir = tmp();
    fs.cpSync(path.join(app, "context"), dir, { recursive: true });
    fs.copyFileSync(path.join(app, "Dockerfile"), path.join(dir, "Dockerfile"));
    const { candidates } = candidatesFor(
      fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"),
      folderContext(dir),
      TRANSFORMS,
      DEFAULT_OPTIONS,
    );
    expect(candidates.map((c) => c.rungs.map((r) => r.id))).toEqual([
      ["distroless"],
      ["distroless-app-folder"],
      ["built-output"],
      ["slim", "build-tool-start", "default"],
      ["distroless-original-user"],
      ["distroless-app-folder-original-user"],
      ["built-output-original-user"],
      ["slim-original-user", "build-tool-start-original-user", "default-original-user"],
      ["no-split"],
      ["no-split-original-user"],
    ]);
    const text = (id: string) => candidates.find((c) => c.rungs[0].id === id)!.result.output;
    // add-args: the distroless image follows NODE_VERSION, like the build stage's node image
    expect(text("distroless")).toMatch(
      /^FROM gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12:nonroot$/m,
    );
    expect(text("distroless")).toMatch(/^CMD \["dist\/server\.js"\]$/m);
    // npm cannot run on distroless: a deps stage installs the production dependencies
    expect(text("distroless")).toMatch(/ AS deps\n[^]*^RUN npm ci --omit=dev/m);
    expect(text("distroless")).not.toMatch(/^USER /m);
    // as the original's user: root, the image's :latest tag, and no USER from non-root-user
    expect(text("distroless-original-user")).toMatch(
      /^FROM gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12$/m,
    );
    expect(text("distroless-original-user")).not.toMatch(/^USER |--chown/m);
  });

  test("a refused split gives no split rung's candidate: the rewrite is named no-split", async () => {
    await loadParsers();
    const dir = tmp();
    // the start command runs a Python script: the Node split is refused in every rung
    fs.writeFileSync(
      path.join(dir, "Dockerfile"),
      'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD ["bin/run"]\n',
    );
    fs.mkdirSync(path.join(dir, "bin"));
    fs.writeFileSync(path.join(dir, "bin/run"), "#!/usr/bin/env python3\nprint('hi')\n");
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "app", dependencies: {} }));
    const { candidates } = candidatesFor(
      fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"),
      folderContext(dir),
      TRANSFORMS,
      DEFAULT_OPTIONS,
    );
    expect(candidates.map((c) => c.rungs.map((r) => r.id))).toEqual([
      ["no-split"],
      ["no-split-original-user"],
    ]);
    for (const c of candidates) expect(c.result.output).not.toMatch(/ AS build$/m);
    expect(candidates[0].result.output).toMatch(/^USER node$/m);
    expect(candidates[1].result.output).not.toMatch(/^USER /m);
  });

  test("python with no install step: the slim swap comes first", async () => {
    await loadParsers();
    const dir = tmp();
    fs.writeFileSync(
      path.join(dir, "Dockerfile"),
      'FROM python:3.11\nWORKDIR /app\nCOPY app.py .\nCMD ["python", "app.py"]\n',
    );
    fs.writeFileSync(path.join(dir, "app.py"), "print('hi')\n");
    const { candidates } = candidatesFor(
      fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"),
      folderContext(dir),
      TRANSFORMS,
      DEFAULT_OPTIONS,
    );
    expect(candidates[0].rungs[0].id).toBe("slim-swap");
    expect(candidates[0].result.output).toMatch(/^FROM python:\$\{PYTHON_VERSION\}-slim$/m);
    expect(candidates[1].result.output).toMatch(/^FROM python:\$\{PYTHON_VERSION\}$/m);
  });
});

describe.each(BUILDERS)("--verify with a fake %s", (builder) => {
  test("all pass: the first (most aggressive) candidate is kept, the original is built once", async () => {
    const g = goApp([builder]);
    const r = await run(["--write", "--verify", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    expect(built(g.state)).toEqual(["Dockerfile.original", "Dockerfile.scratch"]);
    const written = fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8");
    expect(written).toMatch(/^FROM scratch$/m);
    expect(r.stderr).toContain(
      `Dockerfile: verified with ${builder === "docker" ? "docker (github.com/docker/buildx v0.0.0-fake)" : `${builder} version 9.9.9-fake`}: kept scratch (701.0 MB → 3.0 MB)`,
    );
    expect(r.stderr).toContain("1 rewrite verified");
    // nothing left behind
    expect(fakeState(g.state).images).toEqual({});
    expect(fakeState(g.state).containers).toEqual({});
    expect(fs.readdirSync(g.scratchTmp)).toEqual([]);
  });

  test("an app that prints its hostname sees the same one in every run", async () => {
    const g = goApp([builder]);
    process.env.FAKE_PRINT_HOSTNAME = "1";
    const r = await run(["--write", "--verify", "--builder", builder, "Dockerfile", "--jobs", "0"], g.app);
    expect(r.stderr).toContain("kept scratch");
    expect(r.code).toBe(0);
  });

  test("--verify-env: an app that needs a setting to start gets it in every run", async () => {
    const g = goApp([builder]);
    process.env.FAKE_REQUIRE_ENV = "UPSTREAM_URL";
    const json = ["--format", "json"];
    const without = await run(
      ["--verify", ...json, "--builder", builder, "Dockerfile", "--jobs", "0"],
      g.app,
    );
    // without the setting the app stops at once, printing nothing on stdout
    expect(JSON.parse(without.stdout).files[0].verify.originalOutput).toBe("");
    const r = await run(
      [
        "--write",
        "--verify",
        ...json,
        "--builder",
        builder,
        "--verify-env",
        "UPSTREAM_URL=http://127.0.0.1:9/a=b",
        "Dockerfile",
        "--jobs",
        "0",
      ],
      g.app,
    );
    expect(r.code).toBe(0);
    const verify = JSON.parse(r.stdout).files[0].verify;
    expect(verify.originalOutput).toBe("hello from the app\nUPSTREAM_URL=http://127.0.0.1:9/a=b\n");
    expect(verify.kept).toBe("scratch");
    // the value reached both runs without being on any builder command line (ps shows those)
    const calls = fakeState(g.state).calls;
    expect(calls.filter((c) => c.includes("run")).length).toBeGreaterThanOrEqual(2);
    for (const c of calls) expect(c.join(" ")).not.toContain("127.0.0.1:9/a=b");
    // and the file that carried it is gone
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("dfopt-verify-env-"))).toEqual([]);
  });

  test("a candidate that fails to run gives way to the next", async () => {
    const g = goApp([builder]);
    process.env.FAKE_BROKEN_RUN = "scratch";
    const r = await run(["--write", "--verify", "--builder", builder, "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    expect(built(g.state)).toEqual(["Dockerfile.original", "Dockerfile.scratch", "Dockerfile.distroless"]);
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toMatch(
      /^FROM gcr\.io\/distroless\/static-debian12:nonroot$/m,
    );
    expect(r.stderr).toContain("kept distroless");
    // a line of its own under the file's verification line
    expect(r.stderr).toMatch(/\n {2}tried scratch: run failed \(error: open \/usr\/share\/zoneinfo/);
    expect(fakeState(g.state).images).toEqual({});
    expect(fakeState(g.state).containers).toEqual({});
  });
});

describe("--verify outcomes", () => {
  test("every candidate fails: the file is left alone and the refusal names the failed step", async () => {
    const g = goApp(["buildah"]);
    process.env.FAKE_FAIL_BUILD = "GO_VERSION";
    const r = await run(["--write", "--verify", "--format", "json", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toBe(g.original);
    const file = JSON.parse(r.stdout).files[0];
    expect(file.changed).toBe(false);
    expect(file.diff).toBeNull();
    const refusal = file.refusals.find((x: { transform: string }) => x.transform === "verify");
    expect(refusal.reason).toMatch(
      /^no candidate builds and behaves like the original: scratch: build failed/,
    );
    expect(refusal.reason).toContain("fake failure (GO_VERSION)");
    expect(file.verify).toMatchObject({
      verified: false,
      kept: null,
      originalBuilds: true,
      originalBytes: 701_000_000,
    });
    expect(file.verify.candidates.map((c: { rung: string; step: string }) => `${c.rung}:${c.step}`)).toEqual([
      "scratch:build",
      "distroless:build",
      "no-split:build",
    ]);
    expect(file.verify.candidates[0].reason).toContain("STEP 4/4");
    expect(r.stderr).toContain("1 left unchanged (no candidate passed)");
  });

  test("a server answering an error page runs: a candidate must answer alike and say the same error", async () => {
    const g = goApp(["buildah"]);
    fs.appendFileSync(path.join(g.app, "Dockerfile"), "EXPOSE 39517\n");
    process.env.FAKE_HTTP_STATUS = "500";
    const same = await run(["--verify", "--format", "json", "Dockerfile", "--jobs", "0"], g.app);
    const kept = JSON.parse(same.stdout).files[0].verify;
    expect(kept).toMatchObject({
      verified: true,
      kept: "scratch",
      originalOutput: "HTTP 500 Internal Server Error",
    });
    // the same page, but the scratch image fails for another reason (a missing file)
    process.env.FAKE_HTTP_OTHER_ERROR = "scratch";
    const other = await run(["--verify", "--format", "json", "Dockerfile", "--jobs", "0"], g.app);
    const next = JSON.parse(other.stdout).files[0].verify;
    expect(next).toMatchObject({ verified: true, kept: "distroless" });
    expect(next.candidates[0]).toMatchObject({ rung: "scratch", outcome: "failed", step: "output" });
    expect(next.candidates[0].reason).toMatch(/^the error on stderr differs/);
  });

  test("an original that does not run is reported with its error line, not only its stack's tail", async () => {
    await loadParsers();
    const stack = [
      "node:internal/modules/cjs/loader:1228",
      "Error: Cannot find module '/app/src/index.js'",
      ...Array.from({ length: 14 }, (_, i) => `    at frame${i} (node:internal/modules/cjs/loader:${i})`),
    ].join("\n");
    const builder: Builder = {
      name: "buildah",
      version: "stub",
      build: () => Promise.resolve({ ok: true, seconds: 1, error: null }),
      inspect: () => Promise.resolve({ bytes: 1, layers: 1, command: ["app"] }),
      run: () =>
        Promise.resolve({
          ok: false,
          exitCode: 1,
          timedOut: false,
          stdout: "",
          stderr: stack,
          http: null,
          error: `no HTTP answer on 127.0.0.1:3000/\n${stack}`,
        }),
      remove: async () => {},
      prune: async () => {},
    };
    const raw = fs.readFileSync(path.join(GO_APP, "Dockerfile"), "utf8") + "EXPOSE 3000\n";
    const { verification } = await verifyRewrite({
      builder,
      raw,
      contextDir: GO_APP,
      context: folderContext(GO_APP),
      transforms: TRANSFORMS,
      options: DEFAULT_OPTIONS,
      timeoutMs: 1000,
      tagPrefix: "localhost/dfopt-test",
    });
    expect(verification.reason).toMatch(
      /^the original does not run: Error: Cannot find module '\/app\/src\/index\.js'\n {4}at frame2 /,
    );
  });

  test("--smoke runs sh -c: the distroless rungs are reported failed without a build", async () => {
    await loadParsers();
    const app = path.join(ROOT, "fixtures/split-stages/node-distroless-runtime-install");
    const dir = tmp();
    fs.cpSync(path.join(app, "context"), dir, { recursive: true });
    const builtFiles: string[] = [];
    const builder: Builder = {
      name: "buildah",
      version: "stub",
      build: (file) => {
        builtFiles.push(path.basename(file));
        return Promise.resolve({ ok: true, seconds: 1, error: null });
      },
      inspect: () => Promise.resolve({ bytes: 1, layers: 1, command: ["node"] }),
      run: () =>
        Promise.resolve({
          ok: true,
          exitCode: 0,
          timedOut: false,
          stdout: "hi\n",
          stderr: "",
          http: null,
          error: null,
        }),
      remove: async () => {},
      prune: async () => {},
    };
    const { verification } = await verifyRewrite({
      builder,
      raw: fs.readFileSync(path.join(app, "Dockerfile"), "utf8"),
      contextDir: dir,
      context: folderContext(dir),
      transforms: TRANSFORMS,
      options: DEFAULT_OPTIONS,
      smoke: "echo hi",
      timeoutMs: 1000,
      tagPrefix: "localhost/dfopt-test",
    });
    expect(verification.kept).toBe("built-output");
    expect(builtFiles).toEqual(["Dockerfile.original", "Dockerfile.built-output"]);
    const skipped = verification.candidates.filter(
      (c) => c.rung.startsWith("distroless") && c.outcome === "failed",
    );
    expect(skipped.map((c) => c.rung)).toEqual(["distroless", "distroless-app-folder"]);
    for (const c of skipped) expect(c.reason).toContain("no shell");
  });

  test("an original that does not build is reported as such, never as verified", async () => {
    const g = goApp(["podman"]);
    process.env.FAKE_FAIL_BUILD = "FROM golang:1.19";
    const r = await run(["--verify", "--format", "jsonl", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    const file = JSON.parse(r.stdout.split("\n")[0]);
    expect(file.verify).toMatchObject({ verified: false, originalBuilds: false, kept: null });
    expect(file.verify.reason).toMatch(/^the original does not build: .*fake failure/s);
    expect(file.changed).toBe(false);
    expect(built(g.state)).toEqual(["Dockerfile.original"]);
    expect(r.stderr).toContain("1 whose original does not build");
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toBe(g.original);
  });

  test("a dry run verifies too, prints the kept candidate's diff and writes nothing", async () => {
    const g = goApp(["docker"]);
    process.env.FAKE_BROKEN_RUN = "scratch";
    const before = g.snapshot();
    const r = await run(["--verify", "--buildx-builder", "remote1", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("+FROM gcr.io/distroless/static-debian12:nonroot");
    expect(g.snapshot()).toBe(before);
    const builds = fakeState(g.state).calls.filter((c) => c[1] === "buildx" && c[2] === "build");
    expect(builds.length).toBe(3);
    for (const b of builds) expect(b.slice(3, 5)).toEqual(["--builder", "remote1"]);
  });

  test("SARIF carries the verification as properties; JSON has sizes in bytes and every candidate", async () => {
    const g = goApp(["buildah"]);
    process.env.FAKE_BROKEN_RUN = "scratch";
    const r = await run(["--verify", "--format", "sarif", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout).runs[0].results as {
      ruleId: string;
      properties?: { verify?: unknown };
    }[];
    const v = results.find((x) => x.ruleId === "verify")!;
    expect(v.properties!.verify).toMatchObject({
      verified: true,
      builder: "buildah",
      builderVersion: "buildah version 9.9.9-fake",
      kept: "distroless",
      originalBytes: 701_000_000,
      newBytes: 4_000_000,
      candidates: [
        { rung: "scratch", outcome: "failed", step: "run" },
        {
          rung: "distroless",
          rungs: ["distroless", "debian-slim", "default"],
          outcome: "kept",
          step: null,
          reason: null,
        },
        { rung: "no-split", outcome: "not-tried" },
      ],
    });
  });

  test("--report lists each verification", async () => {
    const g = goApp(["buildah"]);
    process.env.FAKE_BROKEN_RUN = "scratch";
    const r = await run(["--verify", "--report", "../report.md", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(0);
    const md = fs.readFileSync(path.join(g.root, "report.md"), "utf8");
    expect(md).toContain("### Real builds (--verify)");
    expect(md).toContain(
      "verified with buildah version 9.9.9-fake: kept `distroless`, 701000000 → 4000000 bytes",
    );
    expect(md).toMatch(/- `scratch`: run failed: error: open/);
  });

  test("a file the default rewrite leaves alone is still verified when the ladder has a candidate", async () => {
    const g = goApp(["buildah"]);
    const py = path.join(g.root, "py");
    fs.mkdirSync(py);
    const text = 'FROM python:3.11\nWORKDIR /app\nCOPY app.py .\nCMD ["python", "app.py"]\n';
    fs.writeFileSync(path.join(py, "Dockerfile"), text);
    fs.writeFileSync(path.join(py, "app.py"), "print('hi')\n");
    const plain = await run(["--only", "split-stages", "Dockerfile", "--jobs", "0"], py);
    expect(plain.stdout).toBe("");
    const r = await run(["--verify", "--only", "split-stages", "Dockerfile", "--jobs", "0"], py);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("-FROM python:3.11\n+FROM python:3.11-slim\n");
    expect(r.stderr).toContain("kept slim-swap (701.0 MB → 81.0 MB)");
    expect(fs.readFileSync(path.join(py, "Dockerfile"), "utf8")).toBe(text);
  });

  test("--shard verifies only the files of its part", async () => {
    const g = goApp(["buildah"]);
    for (const d of ["a", "b", "c"]) fs.cpSync(g.app, path.join(g.root, "apps", d), { recursive: true });
    let seen = 0;
    for (const shard of ["1/2", "2/2"]) {
      fs.rmSync(path.join(g.state, "calls.log"), { force: true });
      const r = await run(["--verify", "--shard", shard, "--format", "json", "apps", "--jobs", "0"], g.root);
      expect(r.code).toBe(0);
      const files = JSON.parse(r.stdout).files;
      for (const f of files) expect(f.verify.verified).toBe(true);
      // per file: the original and the first candidate
      expect(fakeState(g.state).calls.filter((c) => c[1] === "bud")).toHaveLength(2 * files.length);
      seen += files.length;
    }
    expect(seen).toBe(3);
  });

  test("no builder found: exit 2 naming the builders looked for, nothing built or written", async () => {
    const g = goApp([]);
    const r = await run(["--write", "--verify", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "dfopt: --verify: no container builder found: looked for docker (buildx and a running daemon), podman, buildah on PATH\n",
    );
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toBe(g.original);
    const only = await run(["--verify", "--builder", "podman", "Dockerfile", "--jobs", "0"], g.app);
    expect(only.code).toBe(2);
    expect(only.stderr).toContain("looked for podman on PATH");
  });

  test("--builder and --smoke need --verify", async () => {
    const g = goApp([]);
    const r = await run(["--builder", "buildah", "Dockerfile", "--jobs", "0"], g.app);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("need --verify");
    const env = await run(["--verify-env", "A=1", "Dockerfile", "--jobs", "0"], g.app);
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("--verify-env need --verify");
    const bad = await run(["--verify", "--verify-env", "A", "Dockerfile", "--jobs", "0"], g.app);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected KEY=VALUE");
  });

  test("SIGINT while a container runs: images, containers and scratch copies are removed", async () => {
    const g = goApp(["buildah"]);
    const env = { ...process.env, FAKE_RUN_SLEEP: "60" };
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/index.ts",
        "--write",
        "--verify",
        path.join(g.app, "Dockerfile"),
        "--jobs",
        "0",
      ],
      {
        cwd: ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // wait until the original's container is running
    const running = path.join(g.state, "running");
    for (let i = 0; i < 600 && !fs.existsSync(running); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.existsSync(running), stderr).toBe(true);
    expect(Object.keys(fakeState(g.state).images)).toHaveLength(1);
    expect(Object.keys(fakeState(g.state).containers)).toHaveLength(1);
    expect(fs.readdirSync(g.scratchTmp).some((f) => f.startsWith("dfopt-verify-"))).toBe(true);
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(fakeState(g.state).images).toEqual({});
    expect(fakeState(g.state).containers).toEqual({});
    expect(fs.readdirSync(g.scratchTmp).filter((f) => f.startsWith("dfopt-verify-"))).toEqual([]);
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toBe(g.original);
  }, 60_000);
  test("a closed pipe (EPIPE) ends the run and still removes what it made", async () => {
    const g = goApp(["buildah"]);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/index.ts", "--verify", path.join(g.app, "Dockerfile"), "--jobs", "0"],
      { cwd: ROOT, env: { ...process.env, FAKE_RUN_SLEEP: "60" }, stdio: ["ignore", "ignore", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // the reader goes away after the first progress line, as `| head -1` would
    await new Promise<void>((resolve) => child.stderr.once("data", () => resolve()));
    child.stderr.destroy();
    const code = await exited;
    expect(code).not.toBeNull();
    // the original was built (so there was an image to remove) before the next progress line failed
    expect(fakeState(g.state).calls.some((c) => c[1] === "bud")).toBe(true);
    expect(fakeState(g.state).images).toEqual({});
    expect(fakeState(g.state).containers).toEqual({});
    expect(fs.readdirSync(g.scratchTmp).filter((f) => f.startsWith("dfopt-verify-"))).toEqual([]);
    expect(fs.readFileSync(path.join(g.app, "Dockerfile"), "utf8")).toBe(g.original);
  }, 60_000);
});

describe("dfopt verify", () => {
  test("its own --context and --format are used (not taken by the main command)", async () => {
    const g = goApp(["buildah"]);
    // the Dockerfile lives apart from its context
    const dfDir = path.join(g.root, "docker");
    fs.mkdirSync(dfDir);
    fs.renameSync(path.join(g.app, "Dockerfile"), path.join(dfDir, "Dockerfile"));
    const r = await run(["verify", "docker/Dockerfile", "--context", "app", "--format", "json"], g.root);
    expect(r.stderr).not.toContain("is not a folder");
    const json = JSON.parse(r.stdout);
    expect(json.dockerfile).toBe("docker/Dockerfile");
    expect(json.context).toBe(g.app);
    expect(json.verdict).toBe("ok");
    expect(r.code).toBe(0);
    expect(fakeState(g.state).images).toEqual({});
  });

  test("a .dockerignore linked to a file outside the context is never written through", async () => {
    const g = goApp(["buildah"]);
    const outside = path.join(g.root, "outside-ignore");
    // the fixture's own .dockerignore, moved out of the context and linked to
    fs.renameSync(path.join(g.app, ".dockerignore"), outside);
    const content = fs.readFileSync(outside, "utf8");
    fs.symlinkSync(outside, path.join(g.app, ".dockerignore"));
    const r = await run(["verify", "Dockerfile", "--format", "json"], g.app);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(outside, "utf8")).toBe(content);
    expect(fs.readlinkSync(path.join(g.app, ".dockerignore"))).toBe(outside);
  });

  test("SIGTERM during dfopt verify removes what it made", async () => {
    const g = goApp(["podman"]);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/index.ts", "verify", path.join(g.app, "Dockerfile")],
      {
        cwd: ROOT,
        env: { ...process.env, FAKE_RUN_SLEEP: "60" },
        stdio: "ignore",
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const running = path.join(g.state, "running");
    for (let i = 0; i < 600 && !fs.existsSync(running); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.existsSync(running)).toBe(true);
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(fakeState(g.state).images).toEqual({});
    expect(fakeState(g.state).containers).toEqual({});
    expect(fs.readdirSync(g.scratchTmp).filter((f) => f.startsWith("dfopt-verify-"))).toEqual([]);
  }, 60_000);
});

describe("how images are run", () => {
  test("the first EXPOSEd TCP port is asked over HTTP; HEALTHCHECK is run in both forms; --smoke wins", () => {
    expect(
      runRequestFor('FROM node:20\nEXPOSE 53/udp 8080/tcp 9090\nCMD ["node", "s.js"]\n', undefined, 5000),
    ).toEqual({
      timeoutMs: 5000,
      http: { port: 8080, path: "/" },
    });
    expect(
      runRequestFor(
        'FROM x\nHEALTHCHECK --interval=5s CMD ["curl", "-f", "http://localhost/"]\n',
        undefined,
        1000,
      ).healthcheck,
    ).toEqual(["curl", "-f", "http://localhost/"]);
    expect(
      runRequestFor("FROM x\nHEALTHCHECK CMD test -f /ready || exit 1\n", undefined, 1000).healthcheck,
    ).toEqual(["/bin/sh", "-c", "test -f /ready || exit 1"]);
    expect(
      runRequestFor("FROM x\nHEALTHCHECK CMD true\nHEALTHCHECK NONE\n", undefined, 1000).healthcheck,
    ).toBeUndefined();
    // only the stage that ships counts
    expect(
      runRequestFor('FROM a AS build\nEXPOSE 3000\nFROM b\nCMD ["x"]\n', undefined, 1000).http,
    ).toBeUndefined();
    expect(runRequestFor("FROM x\nEXPOSE 80\n", "echo hi", 1000)).toEqual({
      smoke: "echo hi",
      timeoutMs: 1000,
    });
  });

  const r = (over: Partial<RunOutcome> = {}): RunOutcome => ({
    ok: true,
    exitCode: 0,
    timedOut: false,
    stdout: "a\n",
    stderr: "",
    http: null,
    error: null,
    ...over,
  });

  test("runs differ by stdout, exit code, a crash's error, HTTP status, the start of the body, or the HEALTHCHECK", () => {
    expect(outputDifference(r(), r({ stdout: "a" }))).toBeNull();
    expect(outputDifference(r(), r({ stdout: "b" }))).toBe("stdout");
    expect(outputDifference(r(), r({ exitCode: 1 }))).toBe("exit code 0 → 1");
    // npm's banner before a script is npm's, not the app's (distroless runs the script's node itself)
    const banner = "\n> web@1.0.0 start\n> node server.js\n\n";
    expect(outputDifference(r({ stdout: `${banner}listening\n` }), r({ stdout: "listening\n" }))).toBeNull();
    expect(outputDifference(r({ stdout: `${banner}listening\n` }), r({ stdout: "other\n" }))).toBe("stdout");
    expect(outputDifference(r({ stdout: "> not a banner\nlistening\n" }), r({ stdout: "listening\n" }))).toBe(
      "stdout",
    );
    // a crash is compared by the error it says, numbers aside
    const crash = (stderr: string) => r({ ok: false, exitCode: 1, stdout: "", stderr });
    expect(
      outputDifference(
        crash("Error: supabaseUrl is required.\n    at index.js:12:9"),
        crash("Error: Cannot find module './supabaseClient'\n    at index.js:3:1"),
      ),
    ).toBe("the error on stderr");
    expect(
      outputDifference(
        crash(
          "> start\nError: connect ECONNREFUSED 127.0.0.1:27017 at 12:00:01 (pid 41)\nhost dfopt-verify-1-ab-0",
        ),
        crash(
          "> start\nError: connect ECONNREFUSED 127.0.0.1:27017 at 12:00:07 (pid 9)\nhost dfopt-verify-1-cd-1",
        ),
      ),
    ).toBeNull();
    // what a crash prints besides its error (progress, warnings) may differ
    expect(
      outputDifference(crash("> start\nloading 3 files\nError: boom"), crash("> start\nError: boom")),
    ).toBeNull();
    expect(outputDifference(r({ stderr: "warning 1" }), r({ stderr: "warning 2 differs" }))).toBeNull();
    const page = (status: number, body: string, stderr = "") =>
      r({ exitCode: null, http: { status, body }, stderr });
    // two error pages alike are two runs alike only when the server logs the same error
    expect(
      outputDifference(
        page(500, "Internal Server Error", "Error: secret option required for sessions\n    at a.js:1:2"),
        page(500, "Internal Server Error", "Error: secret option required for sessions\n    at a.js:7:9"),
      ),
    ).toBeNull();
    expect(
      outputDifference(
        page(500, "Internal Server Error", "Error: secret option required for sessions"),
        page(500, "Internal Server Error", "Error: ENOENT: no such file or directory, open 'views/home.hbs'"),
      ),
    ).toBe("the error on stderr");
    expect(outputDifference(page(404, "Not Found", "a"), page(404, "Not Found", "Error: b"))).toBeNull();
    expect(outputDifference(page(200, "ok"), page(404, "ok"))).toBe("HTTP status 200 → 404");
    expect(outputDifference(page(200, "x".repeat(1024) + "1"), page(200, "x".repeat(1024) + "2"))).toBeNull();
    expect(outputDifference(page(200, "<h1>a"), page(200, "<h1>b"))).toBe("HTTP body");
    expect(outputDifference(r({ health: 0 }), r({ health: 1 }))).toBe("HEALTHCHECK exit code 0 → 1");
  });

  test("a difference is shown where it is, not as two alike starts", () => {
    const page = (body: string) => r({ exitCode: null, http: { status: 200, body } });
    const head = `<!DOCTYPE html>\n<html>\n<head>${" ".repeat(300)}`;
    const [was, is] = differingOutputs(
      page(`${head}<script src="/assets/index-4f1a.js">`),
      page(`${head}<script src="/assets/index-9c2e.js">`),
    );
    expect(was).toMatch(/^"….*index-4f1a\.js/);
    expect(is).toMatch(/^"….*index-9c2e\.js/);
    // an early difference: both from the start
    expect(differingOutputs(r({ stdout: "a" }), r({ stdout: "b" }))).toEqual(['"a"', '"b"']);
  });
});

describe("context copies", () => {
  test("links out of the context are left out; links inside point into the copy; side files replace links", async () => {
    const root = tmp();
    const ctx = path.join(root, "ctx");
    fs.mkdirSync(path.join(ctx, "src"), { recursive: true });
    fs.writeFileSync(path.join(ctx, "src/main.go"), "package main\n");
    fs.writeFileSync(path.join(root, "outside"), "keep\n");
    fs.symlinkSync(path.join(root, "outside"), path.join(ctx, ".dockerignore"));
    fs.symlinkSync(path.join(ctx, "src/main.go"), path.join(ctx, "abs-inside.go"));
    fs.symlinkSync("../outside", path.join(ctx, "rel-outside"));
    const seen: string[][] = [];
    const recorder: Builder = {
      name: "buildah",
      version: "recording",
      build(_df, context) {
        seen.push(
          (fs.readdirSync(context, { recursive: true }) as string[]).sort().map((f) => {
            const p = path.join(context, f);
            const st = fs.lstatSync(p);
            return st.isSymbolicLink() ? `${f} -> ${fs.readlinkSync(p)}` : f;
          }),
        );
        return Promise.resolve({ ok: true, seconds: 1, error: null });
      },
      inspect: () => Promise.resolve({ bytes: 1, layers: 1, command: ["app"] }),
      run: () =>
        Promise.resolve({
          ok: true,
          exitCode: 0,
          timedOut: false,
          stdout: "x",
          stderr: "",
          http: null,
          error: null,
        }),
      remove: async () => {},
      prune: async () => {},
    };
    await compareBuilds({
      builder: recorder,
      originalText: "FROM x\n",
      rewrittenText: "FROM y\n",
      sideFiles: [{ path: ".dockerignore", content: "Dockerfile\n", message: "m" }],
      contextDir: ctx,
      workDir: path.join(root, "work"),
      touch: null,
      run: { timeoutMs: 1000 },
      tagPrefix: "localhost/t",
    });
    expect(seen[0]).toEqual(["abs-inside.go -> src/main.go", "src", "src/main.go"]);
    expect(seen[1]).toEqual([".dockerignore", "abs-inside.go -> src/main.go", "src", "src/main.go"]);
    expect(fs.readFileSync(path.join(root, "outside"), "utf8")).toBe("keep\n");
  });
});
