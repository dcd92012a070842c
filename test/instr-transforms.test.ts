import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { structuralProblems } from "../src/engine/check.ts";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { emptyContext, memoryContext } from "../src/io/context.ts";
import type { BuildContext, Transform } from "../src/engine/types.ts";
import { legacyValueToWord } from "../transforms/instr/env-key-value.ts";
import { plainArgv } from "../transforms/instr/exec-form-cmd.ts";
import { bashUnknown } from "../transforms/instr/shell-pipefail.ts";
import { transformById } from "../transforms/index.ts";
import { CORPUS, corpusAvailable } from "./corpus-check.ts";

beforeAll(loadParsers);

const IDS = [
  "add-to-copy",
  "maintainer-to-label",
  "env-key-value",
  "workdir-absolute",
  "cd-to-workdir",
  "exec-form-cmd",
  "shell-pipefail",
  "non-root-user",
  "instruction-case",
];
const all = (): Transform[] => IDS.map((id) => transformById(id)!);
const run = (text: string, ids = IDS, context: BuildContext = emptyContext) =>
  optimizeFile(text, context, { transforms: ids.map((id) => transformById(id)!) });

test("every instruction repair is registered with rules and a rationale", () => {
  for (const t of all()) {
    expect(t, t?.id).toBeDefined();
    expect(t.rules?.length).toBeGreaterThan(0);
    expect(t.rationale?.length).toBeGreaterThan(50);
  }
});

describe("env-key-value: legacy value → one word", () => {
  test("a value without blanks is kept verbatim", () => {
    expect(legacyValueToWord("$PATH:/opt/bin", "\\")).toBe("$PATH:/opt/bin");
    expect(legacyValueToWord('"already quoted"', "\\")).toBe('"already quoted"');
  });
  test("blanks, quotes and literal dollars keep their meaning inside double quotes", () => {
    expect(legacyValueToWord("a  b", "\\")).toBe('"a  b"');
    expect(legacyValueToWord(`x "y z" 'lit $V "q"' $HOME`, "\\")).toBe(`"x y z lit \\$V \\"q\\" $HOME"`);
    expect(legacyValueToWord('say `"hi`" now', "`")).toBe('"say `"hi`" now"');
    expect(legacyValueToWord("a\\ b c", "\\")).toBe('"a b c"');
  });
  test("unbalanced quotes are refused", () => {
    expect(legacyValueToWord("don't stop", "\\")).toBeNull();
    expect(legacyValueToWord('a "b', "\\")).toBeNull();
  });
});

describe("exec-form-cmd: which commands need no shell", () => {
  const argv = (cmd: string) => {
    const model = parseDockerfile(`FROM alpine\nCMD ${cmd}\n`);
    return plainArgv(model, model.instructions[1]);
  };
  test("plain words and simple quoting convert", () => {
    expect(argv(`exec java -Xmx1g -jar "my app.jar" 'a b'`)).toEqual({
      argv: ["java", "-Xmx1g", "-jar", "my app.jar", "a b"],
    });
  });
  test.each([
    ["node $APP", "variable"],
    ["run.sh *.conf", "glob"],
    ["~/bin/run", "tilde"],
    ["a | b", "pipe"],
    ["a && b", "list"],
    ["a > log", "redirect"],
    ["echo $(date)", "command substitution"],
    ["PORT=1 node app.js", "assignment"],
    ["source env.sh", "builtin"],
    ['[ "node", "app.js" ]', "broken JSON"],
    ["echo a\\ b", "backslash"],
  ])("`%s` needs a shell (%s)", (cmd) => {
    expect(argv(cmd)).toHaveProperty("reason");
  });
  test("the reason names the expansion as written, shortened when long", () => {
    expect(argv("node $APP")).toEqual({ reason: "it expands `$APP`" });
    expect(argv("serve --port ${PORT:-80}")).toEqual({ reason: "it expands `${PORT:-80}`" });
    expect(argv('echo "$(date +%s) $(cat /etc/hostname /etc/os-release /etc/issue)"')).toEqual({
      reason: "it expands `$(date +%s)`",
    });
    expect(argv("run $(cat /etc/hostname /etc/os-release /etc/issue /etc/motd)")).toEqual({
      reason: "it expands `$(cat /etc/hostname /etc/os-release /et…`",
    });
  });
  test("Windows images are left alone", () => {
    const r = run("FROM mcr.microsoft.com/windows/servercore:ltsc2022\nCMD app.exe --serve\n", [
      "exec-form-cmd",
    ]);
    expect(r.changed).toBe(false);
  });
});

