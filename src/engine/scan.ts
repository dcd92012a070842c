/**
 * A fast Dockerfile scanner that reads the text exactly as dockerfile-ast
 * 0.7 does, without building its object tree or converting offsets to
 * line/character positions and back (the bulk of its cost).
 *
 * Each function below mirrors one dockerfile-ast routine, quirks included
 * (named in its comment), because the models built from either must be
 * identical: test/parse-fast.test.ts checks that on every fixture and corpus
 * file. Inputs whose reading would need more of dockerfile-ast than mirrored
 * here return null, and the caller parses them with dockerfile-ast:
 * heredocs, a RUN on which dockerfile-ast throws, a lone `\r` line break
 * (dockerfile-ast counts it as a line, dfopt does not), a BOM left after
 * decoding.
 */
import type { FlagInfo, Span, Word } from "./parse.ts";
import { lineAt } from "./source.ts";

/** What the model builder needs to know about one instruction. */
export interface ScannedInstr {
  /** Upper-case keyword. */
  keyword: string;
  keywordSpan: Span;
  range: Span;
  flags: FlagInfo[];
  /** Arguments after the flags. */
  args: Word[];
  execForm: boolean;
  hasHeredoc: boolean;
  /** FROM only. */
  from: FromParts | null;
}

export interface FromParts {
  stageName: string | null;
  stageNameSpan: Span | null;
  image: string | null;
  imageSpan: Span | null;
}

export interface ScannedComment extends Span {
  line: number;
}

export interface ScannedFile {
  escapeChar: string;
  /** Where the body starts, after the parser directives (fast scans only). */
  bodyStart?: number;
  instructions: ScannedInstr[];
  comments: ScannedComment[];
}

/** dfopt's test for a COPY/ADD heredoc (dockerfile-ast only detects RUN ones). */
export function copyAddHeredoc(keyword: string, instrText: string): boolean {
  return (keyword === "COPY" || keyword === "ADD") && /<<-?["']?[A-Za-z_]/.test(instrText);
}

/** Instructions dockerfile-ast reads as JSONInstruction (exec form possible). */
const JSON_KEYWORDS = new Set(["ADD", "COPY", "CMD", "ENTRYPOINT", "RUN", "SHELL", "VOLUME"]);

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const HASH = 35;
const DOLLAR = 36;
const isBlank = (c: number) => c === SPACE || c === TAB;
const isBreak = (c: number) => c === LF || c === CR;

/** Returns null when the text is left to dockerfile-ast. */
export function scanDockerfile(text: string, lineStarts: readonly number[]): ScannedFile | null {
  if (!fastScannable(text)) return null;
  const { escapeChar, count } = readDirectives(text);
  const scanner = new Scanner(text, escapeChar, lineStarts);
  // The body starts on the line after the last directive (Parser.parse).
  const bodyStart = count > 0 ? (lineStarts[count] ?? text.length) : 0;
  if (scanItems(scanner, bodyStart, () => false) === -1) return null;
  return { escapeChar, bodyStart, instructions: scanner.instructions, comments: scanner.comments };
}

const fastScannable = (text: string) => text.charCodeAt(0) !== 0xfeff && !/\r(?!\n)/.test(text);

/**
 * The scanner's top level from `from`: skips blanks and line breaks, reads
 * comments and instructions. Stops before an instruction starting at an
 * offset `stopAt` accepts and returns that offset; returns the text's length
 * at its end and -1 to fall back.
 */
function scanItems(scanner: Scanner, from: number, stopAt: (offset: number) => boolean): number {
  const text = scanner.text;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isBlank(c) || isBreak(c)) continue;
    if (c === HASH) {
      i = scanner.comment(i);
    } else {
      if (stopAt(i)) return i;
      i = scanner.instruction(i);
      if (i < 0) return -1;
    }
  }
  return text.length;
}

/** A rescan after edits: the scanned file, and how many instructions at its start are the previous scan's own. */
export interface Rescan {
  scanned: ScannedFile;
  keptInstructions: number;
  /**
   * The old instructions read again as they were, only moved by `delta`: the
   * previous scan's instructions from `from` on are this scan's from `to` on.
   */
  movedTail: MovedTail | null;
}

export interface MovedTail {
  from: number;
  to: number;
  delta: number;
}

