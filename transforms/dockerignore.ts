/**
 * dockerignore: propose a `.dockerignore` (or the essentials a present one
 * lacks) so the build context leaves out VCS data, host dependency folders,
 * build outputs the Dockerfile rebuilds anyway, local env files and editor
 * clutter. Never ignores what the Dockerfile copies by name, never removes a
 * line, and does nothing without a real build context.
 */
import { isDockerfileName } from "../src/engine/dockerfile-names.ts";
import { dockerignoreMatcher, dockerignorePatterns } from "../src/engine/dockerignore-rules.ts";
import type { DockerfileModel, Instr } from "../src/engine/parse.ts";
import type { BuildContext, Transform, TransformOptions, TransformResult } from "../src/engine/types.ts";
import { contextMemo } from "./lib/context-memo.ts";

interface Entry {
  pattern: string;
  /** Paths used to test whether existing rules already cover it. */
  probes: string[];
  /** Names that, when mentioned by the Dockerfile, mean the entry must not be added. */
  mentions: RegExp;
  why: string;
}

const entry = (pattern: string, why: string, probes: string[], mentions: RegExp): Entry => ({
  pattern,
  why,
  probes,
  mentions,
});

const COMMON: Entry[] = [
  entry(
    ".git",
    "version control",
    [".git/HEAD", ".git/objects/x"],
    /\.git(?:\/|\b(?!ignore|hub|attributes|keep|modules))/,
  ),
  entry(".vscode", "editor settings", [".vscode/settings.json"], /\.vscode/),
  entry(".idea", "editor settings", [".idea/workspace.xml"], /\.idea/),
  entry("**/.DS_Store", "OS clutter", [".DS_Store", "src/.DS_Store"], /\.DS_Store/),
  entry("**/*.swp", "editor swap files", ["a.swp", "src/a.swp"], /\.swp/),
];

