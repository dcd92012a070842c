import { copyGlobRegExp } from "../../src/engine/glob.ts";
import type { Instr } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext } from "../../src/engine/types.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { basename, dirname, isInside, resolvePath } from "../../src/engine/paths.ts";
import { assemble, layout, type RuntimeStage } from "./toolkit/assemble.ts";
import { isAlpineTag, shortName } from "./toolkit/images.ts";
import { classifyPackages, installLine, runtimeAptOptions } from "./toolkit/packages.ts";
import { guarded, PlanRefusal, refuse } from "./toolkit/refuse.ts";
import { argumentFiles, healthcheckTools, runtimeFiles } from "./toolkit/runtime-files.ts";
import {
  commandName,
  commandWords,
  effectiveWords,
  runCommands,
  scriptCommandLines,
} from "./toolkit/shell.ts";
import { lowPort, lowPortNote } from "../lib/ports.ts";
import { appUserLines, checkOriginalUser } from "./toolkit/users.ts";
import { declaredVersions } from "../lib/declared-versions.ts";
import { own } from "../lib/own.ts";
import { contextPathOf, imagePathOf, runCwd, runsWith, type StageWalk, walkStage } from "./toolkit/walk.ts";
import { execWords } from "../lib/start-command.ts";

/**
 * Java (Maven/Gradle): the build stage keeps the build command as written;
 * the runtime stage is `eclipse-temurin:<major>-jre` with the jar the
 * CMD/ENTRYPOINT runs, at the same path, and the original CMD/ENTRYPOINT.
 */

const JDK_IMAGES =
  /^(maven|gradle|openjdk|eclipse-temurin|amazoncorretto|adoptopenjdk|adoptopenjdk\/openjdk\d+|ibm-semeru-runtimes|sapmachine|azul\/zulu-openjdk|bellsoft\/liberica-openjdk-\w+)$/;
const BUILD_TOOLS = new Set(["mvn", "mvnw", "gradle", "gradlew"]);
const BUILD_GOALS =
  /^(package|install|verify|deploy|build|assemble|bootJar|bootWar|jar|war|shadowJar|installDist|installShadowDist|distTar|distZip|spring-boot:repackage|:?[\w-]+:(bootJar|jar|shadowJar|build|assemble|installDist|installShadowDist|distTar|distZip))$/;
const RUN_GOALS =
  /^(spring-boot:run|bootRun|run|exec:java|jetty:run|tomcat7?:run|quarkus:dev|quarkusDev|:?[\w-]+:(bootRun|run))$/;
