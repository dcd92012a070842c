import { parseDockerignore } from "../../src/engine/dockerignore-rules.ts";
import { argDeclarations, type DockerfileModel, type Instr, type Stage } from "../../src/engine/parse.ts";
import { shellOf, type ShellCommand, type ShellScript } from "../../src/engine/shell.ts";
import { keyword, removeInstruction } from "../../src/engine/style.ts";
import type { BuildContext, Edit } from "../../src/engine/types.ts";
import { contextMemo } from "../lib/context-memo.ts";
import {
  baseImage,
  createUserLines,
  osInstalls,
  TOOLCHAIN_PACKAGES,
  userLine,
  type OsInstall,
  type PackageManager,
} from "./common.ts";
import type { SplitInput, SplitOutcome } from "./types.ts";
import { own } from "../lib/own.ts";

/**
 * Helpers shared by the compiled-ecosystem planners (Go, Java, Rust, .NET):
 * walking the single stage (working directory, ENV, what the COPYs put where),
 * classifying the instructions around the build step, runtime OS packages,
 * and assembling the build + runtime stages as edits to the original text.
 */

/**
 * Thrown by the planners to give up with a reason. Not an Error: most files
 * end in one, and an Error would capture a stack trace each time.
 */
export class Refusal {
  constructor(
    readonly reason: string,
    readonly line: number | null,
  ) {}

  toString(): string {
    return this.reason;
  }
}

export function refuse(reason: string, line: number | null = null): never {
  throw new Refusal(reason, line);
}

/** Runs a planner, turning a thrown `Refusal` into a refuse outcome. */
export function guarded(fn: () => SplitOutcome): SplitOutcome {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Refusal) return { kind: "refuse", reason: e.reason, line: e.line };
    throw e;
  }
}

// ---------------------------------------------------------------- paths

export function normPath(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return (abs ? "/" : "") + out.join("/");
}

/** `rel` resolved against the absolute directory `cwd`. */
export function resolvePath(cwd: string, rel: string): string {
  if (rel.startsWith("/")) return normPath(rel) || "/";
  return normPath(`${cwd}/${rel}`) || "/";
}

/** The last non-empty path segment: `a/b/` → `b`, `/` → `` (called for every command a planner looks at). */
export function basename(p: string): string {
  let end = p.length;
  while (end > 0 && p.charCodeAt(end - 1) === 47) end--;
  return end === 0 ? "" : p.slice(p.lastIndexOf("/", end - 1) + 1, end);
}

export function dirname(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** Is `p` equal to or inside `dir`? Both absolute and normalised. */
export function within(p: string, dir: string): boolean {
  return p === dir || dir === "/" || p.startsWith(dir + "/");
}

// ---------------------------------------------------------------- words

/** The words of an exec-form instruction, or null when it is not valid JSON. */
export function execWords(model: DockerfileModel, instr: Instr): string[] | null {
  if (!instr.execForm || !instr.argsSpan) return null;
  const raw = model.text.slice(instr.argsSpan.start, instr.argsSpan.end);
  const esc = model.escapeChar === "`" ? "`" : "\\\\";
  const flat = raw.replace(new RegExp(`${esc}[ \\t]*\\r?\\n`, "g"), "");
  try {
    const v = JSON.parse(flat);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : null;
  } catch {
    return null;
  }
}

/**
 * The command line of a CMD/ENTRYPOINT: its words, and whether it is shell
 * form. Shell form with anything but one plain command gives `words: null`.
 */
export function commandWords(
  model: DockerfileModel,
  instr: Instr,
): { words: string[] | null; shell: boolean } {
  if (instr.execForm) return { words: execWords(model, instr), shell: false };
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors) return { words: null, shell: true };
  const top = script.root.children.filter((c) => c.named && c.type !== "comment");
  if (top.length !== 1 || top[0].type !== "command" || script.commands.length !== 1) {
    return { words: null, shell: true };
  }
  const cmd = script.commands[0];
  if (cmd.assignments.length > 0 || cmd.hasRedirects) return { words: null, shell: true };
  const words = cmd.words.map((w) => w.value);
  if (words.some((w) => w === null || /[*?[\]{}~]/.test(w))) return { words: null, shell: true };
  return { words: words as string[], shell: true };
}

/** The JSON exec form of `words`. */
export function execForm(words: string[]): string {
  return `[${words.map((w) => JSON.stringify(w)).join(", ")}]`;
}

/** Shell commands of a RUN (refuses RUNs it cannot read). */
export function runCommands(model: DockerfileModel, instr: Instr): ShellCommand[] {
  if (instr.execForm) {
    const words = execWords(model, instr) ?? refuse(`cannot read the exec-form RUN`, instr.line);
    return [
      {
        node: null as never,
        start: instr.start,
        end: instr.end,
        // Property order as in src/engine/shell.ts (one hidden class per kind of object).
        name: { start: 0, end: 0, raw: words[0] ?? "", value: words[0] ?? "" },
        args: words.slice(1).map((w) => ({ start: 0, end: 0, raw: w, value: w })),
        words: words.map((w) => ({ start: 0, end: 0, raw: w, value: w })),
        assignments: [],
        hasRedirects: false,
      },
    ];
  }
  if (instr.hasHeredoc) refuse("RUN heredoc: cannot see what it does", instr.line);
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script || script.hasErrors) refuse("cannot parse the shell of this RUN", instr.line);
  return script.commands;
}

