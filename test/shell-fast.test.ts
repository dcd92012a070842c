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

/** Every tree the fast parser gives equals tree-sitter's, and it takes more than `atLeast` scripts. */
function expectAgreement(scripts: Iterable<string>, atLeast: number): void {
  const { fast, mismatches } = compareAll(scripts);
  expect(mismatches).toEqual([]);
  expect(fast).toBeGreaterThan(atLeast);
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

/** A seeded random source, and a pick of one element with it. */
function randomPicks(seed: number) {
  const rnd = seeded(seed);
  return { rnd, pick: <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] };
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
    "case $x in a) b;; c|d) e; f;; *) g ;; esac",
    'case "$(uname -m)" in \\\n  amd64) A=x64;; \\\n  arm64|aarch64) A=arm64 ;; \\\n  *) exit 1 ;; \\\nesac && b',
    "case ${A} in amd64|x86_64) a;; armv7l|i?86|*.tar) b | c;; 'q'|\"$B\"|$C|${D}) ;; 1|-a|--x|a-b|_a) d & ;; esac",
    "x && case $x in esacx|e|es|else-1) b;;esac > f; case $x in a) b;; esac;",
    "a | b | c && d",
    "curl -fsSL x | tar -xz -C /y | cat && rm -f z || exit 1 && b | c | d",
    "a | b | c | d && e && f; x && { a | b | c | d | e | f | g || h; }",
    "echo $(a | b | c && d && e) `a | b | c || d`",
    "a && b | c | d | e && f || g | h | i && j; A=1 | [ -f x ] && c | d | e && f",
    "case $x in (a) b;; ( amd64 | x86_64 ) c;; - | 'x' ) d;; (*) e;; esac",
    "a # comment",
    'sed -i "s/^x=(.+)$/y/" f && echo "$.y" "x$\'" "a$)$}$|$;$<$>" && export P=${P=$}:/lib',
    'f() { a; }; _fetch () { local f="$1"; shift; } && function g { b; } | x; function h() { if a; then b; fi; }; _fetch x',
    "a > f && b | c | d && e; a && b > f && c | d | e && f",
    'make -j${A-$(nproc)} ${A-`getconf X `} "${A:-$B}" ${A:+${B}} ${A-\'/x:/y\'} ${A:-""} ${A:="x y"}',
    "a && b > f 2>&1; echo a#b `c` # c `d` $(e) \\",
    "export A=1;#c",
    'make -j"$(( $(nproc) + 1 ))" && echo $(($NB_CORES * 2)) $((n+1)) $((8 * ${B} + 32 - c / 2)) A=$((1))x',
    'echo ${A%%[a-z]*} "${A%%[a-z]*}" ${A%%[^0-9.]*} ${A%%[-~bu]*} ${A%.[[:digit:]]*} ${A%%;*} ${A#*;}',
  ];
  // prettier-ignore
  const rejected = [
    "case $x in -a ) b;; esac",
    "case $x in a) b;;& esac",
    'case $x in *"x"*) b;; esac',
    "case $x in [ab]) b;; esac",
    "case $x in a) b; esac",
    "[[ -f x ]] && y",
    "[ -f x -a -f y ]",
    "[ $A == x ]",
    "[ -f x]",
    "f() ( a )",
    "f() { a; } > log",
    "function f ( ) { a; }",
    "for ((i=0;i<3;i++)); do a; done",
    "for x; do y; done",
    "if a; then fi",
    "{ a }",
    "echo `a` `b`",
    "echo `a && A=1`",
    "cat <<EOF\nx\nEOF",
    "echo ${#A} ${A[0]} ${A:-a-b} ${_} ${A:-$((1))} ${A-$_} ${A-`a $b`}",
    "echo ${A%a]} ${A%[a} ${A%[ ]}",
    "echo $((1 % 2))",
    "echo $((i++)) $((-1)) $((a ** 2)) $((a += 1)) $(((a + 1) * 2)) $((a, b))",
    "echo $((2%3)) $((a[1])) $((1a))",
    "x=(a b)",
    "echo {1..3}",
    "echo { }",
    "a | b | c && d | e | f && g",
    "(a | b | c | d && e)",
    "a | b | c | d | e | f | g | h && i",
    "a | b | c && d > f",
    "a | b && c | d | e | f && g",
    "(a) && b | c | d && e",
    "a > f && b | c | d | e && g",
    "a > f && b | c | (d) && e",
    "a > f | b | c && d",
    "a | b | c > f",
    "a | b | c | d > f || e",
    "echo $(a | b | c > f)",
    "a # comment\nb",
    "echo $(a # c)",
    "if a # c",
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
    expectAgreement(all, all.length * 0.9);
  });

  test("random chains of compound statements in compound frames", () => {
    // Which nesting tree-sitter picks depends on what the operands are, so
    // the operands here are tests, groups, loops, negations and commands.
    const { rnd, pick } = randomPicks(7);
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
    expectAgreement(scripts, scripts.length * 0.6);
  });
});

