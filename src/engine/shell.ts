import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtin, NotLoadedYet } from "./lazy.ts";
import type { Instr, Span } from "./parse.ts";
import { parseBashSubset } from "./shell-fast.ts";
import { buildShellTree, shiftShellTree, type ShellTree } from "./shell-tree.ts";

/**
 * Shell inside shell-form RUN (and CMD/ENTRYPOINT), parsed with tree-sitter-bash.
 * The tree is copied into plain objects whose offsets are offsets into the
 * Dockerfile text, and the wasm tree is freed at once: parsing thousands of
 * files must not grow wasm memory.
 */
export interface ShellNode extends Span {
  type: string;
  /** Field name in the parent (`name`, `argument`, `redirect`, ...), if any. */
  field: string | null;
  named: boolean;
  children: ShellNode[];
  parent: ShellNode | null;
}

export interface ShellWord extends Span {
  /** Source text of the word as written (sanitised continuations aside). */
  raw: string;
  /** The word with simple quoting removed; null when it holds expansions. */
  value: string | null;
}

export interface ShellCommand extends Span {
  /** tree-sitter's node, for src/engine only: transforms read the command through shell-tree.ts and this module. */
  node: ShellNode;
  name: ShellWord | null;
  args: ShellWord[];
  /** Every word: name first, then arguments. */
  words: ShellWord[];
  /** `VAR=x cmd` prefixes. */
  assignments: ShellWord[];
  hasRedirects: boolean;
}

export interface ShellScript {
  /** Offset in the Dockerfile where the script starts. */
  base: number;
  /** The script text, same length as the source span, with continuations normalised for bash. */
  text: string;
  root: ShellNode;
  commands: ShellCommand[];
  /** tree-sitter found syntax it could not read. */
  hasErrors: boolean;
  /** The script holds a `#` comment. */
  hasComment: boolean;
  /** Source text of a span inside the script (offsets are Dockerfile offsets). */
  slice(span: Span): string;
}

type TsParser = {
  parse(text: string): TsTree | null;
};
type TsTree = { walk(): TsCursor; delete(): void; rootNode: { hasError: boolean } };
type TsCursor = {
  nodeType: string;
  nodeIsNamed: boolean;
  startIndex: number;
  endIndex: number;
  currentFieldName: string | null;
  gotoFirstChild(): boolean;
  gotoNextSibling(): boolean;
  gotoParent(): boolean;
  delete(): void;
};

let parser: TsParser | null = null;

function findAsset(file: string, pkgPath: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, file);
  if (fs.existsSync(beside)) return beside;
  return createRequire(import.meta.url).resolve(pkgPath);
}

/** Loads tree-sitter-bash once per process; call before parsing any shell. */
export async function initShell(): Promise<void> {
  if (parser) return;
  // Without this, TurboFan compiles the wasm in the background and the
  // process lingers ~1 s at exit.
  const v8 = builtin<typeof import("node:v8")>("node:v8");
  v8.setFlagsFromString("--liftoff-only");
  const { Parser, Language } = await import("web-tree-sitter");
  const runtimeWasm = findAsset("web-tree-sitter.wasm", "web-tree-sitter/web-tree-sitter.wasm");
  await Parser.init({ locateFile: () => runtimeWasm });
  const bash = await Language.load(
    findAsset("tree-sitter-bash.wasm", "tree-sitter-bash/tree-sitter-bash.wasm"),
  );
  const p = new Parser();
  p.setLanguage(bash);
  parser = p;
}

export function shellReady(): boolean {
  return parser !== null;
}

/**
 * Rewrites Dockerfile continuation syntax into bash syntax of the same
 * length, so that offsets map one to one: `<esc>\r\n` → ` \\\n`, escape
 * followed by trailing blanks, and comment or blank lines inside a
 * continuation (Docker drops those) become spaces.
 */
export function normaliseForBash(text: string, escapeChar: string): string {
  // Most scripts need no change: plain `\⏎` continuations are bash already.
  if (escapeChar === "\\" && !NEEDS_NORMALISING.test(text)) return text;
  return normaliseEveryLine(text, escapeChar);
}

