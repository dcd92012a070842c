import type { Instr } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext, Edit } from "../../src/engine/types.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { globContext } from "../../src/engine/glob.ts";
import { basename, dirname, resolvePath } from "../../src/engine/paths.ts";
import { assemble, layout } from "./toolkit/assemble.ts";
import { debianCodename } from "../lib/debian-release.ts";
import { classifyPackages } from "./toolkit/packages.ts";
import { guarded, refuse } from "./toolkit/refuse.ts";
import { commandName, commandWords, execForm } from "./toolkit/shell.ts";
import { appUserLines, checkOriginalUser } from "./toolkit/users.ts";
import { type LowPort, lowPort, lowPortNote } from "../lib/ports.ts";
import { contextPathOf, runCwd, runsWith, type StageWalk, walkStage } from "./toolkit/walk.ts";
import { envPairs } from "../../src/engine/parse.ts";

/**
 * .NET: the build stage publishes (`dotnet publish -c Release -o /app/publish`
 * when the original only builds or runs); the runtime stage is the matching
 * `aspnet` (web) or `runtime` (console) image with the publish folder as its
 * WORKDIR and `ENTRYPOINT ["dotnet", "<Assembly>.dll"]`.
 */

const SDK_IMAGE =
  /^(mcr\.microsoft\.com\/dotnet\/(core\/)?sdk|microsoft\/dotnet|microsoft\/aspnetcore-build)$/;
const PUBLISH_DIR = "/app/publish";

function isDotnet(cmd: ShellCommand, subs: string[]): boolean {
  return commandName(cmd) === "dotnet" && subs.includes(cmd.args[0]?.value ?? "");
}

export const dotnet: EcosystemPlanner = {
  id: "dotnet",
  detect(input) {
    const image = input.stage.image;
    if (image && SDK_IMAGE.test(image.name)) return true;
    return runsWith(input, (c) => isDotnet(c, ["publish", "build"])).length > 0;
  },
  plan: (input) => guarded(() => planDotnet(input)),
};

interface SdkImage {
  version: string;
  /** Runtime image for a web or console app. */
  runtime(kind: "aspnet" | "runtime" | "runtime-deps"): string;
  alpine: boolean;
}

/**
 * The SDK version and the matching runtime images; null when the pair is not
 * one Microsoft published. The deprecated Docker Hub names are mapped only
 * for the versions and variants that had a runtime image of the same name
 * scheme (they are frozen, so their tags no longer move).
 */
export function sdkImage(name: string, tag: string | null): SdkImage | null {
  if (name === "microsoft/aspnetcore-build") return aspnetcoreBuild(tag);
  if (!tag) return null;
  if (name === "mcr.microsoft.com/dotnet/sdk" || name === "mcr.microsoft.com/dotnet/core/sdk") {
    const m = /^(\d+\.\d+)(?:\.\d+)?(-[a-z0-9.-]+)?$/.exec(tag);
    if (!m) return null;
    // The `core/` repositories carried .NET Core 2.1 to 3.1 only.
    if (name.includes("/core/") && !/^(?:2\.[12]|3\.[01])$/.test(m[1])) return null;
    const repo = name.replace(/\/sdk$/, "");
    let suffix = m[2] ?? "";
    if (debianCodename(suffix) && !suffix.endsWith("-slim")) suffix += "-slim";
    return {
      version: m[1],
      alpine: /alpine/.test(suffix),
      runtime: (kind) => `${repo}/${kind}:${m[1]}${suffix}`,
    };
  }
  if (name === "microsoft/dotnet") {
    const m = /^(\d+\.\d+)(?:\.\d+)?-sdk(-alpine|-stretch|-bionic)?$/.exec(tag);
    if (!m) return null;
    const [version, variant = ""] = [m[1], m[2]];
    // `X.Y-aspnetcore-runtime` and the -alpine/-stretch-slim/-bionic variants started with 2.1;
    // ASP.NET Core 1.x and 2.0 apps ran on microsoft/aspnetcore:X.Y (plain Debian tags only).
    if (version === "2.1" || version === "2.2") {
      const names = { aspnet: "aspnetcore-runtime", runtime: "runtime", "runtime-deps": "runtime-deps" };
      const suffix = variant === "-stretch" ? "-stretch-slim" : variant;
      return {
        version,
        alpine: variant === "-alpine",
        runtime: (kind) => `microsoft/dotnet:${version}-${names[kind]}${suffix}`,
      };
    }
    if (/^(?:1\.[01]|2\.0)$/.test(version) && !variant) {
      return {
        version,
        alpine: false,
        runtime: (kind) =>
          kind === "aspnet" ? `microsoft/aspnetcore:${version}` : `microsoft/dotnet:${version}-${kind}`,
      };
    }
    return null;
  }
  return null;
}