describe("chains after a pipeline of three or more", () => {
  test("seeded chains in every kind of frame: whatever the fast parser takes matches tree-sitter", () => {
    // The peeled shape holds for pipelines of up to 7 commands, but only of
    // 3 inside ( ), $( ), backticks and case items.
    const { rnd, pick } = randomPicks(11);
    // prettier-ignore
    const units = ["a", "b x", 'a "x" $B', "A=1 b", "x=$(y | z)", "unset A", "local a=1", "[ -f x ]", "(a)", "( a | b )",
      "{ b; }", "! c", "if a; then b; fi", "while a; do b; done", "export A=$(x)", "echo `a`", "case $x in a) b;; esac"];
    // prettier-ignore
    const frames = ["%", "echo $(%)", "x && { %; }", "if %; then y; fi", "( % ) | z", "while %; do :; done", "(%)", "x; %",
      'A="$(%)"', "case $x in a) %;; esac", "echo $({ %; })", "{ x | (%); }", "echo `%`", "if a; then (b; %); fi",
      "for i in 1; do %; done", "x | { %; }"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = pick(units);
      for (let n = 2 + Math.floor(rnd() * 6); n > 0; n--) t += ` | ${pick(units)}`;
      for (let operands = 1 + Math.floor(rnd() * 4); operands > 0; operands--) {
        t += ` ${pick(["&&", "||", "&&"])} ${pick(units)}`;
        if (rnd() < 0.3) for (let e = 1 + Math.floor(rnd() * 3); e > 0; e--) t += ` | ${pick(units)}`;
        if (rnd() < 0.05) t += pick([" > f", " 2>&1"]);
      }
      if (rnd() < 0.2) t += pick(["; y", " & y", " | z", " > f"]);
      scripts.push(pick(frames).replace("%", t));
    }
    expectAgreement(scripts, 600);
  });

  test("seeded chains with later pipelines of three or more, redirects and compound operands", () => {
    // Whether the chain nests to the left depends on what its first operand is.
    const { rnd, pick } = randomPicks(12);
    // prettier-ignore
    const units = ["a", "b x", 'a "x" $B', "A=1 b", "x=$(y | z)", "unset A", "local a=1", "[ -f x ]", "(a)", "( a | b )",
      "{ b; }", "! c", "if a; then b; fi", "while a; do b; done", "export A=$(x)", "echo `a`", "case $x in a) b;; esac"];
    // prettier-ignore
    const frames = ["%", "echo $(%)", "x && { %; }", "if %; then y; fi", "( % ) | z", "(%)", "x; %", 'A="$(%)"',
      "case $x in a) %;; esac", "echo `%`", "for i in 1; do %; done"];
    const redirect = (p = 0.07) => (rnd() < p ? pick([" > f", " 2>&1", " < g"]) : "");
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = pick(units) + redirect(0.3);
      for (let n = Math.floor(rnd() * 3); n > 0; n--) t += ` | ${pick(units)}${redirect()}`;
      for (let operands = 1 + Math.floor(rnd() * 5); operands > 0; operands--) {
        t += ` ${pick(["&&", "||", "&&"])} ${pick(units)}${redirect()}`;
        if (rnd() < 0.5)
          for (let e = 1 + Math.floor(rnd() * 5); e > 0; e--) t += ` | ${pick(units)}${redirect()}`;
      }
      if (rnd() < 0.2) t += pick(["; y", " & y", " | z", " > f"]);
      scripts.push(pick(frames).replace("%", t));
    }
    expectAgreement(scripts, 1000);
  });
});

describe("random scripts near the subset's edges", () => {
  test("seeded token soup: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(20240611);
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
    expectAgreement(scripts, 400);
  });
});

describe("backticks", () => {
  test("seeded scripts with `...` in every position", () => {
    // The scanner decides whether a backtick joins a word by looking at the
    // next backtick anywhere in the text, so several per script matter.
    const { rnd, pick } = randomPicks(99);
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
    expectAgreement(scripts, 1000);
  });
});