/**
 * Scans `text`, the result of applying `edits` (offsets in the previous text)
 * to a text scanned as `prev`, reading again only what the edits can change.
 *
 * The scanner reads an instruction from its keyword up to the line break
 * that ends it and nothing beyond, and its top level carries no state from
 * one instruction to the next. So every instruction that starts before the
 * instruction holding the first edit reads the same, and once the rescan
 * reaches, at its top level, the start of an old instruction that lies wholly
 * after the last edit, the rest reads as before, moved by the edits' length
 * change. Returns null when the text needs a full scan: the edits change the
 * parser directives, or the text is left to dockerfile-ast.
 */
export function rescanDockerfile(
  prev: ScannedFile,
  prevLineStarts: readonly number[],
  text: string,
  lineStarts: readonly number[],
  edits: ReadonlyArray<Span & { text: string }>,
): Rescan | null {
  if (edits.length === 0 || !fastScannable(text)) return null;
  let first = Infinity;
  let last = -Infinity;
  let delta = 0;
  for (const e of edits) {
    if (e.start < first) first = e.start;
    if (e.end > last) last = e.end;
    delta += e.text.length - (e.end - e.start);
  }
  const old = prev.instructions;
  // Rescanning begins with the last instruction that starts before the first
  // edit, or at the body's start when the edits leave the directives as they were.
  let kept = 0;
  while (kept < old.length && old[kept].range.start < first) kept++;
  let from: number;
  if (kept > 0) {
    kept--;
    from = old[kept].range.start;
  } else {
    if (prev.bodyStart === undefined || first < prev.bodyStart) return null;
    const { escapeChar, count } = readDirectives(text);
    const bodyStart = count > 0 ? (lineStarts[count] ?? text.length) : 0;
    if (escapeChar !== prev.escapeChar || bodyStart !== prev.bodyStart) return null;
    from = bodyStart;
  }
  const scanner = new Scanner(text, prev.escapeChar, lineStarts);
  // Old instructions the rescan may meet again, unchanged, and resume from.
  let next = kept;
  const resumeAt = (offset: number): boolean => {
    while (next < old.length && (old[next].range.start < last || old[next].range.start + delta < offset))
      next++;
    return next < old.length && old[next].range.start + delta === offset;
  };
  const stop = scanItems(scanner, from, resumeAt);
  if (stop === -1) return null;
  const instructions = old.slice(0, kept);
  const comments: ScannedComment[] = [];
  for (const c of prev.comments) {
    if (c.start >= from) break;
    comments.push(c);
  }
  instructions.push(...scanner.instructions);
  comments.push(...scanner.comments);
  let movedTail: MovedTail | null = null;
  if (stop < text.length) {
    movedTail = { from: next, to: instructions.length, delta };
    const resumeOld = old[next].range.start;
    const lineDelta = lineAt(lineStarts, stop) - lineAt(prevLineStarts, resumeOld);
    for (let k = next; k < old.length; k++) instructions.push(movedInstr(old[k], delta));
    for (const c of prev.comments) {
      if (c.start >= resumeOld)
        comments.push({ start: c.start + delta, end: c.end + delta, line: c.line + lineDelta });
    }
  }
  return {
    scanned: { escapeChar: prev.escapeChar, bodyStart: prev.bodyStart, instructions, comments },
    keptInstructions: kept,
    movedTail,
  };
}

const moved = (s: Span, delta: number): Span => ({ start: s.start + delta, end: s.end + delta });

function movedInstr(instr: ScannedInstr, delta: number): ScannedInstr {
  const from = instr.from;
  return {
    keyword: instr.keyword,
    keywordSpan: moved(instr.keywordSpan, delta),
    range: moved(instr.range, delta),
    flags: instr.flags.map((f) => ({
      start: f.start + delta,
      end: f.end + delta,
      name: f.name,
      value: f.value,
    })),
    args: instr.args.map((a) => ({ start: a.start + delta, end: a.end + delta, value: a.value })),
    execForm: instr.execForm,
    hasHeredoc: instr.hasHeredoc,
    from: from && {
      stageName: from.stageName,
      stageNameSpan: from.stageNameSpan && moved(from.stageNameSpan, delta),
      image: from.image,
      imageSpan: from.imageSpan && moved(from.imageSpan, delta),
    },
  };
}

/**
 * Parser.getParserDirectives + Dockerfile.getEscapeCharacter: leading
 * `# name=value` lines. Any name counts as a directive line (and is skipped
 * by the body scan); a blank line, a plain comment or an instruction ends
 * them. Whitespace after a value lets a second `#` on the same line start
 * another directive, which is why `count` can exceed the lines they use.
 */
