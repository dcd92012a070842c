import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, type FileResult, loadParsers } from "../src/engine/engine.ts";
import { applyEdits } from "../src/engine/edits.ts";
import {
  modelShape,
  parseEdited,
  parseFast,
  parseSource,
  parseWithDockerfileAst,
  setCheckEditedParses,
  setFastParse,
  type DockerfileModel,
} from "../src/engine/parse.ts";
import { forgetReusableParses, shellOf, type ShellScript } from "../src/engine/shell.ts";
import { decodeSource } from "../src/engine/source.ts";
import type { BuildContext, Transform, TransformOptions } from "../src/engine/types.ts";
import { emptyContext } from "../src/io/context.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "./corpus-check.ts";
import { FIXTURES, fixtureCases } from "./fixture-cases.ts";

beforeAll(loadParsers);

/** The model's functions, replaced by their results in `observable`. */
const MODEL_METHODS = new Set(["lineOf", "lineStart", "lineEndIncludingEol"]);

/**
 * Everything a model exposes, as plain data: its functions are called on
 * every offset (or a sample of them for big files) and on every line.
 */
function observable(model: DockerfileModel, everyOffset = true) {
  const { globalArgValues, ...data } = model;
  const step = everyOffset ? 1 : Math.max(1, Math.floor(model.text.length / 64));
  const offsets: number[] = [-1];
  for (let o = 0; o <= model.text.length + 1; o += step) offsets.push(o);
  const lines: number[] = [];
  for (let l = -1; l <= model.lineStarts.length + 2; l++) lines.push(l);
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === "function" && !MODEL_METHODS.has(key))
      throw new Error(`observable() does not cover model.${key}`);
  }
  return {
    ...data,
    globalArgValues: [...globalArgValues],
    lineOf: offsets.map((o) => model.lineOf(o)),
    lineStart: lines.map((l) => model.lineStart(l)),
    lineEndIncludingEol: offsets.map((o) => model.lineEndIncludingEol(o)),
  };
}

/** Both parses of one text; `fast` is null when the scanner leaves it to dockerfile-ast. */
function bothParses(raw: string) {
  const source = decodeSource(raw);
  return { fast: parseFast(source), slow: parseWithDockerfileAst(source) };
}

function collectDockerfiles(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) collectDockerfiles(p, out);
    else if (entry.name === "Dockerfile" || entry.name === "expected.Dockerfile") out.push(p);
  }
  return out.sort();
}

