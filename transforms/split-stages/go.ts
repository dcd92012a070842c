import { argDeclarations, type Instr, envPairs } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext, Edit } from "../../src/engine/types.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { contextMemo } from "../lib/context-memo.ts";
import { basename, dirname, isInside, resolvePath } from "../../src/engine/paths.ts";
import { assemble, commentLinesAbove, layout } from "./toolkit/assemble.ts";
import { debianCodename } from "../lib/debian-release.ts";
import { shortName } from "./toolkit/images.ts";
import {
  classifyPackages,
  installLine,
  runtimeAptOptions,
  type OsInstall,
  packageInstalls,
} from "./toolkit/packages.ts";
import { guarded, PlanRefusal, refuse } from "./toolkit/refuse.ts";
import { argumentFiles, healthcheckTools, runtimeFiles } from "./toolkit/runtime-files.ts";
import { commandName, commandWords, execForm, runCommands } from "./toolkit/shell.ts";
import { lowPort, lowPortNote } from "../lib/ports.ts";
import { appUserLines, checkOriginalUser } from "./toolkit/users.ts";
import {
  contextPathOf,
  imagePathOf,
  runCwd,
  runsWith,
  type StageWalk,
  variablesIn,
  walkStage,
} from "./toolkit/walk.ts";

/**
 * Go: the build stage keeps the original steps (with `CGO_ENABLED=0` on the
 * build command); the runtime stage is distroless static (nonroot) with the
 * binary at the same absolute path, the runtime files the app reads from its
 * working directory, and CMD/ENTRYPOINT in exec form on that path.
 */

