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
import { DISTROLESS_NODE_MAJORS, NODE_LTS_CODENAMES } from "../catalog/images.ts";
import type { EcosystemPlanner, SplitInput, SplitOutcome } from "./types.ts";
import { own } from "../lib/own.ts";
import { basename, contextPath, dirname, isInside, resolvePath } from "../../src/engine/paths.ts";
import { copyGlobRegExp } from "../../src/engine/glob.ts";
import { baseImage, repoName, slimVariant } from "./toolkit/images.ts";
import {
  appFolderToCopy,
  contextFileAt,
  originalUser,
  copyInfo,
  missingSources,
  readJson,
  shellVars,
  stageVars,
  workdirAfter,
  workdirs,
} from "./toolkit/instructions.ts";
import { type OsInstall, osInstalls, runtimePackageLines } from "./toolkit/packages.ts";
import { followOutside, outsidePaths, placedOutside } from "./toolkit/placed-files.ts";
import { guarded, quote, refuse } from "./toolkit/refuse.ts";
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
import {
  commandWords,
  execForm,
  FILE_COMMANDS,
  fileCommandProblem,
  hasControlFlow,
  redirectProblem,
  scriptCommandLines,
  shellCommands,
  wordValues,
} from "./toolkit/shell.ts";
import { checkRuntimeUser, isUserCreation } from "./toolkit/users.ts";
import { contextIgnores } from "./toolkit/runtime-files.ts";
import { type YarnBerry, yarnBerry } from "./node-yarn-berry.ts";
import { jsonArgv, type StartCommand, startCommand } from "../lib/start-command.ts";

const OTHER_LANGUAGE_IMAGES =
  /^(?:python|golang|maven|gradle|openjdk|eclipse-temurin|amazoncorretto|rust|mcr\.microsoft\.com\/dotnet\/.*|microsoft\/.*|php|ruby|nginx|httpd)$/;

/** Tools that compile or bundle: running them at container start means the build happens at run time. */
const BUILD_TOOLS = new Set([
  "tsc",
  "webpack",
  "webpack-dev-server",
  "vite",
  "react-scripts",
  "babel",
  "nest",
  "ng",
  "parcel",
  "rollup",
  "esbuild",
  "gulp",
  "grunt",
  "vue-cli-service",
  "craco",
  "swc",
]);

/**
 * Static file servers a start command may run (bin name → options that take a value): the folder
 * they serve is the built output the runtime needs.
 */
const STATIC_SERVERS: Record<string, Set<string>> = {
  "http-server": new Set(
    "-p --port -a --address -c -e --ext -t --timeout -P --proxy --proxy-options -C --cert -K --key --username --password".split(
      " ",
    ),
  ),
  serve: new Set("-l --listen -p --port -c --config --ssl-cert --ssl-key --ssl-pass".split(" ")),
};

/** The one folder a static server's argv serves, or null when it is not said (a default, or several). */
function servedFolder(server: string, args: string[]): string | null {
  const takesValue = STATIC_SERVERS[server];
  const positional = args.filter(
    (a, i) =>
      !a.startsWith("-") && !(i > 0 && takesValue.has(args[i - 1])) && !/^(?:true|false|\d+)$/.test(a),
  );
  return positional.length === 1 ? positional[0] : null;
}

/** Package that provides a bin, when the names differ. */
const BIN_PACKAGE: Record<string, string> = {
  tsc: "typescript",
  "babel-node": "@babel/node",
  babel: "@babel/cli",
  nest: "@nestjs/cli",
  ng: "@angular/cli",
  "vue-cli-service": "@vue/cli-service",
  craco: "@craco/craco",
  tsnd: "ts-node-dev",
  swc: "@swc/cli",
  dotenv: "dotenv-cli",
  "pm2-runtime": "pm2",
};

/**
 * Runners that start the app from its source (TypeScript, Babel) or restart it on change: the
 * original runs them at start too, so the runtime stage keeps them (and any devDependencies).
 */
const SOURCE_RUNNERS = new Set(["ts-node", "ts-node-dev", "tsnd", "tsx", "nodemon", "babel-node"]);

/** A script's first line that runs it with node and nothing else (`#!/usr/bin/env node`). */
const NODE_SHEBANG = /^#![ \t]*(?:\/usr\/bin\/env[ \t]+node|\/usr(?:\/local)?\/bin\/node)[ \t]*\r?\n/;

/** Node loaders/preloads of those runners: `node -r ts-node/register`, `node --import tsx`. */
const SOURCE_LOADER = /^(ts-node|tsx|@babel\/register)(?:\/|$)/;

/** Start commands that run other commands the checks would have to follow, or run tests. */
const COMMAND_RUNNERS = /^(?:concurrently|npm-run-all2?|run-p|run-s)$/;
const TEST_RUNNERS = /^(?:mocha|jest|vitest|ava|tap|jasmine|karma)$/;

const DEV_SCRIPT_NAMES = /^(?:dev|develop|development|watch|serve|start:dev|dev:.*|watch:.*)$/;

type Pm = "npm" | "yarn" | "pnpm" | "bun";

interface Pkg {
  scripts: Record<string, string>;
  deps: Set<string>;
  devDeps: Set<string>;
  workspaces: boolean;
  packageManager: string | null;
  main: string | null;
  /** The context folder package.json comes from: "" (the context root) or the app folder's source. */
  dir: string;
}

/** Lock and settings files of package managers other than npm. */
const NOT_NPM_FILES = [
  "yarn.lock",
  ".yarnrc.yml",
  ".yarnrc",
  "pnpm-lock.yaml",
  "bun.lock",
  "bun.lockb",
  ".pnp.cjs",
];

/**
 * package.json at the context root; else the one a COPY puts in the app folder
 * (`COPY src/package*.json ./`), followed for npm only (the other managers'
 * files are looked for at the context root).
 */
