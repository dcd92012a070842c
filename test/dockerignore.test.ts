import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parseDockerignore } from "../src/engine/dockerignore-rules.ts";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import type { BuildContext } from "../src/engine/types.ts";
import { emptyContext, folderContext, memoryContext } from "../src/io/context.ts";
import { dockerignore } from "../transforms/dockerignore.ts";
import { npmCi } from "../transforms/pkg/npm-ci.ts";
import { contextIgnores as splitStagesIgnored } from "../transforms/split-stages/toolkit/runtime-files.ts";
import { dfopt, tree } from "./cli-run.ts";
import { fixtureCases } from "./fixture-cases.ts";
import { APPS_DIR, listApps } from "../scripts/split-apps-table.ts";

beforeAll(loadParsers);

const propose = (text: string, context: BuildContext) =>
  optimizeFile(text, context, { transforms: [dockerignore] }).sideFiles;

/** The same context with `.dockerignore` replaced, as after `dfopt --write`. */
function withIgnore(context: BuildContext, content: string): BuildContext {
  return {
    root: context.root,
    readFile: (p) => (p === ".dockerignore" ? content : context.readFile(p)),
    readStart: (p, bytes) => (p === ".dockerignore" ? content.slice(0, bytes) : context.readStart(p, bytes)),
    exists: (p) => p === ".dockerignore" || context.exists(p),
    isDirectory: (p) => context.isDirectory(p),
    list: (d) => {
      const l = context.list(d);
      return d === "" || d === "." ? [...new Set([...l, ".dockerignore"])].sort() : l;
    },
  };
}

const patterns = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