// Each quirk of dockerfile-ast's reading; `fallback` marks the inputs the scanner leaves to it.
const SNIPPETS: Array<{ name: string; text: string; fallback?: boolean }> = [
  { name: "escape directive", text: "# escape=`\nFROM alpine\nRUN echo a `\n  b\nCOPY C:\\a\\b C:\\c\n" },
  { name: "escape after syntax", text: "# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n b\n" },
  { name: "escape after check", text: "# check=skip=all\n#escape=`\nFROM x\nRUN a `\n b\n" },
  { name: "escape after a comment", text: "# hello\n# escape=`\nFROM x\nRUN a `\n b\n" },
  { name: "escape after an instruction", text: "FROM x\n# escape=`\nRUN a `\n b\n" },
  { name: "escape after a blank line", text: "\n# escape=`\nFROM x\nRUN a `\n b\n" },
  { name: "escape with blanks", text: "  #  Escape = ` \t\nFROM x\nRUN a `\n b\n" },
  { name: "two directives on one line", text: "# a=b  # escape=`\nFROM x\nRUN a `\nb\n" },
  { name: "invalid escape value", text: "# escape=x\n# escape=`\nFROM x\nRUN a `\n b\n" },
  { name: "directive without value", text: "# escape=\nFROM x\n" },
  { name: "directive at end of file", text: "# escape=`" },
  { name: "CRLF", text: 'FROM x\r\nRUN a \\\r\n  b \\ \r\n  c\r\n# c\r\nCMD ["a", \\\r\n "b"]\r\n' },
  { name: "CRLF with backtick escape", text: "# escape=`\r\nFROM x\r\nRUN a `\r\n  b\r\n" },
  { name: "comment inside a continuation", text: "FROM x\nRUN a \\\n# comment\n  b\n" },
  { name: "indented comment inside a continuation", text: "FROM x\nRUN a \\\n   # c \\ d $e\n b\n" },
  { name: "comment line ending in the escape", text: "FROM x\nRUN a \\\n# c \\\n b\nRUN c\n" },
  { name: "blank line inside a continuation", text: "FROM x\nRUN a \\\n\n  b\n" },
  { name: "empty continuation lines", text: "FROM x\nRUN a \\\n \\\n\\\n b\n" },
  { name: "escape, blanks, line break", text: "FROM x\nRUN a \\  \n b \\\t\n c\n" },
  { name: "escape, blanks, word", text: "FROM x\nRUN a \\  b c\\ d\n" },
  { name: "escape, blanks, word after a continuation", text: "FROM x\nRUN a \\\n  \\  b\n" },
  { name: "escaped characters", text: "FROM x\nRUN echo \\$HOME \\\\ \\a b\\ c\\\n" },
  { name: "escape at end of file", text: "FROM x\nRUN echo \\" },
  {
    name: "lowercase keywords",
    text: "from alpine as build\nrun echo hi\ncopy --from=build /a /b\nFrom build AS final\n",
  },
  { name: "unknown instruction", text: "FROM x\nFOO bar\nRU\\N x\n" },
  {
    name: "escaped line break in the keyword",
    text: "FROM x\nRU\\\nN echo\nRUN\\\n echo\nRUN\\ \n echo\nR\\  UN x\n",
  },
  { name: "keyword then comment mark", text: "FROM x\nRUN#x\nRUN\\\n#c\n echo\n" },
  { name: "ONBUILD", text: "FROM x\nONBUILD RUN echo hi\nONBUILD COPY --chown=1 . /app\nONBUILD\n" },
  { name: "JSON with single quotes", text: "FROM x\nCMD ['a', 'b']\n" },
  { name: "JSON without closing bracket", text: 'FROM x\nCMD ["a", "b"\nENTRYPOINT ["a"\n' },
  { name: "JSON with continuation", text: 'FROM x\nCMD ["a", \\\n "b"]\nSHELL ["a", \\  \n "b"]\n' },
  {
    name: "JSON odd forms",
    text: 'FROM x\nCMD ["a",]\nCMD []\nENTRYPOINT [ ]\nCMD [ "a" ] x\nVOLUME ["/a" "/b"]\n',
  },
  { name: "JSON escapes", text: 'FROM x\nCMD ["a \\"b\\"", "c\\\\d", "e\\ \n f"]\nCMD ["a\\tb"]\n' },
  {
    name: "JSON with backtick escape",
    text: '# escape=`\nFROM x\nCMD ["a", `\n "b"]\nCMD ["c", \\\n "d"]\n',
  },
  {
    name: "flags without values",
    text: "FROM x\nCOPY --link a b\nRUN --network=none --security= echo\nADD --chmod=755 a b\n",
  },
  {
    name: "mount with commas",
    text: "FROM x\nRUN --mount=type=cache,target=/root/.cache,id=x \\\n  --mount=type=secret,id=s pip install a\n",
  },
  { name: "word with -- before a flag", text: "FROM x\nRUN a--b --mount=x cmd\nCOPY -- a b\n" },
  { name: "flag only", text: "FROM x\nRUN --mount=type=cache\nCOPY --from=a\n" },
  { name: "escaped flag", text: "FROM x\nRUN --mo\\\nunt=a\\=b echo\n" },
  {
    name: "HEALTHCHECK",
    text: "FROM x\nHEALTHCHECK --interval=5s --timeout=3s CMD curl -f http://x/ || exit 1\nHEALTHCHECK NONE\n",
  },
  { name: "RUN heredoc", text: "FROM x\nRUN <<EOF\necho hi\nEOF\n", fallback: true },
  {
    name: "RUN tabbed quoted heredoc",
    text: 'FROM x\nRUN <<-"EOF" bash\n\techo hi\n\tEOF\n',
    fallback: true,
  },
  {
    name: "several heredocs on one line",
    text: "FROM x\nRUN <<A cat - <<B\na\nA\nb\nB\nRUN x\n",
    fallback: true,
  },
  { name: "COPY heredoc", text: "FROM x\nCOPY <<EOF /x\nhi\nEOF\n", fallback: true },
  { name: "ONBUILD heredoc", text: "FROM x\nONBUILD RUN <<EOF\necho\nEOF\n", fallback: true },
  { name: "here-string", text: 'FROM x\nRUN cat <<< "$X"\nRUN bash -c "cat <<<hi"\n' },
  { name: "bare <<", text: "FROM x\nRUN md5sum << file\nRUN a <<'q\n" },
  { name: "COPY with << inside a word", text: "FROM x\nCOPY a<<b /c\n" },
  { name: "instructions without arguments", text: "FROM\nRUN\nCMD\nRUN   \nCMD\t\n" },
  { name: "only comments", text: "# a\n  # b\n#\n" },
  { name: "no newline at end", text: "FROM x\nRUN echo hi" },
  { name: "tabs", text: "FROM\tx\n\tRUN\techo\ta\n" },
  { name: "BOM", text: "\uFEFFFROM x\n" },
  { name: "BOM twice", text: "\uFEFF\uFEFFFROM x\n", fallback: true },
  { name: "lone CR", text: "FROM x\rRUN a\n", fallback: true },
  {
    name: "FROM forms",
    text: "ARG V=1\nARG R\nFROM --platform=$BUILDPLATFORM node:${V} AS build\nFROM build as final\nFROM registry:5000/img@sha256:abc\nFROM scratch\nFROM $R/x:${V:-2}\n",
  },
  { name: "FROM with the stage name on a continuation", text: "FROM alpine \\\n  AS x\nFROM \\\n  y\n" },
  {
    name: "property instructions",
    text: 'ARG A="1 2" B\nFROM x\nENV X=1 Y="2 3" \\\n  Z=4\nLABEL a=b \\\n  c="d e"\nENV K V W\n',
  },
  { name: "non-ASCII", text: 'FROM x\nLABEL desc="héllo wörld 😀"\nRUN echo ü \\\n  ß\n' },
  { name: "empty", text: "" },
  { name: "blank", text: "  \n\t\n" },
  { name: "escape only", text: "\\" },
];