function readPkg(input: SplitInput, appDir: string): Pkg | null {
  const { model, stage, context } = input;
  const file = context.exists("package.json")
    ? "package.json"
    : contextFileAt(
        stage,
        context,
        `${appDir}/package.json`,
        workdirs(stage, "/", model.globalArgValues),
        stageVars(stage, model.globalArgValues),
      );
  const j = file === null ? null : readJson(context, file);
  if (!j || file === null) return null;
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
  const other = dir ? NOT_NPM_FILES.find((f) => context.exists(`${dir}/${f}`)) : undefined;
  if (other)
    refuse(
      `package.json comes from ${dir}/, which has ${other}: only npm is followed outside the context root`,
    );
  const rec = (v: unknown) => (v && typeof v === "object" ? (v as Record<string, string>) : {});
  // The scripts' texts, in a record without a prototype: `npm run constructor` names a plain script
  // (Object.prototype.constructor is not its text), and a value that is not a string is no script.
  const scripts = Object.create(null) as Record<string, string>;
  for (const [name, body] of Object.entries(rec(j.scripts)))
    if (typeof body === "string") scripts[name] = body;
  return {
    scripts,
    deps: new Set([...Object.keys(rec(j.dependencies)), ...Object.keys(rec(j.optionalDependencies))]),
    devDeps: new Set(Object.keys(rec(j.devDependencies))),
    workspaces: j.workspaces !== undefined,
    packageManager: typeof j.packageManager === "string" ? j.packageManager : null,
    main: typeof j.main === "string" ? j.main : null,
    dir,
  };
}

function nodeMajor(tag: string): number | null {
  const m = /^(\d+)/.exec(tag);
  if (m) return Number(m[1]);
  const name = tag.split("-")[0];
  return own(NODE_LTS_CODENAMES, name) ?? null;
}

/** The runtime image tag for a node build tag (null when it cannot be named). */
function runtimeTag(tag: string): string | null {
  if (/alpine|slim/.test(tag)) return tag;
  if (tag === "latest") return "slim";
  if (/^(?:current|lts)$/.test(tag) || /^[\w.]+(?:-(?:bookworm|bullseye|buster|stretch|trixie))?$/.test(tag))
    return `${tag}-slim`;
  return null;
}

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

interface RunRole {
  /** Only global package installs (`npm install -g pm2`): repeated in the runtime stage. */
  global?: boolean;
  install: boolean;
  build: boolean;
  os: boolean;
  corepack: boolean;
  user: boolean;
}

/** A package from the registry, maybe with a version or tag: `serve`, `@scope/cli@1.2`, `pm2@^5`. */
const REGISTRY_SPEC = /^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(?:@[\w.^~*-]+)?$/i;

/**
 * An `npm install -g <packages>` / `yarn global add <packages>` of registry packages only, as a
 * command line to run again in the runtime stage, and the names it installs; null for anything
 * else (no package named: the project itself; a folder, tarball, git or URL spec; options with values).
 */
function registryGlobalInstall(w: Array<string | null>): { line: string; packages: string[] } | null {
  if (w.some((x) => x === null)) return null;
  const words = w as string[];
  const name = words[0].split("/").pop();
  const args = words.slice(1);
  const sub = args.find((a) => !a.startsWith("-")) ?? "";
  const ok =
    (name === "npm" && /^(?:install|i|add)$/.test(sub)) ||
    (name === "yarn" && sub === "global" && args[args.indexOf("global") + 1] === "add");
  if (!ok) return null;
  const rest = args.slice(args.indexOf(sub) + (name === "yarn" ? 2 : 1));
  const flags = [...args.slice(0, args.indexOf(sub)), ...rest.filter((a) => a.startsWith("-"))];
  if (flags.some((f) => !/^(?:-g|--global|--no-fund|--no-audit|--silent|--quiet|--loglevel=\w+)$/.test(f)))
    return null;
  const packages = rest.filter((a) => !a.startsWith("-"));
  if (packages.length === 0 || !packages.every((p) => REGISTRY_SPEC.test(p))) return null;
  return { line: words.join(" "), packages: packages.map((p) => p.replace(/(.)@[^/]*$/, "$1")) };
}

/** True when every command installs global packages with npm or yarn (or cleans the npm cache). */
function globalInstallsOnly(cmds: ReturnType<typeof shellCommands> & object): boolean {
  let installs = 0;
  for (const c of cmds) {
    const w = wordValues(c);
    if (w.some((x) => x === null) || c.assignments.length > 0) return false;
    const name = (w[0] ?? "").split("/").pop();
    const plain = w.slice(1) as string[];
    const sub = plain.find((a) => !a.startsWith("-")) ?? "";
    if (
      name === "npm" &&
      /^(?:install|i|add)$/.test(sub) &&
      plain.some((a) => a === "-g" || a === "--global")
    )
      installs++;
    else if (name === "yarn" && sub === "global" && plain.includes("add")) installs++;
    else if (name === "npm" && sub === "cache") continue;
    else return false;
  }
  return installs > 0;
}

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

interface NodeBase {
  image: NonNullable<SplitInput["stage"]["image"]>;
  tag: string;
  /** The image's non-root user the runtime stage runs as (`node`, or `bun` on oven/bun). */
  user: string;
  /** The runtime image: the `-slim` variant of the same tag. */
  runtimeRaw: string;
  alpine: boolean;
  major: number | null;
  /** Why an asked-for runtime flavour is not used. */
  notes: string[];
}

/** The base image and its runtime variant; refuses images it does not know. */
function nodeBase(input: SplitInput): NodeBase {
  const { stage, options } = input;
  if (/^(?:oven\/bun|bun)$/.test(repoName(stage.image!.name))) return bunBase(input);
  const { image, tag, runtimeRaw, alpine } = slimVariant(stage, {
    repo: "node",
    app: "a Node app",
    runtimeTag,
  });
  const notes: string[] = [];
  if (options.runtimeFlavour === "alpine" && !alpine)
    notes.push("runtimeFlavour alpine ignored: native modules built on glibc would not load on musl");
  if (options.runtimeFlavour === "distroless")
    notes.push("runtimeFlavour distroless not used for Node: the start command needs a shell and npm");
  return { image, tag, user: "node", runtimeRaw, alpine, major: nodeMajor(tag), notes };
}

/**
 * `oven/bun:<tag>` (Debian) runs on `oven/bun:<tag>-slim`, published for every 1.x tag, `latest`
 * and `canary`; `-alpine` and `-slim` tags stay. Every variant has the `bun` user (uid 1000) and
 * WORKDIR /home/bun/app. `-distroless` is not used: its ENTRYPOINT is bun itself and it has no shell.
 */