const ENV_FILES: Entry[] = [
  entry(".env", "local secrets", [".env"], /(?:^|[\s/"'=])\.env(?:$|[\s"'\]])|dotenv|env[-_]?file|\.env\b/),
  entry(".env.*.local", "local secrets", [".env.development.local"], /\.env\./),
];

const NODE_DEPS: Entry[] = [
  entry(
    "**/node_modules",
    "host dependencies; the image installs its own",
    ["node_modules/x/package.json", "packages/a/node_modules/x"],
    /node_modules/,
  ),
  entry("**/npm-debug.log*", "logs", ["npm-debug.log"], /npm-debug/),
  entry("**/yarn-error.log", "logs", ["yarn-error.log"], /yarn-error/),
];

const PYTHON: Entry[] = [
  entry("**/__pycache__", "bytecode caches", ["__pycache__/a.pyc", "app/__pycache__/a.pyc"], /__pycache__/),
  entry("**/*.py[cod]", "bytecode", ["a.pyc", "app/a.pyo"], /\.py[cod]\b/),
  entry(".venv", "host virtualenv; the image installs its own", [".venv/bin/python"], /\.venv\b/),
  entry(
    "venv",
    "host virtualenv; the image installs its own",
    ["venv/bin/python"],
    /(?:^|[\s/"'])venv(?:\/|\b)/,
  ),
  entry(".pytest_cache", "test caches", [".pytest_cache/v"], /pytest_cache/),
  entry(".mypy_cache", "type-check caches", [".mypy_cache/x"], /mypy_cache/),
];

/** Build outputs, added only when the Dockerfile itself runs the build that produces them. */
const NODE_OUTPUTS: Entry[] = [
  entry("dist", "build output, rebuilt in the image", ["dist/index.js"], /(?:^|[\s/"'])dist\b/),
  entry("coverage", "test output", ["coverage/lcov.info"], /coverage/),
];
const JAVA_OUTPUTS: Entry[] = [
  entry("target", "build output, rebuilt in the image", ["target/app.jar"], /\btarget\//),
  entry(
    "build",
    "build output, rebuilt in the image",
    ["build/libs/app.jar"],
    /(?:^|[\s"'=])(?:\.\/|\/\w+\/)?build\/|COPY[^\n]*\sbuild\s/,
  ),
  entry(".gradle", "Gradle caches", [".gradle/x"], /\.gradle\b(?!\.kts|w)/),
];
const RUST_OUTPUTS: Entry[] = [
  entry("target", "build output, rebuilt in the image", ["target/release/app"], /\btarget\//),
];
const DOTNET_OUTPUTS: Entry[] = [
  entry(
    "**/bin",
    "build output, rebuilt in the image",
    ["bin/Debug/x.dll", "src/App/bin/x.dll"],
    /(?:^|[\s/"'])bin\//,
  ),
  entry(
    "**/obj",
    "build output, rebuilt in the image",
    ["obj/project.assets.json", "src/App/obj/x"],
    /(?:^|[\s/"'])obj\//,
  ),
];

const has = (ctx: BuildContext, ...files: string[]) => files.some((f) => ctx.exists(f));

function runText(model: DockerfileModel): string {
  return model.instructions
    .filter((i) => i.keyword === "RUN")
    .map((i) => i.text)
    .join("\n");
}

/** The entries this Dockerfile + context calls for, in file order. */
function wanted(model: DockerfileModel, context: BuildContext): Entry[] {
  const runs = runText(model);
  const out: Entry[] = [...COMMON, ...ENV_FILES];
  const list = context.list("");
  const isNode = has(context, "package.json");
  const isPython = has(context, "requirements.txt", "pyproject.toml", "Pipfile", "setup.py");
  if (isNode && /\b(?:npm|yarn|pnpm|bun)\b[^\n]*\b(?:ci|install|i)\b|\byarn\s*(?:$|&&|\\)/m.test(runs))
    out.push(...NODE_DEPS);
  if (isNode && /\b(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?build\b|\btsc\b|\bwebpack\b|\bvite build\b/.test(runs))
    out.push(...NODE_OUTPUTS);
  if (isPython) out.push(...PYTHON);
  if (
    has(context, "pom.xml", "build.gradle", "build.gradle.kts") &&
    /\b(?:mvn|mvnw|gradle|gradlew)\b/.test(runs)
  ) {
    out.push(
      ...JAVA_OUTPUTS.filter((e) =>
        e.pattern === "target" ? has(context, "pom.xml") : has(context, "build.gradle", "build.gradle.kts"),
      ),
    );
  }
  if (has(context, "Cargo.toml") && /\bcargo\s+(?:build|install)\b/.test(runs)) out.push(...RUST_OUTPUTS);
  if (/\bdotnet\s+(?:publish|build)\b/.test(runs) && list.some((f) => /\.(?:csproj|fsproj|sln)$/.test(f)))
    out.push(...DOTNET_OUTPUTS);
  const seen = new Set<string>();
  return out.filter((e) => !seen.has(e.pattern) && seen.add(e.pattern));
}

/** Text of every instruction that names files: COPY/ADD sources and what RUN/CMD/ENTRYPOINT/ENV mention. */
function mentionedText(model: DockerfileModel): string {
  return model.instructions
    .filter((i) => i.keyword !== "FROM")
    .map((i) => i.text)
    .join("\n");
}

/** COPY/ADD sources named explicitly (not the whole context) — they must stay in the context. */
function explicitSources(model: DockerfileModel): string[] {
  const out: string[] = [];
  for (const i of model.instructions) {
    if ((i.keyword !== "COPY" && i.keyword !== "ADD") || i.flags.some((f) => f.name === "from")) continue;
    for (const src of sourcesOf(i)) {
      const s = src.replace(/^\.\//, "").replace(/\/+$/, "");
      if (s === "" || s === "." || s === "*" || /^(?:https?|git):/.test(s)) continue;
      out.push(s);
    }
  }
  return out;
}

/**
 * Whether the image can hold files the new entries leave out: a COPY/ADD from
 * the context of `.`, a folder, a wildcard, a variable or a path the context
 * lacks, or a RUN that mounts the context. Otherwise only what is sent to the
 * builder changes.
 */
function copiesBroadly(model: DockerfileModel, context: BuildContext): boolean {
  return model.instructions.some((i) => {
    if (i.keyword === "RUN") return i.flags.some((f) => f.name === "mount" && bindsContext(f.value ?? ""));
    if ((i.keyword !== "COPY" && i.keyword !== "ADD") || i.flags.some((f) => f.name === "from")) return false;
    // Only a file the context holds is known not to be a folder.
    return sourcesOf(i).some((src) => {
      const s = src.replace(/^(?:\.?\/)+/, "");
      return /[*?[$]|^\.?$|\/$/.test(s) || !context.exists(s) || context.isDirectory(s);
    });
  });
}

/** A RUN --mount of the build context: type bind (the default type) without `from`. */
const bindsContext = (mount: string) =>
  (/(?:^|,)type=bind(?:,|$)/.test(mount) || !/(?:^|,)type=/.test(mount)) && !/(?:^|,)from=/.test(mount);

function sourcesOf(i: Instr): string[] {
  let words = i.args.map((a) => a.value);
  if (i.execForm && i.argsSpan) {
    try {
      const v: unknown = JSON.parse(i.text.slice(i.argsSpan.start - i.start, i.argsSpan.end - i.start));
      if (Array.isArray(v)) words = v.map(String);
    } catch {
      /* keep the plain words */
    }
  }
  return words.slice(0, -1);
}

// A folder of thousands of Dockerfiles is one context: look through it once.
const dockerfilesSeen = contextMemo<string[]>(1);

/** The Dockerfiles at the root of the context (by name, as discovery finds them). */
function dockerfilesIn(context: BuildContext): string[] {
  return dockerfilesSeen(context, "", () =>
    context.list("").filter((name) => isDockerfileName(name) && !context.isDirectory(name)),
  );
}

/** Why the context's .dockerignore is not this Dockerfile's alone to edit; null when it is. */
function sharedReason(inRoot: string[], use: TransformOptions["contextUse"]): string | null {
  if (inRoot.length > 1)
    return `the build context holds ${inRoot.length} Dockerfiles (${inRoot.slice(0, 3).join(", ")}${inRoot.length > 3 ? ", ..." : ""})`;
  if (use?.sharedInRun) return "the build context (--context) is shared by the Dockerfiles of this run";
  if (use && !use.ownFolder)
    return "the build context (--context) is not the Dockerfile's own folder and may serve other Dockerfiles";
  return null;
}

export const dockerignore: Transform = {
  id: "dockerignore",
  description:
    "Create a .dockerignore (or add its missing essentials) so VCS data, host deps and local secrets stay out of the build",
  rationale:
    "Without a .dockerignore every build sends .git, host node_modules or virtualenvs and local .env files to the builder: " +
    "slower builds, cache busting on unrelated edits, and secrets baked into layers. The transform only adds patterns " +
    "for paths the Dockerfile does not name, never removes a line, and leaves out build outputs unless the image rebuilds them. " +
    "A context shared by several Dockerfiles (several in its root, or one `--context` for several Dockerfiles, " +
    "or a `--context` that is not the Dockerfile's own folder) is left alone: its .dockerignore applies to every one of them. " +
    "An existing .dockerignore is read with Docker's own rules (moby's patternmatcher: `secret.txt` names the root file " +
    "only, `!` re-includes under an excluded folder), not gitignore's; one dfopt does not read (a link out of the " +
    "context, a FIFO, a file over 2 MiB) is left alone, with a refusal saying so.",
  applicability: "unsafe",
  applicabilityNote:
    "Safe when every COPY/ADD from the build context names single files the new entries leave in: then only what is sent to the builder changes. When the image copies `.`, a folder or a wildcard, files it held (.git, host dependencies, build outputs) are no longer in it.",
  rules: [],
  run({ model, context, options }): TransformResult {
    const none: TransformResult = { changes: [], refusals: [] };
    if (context.root === "<none>") return none;
    const existing = context.readFile(".dockerignore");
    if (existing === undefined && context.exists(".dockerignore")) {
      // A link out of the context, a FIFO or a huge file: never read, so never replaced either.
      return {
        changes: [],
        refusals: [
          {
            line: null,
            reason:
              ".dockerignore is there but dfopt does not read it (a link out of the build context, not a regular file, or too large), so it is left alone",
          },
        ],
      };
    }
    const mentions = mentionedText(model);
    // An app that loads .env files itself (dotenv, django-environ, a Vite build ...) may rely on the copied file.
    const manifests = [
      "package.json",
      "requirements.txt",
      "pyproject.toml",
      "Pipfile",
      "go.mod",
      "Cargo.toml",
      "pom.xml",
      "build.gradle",
      "build.gradle.kts",
    ]
      .map((f) => context.readFile(f) ?? "")
      .join("\n");
    // custom-env, env-cmd and @nestjs/config read `.env` by default (through dotenv or on their own);
    // front-end build tools read .env files at build time too and bake their values into the bundle.
    const loadsEnvFiles =
      /dotenv|environ|decouple|pydantic-settings|godotenv|dotenvy|spring-dotenv|custom-env|env-cmd|@nestjs\/config/i.test(
        manifests,
      ) ||
      /"(?:vite|react-scripts|next|nuxt|@vue\/cli-service|astro|@sveltejs\/kit|parcel|gatsby)"\s*:/.test(
        manifests,
      );
    // Sources as .dockerignore sees them: relative to the context root; ones
    // outside it or built from variables cannot be matched.
    const explicit = explicitSources(model)
      .map((s) => s.replace(/^(?:\.?\/)+/, ""))
      .filter((s) => s !== "" && !s.includes("$") && !s.startsWith("/") && !s.startsWith("../"));
    const existingPatterns = existing === undefined ? [] : dockerignorePatterns(existing);
    const current = existing === undefined ? null : dockerignoreMatcher(existingPatterns);
    // A .dockerignore applies to every build of its context: entries chosen for
    // this Dockerfile could hide a file another Dockerfile beside it copies.
    const shared = dockerfilesIn(context);
    const sharedBecause = sharedReason(shared, options.contextUse);
    const accepted: Entry[] = [];
    for (const e of wanted(model, context)) {
      if (e.mentions.test(mentions)) continue;
      if (loadsEnvFiles && ENV_FILES.includes(e)) continue;
      if (current && e.probes.every((p) => current.ignores(p))) continue;
      const plainSources = explicit.filter((s) => !/[*?[]/.test(s));
      if (plainSources.length > 0) {
        const probe = dockerignoreMatcher([
          ...existingPatterns,
          ...accepted.map((a) => a.pattern),
          e.pattern,
        ]);
        if (plainSources.some((s) => probe.ignores(s))) continue;
      }
      if (
        existingPatterns.some(
          (p) => p.startsWith("!") && dockerignoreMatcher([e.pattern]).ignores(p.slice(1)),
        )
      )
        continue;
      accepted.push(e);
      if (sharedBecause) break; // one entry is enough to refuse
    }
    if (accepted.length === 0) return none;
    if (sharedBecause) {
      return {
        changes: [],
        refusals: [
          {
            line: null,
            reason: `${sharedBecause}; a .dockerignore would apply to all of them, so it is left to you`,
          },
        ],
      };
    }
    const eol = existing !== undefined && existing.includes("\r\n") ? "\r\n" : model.source.eol;
    const lines = accepted.map((e) => e.pattern);
    let content: string;
    let message: string;
    if (existing === undefined) {
      content =
        [
          "# Created by dfopt: keep the build context small and local secrets out of the image",
          ...lines,
        ].join(eol) + eol;
      message = `create .dockerignore (${lines.join(", ")})`;
    } else {
      const base = existing === "" || /\r?\n$/.test(existing) ? existing : existing + eol;
      content = base + ["# added by dfopt", ...lines].join(eol) + eol;
      message = `add missing .dockerignore entries (${lines.join(", ")})`;
    }
    const applicability = copiesBroadly(model, context) ? "unsafe" : "safe";
    return {
      changes: [],
      refusals: [],
      sideFiles: [{ path: ".dockerignore", content, message, applicability }],
    };
  },
};