describe("expansion patterns", () => {
  test("seeded ${A%...} and ${A#...} with bracket expressions: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(5);
    const chars = [..."a9_.-*?/:;,+=@[]^!~[]{}#%$ '\""];
    // prettier-ignore
    const common = ["[a-z]*", "[^0-9.]*", ".[[:digit:]]*", "[-~bu]*", ";*", "*;", "[!a]", "[[:space:]]", "*[0-9]"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = pick(["echo ", "A=", "x ", 'echo "', "[ -n "]);
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
        let p = "";
        for (let m = Math.floor(rnd() * 8); m > 0; m--) p += pick(chars);
        if (rnd() < 0.6) p = pick(common);
        t += `${pick(["", "x", "$B", " "])}\${A${pick(["%", "%%", "#", "##"])}${p}}${pick(["", "x", ".tar", " "])}`;
      }
      scripts.push(t + pick(["", '"', " ]", " && b"]));
    }
    expectAgreement(scripts, 600);
  });
});

describe("expansion operands", () => {
  test("seeded ${A:-...} operands: whatever the fast parser takes matches tree-sitter", () => {
    const { pick } = randomPicks(29);
    // prettier-ignore
    const operands = ["$", "`a b`", "`getconf X `", "`a | b`", "`a`b", '`a "b"`', "`a $c`", "`a (b)`", "`a \\b`", "`a`", "``",
      "`a {b}`", "`a;b`", "$(nproc)", "$( getconf X ;)", "'/x:/y'", "''", '""', '"x y"', '"$B"', "$B", "$1", "$_", "$@",
      "${B}", "${B:-x}", "${B:-$C}", "-DX=ON", ":$A", "==", "$", "msg here", "a-b", "12", "$B$C", "'a'b", "$((1))",
      "$(a)x", "\"a\"'b'", "$B}", "${#B}"];
    const operators = [":-", "-", ":+", "+", ":=", "=", ":?", "?"];
    // prettier-ignore
    const frames = ["echo %", 'echo "%"', "A=%", "x%y", 'echo "a % b"', "[ % = x ]", "echo %$B", "export A=%",
      "make -j%"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      scripts.push(pick(frames).replace("%", `\${A${pick(operators)}${pick(operands)}}`));
    }
    expectAgreement(scripts, 1000);
  });
});

describe("function definitions", () => {
  test("seeded definitions and calls: whatever the fast parser takes matches tree-sitter", () => {
    const { pick } = randomPicks(37);
    const names = [
      "f",
      "_fetch",
      "_update_repo",
      "my_f",
      "F1",
      "_",
      "_1",
      "__x",
      "a-b",
      "0f",
      "if",
      "do",
      "f.x",
    ];
    // prettier-ignore
    const bodies = ["a;", "a; b;", 'local f="$1"; shift;', "a && b;", "if a; then b; fi;", "a | b | c;", "echo $x > f;",
      "return 1;", "a &", "(a);"];
    const gaps = ["", " ", "  ", "\t"];
    const forms = [
      () => `${pick(names)}${pick(gaps)}()${pick([" ", " \\\n "])}{ ${pick(bodies)}${pick([" ", " \\\n "])}}`,
      () => `function ${pick(names)}${pick(["", "()", " ()"])} { ${pick(bodies)} }`,
      () => `${pick(names)}() ( a )`,
      () => `${pick(names)}() { a; } > log`,
      () => `${pick(names)}(){ a; }`,
      () => `${pick(names)}() {a; }`,
    ];
    const after = () =>
      pick([
        "",
        `; ${pick(names)} x`,
        ` && ${pick(names)}`,
        " | x",
        " & y",
        "; _x=1 _y",
        "; _a b; _ c; _-x; _1 y",
      ]);
    const frames = ["%", "x && %", "set -e; %", "(%)", "echo $(%)", "{ %; }", "if a; then %; fi"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) scripts.push(pick(frames).replace("%", pick(forms)() + after()));
    expectAgreement(scripts, 600);
  });
});

