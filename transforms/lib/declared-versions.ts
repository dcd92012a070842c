/**
 * The language/runtime versions a build context declares, read from the usual
 * version files. Pure: it reads only through the BuildContext, never the disk.
 *
 *   node    .nvmrc, .node-version, package.json volta.node, package.json engines.node, .tool-versions
 *   go      go.mod `toolchain goX.Y.Z`, then `go X.Y`, .tool-versions
 *   python  .python-version, runtime.txt, pyproject requires-python / tool.poetry python, .tool-versions
 *   java    pom.xml (maven.compiler.release/source/target, java.version, compiler plugin <release>),
 *           build.gradle(.kts) (JavaLanguageVersion.of, Kotlin jvmToolchain, sourceCompatibility)
 *   rust    rust-toolchain, rust-toolchain.toml (numeric channels only), .tool-versions
 *   dotnet  global.json sdk.version, then <TargetFramework> of *.csproj/*.fsproj at the root or one level down
 *
 * Files are read at the context root only (plus one level for .NET projects).
 * Each `version` is already reduced to what an official image tags:
 *   node    major ("20") for ranges, the exact version when one is pinned ("20.11.0")
 *   go      major.minor ("1.22")     python  major.minor ("3.12"), exact when a spec pins one
 *   java    feature release ("17")   rust    as written ("1.75" / "1.75.0")
 *   dotnet  major.minor ("8.0")
 * Ranges become the newest known line that satisfies them, preferring lines
 * no newer than the catalog's current one (`>=18` → "24", `^20.1` → "20").
 * The first file that declares a version wins, even when it cannot be mapped
 * (then `version` is null).
 */
import type { BuildContext } from "../../src/engine/types.ts";
import {
  IMAGES,
  NODE_LTS_CODENAMES,
  NODE_RELEASES,
  PYTHON_MINORS,
  type Ecosystem,
} from "../catalog/images.ts";
import { own } from "./own.ts";
import { contextMemo } from "./context-memo.ts";

export interface DeclaredVersion {
  /**
   * Version at the precision the ecosystem's official image tags; null when
   * the project declares a version dfopt cannot map to a tag (an unknown
   * range such as `~20.1.0`, `lts/unknown`). Callers must then not pick a
   * version of their own for that ecosystem.
   */
  version: string | null;
  /** Where it came from, for messages: `package.json engines.node ">=20"`. */
  source: string;
}

export type DeclaredVersions = Partial<Record<Ecosystem, DeclaredVersion>>;

// Several transforms ask per pass; a context's files do not change during a run.
const memo = contextMemo<DeclaredVersions>(1);

export function declaredVersions(context: BuildContext): DeclaredVersions {
  return memo(context, "", () => computeDeclaredVersions(context));
}