const GOPATH = "/go";
const C_COMPILERS = new Set([
  "gcc",
  "g++",
  "clang",
  "build-base",
  "build-essential",
  "musl-dev",
  "alpine-sdk",
]);
const PROVIDED_BY_DISTROLESS = new Set(["ca-certificates", "tzdata", "ca-certificates-bundle"]);
/** Modules that need cgo but bundle their C code (only libc needed at run time). */
const CGO_SELF_CONTAINED = ["github.com/mattn/go-sqlite3", "github.com/confluentinc/confluent-kafka-go"];
/** Modules that need cgo and a shared C library. */
const CGO_SYSTEM_LIBS = [
  "gopkg.in/gographics/imagick",
  "github.com/h2non/bimg",
  "github.com/davidbyttow/govips",
  "github.com/tecbot/gorocksdb",
  "github.com/linxGnu/grocksdb",
  "github.com/google/gopacket/pcap",
  "github.com/go-gl/",
  "github.com/gen2brain/",
  "github.com/rainycape/magick",
  "github.com/mattn/go-oci8",
  "github.com/godror/godror",
  "github.com/libgit2/git2go",
];
/** `go build` flags that take a value. */
const VALUE_FLAGS = new Set([
  "o",
  "ldflags",
  "gcflags",
  "asmflags",
  "tags",
  "mod",
  "p",
  "pkgdir",
  "buildmode",
  "installsuffix",
  "compiler",
  "gccgoflags",
  "toolexec",
  "modfile",
  "overlay",
  "pgo",
  "C",
]);
const PATH_DIRS = [
  "/go/bin",
  "/usr/local/go/bin",
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

function isGoBuild(cmd: ShellCommand): boolean {
  return commandName(cmd) === "go" && (cmd.args[0]?.value === "build" || cmd.args[0]?.value === "install");
}

export const go: EcosystemPlanner = {
  id: "go",
  detect(input) {
    const image = input.stage.image;
    if (image && /^golang$/.test(shortName(image.name))) return true;
    // The context check first: it is memoised per context, the RUN walk is not.
    return hasGoMod(input.context) && runsWith(input, isGoBuild).length > 0;
  },
  plan: (input) => guarded(() => planGo(input)),
};

// A folder of thousands of Dockerfiles is one context: look through it once.
const goModSeen = contextMemo<boolean>(1);

function hasGoMod(context: BuildContext): boolean {
  return goModSeen(
    context,
    "go.mod",
    () =>
      context.exists("go.mod") ||
      context.list("").some((d) => context.isDirectory(d) && context.exists(`${d}/go.mod`)),
  );
}

interface GoBuild {
  instr: Instr;
  cmd: ShellCommand;
  /** Absolute path of the binary. */
  out: string;
  cgo: "off" | "on" | "unset";
}

function planGo(input: SplitInput) {
  const { model, stage, context, options } = input;
  const image = stage.image!;
  const alpine = /alpine/.test(image.tag ?? "");
  const walk = walkStage(input, { workdir: GOPATH, env: { GOPATH } });

  for (const instr of stage.instructions) {
    if (instr.keyword !== "CMD" && instr.keyword !== "ENTRYPOINT") continue;
    const { words } = commandWords(model, instr);
    if (words?.[0] === "go" || /(^|[\s"'[,])go"?\s*,?\s*"?run\b/.test(instr.text)) {
      refuse(`${instr.keyword} runs the build tool at run time (\`go ${words?.[1] ?? "run"}\`)`, instr.line);
    }
  }
  const builds = runsWith(input, isGoBuild);
  const gets = runsWith(
    input,
    (c) => commandName(c) === "go" && c.args[0]?.value === "get" && !c.args.some((a) => a.value === "-d"),
  );
  // GOPATH-era: `go get` (without -d) downloads and installs the package, like `go install`.
  const installs = builds.length > 0 ? builds : gets;
  if (installs.length === 0) refuse("no `go build` or `go install` step", null);
  if (installs.length > 1) {
    refuse(
      `${installs.length} go ${builds.length > 0 ? "build/install" : "get"} commands; cannot tell which binary the image runs`,
      installs[1].instr.line,
    );
  }
  const { instr: buildInstr, cmd } = installs[0];

  // Module (or GOPATH folder) and cgo.
  const cwd = runCwd(input, walk, buildInstr, cmd);
  const ctxDir = cwd === null ? null : contextPathOf(walk, cwd, buildInstr);
  if (cwd === null || ctxDir === null) {
    refuse(
      `the directory \`go ${cmd.args[0].value}\` runs in (${cwd ?? "unknown"}) is not a folder of the build context; cannot read its sources`,
      buildInstr.line,
    );
  }
  const modDir = findUp(context, ctxDir, "go.mod");
  if (modDir === null) checkGopathMode(input, walk, buildInstr, cmd, cwd);
  else if (builds.length === 0)
    refuse("builds with `go get` in a module; no `go build`/`go install` step to split", buildInstr.line);
  const srcDir = modDir ?? ctxDir;
  const goMod =
    modDir === null
      ? gopathDependencies(context, ctxDir)
      : (context.readFile(modDir ? `${modDir}/go.mod` : "go.mod") ?? "");
  const build = goBuild(input, walk, buildInstr, cmd);
  const systemLib = CGO_SYSTEM_LIBS.find((m) => goMod.includes(m));
  if (systemLib && build.cgo !== "off") {
    refuse(
      `${modDir === null ? "the Go sources use" : "go.mod requires"} ${systemLib}, which needs cgo and a system C library at run time`,
      buildInstr.line,
    );
  }
  // `go get` of a cgo module in a RUN, or C headers installed for the build.
  const fetched = runsWith(input, (c) => commandName(c) === "go" && c.args[0]?.value === "get")
    .flatMap(({ cmd: c }) => c.args.map((a) => a.value ?? ""))
    .find((a) => CGO_SYSTEM_LIBS.some((m) => a.startsWith(m)));
  if (fetched && build.cgo !== "off")
    refuse(`\`go get ${fetched}\` needs cgo and a system C library at run time`, buildInstr.line);
  const headers = lay0Installs(input)
    .flatMap((i) => i.packages)
    .find((p) => (/^lib.+-(dev|devel)$/.test(p) && !/^libc6?-dev$/.test(p)) || C_COMPILERS.has(p));
  if (headers && build.cgo !== "off") {
    refuse(
      C_COMPILERS.has(headers)
        ? `installs ${headers} before the build: the Go build likely uses cgo`
        : `installs ${headers} before the build: the Go build likely links it through cgo`,
      buildInstr.line,
    );
  }
  const bundled = CGO_SELF_CONTAINED.find((m) => goMod.includes(m));
  const importsC = build.cgo !== "off" && !bundled && sourceImportsC(context, srcDir);
  if (importsC)
    refuse(
      `the Go source uses cgo (import "C"); cannot tell which C libraries the runtime needs`,
      buildInstr.line,
    );
  const cgo = build.cgo === "on" || (bundled !== undefined && build.cgo !== "off");
  if (cgo && alpine)
    refuse(`cgo build on Alpine links musl; dfopt has no matching runtime for it`, buildInstr.line);

  // golang images set GOPATH; runtime instructions that use it (`WORKDIR $GOPATH/src/...`) get it back.
  const ownGopath = walk.fileVars.has("GOPATH");
  const lay = layout(input, walk, buildInstr, {
    buildCommand: cmd,
    redeclaredEnv: ownGopath ? [] : ["GOPATH"],
  });
  const needsGopath = !ownGopath && lay.runtime.some((i) => variablesIn(i.text).includes("GOPATH"));
  const codename = debianCodename(image.tag) ?? "bookworm";
  if (cgo && codename === "trixie")
    refuse("cgo binary built on trixie needs a trixie runtime; not supported", buildInstr.line);

  // Runtime OS packages.
  const healthTools = healthcheckTools(stage);
  const pk = classifyPackages(lay.installs, codename, new Set(healthTools));
  // Distroless images already carry CA certificates and time zone data.
  const needed = pk.runtime.filter((p) => !PROVIDED_BY_DISTROLESS.has(p));
  if (needed.length === 0) pk.runtime = [];
  if (pk.runtime.length > 0 && pk.manager !== "apt") {
    refuse(
      `installs runtime packages with ${pk.manager} (${pk.runtime.join(", ")}); dfopt's Go runtimes are Debian-based`,
      lay.installs[0].instr.line,
    );
  }
  const healthNeedsTool = healthTools.length > 0;
  for (const t of healthTools) if (!pk.runtime.includes(t)) pk.runtime.push(t);

  // Runtime image.
  const flavour = options.runtimeFlavour;
  const scratch = options.perTransform["split-stages"]?.goRuntime === "scratch";
  const low = lowPort(model, stage.instructions);
  const asRoot = low !== null && !lay.user;
  let runtimeImage: string;
  let kind: "distroless" | "debian" | "scratch" | "alpine";
  if (pk.runtime.length > 0 || healthNeedsTool) {
    kind = "debian";
    runtimeImage = `debian:${cgo ? codename : "bookworm"}-slim`;
  } else if (cgo) {
    kind = "distroless";
    runtimeImage = `gcr.io/distroless/base-debian12${asRoot ? "" : ":nonroot"}`;
  } else if (scratch) {
    kind = "scratch";
    runtimeImage = "scratch";
  } else if (flavour === "alpine") {
    kind = "alpine";
    runtimeImage = "alpine:3.20";
  } else {
    kind = "distroless";
    runtimeImage = `gcr.io/distroless/static-debian12${asRoot ? "" : ":nonroot"}`;
  }
  const shellLess = kind === "distroless" || kind === "scratch";
  checkOriginalUser(
    lay.user,
    kind === "distroless" ? ["root", "nonroot", "nobody"] : kind === "scratch" ? [] : ["root", "nobody"],
  );

  // Entry point.
  const runtimeCwd = walk.finalCwd ?? refuse("cannot tell the final WORKDIR", null);
  const replace = new Map<Instr, string | null>();
  const entry = lay.entrypoint ?? lay.cmd;
  if (!entry) refuse("no CMD or ENTRYPOINT: cannot tell what the image runs", null);
  for (const instr of [lay.entrypoint, lay.cmd]) {
    if (!instr) continue;
    const { words, shell } = commandWords(model, instr);
    const first = words?.[0] ?? null;
    if (words && first === "go")
      refuse(`${instr.keyword} runs the build tool at run time (\`go ${words[1] ?? ""}\`)`, instr.line);
    if (!words && /(^|[\s"'[,])go\s+run\b/.test(instr.text))
      refuse(`${instr.keyword} runs the build tool at run time (\`go run\`)`, instr.line);
    if (instr === lay.cmd && lay.entrypoint) {
      if (shell)
        refuse("shell-form CMD after ENTRYPOINT runs through /bin/sh; cannot carry it over", instr.line);
      continue; // arguments to the ENTRYPOINT
    }
    if (instr === lay.cmd && !lay.entrypoint && !words && !shell) refuse("cannot read the CMD", instr.line);
    if (instr.keyword === "ENTRYPOINT" && shell && lay.cmd)
      refuse("shell-form ENTRYPOINT with a CMD; cannot carry it over", instr.line);
    if (!words) {
      if (shellLess)
        refuse(`shell-form ${instr.keyword} needs a shell; the ${kind} runtime image has none`, instr.line);
      continue; // kept as written on a Debian runtime
    }
    const target = first!.includes("/")
      ? resolvePath(runtimeCwd, first!)
      : PATH_DIRS.map((d) => `${d}/${first}`).find((p) => p === build.out);
    if (target !== build.out) {
      refuse(
        `${instr.keyword} runs \`${first}\`, not the binary the build produces (${build.out})`,
        instr.line,
      );
    }
    const rewritten = `${instr.keywordText} ${execForm([build.out, ...words.slice(1)])}`;
    if (shell || first !== build.out) replace.set(instr, rewritten);
  }
  for (const instr of stage.instructions) {
    if (instr.keyword !== "HEALTHCHECK" || !shellLess) continue;
    const w = instr.args.map((a) => a.value);
    if (w[0]?.toUpperCase() === "NONE") continue;
    refuse(`HEALTHCHECK needs a shell or tools the ${kind} runtime image lacks`, instr.line);
  }

  // Artifacts: runtime files from the working directory, then the binary. A source edit changes the
  // binary only: the COPYs before it stay cached (buildah/podman would copy each again after it).
  const artifacts = argumentFiles(walk, lay, runtimeCwd, [build.out]);
  const appCtx = contextPathOf(walk, runtimeCwd);
  if (appCtx !== null) {
    const { names: extra, above } = literalPaths(context, srcDir);
    // files named from the folder above the working folder: which ones, and whether the app writes
    // there, cannot be told from the sources
    if (above !== null)
      refuse(
        `the Go sources name \`${above}\`, a path above the working folder ${runtimeCwd}: cannot tell which files the binary reads or writes there at run time`,
      );
    for (const rel of runtimeFiles(context, appCtx, extra)) {
      const at = imagePathOf(walk, rel, buildInstr);
      if (at && at !== build.out) artifacts.push({ from: at, to: at });
    }
  }
  artifacts.push({ from: build.out, to: build.out });
  if (kind === "scratch")
    artifacts.unshift({ from: "/etc/ssl/certs/ca-certificates.crt", to: "/etc/ssl/certs/" });

  const setup: string[] = needsGopath ? [`${keyword(model, "ENV")} GOPATH=${GOPATH}`] : [];
  const after: string[] = [];
  if (kind === "debian" && pk.runtime.length > 0)
    setup.push(installLine(model, "apt", pk.runtime, runtimeAptOptions(pk, lay.installs)));
  const userNote = lay.user || !low ? "" : `; ${lowPortNote(low)}`;
  if (!lay.user && !asRoot) {
    if (kind === "debian") setup.push(...appUserLines(model, "debian"));
    if (kind === "alpine") setup.push(...appUserLines(model, "alpine"));
    if (kind === "scratch") after.push(`${keyword(model, "USER")} 65532:65532`);
  }
  // A user line from appUserLines is `USER app`: move it after the artifacts.
  const userLine = setup.find((l) => /^user /i.test(l));
  if (userLine) {
    setup.splice(setup.indexOf(userLine), 1);
    after.push(userLine);
  }
  if (!walk.setsWorkdir && artifacts.length > 1) setup.push(`${keyword(model, "WORKDIR")} ${runtimeCwd}`);

  const buildEdits: Edit[] =
    build.cgo === "unset" && !cgo ? [{ start: cmd.start, end: cmd.start, text: "CGO_ENABLED=0 " }] : [];
  const warm = cgo ? null : stdWarmStep(input, walk, build, srcDir);
  if (warm) buildEdits.push(warm);
  const warmNote = warm ? "; `go build std` before the sources keeps the standard library cached" : "";
  const gopathNote = modDir === null ? " (GOPATH build, no go.mod)" : "";
  const why = cgo ? ` (cgo: ${bundled ?? "CGO_ENABLED=1"} needs libc)` : "";
  return assemble(input, lay, {
    image: runtimeImage,
    setup,
    artifacts,
    afterArtifacts: after,
    replace,
    buildEdits,
    message: `build stage on ${image.raw}, runtime stage on ${runtimeImage} with ${build.out}${pk.runtime.length ? ` (+ ${pk.runtime.join(", ")})` : ""}${why}${gopathNote}${userNote}${warmNote}`,
  });
}

/** Variables the go command reads when it compiles: its own, the C toolchain's, where its cache is. */
const GO_ENV = /^(?:GO\w*|CGO_\w+|CC|CXX|AR|PKG_CONFIG|HOME|XDG_CACHE_HOME|PATH)$/;
/** A value the warm step can repeat as written: no quotes, expansions or escapes. */
const PLAIN = /^[\w.,:/@%+=-]*$/;
/** `go build` flags that change how every package compiles: the warm step passes them on. */
const COMPILE_FLAGS = new Set(["tags", "trimpath", "installsuffix", "gcflags", "asmflags"]);
/** Flags for the link, the main package or the go command's own output: the warm step drops them. */
const LINK_FLAGS = new Set([
  "o",
  "ldflags",
  "v",
  "x",
  "n",
  "work",
  "buildvcs",
  "mod",
  "modcacherw",
  "p",
  "C",
]);

/**
 * `RUN CGO_ENABLED=0 go build std` right before the COPY that brings the Go
 * sources, so that a source edit reuses the compiled standard library from
 * the build cache. The static build needs it: Go < 1.20 ships the standard
 * library compiled with cgo only (net and what imports it compile again when
 * cgo is off), Go >= 1.20 ships none. The step only fills the build cache
 * (`go build` of several packages writes no files), with the environment and
 * compile flags the build has, so the build's result is the same. Null when
 * that cannot be told from the file (the build's environment comes from an
 * ARG, a sourced script, `go env -w`, a USER switch or GOFLAGS; `-a`, `-race`,
 * `-pgo`, other build modes...) or Go has no build cache (before 1.10).
 */
function stdWarmStep(input: SplitInput, walk: StageWalk, build: GoBuild, srcDir: string): Edit | null {
  const { model, stage, context } = input;
  const image = stage.image!;
  if (shortName(image.name) !== "golang") return null; // go is there from the first instruction
  const version = /^1\.(\d+)/.exec(image.tag ?? "");
  if (version && Number(version[1]) < 10) return null;
  const sources = goFiles(context, srcDir);
  const brings = (source: string) =>
    sources.some((f) => source === "" || f === source || f.startsWith(`${source}/`));
  const copy = walk.copies.find((c) => c.instr.start < build.instr.start && brings(c.source))?.instr;
  if (!copy) return null;

  const env: string[] = [];
  const setGoEnv = (name: string, value: string | null): boolean => {
    if (!GO_ENV.test(name) || name === "CGO_ENABLED") return true;
    if (name === "GOFLAGS" || value === null || !PLAIN.test(value)) return false;
    env.push(`${name}=${value}`);
    return true;
  };
  for (const i of stage.instructions) {
    if (i.start >= build.instr.start) break;
    if (i.keyword === "ENV" && envPairs(i).some(([k]) => k === "GOFLAGS")) return null;
    if (i.start < copy.start) continue;
    if (i.keyword === "USER") return null;
    if (i.keyword === "ARG" && argDeclarations(i).some(([k]) => GO_ENV.test(k))) return null;
    if (i.keyword === "ENV" && !envPairs(i).every(([k, v]) => setGoEnv(k, v))) return null;
    if (i.keyword === "RUN" && runCommands(model, i).some(setsGoEnv)) return null;
  }
  for (const c of runCommands(model, build.instr)) if (c.start < build.cmd.start && setsGoEnv(c)) return null;
  // `export`/`declare` are not commands of the parsed RUN: read them in its text before the build.
  const before = build.instr.text.slice(0, build.cmd.start - build.instr.start);
  if (/\b(?:declare|typeset|readonly|local|set\s+-\w*a)\b/.test(before)) return null;
  for (const m of before.matchAll(/\bexport\s+([^;&|\n]*)/g))
    for (const word of m[1].trim().split(/\s+/)) {
      const [, name, value] = /^(\w+)=(.*)$/s.exec(word) ?? [];
      if (word.startsWith("-") || (name && !setGoEnv(name, value))) return null;
    }
  for (const a of build.cmd.assignments) {
    const [, name, value] = /^(\w+)=(.*)$/s.exec(a.raw) ?? [];
    if (!name || !setGoEnv(name, value)) return null;
  }

  const flags: string[] = [];
  const args = build.cmd.args.slice(1);
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const m = /^['"]?--?([A-Za-z]+)(=)?/.exec(flag.value ?? flag.raw);
    if (!m) continue; // a package or file
    const [, name, eq] = m;
    const valueWord = eq === undefined && VALUE_FLAGS.has(name) ? args[++i] : undefined;
    if (LINK_FLAGS.has(name)) continue;
    if (flag.value === null || valueWord?.value === null) return null;
    const value = valueWord?.value ?? flag.value.slice(flag.value.indexOf("=") + 1);
    if (name === "buildmode" && /^(?:default|exe)$/.test(value)) continue;
    if (!COMPILE_FLAGS.has(name)) return null;
    // Plain -gcflags/-asmflags apply to the packages named on the command line: not to std.
    if ((name === "gcflags" || name === "asmflags") && value.startsWith("-")) continue;
    flags.push(flag.raw, ...(valueWord ? [valueWord.raw] : []));
  }

  const line = [keyword(model, "RUN"), "CGO_ENABLED=0", ...env, "go build", ...flags, "std"].join(" ");
  const above = commentLinesAbove(model, copy, model.lineOf(stage.from.start));
  const at = model.lineStart(above[0] ?? copy.line);
  return { start: at, end: at, text: line + model.source.eol };
}

/** `go env -w`/`-u`, a sourced script or `eval`: the go command's environment changes in ways not read here. */
function setsGoEnv(c: ShellCommand): boolean {
  const name = commandName(c);
  if (name === "." || name === "source" || name === "eval" || name === "unset") return true;
  return name === "go" && c.args[0]?.value === "env" && c.args.some((a) => /^-[wu]$/.test(a.value ?? ""));
}

function goBuild(input: SplitInput, walk: StageWalk, instr: Instr, cmd: ShellCommand): GoBuild {
  const sub = cmd.args[0].value!;
  const args = cmd.args.slice(1);
  let out: string | null = null;
  const packages: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const v = args[i].value;
    if (v === null) {
      if (i > 0 && /^--?(ldflags|gcflags|tags)$/.test(args[i - 1].value ?? "")) continue;
      if (/^['"]?-/.test(args[i].raw)) continue;
      refuse(`go ${sub} argument \`${args[i].raw}\` uses shell expansions`, instr.line);
    }
    if (v.startsWith("-")) {
      const m = /^--?([A-Za-z]+)(=(.*))?$/.exec(v);
      if (!m) continue;
      const [, name, eq, value] = m;
      if (name === "buildmode" && !/^(default|exe|pie)$/.test(value ?? args[i + 1]?.value ?? "")) {
        refuse("non-executable -buildmode", instr.line);
      }
      if (VALUE_FLAGS.has(name) && !eq) {
        if (name === "o")
          out = args[i + 1]?.value ?? refuse("go build -o value uses shell expansions", instr.line);
        i++;
      } else if (name === "o") out = value;
      continue;
    }
    packages.push(v);
  }
  if (
    (sub === "install" || sub === "get") &&
    packages.length === 1 &&
    /^\.\/(?:.+\/)?\.\.\.$/.test(packages[0])
  )
    packages[0] = onlyMainPackage(input, walk, instr, cmd, packages[0]);
  if (packages.some((p) => p.includes("...") || p.includes("@"))) {
    refuse(`go ${sub} ${packages.join(" ")} builds several or remote packages`, instr.line);
  }
  if (sub === "get" && packages.some((p) => !p.startsWith(".")))
    refuse(`go get ${packages.join(" ")} builds sources from outside the build context`, instr.line);
  if (packages.length > 1 && !packages.every((p) => p.endsWith(".go")))
    refuse(`go ${sub} builds several packages`, instr.line);

  const dir =
    runCwd(input, walk, instr, cmd) ?? refuse("cannot tell the directory `go build` runs in", instr.line);
  // cgo setting: command assignment, then ENV.
  let cgo: GoBuild["cgo"] = "unset";
  for (const i of input.stage.instructions) {
    if (i.start > instr.start) break;
    if (i.keyword === "ENV")
      for (const [k, v] of envPairs(i)) if (k === "CGO_ENABLED") cgo = v === "0" ? "off" : "on";
  }
  for (const a of cmd.assignments) {
    const m = /^CGO_ENABLED=["']?(\d)/.exec(a.raw);
    if (m) cgo = m[1] === "0" ? "off" : "on";
  }
  // Exported in the same RUN (`export CGO_ENABLED=0 && go build`).
  if (/\bCGO_ENABLED=["']?0\b/.test(instr.text.slice(0, cmd.start - instr.start))) cgo = "off";

  if (out !== null) {
    if (out.endsWith("/")) refuse("go build -o names a directory", instr.line);
    const abs = resolvePath(
      dir,
      walk.expand(out, instr) ?? refuse("go build -o path uses unknown variables", instr.line),
    );
    if (sub !== "build") refuse(`go ${sub} -o is not a thing`, instr.line);
    return { instr, cmd, out: abs, cgo };
  }
  // Derived name: a file list → first file's name; a package dir → its last element; `.` → the
  // module path, or without go.mod (GOPATH mode, checked by planGo) the folder's name.
  let name: string;
  const pkg = packages[0];
  if (pkg && pkg.endsWith(".go")) name = basename(pkg).slice(0, -3);
  else if (pkg && pkg !== ".") name = basename(pkg);
  else {
    const ctxDir = contextPathOf(walk, dir, instr);
    const modDir = ctxDir === null ? null : findUp(input.context, ctxDir, "go.mod");
    if (ctxDir !== null && modDir === null) name = basename(dir);
    else {
      const goMod = modDir === null ? null : input.context.readFile(modDir ? `${modDir}/go.mod` : "go.mod");
      const module = goMod ? /^\s*module\s+"?([^\s"]+)/m.exec(goMod)?.[1] : undefined;
      if (!module || ctxDir === null || modDir === null)
        refuse("cannot derive the binary name: no go.mod module path", instr.line);
      const sub = ctxDir.slice(modDir.length).replace(/^\//, "");
      const importPath = sub ? `${module}/${sub}` : module;
      if (/\/v\d+$/.test(importPath))
        refuse(`cannot derive the binary name of ${importPath} (major-version suffix)`, instr.line);
      name = basename(importPath);
    }
  }
  if (sub === "build") return { instr, cmd, out: resolvePath(dir, name), cgo };
  let bin = `${GOPATH}/bin`;
  for (const i of input.stage.instructions) {
    if (i.start > instr.start) break;
    if (i.keyword !== "ENV") continue;
    for (const [k, v] of envPairs(i)) {
      if (k === "GOBIN" && v) bin = walk.expand(v, i) ?? refuse("GOBIN uses unknown variables", i.line);
      if (k === "GOPATH" && v)
        bin = `${walk.expand(v, i) ?? refuse("GOPATH uses unknown variables", i.line)}/bin`;
    }
  }
  if (/GOOS=|GOARCH=/.test(instr.text))
    refuse("cross-compiling `go install` puts the binary in a GOOS_GOARCH folder", instr.line);
  return { instr, cmd, out: resolvePath("/", `${bin}/${name}`), cgo };
}

/**
 * Without go.mod the build must run in GOPATH mode, or it fails: refuses
 * unless GO111MODULE=off, or the Go version (from the tag) predates module
 * mode by default (1.16), and `go install`/`go get` run inside $GOPATH/src.
 */
function checkGopathMode(
  input: SplitInput,
  walk: StageWalk,
  instr: Instr,
  cmd: ShellCommand,
  cwd: string,
): void {
  const image = input.stage.image!;
  let mode: string | null = null;
  for (const i of input.stage.instructions) {
    if (i.start > instr.start) break;
    if (i.keyword === "ENV") for (const [k, v] of envPairs(i)) if (k === "GO111MODULE") mode = v;
  }
  const before = instr.text.slice(0, cmd.start - instr.start);
  const exported = /\bGO111MODULE=["']?(\w+)/.exec(before);
  if (exported) mode = exported[1];
  for (const a of cmd.assignments) {
    const m = /^GO111MODULE=["']?(\w+)/.exec(a.raw);
    if (m) mode = m[1];
  }
  const where = `no go.mod for the build directory ${cwd}`;
  if (mode === "on") refuse(`${where} and GO111MODULE=on: the build fails`, instr.line);
  if (mode !== "off" && mode !== "auto") {
    const version = /^(\d+)\.(\d+)/.exec(image.tag ?? "");
    if (!version)
      refuse(
        `${where}; cannot tell the Go version of ${image.raw}, so whether it builds in GOPATH mode (module mode is the default since Go 1.16)`,
        instr.line,
      );
    if (Number(version[1]) > 1 || Number(version[2]) >= 16)
      refuse(`${where}: Go ${version[0]} builds in module mode by default, so the build fails`, instr.line);
  }
  const sub = cmd.args[0].value;
  const gopath = walk.expand("$GOPATH", instr) ?? refuse("GOPATH uses unknown variables", instr.line);
  if (sub !== "build" && !isInside(cwd, `${gopath}/src`))
    refuse(`go ${sub} runs in ${cwd}, outside $GOPATH/src (${gopath}/src): no install location`, instr.line);
}

/** Manifests of the GOPATH-era dependency tools (dep, godep, glide, govendor). */
const GOPATH_MANIFESTS = [
  "Gopkg.lock",
  "Gopkg.toml",
  "Godeps/Godeps.json",
  "glide.yaml",
  "glide.lock",
  "vendor/vendor.json",
];

/**
 * What a GOPATH build in `dir` depends on, as text the cgo lists are matched
 * against: its dependency manifests, the import paths of its sources and the
 * cgo modules it vendors.
 */
function gopathDependencies(context: BuildContext, dir: string): string {
  const at = (f: string) => (dir ? `${dir}/${f}` : f);
  const parts = GOPATH_MANIFESTS.map((f) => context.readFile(at(f)) ?? "");
  for (const f of goFiles(context, dir)) {
    const text = context.readFile(f) ?? "";
    const specs = [...text.matchAll(/^\s*import\s+(?:[\w.]+\s+)?"([^"]+)"/gm)].map((m) => m[1]);
    for (const block of text.matchAll(/^\s*import\s*\(([\s\S]*?)\)/gm))
      specs.push(...[...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]));
    parts.push(...specs);
  }
  for (const m of [...CGO_SELF_CONTAINED, ...CGO_SYSTEM_LIBS])
    if (context.isDirectory(at(`vendor/${m.replace(/\/$/, "")}`))) parts.push(m);
  return parts.join("\n");
}

/** `go install ./...`: the one main package under the pattern's folder, as `./<dir>` (or `.`). */
function onlyMainPackage(
  input: SplitInput,
  walk: StageWalk,
  instr: Instr,
  cmd: ShellCommand,
  pattern: string,
): string {
  const dir = runCwd(input, walk, instr, cmd);
  const ctxDir = dir === null ? null : contextPathOf(walk, dir, instr);
  if (ctxDir === null)
    refuse(`go ${cmd.args[0].value} ${pattern}: cannot find its sources in the build context`, instr.line);
  const prefix = pattern.slice(2, -3).replace(/\/$/, "");
  const root = [ctxDir, prefix].filter(Boolean).join("/");
  const mains = new Set<string>();
  for (const f of goFiles(input.context, root))
    if (/^package\s+main\b/m.test(input.context.readFile(f) ?? "")) mains.add(dirname(`/${f}`).slice(1));
  if (mains.size !== 1) {
    refuse(
      `go ${cmd.args[0].value} ${pattern} installs ${mains.size === 0 ? "no command found in the build context" : `${mains.size} commands (${[...mains].join(", ")})`}; cannot tell which binary the image runs`,
      instr.line,
    );
  }
  const main = [...mains][0];
  return main === ctxDir ? "." : `./${main.slice(ctxDir ? ctxDir.length + 1 : 0)}`;
}

function findUp(context: BuildContext, dir: string, file: string): string | null {
  let d = dir;
  for (;;) {
    if (context.exists(d ? `${d}/${file}` : file)) return d;
    if (!d) return null;
    d = d.includes("/") ? dirname(`/${d}`).slice(1) : "";
  }
}

// A plan reads the sources several times; a folder of thousands of entries is walked once.
const goFilesSeen = contextMemo<readonly string[]>(64);

/** Go source files under `dir` (bounded). */
function goFiles(context: BuildContext, dir: string): readonly string[] {
  return goFilesSeen(context, dir, () => findGoFiles(context, dir, 400));
}

function findGoFiles(context: BuildContext, dir: string, limit: number): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0 && out.length < limit) {
    const d = stack.pop()!;
    for (const name of context.list(d)) {
      const p = d ? `${d}/${name}` : name;
      if (name.startsWith(".") || name === "vendor" || name === "node_modules" || name === "testdata")
        continue;
      if (name.endsWith(".go")) {
        if (!name.endsWith("_test.go")) out.push(p);
      } else if (context.isDirectory(p)) stack.push(p);
    }
  }
  return out;
}

function sourceImportsC(context: BuildContext, dir: string): boolean {
  return goFiles(context, dir).some((f) => /^\s*import\s+(\(\s*)?"C"/m.test(context.readFile(f) ?? ""));
}

/**
 * First path segments of string literals in the Go source that name top-level entries (files the app
 * opens), and the first literal that starts with `../` (a path above the folder it runs in), if any.
 */
function literalPaths(context: BuildContext, dir: string): { names: Set<string>; above: string | null } {
  const names = new Set<string>();
  let above: string | null = null;
  for (const f of goFiles(context, dir)) {
    const text = context.readFile(f) ?? "";
    for (const m of text.matchAll(/"(?:\.\/)?([A-Za-z0-9_][A-Za-z0-9_.-]*)(?:\/[^"\n]*)?"/g)) names.add(m[1]);
    above ??= /"(\.\.\/[^"\n]*)"/.exec(text)?.[1] ?? null;
  }
  return { names, above };
}

/** OS package installs in the stage's RUNs (unreadable RUNs are skipped here; layout() refuses them). */
function lay0Installs(input: SplitInput): OsInstall[] {
  const out: OsInstall[] = [];
  for (const i of input.stage.instructions) {
    if (i.keyword !== "RUN") continue;
    try {
      out.push(...packageInstalls(input.model, i));
    } catch (e) {
      if (!(e instanceof PlanRefusal)) throw e; // else reported by layout()
    }
  }
  return out;
}