function readDirectives(text: string): { escapeChar: string; count: number } {
  let count = 0;
  let escapeChar: string | null = null;
  directives: for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === " " || c === "\t") continue;
    if (c !== "#") break;
    let nameStart = -1;
    let nameEnd = -1;
    for (let j = i + 1; j < text.length; j++) {
      const d = text[j];
      if (d === " " || d === "\t") {
        if (nameStart !== -1 && nameEnd === -1) nameEnd = j;
      } else if (d === "\r" || d === "\n") {
        break directives;
      } else if (d === "=") {
        if (nameEnd === -1) nameEnd = j;
        if (nameStart === -1) break directives;
        const value = directiveValue(text, j + 1);
        const name = text.slice(nameStart, nameEnd).toLowerCase();
        const v = text.slice(value.start, value.end);
        if (escapeChar === null && name === "escape" && (v === "\\" || v === "`")) escapeChar = v;
        count++;
        i = text[value.end] === "\r" ? value.end + 1 : value.end;
        continue directives;
      } else if (nameStart === -1) {
        nameStart = j;
      }
    }
    // A `#` line without `=` reaching the end of the text: nothing follows.
    break;
  }
  return { escapeChar: escapeChar ?? "\\", count };
}

/** A directive's value: its first word, or all the blanks after `=` when there is none. */
function directiveValue(text: string, from: number): Span {
  let start = -1;
  let end = -1;
  let k = from;
  for (; k < text.length && text[k] !== "\r" && text[k] !== "\n"; k++) {
    const blank = text[k] === " " || text[k] === "\t";
    if (!blank && start === -1) start = k;
    else if (blank && start !== -1 && end === -1) end = k;
  }
  if (start === -1) return { start: from, end: k };
  return { start, end: end === -1 ? k : end };
}

class Scanner {
  readonly instructions: ScannedInstr[] = [];
  readonly comments: ScannedComment[] = [];

  private readonly escCode: number;

  constructor(
    readonly text: string,
    private readonly esc: string,
    private readonly lineStarts: readonly number[],
  ) {
    this.escCode = esc.charCodeAt(0);
  }

  /** Parser.processComment: to the end of the line; returns the line break's offset. */
  comment(start: number): number {
    const text = this.text;
    let end = start + 1;
    while (end < text.length && !isBreak(text.charCodeAt(end))) end++;
    this.comments.push({ start, end, line: lineAt(this.lineStarts, start) + 1 });
    return end;
  }