function bunBase({ stage, options }: SplitInput): NodeBase {
  const image = stage.image!;
  if (image.digest)
    refuse(
      `base image ${image.raw} is pinned by digest; the digest of its slim variant is not known`,
      stage.from,
    );
  if (image.usesVariables)
    refuse(`base image ${image.raw} uses a variable the transform cannot extend to a slim tag`, stage.from);
  const tag = image.tag ?? "latest";
  const version = /^(latest|canary|\d+(?:\.\d+){0,2})(?:-debian)?$/.exec(tag);
  const runtimeTag = /-(?:alpine|slim)$|^(?:alpine|slim)$/.test(tag)
    ? tag
    : version && !/^0\./.test(version[1])
      ? version[1] === "latest"
        ? "slim"
        : `${version[1]}-slim`
      : null;
  if (!runtimeTag) refuse(`no slim variant known for oven/bun:${tag}`, stage.from);
  const firstWork = stage.instructions.find((i) => /^(?:WORKDIR|COPY|ADD|RUN)$/.test(i.keyword));
  if (firstWork && firstWork.keyword !== "WORKDIR")
    refuse(
      `${quote(firstWork)} runs in oven/bun's own WORKDIR /home/bun/app; the split needs the app folder named by a WORKDIR`,
      firstWork,
    );
  const notes: string[] = [];
  if (options.runtimeFlavour === "distroless")
    notes.push(
      "runtimeFlavour distroless not used for bun: oven/bun:*-distroless runs bun as its ENTRYPOINT, with no shell",
    );
  if (options.runtimeFlavour === "alpine" && !/alpine/.test(tag))
    notes.push("runtimeFlavour alpine ignored: native modules built on glibc would not load on musl");
  return {
    image,
    tag,
    user: "bun",
    runtimeRaw: `${image.name}:${runtimeTag}`,
    alpine: /alpine/.test(tag),
    major: null,
    notes,
  };
}

/** The runtime stage on a distroless Node image: the image, the owner of the copied files, what the message says. */
interface ShellLess {
  image: string;
  chown: string | null;
  note: string;
}

/** Users a distroless image's /etc/passwd has. */
const DISTROLESS_USERS = ["root", "nonroot", "nobody"];

/**
 * `nodeRuntime: "distroless"` (--verify rungs, proven by the real run; with `nodeCopy: "output"` the
 * built output only, else the app folder): the runtime stage on `gcr.io/distroless/nodejs<major>-debian12` (`:nonroot` unless the runtime
 * keeps root), which has node as its ENTRYPOINT and no shell, npm or package manager. The start
 * command must come down to `node <file> [args]` (directly, through a `start`/`run` script that is
 * exactly that with no pre/post hook, or a script whose shebang is node): its CMD becomes the exec
 * form of node's arguments (an ENTRYPOINT names `/nodejs/bin/node`), in `segOf`. Refused when the
 * runtime would need a shell or anything distroless lacks: a CMD with variables or operators, RUNs
 * (OS packages, users), SHELL, a HEALTHCHECK that is not node, a user the image
 * does not have, a musl (alpine) build, a Node major without a distroless image.
 */