export function scriptOf(model: DockerfileModel, instr: Instr): ShellScript | null {
  return instr.execForm ? null : shellOf(instr, model.text, model.escapeChar);
}

/** Command name without a leading path: `./mvnw` → `mvnw`, `/usr/bin/go` → `go`. */
export function commandName(cmd: ShellCommand): string {
  const v = cmd.name?.value ?? "";
  return basename(v);
}

/** `sh ./gradlew build` → the words after the interpreter. */
export function effectiveWords(cmd: ShellCommand): Array<string | null> {
  const words = cmd.words.map((w) => w.value);
  const first = words[0] ? basename(words[0]) : "";
  if ((first === "sh" || first === "bash") && words.length > 1 && words[1] && !words[1].startsWith("-")) {
    return words.slice(1);
  }
  return words;
}

// ---------------------------------------------------------------- stage walk

export interface CopyEntry {
  instr: Instr;
  /** Context-relative source (normalised, "" for the context root). */
  source: string;
  /** Absolute image path the source lands on (for a folder: its contents). */
  dest: string;
}

export interface StageWalk {
  model: DockerfileModel;
  stage: Stage;
  context: BuildContext;
  /** Working directory when each instruction runs (null: cannot tell). */
  cwd: Map<Instr, string | null>;
  finalCwd: string | null;
  /** Whether the file sets WORKDIR at all. */
  setsWorkdir: boolean;
  /** Variables defined by the file (ENV, ARG defaults, global ARGs). */
  fileVars: Map<string, string | null>;
  copies: CopyEntry[];
  /** Expands variables in `value` as of `instr`; null if it uses one the file does not define. */
  expand(value: string, at: Instr | null, imageEnv?: Record<string, string>): string | null;
}

const VAR = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function variablesIn(value: string): string[] {
  return [...value.matchAll(VAR)].map((m) => m[1] ?? m[2]);
}

/**
 * Walks the stage. `imageDefaults` gives the base image's WORKDIR and ENV
 * (e.g. golang: `/go`, GOPATH=/go) for paths that depend on them.
 */
export function walkStage(
  input: SplitInput,
  imageDefaults: { workdir: string; env?: Record<string, string> },
): StageWalk {
  const { model, stage, context } = input;
  const vars = new Map<string, string | null>(model.globalArgValues);
  const snapshots = new Map<Instr, Map<string, string | null>>();
  const cwd = new Map<Instr, string | null>();
  const copies: CopyEntry[] = [];
  let dir: string | null = imageDefaults.workdir;
  let setsWorkdir = false;
  const imageEnv = imageDefaults.env ?? {};
  const expandWith = (value: string, env: Map<string, string | null>, extra: Record<string, string>) => {
    let ok = true;
    const out = value.replace(VAR, (_m, braced: string, bare: string) => {
      const name = braced ?? bare;
      const v = env.get(name) ?? extra[name];
      if (v === undefined || v === null) ok = false;
      return v ?? "";
    });
    return ok ? out : null;
  };
  for (const instr of stage.instructions) {
    snapshots.set(instr, new Map(vars));
    cwd.set(instr, dir);
    if (instr.keyword === "WORKDIR") {
      setsWorkdir = true;
      const raw = instr.args.map((a) => a.value).join(" ");
      const v = expandWith(stripQuotes(raw), vars, imageEnv);
      dir = v === null || dir === null ? null : resolvePath(dir, v);
    } else if (instr.keyword === "ENV") {
      for (const [k, v] of envPairs(instr)) vars.set(k, v === null ? null : expandWith(v, vars, imageEnv));
    } else if (instr.keyword === "ARG") {
      for (const [k, v] of argDeclarations(instr)) {
        if (!vars.has(k) || v !== null) vars.set(k, v === null ? (model.globalArgValues.get(k) ?? null) : v);
      }
    } else if (
      (instr.keyword === "COPY" || instr.keyword === "ADD") &&
      !instr.flags.some((f) => f.name === "from")
    ) {
      for (const entry of copyEntries(model, instr, dir, context, (v) => expandWith(v, vars, imageEnv))) {
        copies.push(entry);
      }
    }
  }
  return {
    model,
    stage,
    context,
    cwd,
    finalCwd: dir,
    setsWorkdir,
    fileVars: vars,
    copies,
    expand(value, at, extra) {
      const env = at ? (snapshots.get(at) ?? vars) : vars;
      return expandWith(value, env, { ...imageEnv, ...(extra ?? {}) });
    },
  };
}

function stripQuotes(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v;
}

/** `ENV A=1 B=2` / `ENV A 1 2` → pairs (values unquoted). */
export function envPairs(instr: Instr): Array<[string, string | null]> {
  const args = instr.args.map((a) => a.value);
  if (args.length === 0) return [];
  if (!args[0].includes("=")) return [[args[0], stripQuotes(args.slice(1).join(" "))]];
  return args.map((a) => {
    const i = a.indexOf("=");
    return i === -1 ? [a, null] : [a.slice(0, i), stripQuotes(a.slice(i + 1))];
  });
}

