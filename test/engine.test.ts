import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { applyEdits, selectChanges } from "../src/engine/edits.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { normaliseEveryLine, normaliseForBash, shellOf } from "../src/engine/shell.ts";
import { readSuppressions } from "../src/engine/suppress.ts";
import type { Transform } from "../src/engine/types.ts";
import { emptyContext } from "../src/io/context.ts";
import { transformById } from "../transforms/index.ts";

beforeAll(loadParsers);

/** Upper-cases the first word of every RUN: enough to exercise the engine. */
const shout: Transform = {
  id: "shout",
  description: "test transform",
  applicability: "safe",
  rules: ["DL9999"],
  run({ model }) {
    const changes = model.instructions
      .filter((i) => i.keyword === "RUN" && i.args[0] && i.args[0].value !== i.args[0].value.toUpperCase())
      .map((i) => ({
        line: i.line,
        message: "shout",
        edits: [{ start: i.args[0].start, end: i.args[0].end, text: i.args[0].value.toUpperCase() }],
      }));
    return { changes, refusals: [] };
  },
};

/** Renames the only stage's name but not the --from that uses it: the check must undo it. */
const renamesStage = (name: string): Transform => ({
  id: "breaks",
  description: "test transform",
  applicability: "safe",
  run({ model }) {
    const s = model.stages.find((x) => x.nameSpan);
    if (!s?.nameSpan) return { changes: [], refusals: [] };
    return {
      changes: [{ line: s.from.line, message: "rename", edits: [{ ...s.nameSpan, text: name }] }],
      refusals: [],
    };
  },
});
const breaksStageRefs = renamesStage("other");

const run = (text: string, transforms: Transform[]) => optimizeFile(text, emptyContext, { transforms });

describe("engine", () => {
  test("keeps BOM, CRLF, tabs and comments outside the edits", () => {
    const input = "\uFEFF# top\r\nFROM a:1\r\n\tRUN echo one \\\r\n\t  # inner\r\n\t  two\r\n";
    const r = run(input, [shout]);
    expect(r.output).toBe("\uFEFF# top\r\nFROM a:1\r\n\tRUN ECHO one \\\r\n\t  # inner\r\n\t  two\r\n");
    expect(r.changes).toEqual([
      { transform: "shout", line: 3, message: "shout", rules: ["DL9999"], applicability: "safe" },
    ]);
    expect(run(r.output, [shout]).changed).toBe(false);
  });

  test("undoes a transform whose result adds a structural problem, and says why", () => {
    const input = "FROM a:1 AS build\nRUN make\nFROM b:2\nCOPY --from=build /out /out\n";
    const r = run(input, [breaksStageRefs]);
    expect(r.output).toBe(input);
    expect(r.refusals[0].reason).toMatch(/--from=build names no earlier stage/);
  });

  test("a rewrite undone after moving the RUNs below it leaves later repairs their right positions", () => {
    const input =
      "FROM a:1 AS build\nRUN apt-get install --no-install-recommends curl\nFROM b:2\nCOPY --from=build /out /out\n";
    const [recommends, yes] = ["apt-get-no-install-recommends", "apt-get-yes"].map((id) =>
      transformById(id)!,
    );
    const alone = run(input, [recommends, yes]);
    expect(alone.output).toContain("RUN apt-get install -y --no-install-recommends curl\n");
    // A longer name moves the RUN (and its parsed shell) before the check undoes the rename.
    const r = run(input, [recommends, renamesStage("builder"), yes]);
    expect(r.refusals.map((x) => x.transform)).toContain("breaks");
    expect(r.output).toBe(alone.output);
  });

  test("rejects empty, binary and unknown-instruction files with a line", () => {
    expect(run("  \n", [shout]).error?.kind).toBe("empty");
    expect(run("FROM a\0", [shout]).error?.kind).toBe("binary");
    expect(run("FROM a:1\nFORM b\n", [shout]).error).toEqual({
      kind: "unknown-instruction",
      message: "unknown instruction 'FORM'",
      line: 2,
    });
  });

  test("a crashing transform becomes an internal error and leaves the file alone", () => {
    const crash: Transform = {
      id: "crash",
      description: "",
      applicability: "safe",
      run: () => {
        throw new Error("boom");
      },
    };
    const r = run("FROM a:1\nRUN x\n", [crash]);
    expect(r.output).toBe("FROM a:1\nRUN x\n");
    expect(r.error).toMatchObject({ kind: "internal" });
    expect(r.error?.message).toContain("boom");
  });

  test("honours dfopt, hadolint and file-wide suppressions", () => {
    const input =
      "FROM a:1\n# dfopt ignore=shout\nRUN echo a\n# hadolint ignore=DL9999\nRUN echo b\nRUN echo c\n";
    expect(run(input, [shout]).output).toBe(input.replace("echo c", "ECHO c"));
    const global = "# hadolint global ignore=DL9999\nFROM a:1\nRUN echo a\n";
    expect(run(global, [shout]).changed).toBe(false);
    const s = readSuppressions(
      parseDockerfile("# trivy:ignore:AVD-DS-0029\nFROM a\n#checkov:skip=CKV_DOCKER_3:ok\n"),
    );
    expect(s.isSuppressed(["DS029"], 2)).toBe(true);
    expect(s.isSuppressed(["DS-0029"], 3)).toBe(false);
    expect(s.isSuppressed(["CKV_DOCKER_3"], null)).toBe(true);
  });

  test("overlapping changes are deferred to the next pass; all edits of a change apply together", () => {
    const a = { line: 1, message: "a", edits: [{ start: 0, end: 4, text: "x" }] };
    const b = {
      line: 1,
      message: "b",
      edits: [
        { start: 2, end: 6, text: "y" },
        { start: 8, end: 9, text: "z" },
      ],
    };
    const { accepted, deferred } = selectChanges([b, a]);
    expect(accepted).toEqual([a]);
    expect(deferred).toEqual([b]);
    expect(
      applyEdits("0123456789", [
        { start: 1, end: 2, text: "AB" },
        { start: 5, end: 5, text: "!" },
      ]),
    ).toBe("0AB234!56789");
  });
});

