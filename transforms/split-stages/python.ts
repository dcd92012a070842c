/**
 * Python planner: pip (requirements files or the project), pipenv, poetry.
 *
 * Build stage: the original lines with a virtualenv at /opt/venv created and
 * activated (VIRTUAL_ENV + PATH) before the first install, so pip, pipenv and
 * poetry all install into it; compilers and headers stay behind. Runtime
 * stage: `python:<same version>-slim` (or the same alpine/slim tag), the
 * runtime libraries the `-dev` packages were built against, the venv and the
 * app folder, the venv first on PATH, a non-root `app` user unless the file
 * sets a USER, and the original runtime instructions in order.
 */
import type { Instr } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { EcosystemPlanner, SplitInput, SplitOutcome } from "./types.ts";
import { absolutePath, isInside, resolvePath } from "../../src/engine/paths.ts";
import { baseImage, repoName, slimVariant } from "./toolkit/images.ts";
import {
  appFolderToCopy,
  contextFileAt,
  copyInfo,
  expandKnown,
  missingSources,
  RUNTIME_ONLY,
  shellVars,
  stageVars,
  workdirAfter,
  workdirs,
} from "./toolkit/instructions.ts";
import { osInstalls, type OsInstall, PYTHON_PROVIDED_DEV, runtimePackageLines } from "./toolkit/packages.ts";
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
  FILE_COMMANDS,
  fileCommandProblem,
  redirectProblem,
  scriptCommandLines,
  shellCommands,
  staticWord,
  wordValues,
} from "./toolkit/shell.ts";
import { buildRunCommands, checkRuntimeUser, createUserLines } from "./toolkit/users.ts";
import { followOutside, outsidePaths, placedOutside } from "./toolkit/placed-files.ts";
import { findUvEnvironment, needsDownloadGuard, UV_IMAGE, uvSubcommand } from "./python-uv.ts";
import { envPairs } from "../../src/engine/parse.ts";
import { type StartCommand, startCommand } from "../lib/start-command.ts";

export const VENV = "/opt/venv";

const OTHER_LANGUAGE_IMAGES =
  /^(?:node|golang|maven|gradle|openjdk|eclipse-temurin|amazoncorretto|rust|mcr\.microsoft\.com\/dotnet\/.*|microsoft\/.*|php|ruby)$/;

const PY_MANIFESTS = [
  "requirements.txt",
  "pyproject.toml",
  "Pipfile",
  "setup.py",
  "poetry.lock",
  "Pipfile.lock",
];

/** Commands that compile or install at container start. */
const RUNTIME_BUILD = /^(?:pip|pip3|pipenv|poetry|uv|apt-get|apt|apk|gcc|make|python-build)$/;

const isPip = (w: Array<string | null>): number => {
  const name = (w[0] ?? "").split("/").pop() ?? "";
  if (/^pip(?:3(?:\.\d+)?)?$/.test(name)) return 1;
  if (/^python(?:3(?:\.\d+)?)?$/.test(name) && w[1] === "-m" && /^pip3?$/.test(w[2] ?? "")) return 3;
  return 0;
};

/** python:<tag> → the runtime tag (null when it cannot be named). */
function runtimeTag(tag: string): string | null {
  if (/alpine|slim/.test(tag)) return tag;
  if (tag === "latest") return "slim";
  const m = /^(\d+(?:\.\d+){0,2}(?:[abrc]+\d+)?)(?:-(bookworm|bullseye|buster|trixie|stretch))?$/.exec(tag);
  if (!m) return null;
  return m[2] ? `${m[1]}-slim-${m[2]}` : `${m[1]}-slim`;
}

export const python: EcosystemPlanner = {
  id: "python",
  detect({ stage, context }) {
    const repo = repoName(stage.image!.name);
    if (repo === "python" || repo.endsWith("/python")) return true;
    if (OTHER_LANGUAGE_IMAGES.test(repo)) return false;
    const manifests = PY_MANIFESTS.some((f) => context.exists(f));
    return (
      manifests &&
      stage.instructions.some((i) => i.keyword === "RUN" && /\b(?:pip3?|pipenv|poetry)\b/.test(i.text))
    );
  },
  plan: (input) => guarded(() => planPython(input)),
};

interface RunRole {
  install: boolean;
  /** An install whose inputs are only manifest files (requirements, Pipfile, poetry --no-root). */
  manifestOnly: boolean;
  os: boolean;
  user: boolean;
  other: boolean;
}

/**
 * The Python plan, step by step; each step refuses (throws) when it cannot
 * prove its part: the base image, the app folder and virtualenv, every
 * instruction, the start command, the user, then the two stages.
 */
