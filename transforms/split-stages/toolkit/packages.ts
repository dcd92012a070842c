/**
 * OS packages: reading `apt-get install`/`apk add`/`yum install`, and
 * deciding which of them the runtime stage needs. Interpreted apps (Node,
 * Python) and compiled ones (Go, Java, Rust, .NET) keep different sets: a
 * compiled binary needs neither curl nor the interpreter's tooling.
 */
import type { DockerfileModel, Instr, Stage } from "../../../src/engine/parse.ts";
import { keyword } from "../../../src/engine/style.ts";
import { devLibraries } from "./dev-packages.ts";
import { quote, refuse } from "./refuse.ts";
import { shellCommands, wordValues } from "./shell.ts";
import { type StartCommand } from "../../lib/start-command.ts";
import { escapeRegExp } from "../../lib/regexp.ts";

export type PackageManager = "apt" | "apk" | "yum";

export interface OsInstall {
  instr: Instr;
  manager: PackageManager;
  packages: string[];
  /** The options as written (`-y`, `--no-install-recommends`, `-o`, `X`), before or after the verb; `$?` for a variable. */
  options: string[];
}

/** Package installs in a RUN (`apt-get install`, `apt install`, `apk add`, `yum/dnf/microdnf install`). */
export function osInstalls(model: DockerfileModel, instr: Instr): OsInstall[] {
  const cmds = shellCommands(model, instr) ?? [];
  const out: OsInstall[] = [];
  for (const c of cmds) {
    const w = wordValues(c);
    const name = (w[0] ?? "").split("/").pop();
    let manager: PackageManager | null = null;
    let rest: Array<string | null> = [];
    if ((name === "apt-get" || name === "apt" || name === "aptitude") && w.includes("install")) {
      manager = "apt";
      rest = w.slice(w.indexOf("install") + 1);
    } else if (name === "apk" && w.includes("add")) {
      manager = "apk";
      rest = w.slice(w.indexOf("add") + 1);
    } else if ((name === "yum" || name === "dnf" || name === "microdnf") && w.includes("install")) {
      manager = "yum";
      rest = w.slice(w.indexOf("install") + 1);
    }
    if (!manager) continue;
    const packages: string[] = [];
    const options = w.slice(1, w.length - rest.length - 1).map((v) => v ?? "$?");
    for (let i = 0; i < rest.length; i++) {
      const v = rest[i];
      if (v === null) {
        packages.push("$?");
        continue;
      }
      if (v.startsWith("-")) {
        options.push(v);
        // options taking a value
        const takesValue =
          (manager === "apk" && (v === "--virtual" || v === "-t" || v === "--repository" || v === "-X")) ||
          (manager === "apt" && (v === "-o" || v === "-t"));
        if (takesValue && i + 1 < rest.length) options.push(rest[++i] ?? "$?");
        continue;
      }
      packages.push(v.replace(/[=<>~].*$/, "")); // apt pkg=1.2, apk pkg>1 / pkg~1.2
    }
    out.push({ instr, manager, packages, options });
  }
  return out;
}

/** Package installs of a RUN (the shared parser); a package list built from shell expansions is refused. */
export function packageInstalls(model: DockerfileModel, instr: Instr): OsInstall[] {
  const installs = osInstalls(model, instr);
  if (installs.some((i) => i.packages.includes("$?")))
    refuse("package list uses shell expansions", instr.line);
  return installs;
}

/**
 * Packages every planner treats as build-only: compilers, headers, build
 * tools, VCS, archivers and interactive tools. Each planner adds its own.
 */
export const TOOLCHAIN_PACKAGES = [
  "build-essential",
  "build-base",
  "gcc",
  "g++",
  "clang",
  "make",
  "cmake",
  "autoconf",
  "automake",
  "libtool",
  "pkg-config",
  "pkgconf",
  "pkgconfig",
  "musl-dev",
  "libc-dev",
  "libc6-dev",
  "linux-headers",
  "git",
  "mercurial",
  "subversion",
  "gnupg",
  "cargo",
  "golang",
  "unzip",
  "xz-utils",
  "software-properties-common",
  "apt-transport-https",
  "vim",
  "nano",
  "less",
  "procps",
  "openssh-client",
];

/** Packages only needed to build an interpreted app (adds the interpreters' dev tooling). */
const INTERPRETED_BUILD_ONLY = new Set([
  ...TOOLCHAIN_PACKAGES,
  "cpp",
  "python3-dev",
  "python-dev",
  "python3-pip",
  "python3",
  "python",
  "py3-pip",
  "dirmngr",
  "gfortran",
  "rust",
  "nasm",
  "yasm",
  "patch",
  "bzip2",
  "gettext",
  "net-tools",
  "iputils-ping",
]);

