import fs from "node:fs";
import path from "node:path";
import { parseDockerignore, type DockerignoreMatcher } from "../engine/dockerignore-rules.ts";
import type { SideFile } from "../engine/types.ts";
import type { Builder, BuildOutcome, ImageFacts, RunOutcome, RunRequest } from "./builder.ts";

/** One image's measurements. */
export interface SideResult {
  build: BuildOutcome;
  image: ImageFacts | null;
  run: RunOutcome | null;
  /** Build again after one source file changed (layer cache on). */
  rebuild: BuildOutcome | null;
}

export interface Comparison {
  builder: string;
  before: SideResult;
  after: SideResult;
  /** null when it could not be compared (a run did not happen). */
  sameOutput: boolean | null;
  /** Context-relative path of the file changed before the rebuilds, or null. */
  touched: string | null;
}

export interface CompareInput {
  builder: Builder;
  /** Original Dockerfile text and the rewritten one (with any side files, e.g. `.dockerignore`). */
  originalText: string;
  rewrittenText: string;
  sideFiles: SideFile[];
  /** The user's build context; it is copied, never written. */
  contextDir: string;
  /** A scratch folder owned by the caller (deleted by the caller). */
  workDir: string;
  /** Context entries not to copy (e.g. the e2e manifest). */
  exclude?: string[];
  /** File to change before the rebuild: explicit, or "auto" to pick a source file, or null to skip. */
  touch: { file: string; comment: string } | "auto" | null;
  run: RunRequest;
  /** Image tags: `<tagPrefix>:before` / `<tagPrefix>:after`. */
  tagPrefix: string;
  keepImages?: boolean;
  /**
   * How the first build is made cold: "no-cache" (default, leaves the user's cache alone) or
   * "prune" (drop dangling images first; only for a storage dedicated to the run, like the e2e one).
   */
  cold?: "no-cache" | "prune";
  log?: (line: string) => void;
}

/** Source languages by file extension, with their line-comment marker. */
const LANGUAGE_BY_EXT: Record<string, { language: string; comment: string }> = Object.fromEntries(
  (
    [
      ["js", "//", ".ts .tsx .mts .cts .js .jsx .mjs .cjs"],
      ["go", "//", ".go"],
      ["jvm", "//", ".java .kt .scala"],
      ["rust", "//", ".rs"],
      ["c", "//", ".c .h .cc .cpp"],
      ["dotnet", "//", ".cs .fs"],
      ["swift", "//", ".swift"],
      ["python", "#", ".py"],
      ["ruby", "#", ".rb"],
      ["r", "#", ".r"],
      ["script", "#", ".sh .pl"],
    ] as const
  ).flatMap(([language, comment, exts]) => exts.split(" ").map((ext) => [ext, { language, comment }])),
);
const SKIP_DIRS = new Set([
  ".git",
  "node_modules",
  "dist",
  "build",
  "target",
  "vendor",
  "__pycache__",
  ".venv",
  "venv",
  "bin",
  "obj",
  "out",
  ".next",
]);

/**
 * A source file to change for the rebuild measurement: one in the app's main language (the one with
 * the most files; shell and Perl scripts only when there is nothing else), the shallowest, preferring
 * `src/`, and never one the context's `.dockerignore` leaves out (a change there rebuilds nothing).
 */
export function pickTouchFile(root: string): { file: string; comment: string } | null {
  const found: { file: string; comment: string; language: string; depth: number; inSrc: boolean }[] = [];
  let ignore: DockerignoreMatcher | null = null;
  try {
    ignore = parseDockerignore(fs.readFileSync(path.join(root, ".dockerignore"), "utf8"));
  } catch {
    // no .dockerignore: every file is in the context
  }
  const walk = (rel: string, depth: number) => {
    if (depth > 6 || found.length > 2000) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !e.name.startsWith(".")) walk(r, depth + 1);
      } else if (e.isFile() && !ignore?.ignores(r)) {
        const kind = LANGUAGE_BY_EXT[path.extname(e.name).toLowerCase()];
        if (kind) found.push({ file: r, ...kind, depth, inSrc: r.split("/").includes("src") });
      }
    }
  };
  walk("", 0);
  const count = new Map<string, number>();
  for (const f of found) if (f.language !== "script") count.set(f.language, (count.get(f.language) ?? 0) + 1);
  const rank = (f: (typeof found)[number]) => count.get(f.language) ?? 0;
  found.sort(
    (a, b) =>
      rank(b) - rank(a) ||
      Number(b.inSrc) - Number(a.inSrc) ||
      a.depth - b.depth ||
      a.file.localeCompare(b.file),
  );
  return found[0] ? { file: found[0].file, comment: found[0].comment } : null;
}

