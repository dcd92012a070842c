/**
 * Node planner: npm / yarn classic / pnpm apps, with or without a build step.
 *
 * Build stage: the original lines (manifests copied and installed before the
 * rest of the source when the file copies everything first), then a prune of
 * dev dependencies. Runtime stage: the `-slim` variant of the same node tag,
 * the app folder copied from the build stage, the original runtime
 * instructions in order, and `USER node` unless the file sets a USER. With no
 * build step, the sources are not in the build stage: the runtime stage copies
 * them from the context after the installed folder (`sourcesAfterInstalls`).
 * An npm app whose stage is nothing but a production install is not split
 * (`installsOnly`): refused on a -slim/-alpine original, moved to the -slim
 * variant in place when the lock file shows the install needs no build tools.
 */
import type { Instr } from "../../src/engine/parse.ts";
import type { TransformOptions } from "../../src/engine/types.ts";
import { keyword } from "../../src/engine/style.ts";
import type { EcosystemPlanner, SplitInput, SplitOutcome } from "./types.ts";
import { contextPath, isInside } from "../../src/engine/paths.ts";
import { copyGlobRegExp } from "../../src/engine/glob.ts";
import { baseImage, repoName } from "./toolkit/images.ts";
import { appFolderToCopy, copyInfo, readJson } from "./toolkit/instructions.ts";
import { runtimePackageLines } from "./toolkit/packages.ts";
import { guarded, refuse } from "./toolkit/refuse.ts";
import {
  buildStagePieces,
  copyFromLine,
  fromAsBuild,
  layoutRewrite,
  newLines,
  type Piece,
  runtimeStagePieces,
  seg,
  type Segment,
  stageSegments,
} from "./toolkit/segments.ts";
import { shellCommands, wordValues } from "./toolkit/shell.ts";
import { checkRuntimeUser } from "./toolkit/users.ts";
import { contextIgnores } from "./toolkit/runtime-files.ts";
import type { YarnBerry } from "./node-yarn-berry.ts";
import { nodeBase } from "./node-base.ts";
import { distrolessRuntime } from "./node-distroless.ts";
import { type Pkg, type Pm, readPkg } from "./node-package.ts";
import { type NodeReading, readInstructions } from "./node-reading.ts";
import { checkStartCommand } from "./node-start.ts";

const OTHER_LANGUAGE_IMAGES =
  /^(?:python|golang|maven|gradle|openjdk|eclipse-temurin|amazoncorretto|rust|mcr\.microsoft\.com\/dotnet\/.*|microsoft\/.*|php|ruby|nginx|httpd)$/;

const usesNodeTools = (text: string) => /\b(?:npm|yarn|pnpm|npx|bun)\b/.test(text);

export const node: EcosystemPlanner = {
  id: "node",
  detect({ stage, context, model }) {
    const repo = repoName(stage.image!.name);
    if (repo === "node" || repo.endsWith("/node")) return true;
    if (OTHER_LANGUAGE_IMAGES.test(repo)) return false;
    if (/^(?:oven\/bun|bun)$/.test(repo)) return true;
    return (
      context.exists("package.json") &&
      stage.instructions.some((i) => i.keyword === "RUN" && usesNodeTools(i.text)) &&
      model !== null
    );
  },
  plan: (input) => guarded(() => planNode(input)),
};

/**
 * The Node plan, step by step; each step refuses (throws) when it cannot
 * prove its part, in the order a reader checks a Dockerfile: the base image,
 * package.json and the app folder, every instruction, the start command, the
 * user, then the two stages.
 */