function planPython(input: SplitInput): SplitOutcome {
  const { model, stage, context } = input;
  const base = pythonBase(input);
  if (context.root === "<none>")
    refuse("no build context: the Python manifests are needed to plan the split");
  const appDir = appFolderToCopy(stage, model.globalArgValues);
  // A virtualenv the Dockerfile creates itself (or uv syncs) is reused: installs go into it as written.
  const own = ownVenv(input);
  const venv = own ? own.path : VENV;
  if (isInside(appDir, venv) || (isInside(venv, appDir) && own?.kind !== "uv"))
    refuse(`the app folder ${appDir} overlaps ${own ? "the virtualenv " : ""}${venv}`);
  const reading = readInstructions(input, appDir, { own, path: venv });
  if (reading.installs.length === 0) {
    // Only asked by `--verify`'s ladder, which proves it by a real build: with nothing installed,
    // the same steps may run on the slim variant.
    if (
      input.options.perTransform["split-stages"]?.noBuildStep === "slim" &&
      base.runtimeRaw !== base.image.raw
    ) {
      const edit = { ...base.image.rawSpan, text: baseImage(input.options, base.runtimeRaw) };
      return { kind: "rewrite", edits: [edit], message: `no install step: runs on ${base.runtimeRaw}` };
    }
    refuse("no recognisable build step (no pip, pipenv or poetry install)");
  }
  const start = checkStartCommand(input, own, reading, base.alpine);
  const { addUser, note: userNote } = checkRuntimeUser(model, stage, start, input.options);
  const runtimeInstall = runtimePackageLines(model, stage, start, reading.osPackages, {
    raw: base.image.raw,
    alpine: base.alpine,
    family: "python",
    providedDev: PYTHON_PROVIDED_DEV,
  });
  const segs = stageSegments(model, stage);
  const segOf = new Map<Instr, Segment>(segs.items.map((s) => [s.instr!, s]));
  const manifests = manifestsFirst(input, reading, appDir);
  const { piece: fromPiece, name: buildName } = fromAsBuild(model, stage, segs.from);
  const { build, runtimeInstrs, userRuns } = buildStage(input, reading, manifests, {
    own,
    python2: base.python2,
    fromPiece,
    segOf,
  });
  const { runtime, rtImage } = runtimeStage(input, {
    base,
    runtimeInstall,
    userRuns,
    runtimeInstrs,
    segOf,
    own,
    venv,
    appDir,
    buildName,
    chownApp: reading.chownApp,
    outsideCopies: reading.outsideCopies,
    placed: reading.placed,
    addUser,
  });
  const msg = [
    own?.kind === "uv"
      ? `split into a build stage (${base.image.raw}) whose uv sync installs into ${venv} and a runtime stage (${rtImage}) with ${isInside(venv, appDir) ? `${appDir} and the environment in it` : `that environment and ${appDir}`}`
      : own
        ? `split into a build stage (${base.image.raw}) installing into its own virtualenv ${venv} and a runtime stage (${rtImage}) with that venv and ${appDir}`
        : `split into a build stage (${base.image.raw}) installing into ${VENV} and a runtime stage (${rtImage}) with the venv and ${appDir}`,
    addUser ? "runs as a new non-root user app" : userNote,
    reading.placed.length > 0
      ? `also copies what cp/mv put outside the app folder: ${reading.placed.join(", ")}`
      : null,
    base.python2 && !own
      ? "Python 2 has no venv module: the build stage creates the venv with virtualenv"
      : null,
    own?.kind === "uv" && needsDownloadGuard(stage)
      ? "uv may not download a Python of its own (UV_PYTHON_DOWNLOADS=never in the build stage): the environment must run on the runtime image's Python"
      : null,
    manifests.moveCopy ? "dependency manifests installed before the source is copied" : null,
    ...base.notes,
  ]
    .filter(Boolean)
    .join("; ");
  return layoutRewrite(model, segs, build, runtime, msg);
}

/** The Dockerfile's own virtualenv, or the environment its `uv sync` installs into (not both). */
function ownVenv({ model, stage }: SplitInput): OwnVenv | null {
  const varsAt = stageVars(stage, model.globalArgValues);
  const own = findOwnVenv(model, stage, varsAt);
  const uv = findUvEnvironment(model, stage, workdirs(stage, "/", model.globalArgValues), varsAt);
  if (!uv) return own;
  if (own)
    refuse(
      `uv sync together with the Dockerfile's own virtualenv ${own.path} is not planned`,
      [...uv.creators][0],
    );
  return { kind: "uv", ...uv, activeAt: activeVenvAt(stage, varsAt, uv.path) };
}

interface PythonBase {
  image: NonNullable<SplitInput["stage"]["image"]>;
  /** The runtime image: the `-slim` variant of the same tag. */
  runtimeRaw: string;
  alpine: boolean;
  /** `python:2*`: no venv module, so the venv is made with `virtualenv` (installed with pip). */
  python2: boolean;
  /** Why an asked-for runtime flavour is not used. */
  notes: string[];
}

/** The base image and its runtime variant; refuses images it does not know. */
function pythonBase({ stage, options }: SplitInput): PythonBase {
  const { image, tag, runtimeRaw, alpine } = slimVariant(stage, {
    repo: "python",
    app: "a Python app",
    runtimeTag,
    checkTag(tag, image) {
      if (/windows|nanoserver/.test(tag)) refuse(`no slim variant known for ${image.raw}`, stage.from);
    },
  });
  const python2 = /^2(?:\.|-|$)/.test(tag);
  const notes: string[] = [];
  if (options.runtimeFlavour === "alpine" && !alpine)
    notes.push("runtimeFlavour alpine ignored: wheels built on glibc would not load on musl");
  if (options.runtimeFlavour === "distroless")
    notes.push("runtimeFlavour distroless not used for Python: the venv needs the image's own interpreter");
  return { image, runtimeRaw, alpine, python2, notes };
}

/** What the instructions of the stage do, read one by one. */
interface PythonReading {
  cwdAt: Map<Instr, string | null>;
  varsAt: Map<Instr, Map<string, string | null>>;
  roles: Map<Instr, RunRole>;
  osPackages: OsInstall[];
  /** The requirement files, Pipfiles and pyproject files the installs read (context paths; `?` when unknown). */
  manifestFiles: Set<string>;
  /** Non-manifest COPYs outside the app folder: copied to the runtime stage from the build stage. */
  outsideCopies: string[];
  /** Paths outside the app folder and the venv that cp/mv put in place: copied the same way. */
  placed: string[];
  /** Owner a COPY or RUN chown gave the app folder, kept on the runtime copy. */
  chownApp: string | null;
  /** The RUNs that install with pip, pipenv or poetry. */
  installs: Instr[];
}

