import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

// What `npm install dfopt` gives a user: the package is packed (`npm pack`,
// which builds it through "prepare") from a copy of the sources, so that the
// build does not replace dist/ under other tests, and installed offline into
// a fresh project: the tarball must work with no dependency installed.
const ROOT = path.resolve(import.meta.dirname, "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-pack-"));
const stage = path.join(work, "stage");
const project = path.join(work, "project");
const npm = (args: string[], cwd: string) =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" });
let packed: string[] = [];

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  const sources = [
    "package.json",
    "tsconfig.json",
    "tsconfig.types.json",
    "scripts/build.mjs",
    "src",
    "transforms",
  ];
  for (const entry of [...sources, ...pkg.files])
    if (fs.existsSync(path.join(ROOT, entry)) && entry !== "dist")
      fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(stage, "node_modules"));
  const listing = JSON.parse(
    npm(["pack", "--json", "--pack-destination", work], stage).replace(/^[^[]*/, ""),
  );
  packed = listing[0].files.map((f: { path: string }) => f.path);
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  npm(["install", "--offline", path.join(work, listing[0].filename)], project);
  fs.copyFileSync(path.join(ROOT, "examples/plugins/no-sudo.mjs"), path.join(project, "no-sudo.mjs"));
  for (let i = 0; i < 26; i++) write(`svc${i}/Dockerfile`, SUDO);
}, 600_000);

function write(rel: string, text: string) {
  fs.mkdirSync(path.dirname(path.join(project, rel)), { recursive: true });
  fs.writeFileSync(path.join(project, rel), text);
}

function run(command: string, args: string[], input?: string) {
  const r = spawnSync(command, args, {
    cwd: project,
    encoding: "utf8",
    input,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SUDO = "FROM debian:12\nRUN sudo apt-get update\n";

// Under a loaded machine tsc alone has taken half a minute here.
describe("the packed package, installed into a fresh project", { timeout: 300_000 }, () => {
  test("holds the bundle, its types and the LICENSE, not the sources; installs no dependency", () => {
    for (const file of [
      "LICENSE",
      "README.md",
      "bin/dfopt.cjs",
      "dist/index.js",
      "dist/worker.js",
      "dist/dfopt.cjs",
    ])
      expect(packed).toContain(file);
    expect(packed).toContain("dist/types/src/api.d.ts");
    expect(packed).toContain("dist/tree-sitter-bash.wasm");
    expect(packed.filter((f) => f.startsWith("src/") || f.startsWith("test/"))).toEqual([]);
    const installed = fs.readdirSync(path.join(project, "node_modules")).filter((n) => !n.startsWith("."));
    expect(installed).toEqual(["dfopt"]);
  });

  test("the API: import from 'dfopt', one text with the example plugin, many files through worker threads", () => {
    write(
      "use-api.mjs",
      `import { optimize, optimizeFiles } from "dfopt";
const one = await optimize(${JSON.stringify(SUDO)}, { plugins: ["./no-sudo.mjs"], only: ["no-sudo"], safe: false });
const many = await optimizeFiles(["."], { plugins: ["./no-sudo.mjs"], only: ["no-sudo"], jobs: 2, safe: false });
console.log(JSON.stringify({ output: one.output, changes: one.changes, summary: many.summary }));
`,
    );
    const r = run(process.execPath, ["use-api.mjs"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      output: "FROM debian:12\nRUN apt-get update\n",
      changes: [
        {
          transform: "no-sudo",
          line: 2,
          message: "sudo dropped: the RUN already runs as root",
          rules: ["DL3004"],
          applicability: "unsafe",
        },
      ],
      summary: { files: 26, changed: 26, errors: 0 },
    });
  });

  test("the types resolve for a TypeScript user (tsc reports only the deliberate mistake)", () => {
    write(
      "use-types.ts",
      `import { optimize, type OptimizeResult, type Transform } from "dfopt";
export const mine: Transform = { id: "mine", description: "d", applicability: "safe", run: ({ model }) => ({ changes: [], refusals: [{ line: model.stages[0].from.line, reason: "r" }] }) };
const result: OptimizeResult = await optimize("FROM x\\n", { context: { "go.mod": "module m\\n" }, only: ["pin-tags"] });
export const line: number | null = result.refusals[0]?.line ?? null;
export const wrong: number = result.output;
`,
    );
    write(
      "tsconfig.json",
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [path.join(ROOT, "node_modules/@types")],
        },
        files: ["use-types.ts"],
      }),
    );
    const r = run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."]);
    expect(r.stdout.trim().split("\n")).toEqual([
      "use-types.ts(5,14): error TS2322: Type 'string' is not assignable to type 'number'.",
    ]);
  });

  test("the CLI: node_modules/.bin/dfopt with --transform, and with --stdin", () => {
    const bin = path.join(project, "node_modules/.bin/dfopt");
    const check = run(bin, [
      "--transform",
      "no-sudo.mjs",
      "--unsafe",
      "--only",
      "no-sudo",
      "--check",
      "svc0",
      "svc1",
    ]);
    expect(check.code).toBe(1);
    expect(check.stdout).toBe("svc0/Dockerfile\nsvc1/Dockerfile\n");
    const piped = run(
      bin,
      [
        "--stdin",
        "--stdin-filepath",
        "svc0/Dockerfile",
        "--transform",
        "no-sudo.mjs",
        "--unsafe",
        "--only",
        "no-sudo",
      ],
      SUDO,
    );
    expect(piped).toEqual({ code: 0, stdout: "FROM debian:12\nRUN apt-get update\n", stderr: "" });
  });
});
