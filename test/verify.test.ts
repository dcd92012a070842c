import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { againOnTransient, detectBuilder, failure, type Builder, type Probe } from "../src/verify/builder.ts";
import { compareBuilds, outputsMatch, pickTouchFile, type Comparison } from "../src/verify/compare.ts";
import { exec } from "../src/verify/exec.ts";
import { NO_BUILDER_MESSAGE, runVerify } from "../src/verify/index.ts";
import {
  buildErrorLine,
  comparisonJson,
  formatBytes,
  renderE2eMarkdown,
  reasonLine,
  renderTable,
  verdictOf,
} from "../src/verify/report.ts";
import { textSink } from "./text-sink.ts";

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-verify-test-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function comparison(over: Partial<Comparison> = {}): Comparison {
  const run = (stdout: string) => ({
    ok: true,
    exitCode: 0,
    timedOut: false,
    stdout,
    stderr: "",
    http: null,
    error: null,
  });
  return {
    builder: "buildah",
    before: {
      build: { ok: true, seconds: 12.34, error: null },
      image: { bytes: 747_800_000, layers: 9, command: ["node", "dist/index.js"] },
      run: run("hello\n"),
      rebuild: { ok: true, seconds: 3.6, error: null },
    },
    after: {
      build: { ok: true, seconds: 15.01, error: null },
      image: { bytes: 243_000_000, layers: 12, command: ["node", "dist/index.js"] },
      run: run("hello\n"),
      rebuild: { ok: true, seconds: 3.3, error: null },
    },
    sameOutput: true,
    touched: "src/index.ts",
    ...over,
  };
}