  /**
   * Parser.processInstruction: reads the keyword (escaped line breaks inside
   * it are skipped, so `RU\⏎N` reads `RUN`), then the arguments. Returns the
   * offset where the instruction ends, or -1 to fall back.
   */
  instruction(start: number): number {
    const { text, esc } = this;
    // Most keywords are a plain word ended by a blank, a line break or the
    // end of the text: the loop below would read them one character at a time.
    let plainEnd = start + 1;
    for (; plainEnd < text.length; plainEnd++) {
      const c = text.charCodeAt(plainEnd);
      if (c === this.escCode || isBlank(c) || isBreak(c)) break;
    }
    if (plainEnd === text.length) return this.add(text.slice(start), start, plainEnd, plainEnd);
    const stop = text.charCodeAt(plainEnd);
    if (isBlank(stop))
      return this.add(text.slice(start, plainEnd), start, plainEnd, this.argumentsEnd(plainEnd));
    if (isBreak(stop)) return this.add(text.slice(start, plainEnd), start, plainEnd, plainEnd);
    let keyword = text[start];
    let keywordEnd = -1;
    let escaped = false;
    for (let i = start + 1; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === this.escCode) {
        escaped = true;
        const next = text.charCodeAt(i + 1);
        if (isBreak(next)) {
          if (keywordEnd === -1) keywordEnd = i;
          i++;
          continue;
        }
        if (isBlank(next)) {
          const j = skipBlanks(text, i + 2);
          if (j === text.length) return this.add(keyword + esc, start, i + 1, text.length);
          if (isBreak(text.charCodeAt(j))) {
            i = j;
          } else {
            keywordEnd = i + 1;
            keyword += esc;
            i = j - 2;
          }
          continue;
        }
        keywordEnd = i + 1;
        keyword += esc;
        escaped = false;
      } else if (isBlank(c)) {
        if (escaped) {
          // After an escaped line break, blanks up to another line break are skipped.
          const j = skipBlanks(text, i + 1);
          if (isBreak(text.charCodeAt(j))) {
            i = j;
            continue;
          }
        }
        if (keywordEnd === -1) keywordEnd = i;
        return this.add(keyword, start, keywordEnd, this.argumentsEnd(i));
      } else if (isBreak(c)) {
        if (escaped) continue;
        return this.add(keyword, start, i, i);
      } else if (c === HASH && escaped) {
        continue;
      } else {
        keywordEnd = i + 1;
        keyword += text[i];
        escaped = false;
      }
    }
    return this.add(keyword, start, keywordEnd === -1 ? text.length : keywordEnd, text.length);
  }

  /**
   * Parser.processArguments: the first line break not escaped ends the
   * instruction. Comment lines inside a continuation are comments; an escape
   * character followed by anything but blanks and a line break does not
   * reset `escaped`, nor does a comment.
   */
  private argumentsEnd(from: number): number {
    const text = this.text;
    let escaped = false;
    for (let i = from + 1; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (isBreak(c)) {
        if (!escaped) return i;
      } else if (c === this.escCode) {
        const next = text.charCodeAt(i + 1);
        if (isBreak(next)) {
          escaped = true;
          i++;
        } else if (isBlank(next)) {
          const j = skipBlanks(text, i + 2);
          if (j === text.length) return text.length;
          if (isBreak(text.charCodeAt(j))) escaped = true;
          i = j;
        }
      } else if (c === HASH) {
        if (escaped) i = this.comment(i);
      } else if (!isBlank(c)) {
        escaped = false;
      }
    }
    return text.length;
  }

  /** Parser.createInstruction + the parts of the instruction classes dfopt reads. */
  private add(written: string, start: number, keywordEnd: number, end: number): number {
    const text = this.text;
    const keyword = written.toUpperCase();
    const keywordSpan = { start, end: position(text, keywordEnd) };
    const range = { start, end: position(text, end) };
    const raw = rawArguments(text, keywordSpan.end, range.end, this.escCode);
    if (hasHeredocStart(keyword, raw, text, range)) return -1;
    const flags = flagsOf(keyword, raw, text);
    const args = flags.length > 0 ? raw.slice(flags.length) : raw;
    if (keyword === "RUN" && breaksRunHeredocs(text, args, range.end, this.escCode)) return -1;
    this.instructions.push({
      keyword,
      keywordSpan,
      range,
      flags,
      args,
      execForm: JSON_KEYWORDS.has(keyword) && isExecForm(text, args),
      hasHeredoc: hasHeredoc(keyword, args, text, range),
      from: keyword === "FROM" ? fromParts(text, args) : null,
    });
    return end;
  }
}

function skipBlanks(text: string, i: number): number {
  while (i < text.length && isBlank(text.charCodeAt(i))) i++;
  return i;
}

/**
 * An offset as it comes back from dockerfile-ast's offset → position →
 * offset round trip: an offset between `\r` and `\n` moves before the `\r`.
 */
function position(text: string, offset: number): number {
  return text.charCodeAt(offset) === LF && text.charCodeAt(offset - 1) === CR ? offset - 1 : offset;
}

/**
 * Parser.processHeredocs reads a `<<NAME` argument of RUN/COPY/ADD (also
 * behind ONBUILD) as a heredoc and extends the instruction over its body:
 * left to dockerfile-ast. `<<<` and a bare `<<` start none.
 */
function hasHeredocStart(keyword: string, raw: Word[], text: string, range: Span): boolean {
  if (keyword === "ONBUILD") return text.slice(range.start, range.end).includes("<<");
  if (keyword !== "RUN" && keyword !== "COPY" && keyword !== "ADD") return false;
  return raw.some((a) => a.value.length > 2 && a.value.startsWith("<<") && heredocName(a.value) !== null);
}

/**
 * Instr.hasHeredoc. For RUN, Run.getHeredocs on an instruction without a
 * heredoc body: still one per argument that names one; a bare `<<` names "".
 */
function hasHeredoc(keyword: string, args: Word[], text: string, range: Span): boolean {
  if (keyword === "RUN") return args.some((a) => a.value.startsWith("<<") && heredocName(a.value) !== null);
  if (keyword !== "COPY" && keyword !== "ADD") return false;
  return copyAddHeredoc(keyword, text.slice(range.start, range.end));
}

/**
 * Run.getHeredocs reads a line break it does not see as escaped as the end
 * of a heredoc line and throws when no heredoc was declared before it. Its
 * idea of "escaped" differs from the parser's (`\#` on a continuation line,
 * for one), so such a RUN is left to dockerfile-ast, which throws as before.
 */