/** normaliseForBash without the shortcut (exported for tests). */
export function normaliseEveryLine(text: string, escapeChar: string): string {
  // Every rewrite replaces characters before the read position with as many others, and reads
  // only look at or after it: the text is read as written, the output built from its slices.
  let out = "";
  let copied = 0;
  const put = (from: number, to: number, replacement: string) => {
    out += text.slice(copied, from) + replacement;
    copied = to;
  };
  let i = 0;
  let continued = false;
  while (i < text.length) {
    if (continued && (i === 0 || text[i - 1] === "\n")) {
      // A line inside a continuation: comment or blank lines vanish in Docker.
      let j = i;
      while (j < text.length && (text[j] === " " || text[j] === "\t")) j++;
      const isComment = text[j] === "#";
      const isBlank = text[j] === "\n" || (text[j] === "\r" && text[j + 1] === "\n");
      if (isComment || isBlank) {
        let end = text.indexOf("\n", j);
        end = end === -1 ? text.length : end + 1;
        put(i, end, " ".repeat(end - i));
        i = end;
        continue;
      }
      continued = false;
    }
    const c = text[i];
    if (c === escapeChar) {
      let j = i + 1;
      while (j < text.length && (text[j] === " " || text[j] === "\t")) j++;
      if (text[j] === "\r" && text[j + 1] === "\n") j++;
      if (text[j] === "\n") {
        // escape [blanks] [\r] \n  →  spaces, "\\", "\n"
        put(i, j + 1, " ".repeat(j - 1 - i) + "\\\n");
        continued = true;
        i = j + 1;
        continue;
      }
      if (escapeChar !== "\\") {
        i++;
        continue;
      }
      i += 2; // a shell escape such as \" or \\ stays as written
      continue;
    }
    if (c === "\r") put(i, i + 1, " ");
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** CR, blanks after a `\\` before the line break, or a comment or blank line inside a continuation. */
const NEEDS_NORMALISING = /\r|\\[ \t]+\n|\\\n[ \t]*(?:#|\n)/;

/**
 * The shell script of a shell-form RUN/CMD/ENTRYPOINT/HEALTHCHECK; null for
 * exec form, heredocs and empty instructions.
 */
export function shellOf(instr: Instr, dockerfileText: string, escapeChar: string): ShellScript | null {
  if (instr.shellScript !== undefined) return instr.shellScript;
  let script: ShellScript | null = null;
  if (!instr.execForm && !instr.hasHeredoc && instr.argsSpan) {
    let start = instr.argsSpan.start;
    if (instr.keyword === "HEALTHCHECK") {
      const cmd = instr.args.find((a) => a.value.toUpperCase() === "CMD");
      start = cmd ? cmd.end : instr.argsSpan.end;
    }
    script = parseShell(dockerfileText, { start, end: instr.argsSpan.end }, escapeChar);
  }
  instr.shellScript = script;
  return script;
}

// Transforms re-parse the Dockerfile after every change, which makes new
// Instr objects for unchanged RUNs, often at shifted offsets. The same script
// text parses to the same tree, so recent parses are reused, moved to the new
// offset when needed (a copy in JS is far cheaper than a wasm parse).
// Callers treat ShellScripts as immutable; the one exception is
// moveScriptInPlace, when an edit only moved the script's instruction (its
// offsets shift, and a reuse here compares `base` before handing it out,
// copying it when it sits elsewhere). Reuse is within a
// file (corpus files have at most ~110 scripts); a larger cache only keeps
// trees alive in the heap: 1,024 cost ~25 MB and more GC in a bulk run.
// One map per escape character, keyed by the script text itself, so no key
// string is built (and hashed) per lookup.
const recentScripts = new Map<string, Map<string, ShellScript>>();
const MAX_RECENT_SCRIPTS = 256;

/**
 * Drops the parses kept for reuse. The engine calls it before each file:
 * reuse pays within a file, and trees kept from earlier files only make the
 * live heap, and so a bulk run's peak memory, larger.
 */
export function forgetReusableParses(): void {
  recentScripts.clear();
}

export function parseShell(dockerfileText: string, span: Span, escapeChar: string): ShellScript {
  const source = dockerfileText.slice(span.start, span.end);
  let recent = recentScripts.get(escapeChar);
  if (!recent) recentScripts.set(escapeChar, (recent = new Map<string, ShellScript>()));
  let script = recent.get(source);
  if (script) recent.delete(source);
  else script = parseShellUncached(dockerfileText, span, escapeChar);
  if (script.base !== span.start) script = moveScript(script, span.start - script.base, source);
  if (recent.size >= MAX_RECENT_SCRIPTS) recent.delete(recent.keys().next().value!);
  recent.set(source, script);
  return script;
}

function moveScript(script: ShellScript, delta: number, source: string): ShellScript {
  const base = script.base + delta;
  const moved = new Map<ShellNode, ShellNode>();
  const move = (n: ShellNode, parent: ShellNode | null): ShellNode => {
    const copy: ShellNode = {
      type: n.type,
      named: n.named,
      field: n.field,
      start: n.start + delta,
      end: n.end + delta,
      children: new Array<ShellNode>(n.children.length),
      parent,
    };
    for (let i = 0; i < n.children.length; i++) copy.children[i] = move(n.children[i], copy);
    if (n.type === "command") moved.set(n, copy);
    return copy;
  };
  const root = move(script.root, null);
  const word = (w: ShellWord): ShellWord => ({
    start: w.start + delta,
    end: w.end + delta,
    raw: w.raw,
    value: w.value,
  });
  const commands = script.commands.map((c): ShellCommand => {
    const name = c.name ? word(c.name) : null;
    const args = c.args.map(word);
    return {
      node: moved.get(c.node)!,
      start: c.start + delta,
      end: c.end + delta,
      name,
      args,
      words: name ? [name, ...args] : args,
      assignments: c.assignments.map(word),
      hasRedirects: c.hasRedirects,
    };
  });
  const copy: ShellScript = {
    base,
    text: script.text,
    root,
    commands,
    hasErrors: script.hasErrors,
    hasComment: script.hasComment,
    slice: (s) => source.slice(s.start - copy.base, s.end - copy.base),
  };
  return copy;
}

/**
 * Moves a script by `delta` by shifting its offsets, for its instruction's
 * next version when an edit before it only moved it (see parseEdited). Only
 * for a script nothing else will read at its old place.
 */
export function moveScriptInPlace(script: ShellScript, delta: number): ShellScript {
  script.base += delta;
  const tree = trees.get(script);
  if (tree) shiftShellTree(tree, delta);
  const shift = (n: ShellNode) => {
    n.start += delta;
    n.end += delta;
    for (const child of n.children) shift(child);
  };
  shift(script.root);
  // `words` holds the same objects as `name` and `args`.
  const shiftWord = (w: ShellWord) => {
    w.start += delta;
    w.end += delta;
  };
  for (const c of script.commands) {
    c.start += delta;
    c.end += delta;
    if (c.name) shiftWord(c.name);
    for (const w of c.args) shiftWord(w);
    for (const w of c.assignments) shiftWord(w);
  }
  return script;
}

const trees = new WeakMap<ShellScript, ShellTree>();

/**
 * dfopt's tree of the script (src/engine/shell-tree.ts), built on first use.
 * Transforms read this rather than `root`, tree-sitter's own shape.
 */
export function shellTree(script: ShellScript): ShellTree {
  let tree = trees.get(script);
  if (!tree) trees.set(script, (tree = buildShellTree(script.root, script.commands, (s) => script.slice(s))));
  return tree;
}

let fastShell = true;

/** Test switch: with `false`, every script goes through tree-sitter. Clears reused parses. */
export function setFastShell(on: boolean): void {
  fastShell = on;
  recentScripts.clear();
}

function parseShellUncached(dockerfileText: string, span: Span, escapeChar: string): ShellScript {
  const base = span.start;
  // Only spans inside the script: a reused parse may belong to a file that differs elsewhere.
  const own = dockerfileText.slice(span.start, span.end);
  const text = normaliseForBash(own, escapeChar);
  // The common subset is parsed by hand into the very tree tree-sitter would build.
  let root = fastShell ? parseBashSubset(text, base) : null;
  let hasErrors = false;
  if (!root) {
    // Most scripts never need tree-sitter, so a one-file run need not load the
    // wasm: the caller loads it and starts the file again (withLazyModules).
    if (!parser)
      throw new NotLoadedYet("the tree-sitter bash parser is not loaded: await initShell() first", initShell);
    const tree = parser.parse(text);
    if (!tree) throw new Error("tree-sitter returned no tree");
    try {
      hasErrors = tree.rootNode.hasError;
      root = copyTree(tree.walk(), base);
    } finally {
      tree.delete();
    }
  }
  const sliceAtBase = (s: Span) => own.slice(s.start - base, s.end - base);
  // Most scripts need no normalising: a word's raw text is then the text its value is read from.
  const normalised = text === own ? null : text;
  const commands: ShellCommand[] = [];
  let hasComment = false;
  visit(root, (n) => {
    if (n.type === "command") commands.push(toCommand(n, sliceAtBase, normalised, base));
    else if (n.type === "comment") hasComment = true;
  });
  const script: ShellScript = {
    base,
    text,
    root,
    commands,
    hasErrors,
    hasComment,
    // The script may move later (moveScriptInPlace).
    slice: (s) => own.slice(s.start - script.base, s.end - script.base),
  };
  return script;
}

function copyTree(cursor: TsCursor, base: number): ShellNode {
  const make = (parent: ShellNode | null): ShellNode => ({
    type: cursor.nodeType,
    named: cursor.nodeIsNamed,
    field: cursor.currentFieldName,
    start: base + cursor.startIndex,
    end: base + cursor.endIndex,
    children: [],
    parent,
  });
  const root = make(null);
  const stack: ShellNode[] = [root];
  try {
    if (!cursor.gotoFirstChild()) return root;
    for (;;) {
      const parent = stack[stack.length - 1];
      const node = make(parent);
      parent.children.push(node);
      if (cursor.gotoFirstChild()) {
        stack.push(node);
        continue;
      }
      while (!cursor.gotoNextSibling()) {
        if (!cursor.gotoParent() || stack.length === 1) return root;
        stack.pop();
      }
    }
  } finally {
    cursor.delete();
  }
}

export function visit(node: ShellNode, fn: (n: ShellNode) => void | false): void {
  if (fn(node) === false) return;
  for (const child of node.children) visit(child, fn);
}

/** Parts of a command the shell passes on as written (quotes aside). */
const LITERAL_PARTS = new Set([
  "word",
  "raw_string",
  "string",
  "concatenation",
  "string_content",
  "command_name",
  "number",
]);

/**
 * The first part of `cmd` the shell expands or interprets before running it
 * (`$PORT`, `${A:-b}`, `$(date)`, `{a,b}`, ...), as written; null when its
 * words are literal text.
 */
export function firstExpansion(script: ShellScript, cmd: ShellCommand): string | null {
  let found: ShellNode | null = null;
  for (const child of cmd.node.children)
    visit(child, (n) => {
      if (found) return false;
      if (n.named && !LITERAL_PARTS.has(n.type)) found = n;
    });
  return found && script.slice(found);
}

/** `normalised`: the script as bash reads it, or null when that is its own text. */
function toCommand(
  node: ShellNode,
  slice: (s: Span) => string,
  normalised: string | null,
  base: number,
): ShellCommand {
  const word = (n: ShellNode): ShellWord => {
    const raw = slice(n);
    const read = normalised === null ? raw : normalised.slice(n.start - base, n.end - base);
    return { start: n.start, end: n.end, raw, value: wordValue(n, read) };
  };
  let name: ShellWord | null = null;
  const args: ShellWord[] = [];
  const assignments: ShellWord[] = [];
  let hasRedirects = false;
  for (const child of node.children) {
    if (child.field === "name") name = word(child);
    else if (child.field === "argument") args.push(word(child));
    else if (child.type === "variable_assignment") assignments.push(word(child));
    else if (child.field === "redirect" || child.type.endsWith("redirect")) hasRedirects = true;
  }
  return {
    node,
    start: node.start,
    end: node.end,
    name,
    args,
    words: name ? [name, ...args] : args,
    assignments,
    hasRedirects,
  };
}

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./~^-]+$/;

function wordValue(node: ShellNode, text: string): string | null {
  if (node.type === "command_name" && node.children.length === 1) {
    return wordValue(node.children[0], text);
  }
  const flat = text.replace(/\\\n[ \t]*/g, "");
  // a number (`--port 80`, `sleep 5`) is a plain word to the command it is passed to
  if ((node.type === "word" || node.type === "number") && PLAIN_WORD.test(flat)) return flat;
  if (node.type === "word" && !/[$`*?[\]{}\\'"]/.test(flat)) return flat;
  if (node.type === "raw_string") return flat.slice(1, -1);
  if (node.type === "string" && !/[$`\\]/.test(flat)) return flat.slice(1, -1);
  if (node.type === "concatenation" && !/[$`*?[\]{}\\]/.test(flat)) {
    return flat.replace(/'([^']*)'|"([^"]*)"/g, (_m, a: string, b: string) => a ?? b);
  }
  return null;
}