/** `-dev` packages whose libraries every official python image already carries. */
export const PYTHON_PROVIDED_DEV = new Set([
  "libffi-dev",
  "libssl-dev",
  "openssl-dev",
  "zlib1g-dev",
  "zlib-dev",
  "libbz2-dev",
  "bzip2-dev",
  "liblzma-dev",
  "xz-dev",
  "libsqlite3-dev",
  "sqlite-dev",
  "libreadline-dev",
  "readline-dev",
  "libncurses5-dev",
  "libncursesw5-dev",
  "ncurses-dev",
  "libgdbm-dev",
  "uuid-dev",
  "util-linux-dev",
  "tk-dev",
  "libexpat1-dev",
  "expat-dev",
]);

export interface PackageClassification {
  /** Packages to install in the runtime stage (runtime packages as written + libraries for `-dev` ones). */
  runtime: string[];
  /** Packages left in the build stage only. */
  buildOnly: string[];
  /** `-dev` packages whose runtime library is not known: planners should refuse. */
  unknownDev: string[];
  /** Why, for each of `unknownDev` (see `devLibraries`). */
  unknownWhy: string[];
}

/**
 * Splits installed OS packages into runtime vs build-only. `alsoBuildOnly`
 * lets a planner add names (e.g. packages its runtime base already has);
 * `neededAtRuntime` forces names to runtime (e.g. `curl` used by HEALTHCHECK).
 */
export function classifyInterpretedPackages(
  manager: PackageManager,
  packages: string[],
  opts: {
    alsoBuildOnly?: Iterable<string>;
    neededAtRuntime?: Iterable<string>;
    providedDev?: Set<string>;
    /** The image the packages are installed on, as written: its tag names the Debian release. */
    image?: string;
  } = {},
): PackageClassification {
  const extra = new Set(opts.alsoBuildOnly ?? []);
  const needed = new Set(opts.neededAtRuntime ?? []);
  const runtime: string[] = [];
  const buildOnly: string[] = [];
  const unknownDev: string[] = [];
  const unknownWhy: string[] = [];
  for (const p of packages) {
    if (needed.has(p)) runtime.push(p);
    else if (INTERPRETED_BUILD_ONLY.has(p) || extra.has(p) || /^(?:gcc|g\+\+|clang|llvm)-?\d/.test(p))
      buildOnly.push(p);
    else if (/-dev(?:el)?$/.test(p)) {
      buildOnly.push(p);
      if (opts.providedDev?.has(p)) continue;
      const found =
        manager === "yum"
          ? { why: `yum libraries are not known` }
          : devLibraries(manager, p, opts.image ?? "");
      if ("libraries" in found) runtime.push(...found.libraries);
      else {
        unknownDev.push(p);
        unknownWhy.push(found.why);
      }
    } else if (p === "curl" || p === "wget") buildOnly.push(p);
    else runtime.push(p);
  }
  return { runtime: [...new Set(runtime)], buildOnly, unknownDev, unknownWhy };
}

const ASSUME_YES = /^(?:-y|--yes|--assume-yes)$/;

/**
 * The apt options the runtime stage installs with: those of the original
 * installs (so `--no-install-recommends` only when the original used it, and
 * recommended packages stay otherwise), with `-y`. Null when the installs
 * disagree or name options by variables.
 */
export function aptOptions(installs: ReadonlyArray<Pick<OsInstall, "manager" | "options">>): string[] | null {
  let shared: string[] | null = null;
  for (const i of installs) {
    if (i.manager !== "apt") continue;
    const opts = i.options.filter((o) => !ASSUME_YES.test(o));
    if (opts.includes("$?")) return null;
    if (shared === null) shared = opts;
    else if (shared.join("\0") !== opts.join("\0")) return null;
  }
  return ["-y", ...(shared ?? [])];
}

/** `pk.aptOptions`, refusing when the installs it comes from disagree. */
export function runtimeAptOptions(pk: RuntimePackages, installs: readonly OsInstall[]): string[] {
  return (
    pk.aptOptions ??
    refuse(
      "the runtime packages come from apt installs with different options; cannot tell how the runtime stage should install them",
      installs.find((i) => i.manager === "apt")?.instr ?? null,
    )
  );
}

/** A RUN line installing OS packages in the runtime stage, in the file's keyword case (apt: with `aptOpts`). */
export function installLine(
  model: DockerfileModel,
  manager: PackageManager,
  packages: string[],
  aptOpts: readonly string[] = ["-y"],
): string {
  const run = keyword(model, "RUN");
  const list = packages.join(" ");
  if (manager === "apk") return `${run} apk add --no-cache ${list}`;
  if (manager === "yum") return `${run} yum install -y ${list} && yum clean all`;
  return `${run} apt-get update && apt-get install ${aptOpts.join(" ")} ${list} && rm -rf /var/lib/apt/lists/*`;
}

/**
 * RUN lines that install, in the runtime stage, the OS packages the app needs
 * at run time out of those the build stage installs (compilers and headers
 * stay behind; `-dev` packages map to their runtime libraries); refuses what it cannot map.
 */