describe("dollar signs in strings", () => {
  test("seeded strings with `$` before other characters: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(41);
    // prettier-ignore
    const parts = ["x", " ", "  ", "$", "$/", "$.", "$'", "$,", "$:", "$=", "$+", "$%", "$^", "$~", "$]", "$}", "$)", "$|",
      "$&", "$;", "$<", "$>", "$A", "${A}", "$(a)", "/y/", "\\$", '\\"', "`a`", "$1", "$$", "\t", "$ ", "$!", "$["];
    const frames = ['echo "%"', 'sed -i "s/^x=(.+)%" f', 'A="%" b', 'echo "%"x', 'x "%" "%"', '[ "%" = x ]'];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = "";
      for (let n = 1 + Math.floor(rnd() * 6); n > 0; n--) t += pick(parts);
      scripts.push(pick(frames).replace(/%/g, t));
    }
    expectAgreement(scripts, 1500);
  });
});

describe("words that start with a reserved word", () => {
  test("seeded `do_x`, `unsetA`, `fi2`... in every position: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(43);
    // prettier-ignore
    const keywords = ["do", "done", "if", "then", "fi", "elif", "else", "for", "in", "while", "until", "case", "esac",
      "function", "export", "local", "unset", "declare", "readonly", "select", "typeset", "unsetenv"];
    const suffixes = ["_x", "1", "X", "_", "A_b", "", "", "-x", ".sh", "=1", "=", "/x"];
    const w = () => pick(keywords) + pick(suffixes);
    const units = [
      () => `${w()} a`,
      () => `a ${w()}`,
      () => `A=1 ${w()}`,
      () => `if ${w()}; then ${w()}; fi`,
      () => `for i in ${w()} b; do ${w()}; done`,
      () => `case $x in ${w()}) ${w()};; esac`,
      () => `while ${w()}; do :; done`,
      () => `echo $(${w()})`,
      () => w(),
    ];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = pick(units)();
      for (let n = Math.floor(rnd() * 3); n > 0; n--) t += pick(["; ", " && ", " | "]) + pick(units)();
      scripts.push(t);
    }
    expectAgreement(scripts, 600);
  });
});

describe("assignments after a continuation", () => {
  test("seeded `op\\⏎ A=1 cmd` at statement starts: whatever the fast parser takes matches tree-sitter", () => {
    const { pick } = randomPicks(47);
    // prettier-ignore
    const frames: Array<[string, string]> = [["a &&", ""], ["a ||", ""], ["a |", ""], ["a;", ""], ["a &", ""], ["(", ")"],
      ["{", "; }"], ["if", "; then b; fi"], ["if a; then", "; fi"], ["if a; then b; else", "; fi"], ["while a; do", "; done"],
      ["while", "; do b; done"], ["echo $(", ")"], ["x && {", "; }"], ["case $x in a)", ";; esac"], ["!", ""], ["", ""],
      ["a", ""], ["A=1", ""], ["echo `", "`"], ["for i in 1; do", "; done"]];
    // prettier-ignore
    const assignments = ["A=1", "DEBIAN_FRONTEND=x", "A=", "A=$B", "A=1 B=2", "A=1\\\n B=2", "_=1", "A_1=x", 'A="x y"',
      "A=$(b)"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      const [before, after] = pick(frames);
      const gap = pick(["\\\n ", "\\\n\t", "\\\n  \\\n ", " \\\n "]);
      scripts.push(before + gap + pick(assignments) + pick(["", " b", " b c", " 2>&1", " > f"]) + after);
    }
    expectAgreement(scripts, 1000);
  });
});

describe("comments", () => {
  test("seeded comments at the end and in the middle: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(23);
    // prettier-ignore
    const pieces = ["a", "b x", 'echo "$A"', "A=1", "export A=1", "[ -f x ]", "(a)", "{ b; }", "if a; then b; fi", "a > f",
      "a 2>&1", "echo `a`", "echo $(a)", "case $x in a) b;; esac", "a | b", "a && b", "x=$(y)", "for i in 1; do a; done"];
    const separators = [" && ", " || ", " | ", "; ", " & ", " \\\n && ", ";", " \\\n "];
    const comments = ["# c", "#", "#c d", "# `x` $(y) 'z", "# \\", "# a && b", "#!x", "# ;", "##"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = pick(pieces);
      for (let n = Math.floor(rnd() * 4); n > 0; n--) t += pick(separators) + pick(pieces);
      const comment = pick(["", " ", "\t", ";", "; ", " & ", " | ", "&&"]) + pick(comments);
      const at = rnd() < 0.6 ? t.length : Math.floor(rnd() * t.length);
      scripts.push(t.slice(0, at) + comment + t.slice(at));
    }
    expectAgreement(scripts, 1000);
  });
});