describe("report", () => {
  test("formatBytes uses decimal units", () => {
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(747_800_000)).toBe("747.8 MB");
    expect(formatBytes(2_480_000)).toBe("2.5 MB");
    expect(formatBytes(1_050_500_000)).toBe("1.1 GB");
    expect(formatBytes(null)).toBe("?");
  });

  test("the table shows every measurement for both images", () => {
    const out = renderTable(comparison(), "dfopt verify Dockerfile");
    const lines = out.split("\n");
    expect(lines[0]).toBe("dfopt verify Dockerfile");
    const row = (name: string) => lines.find((l) => l.startsWith(name))!.split(/\s{3,}/);
    expect(row("build ok")).toEqual(["build ok", "yes", "yes"]);
    expect(row("run ok")).toEqual(["run ok", "yes", "yes"]);
    expect(row("same output")).toEqual(["same output", "yes"]);
    expect(row("image size")).toEqual(["image size", "747.8 MB", "243.0 MB (-67.5%)"]);
    expect(row("layers")).toEqual(["layers", "9", "12"]);
    expect(row("build time")).toEqual(["build time", "12.3 s", "15.0 s"]);
    expect(row("rebuild time")).toEqual(["rebuild time", "3.6 s", "3.3 s"]);
    expect(out).toContain("(rebuild after changing src/index.ts)");
    expect(out).toContain("verdict: the rewrite builds, runs and gives the same output");
    expect(verdictOf(comparison())).toBe("ok");
    const same = comparison();
    same.after.image = { ...same.after.image!, bytes: 747_799_990 };
    expect(renderTable(same, "t")).toMatch(/image size\s+747\.8 MB\s+747\.8 MB \(0\.0%\)/);
    const bigger = comparison();
    bigger.after.image = { ...bigger.after.image!, bytes: 800_000_000 };
    expect(renderTable(bigger, "t")).toContain("800.0 MB (+7.0%)");
  });

  test("a rewrite that fails to build is reported with its error and verdict", () => {
    const c = comparison();
    c.after = {
      build: { ok: false, seconds: 2, error: "COPY failed: no such file dist/" },
      image: null,
      run: null,
      rebuild: null,
    };
    c.sameOutput = null;
    const out = renderTable(c, "t");
    expect(out).toMatch(/build ok\s+yes\s+NO/);
    expect(out).toContain("rewritten build failed:\n  COPY failed: no such file dist/");
    expect(out).toContain("the rewrite FAILED");
    expect(verdictOf(c)).toBe("rewrite-failed");
    const j = comparisonJson(c);
    expect(j.verdict).toBe("rewrite-failed");
    expect(j.rewritten.buildOk).toBe(false);
    expect(j.rewritten.buildError).toContain("COPY failed");
  });

  test("different output shows both outputs; an original that does not build cannot be verified", () => {
    const c = comparison({ sameOutput: false });
    c.after.run = { ...c.after.run!, stdout: "bye\n" };
    const out = renderTable(c, "t");
    expect(out).toContain("output differs");
    expect(out).toContain("    bye");
    expect(verdictOf(c)).toBe("rewrite-failed");
    const broken = comparison();
    broken.before.build = { ok: false, seconds: 1, error: "x" };
    expect(verdictOf(broken)).toBe("cannot-verify");
  });

  test("a failed build is named by its own error or its time limit, not by the builder's exit lines", () => {
    const tsc = [
      "STEP 6/8: RUN npm run build",
      "> app@1.0.0 build",
      "> tsc",
      "src/index.ts(3,1): error TS2304: Cannot find name 'foo'.",
      "npm error Lifecycle script `build` failed with error:",
      "npm error code 2",
      "subprocess exited with status 2",
      'Error: building at STEP "RUN npm run build": while running runtime: exit status 2',
    ].join("\n");
    expect(reasonLine({ step: "build", reason: tsc })).toBe(
      "src/index.ts(3,1): error TS2304: Cannot find name 'foo'.",
    );
    const go =
      '# x\n./m.go:2:29: cannot range over 3 (untyped int constant)\nError: building at STEP "RUN go build": exit status 2';
    expect(buildErrorLine(go)).toBe("./m.go:2:29: cannot range over 3 (untyped int constant)");
    // a build killed at its time limit: the limit is the reason, whatever it printed before
    expect(reasonLine({ step: "build", reason: "npm error network timeout\ntimed out after 720 s" })).toBe(
      "timed out after 720 s",
    );
    expect(buildErrorLine("")).toBe("");
  });

  test("a build log's colours and tools' advice are no reason: tsc's coloured error, a warning-only tail", () => {
    // tsc --pretty (camiloruizvidal/acid-labs): colour codes, a code excerpt and its ~~~ underline
    const pretty = [
      "\x1b[96msrc/app.ts\x1b[0m:\x1b[93m12\x1b[0m:\x1b[93m5\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2322: \x1b[0mType 'string' is not assignable to type 'number'.",
      "",
      "\x1b[7m12\x1b[0m     count = 'x';",
      "\x1b[7m  \x1b[0m \x1b[91m    ~~~~~\x1b[0m",
      'Error: building at STEP "RUN npm run build": exit status 2',
    ].join("\n");
    expect(buildErrorLine(pretty)).toBe(
      "src/app.ts:12:5 - error TS2322: Type 'string' is not assignable to type 'number'.",
    );
    // a failing step whose tail holds only npm's and Browserslist's advice (ICARUSALPHAINC/web-frontend)
    const advice = [
      "npm warn install-scripts Run `npm install-scripts ls` to review.",
      "npm notice New minor version of npm available! 11.19.1 -> 11.21.3",
      "Browserslist: browsers data (caniuse-lite) is 11 months old. Please run:",
      "  npx update-browserslist-db@latest",
      "  Why you should do it regularly: https://github.com/browserslist/update-db#readme",
      "subprocess exited with status 1",
      'Error: building at STEP "RUN npm run build": exit status 1',
    ].join("\n");
    expect(buildErrorLine(advice)).toBe('Error: building at STEP "RUN npm run build": exit status 1');
  });

  test("a failed build's log tail leaves out the advice npm and Browserslist print after the error", () => {
    // create-react-app's error, then npm's update notice and Browserslist's hint: 9 lines of advice
    const stdout = [
      "STEP 6/7: RUN npm run build",
      "Creating an optimized production build...",
      "Failed to compile.",
      "Module not found: Error: Can't resolve './Navbar' in '/app/src/components'",
      "npm warn install-scripts Run `npm install-scripts ls` to review.",
      "npm notice",
      "npm notice New minor version of npm available! 11.19.1 -> 11.21.3",
      "npm notice Changelog: https://github.com/npm/cli/releases/tag/v11.21.3",
      "npm notice To update run: npm install -g npm@11.21.3",
      "npm notice",
      "Browserslist: browsers data (caniuse-lite) is 11 months old. Please run:",
      "  npx update-browserslist-db@latest",
      "  Why you should do it regularly: https://github.com/browserslist/update-db#readme",
    ].join("\n");
    const stderr =
      'subprocess exited with status 1\nError: building at STEP "RUN npm run build": exit status 1\n';
    const log = failure({ code: 1, stdout, stderr, timedOut: false, seconds: 40, spawnError: null });
    expect(log).toContain("Failed to compile.");
    expect(log).not.toMatch(/npm notice|Browserslist/);
    expect(buildErrorLine(log)).toBe(
      "Module not found: Error: Can't resolve './Navbar' in '/app/src/components'",
    );
  });

  test("json carries sizes in bytes and the reduction", () => {
    const j = comparisonJson(comparison());
    expect(j.original.bytes).toBe(747_800_000);
    expect(j.rewritten.bytes).toBe(243_000_000);
    expect(j.reduction).toBeCloseTo(0.675, 3);
    expect(j.rewritten.rebuildSeconds).toBe(3.3);
  });

  test("the e2e markdown has one row per app and explains failures", () => {
    const md = renderE2eMarkdown(
      [
        {
          app: "node-ts",
          ecosystem: "node",
          dfopt: "rewritten by split-stages",
          comparison: comparison(),
          failure: null,
        },
        {
          app: "go",
          ecosystem: "go",
          dfopt: "not rewritten",
          comparison: null,
          failure: "dfopt did not rewrite it",
        },
      ],
      { date: "d", builder: "buildah 1.28.2", command: "npm run test:e2e", notes: [] },
    );
    expect(md).toContain(
      "| node-ts | node | 747800000 (747.8 MB) | 243000000 (243.0 MB) | 67.5% | 9 → 12 | yes | 12.3 → 15.0 | 3.6 → 3.3 | pass |",
    );
    expect(md).toContain("| go | go | - | - | - | - → - | - | - → - | - → - | FAIL |");
    expect(md).toContain("- **go**: not rewritten. **FAIL**: dfopt did not rewrite it");
  });
});