function breaksRunHeredocs(text: string, args: Word[], end: number, esc: number): boolean {
  if (args.length === 0) return false;
  const lf = text.indexOf("\n", args[0].start);
  if (lf === -1 || lf >= end) return false;
  let escaping = false;
  scan: for (let i = args[0].start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === esc) {
      escaping = true;
      // Skips the next character that is not a blank (a whole CRLF).
      for (let j = i + 1; j < end; j++) {
        const d = text.charCodeAt(j);
        if (isBlank(d)) continue;
        i = d === CR ? j + 1 : j;
        continue scan;
      }
    } else if (c === LF) {
      if (!escaping) return true;
    } else if (c === HASH && escaping) {
      const lf = text.indexOf("\n", i + 1);
      if (lf !== -1 && lf < end) {
        i = lf;
        continue;
      }
      escaping = false;
    } else if (c !== CR && !(isBlank(c) && escaping)) {
      escaping = false;
    }
  }
  return false;
}

/** Util.parseHeredocName. */
function heredocName(value: string): string | null {
  let name = value.substring(2);
  if (name.charAt(0) === "-") name = name.substring(1);
  for (const quote of ['"', "'"]) {
    if (name.charAt(0) === quote) {
      if (name.charAt(name.length - 1) !== quote) return null;
      name = name.substring(1, name.length - 1);
    }
  }
  return name.charAt(0) === "<" ? null : name;
}

/**
 * Instruction.getRawArguments: the words after the keyword. An escaped line
 * break joins words, a `#` line inside a continuation is skipped, `\x`
 * reads `x` except `\$` which stays; a word ending at an escape character
 * ends there. Escape characters inside such comment lines are still read.
 */
function rawArguments(text: string, from: number, to: number, esc: number): Word[] {
  const args: Word[] = [];
  const value = new WordBuilder(text);
  let lineStart = false;
  let comment = false;
  let found = -1;
  let escapedBlank = false;
  let escaping = false;
  let marker = -1;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isBlank(c) || isBreak(c)) {
      if (escaping) {
        escapedBlank = isBlank(c);
        if (!escapedBlank && comment) {
          comment = false;
          lineStart = true;
        }
      } else if (found !== -1) {
        args.push(value.word(found, marker === -1 ? i : marker));
        marker = -1;
        found = -1;
      }
    } else if (c === esc) {
      const next = i + 1 < to ? text.charCodeAt(i + 1) : -1;
      if (isBlank(next)) {
        for (let j = i + 2; j < to; j++) {
          const d = text.charCodeAt(j);
          if (isBlank(d)) continue;
          if (isBreak(d)) {
            comment = false;
            escaping = true;
            lineStart = true;
            if (found !== -1) marker = i;
            i = d === CR ? j + 1 : j;
          } else {
            marker = i;
            if (found === -1) i = j - 1;
          }
          break;
        }
      } else if (isBreak(next)) {
        comment = false;
        escaping = true;
        lineStart = true;
        if (found !== -1 && marker === -1) marker = i;
        i += next === CR ? 2 : 1;
      } else {
        if (escapedBlank && marker !== -1) {
          // May push an empty word that dockerfile-ast starts one before `from`.
          args.push(value.word(found === -1 ? from - 1 : found, marker));
          found = -1;
        }
        marker = -1;
        escapedBlank = false;
        escaping = false;
        if (next === -1) break;
        if (next === DOLLAR) value.add(i);
        value.add(i + 1);
        if (found === -1) found = i;
        i++;
      }
    } else if (!comment) {
      if (lineStart && c === HASH) {
        comment = true;
      } else {
        if (escapedBlank && marker !== -1) {
          // May push an empty word that dockerfile-ast starts one before `from`.
          args.push(value.word(found === -1 ? from - 1 : found, marker));
          found = -1;
        }
        escapedBlank = false;
        escaping = false;
        marker = -1;
        value.add(i);
        if (found === -1) found = i;
        // The plain characters that follow would each take this branch again.
        let j = i + 1;
        while (j < to) {
          const d = text.charCodeAt(j);
          if (d === SPACE || d === TAB || d === LF || d === CR || d === esc) break;
          j++;
        }
        value.extend(j);
        i = j - 1;
      }
      lineStart = false;
    }
  }
  if (found !== -1) args.push(value.word(found, marker === -1 ? to : marker));
  return args;
}

/** Builds a word's value, as slices of the text while its characters are contiguous. */
class WordBuilder {
  private done = "";
  private start = 0;
  private end = 0;

  constructor(private readonly text: string) {}