/** Appends `USER app` as a new last line. */
const appendUser: Transform = {
  id: "append-user",
  description: "test transform",
  applicability: "safe",
  run({ model }) {
    if (model.instructions.some((i) => i.keyword === "USER")) return { changes: [], refusals: [] };
    const end = model.text.length;
    const text = model.text.endsWith("\n") ? "USER app\n" : "\nUSER app";
    return { changes: [{ line: 1, message: "user", edits: [{ start: end, end, text }] }], refusals: [] };
  },
};

/** Replaces every RUN text `from` with `to` (a test of the shell check). */
const replaceInRuns = (from: string, to: string): Transform => ({
  id: "replace",
  description: "test transform",
  applicability: "safe",
  run({ model }) {
    const changes = model.instructions
      .filter((i) => i.keyword === "RUN" && i.text.includes(from))
      .map((i) => {
        const at = i.start + i.text.indexOf(from);
        return { line: i.line, message: "replace", edits: [{ start: at, end: at + from.length, text: to }] };
      });
    return { changes, refusals: [] };
  },
});

describe("the shell check", () => {
  test("undoes a rewrite that leaves a RUN's shell unreadable, and says why", () => {
    const input = "FROM a:1\nRUN echo one && echo two\nRUN echo three\n";
    const r = run(input, [replaceInRuns("&& echo two", "&& (echo two")]);
    expect(r.output).toBe(input);
    expect(r.refusals).toEqual([
      expect.objectContaining({
        transform: "replace",
        reason: expect.stringMatching(/a RUN's shell no longer parses/),
      }),
    ]);
  });

  test("keeps a rewrite beside a RUN that was unreadable before, and one that leaves it no worse", () => {
    const broken = "RUN echo $(( 1 +\n";
    const beside = run(`FROM a:1\n${broken}RUN echo two\n`, [replaceInRuns("echo two", "echo 2")]);
    expect(beside.output).toBe(`FROM a:1\n${broken}RUN echo 2\n`);
    const inside = run(`FROM a:1\n${broken}`, [replaceInRuns("echo $((", "printf $((")]);
    expect(inside.output).toBe("FROM a:1\nRUN printf $(( 1 +\n");
    expect(inside.refusals).toEqual([]);
  });
});

describe("edits after a line continuation that ends the file", () => {
  const open = [
    "FROM a:1\nRUN make \\\n\n\n",
    "FROM a:1\nRUN make \\\n# done\n\n",
    "FROM a:1\r\nRUN make \\  \r\n\r\n",
    "FROM a:1\nRUN make \\",
    "# escape=`\nFROM a:1\nRUN make `\n\n",
  ];
  test.each(open)("are dropped, saying why: %j", (input) => {
    const r = run(input, [appendUser]);
    expect(r.output).toBe(input);
    expect(r.refusals.map((x) => x.reason).join()).toMatch(
      /the RUN at line \d ends with a line continuation \(.\), so a line added after it would become part of it/,
    );
  });

  test("a closed last instruction takes the new line", () => {
    for (const input of [
      "FROM a:1\nRUN make \\\n  install\n\n",
      "FROM a:1\nRUN make\n# \\\n",
      "FROM a:1\nRUN make",
    ]) {
      const r = run(input, [appendUser]);
      expect(r.changed, input).toBe(true);
      expect(r.output.trimEnd().endsWith("USER app"), input).toBe(true);
      expect(run(r.output, [appendUser]).changed).toBe(false);
    }
  });

  test("edits before the escape character still apply", () => {
    const r = run("FROM a:1\nRUN echo x \\\n\n", [shout]);
    expect(r.output).toBe("FROM a:1\nRUN ECHO x \\\n\n");
  });
});

describe("passes and rounds", () => {
  /** Upper-cases the first word of the first lower-case RUN only: one repair uncovers the next. */
  const oneAtATime = (multiPass: boolean, calls: { n: number }): Transform => ({
    id: "one-at-a-time",
    description: "test transform",
    applicability: "safe",
    multiPass,
    run(input) {
      calls.n++;
      const all = shout.run(input).changes;
      return { changes: all.slice(0, 1), refusals: [] };
    },
  });
  const input = "FROM a:1\nRUN echo a\nRUN echo b\nRUN echo c\n";
  const expected = "FROM a:1\nRUN ECHO a\nRUN ECHO b\nRUN ECHO c\n";

  test("a multiPass transform reaches its own fixed point before the next transform runs", () => {
    const calls = { n: 0 };
    const r = run(input, [oneAtATime(true, calls), appendUser]);
    expect(r.output).toBe(expected + "USER app\n");
    expect(r.changes.map((c) => c.transform)).toEqual([...Array(3).fill("one-at-a-time"), "append-user"]);
    expect(calls.n).toBe(5); // 3 changes and a pass that settles; once more after append-user
  });

  test("another transform is confirmed by the next round, which reaches the same result", () => {
    const calls = { n: 0 };
    const r = run(input, [oneAtATime(false, calls), appendUser]);
    expect(r.output).toBe(expected + "USER app\n");
    expect(run(r.output, [oneAtATime(false, { n: 0 }), appendUser]).changed).toBe(false);
    expect(calls.n).toBe(4); // one change per round, then a round that changes nothing
  });

  test("a one-pass transform is not run again before the next round", () => {
    const calls = { n: 0 };
    const counted: Transform = { ...shout, run: (i) => (calls.n++, shout.run(i)) };
    const r = run(input, [counted, appendUser]);
    expect(r.output).toBe(expected + "USER app\n");
    expect(calls.n).toBe(2); // round 0, and round 1 on append-user's result
  });
});

describe("parse model", () => {
  test("reads stages, names, images with global ARG expansion, flags and exec form", () => {
    const m = parseDockerfile(
      'ARG V=20\nFROM --platform=$BUILDPLATFORM node:${V} AS Build\nCOPY --from=Build --chown=1:1 a b\nCMD ["x"]\n',
    );
    expect(m.stages[0].image).toMatchObject({
      raw: "node:${V}",
      expanded: "node:20",
      name: "node",
      tag: "20",
      usesVariables: true,
    });
    expect(m.stages[0].name).toBe("Build");
    expect(m.instructions[2].flags.map((f) => [f.name, f.value])).toEqual([
      ["from", "Build"],
      ["chown", "1:1"],
    ]);
    expect(m.instructions[3].execForm).toBe(true);
    expect(m.globalArgValues.get("V")).toBe("20");
  });

  test("backtick escape files: continuation maps to bash with identical offsets", () => {
    const text = "# escape=`\nFROM a\nRUN echo a `\r\n  # c\r\n  && echo b\r\n";
    const m = parseDockerfile(text);
    const run = m.instructions[1];
    const script = shellOf(run, m.text, m.escapeChar)!;
    expect(script.hasErrors).toBe(false);
    expect(script.commands.map((c) => c.name?.value)).toEqual(["echo", "echo"]);
    const b = script.commands[1].args[0];
    expect(m.text.slice(b.start, b.end)).toBe("b");
    expect(normaliseForBash("a \\  \nb", "\\")).toHaveLength("a \\  \nb".length);
  });

  test.each([
    ["a \\\n  # note\n\n  b", "\\", "a \\\n            b"],
    ["a \\  \r\n  b\r", "\\", "a    \\\n  b "],
    ['echo \\" x\\\\ \\\n b', "\\", 'echo \\" x\\\\ \\\n b'],
    ["a `\r\n  #c\r\n  && b", "`", "a  \\\n        && b"],
    ["a ` b `\n c", "`", "a ` b \\\n c"],
    ["a\r\nb", "\\", "a \nb"],
  ])("normalises %j (escape %s) for bash, keeping its length", (text, escape, bash) => {
    expect(normaliseEveryLine(text, escape)).toBe(bash);
    expect(bash).toHaveLength(text.length);
  });

  test("shell words carry exact offsets, also after non-ASCII text", () => {
    const m = parseDockerfile('FROM a\nRUN echo "héllo 😀" && apt-get install -y curl\n');
    const script = shellOf(m.instructions[1], m.text, m.escapeChar)!;
    const apt = script.commands[1];
    expect(m.text.slice(apt.start, apt.end)).toBe("apt-get install -y curl");
    expect(apt.args.map((a) => a.value)).toEqual(["install", "-y", "curl"]);
  });
});
