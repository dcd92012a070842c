import type { ShellNode } from "./shell.ts";

/**
 * A hand-written parser for the bash that most Dockerfile RUNs are made of,
 * producing exactly the tree that tree-sitter-bash 0.25 (copied out by
 * `copyTree` in shell.ts) gives for the same normalised text: same node
 * types, `named`, fields, spans, children and parent links.
 *
 * The subset: commands with words, numbers, quotes, `$x`/`${x}` (and the
 * common `${x:-y}`, `${x%y}`, `${x/y/z}`, `${x:1:2}` forms, with bracket
 * expressions in patterns and a quoted string or expansion as the operand),
 * `$(...)`, backticks, `$(( ))` with `+ - * /`, concatenations, brackets as
 * words (`{}`), `VAR=x` prefixes and statements, declarations (`export`,
 * `local`, ...), `unset`, file redirects, `&&` `||` `|` `;` `&`, `[ test ]`,
 * `( )`, `{ ; }`, `!`, if/elif/else, for-in, while/until, `case` with plain
 * or quoted patterns, function definitions, and a comment that ends the
 * script. It reproduces tree-sitter's odd shapes: a redirect after `a && b`
 * wraps the whole list; blanks before an expansion inside a string belong to
 * the expansion; `a$B.c$D.e` ends in a bare `$`; `&&` after a first pipeline
 * of three or more peels commands off its front (see peeledChain); a case
 * pattern is an `extglob_pattern` or a `word` as the external scanner decides
 * (see caseExtglob); `${A:-`cmd`}` is a word; the last case item's `;;` has
 * no field.
 *
 * Whatever it does not recognise with certainty (heredocs, `[[ ]]`, other
 * arithmetic, comments before more lines, `&&` after a later pipeline of
 * three or more unless the chain before is simple, where tree-sitter's GLR
 * tie-breaks depend on the whole chain, ...) makes it return null, and the
 * caller falls back to tree-sitter. test/shell-fast.test.ts checks it
 * against tree-sitter on every script of the fixtures and the corpus, on
 * exhaustive operator chains and on seeded random scripts.
 */
export function parseBashSubset(text: string, base: number): ShellNode | null {
  const p = new FastParser(text, base);
  try {
    const root = p.program();
    link(root, null);
    return root;
  } catch (e) {
    if (e === BAIL) return null;
    throw e;
  }
}

/** Thrown (never escapes) when the text leaves the subset. */
const BAIL = { bail: true };
function bail(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a sentinel caught by parseBashSubset; an Error would capture a stack trace on every bail
  throw BAIL;
}

function link(node: ShellNode, parent: ShellNode | null): void {
  node.parent = parent;
  const children = node.children;
  for (let k = 0; k < children.length; k++) link(children[k], node);
}

// Character codes.
const TAB = 9;
const LF = 10;
const SPACE = 32;
const BANG = 33;
const DQUOTE = 34;
const HASH = 35;
const DOLLAR = 36;
const PERCENT = 37;
const AMP = 38;
const SQUOTE = 39;
const LPAREN = 40;
const RPAREN = 41;
const STAR = 42;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const SEMI = 59;
const LT = 60;
const EQ = 61;
const GT = 62;
const QUESTION = 63;
const AT = 64;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const UNDERSCORE = 95;
const BACKTICK = 96;
const LBRACE = 123;
const PIPE = 124;
const RBRACE = 125;
const TILDE = 126;

/** Characters that end a `word` token (tree-sitter-bash SPECIAL_CHARACTERS plus blanks). */
const SPECIAL = new Uint8Array(128);
for (const ch of "'\"<>{}[]()`$|&;\\ \t\n\r\v\f") SPECIAL[ch.charCodeAt(0)] = 1;

/** [A-Za-z0-9_] */
const IDENT = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9_]/.test(ch)) IDENT[c] = 1;
}

const NUMBER = /^-?(0x)?[0-9]+(#[0-9A-Za-z@_]+)?$/;

function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const ch of chars) set[ch.charCodeAt(0)] = 1;
  return set;
}
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
const DIGITS = charSet("0123456789");
/** Operand of `${A:-...}`: plain characters only. */
const EXP_WORD = charSet(ALNUM + "./,-");
/** Pattern of `${A%...}`, `${A#...}`. */
const EXP_PATTERN = charSet(ALNUM + "./,-*?@:+=;");
/** Also inside a bracket expression of such a pattern. */
const IN_BRACKETS = charSet("^!~");
const EXP_PATTERN_NO_SLASH = charSet(ALNUM + ".,-*?@:+=");
/** Replacement of `${A/x/...}`. */
const EXP_REPLACEMENT = charSet(ALNUM + "./,-");
/** Characters that make the scanner give up a backtick operand as a word (see backtickWord). */
const SPECIAL_IN_BACKTICK_WORD = charSet("\"'$(){}");
/** In a string, `$` followed by one of these is a `$` token of its own. */
const BARE_DOLLAR_BEFORE = charSet("/.',:=+%^~]})|&;<>");
/** A plain case pattern. */
const CASE_PATTERN = charSet(ALNUM + "._*?/-");

/** Words tree-sitter-bash turns into keywords at the start of a statement. */
const KEYWORDS = new Set([
  "for",
  "select",
  "in",
  "while",
  "until",
  "do",
  "done",
  "if",
  "then",
  "elif",
  "else",
  "fi",
  "case",
  "esac",
  "function",
  "declare",
  "typeset",
  "export",
  "readonly",
  "local",
  "unset",
  "unsetenv",
]);
/** Statements that leave tree-sitter's nesting of a later `&&` chain alone (see andOr). */
const SIMPLE = new Set([
  "command",
  "declaration_command",
  "unset_command",
  "variable_assignment",
  "variable_assignments",
  "test_command",
  "negated_command",
]);
const DECLARATIONS = new Set(["declare", "typeset", "export", "readonly", "local"]);
const THEN = new Set(["then"]);
const AFTER_THEN = new Set(["elif", "else", "fi"]);
const FI = new Set(["fi"]);
const DO = new Set(["do"]);
const DONE = new Set(["done"]);

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

class FastParser {
  private readonly s: string;
  private readonly n: number;
  private readonly base: number;
  private i = 0;
  /** The last blanks skipped: [gapStart, gapEnd). */
  private gapStart = -1;
  private gapEnd = -1;
  /** Parsing a command name. */
  private inName = false;
  /** Inside `...`. */
  private inBacktick = false;
  /** Inside `( )`, `$( )`, backticks or a case item. */
  private nested = 0;

  constructor(text: string, base: number) {
    this.s = text;
    this.n = text.length;
    this.base = base;
  }

  private node(type: string, named: boolean, start: number, end: number, children: ShellNode[]): ShellNode {
    return {
      type,
      named,
      field: null,
      start: this.base + start,
      end: this.base + end,
      children,
      parent: null,
    };
  }

  private token(type: string, start: number, end: number): ShellNode {
    return this.node(type, false, start, end, []);
  }

  /** A named node spanning its children. */
  private wrap(type: string, children: ShellNode[]): ShellNode {
    return {
      type,
      named: true,
      field: null,
      start: children[0].start,
      end: children[children.length - 1].end,
      children,
      parent: null,
    };
  }

  private code(k: number): number {
    return k < this.n ? this.s.charCodeAt(k) : -1;
  }

