import { shortImageName } from "../../src/engine/image-ref.ts";
import { unquote, type DockerfileModel, type Instr, type Stage } from "../../src/engine/parse.ts";
import { absolutePath } from "../../src/engine/paths.ts";
import { parentStage } from "../lib/stages.ts";

/** Shared helpers for the instruction-level smell repairs. */

/** `replacement` written in the case of `written` (`add` → `copy`, `Add` → `Copy`). */
export function matchCase(written: string, replacement: string): string {
  if (written === written.toLowerCase()) return replacement.toLowerCase();
  if (written === written.toUpperCase()) return replacement.toUpperCase();
  return replacement[0].toUpperCase() + replacement.slice(1).toLowerCase();
}

/**
 * The chain of stages a stage builds on inside this file, nearest first,
 * ending with the stage whose FROM names an external image.
 */
export function stageChain(model: DockerfileModel, stage: Stage): Stage[] {
  const chain: Stage[] = [stage];
  const seen = new Set<Stage>(chain);
  let cur = parentStage(model, stage);
  while (cur && !seen.has(cur)) {
    chain.push(cur);
    seen.add(cur);
    cur = parentStage(model, cur);
  }
  return chain;
}

/** The external image a stage finally builds on (null when it uses unresolved variables). */
export function rootImage(
  model: DockerfileModel,
  stage: Stage,
): { name: string; tag: string | null; raw: string } | null {
  const chain = stageChain(model, stage);
  const root = chain[chain.length - 1];
  const img = root.image;
  if (!img) return null;
  if (img.usesVariables && /\$/.test(img.expanded)) return null;
  if (img.usesVariables && (img.expanded === "" || img.name === "")) return null;
  return { name: shortImageName(img.name), tag: img.tag ? img.tag.toLowerCase() : null, raw: img.raw };
}

/**
 * Official Docker Hub images built on the official Debian or Ubuntu images
 * (in their non-alpine variants): they ship bash, and their
 * /etc/apt/apt.conf.d/docker-clean deletes downloaded .deb files.
 */
export const OFFICIAL_DEBIAN_FAMILY: ReadonlySet<string> = new Set([
  "debian",
  "ubuntu",
  "buildpack-deps",
  "node",
  "python",
  "golang",
  "ruby",
  "php",
  "perl",
  "rust",
  "openjdk",
  "eclipse-temurin",
  "maven",
  "gradle",
  "elixir",
  "erlang",
  "haskell",
  "julia",
  "r-base",
  "swift",
]);

/**
 * Whether the image is a Windows image (paths and shells differ): by its name or tag, or a
 * repository that has only Windows images (.NET Framework, IIS).
 */
export function isWindowsImage(name: string, tag: string | null): boolean {
  return (
    /windows|servercore|nanoserver|dotnet\/framework|^microsoft\/(iis|dotnet-framework)$/.test(name) ||
    /windows|servercore|nanoserver|ltsc/.test(tag ?? "")
  );
}

/** Instructions from `after` (exclusive) to the end of its stage. */
export function laterInStage(model: DockerfileModel, instr: Instr): Instr[] {
  const stage = model.stages[instr.stage];
  if (!stage) return [];
  const at = stage.instructions.indexOf(instr);
  return stage.instructions.slice(at + 1);
}

/** The source text of a span. */
export function slice(model: DockerfileModel, span: { start: number; end: number }): string {
  return model.text.slice(span.start, span.end);
}

/** A Docker double-quoted word holding `value` literally (no variable expansion). */
export function dockerQuoteLiteral(value: string, escapeChar: string): string {
  let out = '"';
  for (const c of value) {
    if (c === '"' || c === "$" || c === escapeChar) out += escapeChar;
    out += c;
  }
  return out + '"';
}

/** A plain path word: no variables, quotes, globs, escapes or whitespace. */
export const LITERAL_PATH = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * The working directory each instruction of a stage runs in, as far as this
 * file tells: null when unknown (inherited from an unknown base image, or set
 * from a variable). Keyed by instruction; the value is the directory before it.
 */
export function workdirsBefore(model: DockerfileModel, stage: Stage): Map<Instr, string | null> {
  const out = new Map<Instr, string | null>();
  let cur = initialWorkdir(model, stage);
  for (const instr of stage.instructions) {
    out.set(instr, cur);
    if (instr.keyword === "WORKDIR") cur = applyWorkdir(cur, instr);
  }
  return out;
}

/** The stage's working directory at its end (what a child stage inherits). */
export function finalWorkdir(model: DockerfileModel, stage: Stage, depth = 0): string | null {
  let cur = depth > 20 ? null : initialWorkdir(model, stage, depth);
  for (const instr of stage.instructions) if (instr.keyword === "WORKDIR") cur = applyWorkdir(cur, instr);
  return cur;
}

function initialWorkdir(model: DockerfileModel, stage: Stage, depth = 0): string | null {
  const parent = parentStage(model, stage);
  if (parent) return finalWorkdir(model, parent, depth + 1);
  if (stage.image && stage.image.raw.toLowerCase() === "scratch") return "/";
  if (stage.image && !stage.image.usesVariables && ROOT_WORKDIR_IMAGES.has(shortImageName(stage.image.name)))
    return "/";
  return null;
}

/**
 * Official images whose Dockerfiles never set WORKDIR, so they start in `/`
 * (unlike golang's /go or php's /var/www/html).
 */
export const ROOT_WORKDIR_IMAGES = new Set([
  "debian",
  "ubuntu",
  "alpine",
  "busybox",
  "centos",
  "fedora",
  "amazonlinux",
  "rockylinux",
  "almalinux",
  "node",
  "python",
]);

/** The directory after a WORKDIR instruction, given the one before it. */
export function applyWorkdir(cur: string | null, instr: Instr): string | null {
  const value = workdirValue(instr);
  if (value === null) return null;
  if (value.startsWith("/")) return absolutePath(value);
  if (cur === null) return null;
  return absolutePath(cur + "/" + value);
}

/** The literal path of a WORKDIR, or null when it is not a single plain word. */
export function workdirValue(instr: Instr): string | null {
  if (instr.args.length !== 1) return null;
  const v = unquote(instr.args[0].value);
  return LITERAL_PATH.test(v) && !/^[A-Za-z]:/.test(v) ? v : null;
}

/**
 * Offset where lines inserted "before" an instruction go: above the comment
 * block directly on top of it, so comments (and suppression comments such as
 * `# hadolint ignore=...`) stay attached to the instruction they describe.
 */
export function insertionPointBefore(model: DockerfileModel, instr: Instr): number {
  let line = instr.line;
  while (line > 1) {
    const start = model.lineStart(line - 1);
    const text = model.text.slice(start, model.lineStart(line)).trim();
    if (!text.startsWith("#")) break;
    if (/^#\s*(?:syntax|escape|check)\s*=/i.test(text) && line - 1 === 1) break;
    line--;
  }
  return model.lineStart(line);
}
