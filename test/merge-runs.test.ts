import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile, type DockerfileModel } from "../src/engine/parse.ts";
import { shellOf } from "../src/engine/shell.ts";
import { emptyContext } from "../src/io/context.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "./corpus-check.ts";
import { DEFAULT_OPTIONS, type MergeRunsScope } from "../src/engine/types.ts";
import { MAX_MERGED_LINES, mergeRuns } from "../transforms/merge-runs.ts";

beforeAll(loadParsers);

const optimize = (text: string, mergeRunsScope: MergeRunsScope = "final") =>
  optimizeFile(text, emptyContext, {
    transforms: [mergeRuns],
    options: { ...DEFAULT_OPTIONS, mergeRuns: mergeRunsScope },
  });

/**
 * The command line Docker hands to the shell for a shell-form RUN: escape +
 * newline joins lines, and comment or blank lines inside the continuation are
 * dropped. Written independently of the engine's normaliseForBash.
 */
function dockerCommand(model: DockerfileModel, argsStart: number, argsEnd: number): string {
  const esc = model.escapeChar;
  const lines = model.text.slice(argsStart, argsEnd).split(/\r?\n/);
  let out = "";
  let continuing = false;
  for (const line of lines) {
    if (continuing && (line.trim() === "" || line.trim().startsWith("#"))) continue;
    const m = new RegExp(`^(.*)${esc === "\\" ? "\\\\" : esc}[ \\t]*$`).exec(line);
    if (m) {
      out += m[1];
      continuing = true;
    } else {
      out += line;
      continuing = false;
    }
  }
  return out;
}

const SHELLS = ["/bin/sh", "/bin/dash", "/bin/bash"].filter((s) => fs.existsSync(s));

