import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import {
  moveScriptInPlace,
  parseShell,
  setFastShell,
  shellOf,
  shellTree,
  type ShellScript,
} from "../src/engine/shell.ts";
import { inOpaqueBlock, walkShellTree, type ShellTreeNode } from "../src/engine/shell-tree.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "./corpus-check.ts";

beforeAll(async () => {
  await loadParsers();
});
afterAll(() => setFastShell(true));

/** The tree in a compact notation: `{words}` a simple command, `<op target>` a redirect, `!(…)` a negated pipeline. */
function show(script: ShellScript, n: ShellTreeNode): string {
  const s = (x: ShellTreeNode) => show(script, x);
  switch (n.kind) {
    case "block":
      return `${n.role}[${n.statements.map(s).join("; ")}]`;
    case "and-or":
      return n.pipelines.map(s).reduce((a, p, i) => `${a} ${n.ops[i - 1]} ${p}`) + (n.background ? " &" : "");
    case "pipeline":
      return (
        (n.negated ? "!" : "") +
        (n.commands.length > 1 || n.negated ? `(${n.commands.map(s).join(" | ")})` : s(n.commands[0]))
      );
    default: {
      const head =
        n.kind === "simple"
          ? `{${n.command.words.map((w) => w.raw).join(" ")}}`
          : n.kind === "other"
            ? `other:${n.what}`
            : `${n.kind}(${n.blocks.map(s).join(", ")})`;
      const redirects = n.redirects.map(
        (r) => `<${r.fd ?? ""}${r.op} ${r.target ? script.slice(r.target) : ""}>`,
      );
      const subs = n.substitutions.length > 0 ? `$[${n.substitutions.map(s).join(", ")}]` : "";
      return head + redirects.join("") + subs + (n.wordAssigns ? `=${n.wordAssigns}` : "");
    }
  }
}

/** Spans, parents and the tree, so two parses compare equal only when they agree on everything. */
function serialise(script: ShellScript): string {
  const tree = shellTree(script);
  const spans: string[] = [];
  walkShellTree(tree.root, (n) => {
    spans.push(`${n.kind}@${n.start}-${n.end}^${n.parent ? `${n.parent.kind}@${n.parent.start}` : "-"}`);
  });
  return `${show(script, tree.root)}\n${spans.join(" ")}`;
}

function parse(text: string, fast: boolean): ShellScript {
  setFastShell(fast);
  return parseShell(text, { start: 0, end: text.length }, "\\");
}

const tree = (text: string) => {
  const script = parse(text, false);
  return show(script, shellTree(script).root);
};