describe("shell-pipefail: bash availability", () => {
  test.each([
    ["debian", "bookworm-slim", true],
    ["node", "20", true],
    ["python", "3.12-alpine", false],
    ["alpine", "3.20", false],
    ["gcr.io/distroless/base", null, false],
    ["myorg/custom", "1", false],
  ] as const)("%s:%s has bash: %s", (name, tag, has) => {
    expect(bashUnknown(name, tag) === null).toBe(has);
  });
  test("a `[ a == b ]` later in the stage is refused (dash and bash differ)", () => {
    const r = run('FROM ubuntu:22.04\nRUN cat /a | grep b\nRUN [ "$X" == y ] && touch /f\n', [
      "shell-pipefail",
    ]);
    expect(r.changed).toBe(false);
    expect(r.refusals[0].reason).toContain("[ a == b ]");
  });
});

describe("add-to-copy reads the build context", () => {
  test("an archive under a neutral name stays ADD; a text file becomes COPY", () => {
    const tar = "d/x".padEnd(257, "\0") + "ustar" + "\0".repeat(300);
    const context = memoryContext({ "blob.bin": tar, "notes.txt": "hello\n" });
    const r = run("FROM alpine\nADD blob.bin /opt/\nADD notes.txt /opt/\n", ["add-to-copy"], context);
    expect(r.output).toBe("FROM alpine\nADD blob.bin /opt/\nCOPY notes.txt /opt/\n");
  });
});

describe("cd-to-workdir", () => {
  test("the previous directory is restored before the next instruction that uses it", () => {
    const r = run("FROM debian\nWORKDIR /app\nRUN cd /opt && make\nENV A=1\nCOPY . .\n", ["cd-to-workdir"]);
    expect(r.output).toBe(
      "FROM debian\nWORKDIR /app\nWORKDIR /opt\nRUN make\nENV A=1\nWORKDIR /app\nCOPY . .\n",
    );
  });
  test("`cd -` / OLDPWD is refused", () => {
    const r = run("FROM debian\nWORKDIR /app\nRUN cd /opt && make && cd - && ls\n", ["cd-to-workdir"]);
    expect(r.changed).toBe(false);
    expect(r.refusals[0].reason).toContain("OLDPWD");
  });
});

// All repairs together over real Dockerfiles: no crash, output parses, second run changes nothing.
const sample = corpusAvailable
  ? fs
      .readdirSync(CORPUS)
      .sort()
      .filter((_f, i) => i % 160 === 0)
  : [];
test.skipIf(sample.length === 0)(
  "corpus sample: all instruction repairs are safe to re-run",
  () => {
    let changed = 0;
    for (const f of sample) {
      const raw = fs.readFileSync(path.join(CORPUS, f), "utf8");
      const r = run(raw);
      if (r.error || !r.changed) continue;
      changed++;
      const before = structuralProblems(parseDockerfile(raw)).length;
      expect(structuralProblems(parseDockerfile(r.output)).length, f).toBeLessThanOrEqual(before);
      const again = run(r.output);
      expect(again.output, f).toBe(r.output);
      expect(again.changes, f).toEqual([]);
    }
    expect(changed).toBeGreaterThan(sample.length / 4);
  },
  120_000,
);