/**
 * `microsoft/aspnetcore-build:X.Y` (1.0, 1.1, 2.0) ran on `microsoft/aspnetcore:X.Y`, which holds
 * the .NET Core runtime too. Untagged means `latest`, which stayed on 2.0 when the repository was
 * frozen (2.1 moved to microsoft/dotnet).
 */
function aspnetcoreBuild(tag: string | null): SdkImage | null {
  if (tag === null || tag === "latest")
    return { version: "2.0", alpine: false, runtime: () => "microsoft/aspnetcore" };
  if (!/^(?:1\.[01]|2\.0)$/.test(tag)) return null;
  return { version: tag, alpine: false, runtime: () => `microsoft/aspnetcore:${tag}` };
}

function planDotnet(input: SplitInput) {
  const { model, stage, context } = input;
  const image = stage.image!;
  const sdk = sdkImage(image.name, image.tag);
  if (/nanoserver|windowsservercore/.test(image.tag ?? ""))
    refuse("Windows container images are not supported", stage.from.line);
  if (!sdk)
    refuse(
      `no published runtime image is known to pair with ${image.expanded} (or its .NET version is not in the tag)`,
      stage.from.line,
    );

  const publishes = runsWith(input, (c) => isDotnet(c, ["publish"]));
  const builds = runsWith(input, (c) => isDotnet(c, ["build"]));
  const step = publishes.length > 0 ? publishes : builds;
  if (step.length === 0) refuse("no `dotnet publish` or `dotnet build` step", null);
  if (publishes.length > 1)
    refuse(
      `${publishes.length} dotnet publish commands; cannot tell which app the image runs`,
      publishes[1].instr.line,
    );
  const { instr: buildInstr, cmd } = step[step.length - 1];
  const walk = walkStage(input, { workdir: "/" });
  const dir =
    runCwd(input, walk, buildInstr, cmd) ??
    refuse("cannot tell the directory dotnet runs in", buildInstr.line);

  // The project.
  const args = cmd.args
    .slice(1)
    .map((a) => a.value ?? (/^[^'"*?[\]{}`]*$/.test(a.raw) ? walk.expand(a.raw, buildInstr) : null));
  if (args.some((a) => a === null)) refuse("dotnet arguments use shell expansions", buildInstr.line);
  const words = args as string[];
  const projectArg = positional(words);
  const project = findProject(context, walk, dir, projectArg, buildInstr);
  const csproj = context.readFile(project) ?? "";
  const sdkKind = /<Project\s+Sdk="([^"]+)"/.exec(csproj)?.[1] ?? "";
  if (!/^Microsoft\.NET\.Sdk(\.Web|\.Worker)?$/.test(sdkKind))
    refuse(`project SDK ${sdkKind || "(none)"} is not a web or console app`, buildInstr.line);
  if (/<TargetFrameworks>/.test(csproj)) refuse("project has several TargetFrameworks", buildInstr.line);
  if (/<OutputType>\s*Library\s*<\/OutputType>/i.test(csproj))
    refuse("project is a library", buildInstr.line);
  const tfm = /<TargetFramework>\s*(?:net|netcoreapp)(\d+)\.(\d+)\s*<\/TargetFramework>/.exec(csproj);
  const [sdkMajor, sdkMinor] = sdk.version.split(".").map(Number);
  if (tfm && (Number(tfm[1]) !== sdkMajor || Number(tfm[2]) > sdkMinor)) {
    const latest =
      image.tag === null || image.tag === "latest" ? ` (${image.raw} is latest: ${sdk.version})` : "";
    refuse(
      `TargetFramework ${tfm[1]}.${tfm[2]} does not run on the ${sdk.version} runtime${latest}`,
      buildInstr.line,
    );
  }
  const assembly =
    /<AssemblyName>\s*([^<]+?)\s*<\/AssemblyName>/.exec(csproj)?.[1] ??
    basename(project).replace(/\.csproj$/, "");
  if (assembly.includes("$(")) refuse("AssemblyName uses MSBuild properties", buildInstr.line);
  const web = sdkKind === "Microsoft.NET.Sdk.Web";

  // Publish step: keep it, or turn `dotnet build` into a publish.
  const buildEdits: Edit[] = [];
  const value = (...names: string[]) => {
    for (let i = 0; i < words.length; i++) {
      for (const n of names) {
        if (words[i] === n) return words[i + 1] ?? null;
        if (words[i].startsWith(`${n}=`) || words[i].startsWith(`${n}:`)) return words[i].slice(n.length + 1);
      }
    }
    return null;
  };
  const selfContained = words.some(
    (w) => w === "--self-contained" || /^--self-contained[=:]true$/i.test(w) || w === "--sc",
  );
  let publishDir: string;
  if (publishes.length > 0) {
    const out = value("-o", "--output");
    if (out)
      publishDir = resolvePath(
        dir,
        walk.expand(out, buildInstr) ?? refuse("publish -o uses unknown variables", buildInstr.line),
      );
    else {
      publishDir = PUBLISH_DIR;
      buildEdits.push({ start: cmd.end, end: cmd.end, text: ` -o ${PUBLISH_DIR}` });
    }
  } else {
    const keep: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (/^(-r|--runtime|-c|--configuration|-f|--framework)$/.test(w)) keep.push(w, words[++i] ?? "");
      else if (
        /^(--self-contained|--no-self-contained|--sc)/.test(w) ||
        /^(-r|--runtime|-c|--configuration)[=:]/.test(w)
      )
        keep.push(w);
      else if (/^(-o|--output)$/.test(w)) i++;
    }
    if (!keep.some((w) => /^(-c|--configuration)/.test(w))) keep.unshift("-c", "Release");
    const text = ["dotnet", "publish", ...(projectArg ? [projectArg] : []), ...keep, "-o", PUBLISH_DIR].join(
      " ",
    );
    buildEdits.push({ start: cmd.start, end: cmd.end, text });
    publishDir = PUBLISH_DIR;
  }

  const lay = layout(input, walk, buildInstr, { buildCommand: cmd });
  const pk = classifyPackages(lay.installs, "bookworm");
  if (pk.runtime.length > 0)
    refuse(
      `installs OS packages (${pk.runtime.join(", ")}) the runtime may need; not supported for .NET`,
      lay.installs[0].instr.line,
    );
  checkOriginalUser(lay.user, ["root", "nobody", "app"]);

  // ENTRYPOINT/CMD: `dotnet <Assembly>.dll` or `dotnet run`.
  const replace = new Map<Instr, string | null>();
  const ep = lay.entrypoint;
  const cmdI = lay.cmd;
  const main = ep ?? cmdI;
  if (!main) refuse("no CMD or ENTRYPOINT: cannot tell what the image runs", null);
  const mw = commandWords(model, main).words;
  if (!mw) refuse(`cannot read ${main.keyword}`, main.line);
  const entryWords = selfContained ? [`./${assembly}`] : ["dotnet", `${assembly}.dll`];
  let appArgs: string[] = [];
  let converted = false;
  if (mw[0] === "dotnet" && mw[1] === "run") {
    const dd = mw.indexOf("--");
    const flags = dd === -1 ? mw.slice(2) : mw.slice(2, dd);
    appArgs = dd === -1 ? [] : mw.slice(dd + 1);
    const okFlags = flags.every(
      (f, i) =>
        ["-c", "--configuration", "--no-build", "--no-restore", "--project"].includes(f) ||
        ["-c", "--configuration", "--project"].includes(flags[i - 1]),
    );
    if (!okFlags)
      refuse(`${main.keyword} runs \`dotnet run\` with options dfopt cannot carry over`, main.line);
    const runProject = flags[flags.indexOf("--project") + 1];
    if (
      flags.includes("--project") &&
      runProject &&
      resolvePath(walk.finalCwd ?? "/", runProject) !== resolvePath(dir, projectArg ?? ".")
    ) {
      refuse("`dotnet run --project` names another project than the build", main.line);
    }
    if (resolvePath(walk.finalCwd ?? "/", ".") !== dir && !flags.includes("--project"))
      refuse("`dotnet run` runs in another directory than the build", main.line);
    converted = true;
  } else if (mw[0] === "dotnet" && mw[1]?.endsWith(".dll")) {
    if (basename(mw[1]) !== `${assembly}.dll`)
      refuse(`${main.keyword} runs ${mw[1]}, not ${assembly}.dll`, main.line);
    appArgs = mw.slice(2);
  } else {
    refuse(`${main.keyword} runs \`${mw[0]}\`, not \`dotnet ${assembly}.dll\``, main.line);
  }
  if (ep && cmdI && !cmdI.execForm) refuse("shell-form CMD after ENTRYPOINT runs through /bin/sh", cmdI.line);
  replace.set(main, `${main.keywordText} ${execForm([...entryWords, ...appArgs])}`);
  // The runtime WORKDIR is the publish folder (the content root).
  for (const i of lay.runtime) if (i.keyword === "WORKDIR") replace.set(i, null);

  // Port and user: the port ASP.NET listens on (its default, or ASPNETCORE_URLS / *HTTP_PORTS),
  // else what every planner reads (EXPOSE, a PORT variable, a start-command flag).
  const defaultPort = sdkMajor >= 8 ? 8080 : 80;
  let aspnet: LowPort | null = web
    ? { port: defaultPort, where: `ASP.NET's default port ${defaultPort}` }
    : null;
  for (const i of stage.instructions) {
    if (i.keyword !== "ENV") continue;
    for (const [k, v] of envPairs(i)) {
      const where = `ENV ${k}=${v}`;
      if (k === "ASPNETCORE_URLS" && v)
        aspnet = { port: Math.min(...[...v.matchAll(/:(\d+)/g)].map((m) => Number(m[1])), 65535), where };
      if ((k === "ASPNETCORE_HTTP_PORTS" || k === "HTTP_PORTS") && v)
        aspnet = { port: Math.min(...v.split(/[;,]/).map(Number)), where };
    }
  }
  const low = aspnet && aspnet.port < 1024 ? aspnet : lowPort(model, stage.instructions);
  const asRoot = low !== null && !lay.user;
  const kind = selfContained ? "runtime-deps" : web ? "aspnet" : "runtime";
  const runtimeImage = sdk.runtime(kind);
  const setup: string[] = [`${keyword(model, "WORKDIR")} ${publishDir}`];
  const after: string[] = [];
  if (!lay.user && !asRoot) {
    if (sdkMajor >= 8) after.push(`${keyword(model, "USER")} $APP_UID`);
    else {
      const [create, user] = appUserLines(model, sdk.alpine ? "alpine" : "debian");
      setup.unshift(create);
      after.push(user);
    }
  }
  const userNote = lay.user || !low ? "" : `; ${lowPortNote(low)}`;
  return assemble(input, lay, {
    image: runtimeImage,
    setup,
    artifacts: [{ from: publishDir, to: "." }],
    afterArtifacts: after,
    replace,
    buildEdits,
    message: `build stage on ${image.raw}, runtime stage on ${runtimeImage} running ${assembly}.dll from ${publishDir}${converted ? " (dotnet run replaced by the published app)" : ""}${userNote}`,
  });
}

