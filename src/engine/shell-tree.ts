import type { Span } from "./parse.ts";
import type { ShellCommand, ShellNode } from "./shell.ts";

/**
 * dfopt's own tree of a shell script, with the structure of the POSIX grammar
 * (and bash's compound commands), so precedence is right by construction:
 *
 *     block     ← and-or ((; | & | newline) and-or)*          ShellBlock
 *     and-or    ← pipeline ((&& | ||) pipeline)*  (left-assoc, equal precedence)
 *     pipeline  ← [!] command (| command)*
 *     command   ← simple | compound [redirects] | other
 *
 * Every and-or sits in a block, every pipeline in an and-or, every command in
 * a pipeline, even when there is only one of each: `a` alone is a block of
 * one and-or of one pipeline of one simple command. A redirect belongs to the
 * command it follows (`a | b > f` redirects `b`; `a || b > f` too), a `!`
 * negates the whole pipeline (`! a | b`), a `&` backgrounds the whole and-or.
 * Commands inside `$(...)`, backquotes and `<(...)` are in the `substitutions`
 * blocks of the command whose word holds them.
 *
 * Spans are Dockerfile offsets, like ShellNode's. The tree is built from
 * tree-sitter-bash's tree (or the hand-written parser's, the same tree) by
 * `buildShellTree`, the one place that knows tree-sitter's node names and the
 * quirks it undoes:
 *
 * - a redirect after a pipeline or list hangs on the whole of it
 *   (`redirected_statement(list(a && b), > f)`);
 * - `! a | b` negates `a` only (`pipeline(negated_command(a), b)`);
 * - `a | b | c && d` is `pipeline(a, list(pipeline(b, c) && d))`;
 * - what follows a heredoc's start on its line (`cat <<EOF | sh`, `&& b`,
 *   `> f`) sits inside the heredoc redirect;
 * - a `&` or `;` is a token beside the statement, not part of it.
 *
 * Not undone (the words of ShellCommand come from tree-sitter as they are):
 * a word after a redirect (`echo >&2 "msg"`) is a second redirect
 * destination, not an argument; `time` is the command's name.
 */
export type ShellTreeNode = ShellBlock | ShellAndOr | ShellPipeline | ShellCommandNode;

/** What a block is the body of. */
export type ShellBlockRole =
  "script" | "subshell" | "group" | "condition" | "then" | "else" | "do" | "case-item" | "substitution";

/** A sequence of and-or lists: the script, a subshell's or group's body, a branch of `if` ... */
export interface ShellBlock extends Span {
  kind: "block";
  role: ShellBlockRole;
  statements: ShellAndOr[];
  /** The command holding the block; null for the script. */
  parent: ShellCommandNode | null;
}

/** Pipelines joined by `&&`/`||`, evaluated left to right. */
export interface ShellAndOr extends Span {
  kind: "and-or";
  pipelines: ShellPipeline[];
  /** `ops[i]` joins `pipelines[i]` and `pipelines[i + 1]`. */
  ops: Array<"&&" | "||">;
  /** Ended by `&`: the whole and-or runs in the background. */
  background: boolean;
  /** The `;` or `&` that ends it, when written. */
  terminator: ShellToken | null;
  parent: ShellBlock;
}

/** An operator token of the script. */
export interface ShellToken extends Span {
  op: string;
}

export interface ShellPipeline extends Span {
  kind: "pipeline";
  /** `! a | b`: the pipeline's status is inverted. */
  negated: boolean;
  commands: ShellCommandNode[];
  parent: ShellAndOr;
}

export type ShellCommandNode = ShellSimple | ShellCompound | ShellOther;

export interface ShellRedirect extends Span {
  /** The operator as written: `>`, `>>`, `2>` is `>` with fd "2", `&>`, `<<`, `<<<` ... */
  op: string;
  fd: string | null;
  /** What it redirects to (file, fd, heredoc delimiter, here-string); null when missing. */
  target: Span | null;
}

interface CommandBase extends Span {
  redirects: ShellRedirect[];
  /** `$(...)`, backquotes and `<(...)` in its words, redirects and values. */
  substitutions: ShellBlock[];
  /** A word assigns a variable: `${X:=v}` (expansion) or `$((i++))` (arithmetic); the first one found. */
  wordAssigns: "expansion" | "arithmetic" | null;
  parent: ShellPipeline;
}