/**
 * Reads every COPY/ADD (from the context; into the app folder, or manifests
 * and plain files elsewhere) and every RUN (pip/pipenv/poetry installs, OS
 * packages, collectstatic and file commands); refuses anything else.
 */
function readInstructions(
  input: SplitInput,
  appDir: string,
  venv: { own: OwnVenv | null; path: string },
): PythonReading {
  const { model, stage, context } = input;
  const own = venv.own;
  const cwdAt = workdirs(stage, "/", model.globalArgValues);
  const varsAt = stageVars(stage, model.globalArgValues);
  const shellVarsAt = shellVars(stage);
  const roles = new Map<Instr, RunRole>();
  const osPackages: OsInstall[] = [];
  const manifestFiles = new Set<string>();
  const outsideCopies: string[] = [];
  let chownApp: string | null = null;
  const outside = placedOutside([appDir, venv.path], cwdAt.values());

  for (const instr of stage.instructions) {
    const k = instr.keyword;
    if (k === "ONBUILD") refuse(`ONBUILD at line ${instr.line} is not supported`, instr);
    if (
      k === "ENV" &&
      (own
        ? /\b(?:PIP_TARGET|PIP_PREFIX|PIP_USER|PYTHONUSERBASE)\b/
        : /\b(?:VIRTUAL_ENV|PIP_TARGET|PIP_PREFIX|PIP_USER|PYTHONUSERBASE)\b/
      ).test(instr.text)
    ) {
      refuse(`${quote(instr)} sets where packages install; the venv would not receive them`, instr);
    }
    if (k === "COPY" || k === "ADD") {
      const c = copyInfo(instr, cwdAt.get(instr) ?? null, varsAt.get(instr));
      if (!c) refuse(`cannot read ${quote(instr)}`, instr);
      // The uv binary from its image, outside the app and the venv: a build tool the runtime does not get.
      if (
        c.from &&
        UV_IMAGE.test(c.from) &&
        c.destAbs &&
        !isInside(c.destAbs, appDir) &&
        !isInside(c.destAbs, venv.path)
      )
        continue;
      if (c.from) refuse(`${quote(instr)} copies from another image`, instr);
      if (c.remote) refuse(`${quote(instr)} fetches or unpacks remote content`, instr);
      if (!c.destAbs) refuse(`${quote(instr)}: destination uses variables`, instr);
      // An owner the original gave the app files stays on the runtime copy.
      if (c.chown && isInside(c.destAbs, appDir)) chownApp ??= c.chown;
      const missing = missingSources(context, c);
      if (missing.length) refuse(`${quote(instr)}: ${missing[0]} is not in the build context`, instr);
      if (isInside(c.destAbs, venv.path)) refuse(`${quote(instr)} copies into ${venv.path}`, instr);
      if (!isInside(c.destAbs, appDir)) {
        const manifestsOnly = c.sources.every((s) =>
          /^(?:requirements[\w.-]*\.txt|Pipfile\*?|Pipfile\.lock|pyproject\.toml|poetry\.lock|setup\.(?:py|cfg)|constraints[\w.-]*\.txt)$/.test(
            s.replace(/^\.\//, ""),
          ),
        );
        if (manifestsOnly) continue;
        if (c.wholeContext)
          refuse(`${quote(instr)} copies the whole context outside the app folder ${appDir}`, instr);
        if (c.destAbs === "/" || !c.sources.every((s) => !/[*?[]/.test(s))) {
          refuse(`${quote(instr)} copies outside the app folder ${appDir}`, instr);
        }
        for (const s of c.sources) {
          const target = c.destIsDir
            ? resolvePath(c.destAbs, s.replace(/\/+$/, "").split("/").pop()!)
            : c.destAbs;
          outsideCopies.push(target);
        }
      }
      continue;
    }
    if (k !== "RUN") continue;
    const cmds = buildRunCommands(model, instr);
    if (cmds === "user creation") {
      roles.set(instr, { install: false, manifestOnly: false, os: false, user: true, other: false });
      continue;
    }
    const role: RunRole = { install: false, manifestOnly: true, os: false, user: false, other: false };
    let cwd = cwdAt.get(instr) ?? appDir;
    /** Where a cp/mv runs, for following it (null: not known). */
    let placeCwd = cwdAt.get(instr) ?? null;
    for (const c of cmds) {
      const w = wordValues(c);
      if (own && w[0] === null) w[0] = wordValue(c, 0, varsAt.get(instr));
      if (w[0] === null) refuse(`RUN at line ${instr.line} runs a command chosen by a variable`, instr);
      const redirect = redirectProblem(model, instr, c, appDir, cwd, shellVarsAt.get(instr));
      if (redirect) refuse(redirect, instr);
      const name = (w[0] ?? "").split("/").pop() ?? "";
      const plain = w.slice(1).filter((a): a is string => a !== null);
      if (/\.sh$/.test(w[0] ?? "") || (/^(?:ba|da)?sh$/.test(name) && plain.some((a) => /\.sh$/.test(a)))) {
        refuse(
          `builds through ${plain.find((a) => /\.sh$/.test(a)) ?? w[0]}, a script the transform cannot see into`,
          instr,
        );
      }
      const pipAt = isPip(w);
      if (pipAt) {
        const args = w.slice(pipAt).filter((a): a is string => a !== null);
        const sub = args.find((a) => !a.startsWith("-")) ?? "";
        if (sub === "install") {
          if (args.some((a) => /^--(?:user|target|prefix|root)\b/.test(a) || a === "-t")) {
            refuse(`${quote(instr)} installs outside the interpreter's environment`, instr);
          }
          if (own) {
            const problem = ownVenvTarget(own, instr, w, args, cwd);
            if (problem) refuse(problem, instr);
          }
          if (!own && args.includes("--no-build-isolation")) {
            refuse(
              `${quote(instr)} builds with --no-build-isolation, relying on the system interpreter's setuptools/wheel, which ${VENV} lacks`,
              instr,
            );
          }
          if (w.slice(pipAt).some((a) => a === null)) role.manifestOnly = false;
          role.install = true;
          const rest = args.slice(args.indexOf("install") + 1);
          for (let i = 0; i < rest.length; i++) {
            const a = rest[i];
            if (a === "-r" || a === "--requirement" || a === "-c" || a === "--constraint") {
              const f = rest[++i];
              if (f) manifestFiles.add(resolveCtx(f, cwd, appDir) ?? "?");
              continue;
            }
            const eq = /^(?:--requirement|--constraint|-r|-c)=?(.+)$/.exec(a);
            if (eq && a.startsWith("-") && !/^--(?:no|upgrade|index|extra|trusted|find|pre)/.test(a)) {
              manifestFiles.add(resolveCtx(eq[1], cwd, appDir) ?? "?");
              continue;
            }
            if (
              a === "-e" ||
              a === "--editable" ||
              a === "." ||
              a.startsWith("./") ||
              a.startsWith("/") ||
              /^\.\[/.test(a)
            ) {
              role.manifestOnly = false;
            }
          }
          continue;
        }
        if (/^(?:uninstall|config|cache|freeze|list|show|check|--version|download|wheel)$/.test(sub))
          continue;
        refuse(`${quote(instr)}: pip ${sub} is not understood`, instr);
      }
      if (own && (name === "pipenv" || name === "poetry"))
        refuse(
          `${quote(instr)}: ${name} together with the Dockerfile's own virtualenv ${venv.path} is not planned`,
          instr,
        );
      if (own && name === "virtualenv" && own.creators.has(instr)) {
        role.manifestOnly = false;
        continue;
      }
      if (name === "pipenv") {
        const sub = plain.find((a) => !a.startsWith("-")) ?? "";
        if (sub === "install" || sub === "sync") {
          role.install = true;
          manifestFiles.add("Pipfile");
          if (context.exists("Pipfile.lock")) manifestFiles.add("Pipfile.lock");
          if (plain.some((a) => a === "-e" || a === "." || a === "--dev" || a === "-d"))
            role.manifestOnly = role.manifestOnly && !plain.includes(".");
          continue;
        }
        if (/^(?:lock|--version|requirements|check|--clear)$/.test(sub)) continue;
        refuse(`${quote(instr)}: pipenv ${sub} is not understood`, instr);
      }
      if (name === "poetry") {
        const sub = plain.find((a) => !a.startsWith("-")) ?? "";
        if (sub === "install" || sub === "sync") {
          role.install = true;
          manifestFiles.add("pyproject.toml");
          if (context.exists("poetry.lock")) manifestFiles.add("poetry.lock");
          if (!plain.includes("--no-root") && !plain.includes("--only-root")) role.manifestOnly = false;
          if (plain.includes("--only-root")) role.manifestOnly = false;
          continue;
        }
        if (/^(?:config|--version|lock|check|export|self)$/.test(sub)) continue;
        refuse(`${quote(instr)}: poetry ${sub} is not understood`, instr);
      }
      if (name === "uv") {
        const { sub, args } = uvSubcommand(plain);
        if (sub === "sync") {
          // Where it installs, and its options, were read by findUvEnvironment.
          role.install = true;
          manifestFiles.add("pyproject.toml");
          if (context.exists("uv.lock")) manifestFiles.add("uv.lock");
          if (!args.includes("--no-install-project") && !args.includes("--only-dev"))
            role.manifestOnly = false;
          continue;
        }
        if (
          sub === "pip" &&
          args[0] === "install" &&
          args.some((a) => a === "--system" || /^--(?:target|prefix)\b/.test(a))
        )
          refuse(
            `${quote(instr)} installs into the image's own Python (not a venv); the -slim runtime would not have those packages`,
            instr,
          );
        if (/^(?:--version|version|cache|lock|export|tree)$/.test(sub)) continue;
        refuse(`${quote(instr)}: uv ${sub} is not planned (only uv sync)`, instr);
      }
      if (/^(?:apt-get|apt|apk|yum|dnf|microdnf)$/.test(name)) {
        if (plain.some((a) => /^(?:install|add)$/.test(a))) {
          const distroPython = plain.find((a) =>
            /^(?:python3?(?:\.\d+)?(?:-venv|-virtualenv|-pip|-dev|-minimal)?|virtualenv)$/.test(a),
          );
          if (own && distroPython)
            refuse(
              `${quote(instr)} installs the distribution's ${distroPython}; the virtualenv ${venv.path} may be built on it, and the -slim runtime does not have it`,
              instr,
            );
          role.os = true;
          for (const o of osInstalls(model, instr))
            if (!osPackages.some((x) => x.instr === instr && x.manager === o.manager)) osPackages.push(o);
        }
        role.manifestOnly = false;
        continue;
      }
      if (/^python(?:3(?:\.\d+)?)?$/.test(name) || /manage\.py$/.test(w[0] ?? "")) {
        const args = /manage\.py$/.test(w[0] ?? "") ? [w[0], ...plain] : plain;
        const isManage =
          /manage\.py$/.test(args[0] ?? "") && /^(?:collectstatic|compilemessages)$/.test(args[1] ?? "");
        const isCompileall = args[0] === "-m" && args[1] === "compileall";
        const isVenv = args[0] === "-m" && (args[1] === "venv" || args[1] === "virtualenv");
        if (isVenv && own?.creators.has(instr)) {
          role.manifestOnly = false;
          continue;
        }
        if (isVenv) refuse(`${quote(instr)} creates its own virtualenv`, instr);
        if (!isManage && !isCompileall)
          refuse(`${quote(instr)} runs a Python script the transform cannot see into`, instr);
        role.other = true;
        role.manifestOnly = false;
        continue;
      }
      if (name === "cd") {
        const arg = c.args[0];
        const to = arg ? staticWord(arg, (v) => expandKnown(v, shellVarsAt.get(instr))) : null;
        cwd = resolvePath(cwd, to ?? "/");
        placeCwd = to === null || (placeCwd === null && !to.startsWith("/")) ? null : cwd;
        continue;
      }
      if (FILE_COMMANDS.has(name)) {
        const problem = fileCommandProblem(model, instr, c, appDir, cwd, shellVarsAt.get(instr));
        const why = problem && followOutside(outside, instr, c, placeCwd, shellVarsAt.get(instr), problem);
        if (why) refuse(why, instr);
        if (
          name === "chown" &&
          plain
            .filter((a) => !a.startsWith("-"))
            .slice(1)
            .some((a) => isInside(appDir, resolvePath(cwd, a)))
        ) {
          chownApp = plain.find((a) => !a.startsWith("-")) ?? null;
        }
        role.other = true;
        role.manifestOnly = false;
        continue;
      }
      refuse(
        `RUN at line ${instr.line} runs \`${name}\`, which the transform cannot prove the runtime stage does without`,
        instr,
      );
    }
    if (!role.install) role.manifestOnly = false;
    roles.set(instr, role);
  }
  const installs = stage.instructions.filter((i) => roles.get(i)?.install);
  const placed = outsidePaths(outside).filter((p) => !outsideCopies.some((o) => isInside(p, o)));
  // The venv's Python does not read the image interpreter's own site-packages.
  const sitePackages = placed.find((p) => /^\/usr\/(?:local\/)?lib\/python[\d.]*\//.test(p));
  if (sitePackages) refuse(`cp/mv put ${sitePackages} in place, which the virtualenv's Python does not read`);

  return { cwdAt, varsAt, roles, osPackages, manifestFiles, outsideCopies, placed, chownApp, installs };
}

/**
 * What the container runs: no build tool, no script the transform cannot see
 * into, and no path under /usr/local that moves into the venv.
 */
function checkStartCommand(
  { model, stage, context }: SplitInput,
  own: OwnVenv | null,
  reading: PythonReading,
  alpine: boolean,
): StartCommand {
  const start = startCommand(model, stage);
  if (start.commands.length === 0) {
    refuse(
      "no CMD or ENTRYPOINT: the start command is set elsewhere, so what the runtime needs cannot be checked",
    );
  }
  // pip console scripts and site-packages move from /usr/local into the venv.
  for (const i of stage.instructions) {
    if (!RUNTIME_ONLY.has(i.keyword) && i.keyword !== "ENV") continue;
    const m = /\/usr\/local\/(?:bin\/(?!python)[\w.-]+|lib\/python[\d.]*\/(?:site|dist)-packages)/.exec(
      i.text,
    );
    if (m && !own) refuse(`${quote(i)} names ${m[0]}, which moves into ${VENV}`, i);
  }
  const startCwd = workdirAfter(stage, "/", model.globalArgValues);
  /** A problem with what `words` start at run time, or null; start scripts are read command by command. */
  const checkArgv = (words: string[], depth: number): string | null => {
    while (words.length && /^\w+=/.test(words[0])) words.shift();
    if (words.length === 0) return null;
    let name = words[0].split("/").pop()!;
    let rest = words.slice(1);
    if ((name === "poetry" || name === "pipenv") && rest[0] === "run") {
      name = (rest[1] ?? "").split("/").pop()!;
      rest = rest.slice(2);
    }
    if (/^(?:exec|env)$/.test(name)) return checkArgv(rest, depth);
    if (/\.sh$/.test(words[0]) || rest.some((a) => /\.sh$/.test(a) && /^(?:ba|da)?sh$/.test(name))) {
      const file = [words[0], ...rest].find((a) => /\.sh$/.test(a))!;
      if (depth > 0) return `starts through ${file}, a script the transform cannot see into`;
      const ctxFile =
        startCwd === null
          ? null
          : contextFileAt(stage, context, resolvePath(startCwd, file), reading.cwdAt, reading.varsAt);
      const text = ctxFile === null ? undefined : context.readFile(ctxFile);
      if (text === undefined) return `starts through ${file}, a script the transform cannot see into`;
      const lines = scriptCommandLines(text, { alpine });
      if (!Array.isArray(lines)) return `starts through ${file}, which ${lines.why}`;
      for (const line of lines)
        for (const part of line.split(/&&|\|\||;|\|/)) {
          const r = checkArgv(
            part
              .trim()
              .split(/\s+/)
              .filter(Boolean)
              .map((x) => x.replace(/^["']|["']$/g, "")),
            depth + 1,
          );
          if (r) return depth === 0 ? `${file} ${r}` : r;
        }
      return null;
    }
    if (RUNTIME_BUILD.test(name) && !(name === "pip" && rest[0] === "--version"))
      return `runs \`${name}\` at container start, which needs the build tools`;
    return null;
  };
  for (const argv of start.commands) {
    const problem = checkArgv(
      argv.filter((a): a is string => a !== null),
      0,
    );
    if (problem) refuse(problem, start.entrypoint ?? start.cmd);
  }

  return start;
}

interface ManifestsFirst {
  /** The `COPY . .` moved after the last manifest-only install, or null. */
  moveCopy: Instr | null;
  moveAfter: Instr | null;
  /** The COPY of the manifests placed before the first install, or null. */
  manifestLine: string | null;
}

/**
 * When the file copies the whole context before installs that only read
 * manifests, the manifests are copied first and the rest after the last such
 * install, so the dependency layer stays cached across source edits.
 */
function manifestsFirst(
  { model, stage, context }: SplitInput,
  { roles, cwdAt, varsAt, manifestFiles, installs }: PythonReading,
  appDir: string,
): ManifestsFirst {
  const firstInstall = installs[0];
  const installIdx = stage.instructions.indexOf(firstInstall);
  let moveCopy: Instr | null = null;
  let moveAfter: Instr | null = null;
  let manifestLine: string | null = null;
  const copyAllIdx = stage.instructions.findIndex((i, idx) => {
    if (idx >= installIdx || (i.keyword !== "COPY" && i.keyword !== "ADD")) return false;
    const c = copyInfo(i, cwdAt.get(i) ?? null, varsAt.get(i));
    return !!c && c.wholeContext && c.destAbs === appDir;
  });
  if (copyAllIdx !== -1) {
    const copyAll = stage.instructions[copyAllIdx];
    const c = copyInfo(copyAll, cwdAt.get(copyAll) ?? null, varsAt.get(copyAll))!;
    // The block after the copy: OS installs, user creation, manifest-only installs, ENV/ARG/LABEL...
    let last: Instr | null = null;
    let ok = c.sources.length === 1;
    for (const i of stage.instructions.slice(copyAllIdx + 1)) {
      if (i.keyword === "RUN") {
        const r = roles.get(i);
        if (!r) {
          ok = false;
          break;
        }
        if (r.install && r.manifestOnly) {
          last = i;
          continue;
        }
        if (r.os || r.user || (!r.install && !r.other)) continue;
        break;
      }
      if (i.keyword === "COPY" || i.keyword === "ADD" || i.keyword === "WORKDIR") break;
    }
    const files = [...manifestFiles];
    const nested = files.flatMap((f) => nestedRequirements(context, f));
    const allFiles = [...new Set([...files, ...nested])];
    if (
      ok &&
      last &&
      allFiles.length > 0 &&
      allFiles.every((f) => f !== "?" && context.exists(f) && !f.includes("..")) &&
      stage.instructions.slice(copyAllIdx + 1, stage.instructions.indexOf(last) + 1).every((i) => {
        const r = roles.get(i);
        return i.keyword !== "RUN" || !r?.install || r.manifestOnly;
      })
    ) {
      moveCopy = copyAll;
      moveAfter = last;
      const dest = c.dest === "." || c.dest === "./" ? "./" : c.dest.endsWith("/") ? c.dest : c.dest + "/";
      const chown = c.chown ? ` --chown=${c.chown}` : "";
      // Keep each manifest at its relative place under the app folder.
      const byDir = new Map<string, string[]>();
      for (const f of allFiles) {
        const d = f.includes("/") ? f.slice(0, f.lastIndexOf("/") + 1) : "";
        byDir.set(d, [...(byDir.get(d) ?? []), f]);
      }
      if (byDir.size === 1)
        manifestLine = `${keyword(model, "COPY")}${chown} ${allFiles.join(" ")} ${dest}${[...byDir.keys()][0]}`;
      else {
        moveCopy = null;
        moveAfter = null;
      }
    }
  }

  return { moveCopy, moveAfter, manifestLine };
}

/**
 * The build stage: every original line in place, the venv created and put
 * first on PATH before the first pip/pipenv/poetry RUN (unless the file has
 * its own), the manifests first when `manifestsFirst` says so, less the
 * instructions that only concern the runtime, which are collected.
 */
function buildStage(
  { model, stage }: SplitInput,
  { roles, installs }: PythonReading,
  { moveCopy, moveAfter, manifestLine }: ManifestsFirst,
  {
    own,
    python2,
    fromPiece,
    segOf,
  }: { own: OwnVenv | null; python2: boolean; fromPiece: Piece; segOf: Map<Instr, Segment> },
): { build: Piece[]; runtimeInstrs: Instr[]; userRuns: Instr[] } {
  const firstInstall = installs[0];
  const run = keyword(model, "RUN");
  const env = keyword(model, "ENV");
  // Python 2 has no venv module; virtualenv 16 is the last release that installs and runs on every Python 2.7.
  const createVenv = python2
    ? `${run} pip install "virtualenv<20" && virtualenv ${VENV}`
    : `${run} python -m venv ${VENV}`;
  const venvLines = [createVenv, `${env} VIRTUAL_ENV=${VENV} PATH="${VENV}/bin:$PATH"`];
  const uvGuard = own?.kind === "uv" && needsDownloadGuard(stage) ? [`${env} UV_PYTHON_DOWNLOADS=never`] : [];
  const firstUvSync = own?.kind === "uv" ? stage.instructions.find((i) => own.creators.has(i)) : undefined;
  // The venv is created before the first pip/pipenv/poetry RUN (including `pip install pipenv`).
  const firstPipRun =
    stage.instructions.find((i) => {
      if (i.keyword !== "RUN" || !roles.has(i)) return false;
      const cmds = shellCommands(model, i) ?? [];
      return cmds.some((c) => isPip(wordValues(c)) > 0 || /^(?:pipenv|poetry)$/.test(c.name?.value ?? ""));
    }) ?? firstInstall;
  return buildStagePieces(stage, segOf, fromPiece, {
    skip: moveCopy,
    isUserRun: (i) => !!roles.get(i)?.user,
    before: (i) => [
      ...(i === firstPipRun && !own ? venvLines : []),
      ...(i === firstUvSync ? uvGuard : []),
      ...(i === firstInstall && manifestLine ? [manifestLine] : []),
    ],
    after: (i) => (i === moveAfter && moveCopy ? [seg(segOf.get(moveCopy)!)] : []),
  });
}

/**
 * The runtime stage: the slim image, its OS packages, user creation, the venv
 * on PATH, the venv and app folder (and files copied outside it) copied after
 * the last WORKDIR, the runtime instructions in order, and `USER app`.
 */
function runtimeStage(
  { model, options }: SplitInput,
  r: {
    base: PythonBase;
    runtimeInstall: string[];
    userRuns: Instr[];
    runtimeInstrs: Instr[];
    segOf: Map<Instr, Segment>;
    own: OwnVenv | null;
    venv: string;
    appDir: string;
    buildName: string;
    chownApp: string | null;
    outsideCopies: string[];
    placed: string[];
    addUser: boolean;
  },
): { runtime: Piece[]; rtImage: string } {
  const { segOf, venv, appDir, buildName, addUser } = r;
  const env = keyword(model, "ENV");
  const rtImage = baseImage(options, r.base.runtimeRaw);
  const setup: Piece[] = [];
  if (r.runtimeInstall.length) setup.push(newLines(...r.runtimeInstall));
  for (const u of r.userRuns) setup.push(seg(segOf.get(u)!, "trim"));
  if (addUser) setup.push(newLines(...createUserLines(model, r.base.alpine ? "alpine" : "debian")));
  // An own venv keeps the Dockerfile's ENV lines (carried to the runtime stage in order).
  if (!r.own) setup.push(newLines(`${env} VIRTUAL_ENV=${VENV} PATH="${VENV}/bin:$PATH"`));
  const runtime = runtimeStagePieces(model, segOf, {
    image: rtImage,
    setup,
    runtimeInstrs: r.runtimeInstrs,
    copyLines: [
      ...(isInside(venv, appDir) ? [] : [copyFromLine(model, buildName, venv, venv)]),
      copyFromLine(model, buildName, appDir, appDir, addUser ? "app:app" : r.chownApp),
      ...r.outsideCopies.map((p) => copyFromLine(model, buildName, p, p)),
      // The new user may write what cp/mv put in place, as root could.
      ...r.placed.map((p) => copyFromLine(model, buildName, p, p, addUser ? "app:app" : null)),
    ],
    user: addUser ? "app" : null,
  });
  return { runtime, rtImage };
}

/** A manifest path relative to the context, from a path written relative to the RUN's cwd (null when outside the app folder). */
function resolveCtx(file: string, cwd: string, appDir: string): string | null {
  const abs = resolvePath(cwd, file);
  if (!isInside(abs, appDir)) return null;
  return abs === appDir ? null : abs.slice(appDir === "/" ? 1 : appDir.length + 1);
}

/** `-r other.txt` includes inside a requirements file (one level), as context paths. */
function nestedRequirements(context: SplitInput["context"], file: string): string[] {
  const text = context.readFile(file);
  if (!text) return [];
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:-r|--requirement|-c|--constraint)[\s=]+(\S+)/.exec(line);
    if (m) out.push(dir + m[1]);
    if (/^\s*(?:-e\s+)?\.(?:\[|\s|$)|^\s*-e\s+\.\.?\//.test(line)) out.push("?");
  }
  return out;
}

/** The virtualenv a Dockerfile creates itself (`python -m venv X`, `virtualenv X`, or uv's project environment). */
interface OwnVenv {
  /** `uv`: the environment `uv sync` makes (it may lie inside the app folder, copied with it). */
  kind: "venv" | "uv";
  path: string;
  /** The RUNs that create it. */
  creators: Set<Instr>;
  /** The venv whose bin/ leads PATH before each instruction (null: none). */
  activeAt: Map<Instr, string | null>;
}

const SYSTEM_TOOLS = /^(?:pip|setuptools|wheel|virtualenv|uv)(?:[<>=!~].*)?$/i;

/** A command word, with `$VAR`s the stage defines expanded (null when unknown). */
function wordValue(
  c: ShellCommand,
  i: number,
  vars: ReadonlyMap<string, string | null> | undefined,
): string | null {
  const w = c.words[i];
  if (!w) return null;
  if (w.value !== null) return w.value;
  const raw = /^"[^"`\\]*"$/.test(w.raw) ? w.raw.slice(1, -1) : w.raw;
  if (/["'`\\]|\$\(/.test(raw)) return null;
  return expandKnown(raw, vars);
}

/**
 * Finds a virtualenv the stage creates itself (null: none); refuses one
 * created in a way the runtime stage could not reproduce.
 */
function findOwnVenv(
  model: SplitInput["model"],
  stage: SplitInput["stage"],
  varsAt: Map<Instr, Map<string, string | null>>,
): OwnVenv | null {
  let path: string | null = null;
  const creators = new Set<Instr>();
  for (const instr of stage.instructions) {
    if (instr.keyword !== "RUN" || instr.hasHeredoc) continue;
    const cmds = shellCommands(model, instr);
    if (!cmds) continue;
    const vars = varsAt.get(instr);
    for (const c of cmds) {
      const w0 = wordValue(c, 0, vars) ?? "";
      const name = w0.split("/").pop() ?? "";
      let argStart: number;
      const pyName = /^python(?:3(?:\.\d+)?)?$/.test(name);
      if (pyName && c.words[1]?.value === "-m" && /^(?:venv|virtualenv)$/.test(c.words[2]?.value ?? ""))
        argStart = 3;
      else if (name === "virtualenv") argStart = 1;
      else continue;
      const r: (reason: string) => never = (reason) => refuse(`${quote(instr)} ${reason}`, instr);
      if (w0.includes("/") && !/^\/usr\/local\/bin\//.test(w0))
        r(
          `creates its virtualenv with ${w0}, an interpreter the -slim runtime image does not have at that path`,
        );
      const positional: string[] = [];
      for (let i = argStart; i < c.words.length; i++) {
        const a = wordValue(c, i, vars);
        if (a === null) r("names its virtualenv with a variable the transform cannot resolve");
        if (a === "--system-site-packages")
          r(
            "creates a virtualenv with --system-site-packages: it would use packages of the build image the -slim runtime lacks",
          );
        if (a === "--without-pip" || a === "--no-pip")
          r("creates a virtualenv without pip: the installs would not go into it");
        if (/^(?:-p|--python)(?:=|$)/.test(a))
          r("creates its virtualenv with another interpreter, which the -slim runtime may not have");
        if (a === "--prompt") {
          i++;
          continue;
        }
        if (/^-/.test(a)) {
          if (
            /^--(?:copies|symlinks|clear|upgrade-deps|upgrade|prompt=.*|always-copy|no-download|download)$/.test(
              a,
            )
          )
            continue;
          r(`creates its virtualenv with ${a}, an option the transform does not know`);
        }
        positional.push(a);
      }
      if (positional.length !== 1) r("does not create exactly one virtualenv");
      const target = positional[0];
      if (!target.startsWith("/"))
        r(
          `creates its virtualenv at the relative path ${target}; only an absolute path can be copied to the runtime stage as is`,
        );
      const abs = absolutePath(target);
      if (path !== null && path !== abs) r(`creates a second virtualenv (${path} already exists)`);
      path = abs;
      creators.add(instr);
    }
  }
  if (path === null) return null;
  return { kind: "venv", path, creators, activeAt: activeVenvAt(stage, varsAt, path) };
}

/** Before each instruction, the venv whose bin/ leads PATH (set by an ENV; variables as before it), or null. */
function activeVenvAt(
  stage: SplitInput["stage"],
  varsAt: Map<Instr, Map<string, string | null>>,
  venvPath: string,
): Map<Instr, string | null> {
  const activeAt = new Map<Instr, string | null>();
  let active: string | null = null;
  for (const instr of stage.instructions) {
    activeAt.set(instr, active);
    if (instr.keyword !== "ENV") continue;
    for (const [k, v] of envPairs(instr)) {
      if (v === null) continue;
      if (k === "VIRTUAL_ENV" && absolutePath(expandKnown(v, varsAt.get(instr)) ?? "?") !== venvPath)
        refuse(`${quote(instr)} sets VIRTUAL_ENV to another folder than the virtualenv ${venvPath}`, instr);
      if (k !== "PATH") continue;
      const first = expandKnown(v.split(":")[0], varsAt.get(instr));
      active = first !== null && first !== "" && absolutePath(first) === venvPath + "/bin" ? venvPath : null;
    }
  }
  return activeAt;
}

/**
 * Where a pip install goes when the Dockerfile has its own venv: into it (explicit
 * `<venv>/bin/pip`, or PATH leading with `<venv>/bin`), or into the system
 * interpreter, which is only fine for the tools that build the venv. A problem, or null.
 */
function ownVenvTarget(
  own: OwnVenv,
  instr: Instr,
  w: Array<string | null>,
  args: string[],
  cwd: string,
): string | null {
  const exe = w[0] ?? "";
  let intoVenv: boolean;
  if (exe.includes("/")) {
    const dir = resolvePath(cwd, exe).replace(/\/[^/]+$/, "");
    if (dir === own.path + "/bin") intoVenv = true;
    else if (dir === "/usr/local/bin") intoVenv = false;
    else
      return `${quote(instr)} runs pip from ${exe}, neither the virtualenv ${own.path} nor the image's Python`;
  } else intoVenv = own.activeAt.get(instr) === own.path;
  if (intoVenv) return null;
  const rest = args.slice(args.indexOf("install") + 1);
  const pkgs = rest.filter((a) => !a.startsWith("-"));
  const onlyTools = rest.every(
    (a) =>
      /^(?:-U|--upgrade|--no-cache-dir|-q|--quiet|--no-compile|--disable-pip-version-check|--root-user-action=\w+)$/.test(
        a,
      ) || SYSTEM_TOOLS.test(a),
  );
  if (pkgs.length > 0 && onlyTools && !w.includes(null)) return null;
  return `${quote(instr)} installs into the image's own Python, not the virtualenv ${own.path}; the -slim runtime would not have those packages`;
}