describe("builder detection", () => {
  const probeOf =
    (works: Record<string, string>): Probe =>
    (cmd, args) =>
      Promise.resolve(works[[cmd, ...args].join(" ")] ?? null);

  test("docker needs buildx and a reachable daemon", async () => {
    const all = {
      "docker buildx version": "github.com/docker/buildx v0.12.0",
      "docker info --format {{.ServerVersion}}": "24.0.7",
      "podman --version": "podman version 4.3.1",
      "buildah --version": "buildah version 1.28.2",
    };
    expect(await detectBuilder(probeOf(all))).toEqual({
      name: "docker",
      version: "github.com/docker/buildx v0.12.0",
    });
    const noDaemon: Record<string, string> = { ...all };
    delete noDaemon["docker info --format {{.ServerVersion}}"];
    expect((await detectBuilder(probeOf(noDaemon)))?.name).toBe("podman");
    expect(await detectBuilder(probeOf({ "buildah --version": "buildah version 1.28.2" }))).toEqual({
      name: "buildah",
      version: "buildah version 1.28.2",
    });
    expect((await detectBuilder(probeOf(all), "buildah"))?.name).toBe("buildah");
    expect(await detectBuilder(probeOf({}))).toBeNull();
  });
});

describe("runVerify", () => {
  test("no builder: exit 2 with a clear message, nothing written", async () => {
    const dir = tmp();
    const df = path.join(dir, "Dockerfile");
    const text = 'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD ["node", "index.js"]\n';
    fs.writeFileSync(df, text);
    const out = textSink();
    const err = textSink();
    const code = await runVerify({
      dockerfile: df,
      format: "table",
      stdout: out.stream,
      stderr: err.stream,
      probe: () => Promise.resolve(null),
    });
    expect(code).toBe(2);
    expect(err.text()).toBe(NO_BUILDER_MESSAGE);
    expect(err.text()).toContain("docker");
    expect(err.text()).toContain("podman");
    expect(err.text()).toContain("buildah");
    expect(out.text()).toBe("");
    expect(fs.readFileSync(df, "utf8")).toBe(text);
    expect(fs.readdirSync(dir)).toEqual(["Dockerfile"]);
  });

  test("a missing Dockerfile is exit 2", async () => {
    const err = textSink();
    const code = await runVerify({
      dockerfile: path.join(tmp(), "nope"),
      format: "json",
      stdout: textSink().stream,
      stderr: err.stream,
    });
    expect(code).toBe(2);
    expect(err.text()).toContain("cannot read");
  });
});