/** Explicit COPY/ADD sources (not the whole context) of a Dockerfile. */
function explicitSources(text: string): string[] {
  const m = parseDockerfile(text);
  return m.instructions
    .filter((i) => (i.keyword === "COPY" || i.keyword === "ADD") && !i.flags.some((f) => f.name === "from"))
    .flatMap((i) => {
      const words = i.execForm
        ? (JSON.parse(i.text.slice(i.argsSpan!.start - i.start)) as string[])
        : i.args.map((a) => a.value);
      return words.slice(0, -1);
    })
    .map((s) => s.replace(/^\.\//, "").replace(/\/+$/, ""))
    .filter((s) => s && s !== "." && !/[*?[]/.test(s));
}

function checkProposal(name: string, dockerfile: string, context: BuildContext) {
  const files = propose(dockerfile, context);
  const existing = context.readFile(".dockerignore");
  if (files.length === 0) return null;
  expect(
    files.map((f) => f.path),
    name,
  ).toEqual([".dockerignore"]);
  const content = files[0].content;
  // never removes or reorders a line of an existing file
  if (existing !== undefined) {
    expect(content.startsWith(existing.replace(/(\r?\n)?$/, "")), name).toBe(true);
    expect(content.slice(existing.length)).toContain("# added by dfopt");
  }
  // never ignores what the Dockerfile copies by name
  const ig = parseDockerignore(content);
  for (const src of explicitSources(dockerfile)) expect(ig.ignores(src), `${name}: ${src}`).toBe(false);
  // idempotent: with the proposal written, nothing more is proposed
  expect(propose(dockerfile, withIgnore(context, content)), name).toEqual([]);
  return content;
}

describe("dockerignore", () => {
  test("a .dockerignore linked out of the build context is not read, not replaced, and the refusal says why", () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-outside-"));
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-ctx-"));
    try {
      fs.writeFileSync(path.join(outside, "notes.txt"), "OUTSIDE-CONTENT\n");
      fs.writeFileSync(path.join(root, "package.json"), "{}");
      fs.symlinkSync(path.join(outside, "notes.txt"), path.join(root, ".dockerignore"));
      const context = folderContext(root);
      expect(context.readFile(".dockerignore")).toBeUndefined();
      const result = optimizeFile("FROM node:20\nCOPY . .\nRUN npm ci\n", context, {
        transforms: [dockerignore],
      });
      expect(result.sideFiles).toEqual([]);
      expect(result.refusals).toEqual([
        expect.objectContaining({
          transform: "dockerignore",
          reason: expect.stringMatching(/does not read it/),
        }),
      ]);
      expect(JSON.stringify(result)).not.toContain("OUTSIDE-CONTENT");
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test("existing rules are read as Docker reads them: a name without a slash covers the root only", () => {
    // gitignore rules would take `node_modules` as covering packages/a/node_modules too.
    const ctx = memoryContext({ "package.json": "{}", ".dockerignore": "node_modules\n" });
    const content = checkProposal("root only", "FROM node:20\nCOPY . .\nRUN npm ci\n", ctx)!;
    expect(patterns(content)).toContain("**/node_modules");
  });

  test("does nothing without a real build context", () => {
    expect(propose("FROM node:20\nCOPY . .\nRUN npm ci\n", emptyContext)).toEqual([]);
  });

  test("a context shared by several Dockerfiles gets no .dockerignore: it would apply to all of them", () => {
    const app = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD node dist/index.js\n";
    const alone = memoryContext({ "package.json": "{}", Dockerfile: app });
    expect(propose(app, alone).map((f) => f.path)).toEqual([".dockerignore"]);

    // Dockerfile.dev copies a prebuilt dist/ that Dockerfile's entries would hide.
    const shared = memoryContext({
      "package.json": "{}",
      Dockerfile: app,
      "Dockerfile.dev": "FROM node:20\nCOPY dist/ /app/\n",
    });
    const result = optimizeFile(app, shared, { transforms: [dockerignore] });
    expect(result.sideFiles).toEqual([]);
    expect(result.refusals).toEqual([
      expect.objectContaining({
        transform: "dockerignore",
        reason: expect.stringMatching(
          /the build context holds 2 Dockerfiles \(Dockerfile, Dockerfile\.dev\)/,
        ),
      }),
    ]);
    // Nothing to add: nothing to refuse either.
    const covered = memoryContext({
      ...Object.fromEntries([["package.json", "{}"]]),
      Dockerfile: app,
      "Dockerfile.dev": "FROM node:20\n",
      ".dockerignore": "*\n",
    });
    expect(optimizeFile(app, covered, { transforms: [dockerignore] }).refusals).toEqual([]);
  });

  test("a .dockerignore that already covers everything gets nothing added", () => {
    const df = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD node src/index.js\n";
    const ctx = memoryContext({ "package.json": "{}", ".dockerignore": "*\n!src/index.js\n!package.json\n" });
    expect(propose(df, ctx)).toEqual([]);
    // `!src` re-includes the whole folder for Docker, src/.DS_Store and src/a.swp with it.
    const reincluded = memoryContext({ "package.json": "{}", ".dockerignore": "*\n!src\n!package.json\n" });
    expect(patterns(checkProposal("re-included", df, reincluded)!).slice(3)).toEqual([
      "**/.DS_Store",
      "**/*.swp",
    ]);
  });

  test("never ignores a file the Dockerfile copies by name (.env, dist/, .git/config)", () => {
    const ctx = memoryContext({ "package.json": "{}", ".env": "", "dist/index.js": "" });
    const df =
      "FROM node:20\nWORKDIR /app\nCOPY .env ./\nCOPY .git/HEAD ./rev\nCOPY dist/ ./dist/\nRUN npm ci && npm run build\nCMD node dist/index.js\n";
    const content = checkProposal("copied", df, ctx)!;
    expect(patterns(content)).not.toContain(".env");
    expect(patterns(content)).not.toContain(".git");
    expect(patterns(content)).not.toContain("dist");
    expect(patterns(content)).toContain("**/node_modules");
  });

  test("apps that load .env files themselves keep them in the context", () => {
    const ctx = memoryContext({ "requirements.txt": "flask\npython-dotenv\n" });
    const content = checkProposal(
      "dotenv",
      "FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD python app.py\n",
      ctx,
    )!;
    expect(patterns(content)).not.toContain(".env");
    // custom-env loads .env through its own copy of dotenv, which the app may then require too
    const customEnv = memoryContext({
      "package.json": '{"dependencies": {"custom-env": "^2.0.1", "express": "^4.18.2"}}',
      ".env": "DATABASE_URL=mongodb://db/app\n",
    });
    const node = checkProposal(
      "custom-env",
      'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD ["node", "server.js"]\n',
      customEnv,
    )!;
    expect(patterns(node)).not.toContain(".env");
    expect(patterns(node)).toContain("**/node_modules");
  });

  test("a front-end build that reads .env files (Vite) keeps them in the context", () => {
    // bench:apps Yobgoyin__loan_cli: VITE_ values from .env end up in the bundle and its hashed names
    const ctx = memoryContext({
      "package.json": '{"scripts":{"build":"vite build"},"devDependencies":{"vite":"^3.1.8"}}',
    });
    const content = checkProposal(
      "vite-env",
      'FROM node:16\nWORKDIR /app\nCOPY package*.json ./\nRUN npm install\nCOPY . .\nRUN npm run build\nCMD ["http-server","dist"]\n',
      ctx,
    )!;
    expect(patterns(content)).not.toContain(".env");
    expect(patterns(content)).not.toContain(".env.*.local");
  });

  test("appends to an existing CRLF file without a final newline, in its own line ending", () => {
    const ctx = memoryContext({ "requirements.txt": "flask\n", ".dockerignore": ".git\r\n*.log" });
    const content = checkProposal(
      "crlf",
      "FROM python:3.12\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n",
      ctx,
    )!;
    expect(content.startsWith(".git\r\n*.log\r\n# added by dfopt\r\n")).toBe(true);
    expect(content.replace(/\r\n/g, "")).not.toContain("\n");
  });

  test("build outputs are only ignored when the image rebuilds them", () => {
    const ctx = memoryContext({ "package.json": "{}" });
    const noBuild = checkProposal(
      "nobuild",
      "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD node dist/index.js\n",
      ctx,
    )!;
    expect(patterns(noBuild)).not.toContain("dist");
    const withBuild = checkProposal(
      "build",
      "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD npm start\n",
      ctx,
    )!;
    expect(patterns(withBuild)).toContain("dist");
  });

  test.each(
    fixtureCases()
      .filter((c) => c.transform === "dockerignore")
      .map((c) => [c.name, c] as const),
  )("fixture %s: safe and idempotent", (name, c) => {
    checkProposal(name, c.input, c.context);
  });

  const apps = fs.existsSync(APPS_DIR) ? listApps() : [];
  test.skipIf(apps.length === 0)(
    "real apps: proposals are safe, keep existing lines and are idempotent",
    () => {
      let proposed = 0;
      for (const app of apps) {
        const text = fs.readFileSync(app.dockerfile, "utf8");
        if (checkProposal(app.dir, text, folderContext(app.context)) !== null) proposed++;
      }
      expect(proposed).toBeGreaterThan(0);
    },
  );
});

describe("the other readers of .dockerignore use Docker's rules", () => {
  test("npm-ci: a lock file re-included under an excluded folder is in the context", () => {
    const files = {
      "app/package.json": '{"name":"a","version":"1.0.0"}',
      "app/package-lock.json":
        '{"name":"a","version":"1.0.0","lockfileVersion":3,"packages":{"":{"name":"a","version":"1.0.0"}}}',
    };
    const df =
      "FROM node:20\nWORKDIR /app\nCOPY app/package.json app/package-lock.json ./\nRUN npm install\n";
    const run = (rules: string) =>
      optimizeFile(df, memoryContext({ ...files, ".dockerignore": rules }), { transforms: [npmCi] });
    // Docker re-includes app/package*.json; gitignore rules could not (their folder is excluded).
    const reincluded = run("app\n!app/package.json\n!app/package-lock.json\n");
    expect(reincluded.refusals).toEqual([]);
    expect(reincluded.output).toContain("npm ci");
    // `package-lock.json` names the root file only: app/package-lock.json is still sent.
    expect(run("package-lock.json\n").output).toContain("npm ci");
    // An exclusion that does match is still a refusal.
    expect(run("app/package-lock.json\n").refusals).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/excluded by \.dockerignore/) }),
    ]);
  });

  test("split-stages: what a .dockerignore leaves out of the context", () => {
    const ignored = splitStagesIgnored(memoryContext({ ".dockerignore": "docs\n!docs/keep.md\n*.log\n" }));
    expect(ignored("docs/other.md")).toBe(true);
    expect(ignored("docs/keep.md")).toBe(false);
    expect(ignored("app.log")).toBe(true);
    expect(ignored("logs/app.log")).toBe(false);
  });
});