describe("the shell tree has the shell's structure", () => {
  test("a `!` negates the whole pipeline (tree-sitter negates its first command)", () => {
    expect(tree("! grep -q foo /etc/os-release | cat && echo ok")).toBe(
      "script[!({grep -q foo /etc/os-release} | {cat}) && {echo ok}]",
    );
    expect(tree("! a && b")).toBe("script[!({a}) && {b}]");
  });

  test("a redirect after a pipeline or list belongs to its last command", () => {
    expect(tree("curl -fsSL https://x/key.gpg | gpg --dearmor > /usr/share/keyrings/x.gpg")).toBe(
      "script[({curl -fsSL https://x/key.gpg} | {gpg --dearmor}<> /usr/share/keyrings/x.gpg>)]",
    );
    expect(tree("a && b > f || c")).toBe("script[{a} && {b}<> f> || {c}]");
    expect(tree("test -f x || echo missing >&2")).toBe("script[{test -f x} || {echo missing}<>& 2>]");
    expect(tree("a 2>&1 | tee log")).toBe("script[({a}<2>& 1> | {tee log})]");
  });

  test("a pipeline of three or more before && is one pipeline (tree-sitter nests the and-or in the pipeline)", () => {
    expect(tree("curl -fsSL https://x/a.tar.xz | xz -dc | tar xp && mv a b")).toBe(
      "script[({curl -fsSL https://x/a.tar.xz} | {xz -dc} | {tar xp}) && {mv a b}]",
    );
    expect(tree("a | b | c || d | e | f && g")).toBe("script[({a} | {b} | {c}) || ({d} | {e} | {f}) && {g}]");
  });

  test("what follows a heredoc's start on its line goes on with the pipeline or the and-or", () => {
    // tree-sitter puts `| b` and `&& b` inside the heredoc redirect.
    expect(tree("cat <<EOF | sh\necho $(id -u)\nEOF")).toBe(
      "script[({cat}<<< EOF>$[substitution[{id -u}]] | {sh})]",
    );
    expect(tree("cat <<EOF > /etc/x.conf && chmod 600 /etc/x.conf\nk=v\nEOF")).toBe(
      "script[{cat}<<< EOF><> /etc/x.conf> && {chmod 600 /etc/x.conf}]",
    );
  });

  test("&& and || chain left to right at equal precedence; & backgrounds the whole and-or", () => {
    expect(tree("a && b || c && d")).toBe("script[{a} && {b} || {c} && {d}]");
    expect(tree("nginx -g 'daemon off;' & sleep 1 && curl localhost")).toBe(
      "script[{nginx -g 'daemon off;'} &; {sleep 1} && {curl localhost}]",
    );
    expect(tree("a && b &")).toBe("script[{a} && {b} &]");
  });

  test("compound commands hold their bodies as blocks", () => {
    expect(tree("if [ -f x ]; then a; elif b; then c; else d; fi > log")).toBe(
      "script[if(condition[other:test], then[{a}], condition[{b}], then[{c}], else[{d}])<> log>]",
    );
    expect(tree("for f in $(ls); do rm $f; done")).toBe("script[for(do[{rm $f}])$[substitution[{ls}]]]");
    expect(tree("while read l; do echo $l; done < f")).toBe(
      "script[while(condition[{read l}], do[{echo $l}])<< f>]",
    );
    expect(tree('case "$A" in amd64) B=x;; *) exit 1;; esac')).toBe(
      "script[case(case-item[other:assignment], case-item[{exit 1}])]",
    );
    expect(tree("(cd x && make) | tee log; { a; b; } > f")).toBe(
      "script[(subshell(subshell[{cd x} && {make}]) | {tee log}); group(group[{a}; {b}])<> f>]",
    );
  });

  test("commands in substitutions and function bodies are opaque", () => {
    const script = parse('f() { apt-get update; }; echo "$(apt-get install -y x)" && apt-get clean', false);
    const t = shellTree(script);
    const opaque = script.commands.map((c) => [c.name?.value, inOpaqueBlock(t.nodeOf(c)!)]);
    expect(opaque).toEqual([
      ["apt-get", true],
      ["echo", false],
      ["apt-get", true],
      ["apt-get", false],
    ]);
  });

  test("a script moved in place keeps its tree, shifted with it", () => {
    const text = "cd /app && curl -s https://x/a > a.tgz 2>/dev/null; tar xzf a.tgz &";
    const moved = parse(text, false);
    const before = serialise(moved);
    moveScriptInPlace(moved, 7);
    setFastShell(false); // forgets the parses kept for reuse
    const fresh = parseShell(" ".repeat(7) + text, { start: 7, end: 7 + text.length }, "\\");
    expect(fresh).not.toBe(moved);
    expect(serialise(moved)).toBe(serialise(fresh));
    expect(serialise(moved)).not.toBe(before);
  });

  test("words that assign a variable are marked", () => {
    expect(tree("echo ${A:=1} && x=$((i++))")).toBe(
      "script[{echo ${A:=1}}=expansion && other:assignment=arithmetic]",
    );
  });
});

/** The shell of every shell-form RUN/CMD/ENTRYPOINT of a Dockerfile, as the engine reads it. */
function scriptsOf(text: string, fast: boolean): ShellScript[] {
  setFastShell(fast);
  const model = parseDockerfile(text);
  const out: ShellScript[] = [];
  for (const instr of model.instructions) {
    const script = shellOf(instr, model.text, model.escapeChar);
    if (script) out.push(script);
  }
  return out;
}

describe.runIf(corpusAvailable)("the hand-written parser and tree-sitter give the same tree", () => {
  test("over every 10th corpus file", () => {
    const files = corpusFiles().filter((_, i) => i % 10 === 0);
    let compared = 0;
    const mismatches: string[] = [];
    for (const f of files) {
      const text = fs.readFileSync(path.join(CORPUS, f), "utf8");
      const fast = scriptsOf(text, true);
      const slow = scriptsOf(text, false);
      for (let i = 0; i < fast.length; i++) {
        if (fast[i].hasErrors) continue;
        compared++;
        if (serialise(fast[i]) !== serialise(slow[i])) mismatches.push(`${f}: ${fast[i].text}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(1000);
  });
});