function planNode(input: SplitInput): SplitOutcome {
  const { model, stage, context } = input;
  const base = nodeBase(input);
  const appDir = appFolderToCopy(stage, model.globalArgValues);
  const pkg = readPkg(input, appDir);
  if (!pkg)
    refuse(
      context.root === "<none>"
        ? "no build context: package.json is needed to plan the split"
        : "package.json not found in the build context",
    );
  const reading = readInstructions(input, pkg, appDir);
  const start = checkStartCommand(input, pkg, reading, base.alpine);
  const { addUser, note: userNote } = checkRuntimeUser(model, stage, start.start, input.options);
  if (addUser && base.major !== null && base.major < 4)
    refuse(`node:${base.tag} images have no \`node\` user to run as`, stage.from);
  const runtimeInstall = runtimePackageLines(model, stage, start.start, reading.osPackages, {
    raw: base.image.raw,
    alpine: base.alpine,
    family: "node",
  });
  const segs = stageSegments(model, stage);
  const manifests = manifestsFirst(input, pkg, reading);
  const prune =
    reading.productionInstall || start.devKept.length > 0
      ? null
      : pruneLine(input, reading, pkg, base.major, manifests.lockFiles);
  const { piece: fromPiece, name: buildName } = fromAsBuild(model, stage, segs.from);
  const segOf = new Map<Instr, Segment>(segs.items.map((s) => [s.instr!, s]));
  const builtOutput =
    reading.berry?.linker === "pnp" ? null : builtOutputOnly(input.options, start.startFiles, appDir);
  const modules = reading.modulesMovedTo ? [] : ["node_modules"];
  const chown = addUser ? `${base.user}:${base.user}` : reading.chownApp;
  const lateSources = sourcesAfterInstalls(input, reading, manifests);
  const shellLess =
    input.options.perTransform["split-stages"]?.nodeRuntime === "distroless"
      ? distrolessRuntime(input, {
          base,
          reading,
          start,
          addUser,
          runtimeInstall,
          segOf,
          pkg,
        })
      : null;
  // distroless with no build step: the build stage's folder (manifests, node_modules), then the
  // sources from the context, as on slim; not only the files the start command names
  const outputOnly = shellLess && lateSources.length > 0 ? null : builtOutput;
  const owner = shellLess ? shellLess.chown : chown;
  // distroless cannot run the same steps in one stage: the split is what gets it there
  if (!shellLess && installsOnly(input, reading, lateSources, prune)) {
    // the runtime stage would hold what the original holds, node_modules copied at every rebuild
    if (base.runtimeRaw === base.image.raw)
      refuse(
        `no build step, no dev dependencies to drop and ${base.image.raw} is already the runtime image: ` +
          "the runtime stage would differ only by npm's download cache (npm-cache-clean removes it in place), " +
          "and copying node_modules from a build stage makes every rebuild copy it again (buildah, podman)",
        stage.from,
      );
    const lock = manifests.moveCopy ? null : installNeedsNoBuildTools(input, pkg, reading, appDir);
    if (lock) {
      const edit = { ...base.image.rawSpan, text: baseImage(input.options, base.runtimeRaw) };
      const message =
        `no build step: the same steps on ${base.runtimeRaw} (${lock} lists no dependency with an install script, ` +
        "from git or a local path, so the install needs nothing the full image adds); node_modules is installed " +
        "where it runs, so a rebuild copies nothing between stages";
      return { kind: "rewrite", edits: [edit], message: [message, ...base.notes].join("; ") };
    }
  }
  // the built-output copy takes its files from the build stage: the sources stay there (after the prune)
  const sources = outputOnly ? [] : lateSources;
  // the runtime stage installs its own production dependencies: nothing of node_modules is copied
  // (on distroless, which cannot run npm, a `deps` stage on the build image installs them)
  const installHere =
    outputOnly && !start.filesOnly
      ? runtimeInstallLines(input, pkg, reading, {
          appDir,
          major: base.major,
          devKept: start.devKept,
          chown: shellLess ? null : chown,
        })
      : null;
  const built = buildStage(input, reading, manifests, installHere ? null : prune, fromPiece, segOf, {
    pruneFirst: lateSources.length > 0,
    runtimeSources: new Set(sources),
  });
  const { build, userRuns } = built;
  const depsName = buildName === "deps" ? "prod-deps" : "deps";
  if (shellLess && installHere)
    build.push(
      newLines(
        "",
        `${keyword(model, "FROM")} ${base.image.raw} ${keyword(model, "AS")} ${depsName}`,
        `${keyword(model, "WORKDIR")} ${appDir}`,
        ...installHere,
      ),
    );
  const runtimeInstrs = [...built.runtimeInstrs, ...sources].sort(
    (a, b) => stage.instructions.indexOf(a) - stage.instructions.indexOf(b),
  );
  for (const copy of sources) segOf.set(copy, withChown(segOf.get(copy)!, copy, owner));
  const rtImage = baseImage(input.options, shellLess ? shellLess.image : base.runtimeRaw);
  const runtimeFiles =
    outputOnly && (start.filesOnly ? outputOnly : ["package.json", ...modules, ...outputOnly]);
  const fromBuild = (p: string) => copyFromLine(model, buildName, `${appDir}/${p}`, `${appDir}/${p}`, owner);

  const runtime = runtimeStagePieces(model, segOf, {
    image: rtImage,
    setup: shellLess
      ? []
      : runtimeSetup(input, {
          runtimeInstall,
          userRuns,
          reading,
          pnpm: start.runtimePnpm ? start.pnpmVersion : null,
          segOf,
        }),
    runtimeInstrs,
    copyLines: [
      ...(shellLess && installHere
        ? [
            copyFromLine(model, depsName, `${appDir}/node_modules`, `${appDir}/node_modules`, owner),
            `${keyword(model, "COPY")}${owner ? ` --chown=${owner}` : ""} package.json ${appDir}/`,
            ...outputOnly!.map(fromBuild),
          ]
        : installHere
          ? [...installHere, ...outputOnly!.map(fromBuild)]
          : outputOnly
            ? runtimeFiles!.map(fromBuild)
            : [copyFromLine(model, buildName, appDir, appDir, owner)]),
      // What cp/mv put in place outside the app folder; the new user may write there, as root could.
      ...reading.placed.map((p) => copyFromLine(model, buildName, p, p, addUser ? owner : null)),
    ],
    // distroless: the :nonroot tag is the user
    user: addUser && !shellLess ? base.user : null,
  });
  const msg = [
    `split into a build stage (${base.image.raw}) and a runtime stage (${rtImage}) with the app folder ${appDir}`,
    shellLess?.note ?? null,
    shellLess && installHere
      ? `production node_modules from a ${depsName} stage on ${base.image.raw} (npm's lock file lists no install script, git or local dependency): a source edit leaves its install cached`
      : shellLess && outputOnly
        ? "production node_modules and package.json copied from the build stage"
        : null,
    shellLess
      ? null
      : installHere
        ? "the runtime stage installs the production dependencies itself (npm's lock file lists no install script, git or local dependency), before the built output: a source edit leaves that layer cached and no node_modules is copied between stages"
        : prune
          ? "dev dependencies pruned"
          : null,
    prune && reading.pruneMovedModules
      ? `the prune runs on node_modules where the build moved it (${reading.modulesMovedTo})`
      : null,
    reading.placed.length > 0
      ? `also copies what cp/mv put outside the app folder: ${reading.placed.join(", ")}`
      : null,
    start.devKept.length > 0
      ? `dev dependencies kept: the start command runs ${start.devKept.join(", ")} from devDependencies`
      : !prune && !reading.productionInstall && reading.pm === "bun"
        ? "dev dependencies kept: bun has no command that prunes them"
        : !prune && !reading.productionInstall && reading.pm === "yarn" && reading.berry
          ? pkg.workspaces
            ? "dev dependencies kept: the workspaces of a Yarn Berry monorepo are not focused"
            : "dev dependencies kept: `yarn workspaces focus --production` needs Yarn 4 or the workspace-tools plugin"
          : null,
    reading.berry?.linker === "pnp" ? "Yarn PnP: .pnp.cjs and .yarn/ come along with the app folder" : null,
    addUser
      ? shellLess
        ? "runs as nonroot (uid 65532), the image's :nonroot tag"
        : `runs as USER ${base.user}`
      : userNote,
    manifests.moveCopy ? "dependency manifests installed before the source is copied" : null,
    sources.length > 0
      ? "the runtime stage copies the installed dependencies first, then the sources from the build context (a source edit rebuilds only those COPY layers)"
      : null,
    outputOnly
      ? start.filesOnly
        ? `only ${outputOnly.join(", ")} is copied (served by a server installed globally or fetched by npx)`
        : installHere && !shellLess
          ? `only ${outputOnly.join(", ")} is copied from the build stage`
          : `only ${outputOnly.join(", ")}, node_modules and package.json are copied`
      : null,
    ...base.notes,
  ]
    .filter(Boolean)
    .join("; ");
  return layoutRewrite(model, segs, build, runtime, msg);
}