function computeDeclaredVersions(context: BuildContext): DeclaredVersions {
  const out: DeclaredVersions = {};
  const toolVersions = parseToolVersions(context.readFile(".tool-versions"));
  const found = {
    node: nodeVersion(context, toolVersions),
    go: goVersion(context, toolVersions),
    python: pythonVersion(context, toolVersions),
    java: javaVersion(context),
    rust: rustVersion(context, toolVersions),
    dotnet: dotnetVersion(context),
  };
  for (const [k, v] of Object.entries(found) as Array<[Ecosystem, DeclaredVersion | null]>) {
    if (v) out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------- versions

type Triple = [number, number, number];
type Predicate = (v: Triple) => boolean;

const cmp = (a: Triple, b: Triple) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** "20" → [20], "v20.1.x" → [20, 1], "*" → []; null when not a version. */
function partial(text: string): number[] | null {
  const t = text.trim().replace(/^v/i, "");
  if (t === "" || t === "*" || /^x$/i.test(t)) return [];
  const parts = t.split(".");
  const nums: number[] = [];
  for (const p of parts) {
    if (p === "*" || /^x$/i.test(p)) break;
    const m = /^(\d+)/.exec(p);
    if (!m) return null;
    nums.push(Number(m[1]));
    if (m[1] !== p) break; // pre-release / build suffix: ignore the rest
  }
  return nums.slice(0, 3);
}

const fill = (p: number[]): Triple => [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];

/** The first version above every version matching the partial (`20` → 21.0.0, `20.1` → 20.2.0). */
function after(p: number[]): Triple | null {
  if (p.length === 0) return null;
  if (p.length === 1) return [p[0] + 1, 0, 0];
  if (p.length === 2) return [p[0], p[1] + 1, 0];
  return [p[0], p[1], p[2] + 1];
}

const atLeast =
  (lo: Triple): Predicate =>
  (v) =>
    cmp(v, lo) >= 0;
const below =
  (hi: Triple | null): Predicate =>
  (v) =>
    hi === null || cmp(v, hi) < 0;
const both =
  (a: Predicate, b: Predicate): Predicate =>
  (v) =>
    a(v) && b(v);

function npmComparator(op: string, p: number[]): Predicate | null {
  const lo = fill(p);
  switch (op) {
    case "":
    case "=":
      return both(atLeast(lo), below(after(p)));
    case ">=":
      return atLeast(lo);
    case ">":
      return p.length === 0 ? () => false : atLeast(after(p)!);
    case "<":
      return p.length === 0 ? () => false : below(lo);
    case "<=":
      return below(after(p));
    case "~":
      return both(atLeast(lo), below(after(p.length >= 2 ? p.slice(0, 2) : p)));
    case "^": {
      if (p.length === 0) return () => true;
      const i = p[0] > 0 || p.length === 1 ? 0 : p[1] > 0 || p.length === 2 ? 1 : 2;
      return both(atLeast(lo), below(after(p.slice(0, i + 1))));
    }
  }
  return null;
}

/** An npm semver range (`>=18 <21 || ^22`, `20.x`, `18 - 20`) as a predicate; null when unreadable. */
export function npmRange(range: string): Predicate | null {
  const sets: Predicate[] = [];
  for (const alt of range.split("||")) {
    let text = alt.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1");
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
    if (hyphen) text = `>=${hyphen[1]} <=${hyphen[2]}`;
    const preds: Predicate[] = [];
    for (const token of text.split(/\s+/).filter(Boolean)) {
      const m = /^(>=|<=|>|<|=|\^|~>?|)(.*)$/.exec(token)!;
      const p = partial(m[2]);
      if (!p) return null;
      const pred = npmComparator(m[1].replace("~>", "~"), p);
      if (!pred) return null;
      preds.push(pred);
    }
    sets.push((v) => preds.every((f) => f(v)));
  }
  return sets.length > 0 ? (v) => sets.some((f) => f(v)) : null;
}

/** A PEP 440 specifier set (`>=3.9,<3.13`, `~=3.10`, `==3.11.*`) or Poetry constraint (`^3.10`). */
export function pep440Range(spec: string): Predicate | null {
  const preds: Predicate[] = [];
  for (const clause of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(~=|===|==|!=|>=|<=|>|<|\^|~|)\s*(.+)$/.exec(clause);
    if (!m) return null;
    const [, op, ver] = m;
    const wildcard = /\.\*$/.test(ver);
    const p = partial(ver.replace(/\.\*$/, ""));
    if (!p || p.length === 0) return null;
    let pred: Predicate | null;
    if (op === "~=") {
      if (p.length < 2) return null;
      pred = both(atLeast(fill(p)), below(after(p.slice(0, p.length - 1))));
    } else if (op === "==" || op === "===" || op === "") {
      pred = wildcard || op === "" ? npmComparator("=", p) : (v) => cmp(v, fill(p)) === 0;
    } else if (op === "!=") {
      const eq = wildcard ? npmComparator("=", p)! : (v: Triple) => cmp(v, fill(p)) === 0;
      pred = (v) => !eq(v);
    } else if (op === ">" && !wildcard) {
      pred = (v) => cmp(v, fill(p)) > 0;
    } else if (op === "<=" && !wildcard) {
      pred = (v) => cmp(v, fill(p)) <= 0;
    } else {
      pred = npmComparator(op, p);
    }
    if (!pred) return null;
    preds.push(pred);
  }
  return preds.length > 0 ? (v) => preds.every((f) => f(v)) : null;
}

/**
 * The line to use for a range: the newest satisfying line not newer than
 * `current` (preferring lines `prefer` accepts, e.g. Node LTS majors), else
 * the oldest newer one. `lines` pairs a tag with the newest version it means.
 */
function pickLine(
  lines: Array<[string, Triple]>,
  current: Triple,
  ok: Predicate,
  prefer: (tag: string) => boolean = () => true,
): string | null {
  const sorted = [...lines].sort((a, b) => cmp(b[1], a[1]));
  const older = sorted.filter(([, v]) => cmp(v, current) <= 0);
  const newer = sorted.filter(([, v]) => cmp(v, current) > 0).reverse();
  for (const [tag, v] of [...older.filter(([t]) => prefer(t)), ...older, ...newer]) if (ok(v)) return tag;
  return null;
}

const triple = (s: string): Triple => fill(partial(s) ?? []);

/** Node major (as a string) satisfying an npm range; null when none is known. */
export function nodeLineFor(range: string): string | null {
  const ok = npmRange(range);
  if (!ok) return null;
  const lines = Object.entries(NODE_RELEASES).map(
    ([major, last]) => [major, triple(last)] as [string, Triple],
  );
  const current = triple(IMAGES.node.tag ?? "0");
  return pickLine(lines, [current[0], 999, 999], ok, (tag) => Number(tag) % 2 === 0);
}

/**
 * Python `3.N` line satisfying a PEP 440 / Poetry spec, or the exact version
 * when the spec pins one (`==3.11.5`, Poetry's bare `3.11.5`: Poetry refuses
 * any other patch release); null when none is known.
 */
export function pythonLineFor(spec: string): string | null {
  const exact = /^\s*(?:===?)?\s*(3\.\d+\.\d+)\s*$/.exec(spec);
  if (exact) return exact[1];
  const ok = pep440Range(spec);
  if (!ok) return null;
  const lines = PYTHON_MINORS.map((m) => [`3.${m}`, [3, m, 99]] as [string, Triple]);
  const current = triple(IMAGES.python.tag ?? "3.0");
  return pickLine(lines, [current[0], current[1], 99], ok);
}

// ---------------------------------------------------------------- files

const firstLine = (text: string | undefined): string | null => {
  if (text === undefined) return null;
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line) return line;
  }
  return null;
};

