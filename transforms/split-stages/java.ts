import { copyGlobRegExp } from "../../src/engine/glob.ts";
import type { Instr } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext } from "../../src/engine/types.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { basename, dirname, isInside, resolvePath } from "../../src/engine/paths.ts";
import { assemble, layout } from "./toolkit/assemble.ts";
import { shortName } from "./toolkit/images.ts";
import { classifyPackages, installLine, runtimeAptOptions } from "./toolkit/packages.ts";
import { guarded, PlanRefusal, refuse } from "./toolkit/refuse.ts";
import { argumentFiles, healthcheckTools, runtimeFiles } from "./toolkit/runtime-files.ts";
import { commandName, commandWords, effectiveWords, execWords, runCommands } from "./toolkit/shell.ts";
import { privilegedPorts } from "../lib/ports.ts";
import { appUserLines, checkOriginalUser } from "./toolkit/users.ts";
import { contextPathOf, imagePathOf, runCwd, runsWith, walkStage } from "./toolkit/walk.ts";

/**
 * Java (Maven/Gradle): the build stage keeps the build command as written;
 * the runtime stage is `eclipse-temurin:<major>-jre` with the jar the
 * CMD/ENTRYPOINT runs, at the same path, and the original CMD/ENTRYPOINT.
 */

const JDK_IMAGES =
  /^(maven|gradle|openjdk|eclipse-temurin|amazoncorretto|adoptopenjdk|adoptopenjdk\/openjdk\d+|ibm-semeru-runtimes|sapmachine|azul\/zulu-openjdk|bellsoft\/liberica-openjdk-\w+)$/;
const BUILD_TOOLS = new Set(["mvn", "mvnw", "gradle", "gradlew"]);
const BUILD_GOALS =
  /^(package|install|verify|deploy|build|assemble|bootJar|bootWar|jar|war|shadowJar|spring-boot:repackage|:?[\w-]+:(bootJar|jar|shadowJar|build|assemble))$/;
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