/** Temurin publishes JRE images for these majors. */
const JRE_MAJORS = new Set([8, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);

function buildTool(cmd: ShellCommand): string | null {
  const words = effectiveWords(cmd);
  const name = words[0] ? basename(words[0]) : "";
  if (name === "jar" && jarFile(cmd) !== null) return "jar";
  return BUILD_TOOLS.has(name) ? name : null;
}

function isJavaBuild(cmd: ShellCommand): boolean {
  const tool = buildTool(cmd);
  if (tool === "jar") return true;
  if (!tool) return false;
  return effectiveWords(cmd).some((w) => w !== null && BUILD_GOALS.test(w));
}

/** The file a `jar --create --file X` / `jar cf X ...` command writes, or null. */
export function jarFile(cmd: ShellCommand): string | null {
  if (commandName(cmd) !== "jar") return null;
  const w = cmd.args.map((a) => a.value);
  if (w.length === 0 || w.some((x) => x === null)) return null;
  const words = w as string[];
  const bundle = /^-?([a-zA-Z0-9]+)$/.exec(words[0]);
  if (!words[0].startsWith("--") && bundle && bundle[1].includes("c")) {
    return bundle[1].includes("f") ? (words[1] ?? null) : null;
  }
  if (!words.includes("--create") && !words.includes("-c")) return null;
  for (let i = 0; i < words.length; i++) {
    if (words[i] === "--file" || words[i] === "-f") return words[i + 1] ?? null;
    if (words[i].startsWith("--file=")) return words[i].slice(7);
  }
  return null;
}

export const java: EcosystemPlanner = {
  id: "java",
  detect(input) {
    const image = input.stage.image;
    const jdkImage = image !== null && JDK_IMAGES.test(shortName(image.name));
    const tools =
      runsWith(input, (c) => buildTool(c) !== null && (jdkImage || buildTool(c) !== "jar")).length > 0;
    const manifests = ["pom.xml", "build.gradle", "build.gradle.kts"].some((f) => input.context.exists(f));
    return tools && (jdkImage || manifests);
  },
  plan: (input) => guarded(() => planJava(input)),
};

/** JDK major version from the base image tag. */
export function jdkMajor(name: string, tag: string | null): number | null {
  const repo = shortName(name);
  const t = tag ?? "";
  let m: RegExpExecArray | null;
  if (repo === "maven")
    m = /(?:jdk|temurin|openjdk|corretto|zulu|sapmachine|liberica|semeru|graalvm|java)-?(\d+)/.exec(t);
  else if (repo === "gradle") m = /(?:jdk|temurin|corretto|graal)-?(\d+)/.exec(t);
  else if (/^adoptopenjdk\/openjdk(\d+)$/.test(repo)) m = /openjdk(\d+)/.exec(repo);
  else m = /^(?:jdk-?)?(\d+)(?:[.u-]|$)/.exec(t);
  if (!m) return null;
  const n = Number(m[1]);
  return n === 1 ? null : n;
}

/**
 * Tags whose JDK is fixed although they name no version: aliases of images
 * that are no longer updated (openjdk's `alpine` tags only ever carried OpenJDK 8).
 */
const FROZEN_ALIASES: Record<string, Record<string, number>> = {
  openjdk: { alpine: 8, "jdk-alpine": 8, "jre-alpine": 8 },
};

/** Tags that follow the image's newest JDK: the tag alone does not tell which. */
function floatingTag(name: string, tag: string | null): boolean {
  const repo = shortName(name);
  const t = tag ?? "latest";
  if (t === "latest") return true;
  if (repo === "maven" || repo === "gradle") return /^\d+(\.\d+)*(-(alpine|jdk|focal|jammy|noble))?$/.test(t);
  return false;
}

/**
 * The JDK major version of the build: from the tag (`maven:3-jdk-8`), a
 * frozen alias (`openjdk:alpine`), or, for a tag that follows the newest JDK
 * (`maven`, `gradle:8.5`), the version the project declares at the context
 * root (pom.xml `maven.compiler.release`/`<release>`/`java.version`/source,
 * Gradle toolchain/`jvmToolchain`/`sourceCompatibility`). The note says where
 * it came from when not from the tag.
 */
export function buildJdk(input: SplitInput, projectDir: string | null): { major: number; note: string } {
  const { stage, context } = input;
  const image = stage.image!;
  const fromTag = jdkMajor(image.name, image.tag);
  if (fromTag !== null) return { major: fromTag, note: "" };
  const frozen = own(FROZEN_ALIASES[shortName(image.name)] ?? {}, image.tag ?? "latest");
  if (frozen !== undefined) return { major: frozen, note: ` (${image.expanded} carries JDK ${frozen})` };
  if (!floatingTag(image.name, image.tag))
    refuse(`cannot tell the JDK version of ${image.expanded}`, stage.from.line);
  const declared = projectDir === "" ? declaredVersions(context).java : undefined;
  if (!declared?.version)
    refuse(
      `cannot tell the JDK version of ${image.expanded}: its tag follows the newest JDK and the project declares no Java version${projectDir === "" ? "" : " at the context root (the only place dfopt reads it)"}`,
      stage.from.line,
    );
  return {
    major: Number(declared.version),
    note: ` (Java ${declared.version} from ${declared.source}; the ${image.expanded} tag names no JDK)`,
  };
}

function planJava(input: SplitInput) {
  const { model, stage, context, options } = input;
  const image = stage.image!;

  // Build tool at run time.
  for (const instr of stage.instructions) {
    if (instr.keyword !== "CMD" && instr.keyword !== "ENTRYPOINT") continue;
    const words = entryWords(input, instr);
    const tool = words.find((w) => BUILD_TOOLS.has(basename(w)));
    if (tool || words.some((w) => RUN_GOALS.test(w) && words.some((x) => BUILD_TOOLS.has(basename(x))))) {
      const goal = words.find((w) => RUN_GOALS.test(w));
      refuse(
        `${instr.keyword} runs the build tool at run time (\`${basename(tool ?? "")}${goal ? ` ${goal}` : ""}\`)`,
        instr.line,
      );
    }
  }

  const builds = runsWith(input, isJavaBuild);
  if (builds.length === 0) refuse("no Maven/Gradle package or build step (or `jar --create`)", null);
  const { instr: buildInstr, cmd } = builds[builds.length - 1];
  const walk = walkStage(input, { workdir: shortName(image.name) === "gradle" ? "/home/gradle" : "/" });
  const buildDir =
    runCwd(input, walk, buildInstr, cmd) ??
    refuse("cannot tell the directory the build runs in", buildInstr.line);
  const tool = buildTool(cmd)!;
  const { major, note: jdkNote } = buildJdk(input, contextPathOf(walk, buildDir, buildInstr));
  if (!JRE_MAJORS.has(major)) refuse(`no eclipse-temurin JRE image for Java ${major}`, stage.from.line);

  // The jar the image runs.
  const entry = stage.instructions.filter((i) => i.keyword === "ENTRYPOINT" || i.keyword === "CMD");
  const ep = entry.filter((i) => i.keyword === "ENTRYPOINT").pop() ?? null;
  const cmdI = entry.filter((i) => i.keyword === "CMD").pop() ?? null;
  if (!ep && !cmdI) refuse("no CMD or ENTRYPOINT: cannot tell which jar the image runs", null);
  const words = [
    ...(ep ? entryWords(input, ep) : []),
    ...(cmdI && (!ep || ep.execForm) ? entryWords(input, cmdI) : []),
  ];
  const runtimeCwd = walk.finalCwd ?? refuse("cannot tell the final WORKDIR", null);
  const entryLine = (ep ?? cmdI)!.line;
  const started = startedProgram(input, walk, words, runtimeCwd, entryLine);
  const dist = "dist" in started ? started.dist : null;
  let jar: string | null = null;
  if ("jarWords" in started) {
    const jarWords = started.jarWords;
    const jarAt = jarWords.indexOf("-jar");
    const jarWord = jarWords.slice(jarAt + 1).find((w) => !w.startsWith("-"));
    if (!jarWord) refuse("`java -jar` names no jar", entryLine);
    if (/[$`]/.test(jarWord)) refuse(`the jar path ${jarWord} uses a variable`, entryLine);
    jar = resolvePath(runtimeCwd, jarWord);
    if (/[*?[]/.test(jar)) {
      const predicted =
        tool === "jar"
          ? { why: "a glob with a hand-made jar" }
          : predictJar(context, contextPathOf(walk, buildDir, buildInstr), tool, effectiveWords(cmd));
      if (!Array.isArray(predicted)) refuse(`${jarWord}: ${predicted.why}`, entryLine);
      const full = resolvePath(buildDir, predicted[0]);
      const glob = copyGlobRegExp(jar);
      if (!glob.test(full)) refuse(`${jarWord} does not match the predicted jar ${full}`, entryLine);
      const other = predicted.slice(1).find((p) => glob.test(resolvePath(buildDir, p)));
      if (other)
        refuse(
          `${jarWord} also matches ${resolvePath(buildDir, other)}, which the build leaves too`,
          entryLine,
        );
      jar = full;
    }
  }
  const target = (jar ?? dist)!;

  // Commands in or after the build that only move the jar (or distribution) into place are fine.
  const placesTarget = (instr: Instr, c: ShellCommand) => {
    const dest = placedAt(input, walk, instr, c);
    return dest !== null && (dest === target || dest === dirname(target));
  };
  // RUNs after the build may also put files in place for run time (`cp js/index.html web/`,
  // `openssl req -out cert.pem`): the runtime stage copies what they write.
  const postBuildWrites: string[] = [];
  const acceptPostBuild = (instr: Instr) => {
    let cmds: ShellCommand[];
    try {
      cmds = runCommands(model, instr);
    } catch (e) {
      if (e instanceof PlanRefusal) return false;
      throw e;
    }
    let places = false;
    let removes = false;
    const writes: string[] = [];
    for (const c of cmds) {
      const name = commandName(c);
      if (placesTarget(instr, c)) places = true;
      else if (["rm", "ls", "echo", "true"].includes(name)) removes ||= name === "rm";
      else {
        const written = writtenPaths(input, walk, instr, c);
        if (written === null) return false;
        writes.push(...written.filter((w) => !isInside(target, w)));
      }
    }
    // An `rm` next to them is left to layout(), which checks nothing copied is removed.
    if (writes.length > 0 && removes) return false;
    postBuildWrites.push(...writes);
    return places || writes.length > 0;
  };
  const lay = layout(input, walk, buildInstr, {
    acceptPostBuild,
    extraPreBuildCommands: ["sh", "bash", "xargs", "javac", "find", "jar"],
    buildCommand: cmd,
    acceptInBuild: (c) => placesTarget(buildInstr, c),
  });
  const rel = isInside(target, buildDir) ? target.slice(buildDir === "/" ? 1 : buildDir.length + 1) : null;
  const placed = runsWith(
    input,
    (c) => c.start >= cmd.start && ["cp", "mv", "tar", "unzip"].includes(commandName(c)),
  ).some(({ instr, cmd: c }) => placesTarget(instr, c));
  const produced =
    placed ||
    (jar !== null && tool === "jar" && resolvePath(buildDir, jarFile(cmd)!) === jar) ||
    (jar !== null && rel !== null && /^(?:[\w.-]+\/)*(target|build\/libs)\/[^/]+\.jar$/.test(rel)) ||
    (dist !== null &&
      rel !== null &&
      /^(?:[\w.-]+\/)*build\/install\/[^/]+$/.test(rel) &&
      effectiveWords(cmd).some((w) => w !== null && /^(?:[\w:-]*:)?install(Shadow)?Dist$/.test(w)));
  if (!produced)
    refuse(
      dist !== null
        ? `${dist} is neither the build's build/install/<name> (installDist) nor copied or unpacked there by a RUN; cannot tell it is built here`
        : `${jar} is not under the build's target/ or build/libs/; cannot tell it is built here`,
      entryLine,
    );

  // Runtime OS packages.
  const health = healthcheckTools(stage);
  const pk = classifyPackages(lay.installs, "bookworm", new Set(health));
  if (pk.runtime.length > 0 && pk.manager === "yum")
    refuse(`installs runtime packages with yum (${pk.runtime.join(", ")})`, lay.installs[0].instr.line);
  // An Alpine original keeps musl and busybox: the alpine JRE, when Temurin publishes one for the version.
  const alpineJre = [8, 11, 17, 21, 25].includes(major);
  const alpine =
    pk.runtime.length > 0
      ? pk.manager === "apk"
      : options.runtimeFlavour === "alpine" || (isAlpineTag(image.tag) && alpineJre);
  if (alpine && !alpineJre) refuse(`no eclipse-temurin:${major}-jre-alpine image`, stage.from.line);
  const runtimeImage = `eclipse-temurin:${major}-jre${alpine ? "-alpine" : ""}`;
  checkOriginalUser(lay.user, ["root", "nobody"]);
  const low = lowPort(model, stage.instructions);
  const asRoot = low !== null && !lay.user;

  if (dist !== null && alpine)
    refuse(
      `the Gradle start script in ${dist}/bin may need bash, absent from the Alpine JRE image`,
      entryLine,
    );
  const ownFiles = [target, ...("script" in started ? [started.script] : [])];
  const artifacts: RuntimeStage["artifacts"] = [
    ...ownFiles.map((p) => ({ from: p, to: p })),
    ...argumentFiles(walk, lay, runtimeCwd, ownFiles),
  ];
  const appCtx = contextPathOf(walk, runtimeCwd);
  if (appCtx !== null) {
    for (const rel of runtimeFiles(context, appCtx)) {
      const at = imagePathOf(walk, rel, buildInstr);
      if (at && !ownFiles.some((p) => isInside(p, at))) artifacts.push({ from: at, to: at });
    }
  }
  // Folders the file creates and files it writes after the build are the app's data: the original
  // ran as root and could write them, so a new app user gets to own them.
  const dataOwner = !lay.user && !asRoot ? "app:app" : undefined;
  for (const p of [...preBuildFolders(input, walk, buildInstr, runtimeCwd, target), ...postBuildWrites]) {
    if (!artifacts.some((a) => isInside(p, a.from))) artifacts.push({ from: p, to: p, chown: dataOwner });
  }
  const setup: string[] = [];
  for (const t of health) if (!pk.runtime.includes(t)) pk.runtime.push(t);
  if (pk.runtime.length > 0)
    setup.push(
      alpine
        ? installLine(model, "apk", pk.runtime)
        : installLine(model, "apt", pk.runtime, runtimeAptOptions(pk, lay.installs)),
    );
  const after: string[] = [];
  if (!lay.user && !asRoot) {
    const lines = appUserLines(model, alpine ? "alpine" : "debian");
    // The original ran as root and could write its working folder (logs, generated files such as
    // a `default.env`): the new user owns that folder (busybox `install` takes the same flags).
    const folder = /^[\w/.-]+$/.test(runtimeCwd) ? runtimeCwd : `'${runtimeCwd}'`;
    setup.push(runtimeCwd === "/" ? lines[0] : `${lines[0]} && install -d -o app -g app ${folder}`);
    after.push(lines[1]);
  }
  if (!walk.setsWorkdir && runtimeCwd !== "/") setup.push(`${keyword(model, "WORKDIR")} ${runtimeCwd}`);
  const userNote = lay.user || !low ? "" : `; ${lowPortNote(low)}`;
  return assemble(input, lay, {
    image: runtimeImage,
    setup,
    artifacts,
    afterArtifacts: after,
    buildEdits: [],
    message: `build stage on ${image.raw} (${tool}), runtime stage on ${runtimeImage} with ${target}${"script" in started ? ` started by ${started.script}` : ""}${jdkNote}${userNote}`,
  });
}

/** Commands a start script may run besides `java -jar` (the JRE images have them). */
const SCRIPT_COMMANDS = new Set(["echo", "printf", "export", "set", "true", "sleep", "ulimit", "umask"]);

function runsJavaJar(words: string[]): boolean {
  const at = words.indexOf("-jar");
  return at > 0 && words.slice(0, at).some((w) => /(^|\/)java$/.test(w));
}

/**
 * What the CMD/ENTRYPOINT starts: `java -jar` itself, a start script from
 * the build context whose one `java -jar` line names the jar, or a Gradle
 * distribution's start script (`<dist>/bin/<name>`, dist as installDist or a
 * RUN leaves it).
 */
function startedProgram(
  input: SplitInput,
  walk: StageWalk,
  words: string[],
  cwd: string,
  line: number,
): { jarWords: string[] } | { jarWords: string[]; script: string } | { dist: string } {
  if (runsJavaJar(words)) return { jarWords: words };
  const viaShell = /(^|\/)(ba)?sh$/.test(words[0] ?? "");
  const first = viaShell ? words[1] : words[0];
  const none =
    "CMD/ENTRYPOINT runs neither `java -jar`, a start script from the build context nor a Gradle distribution's bin/ script; cannot tell what to copy";
  if (!first || /[$`*?[]/.test(first) || (!viaShell && !first.includes("/"))) refuse(none, line);
  const abs = resolvePath(cwd, first);
  const ctx = contextPathOf(walk, abs);
  const { context } = input;
  if (ctx !== null && ctx !== "" && context.exists(ctx) && !context.isDirectory(ctx)) {
    const alpine = isAlpineTag(input.stage.image!.tag) || input.options.runtimeFlavour === "alpine";
    const lines = scriptCommandLines(context.readFile(ctx) ?? "", { alpine });
    if (!Array.isArray(lines)) refuse(`start script ${first} ${lines.why}`, line);
    let jarWords: string[] | null = null;
    for (const l of lines) {
      const w = l
        .replace(/^exec\s+/, "")
        .split(/\s+/)
        .map((x) => x.replace(/^["']|["']$/g, ""));
      if (runsJavaJar(w)) {
        if (jarWords) refuse(`start script ${first} runs \`java -jar\` twice`, line);
        jarWords = w;
      } else if (!SCRIPT_COMMANDS.has(w[0]) && !/^\w+=\S*$/.test(l))
        refuse(`start script ${first} runs \`${w[0]}\`; cannot tell the JRE image has it`, line);
    }
    if (!jarWords) refuse(`start script ${first} does not run \`java -jar\``, line);
    return { jarWords, script: abs };
  }
  if (/\/bin\/[^/]+$/.test(abs)) return { dist: dirname(dirname(abs)) };
  refuse(none, line);
}

/**
 * Where a `cp`/`mv` puts files, or the folder a `tar -x`/`unzip` of a Gradle
 * distribution (build/distributions/) unpacks into; null for other commands.
 */
function placedAt(input: SplitInput, walk: StageWalk, instr: Instr, c: ShellCommand): string | null {
  const name = commandName(c);
  const words = c.args.map((a) => a.value);
  let dest: string | null | undefined;
  if (name === "cp" || name === "mv") dest = words[words.length - 1];
  else if (name === "tar" || name === "unzip") {
    if (!words.some((w) => w !== null && /(^|\/)build\/distributions\//.test(w))) return null;
    if (name === "tar" && !/^-?[a-zA-Z]*x/.test(words[0] ?? "") && !words.includes("--extract")) return null;
    const flag = words.findIndex((w) => w === (name === "tar" ? "-C" : "-d") || w === "--directory");
    dest =
      flag >= 0
        ? words[flag + 1]
        : (words.find((w) => w?.startsWith("--directory="))?.slice("--directory=".length) ?? ".");
  } else return null;
  if (dest === null || dest === undefined) return null;
  const dir = runCwd(input, walk, instr, c);
  const value = walk.expand(dest, instr);
  if (dir === null || value === null) return null;
  return resolvePath(dir, value.replace(/(.)\/+$/, "$1"));
}

/**
 * The paths a command after the build writes: `cp`/`mv` destinations,
 * `mkdir`/`touch` arguments, `openssl -out/-keyout` and `keytool -keystore`
 * files; null when it is another command or a path is unknown.
 */
function writtenPaths(input: SplitInput, walk: StageWalk, instr: Instr, c: ShellCommand): string[] | null {
  const name = commandName(c);
  if (name === "cp" || name === "mv") {
    const dest = placedAt(input, walk, instr, c);
    return dest === null ? null : [dest];
  }
  // Paths such as `-out ${CERT_PATH}`: the raw word, expanded below with the file's variables.
  const words = c.args.map(
    (a) => a.value ?? (/^"?[\w${}/.-]+"?$/.test(a.raw) ? a.raw.replace(/^"|"$/g, "") : null),
  );
  let raw: Array<string | null>;
  if (name === "mkdir" || name === "touch") raw = words.filter((w) => !w?.startsWith("-"));
  else if (name === "openssl" || name === "keytool") {
    const flags = name === "openssl" ? ["-out", "-keyout"] : ["-keystore"];
    raw = words.flatMap((w, i) => (w !== null && flags.includes(w) ? [words[i + 1] ?? null] : []));
  } else return null;
  const dir = runCwd(input, walk, instr, c);
  const out: string[] = [];
  for (const w of raw) {
    const v = w === null ? null : walk.expand(w, instr);
    if (v === null || dir === null || /[*?[]/.test(v)) return null;
    out.push(resolvePath(dir, v));
  }
  return out;
}

/**
 * Folders a RUN before the build creates inside the runtime working folder
 * (`mkdir plugins logs`): the app may use them at run time, so the runtime
 * stage gets them. Folders that hold build output (target/, build/, caches) are left out.
 */
function preBuildFolders(
  input: SplitInput,
  walk: StageWalk,
  build: Instr,
  cwd: string,
  target: string,
): string[] {
  const out: string[] = [];
  for (const { instr, cmd } of runsWith(input, (c) => commandName(c) === "mkdir")) {
    if (instr.start >= build.start) continue;
    for (const p of writtenPaths(input, walk, instr, cmd) ?? []) {
      if (p === cwd || !isInside(p, cwd) || isInside(target, p)) continue;
      if (p.split("/").some((seg) => ["target", "build", ".gradle", ".m2"].includes(seg))) continue;
      out.push(p);
    }
  }
  return out;
}

/** Words of a CMD/ENTRYPOINT, looking inside `sh -c "..."`; a rough split for complex shell forms. */
function entryWords(input: SplitInput, instr: Instr): string[] {
  const { model } = input;
  let words: string[] | null = instr.execForm ? execWords(model, instr) : commandWords(model, instr).words;
  if (!words) {
    const raw = instr.argsSpan ? model.text.slice(instr.argsSpan.start, instr.argsSpan.end) : "";
    words = raw.split(/\s+/).filter(Boolean);
  }
  if (words.length >= 3 && /(^|\/)(ba)?sh$/.test(words[0]) && words[1] === "-c") {
    words = words[2].split(/\s+/).filter(Boolean);
  }
  if (words[0] === "exec") words = words.slice(1);
  return words.map((w) => w.replace(/^["']|["']$/g, ""));
}

/**
 * The jar the build leaves in target/ or build/libs/, relative to the build
 * dir, followed by the other jars it leaves there (shadowJar keeps the plain jar).
 */
function predictJar(
  context: BuildContext,
  dir: string | null,
  tool: string,
  goals: Array<string | null>,
): string[] | { why: string } {
  if (dir === null) return { why: "cannot find the project in the build context" };
  const at = (f: string) => (dir ? `${dir}/${f}` : f);
  if (tool === "mvn" || tool === "mvnw") {
    const pom = context.readFile(at("pom.xml"));
    if (!pom) return { why: "no pom.xml to predict the jar name" };
    if (/<modules>/.test(pom)) return { why: "multi-module Maven build produces several jars" };
    if (/maven-(shade|assembly)-plugin/.test(pom))
      return { why: "shade/assembly plugin produces more than one jar" };
    const own = pom
      .replace(/<!--[\s\S]*?-->/g, "")
      .replace(/<parent>[\s\S]*?<\/parent>/g, "")
      .replace(
        /<(dependencies|dependencyManagement|profiles|plugins|pluginManagement|reporting)>[\s\S]*?<\/\1>/g,
        "",
      );
    const tag = (t: string) => new RegExp(`<${t}>\\s*([^<]+?)\\s*</${t}>`).exec(own)?.[1] ?? null;
    const packaging = tag("packaging") ?? "jar";
    if (packaging !== "jar") return { why: `packaging ${packaging} is not a runnable jar` };
    const finalName = tag("finalName");
    const artifact = tag("artifactId");
    const version =
      tag("version") ?? /<parent>[\s\S]*?<version>\s*([^<]+?)\s*<\/version>/.exec(pom)?.[1] ?? null;
    const name = finalName ?? (artifact && version ? `${artifact}-${version}` : null);
    if (!name || name.includes("${")) return { why: "cannot predict the jar name from pom.xml" };
    return [`target/${name}.jar`];
  }
  const build = context.readFile(at("build.gradle")) ?? context.readFile(at("build.gradle.kts"));
  if (!build) return { why: "no build.gradle to predict the jar name" };
  if (
    /org\.springframework\.boot/.test(build) &&
    !/(jar|tasks\.named<Jar>\("jar"\))\s*\{[^}]*enabled\s*=\s*false/.test(build)
  ) {
    return { why: "Spring Boot's Gradle build leaves both the boot jar and a -plain jar" };
  }
  if (
    /archiveFileName|archiveBaseName|archiveClassifier|archiveVersion|\bbaseName\b|\bclassifier\b/.test(build)
  )
    return { why: "custom jar naming in build.gradle" };
  const shadow = /com\.github\.johnrengelman\.shadow|com\.gradleup\.shadow|io\.github\.goooler\.shadow/.test(
    build,
  );
  if (/shadow/i.test(build) && !shadow) return { why: "a shadow jar set up in a way dfopt does not read" };
  if (shadow && !goals.some((w) => w !== null && /^(?:[\w:-]*:)?shadowJar$/.test(w)))
    return { why: "the shadow plugin is applied but the build does not run shadowJar" };
  const settings =
    context.readFile(at("settings.gradle")) ?? context.readFile(at("settings.gradle.kts")) ?? "";
  if (/\binclude\b/.test(settings)) return { why: "multi-project Gradle build produces several jars" };
  const name = /rootProject\.name\s*=\s*["']([^"']+)["']/.exec(settings)?.[1];
  const version =
    /^\s*version\s*=?\s*["']([^"']+)["']/m.exec(build)?.[1] ??
    /^\s*version\s*=\s*(\S+)/m.exec(context.readFile(at("gradle.properties")) ?? "")?.[1];
  if (!name) return { why: "no rootProject.name in settings.gradle" };
  const base = `build/libs/${name}${version ? `-${version}` : ""}`;
  return shadow ? [`${base}-all.jar`, `${base}.jar`] : [`${base}.jar`];
}