/** A simple command: `A=1 cmd arg > f`. */
export interface ShellSimple extends CommandBase {
  kind: "simple";
  command: ShellCommand;
}

export type ShellCompoundKind = "subshell" | "group" | "arith" | "if" | "for" | "while" | "case" | "function";

/** A compound command; `blocks` in source order (for `if`: condition, then, condition, then, else). */
export interface ShellCompound extends CommandBase {
  kind: ShellCompoundKind;
  blocks: ShellBlock[];
}

/**
 * A command the tree does not model further: `what` is `assignment` (`A=1`
 * alone), `declaration` (export, local, readonly, declare, typeset), `unset`,
 * `test` (`[[ ]]`), `redirect` (a redirect with no command) or `unknown`.
 */
export interface ShellOther extends CommandBase {
  kind: "other";
  what: "assignment" | "declaration" | "unset" | "test" | "redirect" | "unknown";
}

export interface ShellTree {
  root: ShellBlock;
  /** The tree node of a command of `ShellScript.commands`. */
  nodeOf(cmd: ShellCommand): ShellSimple | null;
}

/** Walks a tree depth first; `fn` returning false skips a node's children. */
export function walkShellTree(node: ShellTreeNode, fn: (n: ShellTreeNode) => void | false): void {
  if (fn(node) === false) return;
  switch (node.kind) {
    case "block":
      for (const s of node.statements) walkShellTree(s, fn);
      return;
    case "and-or":
      for (const p of node.pipelines) walkShellTree(p, fn);
      return;
    case "pipeline":
      for (const c of node.commands) walkShellTree(c, fn);
      return;
    case "simple":
    case "other":
      for (const b of node.substitutions) walkShellTree(b, fn);
      return;
    default:
      for (const b of node.blocks) walkShellTree(b, fn);
      for (const b of node.substitutions) walkShellTree(b, fn);
  }
}

/** Whether a node runs in a function body or a substitution, not as part of the script's own flow. */
export function inOpaqueBlock(node: ShellTreeNode): boolean {
  for (let n: ShellTreeNode | null = node; n; n = n.parent) {
    if (n.kind === "function" || (n.kind === "block" && n.role === "substitution")) return true;
  }
  return false;
}

/** The last command of an and-or as it runs: the last command of its last pipeline. */
export function lastCommandOf(andOr: ShellAndOr): ShellCommandNode {
  const p = andOr.pipelines[andOr.pipelines.length - 1];
  return p.commands[p.commands.length - 1];
}

/** Shifts every span of a tree by `delta`, in place (its script moved; see moveScriptInPlace). */
export function shiftShellTree(tree: ShellTree, delta: number): void {
  const span = (x: Span) => {
    x.start += delta;
    x.end += delta;
  };
  walkShellTree(tree.root, (n) => {
    span(n);
    if (n.kind === "and-or") {
      if (n.terminator) span(n.terminator);
    } else if (n.kind !== "block" && n.kind !== "pipeline") {
      for (const r of n.redirects) {
        span(r);
        if (r.target) span(r.target);
      }
    }
  });
}

// ---- conversion from tree-sitter-bash -------------------------------------------------

/** tree-sitter-bash's statement node types. */
const STATEMENT = new Set([
  "redirected_statement",
  "variable_assignment",
  "variable_assignments",
  "command",
  "declaration_command",
  "unset_command",
  "test_command",
  "negated_command",
  "for_statement",
  "c_style_for_statement",
  "select_statement",
  "while_statement",
  "if_statement",
  "case_statement",
  "pipeline",
  "list",
  "subshell",
  "compound_statement",
  "function_definition",
]);

const SUBSTITUTION = new Set(["command_substitution", "process_substitution"]);

const ASSIGNING_OPS = new Set([
  "=",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "<<=",
  ">>=",
  "&=",
  "^=",
  "|=",
  "++",
  "--",
]);

/** Operands of an and-or being built; pipelines and commands get their parents when placed. */
interface AndOrForm {
  pipelines: ShellPipeline[];
  ops: Array<"&&" | "||">;
}

