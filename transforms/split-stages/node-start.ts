/**
 * The start command of a Node app, followed through package scripts: what it runs, which files
 * and dependencies it needs at run time.
 */
import type { SplitInput } from "./types.ts";
import { own } from "../lib/own.ts";
import { refuse } from "./toolkit/refuse.ts";
import { scriptCommandLines } from "./toolkit/shell.ts";
import { type StartCommand, startCommand } from "../lib/start-command.ts";
import type { Pkg } from "./node-package.ts";
import { type NodeReading, startFileTextOf } from "./node-reading.ts";

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
export const NODE_SHEBANG = /^#![ \t]*(?:\/usr\/bin\/env[ \t]+node|\/usr(?:\/local)?\/bin\/node)[ \t]*\r?\n/;

/** Node loaders/preloads of those runners: `node -r ts-node/register`, `node --import tsx`. */
const SOURCE_LOADER = /^(ts-node|tsx|@babel\/register)(?:\/|$)/;

/** Start commands that run other commands the checks would have to follow, or run tests. */
const COMMAND_RUNNERS = /^(?:concurrently|npm-run-all2?|run-p|run-s)$/;
const TEST_RUNNERS = /^(?:mocha|jest|vitest|ava|tap|jasmine|karma)$/;

const DEV_SCRIPT_NAMES = /^(?:dev|develop|development|watch|serve|start:dev|dev:.*|watch:.*)$/;

/**
 * What the container runs: every command of CMD/ENTRYPOINT, followed through
 * package scripts, must run on production dependencies without building.
 */
export function checkStartCommand(
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
