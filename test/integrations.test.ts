import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { isDockerfileName } from "../src/engine/dockerfile-names.ts";
import { tree } from "./cli-run.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/dfopt.cjs");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");

interface Step {
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
interface Action {
  inputs: Record<string, { description: string; default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
}

const action = parse(read("action.yml")) as Action;
const UNPINNED = "FROM node:latest\nRUN echo hi\n";
// apt-get-yes is a safe change, so the default (safe-only) run makes it.
const NO_YES = "FROM debian:12\nRUN apt-get update && apt-get install curl\n";

/**
 * Runs a step's script as the runner would: its env with `${{ inputs.x }}`
 * filled from `inputs` over the defaults, and `steps.install.outputs.bin`
 * the repository's own bin/dfopt.cjs (what the install step outputs).
 */
function runStep(id: string, inputs: Record<string, string>, cwd: string) {
  const step = action.runs.steps.find((s) => s.id === id)!;
  const values: Record<string, string> = {};
  for (const [name, input] of Object.entries(action.inputs))
    values[name] = inputs[name] ?? input.default ?? "";
  const output = path.join(cwd, "github-output");
  fs.writeFileSync(output, "");
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NO_COLOR: "1",
    GITHUB_OUTPUT: output,
  };
  for (const [key, expression] of Object.entries(step.env ?? {})) {
    env[key] = expression.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (_, ref: string) => {
      if (ref === "steps.install.outputs.bin") return BIN;
      if (ref.startsWith("inputs.")) return values[ref.slice("inputs.".length)];
      throw new Error(`unknown expression ${ref}`);
    });
  }
  const r = spawnSync("bash", ["-c", step.run!], { cwd, env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, output: fs.readFileSync(output, "utf8") };
}

describe("action.yml", () => {
  test("is a composite action that sets up Node, uses every input it declares and declares every input it uses", () => {
    expect(action.runs.using).toBe("composite");
    const text = read("action.yml");
    const used = new Set([...text.matchAll(/inputs\.([\w-]+)/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(action.inputs).sort());
    const setup = action.runs.steps.find((s) => s.uses?.startsWith("actions/setup-node@"));
    expect(setup?.with?.["node-version"]).toBe("${{ inputs.node-version }}");
    const upload = action.runs.steps.find((s) => s.uses?.startsWith("github/codeql-action/upload-sarif@"));
    expect(upload?.if).toBe("inputs.sarif == 'true'");
    expect(upload?.with?.sarif_file).toBe("${{ inputs.sarif-file }}");
    // Inputs reach scripts only through env: a path cannot inject shell code.
    for (const step of action.runs.steps) if (step.run) expect(step.run).not.toContain("${{");
  });

  test("the gate step fails on a Dockerfile that would change with check 'true', and prints the diff otherwise", () => {
    const dir = tree({ "app/Dockerfile": NO_YES, "ok/Dockerfile": "FROM node:20.11.1\n" });
    const gate = runStep("gate", { paths: "app ok", args: "--only apt-get-yes" }, dir);
    expect(gate.code).toBe(1);
    expect(gate.stdout).toContain("app/Dockerfile\n");
    expect(gate.stdout).toContain("[apt-get-yes, safe]");
    const clean = runStep("gate", { paths: "ok", args: "--only apt-get-yes" }, dir);
    expect(clean.code).toBe(0);
    // An unsafe change fails the gate only when args accept it.
    const pinned = tree({ "app/Dockerfile": UNPINNED });
    expect(runStep("gate", { paths: "app", args: "--only pin-tags" }, pinned).code).toBe(0);
    const unsafe = runStep("gate", { paths: "app", args: "--unsafe --only pin-tags" }, pinned);
    expect(unsafe.code).toBe(1);
    expect(unsafe.stdout).toContain("[pin-tags, unsafe]");
    const diff = runStep("gate", { paths: "app", args: "--only apt-get-yes", check: "false" }, dir);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain("+++ b/app/Dockerfile");
  });

  test("the sarif step writes a SARIF log with the changes and names it as the step's output", () => {
    const dir = tree({ "app/Dockerfile": UNPINNED });
    const r = runStep(
      "sarif",
      { paths: "app", args: "--only pin-tags", sarif: "true", "sarif-file": "out.sarif" },
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.output).toBe("file=out.sarif\n");
    const log = JSON.parse(fs.readFileSync(path.join(dir, "out.sarif"), "utf8"));
    expect(log.version).toBe("2.1.0");
    expect(log.runs[0].results.map((x: { ruleId: string }) => x.ruleId)).toContain("pin-tags");
  });
});

/**
 * The commands a GitHub Actions runner would act on in a step's log, read as the runner reads them
 * (actions/runner, ActionCommandManager.TryProcessCommand): `::name ...::data` at the start of a
 * line after leading white space, or the legacy `##[name ...]data` anywhere in it; after
 * `::stop-commands::TOKEN` none until a line `::TOKEN::`.
 */
function workflowCommands(log: string): string[] {
  const known = new Set(["set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher"]);
  for (const name of ["remove-matcher", "debug", "notice", "warning", "error", "group", "endgroup", "echo"])
    known.add(name);
  known.add("stop-commands");
  let stopToken: string | null = null;
  const seen: string[] = [];
  for (const line of log.split(/\r?\n/)) {
    const v2 = /^::([^:\s]+)[^:]*::/.exec(line.trimStart());
    const v1 = /##\[([^\]\s]+)[^\]]*\]/.exec(line);
    const name = v2?.[1] ?? v1?.[1];
    if (name === undefined) continue;
    if (stopToken !== null) {
      if (name === stopToken) stopToken = null;
      continue;
    }
    if (!known.has(name)) continue;
    if (name === "stop-commands") stopToken = line.trimStart().slice("::stop-commands::".length);
    else seen.push(line);
  }
  return seen;
}

describe("action.yml on a hostile repository", () => {
  // A pull request controls the Dockerfiles and their names; the runner reads workflow commands
  // from every line a step prints (the diff shows the file's lines, the refusals name its files).
  const HOSTILE =
    "FROM debian:12\n" +
    "RUN apt-get update && apt-get install curl\n" +
    "RUN <<EOF\n::error file=README.md,line=1::forged annotation\n  ::add-mask::dfopt\nEOF\n" +
    "RUN echo '##[warning]forged' && apt-get install wget\n";
  const files = {
    "app/Dockerfile": HOSTILE,
    "##[error]forged/Dockerfile": HOSTILE,
    "bad/Dockerfile": "FORM x\n",
  };

  test("no line dfopt prints is acted on as a workflow command, in the gate (check or diff) and the sarif step", () => {
    const dir = tree(files);
    const paths = "app ##[error]forged bad";
    for (const check of ["true", "false"]) {
      const r = runStep("gate", { paths, args: "--explain", check }, dir);
      expect(r.stdout + r.stderr).toContain("forged");
      expect(r.code).not.toBe(0);
      expect(workflowCommands(r.stdout + r.stderr)).toEqual([]);
    }
    const sarif = runStep("sarif", { paths, sarif: "true", "sarif-file": "out.sarif", args: "" }, dir);
    expect(workflowCommands(sarif.stdout + sarif.stderr)).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "out.sarif"), "utf8")).version).toBe("2.1.0");
  });
});