interface ManifestsFirst {
  /** The `COPY . .` moved after the install, or null. */
  moveCopy: Instr | null;
  /** The COPY of the manifests placed before the install, or null. */
  manifestLine: string | null;
  lockFiles: string[];
}

/**
 * When the file copies the whole context before the first install, the
 * manifests are copied and installed first and the rest after, so the
 * dependency layer stays cached across source edits; only when nothing
 * between them needs the source.
 */
function manifestsFirst(input: SplitInput, pkg: Pkg, reading: NodeReading): ManifestsFirst {
  const { model, stage, context } = input;
  const { roles, runs, cwdAt, varsAt } = reading;
  const firstInstall = runs.find((i) => roles.get(i)!.install)!;
  const installIdx = stage.instructions.indexOf(firstInstall);
  const copyAllIdx = stage.instructions.findIndex((i, idx) => {
    if (idx >= installIdx || (i.keyword !== "COPY" && i.keyword !== "ADD")) return false;
    const c = copyInfo(i, cwdAt.get(i) ?? null, varsAt.get(i));
    return !!c && c.wholeContext;
  });
  let moveCopy: Instr | null = null;
  let manifestLine: string | null = null;
  const lockFiles = [
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
  ].filter((f) => context.exists(f));
  if (copyAllIdx !== -1) {
    const copyAll = stage.instructions[copyAllIdx];
    const c = copyInfo(copyAll, cwdAt.get(copyAll) ?? null, varsAt.get(copyAll))!;
    const between = stage.instructions.slice(copyAllIdx + 1, installIdx);
    const installRole = roles.get(firstInstall)!;
    const lifecycle = ["preinstall", "install", "postinstall", "prepare", "prepublish"].some(
      (s) => pkg.scripts[s] !== undefined,
    );
    const cleanInstall =
      !installRole.build &&
      shellCommands(model, firstInstall)!.every((cmd) => {
        const n = (cmd.name?.value ?? "").split("/").pop();
        return n === "npm" || n === "yarn" || n === "pnpm" || n === "bun" || n === "corepack";
      });
    const betweenOk = between.every((i) => {
      if (i.keyword === "RUN") {
        const r = roles.get(i);
        return !!r && !r.build && !r.install && (r.os || r.corepack || r.user);
      }
      return i.keyword !== "COPY" && i.keyword !== "ADD" && i.keyword !== "WORKDIR";
    });
    // Yarn Berry also needs .yarnrc.yml and .yarn/ (releases, plugins) before the install: left in place.
    if (
      c.sources.length === 1 &&
      c.destAbs &&
      cleanInstall &&
      betweenOk &&
      !lifecycle &&
      !pkg.workspaces &&
      !reading.berry
    ) {
      moveCopy = copyAll;
      const files = [
        "package.json",
        ...lockFiles,
        ...[".npmrc", ".yarnrc", ".pnpmfile.cjs", "bunfig.toml"].filter((f) => context.exists(f)),
      ];
      const dest = c.dest === "." || c.dest === "./" ? "./" : c.dest.endsWith("/") ? c.dest : c.dest + "/";
      const chown = c.chown ? ` --chown=${c.chown}` : "";
      manifestLine = `${keyword(model, "COPY")}${chown} ${files.join(" ")} ${dest}`;
    }
  }
  return { moveCopy, manifestLine, lockFiles };
}