/** A command's parent until its pipeline is made. */
const NO_PIPELINE = null as unknown as ShellPipeline;

/** What every command node starts with: `n`'s span, no redirects or substitutions yet, no pipeline. */
function commandBase(n: ShellNode): CommandBase {
  return {
    redirects: [],
    substitutions: [],
    wordAssigns: null,
    parent: NO_PIPELINE,
    start: n.start,
    end: n.end,
  };
}

function compoundNode(kind: ShellCompoundKind, n: ShellNode): ShellCompound {
  return { kind, blocks: [], ...commandBase(n) };
}

/** `out | f`: f's first pipeline continues out's last one, and f's and-or goes on after it. */
function continueWith(out: AndOrForm, f: AndOrForm): void {
  const last = out.pipelines[out.pipelines.length - 1];
  const [head, ...rest] = f.pipelines;
  for (const cmd of head.commands) {
    cmd.parent = last;
    last.commands.push(cmd);
  }
  last.end = head.end;
  out.pipelines.push(...rest);
  out.ops.push(...f.ops);
}

/**
 * Builds the dfopt tree from tree-sitter-bash's tree (`root`: its `program`),
 * linking simple commands to `commands` (the ShellCommands made from its
 * `command` nodes).
 */
export function buildShellTree(
  root: ShellNode,
  commands: readonly ShellCommand[],
  slice: (span: Span) => string,
): ShellTree {
  const byNode = new Map<ShellNode, ShellCommand>();
  for (const c of commands) byNode.set(c.node, c);
  const nodes = new Map<ShellCommand, ShellSimple>();

  const block = (role: ShellBlockRole, items: ShellNode[], span: Span): ShellBlock => {
    const b: ShellBlock = {
      kind: "block",
      role,
      statements: [],
      parent: null,
      start: span.start,
      end: span.end,
    };
    const add = (item: ShellNode) => {
      if (item.named) {
        // What tree-sitter could not read: the statements it found inside still count.
        if (item.type === "ERROR") for (const c of item.children) add(c);
        if (!STATEMENT.has(item.type)) return;
        const form = andOr(item);
        const a: ShellAndOr = {
          kind: "and-or",
          pipelines: form.pipelines,
          ops: form.ops,
          background: false,
          terminator: null,
          parent: b,
          start: item.start,
          end: item.end,
        };
        for (const p of a.pipelines) p.parent = a;
        b.statements.push(a);
      } else if ((item.type === "&" || item.type === ";") && b.statements.length > 0) {
        const last = b.statements[b.statements.length - 1];
        if (last.terminator) return;
        last.terminator = { op: item.type, start: item.start, end: item.end };
        last.background = item.type === "&";
      }
    };
    for (const item of items) add(item);
    return b;
  };

  const pipeline = (commands: ShellCommandNode[], span: Span): ShellPipeline => {
    const p: ShellPipeline = {
      kind: "pipeline",
      negated: false,
      commands,
      parent: null as unknown as ShellAndOr,
      start: span.start,
      end: span.end,
    };
    for (const c of commands) c.parent = p;
    return p;
  };

  const andOr = (n: ShellNode): AndOrForm => {
    switch (n.type) {
      case "list": {
        const out: AndOrForm = { pipelines: [], ops: [] };
        for (const c of n.children) {
          if (c.type === "&&" || c.type === "||") out.ops.push(c.type);
          else if (c.named && STATEMENT.has(c.type)) {
            const f = andOr(c);
            out.pipelines.push(...f.pipelines);
            out.ops.push(...f.ops);
          }
        }
        return out;
      }
      case "redirected_statement": {
        const body = n.children.find((c) => c.field === "body");
        const redirects = n.children.filter((c) => c.field === "redirect");
        if (!body) {
          const cmd = other("redirect", n);
          return { pipelines: [pipeline([cmd], n)], ops: [] };
        }
        const f = andOr(body);
        // tree-sitter hangs the redirects on the whole pipeline or list; they belong to its last command.
        const lastPipe = f.pipelines[f.pipelines.length - 1];
        const last = lastPipe.commands[lastPipe.commands.length - 1];
        last.end = n.end;
        lastPipe.end = n.end;
        // What follows a heredoc's start on its line (`cat <<EOF | b`, `cat <<EOF && b`) sits in the
        // heredoc redirect: it goes on with the pipeline or the and-or.
        const rest: AndOrForm = { pipelines: [], ops: [] };
        for (const r of redirects) {
          last.redirects.push(redirect(r));
          let op: "&&" | "||" | null = null;
          for (const c of r.children) {
            if (c.type === "pipeline" && c.children[0]?.type === "|") {
              last.end = lastPipe.end = Math.min(last.end, c.start);
              continueWith(rest.pipelines.length > 0 ? rest : f, andOr(c));
            } else if (c.field === "operator" && (c.type === "&&" || c.type === "||")) {
              last.end = lastPipe.end = Math.min(last.end, c.start);
              op = c.type;
            } else if (c.field === "redirect" && !op && rest.pipelines.length === 0) {
              // `cat <<EOF > file`: cat's own redirect, nested in the heredoc's.
              last.redirects.push(redirect(c));
              scan(c, last);
            } else if (op && c.named && STATEMENT.has(c.type)) {
              const g = andOr(c);
              rest.ops.push(op, ...g.ops);
              rest.pipelines.push(...g.pipelines);
              op = null;
            } else scan(c, last);
          }
        }
        if (rest.pipelines.length > 0) {
          f.ops.push(...rest.ops);
          f.pipelines.push(...rest.pipelines);
        }
        return f;
      }
      case "pipeline": {
        // tree-sitter reads `a | b | c && d` as `a | (b | c && d)`: an element that is an
        // and-or continues the pipeline with its first pipeline, and the and-or goes on after it.
        let out: AndOrForm | null = null;
        for (const c of n.children) {
          if (!c.named || !STATEMENT.has(c.type)) continue;
          const f = andOr(c);
          if (!out) {
            out = f;
            continue;
          }
          continueWith(out, f);
        }
        if (!out) return { pipelines: [pipeline([other("unknown", n)], n)], ops: [] };
        out.pipelines[0].start = n.start;
        return out;
      }
      case "negated_command": {
        const inner = n.children.find((c) => c.named && STATEMENT.has(c.type));
        if (!inner) return { pipelines: [pipeline([other("unknown", n)], n)], ops: [] };
        const f = andOr(inner);
        f.pipelines[0].negated = true;
        f.pipelines[0].start = n.start;
        return f;
      }
      default:
        return { pipelines: [pipeline([command(n)], n)], ops: [] };
    }
  };

  const other = (what: ShellOther["what"], n: ShellNode): ShellOther => {
    const o: ShellOther = { kind: "other", what, ...commandBase(n) };
    for (const c of n.children) takeChild(o, c);
    return o;
  };

  const compound = (kind: ShellCompoundKind, n: ShellNode): ShellCompound => {
    const c = compoundNode(kind, n);
    fill(c, n, kind === "subshell" ? "subshell" : kind === "group" ? "group" : "condition");
    return c;
  };

  /** Puts the statements among `n`'s children into blocks of `owner`, a new block at each keyword. */
  const fill = (owner: ShellCompound, n: ShellNode, firstRole: ShellBlockRole) => {
    let role = firstRole;
    let run: ShellNode[] = [];
    const flush = () => {
      const statements = run.filter((c) => c.named);
      if (statements.length > 0) {
        const b = block(role, run, { start: statements[0].start, end: run[run.length - 1].end });
        b.parent = owner;
        owner.blocks.push(b);
      }
      run = [];
    };
    for (const c of n.children) {
      if (!c.named) {
        if (c.type === "then" || c.type === "else" || c.type === "do") {
          flush();
          role = c.type;
        } else if (c.type === "if" || c.type === "elif" || c.type === "while" || c.type === "until") {
          flush();
          role = "condition";
        } else if (
          c.type === ";" ||
          c.type === "&" ||
          c.type === ";;" ||
          c.type === ";&" ||
          c.type === ";;&"
        ) {
          run.push(c);
        } else flush();
      } else if (c.type === "do_group" || c.type === "elif_clause" || c.type === "else_clause") {
        flush();
        fill(owner, c, c.type === "else_clause" ? "else" : "condition");
      } else if (c.type === "case_item") {
        flush();
        role = "case-item";
        for (const k of c.children) {
          if (k.named && STATEMENT.has(k.type)) run.push(k);
          else if (!k.named && (k.type === "&" || k.type === ";")) run.push(k);
          else scan(k, owner);
        }
        flush();
      } else if (STATEMENT.has(c.type) && c.field !== "initializer") {
        run.push(c);
      } else {
        flush();
        takeChild(owner, c);
      }
    }
    flush();
  };

  const command = (n: ShellNode): ShellCommandNode => {
    switch (n.type) {
      case "command": {
        const cmd = byNode.get(n);
        if (!cmd) return other("unknown", n);
        const s: ShellSimple = { kind: "simple", command: cmd, ...commandBase(n) };
        for (const c of n.children) takeChild(s, c);
        nodes.set(cmd, s);
        return s;
      }
      case "subshell":
        return compound("subshell", n);
      case "compound_statement":
        return compound(n.children[0]?.type === "((" ? "arith" : "group", n);
      case "if_statement":
        return compound("if", n);
      case "for_statement":
      case "c_style_for_statement":
      case "select_statement": {
        const c = compoundNode("for", n);
        for (const k of n.children) {
          if (k.type === "do_group") fill(c, k, "do");
          else if (k.type === "compound_statement") {
            const b = block("do", [k], k);
            b.parent = c;
            c.blocks.push(b);
          } else scan(k, c);
        }
        return c;
      }
      case "while_statement":
        return compound("while", n);
      case "case_statement":
        return compound("case", n);
      case "function_definition": {
        const c = compoundNode("function", n);
        const body = n.children.find((k) => k.field === "body");
        if (body) {
          const b = block("group", [body], body);
          b.parent = c;
          c.blocks.push(b);
        }
        return c;
      }
      case "variable_assignment":
      case "variable_assignments":
        return other("assignment", n);
      case "declaration_command":
        return other("declaration", n);
      case "unset_command":
        return other("unset", n);
      case "test_command":
        return other("test", n);
      default:
        return other("unknown", n);
    }
  };

  /** Finds substitutions (and assigning expansions) in a word-level subtree. */
  const scan = (n: ShellNode, owner: ShellCommandNode, arith = owner.kind === "arith") => {
    if (n.children.length === 0) {
      // Most words are leaves.
      if (arith && ASSIGNING_OPS.has(n.type)) owner.wordAssigns ??= "arithmetic";
      return;
    }
    if (SUBSTITUTION.has(n.type)) {
      const b = block("substitution", n.children, n);
      b.parent = owner;
      owner.substitutions.push(b);
      return;
    }
    if (n.type === "expansion" && n.children.some((c) => c.type === ":=" || c.type === "=")) {
      owner.wordAssigns ??= "expansion";
    } else if (arith && ASSIGNING_OPS.has(n.type)) owner.wordAssigns ??= "arithmetic";
    const inArith = arith || n.type === "arithmetic_expansion";
    for (const c of n.children) scan(c, owner, inArith);
  };

  /** A child of a command's node: a redirect goes on the command, and its words are scanned. */
  const takeChild = (owner: ShellCommandNode, c: ShellNode) => {
    if (c.field === "redirect" || c.type.endsWith("_redirect")) owner.redirects.push(redirect(c));
    scan(c, owner);
  };

  const redirect = (r: ShellNode): ShellRedirect => {
    let fd: ShellNode | undefined;
    let op: ShellNode | undefined;
    let destination: ShellNode | undefined;
    let named: ShellNode | undefined;
    for (const c of r.children) {
      if (c.field === "descriptor") fd ??= c;
      else if (!c.named) op ??= c;
      else if (c.field === "destination" || c.type === "heredoc_start") destination ??= c;
      else named ??= c;
    }
    const target = destination ?? named ?? null;
    return {
      op: op?.type ?? "",
      fd: fd ? slice(fd) : null,
      target: target ? { start: target.start, end: target.end } : null,
      start: r.start,
      end: r.end,
    };
  };

  const tree = block("script", root.children, root);
  return { root: tree, nodeOf: (cmd) => nodes.get(cmd) ?? null };
}
