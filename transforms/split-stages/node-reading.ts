/** What each instruction of a Node stage does: installs, builds, OS packages, file moves. */
import type { Instr } from "../../src/engine/parse.ts";
import type { SplitInput } from "./types.ts";
import { basename, dirname, isInside, resolvePath } from "../../src/engine/paths.ts";
import {
  contextFileAt,
  copyInfo,
  missingSources,
  shellVars,
  stageVars,
  workdirAfter,
  workdirs,
} from "./toolkit/instructions.ts";
import { type OsInstall, osInstalls } from "./toolkit/packages.ts";
import { followOutside, outsidePaths, placedOutside } from "./toolkit/placed-files.ts";
import { quote, refuse } from "./toolkit/refuse.ts";
import {
  FILE_COMMANDS,
  fileCommandProblem,
  redirectProblem,
  shellCommands,
  wordValues,
} from "./toolkit/shell.ts";
import { buildRunCommands } from "./toolkit/users.ts";
import { type YarnBerry, yarnBerry } from "./node-yarn-berry.ts";
import type { Pkg, Pm } from "./node-package.ts";

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

/** What the instructions of the stage do, read one by one. */
export interface NodeReading {
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
export function readInstructions(input: SplitInput, pkg: Pkg, appDir: string): NodeReading {
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
    const cmds = buildRunCommands(model, instr);
    if (cmds === "user creation") {
      roles.set(instr, { install: false, build: false, os: false, corepack: false, user: true });
      continue;
    }
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
export function startFileTextOf(input: SplitInput, reading: NodeReading, file: string): string | undefined {
  const { model, stage, context } = input;
  const startCwd = workdirAfter(stage, "/", model.globalArgValues);
  const ctxFile =
    startCwd === null
      ? null
      : contextFileAt(stage, context, resolvePath(startCwd, file), reading.cwdAt, reading.varsAt);
  return ctxFile === null ? undefined : context.readFile(ctxFile);
}