describe("a --context shared by several Dockerfiles, or not the Dockerfile's own folder (through the CLI)", () => {
  // a/ copies the dist/ it was given; b/ builds its own, so b alone would ignore dist.
  const repo = () =>
    tree({
      "package.json": '{"name":"x","scripts":{"build":"tsc"}}',
      "dist/index.js": "",
      "a/Dockerfile":
        'FROM node:20\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\nCOPY dist ./dist\nCMD ["node","dist/index.js"]\n',
      "b/Dockerfile":
        'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm install && npm run build\nCMD ["node","dist/index.js"]\n',
    });
  const json = async (args: string[], cwd: string) => {
    const run = await dfopt(["--unsafe", ...args, "--only", "dockerignore", "--format", "json"], cwd);
    return { code: run.code, files: JSON.parse(run.stdout).files as Record<string, unknown>[] };
  };

  test("one --context for two Dockerfiles: no .dockerignore for either, and each says why", async () => {
    const dir = repo();
    try {
      const { code, files } = await json(["--write", "--context", ".", "a/Dockerfile", "b/Dockerfile"], dir);
      expect(code).toBe(0);
      expect(fs.existsSync(path.join(dir, ".dockerignore"))).toBe(false);
      for (const f of files) {
        expect(f.sideFiles).toEqual([]);
        expect(f.refusals).toEqual([
          expect.objectContaining({
            transform: "dockerignore",
            reason: expect.stringMatching(/--context\) is shared by the Dockerfiles of this run/),
          }),
        ]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a --context that is not the Dockerfile's own folder is left alone; its own folder is not", async () => {
    const dir = repo();
    try {
      const other = await json(["--context", ".", "b/Dockerfile"], dir);
      expect(other.files[0].sideFiles).toEqual([]);
      expect(other.files[0].refusals).toEqual([
        expect.objectContaining({ reason: expect.stringMatching(/not the Dockerfile's own folder/) }),
      ]);
      const own = await json(["--context", "b", "b/Dockerfile"], dir);
      expect(own.files[0].sideFiles).toEqual([
        expect.objectContaining({ path: "b/.dockerignore", created: true }),
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
