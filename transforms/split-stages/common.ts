/**
 * Shared analysis and layout helpers for the split-stages ecosystem planners.
 *
 * The exported functions are a stable API for every planner
 * (node/python/go/java/rust/dotnet). Everything here is pure: the build
 * context is only read through `BuildContext`.
 *
 * Typical use in a planner:
 *   const segs = stageSegments(model, stage);             // original bytes, per instruction
 *   const { piece, name } = fromAsBuild(model, stage, segs.from);
 *   const build: Piece[] = [piece, ...segs.items.map((s) => seg(s))];
 *   const runtime: Piece[] = [newLines(`${keyword(model, "FROM")} ${baseImage(options, "node:20-slim")}`),
 *                             newLines(copyFromLine(model, name, "/app", "/app", "node:node")), ...];
 *   return layoutRewrite(model, segs, build, runtime, "message");
 * Every original instruction must be placed in `build` or `runtime` (layoutRewrite refuses otherwise),
 * so no line and no comment is lost; new lines use the file's EOL and keyword case.
 */
import {
  argDeclarations,
  expandVariables,
  unquote,
  type DockerfileModel,
  type Instr,
  type Stage,
} from "../../src/engine/parse.ts";
import { shellOf, visit, type ShellCommand, type ShellScript } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext, Edit, TransformOptions } from "../../src/engine/types.ts";
import type { SplitOutcome } from "./types.ts";

// ---------------------------------------------------------------------------
// Instruction kinds
// ---------------------------------------------------------------------------

/** Instructions that only describe the runtime container; they move to the runtime stage. */
export const RUNTIME_ONLY = new Set([
  "EXPOSE",
  "VOLUME",
  "LABEL",
  "MAINTAINER",
  "HEALTHCHECK",
  "STOPSIGNAL",
  "ENTRYPOINT",
  "CMD",
]);

/** Instructions that affect both the build and the runtime (kept in build, repeated in runtime). */
export const BOTH_STAGES = new Set(["ENV", "WORKDIR", "USER", "ARG", "SHELL"]);

/** Of BOTH_STAGES, those a build stage may drop when nothing builds after them (WORKDIR stays: it creates the app folder). */
export const MOVABLE_WHEN_LAST = new Set(["ENV", "USER", "ARG", "SHELL"]);

/** True when some COPY/ADD of the stage (not --from) lands inside `appDir`. */
export function copiesInto(
  stage: Stage,
  appDir: string,
  globals?: ReadonlyMap<string, string | null>,
): boolean {
  const cwd = workdirs(stage, "/", globals);
  const vars = stageVars(stage, globals);
  return stage.instructions.some((i) => {
    const c = copyInfo(i, cwd.get(i) ?? null, vars.get(i));
    return !!c && !c.from && c.destAbs !== null && isInside(c.destAbs, appDir);
  });
}

// ---------------------------------------------------------------------------
// Segments: the original text, cut per instruction (comments travel with the
// instruction that follows them)
// ---------------------------------------------------------------------------

export interface Segment {
  /** The instruction, or null for the trailing comment block. */
  instr: Instr | null;
  /** Comment and blank lines just before the instruction (exact bytes, each ending in an EOL). */
  leading: string;
  /** The instruction's whole lines (exact bytes, ending in an EOL; one is added when the file lacks a final newline). */
  body: string;
}

export interface StageSegments {
  /** Everything before the FROM line (global ARGs, parser directives, comments), exact bytes. */
  head: string;
  from: Segment;
  /** The stage's instructions in order. */
  items: Segment[];
  /** Comment/blank lines after the last instruction (exact bytes). */
  tail: string;
  /** Offset where the replaced region starts (start of the FROM line). */
  start: number;
}

function withEol(text: string, eol: string): string {
  return text.endsWith("\n") ? text : text + eol;
}

/** Cuts a single-stage file into segments of original bytes. */
export function stageSegments(model: DockerfileModel, stage: Stage): StageSegments {
  const eol = model.source.eol;
  const text = model.text;
  const lineSpan = (i: Instr) => ({
    start: model.lineStart(i.line),
    end: model.lineEndIncludingEol(model.lineStart(i.endLine)),
  });
  const fromSpan = lineSpan(stage.from);
  // Comments directly above FROM belong to the head (they usually describe the file).
  const head = text.slice(0, fromSpan.start);
  const from: Segment = {
    instr: stage.from,
    leading: "",
    body: withEol(text.slice(fromSpan.start, fromSpan.end), eol),
  };
  const items: Segment[] = [];
  let pos = fromSpan.end;
  for (const instr of stage.instructions) {
    const s = lineSpan(instr);
    items.push({
      instr,
      leading: text.slice(pos, Math.max(pos, s.start)),
      body: withEol(text.slice(s.start, s.end), eol),
    });
    pos = Math.max(pos, s.end);
  }
  return { head, from, items, tail: text.slice(pos), start: fromSpan.start };
}

/** A piece of the output: original bytes or new lines. */
export type Piece =
  | { kind: "segment"; segment: Segment; leading?: "exact" | "trim" | "none"; before?: string[] }
  | { kind: "lines"; lines: string[] };

/**
 * An original segment. `leading`: "exact" keeps the comment and blank lines
 * above it as written (for lines that stay in place), "trim" drops the blank
 * lines but keeps comments (for moved lines), "none" drops both.
 */