describe("compare helpers", () => {
  test("pickTouchFile prefers a shallow source file under src/ and skips dependencies", () => {
    const d = tmp();
    for (const f of [
      "node_modules/x/index.js",
      "src/lib/deep.ts",
      "src/index.ts",
      "package.json",
      "build.js",
    ]) {
      fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
      fs.writeFileSync(path.join(d, f), "");
    }
    expect(pickTouchFile(d)).toEqual({ file: "src/index.ts", comment: "//" });
    fs.rmSync(path.join(d, "src"), { recursive: true });
    expect(pickTouchFile(d)).toEqual({ file: "build.js", comment: "//" });
    const py = tmp();
    fs.writeFileSync(path.join(py, "app.py"), "print(1)\n");
    expect(pickTouchFile(py)).toEqual({ file: "app.py", comment: "#" });
    expect(pickTouchFile(tmp())).toBeNull();
  });

  test("pickTouchFile picks the app's main language over scripts, and no file .dockerignore leaves out", () => {
    const d = tmp();
    for (const f of ["a-deploy.sh", "main.go", "handlers/web.go", "scripts/gen.py", "zz_test_tool.go"]) {
      fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
      fs.writeFileSync(path.join(d, f), "");
    }
    expect(pickTouchFile(d)).toEqual({ file: "main.go", comment: "//" });
    fs.writeFileSync(path.join(d, ".dockerignore"), "main.go\n*_tool.go\n");
    expect(pickTouchFile(d)).toEqual({ file: "handlers/web.go", comment: "//" });
    const scriptsOnly = tmp();
    fs.writeFileSync(path.join(scriptsOnly, "run.sh"), "");
    expect(pickTouchFile(scriptsOnly)).toEqual({ file: "run.sh", comment: "#" });
  });

  test("outputsMatch compares stdout and exit code, or the HTTP answer", () => {
    const r = (
      stdout: string,
      exitCode: number | null = 0,
      http: { status: number; body: string } | null = null,
    ) => ({
      ok: true,
      exitCode,
      timedOut: false,
      stdout,
      stderr: "",
      http,
      error: null,
    });
    expect(outputsMatch(r("a\n"), r("a"))).toBe(true);
    expect(outputsMatch(r("a\r\n"), r("a\n"))).toBe(true);
    expect(outputsMatch(r("a"), r("b"))).toBe(false);
    expect(outputsMatch(r("a", 0), r("a", 1))).toBe(false);
    expect(
      outputsMatch(r("x", null, { status: 200, body: "ok" }), r("y", null, { status: 200, body: "ok" })),
    ).toBe(true);
    expect(
      outputsMatch(r("", null, { status: 200, body: "ok" }), r("", null, { status: 500, body: "ok" })),
    ).toBe(false);
    expect(outputsMatch(null, r("a"))).toBeNull();
  });

  test("compareBuilds builds copies: the user's context and Dockerfile are never written", async () => {
    const ctx = tmp();
    fs.mkdirSync(path.join(ctx, "src"));
    fs.writeFileSync(path.join(ctx, "src/main.go"), "package main\n");
    fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM golang:1.19\n");
    fs.writeFileSync(path.join(ctx, "e2e.json"), "{}");
    const before =
      JSON.stringify(fs.readdirSync(ctx, { recursive: true })) +
      fs.readFileSync(path.join(ctx, "src/main.go"), "utf8");
    const seen: { dockerfile: string; text: string; files: string[]; main: string; noCache: boolean }[] = [];
    // a recording builder: it checks what a real builder would be handed
    const recorder: Builder = {
      name: "buildah",
      version: "recording",
      build(dockerfile, context, _tag, opts) {
        seen.push({
          dockerfile,
          text: fs.readFileSync(dockerfile, "utf8"),
          files: (fs.readdirSync(context, { recursive: true }) as string[]).sort(),
          main: fs.readFileSync(path.join(context, "src/main.go"), "utf8"),
          noCache: opts.noCache,
        });
        return Promise.resolve({ ok: true, seconds: 1, error: null });
      },
      inspect: () => Promise.resolve({ bytes: 10, layers: 1, command: ["app"] }),
      run: () =>
        Promise.resolve({
          ok: true,
          exitCode: 0,
          timedOut: false,
          stdout: "same",
          stderr: "",
          http: null,
          error: null,
        }),
      remove: async () => {},
      prune: async () => {},
    };
    const work = tmp();
    const c = await compareBuilds({
      builder: recorder,
      originalText: "FROM golang:1.19\n",
      rewrittenText: "FROM golang:1.19 AS build\n",
      sideFiles: [{ path: ".dockerignore", content: "Dockerfile\n", message: "m" }],
      contextDir: ctx,
      workDir: work,
      exclude: ["e2e.json"],
      touch: "auto",
      run: { timeoutMs: 1000 },
      tagPrefix: "localhost/t",
    });
    // per image: cold --no-cache build, cache-seeding build, rebuild after the change
    expect(seen.map((s) => s.noCache)).toEqual([true, false, false, true, false, false]);
    expect(seen[0].text).toBe("FROM golang:1.19\n");
    expect(seen[3].text).toBe("FROM golang:1.19 AS build\n");
    for (const s of seen) expect(s.dockerfile.startsWith(work)).toBe(true);
    expect(seen[0].files).not.toContain(".dockerignore");
    expect(seen[0].files).not.toContain("e2e.json");
    expect(seen[3].files).toContain(".dockerignore");
    // both cold builds see the untouched file; both rebuilds see the same one-line change
    expect(seen[0].main).toBe("package main\n");
    expect(seen[3].main).toBe("package main\n");
    expect(seen[2].main).toMatch(/^package main\n\/\/ rebuild check \d+\n$/);
    expect(seen[5].main).toBe(seen[2].main);
    expect(c.touched).toBe("src/main.go");
    expect(c.sameOutput).toBe(true);
    const after =
      JSON.stringify(fs.readdirSync(ctx, { recursive: true })) +
      fs.readFileSync(path.join(ctx, "src/main.go"), "utf8");
    expect(after).toBe(before);
  });
});