  /** Appends the character at offset `i`. */
  add(i: number): void {
    if (i !== this.end) {
      this.done += this.text.slice(this.start, this.end);
      this.start = i;
    }
    this.end = i + 1;
  }

  /** Appends the characters up to `end`, which follow the last one added. */
  extend(end: number): void {
    this.end = end;
  }

  /** The word from `start` to `end` with the characters added so far; starts a new one. */
  word(start: number, end: number): Word {
    const value = this.done + this.text.slice(this.start, this.end);
    this.done = "";
    this.start = this.end = 0;
    return { start: position(this.text, start), end: position(this.text, end), value };
  }
}

/**
 * ModifiableInstruction.getFlags: leading `--` words. RUN/COPY/ADD/FROM stop
 * at the first word without `--` anywhere (a word like `a--b` is skipped, not
 * a stop), HEALTHCHECK at CMD/NONE; CMD/ENTRYPOINT/SHELL/VOLUME and the
 * rest have none. The name/value split compares offsets in the raw text
 * with the unescaped value, as dockerfile-ast does.
 */
function flagsOf(keyword: string, raw: Word[], text: string): FlagInfo[] {
  const healthcheck = keyword === "HEALTHCHECK";
  if (!healthcheck && keyword !== "RUN" && keyword !== "COPY" && keyword !== "ADD" && keyword !== "FROM") {
    return [];
  }
  const flags: FlagInfo[] = [];
  for (const arg of raw) {
    const value = arg.value;
    const upper = healthcheck ? value.toUpperCase() : "";
    if (healthcheck ? upper === "CMD" || upper === "NONE" : !value.includes("--")) break;
    if (!value.startsWith("--")) continue;
    const index = text.slice(arg.start, arg.end).indexOf("=");
    const flag = { start: arg.start, end: arg.end };
    if (index === -1) {
      flags.push({ ...flag, name: value.substring(2), value: null });
    } else if (index === value.length - 1) {
      flags.push({ ...flag, name: value.substring(2, index), value: "" });
    } else {
      const nameIndex = value.indexOf("=");
      flags.push({ ...flag, name: value.substring(2, nameIndex), value: value.substring(nameIndex + 1) });
    }
  }
  return flags;
}

/**
 * JSONInstruction's constructor: whether both brackets of a JSON array are
 * found. It reads the raw text, where only `\` (whatever the escape
 * character) continues a line, and stops at the first thing that is not
 * JSON-like; a `]` after `[` or `,` still closes.
 */
function isExecForm(text: string, args: Word[]): boolean {
  if (args.length === 0) return false;
  if (args.length === 1 && args[0].value === "[]") return true;
  if (args.length === 2 && args[0].value === "[" && args[1].value === "]") return true;
  const content = text.slice(args[0].start, args[args.length - 1].end);
  let last = "";
  let quoted = false;
  for (let i = 0; i < content.length; i++) {
    const c = content[i];
    if (c === "[") {
      if (last === "") last = "[";
      else if (!quoted) return false;
    } else if (c === '"') {
      if (last === "[" || last === ",") {
        quoted = true;
        last = '"';
      } else if (last === '"' && quoted) {
        quoted = false;
      } else {
        return false;
      }
    } else if (c === ",") {
      if (quoted) continue;
      if (last !== '"') return false;
      last = ",";
    } else if (c === "]") {
      if (!quoted && last !== "") return true;
    } else if (c === "\\") {
      const next = content[i + 1];
      if (quoted && next !== " " && next !== "\t") {
        i += next === "\r" ? 2 : 1;
        continue;
      }
      // Outside a string, or blanks inside one: only a line continuation goes on.
      const j = skipBlanks(content, i + (quoted ? 2 : 1));
      if (j < content.length && (content[j] === "\r" || content[j] === "\n")) {
        i = content[j] === "\r" ? j + 1 : j;
        continue;
      }
      return false;
    } else if (c !== " " && c !== "\t" && !quoted) {
      return false;
    }
  }
  return false;
}

/** From.getBuildStage / getImage and their ranges. */
function fromParts(text: string, args: Word[]): FromParts {
  const named = args.length > 2 && args[1].value.toUpperCase() === "AS";
  return {
    stageName: named ? text.slice(args[2].start, args[2].end) : null,
    stageNameSpan: named ? { start: args[2].start, end: args[2].end } : null,
    image: args.length > 0 ? args[0].value : null,
    imageSpan: args.length > 0 ? { start: args[0].start, end: args[0].end } : null,
  };
}