describe("fast Dockerfile scanner: same model as dockerfile-ast", () => {
  test.each(SNIPPETS)("$name", ({ text, fallback }) => {
    const { fast, slow } = bothParses(text);
    expect(fast === null).toBe(fallback === true);
    if (fast) expect(observable(fast)).toEqual(observable(slow));
  });

  test("reads the quirks it must reproduce", () => {
    const m = parseFast(decodeSource("# escape=`\nFROM x\nRUN a `\n# c `x\n  b`\n  c\n"))!;
    expect(m.escapeChar).toBe("`");
    expect(m.comments.map((c) => c.text)).toEqual(["# c `x"]);
    // dockerfile-ast still reads the escape character inside the comment line (`x),
    // then skips `b` as if it were still in the comment.
    expect(m.instructions[1].args.map((a) => a.value)).toEqual(["a", "x", "c"]);
    const f = parseFast(decodeSource("FROM x\nRUN a--b --mount=x cmd\n"))!;
    expect(f.instructions[1].flags.map((x) => x.name)).toEqual(["mount"]);
    expect(f.instructions[1].args.map((a) => a.value)).toEqual(["--mount=x", "cmd"]);
  });

  test("where dockerfile-ast throws, the scanner leaves the text to it, so parsing still throws", () => {
    // Run.getHeredocs reads the line break after `\# b` as unescaped and fails.
    const source = decodeSource("FROM x\nRUN a \\\n  \\# b\n  c\n");
    expect(parseFast(source)).toBeNull();
    expect(() => parseWithDockerfileAst(source)).toThrow();
    expect(() => parseSource(source)).toThrow();
  });

  test("every fixture Dockerfile and expected.Dockerfile", () => {
    const files = collectDockerfiles(FIXTURES);
    expect(files.length).toBeGreaterThan(300);
    const mismatches: string[] = [];
    let fallbacks = 0;
    for (const file of files) {
      const { fast, slow } = bothParses(fs.readFileSync(file, "utf8"));
      if (!fast) fallbacks++;
      else if (!isDeepStrictEqual(observable(fast), observable(slow))) mismatches.push(file);
    }
    expect(mismatches).toEqual([]);
    expect(fallbacks).toBeLessThan(files.length * 0.03);
  });
});