describe("arithmetic expansions", () => {
  test("seeded operands, operators and blanks: whatever the fast parser takes matches tree-sitter", () => {
    const { rnd, pick } = randomPicks(17);
    // prettier-ignore
    const operands = ["1", "2", "10", "010", "0x1F", "n", "i", "N_2", "_a", "_", "$n", "$N_CORES", "${A}", "${A:-1}",
      "$(nproc)", "$( nproc ;)", "$(a | b)", "1a", "$1", "$#", "'1'", '"1"', "a[1]", "$((1))"];
    const operators = ["+", "-", "*", "/", "+", "-", "*", "/", "%", "**", "+=", "==", "<", ""];
    const blanks = ["", "", " ", "  ", "\t", " \\\n "];
    // prettier-ignore
    const frames = ["echo $((%))", 'echo "$((%))"', "A=$((%))", "make -j$((%))", "x$((%))y", 'echo "a $((%)) b"',
      "[ $((%)) -gt 1 ]", "for i in $((%)); do :; done", "echo $(echo $((%)))", 'A="$((%))" && b'];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let e = pick(blanks) + (rnd() < 0.1 ? pick(["-", "+", "!", "("]) : "") + pick(operands);
      for (let n = Math.floor(rnd() * 4); n > 0; n--)
        e += pick(blanks) + pick(operators) + pick(blanks) + pick(operands);
      scripts.push(pick(frames).replace("%", e + pick(blanks) + (rnd() < 0.05 ? ")" : "")));
    }
    expectAgreement(scripts, 300);
  });
});

describe("case statements", () => {
  test("seeded patterns, alternatives and blanks: whatever the fast parser takes matches tree-sitter", () => {
    // Whether a pattern is an extglob_pattern or a word depends on its
    // characters, on what precedes it and on whether a continuation does.
    const { rnd, pick } = randomPicks(31);
    const chars = [..."aesczAE019_.*?/-"];
    const randomPattern = () => {
      let p = "";
      for (let n = 1 + Math.floor(rnd() * 6); n > 0; n--) p += pick(chars);
      return p;
    };
    // prettier-ignore
    const patterns = ["amd64", "x86_64", "arm64", "armhf", "*", "i?86", "a", "ab", "1", "3.8", "-a", "--x", "a-b",
      "_a", "a_b", "esac", "else", "e", "es", "esacx", "'a'", '"a"', '"$A"', "$A", "${A}", "*-a", "a*", "v1.*", "/x/*",
      ".", "-", "?", "e-1", "-1", "-ex"];
    // prettier-ignore
    const bodies = ["b", "b; c", "A=x64", "", "b && c", "b | c", "echo $x", "b > f", "b;", "b &", "if a; then b; fi",
      "echo 'x' \"y\"", "export A=x", "for i in 1; do b; done", "case $y in a) b;; esac", "local a=1 && b"];
    const gaps = [" ", " ", "\t", " \\\n ", " \\\n\t", "\\\n ", " \\\n  \\\n "];
    const values = ["$x", '"$x"', "${x}", "$(uname -m)", '"$(dpkg --print-architecture)"', "x", "${x%%-*}"];
    // prettier-ignore
    const frames = ["%", "a && %", "% && b", "% | c", "% > f", "{ %; }", "if a; then %; fi", "echo $(%)",
      "for i in 1; do %; done", "(%)", "x; %; y"];
    const scripts: string[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = `case ${pick(values)}${pick([" ", " \\\n "])}in`;
      const items = 1 + Math.floor(rnd() * 4);
      for (let j = 0; j < items; j++) {
        const alternatives: string[] = [];
        for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
          alternatives.push(rnd() < 0.5 ? pick(patterns) : randomPattern());
        }
        const body = pick(bodies);
        const end = j === items - 1 && rnd() < 0.1 ? "" : ";;";
        const open = rnd() < 0.3 ? pick(["(", "( "]) : "";
        const joined = alternatives.join(pick(["|", "|", " |", "| ", " | "])) + pick(["", "", " ", "\t"]);
        t += `${pick(gaps)}${open}${joined})${body ? pick([" ", "\t", " \\\n "]) : ""}${body}`;
        t += pick(["", " ", " \\\n "]) + end;
      }
      scripts.push(pick(frames).replace("%", `${t}${pick(gaps)}esac`));
    }
    expectAgreement(scripts, 1500);
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