describe(".pre-commit-hooks.yaml", () => {
  const hooks = parse(read(".pre-commit-hooks.yaml")) as {
    id: string;
    entry: string;
    language: string;
    files: string;
    exclude: string;
  }[];
  /** pre-commit's patterns are Python's, with an inline (?i) flag. */
  const pattern = (p: string) => new RegExp(p.replace(/^\(\?i\)/, ""), p.startsWith("(?i)") ? "i" : "");

  test("has a check hook 'dfopt' and a write variant, both run through the package's bin", () => {
    expect(hooks.map((h) => [h.id, h.entry, h.language])).toEqual([
      ["dfopt", "dfopt --check", "node"],
      ["dfopt-write", "dfopt --write", "node"],
    ]);
  });

  test("matches the file names dfopt takes as Dockerfiles, and none of the backups and templates it skips", () => {
    const names = [
      "Dockerfile",
      "Containerfile",
      "dockerfile",
      "api.Dockerfile",
      "build.dockerfile",
      "Dockerfile.prod",
      "Dockerfile.dev.arm64",
      "Dockerfile.j2",
      "Dockerfile.in",
      "Dockerfile.bak",
      "Dockerfile~",
      ".dockerignore",
      "Dockerfile.dockerignore",
      "README.md",
      "Dockerfiles",
      "docker-compose.yml",
    ];
    for (const hook of hooks) {
      const files = pattern(hook.files);
      const exclude = pattern(hook.exclude);
      for (const name of names) {
        for (const where of [name, `services/api/${name}`]) {
          const matched = files.test(where) && !exclude.test(where);
          expect(matched, `${hook.id}: ${where}`).toBe(isDockerfileName(name));
        }
      }
    }
  });

  test("the check hook, run as pre-commit runs it (entry + file names), fails on a file that would change", () => {
    const dir = tree({ "app/Dockerfile": NO_YES });
    const [command, ...args] = hooks[0].entry.split(" ");
    expect(command).toBe("dfopt");
    const r = spawnSync(process.execPath, [BIN, ...args, "--only", "apt-get-yes", "app/Dockerfile"], {
      cwd: dir,
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("app/Dockerfile\n");
  });
});