function positional(words: string[]): string | null {
  const withValue =
    /^(-c|--configuration|-o|--output|-r|--runtime|-f|--framework|-v|--verbosity|--version-suffix|-s|--source|-a|--arch|--os)$/;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (withValue.test(w)) {
      i++;
      continue;
    }
    if (w.startsWith("-") || w.startsWith("/")) continue;
    return w;
  }
  return null;
}

/** Context path of the project the command builds. */
function findProject(
  context: BuildContext,
  walk: StageWalk,
  dir: string,
  arg: string | null,
  at: Instr,
): string {
  const target = arg ? resolvePath(dir, arg) : dir;
  if (target.endsWith(".sln")) refuse("builds a solution; cannot tell which project the image runs", at.line);
  if (target.endsWith(".csproj")) {
    const ctx = contextPathOf(walk, dirname(target), at);
    const rel = ctx === null ? null : ctx ? `${ctx}/${basename(target)}` : basename(target);
    if (!rel || !context.exists(rel)) refuse(`project ${target} is not in the build context`, at.line);
    return rel;
  }
  if (/\.(fsproj|vbproj)$/.test(target)) refuse("F#/VB projects are not supported", at.line);
  const ctx = contextPathOf(walk, target, at);
  if (ctx === null) refuse(`cannot find ${target} in the build context`, at.line);
  const projects = globContext(context, ctx ? `${ctx}/*.*proj` : "*.*proj");
  const slns = globContext(context, ctx ? `${ctx}/*.sln` : "*.sln");
  if (projects.length === 0) {
    refuse(
      slns.length > 0
        ? "builds a solution; cannot tell which project the image runs"
        : `no project file in ${target}`,
      at.line,
    );
  }
  if (projects.length > 1) refuse(`several project files in ${target}`, at.line);
  if (!projects[0].endsWith(".csproj")) refuse("F#/VB projects are not supported", at.line);
  return projects[0];
}