/** Runs the RUNs of a Dockerfile like a build would: in order, each in a new shell, stopping at the first failure. */
function build(dockerfile: string, shell: string, shellFlags: string[]): { stdout: string; ok: boolean } {
  const model = parseDockerfile(dockerfile);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-merge-runs-"));
  let stdout = "";
  try {
    for (const instr of model.instructions) {
      if (instr.keyword !== "RUN") continue;
      const cmd = dockerCommand(model, instr.argsSpan!.start, instr.argsSpan!.end);
      try {
        stdout += execFileSync(shell, [...shellFlags, "-c", cmd], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        });
      } catch (e) {
        stdout += (e as { stdout?: string }).stdout ?? "";
        return { stdout: stdout.replaceAll(dir, "<ctx>"), ok: false };
      }
    }
    return { stdout: stdout.replaceAll(dir, "<ctx>"), ok: true };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A Dockerfile of RUNs; an entry starting with `#` or empty is written as a comment or blank line. */
const dockerfile = (runs: string[], header = "FROM debian:12\n") =>
  header + runs.map((r) => (r.trim() === "" || r.trim().startsWith("#") ? `${r}\n` : `RUN ${r}\n`)).join("");

describe("merged RUNs behave like the separate RUNs (executed with a real shell)", () => {
  const cases: Array<[string, string[]]> = [
    ["plain pair", ["echo one", "echo two"]],
    ["cd does not leak", ["mkdir -p sub && cd sub && touch inner", "pwd; ls"]],
    ["export does not leak", ['export A=1 && echo "in A=$A"', 'echo "A=${A:-unset}"']],
    ["bare assignment does not leak", ["B=2; echo $B", 'echo "B=${B:-unset}"']],
    ["function does not leak", ["f() { echo f-ran; }; f", "command -v f || echo no-f"]],
    ["loop variable does not leak", ["for i in 1 2; do echo $i; done", 'echo "i=${i:-unset}"']],
    ["${X:=} does not leak", [": ${X:=5}; echo $X", 'echo "X=${X:-unset}"']],
    ["assignment before a special builtin does not leak", ["C=3 :", 'echo "C=${C:-unset}"']],
    ["umask does not leak", ["umask 077; touch f1", "touch f2; ls -l f2 | cut -c1-10"]],
    ["set -x does not leak", ["set -x; echo traced", "echo plain"]],
    ["first ends with ; list", ["false; echo after", "echo next"]],
    ["first with || list", ["false || echo recovered", "echo next"]],
    ["second with ; list after a failure", ["test -e missing-file", "echo x; echo y"]],
    ["second with || list after a failure", ["test -e missing-file", "false || echo rescued"]],
    ["middle with || list", ["echo a", "false || echo b", "echo c"]],
    ["middle fails", ["echo a", "false || false", "echo never"]],
    ["last uses set -e", ["echo a", "set -e; false; echo should-not-print"]],
    ["trailing semicolon", ["echo a;", "echo b;", "echo c"]],
    ["pipelines and negation", ["echo abc | tr a-z A-Z", "! false && echo negated"]],
    ["if and case", ["if [ -d . ]; then echo dir; fi", "case x in x) echo matched;; esac"]],
    ["subshell already", ["(cd / && pwd)", "pwd | sed 's/.*/cwd-ok/'"]],
    ["multi-line continuation", ["echo a \\\n    && echo b", "echo c \\\n    && echo d"]],
    ["comments and blank lines between", ["echo a", "", "# note", "  # indented", "", "echo b"]],
  ];
  for (const [name, runs] of cases) {
    test(name, () => {
      const input = dockerfile(runs);
      const result = optimize(input);
      expect(result.error).toBeNull();
      expect(result.changes.length).toBeGreaterThan(0);
      const merged = parseDockerfile(result.output);
      expect(merged.instructions.filter((i) => i.keyword === "RUN")).toHaveLength(1);
      for (const shell of SHELLS) {
        expect(build(result.output, shell, []), shell).toEqual(build(input, shell, []));
      }
    });
  }

  test("errexit shell: joins only where set -e keeps working", () => {
    const header = 'FROM debian:12\nSHELL ["/bin/sh", "-e", "-c"]\n';
    const input = dockerfile(["false; echo not-with-e", "echo a", "echo b; echo c"], header);
    const result = optimize(input);
    expect(result.output).not.toBe(input);
    for (const shell of SHELLS) {
      expect(build(result.output, shell, ["-e"]), shell).toEqual(build(input, shell, ["-e"]));
    }
    const compound = dockerfile(["if true; then false; echo hidden; fi", "echo after"], header);
    const refused = optimize(compound);
    expect(refused.output).toBe(compound);
    expect(refused.refusals.map((r) => r.reason).join("\n")).toContain("ends in a compound command");
  });
});

describe("grouping follows the shell's precedence", () => {
  test("a RUN with || after a pipeline of three is grouped (tree-sitter nests the list inside the pipeline)", () => {
    const text =
      "FROM debian:12\nRUN make\nRUN curl -fsSL https://x/a.tar.xz | xz -dc | tar x || echo failed\n";
    expect(optimize(text).output).toBe(
      "FROM debian:12\nRUN make \\\n    && ( curl -fsSL https://x/a.tar.xz | xz -dc | tar x || echo failed )\n",
    );
  });
});

describe("refusals", () => {
  const refused: Array<[string, string[], string]> = [
    ["exit", ["test -f /nope || exit 0", "echo next"], "uses exit"],
    ["exec", ["echo a", "exec echo b"], "uses exec"],
    ["background job", ["sleep 1 &", "echo next"], "background job"],
    ["set -e before another RUN", ["set -e; echo a", "echo b"], "set -e"],
    ["shell comment before another RUN", ["echo a # note", "echo b"], "shell comment"],
    ["parse errors", ["echo 'unterminated", "echo b"], "shell syntax"],
  ];
  for (const [name, runs, reason] of refused) {
    test(name, () => {
      const input = dockerfile(runs);
      const result = optimize(input);
      expect(result.output).toBe(input);
      const reasons = result.refusals.filter((r) => r.transform === "merge-runs").map((r) => r.reason);
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toContain(reason);
    });
  }

  test("exec form and heredoc are left alone without a refusal", () => {
    const input = dockerfile(
      ['["echo", "a"]', "echo b", "<<EOF\necho c\nEOF", '["echo", "d"]'],
      "# syntax=docker/dockerfile:1\nFROM debian:12\n",
    );
    const result = optimize(input);
    expect(result.output).toBe(input);
    expect(result.refusals).toEqual([]);
  });

  test("a merged RUN never grows past the line cap, and the cap is stable", () => {
    const runs = Array.from({ length: 30 }, (_, i) => `echo ${i} \\\n    && echo again-${i}`);
    const input = dockerfile(runs);
    const result = optimize(input);
    const model = parseDockerfile(result.output);
    const sizes = model.instructions.filter((i) => i.keyword === "RUN").map((i) => i.endLine - i.line + 1);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_MERGED_LINES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(60);
    expect(result.refusals.some((r) => r.reason.includes(`more than ${MAX_MERGED_LINES} lines`))).toBe(true);
    expect(optimize(result.output).output).toBe(result.output);
  });
});

describe("the merged RUN reads the same to dockerfile-ast and tree-sitter", () => {
  const input = [
    "FROM debian:12",
    "RUN apt-get update",
    "",
    "# install the tools",
    "    # indented note",
    "RUN apt-get install -y \\",
    "        curl \\",
    "        git",
    "RUN cd /opt && git clone https://example.com/x.git",
    "RUN ls /opt/x || true",
    "",
  ].join("\n");

  test("arguments, comments and shell commands survive", () => {
    const before = parseDockerfile(input);
    const result = optimize(input);
    const after = parseDockerfile(result.output);
    const runs = after.instructions.filter((i) => i.keyword === "RUN");
    expect(runs).toHaveLength(1);
    const words = (m: DockerfileModel) =>
      m.instructions
        .filter((i) => i.keyword === "RUN")
        .flatMap((i) => i.args.map((a) => a.value))
        .filter((w) => !["&&", "(", ")"].includes(w));
    expect(words(after)).toEqual(words(before));
    expect(after.comments.map((c) => c.text)).toEqual(before.comments.map((c) => c.text));
    const script = shellOf(runs[0], after.text, after.escapeChar)!;
    expect(script.hasErrors).toBe(false);
    const names = (m: DockerfileModel) =>
      m.instructions
        .filter((i) => i.keyword === "RUN")
        .flatMap((i) => shellOf(i, m.text, m.escapeChar)!.commands.map((c) => c.name?.value));
    expect(names(after)).toEqual(names(before));
    expect(names(after)).toEqual(["apt-get", "apt-get", "cd", "git", "ls", "true"]);
  });

  test("backtick escape and CRLF", () => {
    const text = "# escape=`\r\nFROM debian:12\r\nRUN echo a\r\n# c\r\nRUN echo b `\r\n    c\r\n";
    const result = optimize(text);
    expect(result.output).toBe(
      "# escape=`\r\nFROM debian:12\r\nRUN echo a `\r\n# c\r\n    && echo b `\r\n    c\r\n",
    );
    const model = parseDockerfile(result.output);
    const run = model.instructions.find((i) => i.keyword === "RUN")!;
    expect(run.args.map((a) => a.value)).toEqual(["echo", "a", "&&", "echo", "b", "c"]);
    expect(shellOf(run, model.text, model.escapeChar)!.hasErrors).toBe(false);
    expect(dockerCommand(model, run.argsSpan!.start, run.argsSpan!.end).replace(/\s+/g, " ")).toBe(
      "echo a && echo b c",
    );
  });

  test("a comment holding the escape character is not moved into a RUN", () => {
    const text = "FROM debian:12\nRUN echo a\n# see C:\\path\nRUN echo b\n";
    const result = optimize(text);
    expect(result.output).toBe(text);
    expect(result.refusals[0].reason).toContain("escape character");
  });
});

/**
 * Whole-corpus check, opt-in (slow: ~5-10 min per scope on 2 cores):
 *   DFOPT_CORPUS=1 [DFOPT_CORPUS_LIMIT=500] npx vitest run test/merge-runs.test.ts -t corpus
 */
// vitest runs a skipped describe's body too, to list its tests: the corpus is read in the tests.
describe.runIf(process.env.DFOPT_CORPUS && corpusAvailable)("corpus", () => {
  const limit = Number(process.env.DFOPT_CORPUS_LIMIT ?? Infinity);
  const commands = (m: DockerfileModel) =>
    m.instructions
      .filter((i) => i.keyword === "RUN")
      .flatMap((i) => {
        const s = shellOf(i, m.text, m.escapeChar);
        if (!s) return [i.text];
        return s.commands.map((c) =>
          s.text
            .slice(c.start - s.base, c.end - s.base)
            .replace(/\\\n/g, " ")
            .replace(/\s+/g, " ")
            .trim(),
        );
      });
  for (const scope of ["final", "all"] as const) {
    test(`corpus, mergeRuns=${scope}: no crash, stable, same commands and comments`, () => {
      const bad: string[] = [];
      for (const f of corpusFiles().slice(0, limit)) {
        const raw = fs.readFileSync(path.join(CORPUS, f), "utf8");
        const r = optimize(raw, scope);
        if (
          r.error?.kind === "no-fixed-point" ||
          r.refusals.some((x) => x.reason.startsWith("rewrite dropped"))
        )
          bad.push(`dropped ${f}`);
        if (!r.changed) continue;
        if (optimize(r.output, scope).output !== r.output) bad.push(`unstable ${f}`);
        const a = parseDockerfile(raw);
        const b = parseDockerfile(r.output);
        if (JSON.stringify(commands(a)) !== JSON.stringify(commands(b))) bad.push(`commands ${f}`);
        if (b.comments.length !== a.comments.length) bad.push(`comments ${f}`);
        const runs = new Set(a.instructions.map((i) => i.text));
        const broken = b.instructions.some(
          (i) => i.keyword === "RUN" && !runs.has(i.text) && shellOf(i, b.text, b.escapeChar)?.hasErrors,
        );
        if (broken) bad.push(`shell ${f}`);
      }
      expect(bad).toEqual([]);
    }, 3_600_000);
  }
});