  /** Skips blanks and line continuations; anything else that tree-sitter treats as an extra bails. */
  private skip(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = i < this.n ? s.charCodeAt(i) : -1;
      if (c === SPACE || c === TAB) i++;
      else if (c === BACKSLASH) {
        const d = this.code(i + 1);
        if (d === LF) {
          i += 2;
          // A continuation at the very end is a syntax error for tree-sitter.
          let j = i;
          while (j < this.n && isBlank(s.charCodeAt(j))) j++;
          if (j >= this.n) bail();
        } else if (d === SPACE || d === TAB || d === -1) bail();
        else break;
      } else if (c === LF || c === 13 || c === 11 || c === 12) bail();
      else break;
    }
    if (i !== this.i) {
      this.gapStart = this.i;
      this.gapEnd = i;
    }
    this.i = i;
  }

  /**
   * The blanks before the current position start with a line continuation
   * right after the previous token (`x\<newline>`): tree-sitter's scanner
   * then sees no file descriptor and no variable name in what follows.
   */
  private afterBackslashGap(): boolean {
    return this.gapEnd === this.i && this.s.charCodeAt(this.gapStart) === BACKSLASH;
  }

  program(): ShellNode {
    this.skip();
    const start = this.i;
    if (start >= this.n) bail();
    const children: ShellNode[] = [];
    this.statements(children, -1);
    if (this.i < this.n) bail();
    return this.node("program", true, start, this.n, children);
  }

  /** Statements separated by `;` or `&`, up to the end of the text or `closer`. */
  private statements(out: ShellNode[], closer: number): void {
    for (;;) {
      out.push(this.andOr());
      this.skip();
      if (this.statementsEnd(out, closer)) return;
      const c = this.code(this.i);
      const d = this.code(this.i + 1);
      if (c === SEMI && d !== SEMI) out.push(this.token(";", this.i, this.i + 1));
      else if (c === AMP && d !== AMP && d !== GT) out.push(this.token("&", this.i, this.i + 1));
      else bail();
      this.i++;
      this.skip();
      if (this.statementsEnd(out, closer)) return;
    }
  }

  /**
   * At `closer` (-1: the end of the text), or at a comment that runs to the
   * end of the text, which tree-sitter makes the program's last child.
   */
  private statementsEnd(out: ShellNode[], closer: number): boolean {
    const c = this.code(this.i);
    if (c === closer) return true;
    if (c === -1) bail();
    if (closer === -1 && this.atComment()) {
      out.push(this.node("comment", true, this.i, this.n, []));
      this.i = this.n;
      return true;
    }
    return false;
  }

  /** A `#` after a blank or `;`/`&`, with no line break after it. */
  private atComment(): boolean {
    if (this.code(this.i) !== HASH) return false;
    const b = this.code(this.i - 1);
    if (!(b === SPACE || b === TAB || b === SEMI || b === AMP)) return false;
    return this.s.indexOf("\n", this.i) === -1;
  }

  /**
   * Commands joined by `|`, `&&`, `||` and followed by redirects, folded the
   * way tree-sitter-bash resolves its ambiguities: lists nest to the left,
   * `|` binds tighter, and a redirect after a command wraps everything before
   * it in the chain (`a && b > f` is `redirected_statement(list(a && b))`).
   */
  private andOr(): ShellNode {
    let acc = this.pipeElement();
    // The right-most operand, which `|` extends, and the list holding it (null: it is `acc`).
    let tail = acc;
    let tailParent: ShellNode | null = null;
    let tailOpen = false; // tail is a pipeline that `|` extends in place
    let firstLength = 0; // commands in the pipeline before the first `&&`/`||` (0: none yet)
    let firstSimple = false; // those are all simple commands
    let redirected = false; // the chain holds a redirect
    let chainSimple = SIMPLE.has(acc.type); // every statement in the chain is a simple command
    const s = this.s;
    for (;;) {
      this.skip();
      const i = this.i;
      const c = this.code(i);
      const d = this.code(i + 1);
      if (c === PIPE && d !== PIPE) {
        if (d === AMP) bail();
        const op = this.token("|", i, i + 1);
        this.i = i + 1;
        this.skip();
        const next = this.pipeElement();
        chainSimple &&= SIMPLE.has(next.type);
        if (tailOpen) {
          tail.children.push(op, next);
          tail.end = next.end;
        } else {
          const pipe = this.wrap("pipeline", [tail, op, next]);
          if (tailParent) tailParent.children[tailParent.children.length - 1] = pipe;
          else acc = pipe;
          tail = pipe;
          tailOpen = true;
        }
      } else if ((c === AMP && d === AMP) || (c === PIPE && d === PIPE)) {
        const length = tailOpen ? (tail.children.length + 1) / 2 : 1;
        if (firstLength === 0) {
          firstLength = length;
          firstSimple = (tailOpen ? tail.children : [acc]).every((n) => !n.named || SIMPLE.has(n.type));
          if (length >= 3) {
            if (redirected) bail();
            return this.peeledChain(acc);
          }
        } else if (length >= 3) {
          // `&&`/`||` after a later pipeline of three or more nest to the
          // left only after a first operand of one simple command, or of two
          // and a pipeline of three, or after a redirect in a chain of
          // simple commands and a pipeline of three (tree-sitter's GLR
          // tie-breaks; checked on every chain of up to 12 commands, 8 with
          // a redirect, and on seeded chains of compound statements).
          const normal = redirected
            ? chainSimple && length === 3
            : firstSimple && (firstLength === 1 || (firstLength === 2 && length <= 3));
          if (!normal) bail();
        }
        const op = this.token(s.slice(i, i + 2), i, i + 2);
        this.i = i + 2;
        this.skip();
        const next = this.pipeElement();
        chainSimple &&= SIMPLE.has(next.type);
        // Inside backticks, `a && A=1` is a syntax error for tree-sitter.
        if (this.inBacktick && next.type.startsWith("variable_assignment")) bail();
        fixSpine(acc);
        acc = this.wrap("list", [acc, op, next]);
        tailParent = acc;
        tail = next;
        tailOpen = false;
      } else if (this.atRedirect()) {
        // A redirect after a pipeline of three or more may wrap only its tail
        // (inside `$(...)`, or depending on what the pipeline holds).
        if (tailOpen && tail.children.length >= 5) bail();
        // The redirected statement starts the chain anew.
        redirected = true;
        firstLength = 0;
        fixSpine(acc);
        acc.field = "body";
        const children = [acc];
        this.redirects(children);
        acc = this.wrap("redirected_statement", children);
        tail = acc;
        tailParent = null;
        tailOpen = false;
      } else break;
    }
    fixSpine(acc);
    return acc;
  }

  /**
   * `c1 | ... | cn && x1 && ... && xk` (or `||`) at `&&`, after a first
   * pipeline of three or more: tree-sitter's GLR tie-breaks peel one command
   * off the pipeline's front per operand, m = min(k, n - 2) times, as in
   * `c1 | list(c2 | list(c3 | c4 && x1) && x2)`, and nest the other operands
   * to the left (`a | b | c && d && e` is `list(a | list(b | c && d) && e)`).
   * Found by comparing every chain of up to 12 simple commands; it holds for
   * n <= 7 and, inside `( )`, `$( )`, backticks and case items, only for
   * n = 3 (tracked by `nested`). Later pipelines of three or more (unless
   * last) and redirects bail.
   */
  private peeledChain(first: ShellNode): ShellNode {
    const s = this.s;
    const pipe = first.children;
    const n = (pipe.length + 1) / 2;
    if (n > (this.nested > 0 ? 3 : 7)) bail();
    const ops: ShellNode[] = [];
    const operands: ShellNode[] = [];
    for (;;) {
      this.skip();
      const i = this.i;
      const c = this.code(i);
      const d = this.code(i + 1);
      if (!((c === AMP && d === AMP) || (c === PIPE && d === PIPE))) break;
      const previous = operands[operands.length - 1];
      if (previous && previous.type === "pipeline" && previous.children.length >= 5) bail();
      ops.push(this.token(s.slice(i, i + 2), i, i + 2));
      this.i = i + 2;
      this.skip();
      let operand = this.pipeElement();
      if (this.inBacktick && operand.type.startsWith("variable_assignment")) bail();
      for (;;) {
        this.skip();
        const j = this.i;
        if (!(this.code(j) === PIPE && this.code(j + 1) !== PIPE)) break;
        if (this.code(j + 1) === AMP) bail();
        const op = this.token("|", j, j + 1);
        this.i = j + 1;
        this.skip();
        const next = this.pipeElement();
        if (operand.type === "pipeline") operand.children.push(op, next);
        else operand = this.wrap("pipeline", [operand, op, next]);
        operand.end = next.end;
      }
      operands.push(operand);
    }
    if (this.atRedirect()) bail();
    const k = operands.length;
    const m = Math.min(k, n - 2);
    let acc = this.wrap("pipeline", pipe.slice(2 * m));
    for (let j = 1; j <= m; j++) {
      const list = this.wrap("list", [acc, ops[j - 1], operands[j - 1]]);
      acc = this.wrap("pipeline", [pipe[2 * (m - j)], pipe[2 * (m - j) + 1], list]);
    }
    for (let j = m; j < k; j++) acc = this.wrap("list", [acc, ops[j], operands[j]]);
    return acc;
  }

  /**
   * A statement that is not a pipeline or list: a command, assignment(s),
   * declaration, `[ test ]`, `( subshell )`, `{ group; }`, `! negation`,
   * if/for/while/until.
   */
  private pipeElement(): ShellNode {
    this.skip();
    const i = this.i;
    const c = this.code(i);
    const blankAfter = isBlank(this.code(i + 1));
    if (c === LBRACKET && blankAfter) return this.testCommand();
    if (c === LPAREN && this.code(i + 1) !== LPAREN) return this.subshell();
    if (c === LBRACE && blankAfter) return this.group();
    if (c === BANG && blankAfter) return this.negated();
    if (c === -1 || c >= 128 || SPECIAL[c] || c === HASH || c === BANG) {
      if (c !== DQUOTE && c !== SQUOTE && c !== DOLLAR && c !== BACKTICK) bail();
    }
    const word = this.keywordAt();
    if (word !== null) {
      if (DECLARATIONS.has(word)) return this.declaration(word, "declaration_command", true);
      if (word === "unset" || word === "unsetenv") return this.declaration(word, "unset_command", false);
      if (word === "if") return this.ifStatement();
      if (word === "for") return this.forStatement();
      if (word === "while" || word === "until") return this.whileStatement(word);
      if (word === "case") return this.caseStatement();
      if (word === "function") return this.functionDefinition(true);
      bail();
    }
    if (this.atFunctionName()) return this.functionDefinition(false);
    return this.command();
  }

  /** At `name()` or `name ()`. */
  private atFunctionName(): boolean {
    const s = this.s;
    let j = this.i;
    const c = this.code(j);
    if (!(c < 128 && IDENT[c] && !(c >= ZERO && c <= NINE))) return false;
    while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    while (isBlank(this.code(j))) j++;
    return this.code(j) === LPAREN;
  }

  /** `name() { ...; }`, `function name { ...; }`, `function name() { ...; }` */
  private functionDefinition(keyword: boolean): ShellNode {
    const s = this.s;
    const start = this.i;
    const children: ShellNode[] = [];
    if (keyword) {
      children.push(this.keyword("function"));
      this.skip();
    }
    const nameStart = this.i;
    let j = nameStart;
    const c = this.code(j);
    if (!(c < 128 && IDENT[c] && !(c >= ZERO && c <= NINE))) bail();
    while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    if (!(isBlank(this.code(j)) || this.code(j) === LPAREN)) bail();
    const name = this.node("word", true, nameStart, j, []);
    name.field = "name";
    children.push(name);
    this.i = j;
    this.skip();
    if (this.code(this.i) === LPAREN) {
      if (this.code(this.i + 1) !== RPAREN) bail();
      children.push(this.token("(", this.i, this.i + 1), this.token(")", this.i + 1, this.i + 2));
      this.i += 2;
      this.skip();
    } else if (!keyword) bail();
    if (!(this.code(this.i) === LBRACE && isBlank(this.code(this.i + 1)))) bail();
    this.nested++;
    const body = this.group();
    this.nested--;
    body.field = "body";
    children.push(body);
    // A redirect after the body belongs to the definition.
    this.skip();
    if (this.atRedirect()) bail();
    return this.node("function_definition", true, start, body.end - this.base, children);
  }

  /** The reserved word at the current position, if one stands there as a whole word. */
  private keywordAt(): string | null {
    const s = this.s;
    const i = this.i;
    let j = i;
    while (j < this.n && s.charCodeAt(j) >= 97 && s.charCodeAt(j) <= 122) j++;
    // Keywords are 2 to 8 letters long.
    if (j - i < 2 || j - i > 8) return null;
    const word = s.slice(i, j);
    if (!KEYWORDS.has(word)) return null;
    // `do_x`, `unsetA`, `fi2` are plain words.
    const c = this.code(j);
    if (c > 0 && c < 128 && IDENT[c]) return null;
    if (!this.endsWord(j)) bail();
    return word;
  }

  /** A keyword token at the current position. */
  private keyword(word: string): ShellNode {
    const t = this.token(word, this.i, this.i + word.length);
    this.i += word.length;
    return t;
  }

  /**
   * Statements, each followed by `;` or `&`, up to one of the `stop` words
   * (or `}` when `stop` is null); the statements and terminators get `field`.
   */
  private terminated(out: ShellNode[], field: string | null, stop: ReadonlySet<string> | null): void {
    let count = 0;
    for (;;) {
      this.skip();
      if (stop === null) {
        if (this.code(this.i) === RBRACE && this.endsWord(this.i + 1)) break;
      } else {
        const word = this.keywordAt();
        if (word !== null && stop.has(word)) break;
      }
      const statement = this.andOr();
      statement.field = field;
      out.push(statement);
      this.skip();
      const i = this.i;
      const c = this.code(i);
      const d = this.code(i + 1);
      let t: ShellNode;
      if (c === SEMI && d !== SEMI) t = this.token(";", i, i + 1);
      else if (c === AMP && d !== AMP && d !== GT) t = this.token("&", i, i + 1);
      else bail();
      t.field = field;
      out.push(t);
      this.i = i + 1;
      count++;
    }
    if (count === 0) bail();
  }

  private expectKeyword(word: string): ShellNode {
    this.skip();
    if (this.keywordAt() !== word) bail();
    return this.keyword(word);
  }

  /** `if a; then b; [elif c; then d;] [else e;] fi` */
  private ifStatement(): ShellNode {
    const start = this.i;
    const children = [this.keyword("if")];
    this.terminated(children, "condition", THEN);
    children.push(this.expectKeyword("then"));
    this.terminated(children, null, AFTER_THEN);
    let word = this.keywordAt();
    while (word === "elif") {
      const clause = [this.keyword("elif")];
      this.terminated(clause, null, THEN);
      clause.push(this.expectKeyword("then"));
      this.terminated(clause, null, AFTER_THEN);
      children.push(this.wrap("elif_clause", clause));
      word = this.keywordAt();
    }
    if (word === "else") {
      const clause = [this.keyword("else")];
      this.terminated(clause, null, FI);
      children.push(this.wrap("else_clause", clause));
    }
    children.push(this.expectKeyword("fi"));
    return this.node("if_statement", true, start, this.i, children);
  }

  /** `for name in words; do ...; done` */
  private forStatement(): ShellNode {
    const s = this.s;
    const start = this.i;
    const children = [this.keyword("for")];
    this.skip();
    const v = this.i;
    const c = this.code(v);
    if (!(IDENT[c] && !(c >= ZERO && c <= NINE))) bail();
    let j = v + 1;
    while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    if (!isBlank(this.code(j))) bail();
    const variable = this.node("variable_name", true, v, j, []);
    variable.field = "variable";
    children.push(variable);
    this.i = j;
    children.push(this.expectKeyword("in"));
    let values = 0;
    for (;;) {
      this.skip();
      const d = this.code(this.i);
      if (d === SEMI) break;
      if (d === -1 || d === AMP || d === PIPE || d === RPAREN || d === HASH || d === LPAREN) bail();
      if (d === LT || d === GT || this.keywordAt() !== null) bail();
      const value = this.literal();
      value.field = "value";
      children.push(value);
      values++;
    }
    if (values === 0 || this.code(this.i + 1) === SEMI) bail();
    children.push(this.token(";", this.i, this.i + 1));
    this.i++;
    children.push(this.doGroup());
    return this.node("for_statement", true, start, this.i, children);
  }

  /** `while a; do b; done`, `until a; do b; done` */
  private whileStatement(word: string): ShellNode {
    const start = this.i;
    const children = [this.keyword(word)];
    this.terminated(children, "condition", DO);
    children.push(this.doGroup());
    return this.node("while_statement", true, start, this.i, children);
  }

  /** `case x in a|b) c;; *) d;; esac` */
  private caseStatement(): ShellNode {
    const start = this.i;
    const children = [this.keyword("case")];
    this.skip();
    const c = this.code(this.i);
    if (c === -1 || c >= 128 || (SPECIAL[c] && c !== DQUOTE && c !== SQUOTE && c !== DOLLAR) || c === HASH)
      bail();
    const value = this.literal();
    value.field = "value";
    children.push(value);
    children.push(this.expectKeyword("in"));
    let last: ShellNode | null = null;
    for (;;) {
      const gap = this.i;
      this.skip();
      const word = this.keywordAt();
      if (word === "esac") break;
      if (word !== null) bail();
      last = this.caseItem(gap);
      children.push(last);
    }
    if (!last) bail();
    // The last item is tree-sitter's `last_case_item`, whose `;;` has no field.
    last.children[last.children.length - 1].field = null;
    children.push(this.keyword("esac"));
    return this.node("case_statement", true, start, this.i, children);
  }

  /** `a|b) statements ;;` (every item ends in `;;`); the blanks before it start at `gap`. */
  private caseItem(gap: number): ShellNode {
    const children: ShellNode[] = [];
    if (this.code(this.i) === LPAREN) {
      children.push(this.token("(", this.i, this.i + 1));
      gap = ++this.i;
    }
    for (;;) {
      this.skip();
      const value = this.casePattern(gap);
      value.field = "value";
      children.push(value);
      this.skip();
      const i = this.i;
      const c = this.code(i);
      children.push(this.token(c === PIPE ? "|" : ")", i, i + 1));
      this.i = gap = i + 1;
      if (c === RPAREN) break;
    }
    this.nested++;
    for (;;) {
      this.skip();
      const i = this.i;
      const c = this.code(i);
      const d = this.code(i + 1);
      if (c === SEMI && d === SEMI) {
        if (this.code(i + 2) === AMP) bail();
        const t = this.token(";;", i, i + 2);
        t.field = "termination";
        children.push(t);
        this.i = i + 2;
        this.nested--;
        return this.wrap("case_item", children);
      }
      if (c === -1 || this.keywordAt() === "esac") bail();
      children.push(this.andOr());
      this.skip();
      const j = this.i;
      const e = this.code(j);
      const f = this.code(j + 1);
      if (e === SEMI && f === SEMI) continue;
      if (e === SEMI && f !== AMP) children.push(this.token(";", j, j + 1));
      else if (e === AMP && f !== AMP && f !== GT) children.push(this.token("&", j, j + 1));
      else bail();
      this.i = j + 1;
    }
  }

  /**
   * One pattern of a case item, followed by `|`, `)` or a blank: a quoted string,
   * `$x`, `${x}`, or plain characters, which are an `extglob_pattern` or a
   * `word` as tree-sitter's scanner decides (see caseExtglob).
   */
  private casePattern(gap: number): ShellNode {
    const s = this.s;
    const start = this.i;
    const c = this.code(start);
    let value: ShellNode;
    if (c === DQUOTE || c === SQUOTE || c === DOLLAR) {
      value = this.primary(false);
      if (value.type !== "string" && value.type !== "raw_string" && value.type !== "simple_expansion") {
        if (value.type !== "expansion") bail();
      }
    } else {
      let j = start;
      while (j < this.n && CASE_PATTERN[s.charCodeAt(j)]) j++;
      if (j === start) bail();
      const d = this.code(j);
      if (d !== PIPE && d !== RPAREN && !isBlank(d)) bail();
      if (this.caseExtglob(gap, start, j)) {
        value = this.node("extglob_pattern", true, start, j, []);
        this.i = j;
      } else {
        value = this.word(true);
        if (this.i !== j) bail();
      }
    }
    const d = this.code(this.i);
    if (d !== PIPE && d !== RPAREN && !isBlank(d)) bail();
    return value;
  }

  /**
   * Whether tree-sitter-bash's external scanner, called at `gap` (right
   * after the previous token) in a case pattern, returns the plain pattern
   * [start, end) as an `extglob_pattern`; false when it returns nothing, and
   * the lexer then reads a word. A transcription of the scanner's test
   * operator and extglob paths for the characters casePattern allows; any
   * other outcome bails. A continuation before the pattern always fails it.
   */
  private caseExtglob(gap: number, start: number, end: number): boolean {
    const code = (k: number) => {
      const c = this.code(k);
      if (c >= 128) bail();
      return c;
    };
    const alpha = (c: number) => (c | 32) >= 97 && (c | 32) <= 122;
    const alnum = (c: number) => alpha(c) || (c >= ZERO && c <= NINE);
    const space = (c: number) => c === SPACE || (c >= TAB && c <= 13);
    let i = gap;
    while (code(i) === SPACE || code(i) === TAB) i++;
    if (code(i) === BACKSLASH) return false;
    if (i !== start) bail();
    let mark = i;
    /** The scanner returns an extglob_pattern ending at `mark` (if `ok`). */
    const result = (ok: boolean) => {
      if (!ok) return false;
      if (mark !== end) bail();
      return true;
    };
    // The test operator path: `-` and letters are consumed into the token.
    if (code(i) === MINUS) {
      i++;
      while (alpha(code(i))) i++;
      if (space(code(i))) {
        // `-x ` is a test operator, `- ` a pattern.
        if (i > start + 1) bail();
        mark = i;
        return result(true);
      }
    }
    let c = code(i);
    if (!(
      c === QUESTION ||
      c === STAR ||
      c === PLUS ||
      c === AT ||
      c === BANG ||
      c === MINUS ||
      c === RPAREN ||
      c === DOT ||
      c === LBRACKET ||
      alpha(c)
    )) {
      return false;
    }
    if (c === RPAREN) {
      mark = i;
      i++;
      if (space(code(i))) return false;
    }
    mark = i;
    const wasNonAlpha = !alpha(code(i));
    if (code(i) !== LBRACKET) {
      if (code(i) === 101 /* e */) {
        mark = i;
        i++;
        // `esac` is not a pattern.
        for (const letter of [115, 97, 99]) {
          if (code(i) !== letter) break;
          i++;
          if (letter === 99 && space(code(i))) return false;
        }
      } else i++;
    }
    if (code(i) === MINUS) {
      mark = i;
      i++;
      while (alnum(code(i))) i++;
      c = code(i);
      if (c === RPAREN || c === BACKSLASH || c === DOT) return false;
      mark = i;
    }
    if (code(i) === RPAREN) {
      mark = i;
      i++;
      if (space(code(i))) return result(wasNonAlpha);
    }
    if (space(code(i))) {
      mark = i;
      return result(true);
    }
    if (code(i) === DOLLAR) bail();
    if (code(i) === PIPE) {
      mark = i;
      return result(true);
    }
    c = code(i);
    if (!(alnum(c) || c === LPAREN || c === DQUOTE || c === LBRACKET || c === QUESTION || c === SLASH)) {
      if (!(c === BACKSLASH || c === UNDERSCORE || c === STAR)) return false;
    }
    let sawNonAlphaDot = wasNonAlpha;
    let parens = 0;
    let brackets = 0;
    let braces = 0;
    for (;;) {
      c = code(i);
      let done = false;
      if (c === -1) return false;
      if (c === LPAREN) parens++;
      else if (c === LBRACKET) brackets++;
      else if (c === LBRACE) braces++;
      else if (c === RPAREN) done = parens-- === 0;
      else if (c === RBRACKET) done = brackets-- === 0;
      else if (c === RBRACE) done = braces-- === 0;
      if (c === PIPE) {
        mark = i;
        i++;
        if (parens === 0 && brackets === 0 && braces === 0) return result(true);
      }
      if (done) return result(sawNonAlphaDot);
      c = code(i);
      const wasSpace = space(c);
      if (c === DOLLAR) bail();
      if (wasSpace || c === DQUOTE) {
        mark = i;
        return result(sawNonAlphaDot);
      }
      if (c === BACKSLASH) {
        i++;
        if (space(code(i)) || code(i) === DQUOTE) i++;
      } else {
        if (!alpha(c) && c !== DOT) sawNonAlphaDot = true;
        i++;
      }
      mark = i;
    }
  }

  private doGroup(): ShellNode {
    const children = [this.expectKeyword("do")];
    this.terminated(children, null, DONE);
    children.push(this.expectKeyword("done"));
    const group = this.wrap("do_group", children);
    group.field = "body";
    return group;
  }

  /** `( statements )` */
  private subshell(): ShellNode {
    const start = this.i;
    const children = [this.token("(", start, start + 1)];
    this.i++;
    this.skip();
    if (this.code(this.i) === RPAREN) bail();
    const inName = this.inName;
    this.inName = false;
    this.nested++;
    this.statements(children, RPAREN);
    this.nested--;
    this.inName = inName;
    children.push(this.token(")", this.i, this.i + 1));
    this.i++;
    return this.node("subshell", true, start, this.i, children);
  }

  /** `{ statements; }` */
  private group(): ShellNode {
    const start = this.i;
    const children = [this.token("{", start, start + 1)];
    this.i++;
    this.terminated(children, null, null);
    children.push(this.token("}", this.i, this.i + 1));
    this.i++;
    return this.node("compound_statement", true, start, this.i, children);
  }

  /** `! command`, `! [ test ]`, `! ( subshell )` */
  private negated(): ShellNode {
    const start = this.i;
    const children = [this.token("!", start, start + 1)];
    this.i++;
    this.skip();
    const c = this.code(this.i);
    let inner: ShellNode;
    if (c === LBRACKET && isBlank(this.code(this.i + 1))) inner = this.testCommand();
    else if (c === LPAREN && this.code(this.i + 1) !== LPAREN) inner = this.subshell();
    else {
      if (this.keywordAt() !== null || c === LBRACE || c === BANG) bail();
      inner = this.pipeElement();
      if (inner.type !== "command") bail();
    }
    children.push(inner);
    return this.node("negated_command", true, start, inner.end - this.base, children);
  }

  /**
   * `[ x ]`, `[ -f x ]`, `[ ! -f x ]`, `[ x = y ]`, `[ x != "y" ]`,
   * `[ x -eq 1 ]`: one unary or binary test between blanks.
   */
  private testCommand(): ShellNode {
    const start = this.i;
    const children = [this.token("[", start, start + 1)];
    this.i++;
    this.skip();
    let expression: ShellNode;
    if (this.code(this.i) === BANG && isBlank(this.code(this.i + 1))) {
      const bang = this.token("!", this.i, this.i + 1);
      bang.field = "operator";
      this.i++;
      this.skip();
      const inner = this.testUnary();
      if (!inner) bail();
      expression = this.wrap("unary_expression", [bang, inner]);
    } else {
      expression = this.testUnary() ?? this.testBinary();
    }
    children.push(expression);
    this.skip();
    const after = this.code(this.i + 1);
    if (this.code(this.i) !== RBRACKET) bail();
    if (!(
      after === -1 ||
      isBlank(after) ||
      after === SEMI ||
      (after === BACKSLASH && this.code(this.i + 2) === LF)
    )) {
      bail();
    }
    // `]` must stand apart from the operand before it.
    const before = this.code(this.i - 1);
    if (!(before === SPACE || before === TAB || before === LF)) bail();
    children.push(this.token("]", this.i, this.i + 1));
    this.i++;
    return this.node("test_command", true, start, this.i, children);
  }

  /** `-[a-zA-Z]+` followed by a blank, at the current position; returns its end. */
  private testOperatorEnd(): number {
    const s = this.s;
    const i = this.i;
    if (this.code(i) !== MINUS) return -1;
    let j = i + 1;
    while (j < this.n && (s.charCodeAt(j) | 32) >= 97 && (s.charCodeAt(j) | 32) <= 122) j++;
    return j > i + 1 && isBlank(this.code(j)) ? j : -1;
  }

  /** `-f x` inside `[ ]`, or null when no test operator stands here. */
  private testUnary(): ShellNode | null {
    const end = this.testOperatorEnd();
    if (end === -1) return null;
    const op = this.node("test_operator", true, this.i, end, []);
    op.field = "operator";
    this.i = end;
    this.skip();
    const operand = this.testOperand();
    return this.wrap("unary_expression", [op, operand]);
  }

  /** `x`, `x = y`, `x != "y"`, `x -eq 1` inside `[ ]`. */
  private testBinary(): ShellNode {
    const left = this.testOperand();
    this.skip();
    if (this.code(this.i) === RBRACKET) return left;
    const i = this.i;
    const c = this.code(i);
    const d = this.code(i + 1);
    let op: ShellNode;
    let pattern = false;
    if (c === EQ && isBlank(d)) op = this.token("=", i, i + 1);
    else if ((c === BANG || c === EQ) && d === EQ && isBlank(this.code(i + 2))) {
      op = this.token(c === BANG ? "!=" : "==", i, i + 2);
      pattern = true;
    } else {
      const end = this.testOperatorEnd();
      if (end === -1) bail();
      op = this.node("test_operator", true, i, end, []);
    }
    op.field = "operator";
    this.i = op.end - this.base;
    this.skip();
    const right = this.testOperand();
    // After == and != a plain word is an extglob pattern.
    if (pattern && right.type !== "string" && right.type !== "raw_string") bail();
    left.field = "left";
    right.field = "right";
    return this.wrap("binary_expression", [left, op, right]);
  }

  private testOperand(): ShellNode {
    const c = this.code(this.i);
    // Inside a test, `-x`, `!x`, a lone `^` and the like are expression operators:
    // operands start with a letter, digit, `/`, `.`, `_`, a quote or `$`.
    if (!(
      c < 128 &&
      (IDENT[c] || c === SLASH || c === DOT || c === DQUOTE || c === SQUOTE || c === DOLLAR)
    )) {
      bail();
    }
    const operand = this.literal();
    const parts = operand.type === "concatenation" ? operand.children : [operand];
    for (const part of parts) {
      if (part.type !== "word" && part.type !== "number") continue;
      // The scanner reads `a#b`, `a:b`, `a=b`... as a variable name here.
      const text = this.s.slice(part.start - this.base, part.end - this.base);
      if (/[=[\]{}#]|^\w+[[:%@+?]/.test(text)) bail();
    }
    return operand;
  }

  /** The character at k ends a word: blank, end, or a statement terminator. */
  private endsWord(k: number): boolean {
    const c = this.code(k);
    return (
      c === -1 ||
      c === SPACE ||
      c === TAB ||
      c === SEMI ||
      c === AMP ||
      c === PIPE ||
      c === RPAREN ||
      (c === BACKSLASH && this.code(k + 1) === LF)
    );
  }

  /** At `;`, `&`, `|`, `)` or the end: nothing more belongs to this command. */
  private atCommandEnd(): boolean {
    const c = this.code(this.i);
    if (c === -1 || c === SEMI || c === PIPE || c === RPAREN) return true;
    if (c === BACKTICK && this.inBacktick) return true;
    if (c === HASH) return this.atComment();
    return c === AMP && this.code(this.i + 1) !== GT;
  }

  private atRedirect(): boolean {
    const c = this.code(this.i);
    if (c === GT || c === LT) return true;
    if (c === AMP) return this.code(this.i + 1) === GT;
    if (c >= ZERO && c <= NINE) {
      let j = this.i + 1;
      let d = this.code(j);
      while (d >= ZERO && d <= NINE) d = this.code(++j);
      if (d === GT || d === LT) {
        // tree-sitter's scanner does not take a descriptor that starts with 0.
        if (c === ZERO || this.afterBackslashGap()) bail();
        return true;
      }
    }
    return false;
  }

  /** Appends one or more file redirects (field `redirect`) to `out`. */
  private redirects(out: ShellNode[]): void {
    do {
      const r = this.fileRedirect();
      r.field = "redirect";
      out.push(r);
      this.skip();
    } while (this.atRedirect());
  }

  private fileRedirect(): ShellNode {
    const s = this.s;
    const start = this.i;
    const children: ShellNode[] = [];
    let i = start;
    let c = this.code(i);
    if (c >= ZERO && c <= NINE) {
      while (c >= ZERO && c <= NINE) c = this.code(++i);
      const fd = this.node("file_descriptor", true, start, i, []);
      fd.field = "descriptor";
      children.push(fd);
    }
    const opStart = i;
    const d = this.code(i + 1);
    if (c === GT) {
      if (d === GT) i += 2;
      else if (d === AMP) {
        if (this.code(i + 2) === MINUS) bail();
        i += 2;
      } else if (d === PIPE || d === LPAREN) bail();
      else i += 1;
    } else if (c === LT) {
      if (d === AMP) {
        if (this.code(i + 2) === MINUS) bail();
        i += 2;
      } else if (d === LT || d === LPAREN) bail();
      else i += 1;
    } else if (c === AMP && d === GT) {
      i += this.code(i + 2) === GT ? 3 : 2;
    } else bail();
    children.push(this.token(s.slice(opStart, i), opStart, i));
    this.i = i;
    this.skip();
    let destinations = 0;
    for (;;) {
      if (this.atCommandEnd() || this.atRedirect()) break;
      const c2 = this.code(this.i);
      if (c2 === HASH || c2 === LPAREN) bail();
      const dest = this.literal();
      dest.field = "destination";
      children.push(dest);
      destinations++;
      this.skip();
    }
    if (destinations === 0) bail();
    return this.wrap("file_redirect", children);
  }

  private command(): ShellNode {
    const s = this.s;
    const children: ShellNode[] = [];
    // Prefix assignments.
    for (;;) {
      const i = this.i;
      const c = this.code(i);
      if (!(IDENT[c] && !(c >= ZERO && c <= NINE))) break;
      let j = i + 1;
      while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
      if (s.charCodeAt(j) !== EQ) break;
      // At the start of a statement the scanner reads past a continuation.
      if (children.length > 0 && this.afterBackslashGap()) bail();
      children.push(this.assignment());
      this.skip();
      if (this.atCommandEnd() || this.atAndOr()) {
        return children.length === 1 ? children[0] : this.wrap("variable_assignments", children);
      }
      if (this.atRedirect()) bail();
    }
    // Command name.
    const i = this.i;
    const c = this.code(i);
    if (
      c === -1 ||
      c === STAR ||
      c === AT ||
      c === QUESTION ||
      c === MINUS ||
      c === ZERO ||
      (c === UNDERSCORE && !IDENT[this.code(i + 1)]) ||
      c === HASH ||
      c === BANG ||
      c >= 128 ||
      (SPECIAL[c] && c !== DQUOTE && c !== SQUOTE && c !== DOLLAR && c !== BACKTICK)
    ) {
      bail();
    }
    if (IDENT[c]) {
      // tree-sitter's scanner reads `name` followed by one of these as a variable name.
      let j = i + 1;
      while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
      const d = this.code(j);
      if (
        d === EQ ||
        d === LBRACKET ||
        d === COLON ||
        d === PERCENT ||
        d === HASH ||
        d === AT ||
        d === PLUS ||
        d === QUESTION
      ) {
        bail();
      }
      if (children.length > 0 && KEYWORDS.has(s.slice(i, j)) && this.endsWord(j)) bail();
    }
    this.inName = true;
    const name = this.literal();
    this.inName = false;
    const commandName = this.wrap("command_name", [name]);
    commandName.field = "name";
    children.push(commandName);
    // Arguments, up to a terminator or a redirect (which the caller wraps around the command).
    for (;;) {
      this.skip();
      if (this.atCommandEnd() || this.atRedirect()) break;
      const c2 = this.code(this.i);
      if (c2 === HASH || c2 === LPAREN) bail();
      if (c2 === EQ) {
        const d = this.code(this.i + 1);
        if (d === EQ || d === TILDE) bail();
      }
      const arg = this.literal();
      arg.field = "argument";
      children.push(arg);
    }
    return this.wrap("command", children);
  }

  private atAndOr(): boolean {
    const c = this.code(this.i);
    const d = this.code(this.i + 1);
    return (c === AMP && d === AMP) || (c === PIPE && d === PIPE);
  }

  /** `NAME=value` (the caller checked `NAME=`). */
  private assignment(): ShellNode {
    const s = this.s;
    const start = this.i;
    let j = start + 1;
    while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    // tree-sitter's scanner does not take `_` alone as a variable name.
    if (j === start + 1 && s.charCodeAt(start) === UNDERSCORE) bail();
    const name = this.node("variable_name", true, start, j, []);
    name.field = "name";
    const children = [name, this.token("=", j, j + 1)];
    this.i = j + 1;
    const c = this.code(this.i);
    if (c === -1 || c === SPACE || c === TAB || c === SEMI || c === AMP) {
      // `A=` with an empty value: no value node.
      return this.node("variable_assignment", true, start, this.i, children);
    }
    if (c === BACKSLASH || c === PIPE || c === RPAREN || c === LPAREN || c === LT || c === GT) {
      bail();
    }
    if (c === BACKTICK && this.inBacktick) bail();
    if (c === HASH || c === LF) bail();
    const value = this.literal();
    value.field = "value";
    children.push(value);
    return this.wrap("variable_assignment", children);
  }

  /** `export A=1 B`, `unset A`: keyword, then assignments, bare names or other words. */
  private declaration(keyword: string, type: string, assignments: boolean): ShellNode {
    const s = this.s;
    const start = this.i;
    const children = [this.token(keyword, start, start + keyword.length)];
    this.i = start + keyword.length;
    for (;;) {
      this.skip();
      if (this.atCommandEnd() || this.atRedirect() || this.atAndOr()) break;
      const i = this.i;
      const c = this.code(i);
      if (c === HASH || c === LPAREN || (c >= ZERO && c <= NINE)) bail();
      // The scanner's variable-name check skips one of these first (`*A=1`).
      if (c === STAR || c === AT || c === QUESTION) bail();
      if (c === MINUS) {
        // Only `-x` options: the scanner may read `--x=` as a variable name.
        let j = i + 1;
        while (j < this.n && (s.charCodeAt(j) | 32) >= 97 && (s.charCodeAt(j) | 32) <= 122) j++;
        if (j === i + 1 || !this.endsWord(j)) bail();
      }
      if (IDENT[c]) {
        let j = i + 1;
        while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
        const d = this.code(j);
        if (d === EQ && assignments) {
          if (this.afterBackslashGap()) bail();
          children.push(this.assignment());
          continue;
        }
        if (this.endsWord(j)) {
          children.push(this.node("variable_name", true, i, j, []));
          this.i = j;
          continue;
        }
        bail();
      }
      children.push(this.literal());
    }
    const last = children[children.length - 1];
    return this.node(type, true, start, last.end - this.base, children);
  }

  /** A word: one primary, or several run together (a concatenation). */
  private literal(): ShellNode {
    const first = this.primary(true);
    let parts: ShellNode[] | null = null;
    for (;;) {
      const c = this.code(this.i);
      if (c === -1 || c === SPACE || c === TAB || c === LF) break;
      if (c === SEMI || c === AMP || c === PIPE || c === RPAREN) break;
      if (c === BACKSLASH) {
        const d = this.code(this.i + 1);
        if (d === LF) break;
        // After a quote or an expansion, \" \' \\ continue the word; with
        // anything else tree-sitter's scanner starts a new token oddly.
        if (d !== DQUOTE && d !== SQUOTE && d !== BACKSLASH) bail();
      } else if (c === BACKTICK) {
        // The scanner joins a backtick to the word when the next backtick in
        // the text is followed by a blank or the end (even if this one closes).
        const next = this.s.indexOf("`", this.i + 1);
        const after = next === -1 ? 0 : this.code(next + 1);
        const joins = after === -1 || after === SPACE || after === TAB || after === LF;
        if (this.inBacktick) {
          if (joins) bail();
          break;
        }
        if (next === -1) bail();
        if (!joins) break;
      } else if (c === LT || c === GT || c === LPAREN || c === HASH || c >= 128) {
        bail();
      }
      parts ??= [first];
      // `x$$` ends in an odd two-character `$` token.
      if (c === DOLLAR && this.code(this.i + 1) === DOLLAR) bail();
      if (parts.length >= 2 && c === DOLLAR && this.bareDollar()) {
        // tree-sitter ends the concatenation with a bare `$` here; the
        // name starts the next word.
        parts.push(this.token("$", this.i, this.i + 1));
        this.i++;
        break;
      }
      parts.push(this.primary(false));
    }
    const last = parts ? parts[parts.length - 1] : first;
    if (last.type === "word" && last.end - last.start === 1) {
      const c = this.s.charCodeAt(last.start - this.base);
      if (c === LBRACE || c === RBRACE || c === LBRACKET || c === RBRACKET) {
        // tree-sitter reads brackets apart only by blanks (`{ }`) as one word.
        let j = this.i;
        for (;;) {
          const d = this.code(j);
          if (d === SPACE || d === TAB) j++;
          else if (d === BACKSLASH && this.code(j + 1) === LF) j += 2;
          else break;
        }
        const d = this.code(j);
        if (d === LBRACE || d === RBRACE || d === LBRACKET || d === RBRACKET) bail();
      }
    }
    return parts ? this.wrap("concatenation", parts) : first;
  }

  /**
   * At `$name` with two or more parts of a concatenation before it:
   * tree-sitter reads `$` as the concatenation's closing bare dollar when
   * the name runs on into more word characters (`a$B.c$D.e`), unless its
   * scanner takes the name as a variable name (followed by `:`, `=`, ...).
   */
  private bareDollar(): boolean {
    const s = this.s;
    let j = this.i + 1;
    const c = this.code(j);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (letter) {
      j++;
      while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    } else if (
      c === UNDERSCORE ||
      (c >= ZERO && c <= NINE) ||
      c === AT ||
      c === QUESTION ||
      c === DOLLAR ||
      c === HASH ||
      c === BANG ||
      c === STAR ||
      c === MINUS
    ) {
      bail();
    } else return false;
    const d = this.code(j);
    if (d === -1 || d === DQUOTE || d === SQUOTE || d === DOLLAR) return false;
    if (d === LBRACE || d === RBRACE || d === LBRACKET || d === RBRACKET) bail();
    if (d < 128 && SPECIAL[d] && d !== BACKSLASH) return false;
    // In a command name, what the scanner reads differs (a function name may follow).
    if (this.inName) bail();
    // The name runs on into a word character.
    if (d >= 128 || d === BACKSLASH || d === HASH || d === QUESTION) bail();
    if (d === COLON || d === EQ || d === PERCENT || d === AT) return false;
    if (d === PLUS) {
      const e = this.code(j + 1);
      return !(e === EQ || e === COLON);
    }
    return true;
  }

  private primary(first: boolean): ShellNode {
    const c = this.code(this.i);
    if (c === DQUOTE) return this.string();
    if (c === SQUOTE) return this.rawString();
    if (c === DOLLAR) return this.dollar();
    if (c === BACKTICK) return this.backtickSubstitution(this.i);
    if (c === LBRACE || c === RBRACE || c === LBRACKET || c === RBRACKET) {
      // `{}`, `a[1]`: each bracket is a word of its own; `{1..3}` is a brace expression.
      const d = this.code(this.i + 1);
      if (c === LBRACE && d >= ZERO && d <= NINE) bail();
      const i = this.i++;
      return this.node("word", true, i, i + 1, []);
    }
    return this.word(first);
  }

  /** A `word` or `number` token. */
  private word(first: boolean): ShellNode {
    const s = this.s;
    const start = this.i;
    let i = start;
    for (;;) {
      const c = i < this.n ? s.charCodeAt(i) : -1;
      if (c === -1) break;
      if (c >= 128) bail();
      if (c === BACKSLASH) {
        const d = this.code(i + 1);
        if (d === -1 || d >= 128) bail();
        if (d === LF) break;
        if (d === TAB || d === 11 || d === 12 || d === 13) bail();
        if (d === SPACE && i === start) bail();
        i += 2;
        continue;
      }
      if (SPECIAL[c]) break;
      if (c === HASH && i === start) bail();
      i++;
    }
    if (i === start) bail();
    this.i = i;
    const text = s.slice(start, i);
    if (text === "-") {
      // tree-sitter's scanner swallows a lone `-` before a descriptor (`- 2>x`).
      let j = i;
      for (;;) {
        const c = this.code(j);
        if (c === SPACE || c === TAB) j++;
        else if (c === BACKSLASH && this.code(j + 1) === LF) j += 2;
        else break;
      }
      let c = this.code(j);
      // Inside a concatenation, `"x"- $$` turns into one odd `$` token.
      if (c === DOLLAR && !first && j > i) bail();
      if (c >= ZERO && c <= NINE) {
        while (c >= ZERO && c <= NINE) c = this.code(++j);
        if (c === GT || c === LT) bail();
      }
    }
    if (text.charCodeAt(text.length - 1) === HASH) bail();
    const c0 = text.charCodeAt(0);
    const digit = (c0 >= ZERO && c0 <= NINE) || (c0 === MINUS && text.length > 1);
    return this.node(digit && NUMBER.test(text) ? "number" : "word", true, start, i, []);
  }

  private rawString(): ShellNode {
    const start = this.i;
    const end = this.s.indexOf("'", start + 1);
    if (end === -1) bail();
    this.i = end + 1;
    return this.node("raw_string", true, start, end + 1, []);
  }

  /** `$name`, `${...}`, `$(...)` outside a string. */
  private dollar(): ShellNode {
    const d = this.code(this.i + 1);
    if (d === LBRACE) return this.expansion(this.i);
    if (d === LPAREN) {
      if (this.code(this.i + 2) === LPAREN) return this.arithmeticExpansion(this.i);
      return this.commandSubstitution(this.i);
    }
    return this.simpleExpansion(this.i);
  }

  /** `$name` or `$@` etc. starting at `$`; the node (and its `$`) start at `from`. */
  private simpleExpansion(from: number): ShellNode {
    const s = this.s;
    const dollar = this.i;
    let j = dollar + 1;
    const c = this.code(j);
    let name: ShellNode;
    if (c !== -1 && c < 128 && IDENT[c]) {
      j++;
      while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
      const d = this.code(j);
      if (d >= 128) bail();
      if (d === BACKSLASH && this.code(j + 1) === LF) bail();
      const special = j === dollar + 2 && c === UNDERSCORE;
      name = this.node(special ? "special_variable_name" : "variable_name", true, dollar + 1, j, []);
    } else if (
      c === AT ||
      c === QUESTION ||
      c === DOLLAR ||
      c === HASH ||
      c === BANG ||
      c === STAR ||
      c === MINUS
    ) {
      j++;
      const d = this.code(j);
      if (!(d === -1 || d === SPACE || d === TAB || d === DQUOTE || d === SEMI)) bail();
      name = this.node("special_variable_name", true, dollar + 1, j, []);
    } else bail();
    this.i = j;
    return this.node("simple_expansion", true, from, j, [this.token("$", from, dollar + 1), name]);
  }

  /**
   * `${name}`, or `${name}` with one of the common operators and a plain
   * operand: `${A:-x}`, `${A%%.*}`, `${A//./-}`, `${A:0:4}`; starting at `$`,
   * the node starts at `from`.
   */
  private expansion(from: number): ShellNode {
    const s = this.s;
    const open = this.i;
    const children = [this.token("${", from, open + 2)];
    let j = open + 2;
    const c = this.code(j);
    if (!(c !== -1 && c < 128 && IDENT[c])) bail();
    j++;
    while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
    const nameEnd = j;
    children.push(this.node("variable_name", true, open + 2, j, []));
    const d = this.code(j);
    // `${_}` is a special variable.
    if (nameEnd === open + 3 && c === UNDERSCORE) bail();
    if (d !== RBRACE) {
      // Operators: a name that starts with a digit reads differently.
      if (c >= ZERO && c <= NINE) bail();
      j = this.expansionOperator(j, children);
    }
    if (this.code(j) !== RBRACE) bail();
    children.push(this.token("}", j, j + 1));
    this.i = j + 1;
    return this.node("expansion", true, from, j + 1, children);
  }

  /** The operator part of `${name<op>...}` at j; returns the offset of the closing brace. */
  private expansionOperator(j: number, children: ShellNode[]): number {
    const s = this.s;
    const op = (len: number) => {
      const t = this.token(s.slice(j, j + len), j, j + len);
      t.field = "operator";
      children.push(t);
      j += len;
    };
    /** End of a run of characters in `set`, from k. */
    const run = (k: number, set: Uint8Array) => {
      while (k < this.n && set[s.charCodeAt(k)]) k++;
      return k;
    };
    const c = this.code(j);
    const d = this.code(j + 1);
    if (c === COLON && d >= ZERO && d <= NINE) {
      // ${A:1} ${A:0:4}
      op(1);
      let k = run(j, DIGITS);
      children.push(this.node("number", true, j, k, []));
      j = k;
      if (this.code(j) === COLON) {
        op(1);
        k = run(j, DIGITS);
        if (k === j) bail();
        children.push(this.node("number", true, j, k, []));
        j = k;
      }
      return j;
    }
    if (c === COLON || c === MINUS || c === PLUS || c === EQ || c === QUESTION) {
      // ${A:-word} and the like; the word is plain, or one quoted string or expansion.
      if (c === COLON) {
        if (!(d === MINUS || d === PLUS || d === EQ || d === QUESTION)) bail();
        op(2);
      } else op(1);
      const k = run(j, EXP_WORD);
      if (k === j) {
        const e = this.code(j);
        if (e === BACKTICK) return this.backtickWord(j, children);
        if (e !== SQUOTE && e !== DQUOTE && e !== DOLLAR) return j;
        if (e === DOLLAR) {
          // Here `$((1))` is a subshell in `$( )`, and `$_` and `$` words.
          const f = this.code(j + 1);
          if (f === RBRACE) {
            children.push(this.node("word", true, j, j + 1, []));
            return j + 1;
          }
          if (f === LPAREN && this.code(j + 2) === LPAREN) bail();
          if (f === UNDERSCORE && !IDENT[this.code(j + 2)]) bail();
        }
        this.i = j;
        children.push(this.primary(false));
        return this.i;
      }
      // A leading name followed by `-` is read as a variable name (`${A:-a-b}`).
      const lead = run(j, IDENT);
      if (lead > j && this.code(lead) === MINUS) bail();
      children.push(this.node("word", true, j, k, []));
      return k;
    }
    if (c === PERCENT || c === HASH) {
      // ${A%pattern} ${A%%pattern} ${A#pattern} ${A##pattern}
      if (d === c) {
        if (this.code(j + 2) === RBRACE) bail();
        op(2);
      } else op(1);
      const k = this.bracketedRun(j, EXP_PATTERN);
      if (k === j) bail();
      children.push(this.node("regex", true, j, k, []));
      return k;
    }
    if (c === SLASH) {
      // ${A/pattern/word} ${A//pattern/word}
      op(d === SLASH ? 2 : 1);
      let k = run(j, EXP_PATTERN_NO_SLASH);
      if (k === j) bail();
      children.push(this.node("regex", true, j, k, []));
      j = k;
      if (this.code(j) !== SLASH) return j;
      op(1);
      k = run(j, EXP_REPLACEMENT);
      if (k === j) return j;
      const lead = run(j, IDENT);
      if (lead > j && this.code(lead) === MINUS) bail();
      children.push(this.node(NUMBER.test(s.slice(j, k)) ? "number" : "word", true, j, k, []));
      return k;
    }
    bail();
  }

  /**
   * `${A:-`cmd`}`: the scanner reads the backticks and what they hold as one
   * word when nothing in them is a quote or an expansion (then bails).
   */
  private backtickWord(j: number, children: ShellNode[]): number {
    const close = this.s.indexOf("}", j);
    if (close < j + 2 || this.code(close - 1) !== BACKTICK) bail();
    for (let k = j + 1; k < close - 1; k++) {
      const c = this.s.charCodeAt(k);
      if (c >= 128 || c === LF || c === BACKTICK || c === BACKSLASH || SPECIAL_IN_BACKTICK_WORD[c]) bail();
    }
    children.push(this.node("word", true, j, close, []));
    return close;
  }

  /**
   * The end of a run of characters in `set` and bracket expressions
   * (`[a-z]`, `[^0-9.]`, `[[:digit:]]`) from k; the scanner's regex ends at
   * a `]` it cannot match, so that ends the run too.
   */
  private bracketedRun(k: number, set: Uint8Array): number {
    const s = this.s;
    let depth = 0;
    for (;;) {
      const c = k < this.n ? s.charCodeAt(k) : -1;
      if (c === LBRACKET) depth++;
      else if (c === RBRACKET) {
        if (depth === 0) return k;
        depth--;
      } else if (c === -1 || c >= 128 || !(set[c] || (depth > 0 && IN_BRACKETS[c]))) {
        if (depth > 0) bail();
        return k;
      }
      k++;
    }
  }

  /**
   * `$(( a + 1 ))` starting at `$`; the node starts at `from`. One
   * expression of `+ - * /` (left-associative, `* /` binding tighter) over
   * numbers, names, `$x`, `${x}` and `$(...)`.
   */
  private arithmeticExpansion(from: number): ShellNode {
    const open = this.i;
    if (this.inBacktick) bail();
    const children = [this.token("$((", from, open + 3)];
    this.i = open + 3;
    children.push(this.arithmeticSum());
    this.arithmeticBlanks();
    const close = this.i;
    if (this.code(close) !== RPAREN || this.code(close + 1) !== RPAREN) bail();
    children.push(this.token("))", close, close + 2));
    this.i = close + 2;
    return this.node("arithmetic_expansion", true, from, close + 2, children);
  }

  private arithmeticBlanks(): void {
    while (isBlank(this.code(this.i))) this.i++;
  }

  /** `a + b - c`: products joined by `+` and `-`, nesting to the left. */
  private arithmeticSum(): ShellNode {
    return this.arithmeticChain(PLUS, MINUS, () => this.arithmeticProduct());
  }

  /** `a * b / c` */
  private arithmeticProduct(): ShellNode {
    return this.arithmeticChain(STAR, SLASH, () => this.arithmeticOperand());
  }

  /** Operands joined by either of two operators of one precedence, nesting to the left. */
  private arithmeticChain(op1: number, op2: number, operand: () => ShellNode): ShellNode {
    let left = operand();
    for (;;) {
      const c = this.arithmeticOperator();
      if (c !== op1 && c !== op2) return left;
      left = this.arithmeticBinary(left, operand);
    }
  }

  /** The one-character operator after the blanks here (-1 at `))`); bails on longer ones. */
  private arithmeticOperator(): number {
    this.arithmeticBlanks();
    const c = this.code(this.i);
    if (c === RPAREN) return -1;
    if (!(c === PLUS || c === MINUS || c === STAR || c === SLASH)) bail();
    // `++`, `**`, `+=`, ...
    const d = this.code(this.i + 1);
    if (d === c || d === EQ) bail();
    return c;
  }

  /** `left <op> right` at the operator. */
  private arithmeticBinary(left: ShellNode, readRight: () => ShellNode): ShellNode {
    const op = this.token(this.s[this.i], this.i, this.i + 1);
    op.field = "operator";
    this.i++;
    const right = readRight();
    left.field = "left";
    right.field = "right";
    return this.wrap("binary_expression", [left, op, right]);
  }

  /** A number, a name, `$x`, `${x}` or `$(...)`. */
  private arithmeticOperand(): ShellNode {
    const s = this.s;
    this.arithmeticBlanks();
    const start = this.i;
    const c = this.code(start);
    let operand: ShellNode;
    if (c === DOLLAR) {
      const d = this.code(start + 1);
      if (d === LPAREN && this.code(start + 2) === LPAREN) bail();
      if (d === LBRACE) operand = this.expansion(start);
      else if (d === LPAREN) operand = this.commandSubstitution(start);
      else {
        if (!(d >= 0 && d < 128 && IDENT[d] && !(d >= ZERO && d <= NINE))) bail();
        operand = this.simpleExpansion(start);
      }
    } else if (c >= 0 && c < 128 && IDENT[c]) {
      let j = start + 1;
      while (j < this.n && IDENT[s.charCodeAt(j)]) j++;
      const digits = /^[0-9]+$/.test(s.slice(start, j));
      if (c >= ZERO && c <= NINE && !digits) bail();
      operand = this.node(digits ? "number" : "variable_name", true, start, j, []);
      this.i = j;
    } else bail();
    // What follows a name or number changes how the scanner reads it (`2%3`).
    const e = this.code(this.i);
    if (!(isBlank(e) || e === PLUS || e === MINUS || e === STAR || e === SLASH || e === RPAREN)) bail();
    return operand;
  }

  /** `$( statements )` starting at `$`; the node starts at `from`. */
  private commandSubstitution(from: number): ShellNode {
    const open = this.i;
    if (this.code(open + 2) === LPAREN || this.inBacktick) bail();
    const children = [this.token("$(", from, open + 2)];
    this.i = open + 2;
    this.skip();
    if (this.code(this.i) === RPAREN) bail();
    const inName = this.inName;
    this.inName = false;
    this.nested++;
    this.statements(children, RPAREN);
    this.nested--;
    this.inName = inName;
    const close = this.i;
    children.push(this.token(")", close, close + 1));
    this.i = close + 1;
    return this.node("command_substitution", true, from, close + 1, children);
  }

  /** `` `statements` `` starting at the backtick; the node starts at `from`. */
  private backtickSubstitution(from: number): ShellNode {
    const open = this.i;
    if (this.inBacktick || this.code(open + 1) === BACKTICK) bail();
    const children = [this.token("`", from, open + 1)];
    this.i = open + 1;
    this.skip();
    const inName = this.inName;
    this.inName = false;
    this.inBacktick = true;
    this.nested++;
    this.statements(children, BACKTICK);
    this.nested--;
    this.inBacktick = false;
    this.inName = inName;
    const close = this.i;
    // `a` `b` (blanks only between): tree-sitter reads "` `" as one token.
    let j = close + 1;
    for (;;) {
      const c = this.code(j);
      if (c === SPACE || c === TAB || c === LF) j++;
      else break;
    }
    if (this.code(j) === BACKTICK) bail();
    children.push(this.token("`", close, close + 1));
    this.i = close + 1;
    return this.node("command_substitution", true, from, close + 1, children);
  }

  /** `"..."`. Blanks (and continuations) after the opening quote or an expansion belong to the next token. */
  private string(): ShellNode {
    const start = this.i;
    const children = [this.token('"', start, start + 1)];
    let i = start + 1;
    let fresh = true;
    for (;;) {
      let j = i;
      if (fresh) {
        for (;;) {
          const c = this.code(j);
          if (c === SPACE || c === TAB) j++;
          else if (c === BACKSLASH && this.code(j + 1) === LF) j += 2;
          else break;
        }
      }
      const c = this.code(j);
      if (c === DQUOTE) {
        children.push(this.token('"', i, j + 1));
        this.i = j + 1;
        return this.node("string", true, start, j + 1, children);
      }
      if (c === DOLLAR) {
        const d = this.code(j + 1);
        this.i = j;
        let part: ShellNode;
        if (d === LBRACE) part = this.expansion(i);
        else if (d === LPAREN && this.code(j + 2) === LPAREN) part = this.arithmeticExpansion(i);
        else if (d === LPAREN) part = this.commandSubstitution(i);
        else if (d === DQUOTE) {
          children.push(this.token("$", i, j + 1));
          children.push(this.token('"', j + 1, j + 2));
          this.i = j + 2;
          return this.node("string", true, start, j + 2, children);
        } else if (d > 0 && d < 128 && BARE_DOLLAR_BEFORE[d]) {
          // `"s/x$/y/"`: a `$` token, and the text goes on.
          if (j !== i) bail();
          children.push(this.token("$", j, j + 1));
          i = j + 1;
          fresh = false;
          continue;
        } else part = this.simpleExpansion(i);
        children.push(part);
        i = this.i;
        fresh = true;
        continue;
      }
      if (c === BACKTICK) {
        this.i = j;
        children.push(this.backtickSubstitution(i));
        i = this.i;
        fresh = true;
        continue;
      }
      if (c === -1 || c === LF || c === 13) bail();
      if (c === BACKSLASH) {
        const d = this.code(j + 1);
        if (d === SPACE || d === TAB) bail();
      }
      // string_content: everything up to ", $ or `, with backslash escapes.
      let k = j;
      for (;;) {
        const e = this.code(k);
        if (e === DQUOTE || e === DOLLAR || e === BACKTICK) break;
        if (e === -1 || e === LF || e === 13) bail();
        if (e === BACKSLASH) {
          if (k + 1 >= this.n) bail();
          k += 2;
          continue;
        }
        k++;
      }
      children.push(this.node("string_content", true, i, k, []));
      i = k;
      fresh = false;
    }
  }
}

/** Recomputes the ends of lists, pipelines and redirected statements along the right edge. */
function fixSpine(node: ShellNode): void {
  const t = node.type;
  if (t !== "list" && t !== "pipeline" && t !== "redirected_statement") return;
  const last = node.children[node.children.length - 1];
  fixSpine(last);
  node.end = last.end;
}