/**
 * Copies the build context for a build, never following a symlink: a link that stays inside the
 * context is copied as a link (relative, so that it points into the copy), a link that leaves it is
 * left out, as are FIFOs, sockets and devices. Returns the entries left out.
 */
export function copyContext(from: string, to: string, exclude: string[] = []): string[] {
  const skip = new Set(exclude);
  const root = fs.realpathSync(from);
  const left: string[] = [];
  const walk = (rel: string) => {
    const dest = path.join(to, rel);
    fs.mkdirSync(dest, { recursive: true });
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.has(r)) continue;
      const src = path.join(root, r);
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) fs.copyFileSync(src, path.join(to, r));
      else if (e.isSymbolicLink()) {
        const target = fs.readlinkSync(src);
        const resolved = path.resolve(path.dirname(src), target);
        const inside = path.relative(root, resolved);
        if (inside === "" || inside.startsWith("..") || path.isAbsolute(inside)) left.push(r);
        else fs.symlinkSync(path.relative(path.dirname(src), resolved), path.join(to, r));
      } else left.push(r);
    }
  };
  walk("");
  return left;
}

/** Writes a file in a context copy, replacing (never writing through) a link of the same name. */
export function writeInCopy(root: string, file: string, content: string): void {
  const p = path.join(root, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.rmSync(p, { force: true });
  fs.writeFileSync(p, content);
}

function appendLine(root: string, file: string, line: string): void {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  writeInCopy(root, file, `${text}${text.endsWith("\n") || text === "" ? "" : "\n"}${line}\n`);
}

/** How much of an HTTP body is compared: its start (pages often carry build ids or dates further on). */
export const HTTP_BODY_COMPARED = 1024;

/**
 * The error a failing run says: the first line of stderr that names one, with numbers, ids and the
 * container's name masked.
 */
function saidError(stderr: string): string | null {
  return (
    stderr
      .split("\n")
      .find((l) => /error|exception|cannot|not found|denied|failed/i.test(l))
      ?.replace(/dfopt-verify-[\w-]+|0x[0-9a-f]+|[0-9a-f]{8,}|\d+/gi, "#")
      .trim() ?? null
  );
}

/**
 * What `npm start` / `npm run <script>` prints before the script (npm 7+): `> name@version start`,
 * `> <the command>`, a blank line. npm's words, not the app's: a runtime that runs the same command
 * with node itself (the distroless image, which has no npm) prints only the app's output.
 */
const NPM_BANNER = /^\n?> [^\n]* [\w:.-]+\n> [^\n]*\n\n?/;

/** Where two runs differ ("stdout", "exit code", "HTTP status", ...), or null when they agree. */
export function outputDifference(a: RunOutcome, b: RunOutcome): string | null {
  if ((a.health === 0) !== (b.health === 0))
    return `HEALTHCHECK exit code ${a.health ?? "-"} → ${b.health ?? "-"}`;
  if (a.http || b.http) {
    if (a.http?.status !== b.http?.status)
      return `HTTP status ${a.http?.status ?? "-"} → ${b.http?.status ?? "-"}`;
    const start = (r: RunOutcome) => r.http?.body.slice(0, HTTP_BODY_COMPARED);
    if (start(a) !== start(b)) return "HTTP body";
    // two server errors are alike only when they say the same error ("Internal Server Error" is
    // the page of a missing file too)
    if ((a.http?.status ?? 0) >= 500 && saidError(a.stderr) !== saidError(b.stderr))
      return "the error on stderr";
    return null;
  }
  const norm = (s: string) => s.replace(/\r\n/g, "\n").replace(NPM_BANNER, "").trimEnd();
  if (norm(a.stdout) !== norm(b.stdout)) return "stdout";
  if (a.exitCode !== b.exitCode) return `exit code ${a.exitCode ?? "-"} → ${b.exitCode ?? "-"}`;
  // two crashes are alike only when they say the same error (a missing file crashes too)
  if (a.exitCode !== null && a.exitCode !== 0 && saidError(a.stderr) !== saidError(b.stderr))
    return "the error on stderr";
  return null;
}

export function outputsMatch(a: RunOutcome | null, b: RunOutcome | null): boolean | null {
  if (!a || !b) return null;
  return outputDifference(a, b) === null;
}

/**
 * Builds the original and the rewritten Dockerfile against copies of the context, runs both,
 * then changes one source file and builds both again. The user's files are never written.
 */
export async function compareBuilds(input: CompareInput): Promise<Comparison> {
  const { builder, workDir } = input;
  const log = input.log ?? (() => {});
  const cold = input.cold ?? "no-cache";
  // one context copy per image, so that the rebuild change never leaks into the other's cold build
  const ctxBefore = path.join(workDir, "context");
  const ctxAfter = path.join(workDir, "context-rewritten");
  for (const l of copyContext(input.contextDir, ctxBefore, input.exclude ?? []))
    log(`left out of the context copy: ${l} (a link out of the context, or not a regular file)`);
  copyContext(ctxBefore, ctxAfter);
  for (const f of input.sideFiles) writeInCopy(ctxAfter, f.path, f.content);
  const dfBefore = path.join(workDir, "Dockerfile.original");
  const dfAfter = path.join(workDir, "Dockerfile.rewritten");
  fs.writeFileSync(dfBefore, input.originalText.replace(/^\uFEFF/, ""));
  fs.writeFileSync(dfAfter, input.rewrittenText.replace(/^\uFEFF/, ""));
  const tags = { before: `${input.tagPrefix}:before`, after: `${input.tagPrefix}:after` };
  const blank = (): SideResult => ({
    build: { ok: false, seconds: 0, error: "not built" },
    image: null,
    run: null,
    rebuild: null,
  });
  const result: Comparison = {
    builder: builder.name,
    before: blank(),
    after: blank(),
    sameOutput: null,
    touched: null,
  };
  const touch = input.touch === "auto" ? pickTouchFile(ctxBefore) : input.touch;
  const canTouch =
    touch !== null && !!fs.lstatSync(path.join(ctxBefore, touch.file), { throwIfNoEntry: false })?.isFile();
  const stamp = `${touch?.comment ?? "#"} rebuild check ${Date.now()}`;
  const sides = [
    ["before", dfBefore, ctxBefore],
    ["after", dfAfter, ctxAfter],
  ] as const;
  try {
    for (const [side, df, ctx] of sides) {
      const r = result[side];
      if (cold === "prune") {
        // a dedicated storage: drop the layer cache, then build with the cache on (so it is seeded)
        await builder.prune();
        log(`build ${side} (cold: cache pruned)`);
        r.build = await builder.build(df, ctx, tags[side], { noCache: false });
      } else {
        log(`build ${side} (--no-cache)`);
        r.build = await builder.build(df, ctx, tags[side], { noCache: true });
      }
      log(`build ${side}: ${r.build.ok ? "ok" : "FAILED"} in ${r.build.seconds.toFixed(1)} s`);
      if (!r.build.ok) continue;
      r.image = await builder.inspect(tags[side]);
      log(`run ${side}`);
      r.run = await builder.run(tags[side], input.run);
      log(`run ${side}: ${r.run.ok ? "ok" : "FAILED"}`);
      if (canTouch && touch) {
        // buildah/podman keep no layer cache from a --no-cache build: seed it first (not measured)
        if (cold === "no-cache") await builder.build(df, ctx, tags[side], { noCache: false });
        appendLine(ctx, touch.file, stamp);
        result.touched = touch.file;
        log(`rebuild ${side} after changing ${touch.file}`);
        r.rebuild = await builder.build(df, ctx, tags[side], { noCache: false });
        log(`rebuild ${side}: ${r.rebuild.ok ? "ok" : "FAILED"} in ${r.rebuild.seconds.toFixed(1)} s`);
      }
      // buildah keeps the intermediate images under a tagged image as cache: drop the tag too, or
      // the next cold build would reuse the steps both Dockerfiles share
      if (cold === "prune") await builder.remove([tags[side]]);
    }
    result.sameOutput = outputsMatch(result.before.run, result.after.run);
  } finally {
    if (!input.keepImages) await builder.remove([tags.before, tags.after]);
  }
  return result;
}