function distrolessRuntime(
  input: SplitInput,
  r: {
    base: NodeBase;
    pkg: Pkg;
    reading: NodeReading;
    start: { start: StartCommand };
    addUser: boolean;
    runtimeInstall: string[];
    segOf: Map<Instr, Segment>;
  },
): ShellLess {
  const { model, stage } = input;
  const { base, reading, segOf } = r;
  const eol = model.source.eol;
  const why = "the distroless Node image has no shell, npm or package manager";
  if (base.user === "bun") refuse("nodeRuntime distroless is for node images, not oven/bun", stage.from);
  if (base.alpine)
    refuse(
      `${base.image.raw} is alpine: node_modules built on musl would not load on the distroless (glibc) image`,
      stage.from,
    );
  if (base.major === null || !DISTROLESS_NODE_MAJORS.includes(base.major))
    refuse(
      `no distroless image for ${base.image.raw}'s Node major (gcr.io/distroless/nodejs<major>-debian12 exists for ${DISTROLESS_NODE_MAJORS.join(", ")})`,
      stage.from,
    );
  const shell = stage.instructions.find((i) => i.keyword === "SHELL");
  if (shell) refuse(`${quote(shell)}: ${why}`, shell);
  if (r.runtimeInstall.length > 0)
    refuse(`the runtime stage would install OS packages (${r.runtimeInstall.join(" ")}); ${why}`);
  for (const [instr, role] of reading.roles)
    if (role.user) refuse(`${quote(instr)} creates a user in the runtime stage; ${why}`, instr);
  if (!stage.instructions.some((i) => i.keyword === "WORKDIR"))
    refuse("no WORKDIR: the distroless :nonroot image starts in /home/nonroot, the original in /");
  const user = originalUser(stage);
  const userName = (user?.args[0]?.value ?? "").split(":")[0];
  if (user && !/^\d+$/.test(userName) && !DISTROLESS_USERS.includes(userName))
    refuse(
      `${quote(user)}: the distroless image's users are ${DISTROLESS_USERS.join(", ")} (and numeric ids)`,
      user,
    );
  // files keep the owner the original gave them only when the image knows it; root can write anyway
  const owned = reading.chownApp;
  const chown = r.addUser
    ? "nonroot:nonroot"
    : owned && (/^\d+(?::\d+)?$/.test(owned) || DISTROLESS_USERS.includes(owned.split(":")[0]))
      ? owned
      : owned && user && userName !== "root" && userName !== "0"
        ? refuse(`the app folder's owner ${owned} is not a user of the distroless image`, user)
        : null;
  const command = distrolessCommand(input, r.pkg, reading, r.start.start);
  segOf.set(command.instr, { ...segOf.get(command.instr)!, body: command.body + eol });
  for (const h of stage.instructions.filter((i) => i.keyword === "HEALTHCHECK")) {
    const raw = h.argsSpan ? model.text.slice(h.argsSpan.start, h.argsSpan.end) : "";
    if (/^NONE\s*$/i.test(raw)) continue;
    const argv = /^CMD\s+\[/i.test(raw) ? jsonArgv(model, raw.replace(/^CMD\s+/i, "")) : null;
    if (!argv || !/^(?:node|nodejs|\/usr\/(?:local\/)?bin\/node)$/.test(argv[0] ?? ""))
      refuse(
        `${quote(h)} needs a shell or tools (curl, wget) the distroless image lacks; only node runs there`,
        h,
      );
    const seg = segOf.get(h)!;
    segOf.set(h, {
      ...seg,
      body: seg.body.replace(
        raw,
        `${keyword(model, "CMD")} ${execForm([DISTROLESS_NODE, ...argv.slice(1)])}`,
      ),
    });
  }
  const tag = r.addUser ? ":nonroot" : "";
  // the start command is node: a global install (a build tool, npm itself) stays in the build stage
  const globals = [...reading.globalPackages].sort();
  return {
    image: `gcr.io/distroless/nodejs${base.major}-debian12${tag}`,
    chown,
    note: [
      `no shell or npm in the runtime: ${quote(command.instr)} becomes ${command.body.replace(/\s+/g, " ")}, run by the image's node`,
      ...(globals.length
        ? [
            `the global install of ${globals.join(", ")} stays in the build stage (the start command runs node)`,
          ]
        : []),
    ].join("; "),
  };
}

/** Where the distroless Node image has node (its ENTRYPOINT). */
const DISTROLESS_NODE = "/nodejs/bin/node";

/**
 * The start command as the distroless Node image runs it: `CMD ["<file>", ...]` after its node
 * ENTRYPOINT, or `ENTRYPOINT ["/nodejs/bin/node", ...]` when the original sets an ENTRYPOINT (its
 * exec-form CMD stays). Refuses anything that is not plainly node.
 */
function distrolessCommand(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  start: StartCommand,
): { instr: Instr; body: string } {
  const { model } = input;
  const words = (i: Instr): { words: string[]; shell: boolean } => {
    const w = commandWords(model, i);
    if (!w.words)
      refuse(`${quote(i)} needs a shell (variables, operators or several commands); distroless has none`, i);
    return { words: w.words, shell: w.shell };
  };
  const { cmd, entrypoint } = start;
  if (entrypoint) {
    const ep = words(entrypoint);
    if (ep.shell && cmd)
      refuse(`${quote(entrypoint)} is shell form, which ignores CMD; its exec form would not`, entrypoint);
    if (cmd && words(cmd).shell)
      refuse(
        `${quote(cmd)} is shell form: after an exec-form ENTRYPOINT it runs /bin/sh, which distroless lacks`,
        cmd,
      );
    const { args, cd } = nodeArgs(input, pkg, reading, ep.words, !!cmd, entrypoint);
    const command = `${keyword(model, "ENTRYPOINT")} ${execForm([DISTROLESS_NODE, ...args])}`;
    return { instr: entrypoint, body: inFolder(input, reading, entrypoint, cd, command) };
  }
  const { args, cd } = nodeArgs(input, pkg, reading, words(cmd!).words, false, cmd!);
  return {
    instr: cmd!,
    body: inFolder(input, reading, cmd!, cd, `${keyword(model, "CMD")} ${execForm(args)}`),
  };
}

/**
 * `command` (the start instruction `start` becomes), after a WORKDIR into the folder of a
 * `cd <folder> && node …` script: node runs in that folder. The runtime's working folder then is
 * that folder for everything that runs in the container, so refused when a HEALTHCHECK (wherever it
 * stands) or an instruction after `start` that depends on the working folder (a relative COPY,
 * WORKDIR or VOLUME) would see it move, or when the folder at `start` is not known.
 */
function inFolder(
  input: SplitInput,
  reading: NodeReading,
  start: Instr,
  cd: string | null,
  command: string,
): string {
  if (cd === null) return command;
  const { model, stage } = input;
  const at = reading.cwdAt.get(start);
  if (!at) refuse(`${quote(start)}'s script runs \`cd ${cd}\`, from a folder the file does not fix`, start);
  const moved = stage.instructions.find(
    (i) =>
      (i.keyword === "HEALTHCHECK" && !/^HEALTHCHECK\s+NONE\s*$/i.test(i.text)) ||
      (i.start > start.start && /^(?:COPY|ADD|WORKDIR|VOLUME|RUN|ONBUILD)$/.test(i.keyword)),
  );
  if (moved)
    refuse(
      `${quote(start)}'s script runs \`cd ${cd}\`: the runtime's WORKDIR would move for ${quote(moved)}, which depends on it`,
      moved,
    );
  return `${keyword(model, "WORKDIR")} ${resolvePath(at, cd)}${model.source.eol}${command}`;
}

/** A package script that is plainly `node <args>`: words without quotes, variables or operators. */
const PLAIN_NODE_SCRIPT = /^node(?:[ \t]+[\w./@=:,+-]+)+$/;

/** A package script that changes folder first: `cd site && node index.js` (a plain relative folder). */
const CD_NODE_SCRIPT =
  /^cd[ \t]+((?:(?!\.\.?[/ \t&])[\w.-]+\/)*(?!\.\.?[/ \t&])[\w.-]+)\/?[ \t]*&&[ \t]*(node(?:[ \t]+[\w./@=:,+-]+)+)$/;

/**
 * node's arguments for `argv` (`node …`, `npm start`, a node-shebang script), and the folder a
 * `cd <folder> && node …` script runs them in (relative to the start command's), or a refusal.
 */
function nodeArgs(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  argv: string[],
  moreArgs: boolean,
  at: Instr,
): { args: string[]; cd: string | null } {
  const name = basename(argv[0] ?? "");
  const rest = argv.slice(1);
  let args: string[] | null = null;
  let cd: string | null = null;
  if (/^(?:node|nodejs)$/.test(name)) args = rest;
  else if ((name === "npm" || name === "yarn") && !reading.berry && !moreArgs) {
    const script =
      rest.length === 1 && rest[0] === "start"
        ? "start"
        : rest.length === 2 && /^(?:run|run-script)$/.test(rest[0])
          ? rest[1]
          : null;
    if (!script) refuse(`\`${argv.join(" ")}\` is not a plain package script run`, at);
    const hook = [`pre${script}`, `post${script}`].find((h) => pkg.scripts[h] !== undefined);
    if (hook) refuse(`${name} ${script} runs the "${hook}" script too, which needs ${name}`, at);
    const body = pkg.scripts[script];
    // npm's start without a script is `node server.js`
    const cdThen = body === undefined ? null : CD_NODE_SCRIPT.exec(body.trim());
    if (body === undefined && script === "start" && name === "npm") args = ["server.js"];
    else if (body !== undefined && PLAIN_NODE_SCRIPT.test(body.trim()))
      args = body.trim().split(/\s+/).slice(1);
    else if (cdThen) {
      cd = cdThen[1];
      args = cdThen[2].split(/\s+/).slice(1);
    } else
      refuse(
        `the "${script}" script is not plainly \`node <file>\` (${body ?? "missing"}); ${name} is not in distroless`,
        at,
      );
  } else if (argv[0]?.includes("/") && NODE_SHEBANG.test(startFileTextOf(input, reading, argv[0]) ?? ""))
    args = argv;
  if (!args) refuse(`starts \`${argv.join(" ")}\`, not node: distroless runs only node`, at);
  if (!args.some((a) => !a.startsWith("-")) && !moreArgs)
    refuse(`\`${argv.join(" ")}\` names no file for node to run`, at);
  return { args, cd };
}

/** What the instructions of the stage do, read one by one. */
interface NodeReading {
  /** Yarn Berry facts when the installs use Yarn 2+ (null: npm, pnpm, bun, Yarn classic). */
  berry: YarnBerry | null;
  cwdAt: Map<Instr, string | null>;
  varsAt: Map<Instr, Map<string, string | null>>;
  roles: Map<Instr, RunRole>;
  /** The package manager of the first npm/yarn/pnpm command. */
  pm: Pm;
  /** The RUNs that install dependencies or build. */
  runs: Instr[];
  pnpmVersion: string | null;
  /** Packages installed globally (repeated in the runtime stage), usable as start commands. */
  globalPackages: Set<string>;
  /** Global installs inside a RUN that also builds (`npm i -g serve`): the runtime stage runs them again. */
  globalLines: string[];
  /** Owner a COPY or RUN chown gave the app folder, kept on the runtime copy. */
  chownApp: string | null;
  /** The install skips dev dependencies already: nothing to prune. */
  productionInstall: boolean;
  osPackages: OsInstall[];
  /** Paths outside the app folder that cp/mv put in place: the runtime stage copies them too. */
  placed: string[];
  /** Where a `mv` took the app's node_modules (`/node_modules`, which node still finds), or null. */
  modulesMovedTo: string | null;
  /** The move happens before the prune would run: the prune moves node_modules back for its run. */
  pruneMovedModules: boolean;
}

/**
 * Reads every COPY/ADD (from the context, into the app folder) and every RUN
 * (installs, builds, OS packages, file commands inside the app folder);
 * refuses anything else.
 */
function readInstructions(input: SplitInput, pkg: Pkg, appDir: string): NodeReading {
  const { model, stage, context } = input;
  const cwdAt = workdirs(stage, "/", model.globalArgValues);
  const varsAt = stageVars(stage, model.globalArgValues);
  const shellVarsAt = shellVars(stage);
  const roles = new Map<Instr, RunRole>();
  let pm: Pm | null = null;
  let pnpmVersion: string | null = null;
  const globalPackages = new Set<string>();
  const globalLines: string[] = [];
  let chownApp: string | null = null;
  let productionInstall = false;
  let berry: YarnBerry | null = null;
  const osPackages: OsInstall[] = [];
  const outside = placedOutside([appDir], cwdAt.values());
  const modulesMove = () => outside.movedOut.find((m) => basename(m.from) === "node_modules") ?? null;
  // NODE_ENV=production set before the install makes it skip dev dependencies: nothing to prune.
  const firstInstallLine =
    stage.instructions.find((i) => i.keyword === "RUN" && /\b(?:npm|yarn|pnpm|bun)\b/.test(i.text))?.line ??
    Infinity;
  const envText = stage.instructions
    .filter((i) => (i.keyword === "ENV" || i.keyword === "ARG") && i.line < firstInstallLine)
    .map((i) => i.text)
    .join("\n");
  if (/NODE_ENV[= ]+["']?production/.test(envText)) productionInstall = true;

  for (const instr of stage.instructions) {
    const k = instr.keyword;
    if (k === "ONBUILD") refuse(`ONBUILD at line ${instr.line} is not supported`, instr);
    if (k === "COPY" || k === "ADD") {
      const c = copyInfo(instr, cwdAt.get(instr) ?? null, varsAt.get(instr));
      if (!c) refuse(`cannot read ${quote(instr)}`, instr);
      if (c.from) refuse(`${quote(instr)} copies from another image`, instr);
      if (c.remote) refuse(`${quote(instr)} fetches or unpacks remote content`, instr);
      if (!c.destAbs) refuse(`${quote(instr)}: destination uses variables`, instr);
      // An owner the original gave the app files stays on the runtime copy.
      if (c.chown && isInside(c.destAbs, appDir)) chownApp ??= c.chown;
      const missing = missingSources(context, c);
      if (missing.length) refuse(`${quote(instr)}: ${missing[0]} is not in the build context`, instr);
      if (!isInside(c.destAbs, appDir))
        refuse(`${quote(instr)} copies outside the app folder ${appDir}`, instr);
      continue;
    }
    if (k !== "RUN") continue;
    if (instr.hasHeredoc) refuse(`RUN heredoc at line ${instr.line} is not analysed`, instr);
    if (isUserCreation(model, instr)) {
      roles.set(instr, { install: false, build: false, os: false, corepack: false, user: true });
      continue;
    }
    if (hasControlFlow(model, instr))
      refuse(`RUN at line ${instr.line} has shell control flow the transform does not analyse`, instr);
    const cmds = shellCommands(model, instr);
    if (!cmds) refuse(`cannot parse the shell of RUN at line ${instr.line}`, instr);
    const role: RunRole = { install: false, build: false, os: false, corepack: false, user: false };
    if (globalInstallsOnly(cmds)) {
      roles.set(instr, { ...role, global: true });
      for (const c of cmds) {
        for (const a of c.args.slice(1)) {
          if (a.value && !a.value.startsWith("-") && a.value !== "add")
            globalPackages.add(a.value.replace(/(.)@[^/]*$/, "$1"));
        }
      }
      continue;
    }
    let cwd = cwdAt.get(instr) ?? appDir;
    /** Where a cp/mv runs, for following it (null: the WORKDIR is not known). */
    let placeCwd = cwdAt.get(instr) ?? null;
    for (const c of cmds) {
      const w = wordValues(c);
      const name = (w[0] ?? "").split("/").pop() ?? "";
      const args = w.slice(1);
      const plain = args.filter((a): a is string => a !== null);
      const sub = plain.find((a) => !a.startsWith("-")) ?? "";
      const global =
        plain.some((a) => a === "-g" || a === "--global") || (name === "yarn" && sub === "global");
      if (w[0] === null) refuse(`RUN at line ${instr.line} runs a command chosen by a variable`, instr);
      const redirect = redirectProblem(model, instr, c, appDir, cwd, shellVarsAt.get(instr));
      if (redirect) refuse(redirect, instr);
      if (
        /^\.{0,2}\/.*\.sh$|\.sh$/.test(w[0] ?? "") ||
        (/^(?:ba|da)?sh$/.test(name) && plain.some((a) => /\.sh$/.test(a)))
      ) {
        refuse(
          `builds through ${plain.find((a) => /\.sh$/.test(a)) ?? w[0]}, a script the transform cannot see into`,
          instr,
        );
      }
      switch (name) {
        case "npm":
        case "yarn":
        case "pnpm": {
          if (global) {
            // `npm run build && npm i -g serve`: the install is repeated in the runtime stage, like a RUN of global installs only
            const repeat = name === "pnpm" ? null : registryGlobalInstall(w);
            if (!repeat)
              refuse(`${quote(instr)} installs global packages the runtime stage would not have`, instr);
            globalLines.push(repeat.line);
            for (const p of repeat.packages) globalPackages.add(p);
            break;
          }
          pm ??= name;
          if (name === "yarn") berry ??= yarnBerry(context, pkg.packageManager, instr);
          const installing =
            (name === "npm" && /^(?:ci|install|i|add|clean-install)$/.test(sub)) ||
            (name === "yarn" && (sub === "" || sub === "install" || sub === "add")) ||
            (name === "yarn" && berry !== null && sub === "workspaces" && plain.includes("focus")) ||
            (name === "pnpm" && /^(?:install|i|add|fetch)$/.test(sub));
          if (installing) {
            const moved = modulesMove();
            if (moved)
              refuse(
                `${quote(instr)} installs again after ${quote(moved.instr)} moved node_modules to ${moved.to}`,
                instr,
              );
            role.install = true;
            if (
              plain.some((a) => /^--(?:only=prod(?:uction)?|omit=dev|production|prod)$/.test(a) || a === "-P")
            )
              productionInstall = true;
            break;
          }
          if (/^(?:prune|cache|config|set|audit|rebuild|dedupe|version|--version|-v|list|ls)$/.test(sub))
            break;
          const script =
            sub === "run" || sub === "run-script" ? plain.filter((a) => !a.startsWith("-"))[1] : sub;
          if (!script) refuse(`cannot tell what ${quote(instr)} runs`, instr);
          if (/^(?:start|dev)$/.test(script))
            refuse(`${quote(instr)} starts the app during the build`, instr);
          const body = pkg.scripts[script];
          if (body === undefined && name === "npm")
            refuse(`${quote(instr)} runs script "${script}", which package.json does not define`, instr);
          if (body !== undefined && /\.sh\b/.test(body))
            refuse(`script "${script}" runs a shell script the transform cannot see into`, instr);
          role.build = true;
          break;
        }
        case "bun": {
          if (global)
            refuse(`${quote(instr)} installs global packages the runtime stage would not have`, instr);
          pm ??= "bun";
          if (/^(?:install|i|add)$/.test(sub) || sub === "") {
            role.install = true;
            if (plain.some((a) => a === "--production" || a === "-p")) productionInstall = true;
            break;
          }
          // `bun pm trust` runs the lifecycle scripts of installed packages: part of the install.
          if (sub === "pm") {
            role.build = true;
            break;
          }
          const target = sub === "run" ? plain.filter((a) => !a.startsWith("-"))[1] : sub;
          if (!target) refuse(`cannot tell what ${quote(instr)} runs`, instr);
          if (/^(?:start|dev)$/.test(target) || plain.some((a) => a === "--watch" || a === "--hot"))
            refuse(`${quote(instr)} starts the app during the build`, instr);
          const body = pkg.scripts[target];
          if (body !== undefined && /\.sh\b/.test(body))
            refuse(`script "${target}" runs a shell script the transform cannot see into`, instr);
          role.build = true;
          break;
        }
        case "npx":
        case "bunx":
          role.build = true;
          break;
        case "corepack": {
          role.corepack = true;
          const prep = plain.find((a) => /^pnpm@/.test(a));
          if (prep) pnpmVersion = prep.slice(5);
          break;
        }
        case "node":
          if (plain.length === 0 || plain.some((a) => a.startsWith("/") && !isInside(a, appDir))) {
            refuse(`${quote(instr)} is not a step the transform understands`, instr);
          }
          role.build = true;
          break;
        case "apt-get":
        case "apt":
        case "apk":
          if (plain.some((a) => /^(?:install|add)$/.test(a))) {
            role.os = true;
            for (const o of osInstalls(model, instr)) osPackages.push(o);
          }
          break;
        case "cd": {
          const to = plain[0] ?? "/";
          cwd = resolvePath(cwd, to);
          placeCwd = placeCwd === null && !to.startsWith("/") ? null : cwd;
          if (!isInside(cwd, appDir)) refuse(`${quote(instr)} works outside the app folder ${appDir}`, instr);
          break;
        }
        default: {
          if (FILE_COMMANDS.has(name)) {
            const problem = fileCommandProblem(model, instr, c, appDir, cwd, shellVarsAt.get(instr));
            const why =
              problem && followOutside(outside, instr, c, placeCwd, shellVarsAt.get(instr), problem);
            if (why) refuse(why, instr);
            const operands = plain.filter((a) => !a.startsWith("-"));
            if (name === "chown" && operands.slice(1).some((a) => isInside(appDir, resolvePath(cwd, a))))
              chownApp = operands[0] ?? null;
            break;
          }
          refuse(
            `RUN at line ${instr.line} runs \`${name}\`, which the transform cannot prove the runtime stage does without`,
            instr,
          );
        }
      }
    }
    roles.set(instr, role);
  }

  const runs = stage.instructions.filter((i) => roles.get(i)?.install || roles.get(i)?.build);
  if (!pm || !runs.some((i) => roles.get(i)!.install))
    refuse("no recognisable build step (no npm/yarn/pnpm/bun install)");
  const placed = outsidePaths(outside);
  const moved = modulesMove();
  // The prune runs after the last install or build, in its WORKDIR: a move before it is undone for the prune.
  const lastRun = runs[runs.length - 1];
  const pruneMovedModules = moved !== null && moved.instr.start <= lastRun.start;
  if (moved && pruneMovedModules) {
    if (dirname(moved.from) !== cwdAt.get(lastRun))
      refuse(
        `${quote(moved.instr)} moves ${moved.from}, not the node_modules of the folder the last build step runs in; the prune could not reach it`,
        moved.instr,
      );
    const copy = stage.instructions.find(
      (i) =>
        (i.keyword === "COPY" || i.keyword === "ADD") &&
        i.start > moved.instr.start &&
        i.start < lastRun.start,
    );
    if (copy)
      refuse(
        `${quote(copy)} copies files after node_modules was moved to ${moved.to}; the prune could not move it back`,
        copy,
      );
  }
  return {
    berry,
    cwdAt,
    varsAt,
    roles,
    pm,
    runs,
    pnpmVersion,
    globalPackages,
    globalLines,
    chownApp,
    productionInstall,
    osPackages,
    placed,
    modulesMovedTo: moved?.to ?? null,
    pruneMovedModules,
  };
}

/** The text of the build-context file that `file` (as the start command names it) is in the image, or undefined. */
function startFileTextOf(input: SplitInput, reading: NodeReading, file: string): string | undefined {
  const { model, stage, context } = input;
  const startCwd = workdirAfter(stage, "/", model.globalArgValues);
  const ctxFile =
    startCwd === null
      ? null
      : contextFileAt(stage, context, resolvePath(startCwd, file), reading.cwdAt, reading.varsAt);
  return ctxFile === null ? undefined : context.readFile(ctxFile);
}

/**
 * What the container runs: every command of CMD/ENTRYPOINT, followed through
 * package scripts, must run on production dependencies without building.
 */
function checkStartCommand(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  alpine: boolean,
): {
  start: StartCommand;
  runtimePnpm: boolean;
  pnpmVersion: string | null;
  startFiles: string[];
  /** devDependencies the start command runs: the runtime stage keeps them (no prune). */
  devKept: string[];
  /** The start command runs nothing from node_modules or package.json (a global static server). */
  filesOnly: boolean;
} {
  const { model, stage, context } = input;
  const { globalPackages } = reading;
  const start = startCommand(model, stage);
  if (start.commands.length === 0) refuse("no CMD or ENTRYPOINT: the start command is not known");
  let runtimePnpm = false;
  /** Files the start command runs with node (`dist/index.js`), for the built-output-only copy. */
  const startFiles: string[] = [];
  const devKept = new Set<string>();
  const corepack = [...reading.roles.values()].some((r) => r.corepack);
  /**
   * A package the start command runs: fine when global or a dependency; a devDependency is kept
   * (unless the install skips them, so the original fails too); undefined when package.json lacks it.
   */
  const needPackage = (name: string): string | null | undefined => {
    const pkgName = own(BIN_PACKAGE, name) ?? name;
    if (globalPackages.has(pkgName) || globalPackages.has(name) || pkg.deps.has(pkgName)) return null;
    if (!pkg.devDeps.has(pkgName)) return undefined;
    if (reading.productionInstall)
      return `uses ${name} from devDependencies, which the production install skips`;
    devKept.add(pkgName);
    return null;
  };
  /** A start command serves or runs files the transform cannot name: the whole folder is copied. */
  let filesUnknown = false;
  let usesModules = false;
  const startFileText = (file: string) => startFileTextOf(input, reading, file);
  const checkScriptFile = (file: string, depth: number): string | null => {
    const text = startFileText(file);
    if (text === undefined)
      return `starts through ${file}, a script the transform cannot find in the build context`;
    const lines = scriptCommandLines(text, { alpine });
    if (!Array.isArray(lines)) return `starts through ${file}, which ${lines.why}`;
    for (const line of lines) {
      const r = checkCommandLine(line, depth + 1);
      if (r) return `starts through ${file}, which ${r}`;
    }
    return null;
  };
  const checkScript = (pmName: string, script: string, depth: number): string | null => {
    if (DEV_SCRIPT_NAMES.test(script))
      return `\`${pmName} run ${script}\` runs a development server at run time`;
    const body = pkg.scripts[script];
    if (body === undefined) {
      if (script === "start" && context.exists(pkg.dir ? `${pkg.dir}/server.js` : "server.js")) return null;
      return `${pmName} ${script}: package.json has no "${script}" script`;
    }
    for (const hook of [`pre${script}`, `post${script}`]) {
      if (pkg.scripts[hook] !== undefined) {
        const r = checkCommandLine(pkg.scripts[hook], depth + 1);
        if (r) return `"${hook}" script: ${r}`;
      }
    }
    const r = checkCommandLine(body, depth + 1);
    return r ? `${pmName} ${script === "start" ? "start" : `run ${script}`} ${r}` : null;
  };
  /** `npx: true` when npx runs the command: a package the app does not install is fetched at run time. */
  const checkArgv = (argv: Array<string | null>, depth: number, npx = false): string | null => {
    const words = argv.filter((a): a is string => a !== null);
    // skip `VAR=value` prefixes
    while (words.length && /^\w+=/.test(words[0])) words.shift();
    if (words.length === 0) return null;
    const name = words[0].split("/").pop()!;
    const rest = words.slice(1);
    const script = /\.sh$/.test(name) ? words[0] : /^(?:ba)?sh$/.test(name) ? rest[0] : undefined;
    if (depth === 0 && script && /\.sh$/.test(script)) return checkScriptFile(script, depth);
    if (name === "bun") return checkBun(words, depth);
    // a script run by its path (`src/cli.js`) whose shebang is node: the same as `node src/cli.js`
    if (words[0].includes("/") && NODE_SHEBANG.test(startFileText(words[0]) ?? ""))
      return checkArgv(["node", words[0], ...rest], depth);
    if (name === "bunx")
      return checkArgv(
        rest.filter((a) => !a.startsWith("-")),
        depth,
      );
    if (name === "npm" || name === "yarn" || name === "pnpm") {
      if (name === "pnpm") runtimePnpm = true;
      // `corepack enable` in the build stage makes `yarn` the project's Yarn there; the runtime stage has the image's Yarn classic.
      if (name === "yarn" && reading.berry && corepack)
        return "runs yarn at start: the build's Yarn Berry came from corepack (RUN corepack enable), which the runtime stage does not set up";
      const sub = rest.find((a) => !a.startsWith("-")) ?? (name === "yarn" ? "install" : "");
      if (name === "yarn" && reading.berry && sub === "node")
        return checkArgv(rest.slice(rest.indexOf("node")), depth);
      if (/^(?:install|i|ci|add)$/.test(sub) || (name === "yarn" && sub === "install"))
        return `runs \`${name} ${sub}\` at run time`;
      const script = sub === "run" || sub === "run-script" ? rest.filter((a) => !a.startsWith("-"))[1] : sub;
      if (!script) return `runs \`${words.join(" ")}\`, which the transform cannot read`;
      if (depth > 4) return "nests package scripts too deeply";
      return checkScript(name, script, depth);
    }
    if (name === "npx") {
      // a static server keeps its own options (they say which folder it serves)
      const command = rest.slice(rest.findIndex((a) => !a.startsWith("-")));
      if (own(STATIC_SERVERS, command[0] ?? "")) return checkArgv(command, depth, true);
      return checkArgv(
        rest.filter((a) => !a.startsWith("-")),
        depth,
      );
    }
    if (name === "tini" || name === "dumb-init")
      return checkArgv(
        rest.filter((a) => !a.startsWith("-")),
        depth,
      );
    if (SOURCE_RUNNERS.has(name)) {
      filesUnknown = true;
      const problem = needPackage(name);
      return problem === undefined ? `starts \`${name}\`, which package.json does not list` : problem;
    }
    if (BUILD_TOOLS.has(name)) {
      if (name === "vite" && rest[0] === "preview" && !pkg.devDeps.has("vite")) return null;
      if (input.options.perTransform["split-stages"]?.buildToolStart === "keep") {
        // the --verify rung: the whole app folder with the dependencies the tool needs (dev ones kept)
        const problem = needPackage(name);
        if (problem === undefined) return `runs ${name} (a build tool), which package.json does not list`;
        filesUnknown = true;
        usesModules = true;
        return problem;
      }
      return `runs ${name} (a build tool) at run time`;
    }
    if (name === "next" && rest[0] !== "start")
      return `runs \`next ${rest[0] ?? "dev"}\` (a build step) at run time`;
    if (name === "node" || name === "nodejs") {
      if (rest.includes("--watch")) return `runs \`${words.join(" ")}\`, which watches at run time`;
      let loader = false;
      for (let i = 0; i < rest.length; i++) {
        const preload = /^(?:-r|--require|--loader|--experimental-loader|--import)$/.test(rest[i])
          ? rest[++i]
          : null;
        const m = SOURCE_LOADER.exec(preload ?? rest[i].replace(/^--(?:require|loader|import)=/, ""));
        if (!m) continue;
        const problem = needPackage(m[1]);
        if (problem === undefined)
          return `runs \`${words.join(" ")}\`, and package.json does not list ${m[1]}`;
        if (problem) return problem;
        loader = true;
      }
      const file = rest.find(
        (a, i) =>
          !a.startsWith("-") &&
          !/^(?:-r|--require|--loader|--experimental-loader|--import)$/.test(rest[i - 1] ?? ""),
      );
      if (file && /\.(?:ts|mts|cts|tsx)$/.test(file) && !loader)
        return `runs TypeScript source ${file} directly`;
      if (file) startFiles.push(file);
      // a loader compiles the sources at start: they, and its config, are all needed
      if (loader) filesUnknown = true;
      usesModules = true;
      return null;
    }
    if (COMMAND_RUNNERS.test(name))
      return `runs commands through ${name}, which the transform does not follow`;
    if (TEST_RUNNERS.test(name)) return `runs the test runner ${name} at container start`;
    const pkgName = own(BIN_PACKAGE, name) ?? name;
    const global = globalPackages.has(pkgName) || globalPackages.has(name);
    const dependency = !global && pkg.deps.has(pkgName);
    // `npx serve` with serve not installed: npx fetches it from the registry at run time, alike in both
    const fetched = npx && !global && !pkg.deps.has(pkgName) && !pkg.devDeps.has(pkgName);
    if (own(STATIC_SERVERS, name) && (global || dependency || fetched)) {
      const folder = servedFolder(name, rest);
      if (folder) startFiles.push(folder);
      else filesUnknown = true;
      if (dependency) usesModules = true;
      return null;
    }
    if (/^(?:exec|env|cross-env|dotenv)$/.test(name)) {
      if (name === "cross-env" || name === "dotenv") {
        const problem = needPackage(name);
        if (problem) return problem;
      }
      return checkArgv(
        rest.filter((a) => !/^\w+=/.test(a) && !a.startsWith("-")),
        depth + 1,
      );
    }
    // the files the commands after it run are in another folder: the whole app folder is copied
    if (name === "cd") {
      filesUnknown = true;
      return null;
    }
    const problem = needPackage(name);
    // another package's bin reads files the transform cannot name: the whole app folder is copied
    if (problem === null) filesUnknown = true;
    if (problem !== undefined) return problem;
    if (/^(?:true|cd|echo|sleep|test|export)$/.test(name)) return null;
    return `starts \`${name}\`, which is not node or a package script the transform can check`;
  };
  /** `bun run <script>`, `bun <file>`: bun runs TypeScript itself, so a source file is fine. */
  const checkBun = (words: string[], depth: number): string | null => {
    const rest = words.slice(1);
    if (rest.some((a) => a === "--watch" || a === "--hot"))
      return `runs \`${words.join(" ")}\`, which watches the source at run time`;
    const args = rest.filter((a) => !a.startsWith("-"));
    const sub = args[0] ?? "";
    if (sub === "x") return checkArgv(args.slice(1), depth);
    if (/^(?:install|i|add|build|test|create|init|upgrade|pm|link|remove|update|outdated)$/.test(sub))
      return `runs \`bun ${sub}\` at run time`;
    const target = sub === "run" ? args[1] : sub;
    if (!target) return `runs \`${words.join(" ")}\`, which the transform cannot read`;
    if (pkg.scripts[target] !== undefined || DEV_SCRIPT_NAMES.test(target)) {
      if (depth > 4) return "nests package scripts too deeply";
      return checkScript("bun", target, depth);
    }
    if (/\.(?:[cm]?[jt]sx?)$/.test(target)) {
      startFiles.push(target);
      return null;
    }
    return `runs \`${words.join(" ")}\`, which the transform cannot read`;
  };
  const checkCommandLine = (line: string, depth: number): string | null => {
    if (/\.sh\b/.test(line)) return "runs a shell script the transform cannot see into";
    for (const part of line.split(/&&|\|\||;|\|/)) {
      const words = part.trim().split(/\s+/).filter(Boolean);
      const r = checkArgv(
        words.map((x) => x.replace(/^["']|["']$/g, "")),
        depth,
      );
      if (r) return r;
    }
    return null;
  };
  for (const argv of start.commands) {
    const problem = checkArgv(argv, 0);
    if (problem) refuse(problem, start.entrypoint ?? start.cmd);
  }
  let pnpmVersion = reading.pnpmVersion;
  if (runtimePnpm) {
    pnpmVersion ??= /^pnpm@([\w.-]+)/.exec(pkg.packageManager ?? "")?.[1] ?? null;
    if (!pnpmVersion)
      refuse(
        "the start command runs pnpm, and the pnpm version to install in the runtime stage is not known",
      );
  }
  return {
    start,
    runtimePnpm,
    pnpmVersion,
    startFiles: filesUnknown ? [] : startFiles,
    filesOnly: !usesModules && !runtimePnpm,
    devKept: [...devKept].sort(),
  };
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