function planJava(input: SplitInput) {
  const { model, stage, context, options } = input;
  const image = stage.image!;
  const major = jdkMajor(image.name, image.tag);
  if (major === null) refuse(`cannot tell the JDK version of ${image.expanded}`, stage.from.line);
  if (!JRE_MAJORS.has(major)) refuse(`no eclipse-temurin JRE image for Java ${major}`, stage.from.line);

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

  // The jar the image runs.
  const entry = stage.instructions.filter((i) => i.keyword === "ENTRYPOINT" || i.keyword === "CMD");
  const ep = entry.filter((i) => i.keyword === "ENTRYPOINT").pop() ?? null;
  const cmdI = entry.filter((i) => i.keyword === "CMD").pop() ?? null;
  if (!ep && !cmdI) refuse("no CMD or ENTRYPOINT: cannot tell which jar the image runs", null);
  const words = [
    ...(ep ? entryWords(input, ep) : []),
    ...(cmdI && (!ep || ep.execForm) ? entryWords(input, cmdI) : []),
  ];
  const jarAt = words.indexOf("-jar");
  if (jarAt === -1 || !words.slice(0, jarAt).some((w) => /(^|\/)java$/.test(w))) {
    refuse(`CMD/ENTRYPOINT does not run \`java -jar\`; cannot tell what to copy`, (ep ?? cmdI)!.line);
  }
  const jarWord = words.slice(jarAt + 1).find((w) => !w.startsWith("-"));
  if (!jarWord) refuse("`java -jar` names no jar", (ep ?? cmdI)!.line);
  if (/[$`]/.test(jarWord)) refuse(`the jar path ${jarWord} uses a variable`, (ep ?? cmdI)!.line);
  const runtimeCwd = walk.finalCwd ?? refuse("cannot tell the final WORKDIR", null);
  let jar = resolvePath(runtimeCwd, jarWord);
  if (/[*?[]/.test(jar)) {
    const predicted =
      tool === "jar"
        ? { why: "a glob with a hand-made jar" }
        : predictJar(context, contextPathOf(walk, buildDir, buildInstr), tool);
    if (typeof predicted !== "string") refuse(`${jarWord}: ${predicted.why}`, (ep ?? cmdI)!.line);
    const full = resolvePath(buildDir, predicted);
    if (!copyGlobRegExp(jar).test(full))
      refuse(`${jarWord} does not match the predicted jar ${full}`, (ep ?? cmdI)!.line);
    jar = full;
  }

  // Commands after the build that only move the jar into place are fine.
  const placesJar = (instr: Instr, c: ShellCommand) => {
    const name = commandName(c);
    if (name !== "cp" && name !== "mv") return false;
    const dest = c.args[c.args.length - 1]?.value;
    const dir = runCwd(input, walk, instr, c);
    return !!dest && !!dir && (resolvePath(dir, dest) === jar || resolvePath(dir, dest) === dirname(jar));
  };
  const acceptPostBuild = (instr: Instr) => {
    let cmds: ShellCommand[];
    try {
      cmds = runCommands(model, instr);
    } catch (e) {
      if (e instanceof PlanRefusal) return false;
      throw e;
    }
    let places = false;
    for (const c of cmds) {
      if (placesJar(instr, c)) places = true;
      else if (!["rm", "ls", "echo", "mkdir", "true"].includes(commandName(c))) return false;
    }
    return places;
  };
  const lay = layout(input, walk, buildInstr, {
    acceptPostBuild,
    extraPreBuildCommands: ["sh", "bash", "xargs", "javac", "find", "jar"],
    buildCommand: cmd,
    acceptInBuild: (c) => placesJar(buildInstr, c),
  });
  const rel = isInside(jar, buildDir) ? jar.slice(buildDir === "/" ? 1 : buildDir.length + 1) : null;
  const produced =
    (tool === "jar" && resolvePath(buildDir, jarFile(cmd)!) === jar) ||
    (rel !== null && /^(?:[\w.-]+\/)*(target|build\/libs)\/[^/]+\.jar$/.test(rel)) ||
    runsWith(input, (c) => c.start >= cmd.start && (commandName(c) === "cp" || commandName(c) === "mv")).some(
      ({ instr, cmd: c }) => placesJar(instr, c),
    );
  if (!produced)
    refuse(
      `${jar} is not under the build's target/ or build/libs/; cannot tell it is built here`,
      (ep ?? cmdI)!.line,
    );

  // Runtime OS packages.
  const health = healthcheckTools(stage);
  const pk = classifyPackages(lay.installs, "bookworm", new Set(health));
  if (pk.runtime.length > 0 && pk.manager === "yum")
    refuse(`installs runtime packages with yum (${pk.runtime.join(", ")})`, lay.installs[0].instr.line);
  const alpine = pk.runtime.length > 0 ? pk.manager === "apk" : options.runtimeFlavour === "alpine";
  if (alpine && ![8, 11, 17, 21, 25].includes(major))
    refuse(`no eclipse-temurin:${major}-jre-alpine image`, stage.from.line);
  const runtimeImage = `eclipse-temurin:${major}-jre${alpine ? "-alpine" : ""}`;
  checkOriginalUser(lay.user, ["root", "nobody"]);
  const port = privilegedPorts(stage.instructions)[0] ?? null;
  const asRoot = port !== null && !lay.user;

  const artifacts = [{ from: jar, to: jar }, ...argumentFiles(walk, lay, runtimeCwd, [jar])];
  const appCtx = contextPathOf(walk, runtimeCwd);
  if (appCtx !== null) {
    for (const rel of runtimeFiles(context, appCtx)) {
      const at = imagePathOf(walk, rel, buildInstr);
      if (at && !isInside(jar, at)) artifacts.push({ from: at, to: at });
    }
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
    setup.push(lines[0]);
    after.push(lines[1]);
  }
  if (!walk.setsWorkdir && runtimeCwd !== "/") setup.push(`${keyword(model, "WORKDIR")} ${runtimeCwd}`);
  const userNote = lay.user ? "" : asRoot ? `; runs as root because it EXPOSEs port ${port} (<1024)` : "";
  return assemble(input, lay, {
    image: runtimeImage,
    setup,
    artifacts,
    afterArtifacts: after,
    buildEdits: [],
    message: `build stage on ${image.raw} (${tool}), runtime stage on ${runtimeImage} with ${jar}${userNote}`,
  });
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

/** The one jar the build leaves in target/ or build/libs/, relative to the build dir. */
function predictJar(context: BuildContext, dir: string | null, tool: string): string | { why: string } {
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
    return `target/${name}.jar`;
  }
  const build = context.readFile(at("build.gradle")) ?? context.readFile(at("build.gradle.kts"));
  if (!build) return { why: "no build.gradle to predict the jar name" };
  if (
    /org\.springframework\.boot/.test(build) &&
    !/(jar|tasks\.named<Jar>\("jar"\))\s*\{[^}]*enabled\s*=\s*false/.test(build)
  ) {
    return { why: "Spring Boot's Gradle build leaves both the boot jar and a -plain jar" };
  }
  if (/shadow|archiveFileName|archiveBaseName|archiveClassifier/.test(build))
    return { why: "custom jar naming in build.gradle" };
  const settings =
    context.readFile(at("settings.gradle")) ?? context.readFile(at("settings.gradle.kts")) ?? "";
  if (/\binclude\b/.test(settings)) return { why: "multi-project Gradle build produces several jars" };
  const name = /rootProject\.name\s*=\s*["']([^"']+)["']/.exec(settings)?.[1];
  const version =
    /^\s*version\s*=?\s*["']([^"']+)["']/m.exec(build)?.[1] ??
    /^\s*version\s*=\s*(\S+)/m.exec(context.readFile(at("gradle.properties")) ?? "")?.[1];
  if (!name) return { why: "no rootProject.name in settings.gradle" };
  return `build/libs/${name}${version ? `-${version}` : ""}.jar`;
}