function copyEntries(
  model: DockerfileModel,
  instr: Instr,
  cwd: string | null,
  context: BuildContext,
  expand: (v: string) => string | null,
): CopyEntry[] {
  const words = instr.execForm ? execWords(model, instr) : instr.args.map((a) => a.value);
  if (!words || words.length < 2 || cwd === null) return [];
  const destRaw = expand(words[words.length - 1]);
  if (destRaw === null) return [];
  const destIsDir = destRaw.endsWith("/") || words.length > 2;
  const dest = resolvePath(cwd, destRaw);
  const out: CopyEntry[] = [];
  for (const srcRaw of words.slice(0, -1)) {
    const src = expand(srcRaw);
    if (src === null || /^[a-z]+:\/\//i.test(src)) continue;
    const rel = normPath(src.replace(/^\/+/, ""));
    const matches = /[*?[]/.test(rel) ? globContext(context, rel) : [rel];
    for (const m of matches) {
      const isDir = m === "" || context.isDirectory(m);
      const target = isDir
        ? dest
        : destIsDir || matches.length > 1
          ? `${dest === "/" ? "" : dest}/${basename(m)}`
          : dest;
      out.push({ instr, source: m, dest: target });
    }
  }
  return out;
}

/** Simple glob (one level per segment, `*` and `?`) against the context. */
export function globContext(context: BuildContext, pattern: string): string[] {
  let paths = [""];
  for (const seg of pattern.split("/").filter(Boolean)) {
    const next: string[] = [];
    for (const p of paths) {
      if (!/[*?[]/.test(seg)) {
        const q = p ? `${p}/${seg}` : seg;
        if (context.exists(q)) next.push(q);
        continue;
      }
      const re = new RegExp(
        "^" +
          seg
            .replace(/[.+^${}()|\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]") +
          "$",
      );
      for (const name of context.list(p)) if (re.test(name)) next.push(p ? `${p}/${name}` : name);
    }
    paths = next;
  }
  return paths;
}

/** Image path of a context path, per the COPYs that ran before `before` (last COPY wins). */
export function imagePathOf(walk: StageWalk, contextPath: string, before?: Instr): string | null {
  let found: string | null = null;
  for (const c of walk.copies) {
    if (before && c.instr.start >= before.start) break;
    if (c.source === contextPath) found = c.dest;
    else if (c.source === "") found = resolvePath(c.dest, contextPath);
    else if (contextPath.startsWith(c.source + "/")) {
      found = resolvePath(c.dest, contextPath.slice(c.source.length + 1));
    }
  }
  return found;
}

/** Context path that lands on the image directory `dir` (inverse of imagePathOf), if any. */
export function contextPathOf(walk: StageWalk, imageDir: string, before?: Instr): string | null {
  let found: string | null = null;
  for (const c of walk.copies) {
    if (before && c.instr.start >= before.start) break;
    const isFile = c.source !== "" && !walk.context.isDirectory(c.source);
    if (isFile) {
      // `COPY Cargo.toml ./` puts the file's folder at imageDir.
      if (dirname(c.dest) === imageDir)
        found = c.source.includes("/") ? dirname(`/${c.source}`).slice(1) : "";
      continue;
    }
    if (imageDir === c.dest) found = c.source;
    else if (within(imageDir, c.dest)) {
      const rest = imageDir.slice(c.dest === "/" ? 1 : c.dest.length + 1);
      found = c.source ? `${c.source}/${rest}` : rest;
    }
  }
  return found;
}

// ---------------------------------------------------------------- .dockerignore

const ignoreMatchers = contextMemo<(path: string) => boolean>(1);
const runtimeFileLists = contextMemo<string[]>(256);

export function dockerignore(context: BuildContext): (path: string) => boolean {
  return ignoreMatchers(context, "", () => compileDockerignore(context));
}

function compileDockerignore(context: BuildContext): (path: string) => boolean {
  const text = context.readFile(".dockerignore");
  if (!text) return () => false;
  const matcher = parseDockerignore(text);
  return (p: string) => p !== "" && matcher.ignores(p);
}

// ---------------------------------------------------------------- runtime files

const RUNTIME_DIRS = new Set([
  "templates",
  "template",
  "static",
  "public",
  "assets",
  "views",
  "web",
  "www",
  "html",
  "config",
  "configs",
  "conf",
  "migrations",
  "locales",
  "i18n",
  "resources",
]);
/** Top-level files an app reads from its working directory: config/settings by name. */
const CONFIG_NAME =
  /^(config|configuration|settings|app|application|appsettings|rocket|log4rs|log4j2?|logback|server|secrets?)([._-]|$)/;
const RUNTIME_FILE = /\.(ya?ml|toml|json|env|ini|conf|properties|html|tmpl|gohtml)$/i;
const NOT_RUNTIME_FILE = new Set([
  "go.mod",
  "go.sum",
  "cargo.toml",
  "cargo.lock",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "global.json",
  "nuget.config",
  "rustfmt.toml",
  ".rustfmt.toml",
  "clippy.toml",
  "rust-toolchain.toml",
  "deny.toml",
  "makefile.toml",
  "mkdocs.yml",
  "codecov.yml",
  ".codecov.yml",
  "renovate.json",
  ".travis.yml",
  "appveyor.yml",
  ".golangci.yml",
  ".golangci.yaml",
  ".goreleaser.yml",
  ".goreleaser.yaml",
  "sonar-project.properties",
  "gradle.properties",
  "lombok.config",
  "omnisharp.json",
  "launchsettings.json",
  "buildspec.yml",
  "cloudbuild.yaml",
  "app.json",
  "vercel.json",
  "fly.toml",
  "netlify.toml",
  "heroku.yml",
  "skaffold.yaml",
  "tilt.json",
]);

/**
 * Files the Dockerfile copied into the build directory that an application
 * typically reads from its working directory at run time: template/static/
 * config folders and top-level config files (compose files, CI and tool
 * configs excluded), plus any top-level entry `extraNames` names (e.g. paths
 * the source code opens). Returns context-relative paths.
 */
export function runtimeFiles(
  context: BuildContext,
  contextDir: string,
  extraNames: Set<string> = new Set(),
): string[] {
  const key = [contextDir, ...[...extraNames].sort()].join("\0");
  return [...runtimeFileLists(context, key, () => listRuntimeFiles(context, contextDir, extraNames))];
}

function listRuntimeFiles(context: BuildContext, contextDir: string, extraNames: Set<string>): string[] {
  const ignored = dockerignore(context);
  const out: string[] = [];
  for (const name of context.list(contextDir)) {
    const lower = name.toLowerCase();
    const asDir = RUNTIME_DIRS.has(lower);
    const asFile =
      (lower === ".env" || (!lower.startsWith(".") && RUNTIME_FILE.test(lower) && CONFIG_NAME.test(lower))) &&
      !NOT_RUNTIME_FILE.has(lower);
    // Names first: a context folder may hold thousands of entries, few of them candidates.
    if (!asDir && !asFile && !extraNames.has(name)) continue;
    const rel = contextDir ? `${contextDir}/${name}` : name;
    if (ignored(rel)) continue;
    const wanted = extraNames.has(name) || (context.isDirectory(rel) ? asDir : asFile);
    if (wanted) out.push(rel);
  }
  return out;
}

/**
 * Files the runtime instructions name (CMD/ENTRYPOINT arguments such as
 * `docker/config.yml`, `--config=conf/app.yml`, ENV values such as
 * `/app/config.json`) that came from the build context: they are copied to
 * the runtime stage at the same path. `skip` lists paths already copied.
 */
export function argumentFiles(
  walk: StageWalk,
  lay: Layout,
  runtimeCwd: string,
  skip: string[],
): Array<{ from: string; to: string }> {
  const out: Array<{ from: string; to: string }> = [];
  const seen = new Set(skip);
  const words: string[] = [];
  for (const i of lay.runtime) {
    if (i.keyword === "CMD" || i.keyword === "ENTRYPOINT") {
      const w = commandWords(walk.model, i).words ?? i.args.map((a) => a.value);
      words.push(...w.slice(1));
    } else if (i.keyword === "ENV") {
      for (const [, v] of envPairs(i)) if (v) words.push(v);
    }
  }
  for (const raw of words) {
    const value = (raw.includes("=") ? raw.slice(raw.indexOf("=") + 1) : raw).replace(/^["']|["']$/g, "");
    if (!value || /[$*?[\]{}:;,]/.test(value) || value.startsWith("-")) continue;
    const name = basename(value);
    const looksLikeFile = /\.[A-Za-z0-9]{1,10}$/.test(name) || RUNTIME_DIRS.has(name.toLowerCase());
    if (
      !looksLikeFile ||
      (!value.includes("/") && !/\.(ya?ml|json|toml|ini|conf|properties|xml|env|cfg)$/i.test(name))
    )
      continue;
    const abs = resolvePath(runtimeCwd, value);
    if (seen.has(abs) || abs === "/") continue;
    // Only files that came from the build context through a COPY/ADD.
    const fromContext = walk.copies.some((c) =>
      c.source === "" || walk.context.isDirectory(c.source) ? within(abs, c.dest) : abs === c.dest,
    );
    if (!fromContext) continue;
    const ctx = contextPathOfFile(walk, abs);
    if (ctx !== null && walk.context.root !== "<none>" && !walk.context.exists(ctx)) continue;
    if (ctx !== null && dockerignore(walk.context)(ctx)) continue;
    seen.add(abs);
    out.push({ from: abs, to: abs });
  }
  return out;
}

function contextPathOfFile(walk: StageWalk, abs: string): string | null {
  const dir = contextPathOf(walk, dirname(abs));
  return dir === null ? null : dir ? `${dir}/${basename(abs)}` : basename(abs);
}

/** Tools a HEALTHCHECK runs that a Debian/Alpine runtime must install (curl, wget). */
export function healthcheckTools(stage: Stage): string[] {
  const tools: string[] = [];
  for (const i of stage.instructions) {
    if (i.keyword !== "HEALTHCHECK") continue;
    for (const t of ["curl", "wget"])
      if (new RegExp(`\\b${t}\\b`).test(i.text) && !tools.includes(t)) tools.push(t);
  }
  return tools;
}

// ---------------------------------------------------------------- OS packages

export type { PackageManager };
export type PackageInstall = OsInstall;

/** Package installs of a RUN (the shared parser); a package list built from shell expansions is refused. */
export function packageInstalls(model: DockerfileModel, instr: Instr): PackageInstall[] {
  const installs = osInstalls(model, instr);
  if (installs.some((i) => i.packages.includes("$?")))
    refuse("package list uses shell expansions", instr.line);
  return installs;
}

/** Packages only the build of a compiled app needs (adds fetch tools and other toolchains). */
const BUILD_ONLY = new Set([
  ...TOOLCHAIN_PACKAGES,
  "llvm",
  "bzr",
  "curl",
  "wget",
  "zip",
  "tar",
  "gnupg2",
  "upx",
  "upx-ucl",
  "protobuf-compiler",
  "protoc",
  "musl-tools",
  "alpine-sdk",
  "binutils",
  "file",
  "nodejs",
  "npm",
  "yarn",
  "maven",
  "gradle",
  "go",
  "rustc",
  "lsb-release",
  "sudo",
  "bash",
  "ssh",
]);

/** `-dev` packages whose runtime library the binary links to, per Debian codename. */
function runtimeLibraryOf(dev: string, codename: string): string | null {
  const ssl =
    codename === "bullseye" || codename === "buster"
      ? "libssl1.1"
      : codename === "bookworm"
        ? "libssl3"
        : "libssl3t64";
  const table: Record<string, string | null> = {
    "libssl-dev": ssl,
    "libpq-dev": "libpq5",
    "libsqlite3-dev": "libsqlite3-0",
    "default-libmysqlclient-dev": "libmariadb3",
    "libmariadb-dev": "libmariadb3",
    "libmariadb-dev-compat": "libmariadb3",
    "zlib1g-dev": null,
    "libzstd-dev": null,
    "libffi-dev": null,
    "libsasl2-dev": "libsasl2-2",
    "libcurl4-openssl-dev": "libcurl4",
  };
  return own(table, dev) ?? null;
}

export interface RuntimePackages {
  manager: PackageManager | null;
  runtime: string[];
  dropped: string[];
}

/**
 * Splits the OS packages installed before the build into runtime packages
 * (kept for the runtime stage; `-dev` libraries mapped to their runtime
 * library where known) and build-only ones (dropped).
 */
export function classifyPackages(
  installs: PackageInstall[],
  codename: string,
  neededByRuntime: Set<string> = new Set(),
): RuntimePackages {
  const runtime: string[] = [];
  const dropped: string[] = [];
  let manager: PackageManager | null = null;
  for (const inst of installs) {
    for (const p of inst.packages) {
      const isDev = /-(dev|devel|headers)$/.test(p);
      if (neededByRuntime.has(p) || (!isDev && !BUILD_ONLY.has(p))) {
        if (!runtime.includes(p)) runtime.push(p);
        manager = inst.manager;
        continue;
      }
      dropped.push(p);
      if (isDev && inst.manager === "apt") {
        const lib = runtimeLibraryOf(p, codename);
        if (lib && !runtime.includes(lib)) {
          runtime.push(lib);
          manager = "apt";
        }
      }
    }
  }
  return { manager, runtime, dropped };
}

export function aptInstallLine(model: DockerfileModel, packages: string[]): string {
  return `${keyword(model, "RUN")} apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")} && rm -rf /var/lib/apt/lists/*`;
}

export function apkInstallLine(model: DockerfileModel, packages: string[]): string {
  return `${keyword(model, "RUN")} apk add --no-cache ${packages.join(" ")}`;
}

// ---------------------------------------------------------------- classification

/** Instructions that only describe the image at run time (moved to the runtime stage). */
const RUNTIME_ONLY = new Set([
  "EXPOSE",
  "CMD",
  "ENTRYPOINT",
  "LABEL",
  "HEALTHCHECK",
  "STOPSIGNAL",
  "VOLUME",
  "MAINTAINER",
]);
/** Commands a RUN before the build may use without affecting the runtime image. */
const PRE_BUILD_COMMANDS = new Set([
  "apt-get",
  "apt",
  "apk",
  "yum",
  "dnf",
  "microdnf",
  "rm",
  "mkdir",
  "cd",
  "echo",
  "ls",
  "true",
  "pwd",
  "export",
  "set",
  "go",
  "cargo",
  "rustup",
  "rustc",
  "mvn",
  "mvnw",
  "gradle",
  "gradlew",
  "dotnet",
  "chmod",
  "dos2unix",
  "sed",
  "update-ca-certificates",
  "env",
  "which",
]);
/** Commands a RUN after the build may use (tidying the build stage only). */
const POST_BUILD_COMMANDS = new Set(["rm", "ls", "echo", "true", "pwd", "du", "chmod", "strip"]);

export interface Layout {
  /** The build stage's name (existing `AS x` or `build`). */
  buildName: string;
  /** Instructions copied into the runtime stage, in order (moved or duplicated). */
  runtime: Instr[];
  /** Instructions removed from the build stage. */
  moved: Set<Instr>;
  /** OS package installs before the build. */
  installs: PackageInstall[];
  /** The original USER instruction that applies at run time, if any. */
  user: Instr | null;
  cmd: Instr | null;
  entrypoint: Instr | null;
  /** Paths `rm`ed after the build (null: could not tell which). */
  removed: Array<{ path: string | null; line: number }>;
}

export interface LayoutOptions {
  /** RUNs after `build` the ecosystem accepts (e.g. a `cp` of the artifact). */
  acceptPostBuild?: (instr: Instr) => boolean;
  /** Pre-build RUN commands the ecosystem also accepts. */
  extraPreBuildCommands?: string[];
  /** Commands next to the build command in the build RUN the ecosystem accepts. */
  acceptInBuild?: (cmd: ShellCommand) => boolean;
  /** The build command itself (always accepted). */
  buildCommand?: ShellCommand;
}

/**
 * Classifies the stage around the last build step `build`: what is moved,
 * what is duplicated into the runtime stage, and refuses what cannot be
 * carried over safely.
 */
export function layout(input: SplitInput, walk: StageWalk, build: Instr, opts: LayoutOptions = {}): Layout {
  const { model, stage } = input;
  const runtime: Instr[] = [];
  const moved = new Set<Instr>();
  const installs: PackageInstall[] = [];
  let user: Instr | null = null;
  let cmd: Instr | null = null;
  let entrypoint: Instr | null = null;
  const removed: Array<{ path: string | null; line: number }> = [];
  const preOk = new Set([...PRE_BUILD_COMMANDS, ...(opts.extraPreBuildCommands ?? [])]);
  for (const instr of stage.instructions) {
    const after = instr.start > build.start;
    const k = instr.keyword;
    if (k === "ONBUILD") refuse("ONBUILD triggers cannot be split", instr.line);
    if (k === "SHELL") refuse("SHELL changes the shell; the runtime image may lack it", instr.line);
    if (k === "CMD") cmd = instr;
    if (k === "ENTRYPOINT") entrypoint = instr;
    if (RUNTIME_ONLY.has(k)) {
      runtime.push(instr);
      moved.add(instr);
    } else if (k === "USER") {
      user = instr;
      runtime.push(instr);
      if (after) moved.add(instr);
    } else if (k === "ENV" || k === "WORKDIR") {
      runtime.push(instr);
    } else if (k === "COPY" || k === "ADD") {
      if (!after) continue;
      if (instr.flags.some((f) => f.name === "from"))
        refuse(`${k} --from after the build: cannot tell what the runtime needs`, instr.line);
      const chown = instr.flags.find((f) => f.name === "chown");
      if (chown && !/^\d+(:\d+)?$/.test(chown.value ?? "")) {
        refuse(
          `${k} --chown=${chown.value} after the build names a user the runtime image may lack`,
          instr.line,
        );
      }
      runtime.push(instr);
      moved.add(instr);
    } else if (k === "RUN" && instr === build) {
      for (const c of runCommands(model, instr)) {
        const name = commandName(c);
        if (c === opts.buildCommand || c.start === opts.buildCommand?.start) continue;
        if (opts.acceptInBuild?.(c)) continue;
        if (!preOk.has(name) && !POST_BUILD_COMMANDS.has(name)) {
          refuse(`the build RUN also runs \`${name}\`, which may prepare files for run time`, instr.line);
        }
        if (name === "rm" && opts.buildCommand && c.start > opts.buildCommand.start) {
          const dir = runCwd(input, walk, instr, c);
          for (const a of c.args) {
            if (a.value?.startsWith("-")) continue;
            const p = a.value === null || dir === null ? null : walk.expand(a.value, instr);
            removed.push({
              path: p === null || /[*?[]/.test(p) ? null : resolvePath(dir!, p),
              line: instr.line,
            });
          }
        }
      }
      installs.push(...packageInstalls(model, instr));
    } else if (k === "RUN") {
      if (after) {
        if (opts.acceptPostBuild?.(instr)) continue;
        for (const c of runCommands(model, instr)) {
          if (commandName(c) === "rm") {
            const dir = runCwd(input, walk, instr, c);
            for (const a of c.args) {
              if (a.value?.startsWith("-")) continue;
              const p = a.value === null || dir === null ? null : walk.expand(a.value, instr);
              removed.push({
                path: p === null || /[*?[]/.test(p) ? null : resolvePath(dir!, p),
                line: instr.line,
              });
            }
          }
          if (!POST_BUILD_COMMANDS.has(commandName(c))) {
            refuse(
              `RUN after the build (\`${commandName(c)}\`) prepares the image for run time; cannot tell what the runtime stage needs`,
              instr.line,
            );
          }
        }
      } else {
        for (const c of runCommands(model, instr)) {
          const name = commandName(c);
          if (!preOk.has(name)) {
            refuse(
              `RUN before the build runs \`${name}\`, which may install something the app uses at run time`,
              instr.line,
            );
          }
        }
        installs.push(...packageInstalls(model, instr));
      }
    }
  }
  // ARGs the runtime instructions refer to are re-declared there.
  const used = new Set(runtime.flatMap((i) => variablesIn(i.text)));
  const args = [...model.globalArgs, ...stage.instructions].filter(
    (i) => i.keyword === "ARG" && argDeclarations(i).some(([n]) => used.has(n)),
  );
  for (const a of args.reverse()) runtime.unshift(a);
  // Variables the runtime instructions use must come from the file, not the build image.
  const defined = new Set<string>(model.globalArgValues.keys());
  for (const i of [...model.globalArgs, ...stage.instructions]) {
    if (i.keyword === "ENV") for (const [n] of envPairs(i)) defined.add(n);
    if (i.keyword === "ARG") for (const [n] of argDeclarations(i)) defined.add(n);
  }
  for (const i of runtime) {
    if (i.keyword === "CMD" || i.keyword === "ENTRYPOINT" || i.keyword === "HEALTHCHECK") continue;
    for (const v of variablesIn(i.text)) {
      if (!defined.has(v) && v !== "PATH") {
        refuse(
          `${i.keyword} uses $${v}, which the build image defines and the runtime image does not`,
          i.line,
        );
      }
    }
  }
  return {
    buildName: stage.name ?? "build",
    runtime,
    moved,
    installs,
    user,
    cmd,
    entrypoint,
    removed,
  };
}

// ---------------------------------------------------------------- user

export type UserStyle = "debian" | "alpine" | "none";

/** Lines that create and switch to an `app` user (the same user the other planners create). */
export function appUserLines(model: DockerfileModel, style: UserStyle): string[] {
  if (style === "none") return [];
  return [...createUserLines(model, style), userLine(model, "app")];
}

/** Lowest port the file EXPOSEs, if any. */
export function privilegedPort(model: DockerfileModel, stage: Stage): number | null {
  for (const i of stage.instructions) {
    if (i.keyword !== "EXPOSE") continue;
    for (const a of i.args) {
      const n = Number.parseInt(a.value, 10);
      if (Number.isFinite(n) && n < 1024) return n;
    }
  }
  return null;
}

/** The runtime USER the original sets: numeric or well-known names only. */
export function checkOriginalUser(user: Instr | null, known: string[]): void {
  if (!user) return;
  const name = (user.args[0]?.value ?? "").split(":")[0];
  if (/^\d+$/.test(name) || known.includes(name) || /^\$\{?APP_UID\}?$/.test(name)) return;
  refuse(`USER ${name} is created in the build image; the runtime image does not have it`, user.line);
}

// ---------------------------------------------------------------- assembly

export interface RuntimeStage {
  /** Image for the runtime FROM (without registry prefix). */
  image: string;
  /** Lines right after FROM (package installs, user creation). */
  setup: string[];
  /** Artifacts copied from the build stage: absolute paths. */
  artifacts: Array<{ from: string; to: string }>;
  /** Lines after the artifacts (e.g. `USER app`). */
  afterArtifacts?: string[];
  /** Replacement text for runtime instructions (e.g. CMD in exec form); `null` drops one. */
  replace?: Map<Instr, string | null>;
  /** Edits inside the build stage (e.g. `CGO_ENABLED=0`). */
  buildEdits: Edit[];
  message: string;
}

/**
 * Turns the layout and runtime stage into edits: ` AS build` on the FROM,
 * runtime-only instructions (and the comments right above them) moved out of
 * the build stage, and the runtime stage appended after the last build-stage
 * instruction.
 */
export function assemble(input: SplitInput, lay: Layout, rt: RuntimeStage): SplitOutcome {
  const { model, stage, options } = input;
  const eol = model.source.eol;
  for (const a of rt.artifacts) {
    const gone = lay.removed.find((r) => r.path === null || within(a.from, r.path));
    if (gone)
      refuse(`the RUN on line ${gone.line} removes files after the build; ${a.from} may be gone`, gone.line);
  }
  const edits: Edit[] = [...rt.buildEdits];
  if (!stage.name) {
    const image = stage.image!;
    edits.push({ start: image.rawSpan.end, end: image.rawSpan.end, text: ` ${keyword(model, "AS")} build` });
  }
  const kept = stage.instructions.filter((i) => !lay.moved.has(i));
  const lastKept = kept.length > 0 ? kept[kept.length - 1] : stage.from;
  const tailStart = model.lineEndIncludingEol(model.lineStart(lastKept.endLine));
  const lineText = (i: Instr) => {
    const t = model.text.slice(
      model.lineStart(i.line),
      model.lineEndIncludingEol(model.lineStart(i.endLine)),
    );
    return t.endsWith("\n") ? t.replace(/\r?\n$/, "") : t;
  };
  const fromLine = model.lineOf(stage.from.start);
  const attached = (i: Instr) => {
    const out: number[] = [];
    for (let l = i.line - 1; l > fromLine; l--) {
      const c = model.comments.find((x) => x.line === l);
      if (!c) break;
      out.unshift(l);
    }
    return out;
  };
  const lineOnly = (l: number) => {
    const s = model.lineStart(l);
    return model.text.slice(s, model.lineEndIncludingEol(s)).replace(/\r?\n$/, "");
  };
  // Moved instructions above the tail: delete their lines (and attached comments).
  const movedText = new Map<Instr, string[]>();
  for (const i of lay.moved) {
    const comments = attached(i);
    movedText.set(i, [...comments.map(lineOnly), lineText(i)]);
    if (i.start >= tailStart) continue;
    const first = comments.length > 0 ? comments[0] : i.line;
    const rm = removeInstruction(model, i);
    rm.start = model.lineStart(first);
    const before = first > 1 ? lineOnly(first - 1).trim() : "x";
    const nextLine = model.lineOf(rm.end);
    if (rm.end < tailStart && before === "" && lineOnly(nextLine).trim() === "") {
      rm.end = model.lineEndIncludingEol(rm.end);
    }
    edits.push(rm);
  }
  // Tail comments not attached to a moved instruction go at the end of the runtime stage.
  const attachedLines = new Set([...lay.moved].flatMap((i) => attached(i)));
  const looseComments = model.comments.filter(
    (c) =>
      c.start >= tailStart &&
      !attachedLines.has(c.line) &&
      !stage.instructions.some((i) => c.line >= i.line && c.line <= i.endLine),
  );

  const k = (w: string) => keyword(model, w);
  const out: string[] = [];
  out.push(`${k("FROM")} ${baseImage(options, rt.image)}`);
  out.push(...rt.setup);
  const artifactLines = rt.artifacts.map((a) => `${k("COPY")} --from=${lay.buildName} ${a.from} ${a.to}`);
  let placed = false;
  const place = () => {
    if (placed) return;
    placed = true;
    out.push(...artifactLines, ...(rt.afterArtifacts ?? []));
  };
  let prevEnd: number | null = null;
  for (const i of lay.runtime) {
    const early = ["ENV", "WORKDIR", "ARG", "LABEL", "MAINTAINER"].includes(i.keyword);
    if (!early) place();
    // Keep one blank line where the original had one between tail instructions.
    if (prevEnd !== null && i.start >= tailStart && lay.moved.has(i)) {
      const first = attached(i)[0] ?? i.line;
      const gap = model.text.slice(prevEnd, model.lineStart(first));
      if (/\n[ \t]*\r?\n/.test(gap) || /^[ \t]*\r?\n/.test(gap)) out.push("");
    }
    if (i.start >= tailStart) {
      // Loose comments of the tail keep their place among the moved instructions.
      while (looseComments.length > 0 && looseComments[0].start < i.start)
        out.push(lineOnly(looseComments.shift()!.line));
    }
    const replaced = rt.replace?.get(i);
    if (replaced === null) continue;
    const lines = lay.moved.has(i) ? movedText.get(i)! : [lineText(i)];
    if (replaced !== undefined) out.push(...lines.slice(0, -1), replaced);
    else out.push(...lines);
    prevEnd = i.start >= tailStart ? model.lineEndIncludingEol(model.lineStart(i.endLine)) : null;
  }
  place();
  for (const c of looseComments) out.push(lineOnly(c.line));
  const tail = eol + out.map((l) => l + eol).join("");
  const lastKeptLineHasEol = model.text.slice(0, tailStart).endsWith("\n");
  edits.push({ start: tailStart, end: model.text.length, text: (lastKeptLineHasEol ? "" : eol) + tail });
  return { kind: "rewrite", edits, message: rt.message };
}

/** Image name without registry host or `library/`: `docker.io/library/golang` → `golang`. */
export function shortName(name: string): string {
  return name
    .replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, "")
    .replace(/^library\//, "");
}

/** The RUNs of the stage whose commands satisfy `pred`. */
export function runsWith(
  input: SplitInput,
  pred: (cmd: ShellCommand) => boolean,
): Array<{ instr: Instr; cmd: ShellCommand }> {
  const out: Array<{ instr: Instr; cmd: ShellCommand }> = [];
  for (const instr of input.stage.instructions) {
    if (instr.keyword !== "RUN") continue;
    let cmds: ShellCommand[];
    try {
      cmds = runCommands(input.model, instr);
    } catch (e) {
      if (e instanceof Refusal) continue;
      throw e;
    }
    for (const cmd of cmds) if (pred(cmd)) out.push({ instr, cmd });
  }
  return out;
}

/** `cd x` commands inside a RUN before `before`, as the directory the command runs in. */
export function runCwd(input: SplitInput, walk: StageWalk, instr: Instr, cmd: ShellCommand): string | null {
  let dir = walk.cwd.get(instr) ?? null;
  if (dir === null) return null;
  for (const c of runCommands(input.model, instr)) {
    if (c.start >= cmd.start) break;
    if (commandName(c) === "cd") {
      const target = c.args[0]?.value;
      if (!target || c.args.length > 1) return null;
      const t = walk.expand(target, instr);
      if (t === null) return null;
      dir = resolvePath(dir, t);
    }
  }
  return dir;
}

/** Debian codename in an image tag (`1.85-slim-bookworm` → bookworm). */
export function codenameOf(tag: string | null): string | null {
  const m = /(jessie|stretch|buster|bullseye|bookworm|trixie|forky)/.exec(tag ?? "");
  return m ? m[1] : null;
}