// Fragments dockerfile-ast reads in unusual ways, for the random edits below.
// prettier-ignore
const FRAGMENTS = [
  " ", "\t", "\n", "\r\n", "\\", "`", "#", "# escape=`\n", "--", "[", "]", '"', "'", ",", "<<", "<<<", "$",
  "AS ", "x", "=", "\\\n", "\\ \n", "`\n", "\n\n", "\n#c\n", "\n  # c\n", "--a=b ", "\\\\", "\\$",
];

function seededRandom(seed: number): (n: number) => number {
  return (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
}

test("seeded random edits of the fixture files: same model, or a fallback where dockerfile-ast throws", () => {
  const random = seededRandom(7);
  const mismatches: string[] = [];
  let compared = 0;
  for (const file of collectDockerfiles(FIXTURES)) {
    const original = fs.readFileSync(file, "utf8");
    for (let k = 0; k < 6; k++) {
      let text = original;
      for (let edit = 0; edit < 3; edit++) {
        const at = random(text.length + 1);
        const insert = random(4) > 0 ? FRAGMENTS[random(FRAGMENTS.length)] : "";
        text = text.slice(0, at) + insert + text.slice(insert ? at : at + 1 + random(3));
      }
      const source = decodeSource(text);
      const fast = parseFast(source);
      let slow: DockerfileModel | null = null;
      try {
        slow = parseWithDockerfileAst(source);
      } catch {
        // The fast path must have left this text to dockerfile-ast.
      }
      if (fast) compared++;
      const same = slow ? !fast || isDeepStrictEqual(observable(fast), observable(slow)) : !fast;
      if (!same) mismatches.push(JSON.stringify(text));
    }
  }
  expect(mismatches.slice(0, 5)).toEqual([]);
  expect(compared).toBeGreaterThan(2000);
});

/** parseEdited's model, or the error it threw; the same for parseSource. */
function parseOutcome(parse: () => DockerfileModel) {
  try {
    return { model: observable(parse(), false) };
  } catch (e) {
    return { error: String(e) };
  }
}

describe("parse after edits reads only what the edits change, as a full parse would", () => {
  test("seeded random edits of the fixture files, one to three at once", () => {
    const random = seededRandom(11);
    const mismatches: string[] = [];
    let incremental = 0;
    for (const file of collectDockerfiles(FIXTURES)) {
      const raw = fs.readFileSync(file, "utf8");
      for (let k = 0; k < 6; k++) {
        // parseEdited reads incrementally after the latest parse only.
        const prev = parseSource(decodeSource(raw));
        const offsets = [
          random(prev.text.length + 1),
          random(prev.text.length + 1),
          random(prev.text.length + 1),
        ]
          .slice(0, 1 + random(3))
          .sort((a, b) => a - b);
        const edits: Array<{ start: number; end: number; text: string }> = [];
        for (const at of offsets) {
          if (edits.length > 0 && at < edits[edits.length - 1].end) continue;
          const insert = random(4) > 0 ? FRAGMENTS[random(FRAGMENTS.length)] : "";
          const end = insert ? at + random(2) * random(8) : at + 1 + random(3);
          edits.push({ start: at, end: Math.min(end, prev.text.length), text: insert });
        }
        const source = { ...prev.source, text: applyEdits(prev.text, edits) };
        const edited = parseOutcome(() => parseEdited(prev, source, edits));
        const full = parseOutcome(() => parseSource(source));
        if (!isDeepStrictEqual(edited, full)) mismatches.push(`${file}: ${JSON.stringify(edits)}`);
        if (edited.model && edited.model.instructions.some((i, n) => i === prev.instructions[n]))
          incremental++;
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(incremental).toBeGreaterThan(1000);
  });

  test("edits around the parser directives and at the ends of the text", () => {
    const cases: Array<[string, Array<{ start: number; end: number; text: string }>]> = [
      ["FROM x\nRUN a\n", [{ start: 0, end: 0, text: "# escape=`\n" }]],
      ["# escape=`\nFROM x\nRUN a `\n b\n", [{ start: 11, end: 11, text: "# syntax=x\n" }]],
      ["# escape=`\nFROM x\nRUN a `\n b\n", [{ start: 11, end: 11, text: "ARG V=1\n" }]],
      ["# escape=`\n\nFROM x\nRUN a\n", [{ start: 11, end: 12, text: "" }]],
      ["FROM x\nRUN a\n", [{ start: 13, end: 13, text: " \\" }]],
      ["FROM x\nRUN a \\\n b\nRUN c\n", [{ start: 13, end: 15, text: "" }]],
      [
        "FROM x\nRUN a\nRUN b\n",
        [
          { start: 12, end: 13, text: " && \\\n" },
          { start: 13, end: 17, text: "   " },
        ],
      ],
      ["FROM x\nRUN a\n# c\nRUN b\n", [{ start: 7, end: 7, text: "RUN z \\\n" }]],
      ["FROM x\nRUN a", [{ start: 12, end: 12, text: " b" }]],
    ];
    for (const [text, edits] of cases) {
      const prev = parseSource(decodeSource(text));
      const source = { ...prev.source, text: applyEdits(prev.text, edits) };
      expect(
        parseOutcome(() => parseEdited(prev, source, edits)),
        JSON.stringify(source.text),
      ).toEqual(parseOutcome(() => parseSource(source)));
    }
  });

  test("keeps the instructions before the first edit, and what is cached for them", () => {
    const prev = parseSource(decodeSource("FROM x\nRUN a\nRUN b\nRUN c\n"));
    const edits = [{ start: 17, end: 18, text: "b2" }];
    const next = parseEdited(prev, { ...prev.source, text: applyEdits(prev.text, edits) }, edits);
    expect(next.instructions.slice(0, 2)).toEqual(prev.instructions.slice(0, 2));
    expect(next.instructions[0]).toBe(prev.instructions[0]);
    expect(next.instructions[1]).toBe(prev.instructions[1]);
    expect(next.instructions[2]).not.toBe(prev.instructions[2]);
    expect(next.instructions[2].text).toBe("RUN b2");
    expect(next.instructions[3].start).toBe(prev.instructions[3].start + 1);
    // After another parse, `prev` is no longer the latest: a full parse, same model.
    parseSource(decodeSource("FROM y\n"));
    const again = parseEdited(prev, { ...prev.source, text: next.text }, edits);
    expect(again.instructions[0]).not.toBe(prev.instructions[0]);
    expect(modelShape(again)).toBe(modelShape(next));
  });

  test("a moved instruction takes its shell script along, moved; the old instruction reads its own again", () => {
    const prev = parseSource(decodeSource("FROM x\nRUN a\nRUN apt-get install -y curl && echo 'x y'\n"));
    const moved = prev.instructions[2];
    const script = shellOf(moved, prev.text, prev.escapeChar)!;
    const edits = [{ start: 11, end: 12, text: "aaa" }];
    const next = parseEdited(prev, { ...prev.source, text: applyEdits(prev.text, edits) }, edits);
    const nextScript = shellOf(next.instructions[2], next.text, next.escapeChar)!;
    expect(nextScript).toBe(script);
    const fresh = (m: DockerfileModel, i: number) => {
      forgetReusableParses(); // or the parse would reuse the very script under test
      return shellOf(parseSource(m.source).instructions[i], m.text, m.escapeChar)!;
    };
    const shape = (s: ShellScript) => ({
      base: s.base,
      root: JSON.stringify(s.root, (k, v) => (k === "parent" ? undefined : v)),
      commands: s.commands.map((c) => [c.start, c.end, c.words.map((w) => [w.start, w.end, w.value])]),
      words: s.commands.map((c) => c.words.map((w) => s.slice(w))),
    });
    expect(shape(nextScript)).toEqual(shape(fresh(next, 2)));
    expect(nextScript.slice(nextScript.commands[0].name!)).toBe("apt-get");
    const oldAgain = shellOf(moved, prev.text, prev.escapeChar)!;
    expect(oldAgain).not.toBe(script);
    expect(shape(oldAgain)).toEqual(shape(fresh(prev, 2)));
  });

  test.skipIf(!corpusAvailable)("every edit the engine makes on a corpus sample (every 8th file)", () => {
    setCheckEditedParses(true);
    try {
      const internal: string[] = [];
      for (const f of corpusFiles().filter((_, i) => i % 8 === 0)) {
        const r = optimizeFile(fs.readFileSync(path.join(CORPUS, f), "utf8"), emptyContext, {
          transforms: TRANSFORMS,
        });
        if (r.error?.kind === "internal") internal.push(`${f}: ${r.error.message.slice(0, 500)}`);
      }
      expect(internal).toEqual([]);
    } finally {
      setCheckEditedParses(false);
    }
  });
});

describe("fast Dockerfile scanner on the corpus", () => {
  if (!corpusAvailable) {
    test.skip(`corpus comparison skipped: ${CORPUS} is absent (it lives in ../shared beside the project)`, () => {});
    return;
  }
  const files = corpusFiles();

  test("every file: same model, fallback under 3%", () => {
    const mismatches: string[] = [];
    let fallbacks = 0;
    for (const f of files) {
      const { fast, slow } = bothParses(fs.readFileSync(path.join(CORPUS, f), "utf8"));
      if (!fast) fallbacks++;
      else if (!isDeepStrictEqual(observable(fast, false), observable(slow, false))) mismatches.push(f);
    }
    const rate = (100 * fallbacks) / files.length;
    console.log(`fast parse fallback: ${fallbacks}/${files.length} files (${rate.toFixed(2)}%)`);
    expect(files.length).toBeGreaterThan(15000);
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(rate).toBeLessThan(3);
  });
});

/** The engine re-parses after every change: its results must not depend on the parser used. */
describe("engine results with the fast scanner on and off", () => {
  function both(
    raw: string,
    context: BuildContext,
    transforms: readonly Transform[],
    options?: TransformOptions,
  ) {
    const run = (fast: boolean): FileResult => {
      setFastParse(fast);
      try {
        return optimizeFile(raw, context, { transforms, options });
      } finally {
        setFastParse(true);
      }
    };
    return { fast: run(true), slow: run(false) };
  }

  test("fixtures", () => {
    let changed = 0;
    for (const c of fixtureCases()) {
      const transforms =
        c.transforms.length > 0
          ? c.transforms.map((id) => transformById(id)!)
          : TRANSFORMS.filter((t) => !t.defaultOff);
      const { fast, slow } = both(c.input, c.context, transforms, c.options);
      expect(fast, `${c.transform}/${c.name}`).toEqual(slow);
      if (fast.changed) changed++;
    }
    expect(changed).toBeGreaterThan(100);
  });

  test.skipIf(!corpusAvailable)("a corpus sample, all transforms", () => {
    const sample = corpusFiles().filter((_, i) => i % 40 === 0);
    let changed = 0;
    for (const f of sample) {
      const { fast, slow } = both(fs.readFileSync(path.join(CORPUS, f), "utf8"), emptyContext, TRANSFORMS);
      expect(fast, f).toEqual(slow);
      if (fast.changed) changed++;
    }
    expect(changed).toBeGreaterThan(sample.length / 4);
  });
});