const EXACT = /^v?(\d+(?:\.\d+){0,2})$/;

function parseToolVersions(text: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!text) return map;
  for (const raw of text.split(/\r?\n/)) {
    const [tool, version] = raw.replace(/#.*$/, "").trim().split(/\s+/);
    if (tool && version && !map.has(tool)) map.set(tool, version);
  }
  return map;
}

function readJson(context: BuildContext, file: string): Record<string, unknown> | null {
  const text = context.readFile(file);
  if (text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text.replace(/^\uFEFF/, ""));
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const field = (obj: unknown, ...path: string[]): string | null => {
  let cur = obj;
  for (const k of path) {
    if (!cur || typeof cur !== "object") return null;
    cur = (cur as Record<string, unknown>)[k];
  }
  return typeof cur === "string" && cur.trim() ? cur.trim() : null;
};

/** An nvm-style spec: exact version, `lts/<name>`, `lts/*`, or a range; undefined when it declares nothing. */
function nodeSpec(spec: string): string | null | undefined {
  const s = spec.trim();
  const exact = EXACT.exec(s);
  if (exact) return exact[1];
  const lts = /^lts\/(.+)$/i.exec(s);
  if (lts) {
    if (lts[1] === "*") return IMAGES.node.tag ?? null;
    const major = own(NODE_LTS_CODENAMES, lts[1].toLowerCase());
    return major ? String(major) : null;
  }
  if (/^(node|stable|latest|current|system|\*)$/i.test(s) || s === "") return undefined;
  return nodeLineFor(s);
}

function nodeVersion(context: BuildContext, tools: Map<string, string>): DeclaredVersion | null {
  for (const file of [".nvmrc", ".node-version"]) {
    const line = firstLine(context.readFile(file));
    const version = line ? nodeSpec(line) : undefined;
    if (line && version !== undefined) return { version, source: `${file} "${line}"` };
  }
  const pkg = readJson(context, "package.json");
  const volta = field(pkg, "volta", "node");
  if (volta && EXACT.test(volta))
    return { version: EXACT.exec(volta)![1], source: `package.json volta.node "${volta}"` };
  const engines = field(pkg, "engines", "node");
  if (engines) {
    const version = nodeSpec(engines);
    if (version !== undefined) return { version, source: `package.json engines.node "${engines}"` };
  }
  const tool = tools.get("nodejs") ?? tools.get("node");
  if (tool && EXACT.test(tool))
    return { version: EXACT.exec(tool)![1], source: `.tool-versions nodejs ${tool}` };
  return null;
}

const minorOf = (v: string) => v.split(".").slice(0, 2).join(".");

function goVersion(context: BuildContext, tools: Map<string, string>): DeclaredVersion | null {
  const mod = context.readFile("go.mod");
  if (mod) {
    const toolchain = /^\s*toolchain\s+go(\d+\.\d+(?:\.\d+)?)\s*(?:\/\/.*)?$/m.exec(mod);
    if (toolchain) return { version: minorOf(toolchain[1]), source: `go.mod toolchain go${toolchain[1]}` };
    const go = /^\s*go\s+(\d+\.\d+(?:\.\d+)?)\s*(?:\/\/.*)?$/m.exec(mod);
    if (go) return { version: minorOf(go[1]), source: `go.mod go ${go[1]}` };
  }
  const tool = tools.get("golang") ?? tools.get("go");
  if (tool && /^\d+\.\d+/.test(tool))
    return { version: minorOf(tool), source: `.tool-versions golang ${tool}` };
  return null;
}

const PY_EXACT = /^(?:python-?)?(3\.\d+)(?:\.\d+)?$/i;

function pythonVersion(context: BuildContext, tools: Map<string, string>): DeclaredVersion | null {
  const pv = firstLine(context.readFile(".python-version"));
  if (pv && PY_EXACT.test(pv)) return { version: PY_EXACT.exec(pv)![1], source: `.python-version "${pv}"` };
  const rt = firstLine(context.readFile("runtime.txt"));
  if (rt && PY_EXACT.test(rt) && /^python/i.test(rt)) {
    return { version: PY_EXACT.exec(rt)![1], source: `runtime.txt "${rt}"` };
  }
  const pyproject = context.readFile("pyproject.toml");
  if (pyproject) {
    const project = tomlSection(pyproject, "project");
    const requires = project && /^\s*requires-python\s*=\s*(["'])(.+?)\1/m.exec(project);
    if (requires)
      return {
        version: pythonLineFor(requires[2]),
        source: `pyproject.toml requires-python "${requires[2]}"`,
      };
    const poetry = tomlSection(pyproject, "tool.poetry.dependencies");
    const py = poetry && /^\s*python\s*=\s*(["'])(.+?)\1/m.exec(poetry);
    if (py && py[2].trim() !== "*") {
      return { version: pythonLineFor(py[2]), source: `pyproject.toml tool.poetry python "${py[2]}"` };
    }
  }
  const tool = tools.get("python");
  if (tool && PY_EXACT.test(tool))
    return { version: PY_EXACT.exec(tool)![1], source: `.tool-versions python ${tool}` };
  return null;
}

/** Body of a `[name]` TOML table (up to the next table header); null when absent. */
function tomlSection(text: string, name: string): string | null {
  const lines = text.split(/\r?\n/);
  const header = new RegExp(`^\\s*\\[\\s*${name.replace(/\./g, "\\s*\\.\\s*")}\\s*\\]\\s*(#.*)?$`);
  const start = lines.findIndex((l) => header.test(l));
  if (start === -1) return null;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^\s*\[/.test(l)) break;
    body.push(l);
  }
  return body.join("\n");
}

/** "1.8" → "8", "17" → "17", "${java.version}" resolved through pom properties. */
function javaRelease(value: string): string | null {
  const m = /^\s*(?:1\.)?(\d+)\s*$/.exec(value);
  return m && Number(m[1]) >= 5 ? m[1] : null;
}

function javaVersion(context: BuildContext): DeclaredVersion | null {
  const pom = context.readFile("pom.xml");
  if (pom) {
    const xml = pom.replace(/<!--[\s\S]*?-->/g, "");
    const prop = (name: string) => {
      const m = new RegExp(`<${name.replace(/\./g, "\\.")}>\\s*([^<]+?)\\s*</`).exec(xml);
      return m ? m[1] : null;
    };
    const resolve = (v: string | null, depth = 0): string | null => {
      const ref = v && /^\$\{([^}]+)\}$/.exec(v);
      if (ref && depth < 3) return resolve(prop(ref[1]), depth + 1);
      return v;
    };
    const plugin =
      /<artifactId>\s*maven-compiler-plugin\s*<\/artifactId>[\s\S]*?<\/plugin>/.exec(xml)?.[0] ?? "";
    const pluginRelease = /<release>\s*([^<]+?)\s*<\/release>/.exec(plugin)?.[1] ?? null;
    const candidates: Array<[string, string | null]> = [
      ["maven.compiler.release", prop("maven.compiler.release")],
      ["maven-compiler-plugin release", pluginRelease],
      ["java.version", prop("java.version")],
      ["maven.compiler.source", prop("maven.compiler.source")],
      ["maven.compiler.target", prop("maven.compiler.target")],
    ];
    for (const [name, raw] of candidates) {
      const value = resolve(raw);
      const version = value ? javaRelease(value) : null;
      if (raw && version) return { version, source: `pom.xml ${name} ${value}` };
    }
  }
  for (const file of ["build.gradle", "build.gradle.kts"]) {
    const gradle = context.readFile(file)?.replace(/\/\/.*$/gm, "");
    if (!gradle) continue;
    const toolchain = /JavaLanguageVersion\.of\(\s*["']?(\d+)["']?\s*\)/.exec(gradle);
    if (toolchain)
      return { version: toolchain[1], source: `${file} JavaLanguageVersion.of(${toolchain[1]})` };
    // Kotlin's shorthand for the same toolchain.
    const kotlinToolchain = /\bjvmToolchain\(\s*(\d+)\s*\)/.exec(gradle);
    if (kotlinToolchain)
      return { version: kotlinToolchain[1], source: `${file} jvmToolchain(${kotlinToolchain[1]})` };
    const compat =
      /sourceCompatibility\s*=\s*(?:JavaVersion\.VERSION_(?:1_)?(\d+)|["']?(?:1\.)?(\d+)["']?)/.exec(gradle);
    const version = compat ? (compat[1] ?? compat[2]) : null;
    if (version && Number(version) >= 5) return { version, source: `${file} sourceCompatibility ${version}` };
  }
  return null;
}

const RUST = /^(\d+\.\d+(?:\.\d+)?)$/;

function rustVersion(context: BuildContext, tools: Map<string, string>): DeclaredVersion | null {
  for (const file of ["rust-toolchain.toml", "rust-toolchain"]) {
    const text = context.readFile(file);
    if (text === undefined) continue;
    const channel =
      /^\s*channel\s*=\s*["']([^"']+)["']/m.exec(text)?.[1] ??
      (file === "rust-toolchain" ? firstLine(text) : null);
    if (channel && RUST.test(channel)) return { version: channel, source: `${file} channel ${channel}` };
    return null; // stable / nightly / beta: no version to pin
  }
  const tool = tools.get("rust");
  if (tool && RUST.test(tool)) return { version: tool, source: `.tool-versions rust ${tool}` };
  return null;
}

function dotnetVersion(context: BuildContext): DeclaredVersion | null {
  const sdk = field(readJson(context, "global.json"), "sdk", "version");
  const m = sdk && /^(\d+\.\d+)\.\d+/.exec(sdk);
  if (m) return { version: m[1], source: `global.json sdk.version ${sdk}` };
  let best: { version: string; source: string } | null = null;
  const projects = (dir: string) =>
    context
      .list(dir)
      .filter((f) => /\.(cs|fs|vb)proj$/i.test(f))
      .map((f) => (dir ? `${dir}/${f}` : f));
  const files = projects("");
  if (files.length === 0) {
    for (const d of context.list(""))
      if (context.isDirectory(d) && !d.startsWith(".")) files.push(...projects(d));
  }
  for (const file of files) {
    const text = context.readFile(file) ?? "";
    const tfm = /<TargetFrameworks?>\s*([^<]+?)\s*<\/TargetFrameworks?>/i.exec(text)?.[1] ?? "";
    for (const t of tfm.split(";")) {
      const v = /^net(?:coreapp)?(\d+\.\d+)$/i.exec(t.trim());
      if (!v || Number(v[1].split(".")[0]) < 2) continue; // net48 & co. are .NET Framework
      if (!best || Number(v[1]) > Number(best.version))
        best = { version: v[1], source: `${file} TargetFramework ${t.trim()}` };
    }
  }
  return best;
}