describe("compareBuilds cold modes", () => {
  test('"prune" drops the other image and the layer cache before each cold build, no seeding build', async () => {
    const ctx = tmp();
    fs.writeFileSync(path.join(ctx, "app.py"), "print('hi')\n");
    const events: string[] = [];
    const builder: Builder = {
      name: "buildah",
      version: "recording",
      build(dockerfile, _context, tag, opts) {
        events.push(`build ${path.basename(dockerfile)} ${tag} ${opts.noCache ? "no-cache" : "cache"}`);
        return Promise.resolve({ ok: true, seconds: 1, error: null });
      },
      inspect: () => Promise.resolve({ bytes: 10, layers: 1, command: ["python", "app.py"] }),
      run(tag) {
        events.push(`run ${tag}`);
        return Promise.resolve({
          ok: true,
          exitCode: 0,
          timedOut: false,
          stdout: "hi\n",
          stderr: "",
          http: null,
          error: null,
        });
      },
      remove(tags) {
        events.push(`remove ${tags.join(" ")}`);
        return Promise.resolve();
      },
      prune() {
        events.push("prune");
        return Promise.resolve();
      },
    };
    const c = await compareBuilds({
      builder,
      originalText: "FROM python:3.11\n",
      rewrittenText: "FROM python:3.11-slim\n",
      sideFiles: [],
      contextDir: ctx,
      workDir: tmp(),
      touch: "auto",
      run: { timeoutMs: 1000 },
      tagPrefix: "localhost/p",
      cold: "prune",
    });
    expect(events).toEqual([
      "prune",
      "build Dockerfile.original localhost/p:before cache",
      "run localhost/p:before",
      "build Dockerfile.original localhost/p:before cache",
      "remove localhost/p:before",
      "prune",
      "build Dockerfile.rewritten localhost/p:after cache",
      "run localhost/p:after",
      "build Dockerfile.rewritten localhost/p:after cache",
      "remove localhost/p:after",
      "remove localhost/p:before localhost/p:after",
    ]);
    expect(c.touched).toBe("app.py");
    expect(c.sameOutput).toBe(true);
    expect(c.after.rebuild?.ok).toBe(true);
  });
});

describe("exec", () => {
  test("a command that outlives its time limit is killed with its children", async () => {
    const r = await exec("sh", ["-c", "echo started; sleep 30 & sleep 30; echo never"], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.stdout).toBe("started\n");
    expect(r.seconds).toBeLessThan(10);
  });

  test("a missing command is reported, not thrown", async () => {
    const r = await exec("dfopt-no-such-command-xyz", []);
    expect(r.code).not.toBe(0);
    expect(r.spawnError).toMatch(/ENOENT/);
  });
});

describe("a builder step that fails before anything ran", () => {
  const MEMFD = "Close_Fd sealing memfd copy: Device or resource busy\nError: exit status 1";
  const steps = (...errors: Array<string | null>) => {
    let calls = 0;
    const step = () => {
      const error = errors[Math.min(calls++, errors.length - 1)];
      return Promise.resolve({ ok: error === null, error });
    };
    return { step, calls: () => calls };
  };

  test("buildah's memfd seal refused (EBUSY) is tried again, up to three times in all", async () => {
    const twice = steps(MEMFD, MEMFD, null);
    expect(await againOnTransient(twice.step)).toEqual({ ok: true, error: null });
    expect(twice.calls()).toBe(3);
    const always = steps(MEMFD);
    expect((await againOnTransient(always.step)).error).toBe(MEMFD);
    expect(always.calls()).toBe(3);
  });

  test("any other failure is the Dockerfile's, and final", async () => {
    const failing = steps("RUN npm ci: exit status 1", null);
    expect(await againOnTransient(failing.step)).toEqual({ ok: false, error: "RUN npm ci: exit status 1" });
    expect(failing.calls()).toBe(1);
  });
});