/** The RUN that removes dev dependencies after the build, for the package manager in use. */
function pruneLine(
  { model }: SplitInput,
  { pm, berry, modulesMovedTo, pruneMovedModules }: NodeReading,
  pkg: Pkg,
  major: number | null,
  lockFiles: string[],
): string | null {
  const prune = pruneCommand(pm, berry, pkg, major, lockFiles);
  if (prune === null) return null;
  const run = keyword(model, "RUN");
  // node_modules the build moved out of the app folder is pruned in place, then moved back out.
  return pruneMovedModules
    ? `${run} mv ${modulesMovedTo} node_modules && ${prune} && mv node_modules ${modulesMovedTo}`
    : `${run} ${prune}`;
}

/** The command that removes dev dependencies, for the package manager in use. */
function pruneCommand(
  pm: Pm,
  berry: YarnBerry | null,
  pkg: Pkg,
  major: number | null,
  lockFiles: string[],
): string | null {
  if (pm === "yarn" && berry)
    return berry.focus && !pkg.workspaces ? "yarn workspaces focus --production" : null;
  if (pm === "bun") return null;
  if (pm === "npm") return `npm prune ${major !== null && major < 16 ? "--production" : "--omit=dev"}`;
  if (pm === "yarn")
    return `yarn install --production${lockFiles.includes("yarn.lock") ? " --frozen-lockfile" : ""} --ignore-scripts --prefer-offline`;
  return "pnpm prune --prod";
}