export const seg = (segment: Segment, leading: "exact" | "trim" | "none" = "exact"): Piece => ({
  kind: "segment",
  segment,
  leading,
});

/**
 * New lines placed before an original segment: after the blank lines that
 * precede it, before its comments (so a comment stays above its instruction).
 */
export const linesBefore = (piece: Piece, lines: string[]): Piece =>
  piece.kind === "segment"
    ? { ...piece, before: [...(piece.before ?? []), ...lines] }
    : { kind: "lines", lines: [...lines, ...piece.lines] };
export const newLines = (...lines: string[]): Piece => ({ kind: "lines", lines });

/** The segment's text with leading blank lines trimmed (comments kept). */
function pieceText(p: Piece, eol: string): string {
  if (p.kind === "lines") return p.lines.map((l) => l + eol).join("");
  const mode = p.leading ?? "exact";
  const blank = /^(?:[ \t]*\r?\n)*/.exec(p.segment.leading)![0];
  const comments = p.segment.leading.slice(blank.length);
  const inserted = (p.before ?? []).map((l) => l + eol).join("");
  if (mode === "none") return inserted + p.segment.body;
  return (mode === "exact" ? blank : "") + inserted + comments + p.segment.body;
}

/**
 * The FROM segment with ` AS build` added (keyword case follows the file).
 * When the stage already has a name, the FROM is kept and that name is used.
 */
export function fromAsBuild(
  model: DockerfileModel,
  stage: Stage,
  from: Segment,
): { piece: Piece; name: string } {
  if (stage.name) return { piece: seg(from), name: stage.name };
  const image = stage.image!;
  const lineStart = model.lineStart(stage.from.line);
  const at = image.rawSpan.end - lineStart;
  const as = keyword(model, "AS");
  const body = from.body.slice(0, at) + ` ${as} build` + from.body.slice(at);
  return { piece: { kind: "segment", segment: { ...from, body } }, name: "build" };
}

/**
 * Builds the rewrite: the text from the FROM line to the end of the file is
 * replaced by the build pieces, a blank line, and the runtime pieces. Every
 * segment of the original must appear in `build` or `runtime` (or be listed in
 * `dropped` with a reason) so no comment is lost; the trailing comments go last.
 */
export function layoutRewrite(
  model: DockerfileModel,
  segs: StageSegments,
  build: Piece[],
  runtime: Piece[],
  message: string,
): SplitOutcome {
  const eol = model.source.eol;
  const placed = new Set<Instr | null>();
  for (const p of [...build, ...runtime]) if (p.kind === "segment") placed.add(p.segment.instr);
  const missing = segs.items.find((s) => !placed.has(s.instr));
  if (missing) {
    const m = missing.instr!;
    return { kind: "refuse", reason: `internal: instruction at line ${m.line} was not placed`, line: m.line };
  }
  // Comments of segments that appear twice are kept only the first time.
  const seenLeading = new Set<Segment>();
  const render = (pieces: Piece[]) =>
    pieces
      .map((p) => {
        if (p.kind === "segment") {
          const original = segs.items.find((s) => s.instr === p.segment.instr) ?? p.segment;
          if (seenLeading.has(original)) return pieceText({ ...p, leading: "none" }, eol);
          seenLeading.add(original);
        }
        return pieceText(p, eol);
      })
      .join("");
  let out = render(build) + eol + render(runtime);
  const tail = segs.tail.replace(/^(?:[ \t]*\r?\n)+/, "");
  if (tail.trim() !== "") out += eol + withEol(tail, eol);
  const edit: Edit = { start: segs.start, end: model.text.length, text: out };
  return { kind: "rewrite", edits: [edit], message };
}

// ---------------------------------------------------------------------------
// Images and options
// ---------------------------------------------------------------------------

/** An image dfopt introduces, with the `registryPrefix` option applied. */
export function baseImage(options: TransformOptions, image: string): string {
  const prefix = options.registryPrefix ?? "";
  if (!prefix) return image;
  return prefix.endsWith("/") ? prefix + image : prefix + "/" + image;
}

/** Repository name without registry (`docker.io/library/node` → `node`). */
export function repoName(name: string): string {
  return name
    .replace(/^(?:docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)/, "")
    .replace(/^library\//, "");
}

/** Debian codename in an image tag (`20-bookworm-slim` → bookworm), null when not named. */
export function debianCodename(tag: string | null): string | null {
  const m = /(?:^|-)(buster|bullseye|bookworm|trixie|stretch|jessie)(?:-|$)/.exec(tag ?? "");
  return m ? m[1] : null;
}

export function isAlpineTag(tag: string | null): boolean {
  return /(?:^|-)alpine/.test(tag ?? "");
}

// ---------------------------------------------------------------------------
// WORKDIR, COPY and paths
// ---------------------------------------------------------------------------

/** Normalises an absolute path (`/a/./b/../c/` → `/a/c`). */
export function normPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}

/** Resolves `p` against `cwd` (both may be relative/absolute). */
export function resolvePath(cwd: string, p: string): string {
  return normPath(p.startsWith("/") ? p : cwd + "/" + p);
}

/** True when `inner` is `outer` or inside it. */
export function isInside(inner: string, outer: string): boolean {
  const a = normPath(inner);
  const b = normPath(outer);
  return a === b || b === "/" || a.startsWith(b + "/");
}

