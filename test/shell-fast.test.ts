import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseBashSubset } from "../src/engine/shell-fast.ts";
import {
  normaliseEveryLine,
  normaliseForBash,
  parseShell,
  setFastShell,
  type ShellNode,
} from "../src/engine/shell.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { emptyContext } from "../src/io/context.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "./corpus-check.ts";
import { FIXTURES, fixtureCases } from "./fixture-cases.ts";

// The differential tests compare the fast parser with tree-sitter; parseShell
// below goes through tree-sitter only.
beforeAll(async () => {
  await loadParsers();
  setFastShell(false);
});
afterAll(() => setFastShell(true));

/** Type, named, field, span and children, recursively; parent links are checked separately. */
function serialise(n: ShellNode): string {
  let out = `${n.type}|${n.named ? 1 : 0}|${n.field ?? ""}|${n.start}|${n.end}`;
  if (n.children.length > 0) out += `(${n.children.map(serialise).join(",")})`;
  return out;
}

function parentsLinked(n: ShellNode): boolean {
  return n.children.every((c) => c.parent === n && parentsLinked(c));
}

/** tree-sitter's tree for an already normalised script ("\u0001": no escape char to normalise again). */
function treeSitter(text: string, base = 0): { root: ShellNode; hasErrors: boolean } {
  const padded = " ".repeat(base) + text;
  const script = parseShell(padded, { start: base, end: padded.length }, "\u0001");
  return { root: script.root, hasErrors: script.hasErrors };
}

interface Comparison {
  fast: number;
  mismatches: string[];
}

/** Every script the fast parser takes must give tree-sitter's exact tree, without errors. */
function compareAll(scripts: Iterable<string>): Comparison {
  let fast = 0;
  const mismatches: string[] = [];
  for (const text of scripts) {
    const mine = parseBashSubset(text, 0);
    if (!mine) continue;
    fast++;
    const theirs = treeSitter(text);
    if (theirs.hasErrors || serialise(mine) !== serialise(theirs.root) || !parentsLinked(mine)) {
      mismatches.push(text);
    }
  }
  return { fast, mismatches };
}

/** The normalised shell of every shell-form RUN/CMD/ENTRYPOINT/HEALTHCHECK, as shellOf reads it. */
function scriptsOf(dockerfile: string): string[] {
  const model = parseDockerfile(dockerfile);
  const out: string[] = [];
  for (const instr of model.instructions) {
    if (!["RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"].includes(instr.keyword)) continue;
    if (instr.execForm || instr.hasHeredoc || !instr.argsSpan) continue;
    let start = instr.argsSpan.start;
    if (instr.keyword === "HEALTHCHECK") {
      const cmd = instr.args.find((a) => a.value.toUpperCase() === "CMD");
      start = cmd ? cmd.end : instr.argsSpan.end;
    }
    out.push(normaliseForBash(model.text.slice(start, instr.argsSpan.end), model.escapeChar));
  }
  return out;
}