export function runtimePackageLines(
  model: DockerfileModel,
  stage: Stage,
  start: StartCommand,
  osPackages: readonly OsInstall[],
  image: { raw: string; alpine: boolean; family: string; providedDev?: Set<string> },
): string[] {
  const mentions = [
    start.text,
    ...stage.instructions.filter((i) => i.keyword === "HEALTHCHECK").map((i) => i.text),
  ].join("\n");
  // One line per manager and set of apt options, in the order of the original installs.
  const groups = new Map<string, { manager: PackageManager; options: string[]; packages: string[] }>();
  for (const o of osPackages) {
    if (o.manager === "yum")
      refuse(`${quote(o.instr)} installs with yum on a ${image.family} image`, o.instr);
    if (o.packages.includes("$?")) refuse(`${quote(o.instr)} installs packages named by variables`, o.instr);
    if ((o.manager === "apk") !== image.alpine)
      refuse(`${quote(o.instr)} uses ${o.manager} on ${image.raw}`, o.instr);
    const cls = classifyInterpretedPackages(o.manager, o.packages, {
      providedDev: image.providedDev,
      image: image.raw,
      neededAtRuntime: o.packages.filter((p) => new RegExp(`\\b${escapeRegExp(p)}\\b`).test(mentions)),
    });
    if (cls.unknownDev.length) refuse(`installs ${cls.unknownDev[0]}: ${cls.unknownWhy[0]}`, o.instr);
    const options = o.manager === "apt" ? aptOptions([o]) : [];
    if (options === null) refuse(`${quote(o.instr)} names its apt options with variables`, o.instr);
    const key = [o.manager, ...options].join("\0");
    const group = groups.get(key) ?? { manager: o.manager, options, packages: [] };
    group.packages.push(...cls.runtime);
    groups.set(key, group);
  }
  const lines: string[] = [];
  for (const g of groups.values())
    if (g.packages.length) lines.push(installLine(model, g.manager, [...new Set(g.packages)], g.options));
  return lines;
}

/** Packages only the build of a compiled app needs (adds fetch tools and other toolchains). */
const COMPILED_BUILD_ONLY = new Set([
  ...TOOLCHAIN_PACKAGES,
  "llvm",
  "bzr",
  "curl",
  "wget",
  "zip",
  "tar",
  "gnupg2",
  "upx",
  "upx-ucl",
  "protobuf-compiler",
  "protoc",
  "musl-tools",
  "alpine-sdk",
  "binutils",
  "file",
  "nodejs",
  "npm",
  "yarn",
  "maven",
  "gradle",
  "go",
  "rustc",
  "lsb-release",
  "sudo",
  "bash",
  "ssh",
]);

/** The OpenSSL runtime library of a Debian release. */
export function libsslFor(codename: string): string {
  return codename === "bullseye" || codename === "buster"
    ? "libssl1.1"
    : codename === "bookworm"
      ? "libssl3"
      : "libssl3t64";
}

/** `-dev` packages whose libraries every Debian image has (dpkg depends on them). */
const IN_EVERY_DEBIAN_IMAGE = new Set(["zlib1g-dev", "libzstd-dev"]);

export interface RuntimePackages {
  manager: PackageManager | null;
  runtime: string[];
  dropped: string[];
  /** Options for the runtime apt install: those of the installs the runtime packages come from (see `aptOptions`). */
  aptOptions: string[] | null;
}

/**
 * Splits the OS packages installed before the build into runtime packages
 * (kept for the runtime stage; `-dev` packages mapped to their runtime
 * libraries, see `devLibraries`) and build-only ones (dropped). Refuses a
 * `-dev` package whose runtime library is not certain: the binary may link it.
 */
export function classifyPackages(
  installs: OsInstall[],
  codename: string,
  neededByRuntime: Set<string> = new Set(),
): RuntimePackages {
  const runtime: string[] = [];
  const dropped: string[] = [];
  let manager: PackageManager | null = null;
  const sources = new Set<OsInstall>();
  for (const inst of installs) {
    for (const p of inst.packages) {
      const isDev = /-(dev|devel|headers)$/.test(p);
      if (neededByRuntime.has(p) || (!isDev && !COMPILED_BUILD_ONLY.has(p))) {
        if (!runtime.includes(p)) runtime.push(p);
        manager = inst.manager;
        sources.add(inst);
        continue;
      }
      dropped.push(p);
      if (!isDev || IN_EVERY_DEBIAN_IMAGE.has(p) || COMPILED_BUILD_ONLY.has(p)) continue;
      if (inst.manager === "yum")
        refuse(`installs ${p} with yum: its runtime library is not known`, inst.instr);
      const found = devLibraries(inst.manager, p, `debian:${codename}`, codename);
      if ("why" in found) refuse(`installs ${p}: ${found.why}`, inst.instr);
      for (const lib of found.libraries) {
        if (runtime.includes(lib)) continue;
        runtime.push(lib);
        manager = inst.manager;
        sources.add(inst);
      }
    }
  }
  return { manager, runtime, dropped, aptOptions: aptOptions([...sources]) };
}