/** Values of the ENV/ARG variables in effect before each instruction of the stage (null: declared without a known value). */
export function stageVars(
  stage: Stage,
  globals: ReadonlyMap<string, string | null> = new Map(),
): Map<Instr, Map<string, string | null>> {
  const out = new Map<Instr, Map<string, string | null>>();
  let vars = new Map<string, string | null>();
  for (const instr of stage.instructions) {
    out.set(instr, vars);
    if (instr.keyword === "ARG") {
      vars = new Map(vars);
      for (const [k, v] of argDeclarations(instr)) vars.set(k, v ?? globals.get(k) ?? vars.get(k) ?? null);
    } else if (instr.keyword === "ENV") {
      vars = new Map(vars);
      const words = instr.args.map((a) => a.value);
      if (words.length >= 1 && !words[0].includes("=")) vars.set(words[0], unquote(words.slice(1).join(" ")));
      else
        for (const w of words) {
          const eq = w.indexOf("=");
          if (eq > 0) vars.set(w.slice(0, eq), unquote(w.slice(eq + 1)));
        }
    }
  }
  return out;
}

/** Expands `$X`/`${X}` from `vars`; null when a variable is unknown. */
export function expandKnown(
  value: string,
  vars: ReadonlyMap<string, string | null> | undefined,
): string | null {
  if (!value.includes("$")) return value;
  if (!vars) return null;
  const names = [...value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
  if (names.some((n) => (vars.get(n) ?? null) === null)) return null;
  if (/\$\{[A-Za-z_]\w*:?[-+?]/.test(value)) return null;
  return expandVariables(value, vars);
}

/**
 * The working directory in effect at each instruction of the stage (before it
 * runs). `null` once a WORKDIR uses a variable the transform cannot resolve.
 */
export function workdirs(
  stage: Stage,
  initial = "/",
  globals?: ReadonlyMap<string, string | null>,
): Map<Instr, string | null> {
  const out = new Map<Instr, string | null>();
  const vars = stageVars(stage, globals);
  let cwd: string | null = initial;
  for (const instr of stage.instructions) {
    out.set(instr, cwd);
    if (instr.keyword === "WORKDIR") {
      const v = expandKnown(unquote(instr.args.map((a) => a.value).join(" ")), vars.get(instr));
      if (v === null) cwd = null;
      else cwd = v.startsWith("/") ? normPath(v) : cwd === null ? null : resolvePath(cwd, v);
    }
  }
  return out;
}

/** The WORKDIR in effect after the whole stage (the folder CMD runs in). */
export function finalWorkdir(
  stage: Stage,
  initial = "/",
  globals?: ReadonlyMap<string, string | null>,
): string | null {
  const last = stage.instructions[stage.instructions.length - 1];
  if (!last) return initial;
  const before = workdirs(stage, initial, globals).get(last) ?? null;
  if (last.keyword !== "WORKDIR") return before;
  const v = expandKnown(
    unquote(last.args.map((a) => a.value).join(" ")),
    stageVars(stage, globals).get(last),
  );
  if (v === null) return null;
  return v.startsWith("/") ? normPath(v) : before === null ? null : resolvePath(before, v);
}

/**
 * The app folder: the final WORKDIR, or, when that is `/`, the absolute
 * destination of the COPY/ADD of the whole context. Null when unknown.
 */
export function appFolder(stage: Stage, globals?: ReadonlyMap<string, string | null>): string | null {
  const wd = finalWorkdir(stage, "/", globals);
  if (wd !== "/") return wd;
  const cwd = workdirs(stage, "/", globals);
  const vars = stageVars(stage, globals);
  for (const i of stage.instructions) {
    const c = copyInfo(i, cwd.get(i) ?? null, vars.get(i));
    if (c && !c.from && c.wholeContext && c.destAbs && c.destAbs !== "/")
      return SCRATCH_PATHS.test(c.destAbs) ? "/" : c.destAbs;
  }
  return "/";
}

export interface CopyInfo {
  instr: Instr;
  /** `COPY` or `ADD`. */
  keyword: string;
  /** Source paths as written (relative to the context). */
  sources: string[];
  /** Destination as written. */
  dest: string;
  /** Destination resolved against the WORKDIR (null when it uses variables). */
  destAbs: string | null;
  /** The destination is a folder (ends in `/`, or several sources, or a `.`). */
  destIsDir: boolean;
  /** `--from=...` value, if any. */
  from: string | null;
  /** `--chown` value, if any. */
  chown: string | null;
  /** Copies the whole context (`.`, `./`, `*`). */
  wholeContext: boolean;
  /** ADD of a URL or archive (not a plain copy). */
  remote: boolean;
}

/** Parses a COPY/ADD (shell or JSON form). Null for heredocs. `vars` resolves variables in the destination. */
export function copyInfo(
  instr: Instr,
  cwd: string | null,
  vars?: ReadonlyMap<string, string | null>,
): CopyInfo | null {
  if (instr.keyword !== "COPY" && instr.keyword !== "ADD") return null;
  if (instr.hasHeredoc) return null;
  let words = instr.args.map((a) => a.value);
  if (instr.execForm) {
    try {
      const parsed = JSON.parse(
        instr.text.slice(instr.argsSpan!.start - instr.start, instr.argsSpan!.end - instr.start),
      );
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")) words = parsed;
    } catch {
      return null;
    }
  }
  if (words.length < 2) return null;
  const dest = words[words.length - 1];
  const sources = words.slice(0, -1);
  const destExpanded = expandKnown(dest, vars);
  const destAbs =
    destExpanded === null
      ? null
      : destExpanded.startsWith("/")
        ? normPath(destExpanded)
        : cwd === null
          ? null
          : resolvePath(cwd, destExpanded);
  const flag = (n: string) => instr.flags.find((f) => f.name === n)?.value ?? null;
  return {
    instr,
    keyword: instr.keyword,
    sources,
    dest,
    destAbs,
    destIsDir: dest.endsWith("/") || dest === "." || dest === ".." || sources.length > 1,
    from: flag("from"),
    chown: flag("chown"),
    wholeContext: sources.some((s) => /^(?:\.\/?|\*|\.\/\*)$/.test(s)),
    remote:
      instr.keyword === "ADD" &&
      sources.some(
        (s) =>
          /^(?:https?|git):\/\//.test(s) || /\.(?:tar|tgz|tar\.\w+|zip)$/.test(s) || s.startsWith("git@"),
      ),
  };
}

/** Where a copied source lands (for folder destinations the base name is appended). */
export function copyTarget(c: CopyInfo, source: string): string | null {
  if (!c.destAbs) return null;
  if (!c.destIsDir) return c.destAbs;
  const base = source.replace(/\/+$/, "").split("/").pop() ?? "";
  return normPath(c.destAbs + "/" + base);
}

/** Context files matching a simple glob (`package*.json`, `*.csproj`) in the context root or a folder. */
export function contextGlob(context: BuildContext, pattern: string): string[] {
  const slash = pattern.lastIndexOf("/");
  const dir = slash === -1 ? "" : pattern.slice(0, slash);
  const base = slash === -1 ? pattern : pattern.slice(slash + 1);
  if (!/[*?[]/.test(base))
    return context.exists(pattern.replace(/^\.\//, "")) ? [pattern.replace(/^\.\//, "")] : [];
  const re = new RegExp(
    "^" +
      base
        .replace(/[.+^${}()|\\]/g, "\\$&")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]") +
      "$",
  );
  return context
    .list(dir.replace(/^\.\//, ""))
    .filter((n) => re.test(n))
    .map((n) => (dir ? `${dir.replace(/^\.\//, "")}/${n}` : n));
}

/** JSON manifest from the context, or null when absent or unreadable. */
export function readJson(context: BuildContext, path: string): Record<string, unknown> | null {
  const text = context.readFile(path);
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// RUN / CMD / ENTRYPOINT analysis
// ---------------------------------------------------------------------------

/** Parsed shell of a RUN (null for exec form/heredoc or unparsable shell). */
export function runScript(model: DockerfileModel, instr: Instr): ShellScript | null {
  const s = shellOf(instr, model.text, model.escapeChar);
  return s && !s.hasErrors ? s : null;
}

/** Simple commands of a RUN, as word values (null words when they hold expansions). */
export function runCommands(model: DockerfileModel, instr: Instr): ShellCommand[] | null {
  if (instr.execForm) {
    const argv = execArgv(instr);
    return argv ? [fakeCommand(instr, argv)] : null;
  }
  const s = runScript(model, instr);
  return s ? s.commands : null;
}

// Same property order as the objects src/engine/shell.ts builds: one hidden
// class for every command and word keeps the hot paths monomorphic in V8.
function fakeCommand(instr: Instr, argv: string[]): ShellCommand {
  const w = (v: string) => ({ start: instr.start, end: instr.end, raw: v, value: v });
  const words = argv.map(w);
  return {
    node: {
      type: "command",
      named: true,
      field: null,
      start: instr.start,
      end: instr.end,
      children: [],
      parent: null,
    },
    start: instr.start,
    end: instr.end,
    name: words[0] ?? null,
    args: words.slice(1),
    words,
    assignments: [],
    hasRedirects: false,
  };
}

/** Word values of a command (`null` entries for words with expansions). */
export function commandWords(c: ShellCommand): Array<string | null> {
  return c.words.map((w) => w.value);
}

/** True when the RUN's shell has control flow the planners should not reason about (if/for/while/case/functions). */
export function hasControlFlow(model: DockerfileModel, instr: Instr): boolean {
  const s = shellOf(instr, model.text, model.escapeChar);
  if (!s) return false;
  let found = false;
  visit(s.root, (n) => {
    if (/^(?:if|for|while|case|function|c_style_for)_statement$|^function_definition$/.test(n.type))
      found = true;
    return found ? false : undefined;
  });
  return found;
}

/** The argv of an exec-form instruction (JSON array), null otherwise. */
export function execArgv(instr: Instr): string[] | null {
  if (!instr.execForm || !instr.argsSpan) return null;
  try {
    const v = JSON.parse(
      instr.text.slice(instr.argsSpan.start - instr.start, instr.argsSpan.end - instr.start),
    );
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : null;
  } catch {
    return null;
  }
}

export interface StartCommand {
  /** The instructions that define it. */
  cmd: Instr | null;
  entrypoint: Instr | null;
  /**
   * The simple commands the container runs: for exec form the argv; for shell
   * form (or `sh -c "..."`) each command of the script. Null words contain expansions.
   */
  commands: Array<Array<string | null>>;
  /** Free text of everything run, for keyword checks. */
  text: string;
}

/**
 * What the container runs: ENTRYPOINT + CMD (the last of each in the stage).
 * Unwraps `sh -c "..."` / `bash -c` and leading `exec`.
 */
export function startCommand(model: DockerfileModel, stage: Stage): StartCommand {
  const last = (k: string) => [...stage.instructions].reverse().find((i) => i.keyword === k) ?? null;
  const cmd = last("CMD");
  const entrypoint = last("ENTRYPOINT");
  const commands: Array<Array<string | null>> = [];
  const texts: string[] = [];
  const fromInstr = (i: Instr): Array<Array<string | null>> => {
    const argv = execArgv(i);
    if (argv) return [argv];
    const s = shellOf(i, model.text, model.escapeChar);
    if (!s) return [];
    return s.commands.map((c) => [...c.words.map((w) => w.value)]);
  };
  let parts: Array<Array<string | null>> = [];
  if (entrypoint && entrypoint.execForm) {
    const ep = fromInstr(entrypoint);
    const cm = cmd && cmd.execForm ? (execArgv(cmd) ?? []) : [];
    parts = ep.length === 1 ? [[...ep[0], ...cm]] : ep;
    texts.push(entrypoint.text);
    if (cmd) texts.push(cmd.text);
  } else if (entrypoint) {
    parts = fromInstr(entrypoint);
    texts.push(entrypoint.text);
  } else if (cmd) {
    parts = fromInstr(cmd);
    texts.push(cmd.text);
  }
  for (const argv of parts) {
    const shellIdx = argv.findIndex((w, i) => i > 0 && w === "-c");
    const isShell = argv[0] !== null && /(?:^|\/)(?:ba|da|a)?sh$/.test(argv[0] ?? "") && shellIdx > 0;
    if (isShell && typeof argv[shellIdx + 1] === "string") {
      // `sh -c "a && b"`: split on shell operators, good enough for keyword checks.
      for (const piece of (argv[shellIdx + 1] as string).split(/&&|\|\||;|\|/)) {
        const words = piece.trim().split(/\s+/).filter(Boolean);
        if (words.length)
          commands.push(words.map((w) => (w.includes("$") ? null : w.replace(/^["']|["']$/g, ""))));
      }
    } else {
      commands.push(argv[0] === "exec" ? argv.slice(1) : argv);
    }
  }
  return { cmd, entrypoint, commands, text: texts.join("\n") };
}

// ---------------------------------------------------------------------------
// OS packages
// ---------------------------------------------------------------------------

export type PackageManager = "apt" | "apk" | "yum";

export interface OsInstall {
  instr: Instr;
  manager: PackageManager;
  packages: string[];
}

/** Package installs in a RUN (`apt-get install`, `apt install`, `apk add`, `yum/dnf/microdnf install`). */
export function osInstalls(model: DockerfileModel, instr: Instr): OsInstall[] {
  const cmds = runCommands(model, instr) ?? [];
  const out: OsInstall[] = [];
  for (const c of cmds) {
    const w = commandWords(c);
    const name = (w[0] ?? "").split("/").pop();
    let manager: PackageManager | null = null;
    let rest: Array<string | null> = [];
    if ((name === "apt-get" || name === "apt" || name === "aptitude") && w.includes("install")) {
      manager = "apt";
      rest = w.slice(w.indexOf("install") + 1);
    } else if (name === "apk" && w.includes("add")) {
      manager = "apk";
      rest = w.slice(w.indexOf("add") + 1);
    } else if ((name === "yum" || name === "dnf" || name === "microdnf") && w.includes("install")) {
      manager = "yum";
      rest = w.slice(w.indexOf("install") + 1);
    }
    if (!manager) continue;
    const packages: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const v = rest[i];
      if (v === null) {
        packages.push("$?");
        continue;
      }
      if (v.startsWith("-")) {
        // options taking a value
        if (manager === "apk" && (v === "--virtual" || v === "-t" || v === "--repository" || v === "-X")) i++;
        if (manager === "apt" && (v === "-o" || v === "-t")) i++;
        continue;
      }
      packages.push(v.replace(/[=<>~].*$/, "")); // apt pkg=1.2, apk pkg>1 / pkg~1.2
    }
    out.push({ instr, manager, packages });
  }
  return out;
}

/**
 * Packages every planner treats as build-only: compilers, headers, build
 * tools, VCS, archivers and interactive tools. Each planner adds its own.
 */
export const TOOLCHAIN_PACKAGES = [
  "build-essential",
  "build-base",
  "gcc",
  "g++",
  "clang",
  "make",
  "cmake",
  "autoconf",
  "automake",
  "libtool",
  "pkg-config",
  "pkgconf",
  "pkgconfig",
  "musl-dev",
  "libc-dev",
  "libc6-dev",
  "linux-headers",
  "git",
  "mercurial",
  "subversion",
  "gnupg",
  "cargo",
  "golang",
  "unzip",
  "xz-utils",
  "software-properties-common",
  "apt-transport-https",
  "vim",
  "nano",
  "less",
  "procps",
  "openssh-client",
];

/** Packages only needed to build an interpreted app (adds the interpreters' dev tooling). */
const BUILD_ONLY = new Set([
  ...TOOLCHAIN_PACKAGES,
  "cpp",
  "python3-dev",
  "python-dev",
  "python3-pip",
  "python3",
  "python",
  "py3-pip",
  "dirmngr",
  "gfortran",
  "rust",
  "nasm",
  "yasm",
  "patch",
  "bzip2",
  "gettext",
  "net-tools",
  "iputils-ping",
]);

/**
 * Runtime libraries that a `-dev` package builds against, when the name is
 * the same on current Debian (bullseye/bookworm/trixie) or Alpine. A `-dev`
 * package not listed here makes `classifyPackages` report it as unknown.
 * `provided` ones are already in the language runtime images (python links them).
 */
const DEV_TO_RUNTIME: Record<PackageManager, Record<string, string | null>> = {
  apt: {
    "libpq-dev": "libpq5",
    "libjpeg-dev": "libjpeg62-turbo",
    "libjpeg62-turbo-dev": "libjpeg62-turbo",
    "libxml2-dev": "libxml2",
    "libxslt1-dev": "libxslt1.1",
    "libxslt-dev": "libxslt1.1",
    "default-libmysqlclient-dev": "libmariadb3",
    "libmariadb-dev": "libmariadb3",
    "libmariadb-dev-compat": "libmariadb3",
    "zlib1g-dev": "zlib1g",
    "libyaml-dev": "libyaml-0-2",
    "libmagic-dev": "libmagic1",
    "libcurl4-openssl-dev": "libcurl4",
  },
  apk: {
    "postgresql-dev": "libpq",
    "libpq-dev": "libpq",
    "jpeg-dev": "libjpeg-turbo",
    "libjpeg-turbo-dev": "libjpeg-turbo",
    "zlib-dev": "zlib",
    "libxml2-dev": "libxml2",
    "libxslt-dev": "libxslt",
    "libffi-dev": "libffi",
    "openssl-dev": "openssl",
    "mariadb-dev": "mariadb-connector-c",
    "mariadb-connector-c-dev": "mariadb-connector-c",
    "yaml-dev": "yaml",
    "freetype-dev": "freetype",
    "libpng-dev": "libpng",
  },
  yum: {},
};

/** `-dev` packages whose libraries every official python image already carries. */
export const PYTHON_PROVIDED_DEV = new Set([
  "libffi-dev",
  "libssl-dev",
  "openssl-dev",
  "zlib1g-dev",
  "zlib-dev",
  "libbz2-dev",
  "bzip2-dev",
  "liblzma-dev",
  "xz-dev",
  "libsqlite3-dev",
  "sqlite-dev",
  "libreadline-dev",
  "readline-dev",
  "libncurses5-dev",
  "libncursesw5-dev",
  "ncurses-dev",
  "libgdbm-dev",
  "uuid-dev",
  "util-linux-dev",
  "tk-dev",
  "libexpat1-dev",
  "expat-dev",
]);

export interface PackageClassification {
  /** Packages to install in the runtime stage (runtime packages as written + libraries for `-dev` ones). */
  runtime: string[];
  /** Packages left in the build stage only. */
  buildOnly: string[];
  /** `-dev` packages whose runtime library is not known: planners should refuse. */
  unknownDev: string[];
}

/**
 * Splits installed OS packages into runtime vs build-only. `alsoBuildOnly`
 * lets a planner add names (e.g. packages its runtime base already has);
 * `neededAtRuntime` forces names to runtime (e.g. `curl` used by HEALTHCHECK).
 */
export function classifyPackages(
  manager: PackageManager,
  packages: string[],
  opts: {
    alsoBuildOnly?: Iterable<string>;
    neededAtRuntime?: Iterable<string>;
    providedDev?: Set<string>;
  } = {},
): PackageClassification {
  const extra = new Set(opts.alsoBuildOnly ?? []);
  const needed = new Set(opts.neededAtRuntime ?? []);
  const runtime: string[] = [];
  const buildOnly: string[] = [];
  const unknownDev: string[] = [];
  for (const p of packages) {
    if (needed.has(p)) runtime.push(p);
    else if (BUILD_ONLY.has(p) || extra.has(p) || /^(?:gcc|g\+\+|clang|llvm)-?\d/.test(p)) buildOnly.push(p);
    else if (/-dev(?:el)?$/.test(p)) {
      buildOnly.push(p);
      if (opts.providedDev?.has(p)) continue;
      const lib = DEV_TO_RUNTIME[manager][p];
      if (lib) runtime.push(lib);
      else if (lib === undefined) unknownDev.push(p);
    } else if (p === "curl" || p === "wget") buildOnly.push(p);
    else runtime.push(p);
  }
  return { runtime: [...new Set(runtime)], buildOnly, unknownDev };
}

/** A RUN line installing OS packages in the runtime stage, in the file's keyword case. */
export function installLine(model: DockerfileModel, manager: PackageManager, packages: string[]): string {
  const run = keyword(model, "RUN");
  const list = packages.join(" ");
  if (manager === "apk") return `${run} apk add --no-cache ${list}`;
  if (manager === "yum") return `${run} yum install -y ${list} && yum clean all`;
  return `${run} apt-get update && apt-get install -y --no-install-recommends ${list} && rm -rf /var/lib/apt/lists/*`;
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

/**
 * Why a runtime stage cannot get a non-root user: null when it can, or when
 * the original sets USER itself (then `originalUser` is kept).
 */
export function runtimeUserRefusal(stage: Stage, start: StartCommand): SplitOutcome | null {
  if (originalUser(stage) !== null) return null;
  const daemon = rootDaemon(start);
  if (daemon)
    return refuse(
      `starts ${daemon}, which expects to run as root; a non-root runtime user would break it`,
      start.entrypoint ?? start.cmd,
    );
  const low = privilegedPorts(stage);
  if (low.length) return refuse(`EXPOSE ${low[0]}: a non-root runtime user could not bind a port below 1024`);
  return null;
}

/**
 * RUN lines that install, in the runtime stage, the OS packages the app needs
 * at run time out of those the build stage installs (compilers and headers
 * stay behind; `-dev` packages map to their runtime libraries); or a refusal.
 */
export function runtimePackageLines(
  model: DockerfileModel,
  stage: Stage,
  start: StartCommand,
  osPackages: ReadonlyArray<{ manager: PackageManager; packages: string[]; instr: Instr }>,
  image: { raw: string; alpine: boolean; family: string; providedDev?: Set<string> },
): string[] | SplitOutcome {
  const mentions = [
    start.text,
    ...stage.instructions.filter((i) => i.keyword === "HEALTHCHECK").map((i) => i.text),
  ].join("\n");
  const byManager = new Map<PackageManager, string[]>();
  for (const o of osPackages) {
    if (o.manager === "yum")
      return refuse(`${quote(o.instr)} installs with yum on a ${image.family} image`, o.instr);
    if (o.packages.includes("$?"))
      return refuse(`${quote(o.instr)} installs packages named by variables`, o.instr);
    if ((o.manager === "apk") !== image.alpine)
      return refuse(`${quote(o.instr)} uses ${o.manager} on ${image.raw}`, o.instr);
    const cls = classifyPackages(o.manager, o.packages, {
      providedDev: image.providedDev,
      neededAtRuntime: o.packages.filter((p) =>
        new RegExp(`\\b${p.replace(/[.+]/g, "\\$&")}\\b`).test(mentions),
      ),
    });
    if (cls.unknownDev.length)
      return refuse(
        `installs ${cls.unknownDev.join(", ")}: the runtime library it builds against is not known`,
        o.instr,
      );
    byManager.set(o.manager, [...(byManager.get(o.manager) ?? []), ...cls.runtime]);
  }
  const lines: string[] = [];
  for (const [mgr, pkgs] of byManager)
    if (pkgs.length) lines.push(installLine(model, mgr, [...new Set(pkgs)]));
  return lines;
}

/** The last USER of the stage, or null. */
export function originalUser(stage: Stage): Instr | null {
  return [...stage.instructions].reverse().find((i) => i.keyword === "USER") ?? null;
}

/** True when a RUN only creates users/groups (useradd, adduser, groupadd, addgroup). */
export function isUserCreation(model: DockerfileModel, instr: Instr): boolean {
  const cmds = runCommands(model, instr);
  return (
    !!cmds &&
    cmds.length > 0 &&
    cmds.every((c) =>
      /^(?:useradd|adduser|groupadd|addgroup)$/.test((c.name?.value ?? "").split("/").pop() ?? ""),
    )
  );
}

/**
 * Lines that create an unprivileged `app` user on a Debian-like (`apt`) or
 * Alpine (`apk`) runtime base, followed later by `USER app`.
 */
export function createUserLines(
  model: DockerfileModel,
  family: "debian" | "alpine",
  name = "app",
  uid = 10001,
): string[] {
  const run = keyword(model, "RUN");
  if (family === "alpine")
    return [
      `${run} addgroup -S -g ${uid} ${name} && adduser -S -D -u ${uid} -G ${name} -h /home/${name} ${name}`,
    ];
  return [
    `${run} groupadd --system --gid ${uid} ${name} && useradd --system --uid ${uid} --gid ${name} --create-home ${name}`,
  ];
}

/** `USER <name>` in the file's case. */
export function userLine(model: DockerfileModel, user: string): string {
  return `${keyword(model, "USER")} ${user}`;
}

/** `COPY --from=<stage> [--chown=x] <src> <dest>` in the file's case. */
export function copyFromLine(
  model: DockerfileModel,
  stageName: string,
  src: string,
  dest: string,
  chown?: string | null,
): string {
  const flags = [`--from=${stageName}`, ...(chown ? [`--chown=${chown}`] : [])].join(" ");
  return `${keyword(model, "COPY")} ${flags} ${src} ${dest}`;
}

/** Ports below 1024 the stage EXPOSEs (a non-root user may not bind them). */
export function privilegedPorts(stage: Stage): number[] {
  const out: number[] = [];
  for (const i of stage.instructions) {
    if (i.keyword !== "EXPOSE") continue;
    for (const a of i.args) {
      const n = Number(a.value.split("/")[0]);
      if (Number.isInteger(n) && n > 0 && n < 1024) out.push(n);
    }
  }
  return out;
}

/**
 * Drops runtime WORKDIRs made pointless by a following absolute WORKDIR
 * (`WORKDIR /var/` then `WORKDIR /var/project`), keeping relative chains.
 */
export function dedupeWorkdirs(instrs: Instr[]): Instr[] {
  return instrs.filter((i, idx) => {
    if (i.keyword !== "WORKDIR") return true;
    const next = instrs[idx + 1];
    return !(next && next.keyword === "WORKDIR" && (next.args[0]?.value ?? "").startsWith("/"));
  });
}

/** True when a RUN, COPY or ADD follows `instr` in the stage (so ENV/WORKDIR/USER still matter to the build). */
export function buildsAfter(stage: Stage, instr: Instr): boolean {
  const idx = stage.instructions.indexOf(instr);
  return stage.instructions
    .slice(idx + 1)
    .some((i) => i.keyword === "RUN" || i.keyword === "COPY" || i.keyword === "ADD");
}

/** A short, single-line quote of an instruction for refusal reasons. */
export function quote(instr: Instr, max = 60): string {
  const t = instr.text
    .replace(/\\\r?\n\s*/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return "`" + (t.length > max ? t.slice(0, max - 1) + "…" : t) + "`";
}

export function refuse(reason: string, instr: Instr | null = null): SplitOutcome {
  return { kind: "refuse", reason, line: instr ? instr.line : null };
}

/** Context-relative sources of a COPY/ADD that are missing from a real build context (globs are skipped). */
export function missingSources(context: BuildContext, c: CopyInfo): string[] {
  if (context.root === "<none>" || c.from || c.remote) return [];
  return c.sources.filter(
    (s) => !/[*?[$]/.test(s) && !context.exists(s.replace(/^\.\//, "").replace(/\/+$/, "") || "."),
  );
}

const SCRATCH_PATHS =
  /^\/(?:tmp|var\/lib\/apt|var\/cache|var\/tmp|root\/\.npm|root\/\.cache|usr\/local\/share\/\.cache|dev\/null)(?:\/|$)/;

/** Harmless file commands planners accept in build RUNs when they stay inside the app folder. */
export const FILE_COMMANDS = new Set([
  "mkdir",
  "cp",
  "mv",
  "rm",
  "ln",
  "touch",
  "chmod",
  "chown",
  "echo",
  "sed",
  "cat",
  "ls",
  "true",
  "test",
  "[",
  "set",
  "export",
  "sleep",
  "find",
  "printf",
]);

/**
 * For a file command (see FILE_COMMANDS) run in `cwd`: a refusal reason when
 * it changes something outside `appDir` (scratch and cache folders aside), else null.
 */
export function fileCommandProblem(
  model: DockerfileModel,
  instr: Instr,
  c: ShellCommand,
  appDir: string,
  cwd: string = appDir,
): string | null {
  const name = (c.name?.value ?? "").split("/").pop() ?? "";
  // Globs (`/var/lib/apt/lists/*`) have no plain value but name no variable.
  const raw = c.args.map((a) => a.value ?? (/[$`]/.test(a.raw) ? null : a.raw.replace(/["']/g, "")));
  if (raw.some((a) => a === null) && /^(?:mkdir|cp|mv|rm|ln|touch|chmod|chown)$/.test(name)) {
    return `${quote(instr)} changes paths named by variables`;
  }
  const plain = raw.filter((a): a is string => a !== null);
  const readOnly = /^(?:echo|cat|ls|test|\[|true|set|export|sleep|printf)$/.test(name);
  let paths = plain.filter((a) => !a.startsWith("-"));
  if (name === "chmod" || name === "chown") paths = paths.slice(1);
  const pathCommand = /^(?:mkdir|cp|mv|rm|ln|touch|chmod|chown)$/.test(name);
  const resolved = pathCommand
    ? paths.map((a) => resolvePath(cwd, a))
    : plain.filter((a) => a.startsWith("/"));
  if (name === "rm" && resolved.some((a) => isInside(appDir, a)))
    return `${quote(instr)} removes the app folder ${appDir}`;
  const outside = resolved.filter((a) => !isInside(a, appDir) && !SCRATCH_PATHS.test(a));
  if (!readOnly && outside.length > 0 && !(name === "mkdir" && outside.every((a) => isInside(appDir, a)))) {
    return `${quote(instr)} changes ${outside[0]}, outside the app folder ${appDir}`;
  }
  if (name === "find" && plain.some((a) => a === "-exec" || a === "-delete") && outside.length > 0) {
    return `${quote(instr)} changes files outside the app folder ${appDir}`;
  }
  return redirectProblem(model, instr, c, appDir, cwd);
}

/** A refusal reason when a command's output redirect writes outside `appDir` (scratch paths aside), else null. */
export function redirectProblem(
  model: DockerfileModel,
  instr: Instr,
  c: ShellCommand,
  appDir: string,
  cwd: string = appDir,
): string | null {
  const parent = c.node.parent;
  if (!c.hasRedirects && parent?.type !== "redirected_statement") return null;
  const text = model.text.slice(
    parent?.type === "redirected_statement" ? parent.start : c.start,
    parent?.end ?? c.end,
  );
  const target = /[^>]>>?\s*([^\s;&|]+)/.exec(text)?.[1];
  if (!target || target === "/dev/null" || target.startsWith("&")) return null;
  const abs = target.includes("$") ? null : resolvePath(cwd, target.replace(/^["']|["']$/g, ""));
  if (!abs || (!isInside(abs, appDir) && !SCRATCH_PATHS.test(abs)))
    return `${quote(instr)} writes outside the app folder ${appDir}`;
  return null;
}

/** Programs that expect to start as root (they drop privileges or manage system services themselves). */
export const ROOT_DAEMONS =
  /^(?:supervisord|nginx|httpd|apache2|apache2ctl|apachectl|cron|crond|sshd|service|systemctl|rsyslogd|syslogd|init|runsvdir|s6-svscan|gosu|su-exec|sudo|su)$/;

/** The first start command word that is a root daemon (see ROOT_DAEMONS), or null. */
export function rootDaemon(start: StartCommand): string | null {
  for (const argv of start.commands) {
    for (const w of argv) {
      if (w === null) continue;
      const name = w.split("/").pop() ?? "";
      if (ROOT_DAEMONS.test(name)) return name;
    }
  }
  return null;
}
