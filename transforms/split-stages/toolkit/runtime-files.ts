/**
 * Files a compiled app reads at run time from its working directory
 * (templates, static assets, config files) or names on its command line.
 */
import { parseDockerignore } from "../../../src/engine/dockerignore-rules.ts";
import type { Stage } from "../../../src/engine/parse.ts";
import { basename, dirname, isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { BuildContext } from "../../../src/engine/types.ts";
import { contextMemo } from "../../lib/context-memo.ts";
import type { Layout } from "./assemble.ts";
import { commandWords } from "./shell.ts";
import { contextPathOf, type StageWalk } from "./walk.ts";
import { envPairs } from "../../../src/engine/parse.ts";

const ignoreMatchers = contextMemo<(path: string) => boolean>(1);

const runtimeFileLists = contextMemo<string[]>(256);

export function contextIgnores(context: BuildContext): (path: string) => boolean {
  return ignoreMatchers(context, "", () => compileDockerignore(context));
}

function compileDockerignore(context: BuildContext): (path: string) => boolean {
  const text = context.readFile(".dockerignore");
  if (!text) return () => false;
  const matcher = parseDockerignore(text);
  return (p: string) => p !== "" && matcher.ignores(p);
}

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
  const ignored = contextIgnores(context);
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
      c.source === "" || walk.context.isDirectory(c.source) ? isInside(abs, c.dest) : abs === c.dest,
    );
    if (!fromContext) continue;
    const ctx = contextPathOfFile(walk, abs);
    if (ctx !== null && walk.context.root !== "<none>" && !walk.context.exists(ctx)) continue;
    if (ctx !== null && contextIgnores(walk.context)(ctx)) continue;
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