/**
 * The COPY/ADD lines of the app's sources the runtime stage can take straight from the build context,
 * after the build stage's app folder: those that come after every install (the manifests-first
 * `COPY . .` included) when nothing builds and nothing after the installs runs. The build stage then
 * holds only the manifests and the installed dependencies (and the prune), so a source edit
 * rebuilds only these COPY layers. The files are the same: the runtime stage lays the context's files
 * over the installed folder in the order the original did. Empty when that cannot be shown.
 */
function sourcesAfterInstalls(input: SplitInput, reading: NodeReading, manifests: ManifestsFirst): Instr[] {
  const { stage, context } = input;
  const { roles, runs, cwdAt, varsAt } = reading;
  if (runs.some((i) => roles.get(i)!.build)) return [];
  const installs = runs.filter((i) => roles.get(i)!.install);
  const { moveCopy } = manifests;
  // the manifests-first COPY lands after the first install: a later install would see the sources
  if (moveCopy && installs.length > 1) return [];
  const lastInstall = stage.instructions.indexOf(installs[installs.length - 1]);
  const tail = stage.instructions.slice(lastInstall + 1);
  const copies = [
    ...(moveCopy ? [moveCopy] : []),
    ...tail.filter((i) => i.keyword === "COPY" || i.keyword === "ADD"),
  ];
  if (copies.length === 0) return [];
  const lastWorkdir = stage.instructions.map((i) => i.keyword).lastIndexOf("WORKDIR");
  const quiet = tail.every((i) => {
    if (i.keyword === "RUN") return !!(roles.get(i)?.user || roles.get(i)?.global);
    return i.keyword !== "WORKDIR" && i.keyword !== "ONBUILD";
  });
  if (!quiet) return [];
  const ignored = contextIgnores(context);
  for (const copy of copies) {
    const c = copyInfo(copy, cwdAt.get(copy) ?? null, varsAt.get(copy));
    // in the runtime stage the copy comes after the last WORKDIR, where it must resolve alike
    if (!c || c.from || c.remote || stage.instructions.indexOf(copy) < lastWorkdir) return [];
    // a variable (in a path or --chown) would need the build stage's values at the new place
    if (copy.text.includes("$")) return [];
    // a node_modules from the context would be laid over the installed (and pruned) one
    // a folder copied whole brings its node_modules too (`COPY src/ .`)
    const modules = c.sources.flatMap((src) => {
      if (c.wholeContext) return ["node_modules"];
      const rel = src.replace(/^\.\//, "").replace(/\/+$/, "");
      return context.isDirectory(rel) ? [rel, `${rel}/node_modules`] : [rel];
    });
    if (modules.some((m) => /(?:^|\/)node_modules(?:\/|$)/.test(m) && context.exists(m) && !ignored(m)))
      return [];
  }
  return copies;
}

/**
 * npm, no build step (`lateSources`), an install that already skips dev dependencies (nothing to
 * prune) and no RUN but the installs (no OS package, build tool or file left behind): the build
 * stage would hold only the manifests and node_modules. A split then copies node_modules into the
 * runtime stage, and buildah/podman run every COPY reached on the cached path to digest its
 * content: that copy is made again at every rebuild (tokiwa-app/akiyama-order: 6.5 s of an 11 s
 * rebuild, the original's rebuild 1.9 s). The caller keeps such a file in one stage.
 */
function installsOnly(
  { stage }: SplitInput,
  reading: NodeReading,
  lateSources: Instr[],
  prune: string | null,
): boolean {
  if (lateSources.length === 0 || prune !== null || !reading.productionInstall) return false;
  if (reading.pm !== "npm" || reading.berry || reading.placed.length > 0 || reading.modulesMovedTo)
    return false;
  return stage.instructions
    .filter((i) => i.keyword === "RUN")
    .every((i) => {
      const role = reading.roles.get(i);
      return (
        !!role && !role.global && !role.build && !role.os && !role.corepack && (role.install || role.user)
      );
    });
}

const LOCK_FILES = ["npm-shrinkwrap.json", "package-lock.json"];

/**
 * The npm lock file (v2+, copied in before the first install) that shows the install runs no
 * code and fetches only registry tarballs: no package with `hasInstallScript`, none resolved from
 * git or a local path, no lifecycle script or binding.gyp of the app itself. Such an install gives
 * the same node_modules on the slim image as on the full one (no compiler, git or python needed).
 * Null when it cannot be shown (a v1 lock file does not record install scripts). `omitDev`: for an
 * install with `--omit=dev`, which neither fetches nor runs the packages marked `dev` in the lock.
 */
function installNeedsNoBuildTools(
  { stage, context }: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  appDir: string,
  omitDev = false,
): string | null {
  const lifecycle = ["preinstall", "install", "postinstall", "prepare"];
  // the app's own files sit next to its package.json (the context root, or the folder a COPY took it from)
  const own = (file: string) => (pkg.dir ? `${pkg.dir}/${file}` : file);
  if (lifecycle.some((s) => pkg.scripts[s] !== undefined) || context.exists(own("binding.gyp"))) return null;
  const installs = reading.runs.filter((i) => reading.roles.get(i)!.install);
  // each install runs in the app folder, where the lock file lands: no cd, --prefix or -C elsewhere
  const elsewhere = (i: Instr) =>
    reading.cwdAt.get(i) !== appDir || /(?:^|[\s;&|(])(?:cd|pushd)\s|--prefix|\s-C\s/.test(i.text);
  if (installs.some(elsewhere)) return null;
  const firstInstall = installs[0];
  const copies = stage.instructions
    .filter((i) => (i.keyword === "COPY" || i.keyword === "ADD") && i.start < firstInstall.start)
    .map((i) => copyInfo(i, reading.cwdAt.get(i) ?? null, reading.varsAt.get(i)));
  // a source names the file itself (`package*.json`) or a folder holding it (`app/`)
  const names = (src: string, file: string) => {
    const path = contextPath(src);
    return copyGlobRegExp(path).test(file) || (path !== "" && isInside(file, path));
  };
  const copied = (file: string) =>
    copies.some((c) => !!c && (c.wholeContext || c.sources.some((src) => names(src, file))));
  const name = LOCK_FILES.map(own).find((f) => context.exists(f));
  if (!name || !copied(name)) return null;
  const lock = readJson(context, name) as {
    lockfileVersion?: unknown;
    packages?: Record<
      string,
      { hasInstallScript?: unknown; resolved?: unknown; link?: unknown; dev?: unknown }
    >;
  } | null;
  if (!lock || typeof lock.lockfileVersion !== "number" || lock.lockfileVersion < 2 || !lock.packages)
    return null;
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === "" || (omitDev && entry.dev === true)) continue;
    if (entry.hasInstallScript || entry.link) return null;
    if (typeof entry.resolved === "string" && !/^https:\/\//.test(entry.resolved)) return null;
  }
  return name;
}

/**
 * `nodeCopy: "output"` with node_modules: the runtime stage installs the production dependencies
 * itself (the manifests, then `npm ci --omit=dev`) before the built output it copies from the build
 * stage, instead of copying node_modules from there. buildah/podman copy and digest a
 * `COPY --from` at every rebuild even when it is cached (5–8 s for 40–160 MB of node_modules), while
 * this install layer stays cached across source edits. Only when the install is provably the same:
 * npm, a v2+ lock file whose install runs no code and fetches only registry tarballs
 * (`installNeedsNoBuildTools`, the -slim swap's test), a plain `npm ci`/`npm install` of the
 * context's package.json and lock file (no arguments but output flags, no workspaces, no patch-package,
 * no .npmrc or npm_config variable, no other npm command that changes node_modules such as a prune),
 * no USER in the original (the install runs as root, then `chown -R` gives node_modules the owner the
 * copy would have). Returns the runtime stage's lines, or null to keep copying node_modules.
 */
function runtimeInstallLines(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  r: { appDir: string; major: number | null; devKept: string[]; chown: string | null },
): string[] | null {
  const { model, stage, context } = input;
  if (reading.pm !== "npm" || reading.berry || pkg.workspaces || pkg.dir !== "" || r.devKept.length > 0)
    return null;
  if (reading.modulesMovedTo || reading.placed.length > 0 || context.exists(".npmrc")) return null;
  if (stage.instructions.some((i) => i.keyword === "USER" || /npm_config_/i.test(i.text))) return null;
  // a RUN that names node_modules (`rm -rf node_modules/x`, `cp … node_modules/`) changes what the copy brings
  if (stage.instructions.some((i) => i.keyword === "RUN" && /node_modules/.test(i.text))) return null;
  // a build that writes into node_modules (patch-package, prisma generate) is part of what would be copied
  if (Object.values(pkg.scripts).some((body) => /patch-package|node_modules|prisma/.test(body))) return null;
  if (
    [...pkg.deps, ...pkg.devDeps].some(
      (d) => d === "prisma" || d === "@prisma/client" || d === "patch-package",
    )
  )
    return null;
  // the runtime install skips dev dependencies: an install script of a dev-only package never runs there
  const lock = installNeedsNoBuildTools(input, pkg, reading, r.appDir, true);
  if (!lock) return null;
  const flag =
    /^(?:--(?:omit=dev|only=prod(?:uction)?|production|no-audit|no-fund|no-progress|silent|quiet|ignore-scripts|loglevel=\w+)|-[qs])$/;
  let sub: "ci" | "install" | null = null;
  for (const instr of stage.instructions.filter((i) => i.keyword === "RUN")) {
    const role = reading.roles.get(instr);
    if (!role || role.user || role.global) continue;
    for (const c of shellCommands(model, instr) ?? []) {
      const w = wordValues(c);
      const name = (w[0] ?? "").split("/").pop() ?? "";
      const plain = w.slice(1).filter((a): a is string => a !== null);
      const cmd = plain.find((a) => !a.startsWith("-")) ?? "";
      if (name !== "npm") continue;
      if (/^(?:ci|clean-install|install|i)$/.test(cmd)) {
        // a plain install of the copied manifests: no package named, no other flag, in its own RUN,
        // and no RUN --mount (a secret .npmrc or a cache the runtime stage's install would not have)
        if (w.length - 1 !== plain.length || instr.flags.length > 0) return null;
        if (plain.some((a) => a !== cmd && !flag.test(a))) return null;
        const which = cmd === "ci" || cmd === "clean-install" ? "ci" : "install";
        if (sub && sub !== which) return null;
        sub = which;
      } else if (!/^(?:run|run-script|cache|--version|-v)$/.test(cmd) && pkg.scripts[cmd] === undefined)
        return null;
    }
  }
  if (!sub) return null;
  const omit = r.major !== null && r.major < 16 ? "--production" : "--omit=dev";
  const owner = r.chown ? ` && chown -R ${r.chown} node_modules` : "";
  return [
    `${keyword(model, "COPY")}${r.chown ? ` --chown=${r.chown}` : ""} package.json ${lock} ${r.appDir}/`,
    `${keyword(model, "RUN")} npm ${sub} ${omit} && npm cache clean --force${owner}`,
  ];
}

/** A moved COPY/ADD of the sources with the runtime stage's owner, unless it names its own. */
function withChown(segment: Segment, copy: Instr, chown: string | null): Segment {
  if (!chown || copy.flags.some((f) => f.name === "chown")) return segment;
  const body = segment.body.replace(/^(\s*\w+)(\s)/, `$1 --chown=${chown}$2`);
  return { ...segment, body };
}

/**
 * The build stage: every original line in place (the manifests first when
 * `manifestsFirst` says so, the prune after the last install or build), less
 * the instructions that only concern the runtime, which are collected, and the
 * COPYs of the sources the runtime stage takes from the context.
 */
function buildStage(
  { stage }: SplitInput,
  { roles, runs }: NodeReading,
  { moveCopy, manifestLine }: ManifestsFirst,
  prune: string | null,
  fromPiece: Piece,
  segOf: Map<Instr, Segment>,
  sources: {
    /** Nothing builds from the sources: the prune comes right after the installs, before them. */
    pruneFirst: boolean;
    /** The COPYs of the sources the runtime stage takes from the context instead. */
    runtimeSources: ReadonlySet<Instr>;
  },
): { build: Piece[]; runtimeInstrs: Instr[]; userRuns: Instr[] } {
  const firstInstall = runs.find((i) => roles.get(i)!.install)!;
  const lastNodeRun = [...stage.instructions].reverse().find((i) => {
    const r = roles.get(i);
    return r && (r.install || r.build);
  })!;
  // the sources the runtime stage copies from the context are not part of the build stage at all
  const { pruneFirst, runtimeSources } = sources;
  const buildInstrs = { ...stage, instructions: stage.instructions.filter((i) => !runtimeSources.has(i)) };
  const moved = moveCopy && !runtimeSources.has(moveCopy) ? [seg(segOf.get(moveCopy)!)] : [];
  const pruned = prune ? [newLines(prune)] : [];
  return buildStagePieces(buildInstrs, segOf, fromPiece, {
    skip: moveCopy,
    isUserRun: (i) => !!roles.get(i)?.user,
    before: (i) => (i === firstInstall && manifestLine ? [manifestLine] : []),
    after: (i) => {
      const copy = i === firstInstall ? moved : [];
      const prunes = i === lastNodeRun ? pruned : [];
      return pruneFirst ? [...prunes, ...copy] : [...copy, ...prunes];
    },
  });
}

/**
 * The runtime stage's setup before the app: OS packages, user creation and
 * global installs (repeated), and pnpm when the start command runs it.
 */
function runtimeSetup(
  { model, stage }: SplitInput,
  r: {
    runtimeInstall: string[];
    userRuns: Instr[];
    reading: NodeReading;
    /** The pnpm version the start command needs, or null. */
    pnpm: string | null;
    segOf: Map<Instr, Segment>;
  },
): Piece[] {
  const setup: Piece[] = [];
  if (r.runtimeInstall.length) setup.push(newLines(...r.runtimeInstall));
  for (const u of r.userRuns) setup.push(seg(r.segOf.get(u)!, "trim"));
  for (const g of stage.instructions.filter((i) => r.reading.roles.get(i)?.global))
    setup.push(seg(r.segOf.get(g)!, "trim"));
  for (const line of r.reading.globalLines) setup.push(newLines(`${keyword(model, "RUN")} ${line}`));
  if (r.pnpm) setup.push(newLines(`${keyword(model, "RUN")} npm install -g pnpm@${r.pnpm}`));
  return setup;
}

/**
 * `nodeCopy: "output"` (asked by `--verify`'s ladder, which proves it by a real build and run): the
 * top-level entries of the app folder the start command runs with node (`dist`), or null to copy
 * the whole folder (the option is off, or what the start command needs is not known).
 */
function builtOutputOnly(options: TransformOptions, startFiles: string[], appDir: string): string[] | null {
  if (options.perTransform["split-stages"]?.nodeCopy !== "output" || startFiles.length === 0) return null;
  const tops = new Set<string>();
  for (const file of startFiles) {
    const rel = file.startsWith("/") ? (isInside(file, appDir) ? file.slice(appDir.length + 1) : null) : file;
    const top = rel?.replace(/^\.\//, "").split("/")[0];
    if (
      !top ||
      top === "." ||
      top === ".." ||
      top === "node_modules" ||
      top === "package.json" ||
      /[$*?[]/.test(top)
    )
      return null;
    tops.add(top);
  }
  return [...tops].sort();
}
