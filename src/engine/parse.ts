import { splitImage } from "./image-ref.ts";
import { NotLoadedYet } from "./lazy.ts";
import {
  rescanDockerfile,
  scanDockerfile,
  type FromParts,
  type MovedTail,
  type ScannedFile,
  type ScannedInstr,
} from "./scan.ts";
import { moveScriptInPlace, type ShellScript } from "./shell.ts";
import { computeLineStarts, decodeSource, lineAt, type SourceText } from "./source.ts";

export const KNOWN_INSTRUCTIONS = new Set([
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

export interface Span {
  start: number;
  end: number;
}

export interface Word extends Span {
  /** The value with escapes and continuations removed, as dockerfile-ast reads it. */
  value: string;
}

export interface FlagInfo extends Span {
  name: string;
  value: string | null;
}

export interface Instr extends Span {
  /** Upper-case keyword. */
  keyword: string;
  /** Keyword exactly as written (for matching the file's case). */
  keywordText: string;
  keywordSpan: Span;
  /** 1-based line of the keyword. */
  line: number;
  /** 1-based last line (including heredoc bodies). */
  endLine: number;
  /** Index of the stage this instruction belongs to; -1 before the first FROM. */
  stage: number;
  flags: FlagInfo[];
  /** Arguments after the flags. */
  args: Word[];
  /** Span of everything after the keyword and flags (null when empty). */
  argsSpan: Span | null;
  /** Exec (JSON) form: both brackets present. */
  execForm: boolean;
  hasHeredoc: boolean;
  /** The exact source text of the instruction. */
  text: string;
  /**
   * shellOf's reading of the instruction, kept on it once asked for (undefined
   * until then). A field, not a WeakMap: every edit makes new instructions,
   * and a WeakMap's entries cost every young-generation GC (~2% of a bulk run).
   */
  shellScript: ShellScript | null | undefined;
}

export interface ImageRef {
  /** The image as written, e.g. `node:${V}`. */
  raw: string;
  rawSpan: Span;
  /** After expanding ARGs declared before the first FROM. */
  expanded: string;
  /** Registry + repository, without tag or digest (expanded). */
  name: string;
  tag: string | null;
  digest: string | null;
  usesVariables: boolean;
}

export interface Stage {
  index: number;
  from: Instr;
  /** `AS name`, as written; null when unnamed. */
  name: string | null;
  nameSpan: Span | null;
  image: ImageRef | null;
  /** Instructions after FROM, up to the next FROM. */
  instructions: Instr[];
}

export interface CommentLine extends Span {
  line: number;
  text: string;
}

export interface DockerfileModel {
  source: SourceText;
  text: string;
  escapeChar: string;
  lineStarts: number[];
  instructions: Instr[];
  /** ARG instructions before the first FROM. */
  globalArgs: Instr[];
  /** Values of the ARGs before the first FROM (null when declared without default). */
  globalArgValues: Map<string, string | null>;
  stages: Stage[];
  comments: CommentLine[];
  /** 1-based line number of an offset. */
  lineOf(offset: number): number;
  /** Offset of the start of a 1-based line. */
  lineStart(line: number): number;
  /** Offset just past the end of the line containing `offset`, including its line ending. */
  lineEndIncludingEol(offset: number): number;
}

let fastParse = true;

/** Tests only: `false` makes every parse go through dockerfile-ast, to compare the two. */
export function setFastParse(on: boolean): void {
  fastParse = on;
}

export function parseDockerfile(raw: string): DockerfileModel {
  return parseSource(decodeSource(raw));
}

/** Parses with the fast scanner, or with dockerfile-ast for the inputs the scanner leaves to it. */
export function parseSource(source: SourceText): DockerfileModel {
  const lineStarts = computeLineStarts(source.text);
  const fast = fastParse ? scanDockerfile(source.text, lineStarts) : null;
  const model = buildModel(source, fast ?? scanWithDockerfileAst(source.text, lineStarts), lineStarts);
  lastScan = fast && { model, scanned: fast };
  return model;
}

// What the fast scanner read for the model parsed last, so that a parse after
// edits to it (the engine's next parse, as a rule) reads only what they
// change. One slot, not a map: nothing of earlier models stays alive.
let lastScan: { model: DockerfileModel; scanned: ScannedFile } | null = null;

let checkEditedParses = false;

/** Tests only: `true` makes every parseEdited compare its model with a full parse and throw on a difference. */
export function setCheckEditedParses(on: boolean): void {
  checkEditedParses = on;
}

/**
 * Parses `source`, the text of `prev` after `edits` (offsets in `prev.text`),
 * as parseSource would, reading again only the instructions the edits can
 * change. Instructions before the first edit keep their objects, and so
 * whatever is cached for them.
 */
export function parseEdited(
  prev: DockerfileModel,
  source: SourceText,
  edits: ReadonlyArray<Span & { text: string }>,
): DockerfileModel {
  const prevScan = fastParse && lastScan?.model === prev ? lastScan.scanned : null;
  if (!prevScan) return parseSource(source);
  const lineStarts = computeLineStarts(source.text);
  const rescan = rescanDockerfile(prevScan, prev.lineStarts, source.text, lineStarts, edits);
  if (!rescan) return parseSource(source);
  const kept = prev.instructions.slice(0, rescan.keptInstructions);
  const model = buildModel(source, rescan.scanned, lineStarts, kept);
  if (rescan.movedTail) handOverShellScripts(prev, model, rescan.movedTail);
  handOverRereadScripts(prev, model, rescan.keptInstructions, rescan.movedTail);
  if (checkEditedParses) {
    const full = parseSource(source);
    if (modelShape(full) !== modelShape(model)) {
      throw new Error(
        `parseEdited read differently from a full parse:\n${modelShape(model)}\n---\n${modelShape(full)}`,
      );
    }
    const misplaced = misplacedShellWord(model);
    if (misplaced) throw new Error(`parseEdited left a shell script out of place: ${misplaced}`);
  }
  lastScan = { model, scanned: rescan.scanned };
  return model;
}

/**
 * An instruction after the edits reads as before, only moved: its shell
 * script moves with it, in place, rather than as a copy (copies were ~7% of
 * the engine's time and a quarter of what survived young-generation GCs).
 * The old instruction gives it up, so that were the old model used again
 * (a rewrite rolled back), it would parse its script anew.
 */
function handOverShellScripts(prev: DockerfileModel, next: DockerfileModel, moved: MovedTail): void {
  const count = prev.instructions.length - moved.from;
  for (let k = 0; k < count; k++) {
    const old = prev.instructions[moved.from + k];
    const script = old.shellScript;
    if (script === undefined) continue;
    const instr = next.instructions[moved.to + k];
    if (moved.delta === 0) {
      instr.shellScript = script;
      continue;
    }
    old.shellScript = undefined;
    instr.shellScript = script && moveScriptInPlace(script, moved.delta);
  }
}

/**
 * The instructions the rescan read again between the edits: one whose text
 * is an old one's unchanged (a transform edited instructions around it) takes
 * over the old one's script, moved in place, as the moved tail does, instead
 * of a copy of it from parseShell's reuse.
 */
function handOverRereadScripts(
  prev: DockerfileModel,
  next: DockerfileModel,
  kept: number,
  moved: MovedTail | null,
): void {
  const oldEnd = moved ? moved.from : prev.instructions.length;
  const newEnd = moved ? moved.to : next.instructions.length;
  let old: Map<string, Instr[]> | null = null;
  for (let k = kept; k < oldEnd; k++) {
    const instr = prev.instructions[k];
    if (instr.shellScript === undefined) continue;
    old ??= new Map();
    const same = old.get(instr.text);
    if (same) same.push(instr);
    else old.set(instr.text, [instr]);
  }
  if (!old) return;
  for (let k = kept; k < newEnd; k++) {
    const instr = next.instructions[k];
    const from = old.get(instr.text)?.shift();
    if (!from) continue;
    const script = from.shellScript!;
    const delta = instr.start - from.start;
    from.shellScript = undefined;
    instr.shellScript = script && delta !== 0 ? moveScriptInPlace(script, delta) : script;
  }
}

/** A word of a shell script already kept on an instruction that its text no longer holds there. */
function misplacedShellWord(model: DockerfileModel): string | null {
  for (const instr of model.instructions) {
    for (const command of instr.shellScript?.commands ?? []) {
      for (const w of [...command.words, ...command.assignments]) {
        const there = model.text.slice(w.start, w.end);
        if (there !== w.raw)
          return `line ${instr.line}: ${JSON.stringify(w.raw)} reads ${JSON.stringify(there)}`;
      }
    }
  }
  return null;
}

/** Everything a model says, as text, for comparing two parses. */
export function modelShape(model: DockerfileModel): string {
  const withoutMemo = (key: string, value: unknown) => (key === "shellScript" ? undefined : value);
  return JSON.stringify(
    {
      escapeChar: model.escapeChar,
      lineStarts: model.lineStarts,
      instructions: model.instructions,
      globalArgs: model.globalArgs,
      globalArgValues: [...model.globalArgValues],
      stages: model.stages,
      comments: model.comments,
    },
    withoutMemo,
  );
}

/** The fast scanner alone; null when it would fall back to dockerfile-ast. */
export function parseFast(source: SourceText): DockerfileModel | null {
  const lineStarts = computeLineStarts(source.text);
  const scanned = scanDockerfile(source.text, lineStarts);
  return scanned && buildModel(source, scanned, lineStarts);
}

export function parseWithDockerfileAst(source: SourceText): DockerfileModel {
  const lineStarts = computeLineStarts(source.text);
  return buildModel(source, scanWithDockerfileAst(source.text, lineStarts), lineStarts);
}

/**
 * dockerfile-ast reads the inputs the scanner leaves to it (heredocs, a lone
 * CR, ...: 26 of the 16,000 corpus files). Loading it takes a few ms a
 * one-file run rarely needs, so it loads on first use (src/engine/lazy.ts).
 */
let astScanner: ((text: string, lineStarts: number[]) => ScannedFile) | null = null;

export async function loadFallbackParser(): Promise<void> {
  astScanner ??= (await import("./parse-ast.ts")).scanWithDockerfileAst;
}

export function fallbackParserReady(): boolean {
  return astScanner !== null;
}

function scanWithDockerfileAst(text: string, lineStarts: number[]): ScannedFile {
  if (!astScanner)
    throw new NotLoadedYet(
      "the dockerfile-ast parser is not loaded: await loadFallbackParser() first",
      loadFallbackParser,
    );
  return astScanner(text, lineStarts);
}

function buildModel(
  source: SourceText,
  scanned: ScannedFile,
  lineStarts: number[],
  kept: readonly Instr[] = [],
): DockerfileModel {
  const text = source.text;
  const instructions: Instr[] = [];
  const stages: Stage[] = [];
  const globalArgs: Instr[] = [];
  const fromParts: FromParts[] = [];
  let stageIndex = -1;
  for (let index = 0; index < scanned.instructions.length; index++) {
    const raw = scanned.instructions[index];
    const keyword = raw.keyword;
    if (keyword === "FROM") stageIndex++;
    const instr = index < kept.length ? kept[index] : toInstr(raw, stageIndex, text, lineStarts);
    instructions.push(instr);
    if (keyword === "FROM") {
      fromParts.push(raw.from!);
      stages.push({
        index: stageIndex,
        from: instr,
        name: null,
        nameSpan: null,
        image: null,
        instructions: [],
      });
    } else if (stageIndex >= 0) {
      stages[stageIndex].instructions.push(instr);
    } else if (keyword === "ARG") {
      globalArgs.push(instr);
    }
  }

  const globalArgValues = new Map<string, string | null>();
  for (const arg of globalArgs) {
    for (const [name, value] of argDeclarations(arg)) globalArgValues.set(name, value);
  }
  for (const stage of stages) {
    const from = fromParts[stage.index];
    stage.name = from.stageName;
    stage.nameSpan = from.stageNameSpan;
    if (from.imageSpan && from.image) {
      stage.image = imageRef(from.image, from.imageSpan, globalArgValues);
    }
  }

  const comments: CommentLine[] = scanned.comments.map((c) => ({
    start: c.start,
    end: c.end,
    line: c.line,
    text: text.slice(c.start, c.end),
  }));

  return {
    source,
    text,
    escapeChar: scanned.escapeChar,
    lineStarts,
    instructions,
    globalArgs,
    globalArgValues,
    stages,
    comments,
    lineOf: (offset) => lineAt(lineStarts, offset) + 1,
    lineStart: (line) => lineStarts[Math.max(0, Math.min(line - 1, lineStarts.length - 1))],
    lineEndIncludingEol: (offset) => {
      const nl = text.indexOf("\n", offset);
      return nl === -1 ? text.length : nl + 1;
    },
  };
}

function toInstr(raw: ScannedInstr, stage: number, text: string, lineStarts: number[]): Instr {
  const { range, keywordSpan, flags, args } = raw;
  const argsSpan: Span | null =
    args.length > 0 ? { start: args[0].start, end: args[args.length - 1].end } : null;
  if (argsSpan && flags.length > 0) {
    const afterFlags = flags[flags.length - 1].end;
    if (argsSpan.start < afterFlags) argsSpan.start = afterFlags;
  }
  const end = Math.max(range.end, argsSpan?.end ?? 0);
  return {
    keyword: raw.keyword,
    keywordText: text.slice(keywordSpan.start, keywordSpan.end),
    keywordSpan,
    start: range.start,
    end,
    line: lineAt(lineStarts, keywordSpan.start) + 1,
    endLine: lineAt(lineStarts, Math.max(range.start, end - 1)) + 1,
    stage,
    flags,
    args,
    argsSpan,
    execForm: raw.execForm,
    hasHeredoc: raw.hasHeredoc,
    text: text.slice(range.start, end),
    shellScript: undefined,
  };
}

/** `ARG A=1 B` → [["A","1"],["B",null]] with quotes removed. */
export function argDeclarations(arg: Instr): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  for (const word of arg.args) {
    const eq = word.value.indexOf("=");
    if (eq === -1) out.push([word.value, null]);
    else out.push([word.value.slice(0, eq), unquote(word.value.slice(eq + 1))]);
  }
  return out;
}

/** `ENV A=1 B=2` / `ENV A 1 2` → pairs (values unquoted). */
export function envPairs(instr: Instr): Array<[string, string | null]> {
  const args = instr.args.map((a) => a.value);
  if (args.length === 0) return [];
  if (!args[0].includes("=")) return [[args[0], unquote(args.slice(1).join(" "))]];
  return args.map((a) => {
    const i = a.indexOf("=");
    return i === -1 ? [a, null] : [a.slice(0, i), unquote(a.slice(i + 1))];
  });
}

export function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) {
    return value.slice(1, -1);
  }
  return value;
}

const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Expands `$X`, `${X}`, `${X:-default}`, `${X:+alt}` from `values`; unknown variables expand to "". */
export function expandVariables(value: string, values: ReadonlyMap<string, string | null>): string {
  return value.replace(VARIABLE, (_m, braced: string, op: string, word: string, bare: string) => {
    const name = braced ?? bare;
    const v = values.get(name) ?? "";
    if (op === "-") return v !== "" ? v : word;
    if (op === "+") return v !== "" ? word : "";
    return v;
  });
}

export function hasVariables(value: string): boolean {
  VARIABLE.lastIndex = 0;
  return VARIABLE.test(value);
}

function imageRef(raw: string, rawSpan: Span, globals: ReadonlyMap<string, string | null>): ImageRef {
  const usesVariables = hasVariables(raw);
  const expanded = usesVariables ? expandVariables(raw, globals) : raw;
  return { raw, rawSpan, expanded, usesVariables, ...splitImage(expanded) };
}