/** A small deterministic PRNG (mulberry32) for the random tests. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("hand-written snippets", () => {
  // prettier-ignore
  const accepted = [
    "apt-get update && apt-get install -y --no-install-recommends curl ca-certificates",
    "a && b || c ; d | e",
    "a | b && c",
    "a && b | c | d",
    "a | b | c | d",
    "a & b",
    "a;",
    "a ;b; c",
    "a && \\\n  b \\\n  && c",
    "a \\\n 2>&1 && b",
    "  a  ",
    "rm -rf /var/lib/apt/lists/* /tmp/*.tar.gz ./x ~/.cache",
    'A=1 B="x $Y ${Z}" cmd --foo="$X" a=b',
    "A=1",
    "A=1 B=2",
    "A= cmd",
    "A=$(x) && echo $A",
    'export A=1 B C="x" PATH=$PATH:/x',
    "export -x A",
    "local a=1; declare -r B=2; readonly C; typeset D=3",
    "unset A B",
    "cmd > file 2>&1 && x",
    "a | b > f",
    "a && b > f || c",
    "a x > f y",
    "cmd >f; cmd >> f; cmd < f; cmd &>/dev/null; cmd >& f; cmd 2> /dev/null; cmd 1>&2",
    'cmd > "$F" 2>&1 3>x',
    'echo "a $B c" "$A $B" "${A} ${B}" " $A" "$A " "  " "$A \\\n $B" "$(a) $(b)"',
    'echo "a\\"b" "a\\$b" "$" "a$" "\\\\" ""',
    "echo 'a b' x'y' \"a\"'b' 'a'\"b\"",
    "echo $1 $@ $? $$ $# $! $- $_ $0 $* $10",
    "echo ${A}1 1$A 1${A} a${A}1 $A$B ${A}x x${A}",
    "echo 1 -1 0755 0x1F 1.5 1e5 12abc",
    'echo $(a; b) $(a;) $( a | b ) "$(cat /etc/os-release | grep ID)"',
    'echo $X\\\\ "a"\\"b a\\ b \\*.pyc \\;',
    'echo a$B.c$D.e a$B.c$D a$B$C.d "a"b$D.e a$B.c${D}.e a$B.c$D"x"',
    "git fetch origin pull/$env:PR/head:pr$env:PR",
    "echo a=b=c =x -- - -rf --opt=value",
    "tar xzf - -C /usr/src && curl -sL x | bash -",
    "a foo\\\n  bar",
    "echo \"é😀\" 'ü' x",
    "echo ${A:-x.y} ${A:-} ${A-x} ${A:+1} ${A:=x} ${A%.*} ${A%%.*} ${A##*-} ${A#v} ${A//./-} ${A/a/b} ${A:0:4} ${A:1}",
    "find . -name '*.pyc' -exec rm -f {} \\; && echo a[1] x{a,b}y *.[ch]",
    'if [ -f x ]; then a; b && c; elif [ "$A" = "x" ]; then d; else e; fi && f',
    "if a; then b & fi > log 2>&1",
    '[ -n "$X" ] || [ ! -d /x ] && [ $A -eq 1 ] && [ "${A}" != \'b\' ] && [ "$A" == "b" ] && [ x ]',
    'for x in a b "c" $(ls); do echo $x; done; while a; do b; done < f; until a; do :; done',
    "(a; b) && (cd x && make) | tee log; { a; b; } > f; ! a && ! [ -f x ] || ! (b)",
    "x && if a; then b; fi; if a; then (b); fi",
    'chsh -s `which zsh` && A="x `date` y" B=`id -u`; echo `a | b`c "$(`x`)" `a`b `c` d',
  ];
  // prettier-ignore
  const rejected = [
    "case $x in a) b;; esac",
    "[[ -f x ]] && y",
    "[ -f x -a -f y ]",
    "[ $A == x ]",
    "[ -f x]",
    "f() { a; }",
    "function f { a; }",
    "for ((i=0;i<3;i++)); do a; done",
    "for x; do y; done",
    "if a; then fi",
    "{ a }",
    "echo `a` `b`",
    "echo `a && A=1`",
    "cat <<EOF\nx\nEOF",
    "echo ${#A} ${A[0]} ${A:-$B} ${A:-a-b} ${_}",
    "echo $((1 + 2))",
    "x=(a b)",
    "echo {1..3}",
    "echo { }",
    "a | b | c && d",
    "a | b | c > f",
    "a | b | c | d > f || e",
    "echo $(a | b | c > f)",
    "a # comment",
    "a \\\n",
    "a\\\n 2>&1 && b",
    "echo x\\\n 2>&1",
    "A=1\\\n B=2 cmd",
    "a - 2>/dev/null",
    "echo x$$",
    "echo $'a'",
    "echo a>b",
    "_=1 cmd",
    "export *A=y",
    "export --x=1",
    "a |& b",
    "cmd <(x)",
    "echo “curly”",
    "",
  ];

  test.each(accepted)("takes %j, exactly as tree-sitter", (text) => {
    const mine = parseBashSubset(text, 0);
    expect(mine).not.toBeNull();
    const theirs = treeSitter(text);
    expect(theirs.hasErrors).toBe(false);
    expect(serialise(mine!)).toBe(serialise(theirs.root));
    expect(parentsLinked(mine!)).toBe(true);
    expect(mine!.parent).toBeNull();
  });

  test.each(rejected)("leaves %j to tree-sitter", (text) => {
    expect(parseBashSubset(text, 0)).toBeNull();
  });

  test("offsets are Dockerfile offsets (base + index)", () => {
    const text = 'A=1 cmd "$X" | tee f > /dev/null';
    const mine = parseBashSubset(text, 1234)!;
    expect(serialise(mine)).toBe(serialise(treeSitter(text, 1234).root));
    expect(mine.start).toBe(1234);
    expect(mine.end).toBe(1234 + text.length);
  });
});

describe("operator chains", () => {
  // Every chain of up to four commands joined by && || | ; with or without a
  // redirect after each: lists, pipelines and redirected statements nest the
  // way tree-sitter's tie-breaks make them nest.
  function* chains(): Generator<string> {
    const cmds = ["a", "b x", "c", "d"];
    const ops = ["&&", "||", "|", ";"];
    const redirects = ["", " > f", " 2>&1"];
    function* rec(k: number, acc: string): Generator<string> {
      if (k === cmds.length) {
        yield acc;
        return;
      }
      for (const r of redirects) {
        if (k === 0) yield* rec(1, cmds[0] + r);
        else for (const op of ops) yield* rec(k + 1, `${acc} ${op} ${cmds[k]}${r}`);
      }
    }
    yield* rec(0, "");
  }

  test.each([
    ["at the top level", "%"],
    ["inside $(...)", "echo $(%)"],
    ["inside a string", 'A="$(%)" && b'],
    ["in a group", "x && { %; }"],
    ["in an if condition", "if %; then y; fi"],
    ["in a loop body", "for i in 1 2; do %; done"],
  ])("all of them, %s", (_name, frame) => {
    const all = [...chains()].map((c) => frame.replace("%", c));
    const { fast, mismatches } = compareAll(all);
    expect(mismatches).toEqual([]);
    expect(fast).toBeGreaterThan(all.length * 0.9);
  });

  test("random chains of compound statements in compound frames", () => {
    // Which nesting tree-sitter picks depends on what the operands are, so
    // the operands here are tests, groups, loops, negations and commands.
    const rnd = seeded(7);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
    // prettier-ignore
    const units = [
      "a", "b x", 'a "x" $B', "A=1 b", "x=$(y | z)", "unset A", "local a=1", "echo ${A:-x}",
      "[ -f x ]", '[ a = "b" ]', "(a)", "( a | b )", "{ b; }", "{ a | b; }", "! c", "! [ x ]",
      "if a; then b; fi", "if a; then b | c; else d && e; fi", "while a; do b; done",
      "for i in 1 2; do c; done", "export A=$(x)",
    ];
    const ops = ["&&", "||", "|", ";", "&"];
    const redirects = ["", "", " > f", " 2>&1", " < g"];
    const frames = ["%", "echo $(%)", "x && { %; }", "if %; then y; fi", "( % ) | z", "while %; do :; done"];
    const scripts: string[] = [];
    for (let k = 0; k < 4000; k++) {
      const n = 1 + Math.floor(rnd() * 7);
      let t = pick(units) + pick(redirects);
      for (let i = 1; i < n; i++) t += ` ${pick(ops)} ${pick(units)}${pick(redirects)}`;
      scripts.push(pick(frames).replace("%", t));
    }
    const { fast, mismatches } = compareAll(scripts);
    expect(mismatches).toEqual([]);
    expect(fast).toBeGreaterThan(scripts.length * 0.6);
  });
});

describe("random scripts near the subset's edges", () => {
  test("seeded token soup: whatever the fast parser takes matches tree-sitter", () => {
    const rnd = seeded(20240611);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
    // prettier-ignore
    const pieces = [
      "a", "b", "x", "A", " ", " ", " ", "$", "$", '"', '"', "'", "\\", "\\\n", " \\\n ", "|", "&",
      "&&", ";", "<", ">", "=", "-", "1", "2", "0", "#", "!", "*", "?", "@", "_", ".", "/", ":",
      "%", "+", "~", ",", "\t", "(", ")", "{", "}", "$(", "${", "2>&1", ">/dev/null", "echo ",
      "A=", "export ", "ab", "-f", "--x=", '"a b"', '"$A"', "$A", "${B}", "cmd ", " && ", " | ", "; ",
      "[", "]", "{}", "[ ", " ]", "if ", "then ", "fi", "do ", "done", "! ", "${A:-", "${A%%", "${A//",
      "`", "`", "`a`", "` b `",
    ];
    const scripts: string[] = [];
    for (let k = 0; k < 8000; k++) {
      let t = "";
      const len = 2 + Math.floor(rnd() * 14);
      for (let i = 0; i < len; i++) t += pick(pieces);
      scripts.push(t);
    }
    const { fast, mismatches } = compareAll(scripts);
    expect(mismatches).toEqual([]);
    expect(fast).toBeGreaterThan(400);
  });
});

describe("backticks", () => {
  test("seeded scripts with `...` in every position", () => {
    // The scanner decides whether a backtick joins a word by looking at the
    // next backtick anywhere in the text, so several per script matter.
    const rnd = seeded(99);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
    // prettier-ignore
    const inner = ["a", "a b", "a | b", "a && b", "a; b", "A=1", "a > f", "a 2>&1", 'echo "$X"', "a $B", "x=$(y)",
      "a -x", "[ -f x ]", "a;", "a ;", " a ", "a\\\n b", "a=b c", "a.b", "a/b"];
    // prettier-ignore
    const wraps = ["`%`", "`%`", "` %`", "`% `", '"`%`"', "x`%`", "`%`x", "`%`$A", "$A`%`", '"a `%` b"', "'q'`%`",
      '`%`"s"', "$(echo `%`)"];
    const seps = [" ", " ", "", ";", "; ", " && ", " | ", "\t", " \\\n "];
    const heads = ["echo ", "A=", "x ", "", "export A=", "if [ ", "for i in ", "[ -n "];
    const tails = ["", "", " x", ";", " > f", " ]; then :; fi", "; do :; done", " ]", "x y"];
    const scripts: string[] = [];
    for (let k = 0; k < 4000; k++) {
      let t = pick(heads);
      const n = 1 + Math.floor(rnd() * 3);
      for (let i = 0; i < n; i++) t += (i ? pick(seps) : "") + pick(wraps).replace("%", pick(inner));
      scripts.push(t + pick(tails));
    }
    const { fast, mismatches } = compareAll(scripts);
    expect(mismatches).toEqual([]);
    expect(fast).toBeGreaterThan(1000);
  });
});

describe("every shell script of the fixtures", () => {
  test("fast trees equal tree-sitter's; coverage printed", () => {
    const scripts = new Set<string>();
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === "Dockerfile" || e.name === "expected.Dockerfile") {
          for (const s of scriptsOf(fs.readFileSync(p, "utf8"))) scripts.add(s);
        }
      }
    };
    walk(FIXTURES);
    const { fast, mismatches } = compareAll(scripts);
    const share = fast / scripts.size;
    console.log(
      `fixtures: ${fast}/${scripts.size} distinct scripts (${(100 * share).toFixed(1)}%) on the fast path`,
    );
    expect(mismatches).toEqual([]);
    expect(scripts.size).toBeGreaterThan(200);
    expect(share).toBeGreaterThan(0.7);
  });
});

describe("normaliseForBash's shortcut for scripts that need no change", () => {
  const tricky = [
    "apt-get update \\\n    && apt-get install -y curl",
    "echo a \\  \n b",
    "echo a \\\t\n b",
    "echo a \\\r\n b",
    "echo a \\\n# note\n  b",
    "echo a \\\n   # note\n  b",
    "echo a \\\n\n  b",
    "echo a \\\n  \t\n  b",
    "echo a\\\\\n# not a continuation",
    "echo 'a \\' \\\n b",
    "echo a \\",
    "echo a \\\n",
  ];
  test("gives the full normalisation's result on tricky snippets and every corpus RUN", () => {
    const raw: Array<[string, string]> = tricky.map((t) => [t, "\\"]);
    raw.push(...tricky.map((t) => [t.replaceAll("\\", "`"), "`"] as [string, string]));
    if (corpusAvailable) {
      for (const f of corpusFiles().filter((_, i) => i % 4 === 0)) {
        const model = parseDockerfile(fs.readFileSync(path.join(CORPUS, f), "utf8"));
        for (const instr of model.instructions) {
          if (instr.keyword === "RUN" && instr.argsSpan)
            raw.push([model.text.slice(instr.argsSpan.start, instr.argsSpan.end), model.escapeChar]);
        }
      }
    }
    const differing = raw.filter(([t, e]) => normaliseForBash(t, e) !== normaliseEveryLine(t, e));
    expect(differing).toEqual([]);
    expect(raw.filter(([t, e]) => normaliseEveryLine(t, e) !== t).length).toBeGreaterThan(8);
  });
});

describe("every shell script of the corpus", () => {
  if (!corpusAvailable) {
    test.skip(`corpus comparison skipped: ${CORPUS} is absent (it lives in ../shared beside the project)`, () => {});
    return;
  }
  test("fast trees equal tree-sitter's; coverage printed", () => {
    const scripts = new Set<string>();
    for (const f of corpusFiles()) {
      for (const s of scriptsOf(fs.readFileSync(path.join(CORPUS, f), "utf8"))) scripts.add(s);
    }
    const { fast, mismatches } = compareAll(scripts);
    const share = fast / scripts.size;
    console.log(
      `corpus: ${fast}/${scripts.size} distinct scripts (${(100 * share).toFixed(1)}%) on the fast path`,
    );
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(scripts.size).toBeGreaterThan(40000);
    expect(share).toBeGreaterThan(0.9);
  });
});

describe("the engine gives the same output with the fast path on and off", () => {
  const run = (fastOn: boolean, inputs: Array<[string, string]>) => {
    setFastShell(fastOn);
    try {
      return inputs.map(([, raw]) => {
        const r = optimizeFile(raw, emptyContext, { transforms: TRANSFORMS });
        return JSON.stringify({ output: r.output, changes: r.changes, refusals: r.refusals, error: r.error });
      });
    } finally {
      setFastShell(false);
    }
  };

  test("fixture inputs", () => {
    const inputs = fixtureCases().map((c) => [c.dir, c.input] as [string, string]);
    const off = run(false, inputs);
    const on = run(true, inputs);
    const differing = inputs.filter((_, i) => on[i] !== off[i]).map(([name]) => name);
    expect(differing).toEqual([]);
    expect(inputs.length).toBeGreaterThan(100);
  });

  test.skipIf(!corpusAvailable)("a sample of the corpus (every 25th file)", () => {
    const inputs = corpusFiles()
      .filter((_, i) => i % 25 === 0)
      .map((f) => [f, fs.readFileSync(path.join(CORPUS, f), "utf8")] as [string, string]);
    const off = run(false, inputs);
    const on = run(true, inputs);
    const differing = inputs.filter((_, i) => on[i] !== off[i]).map(([name]) => name);
    expect(differing).toEqual([]);
    expect(inputs.length).toBeGreaterThan(500);
  });
});
