import type { Instr } from "../../src/engine/parse.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { keyword } from "../../src/engine/style.ts";
import type { BuildContext } from "../../src/engine/types.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { basename, resolvePath } from "../../src/engine/paths.ts";
import { assemble, layout } from "./toolkit/assemble.ts";
import { debianCodename } from "../lib/debian-release.ts";
import { shortName } from "./toolkit/images.ts";
import { classifyPackages, installLine, libsslFor, runtimeAptOptions } from "./toolkit/packages.ts";
import { guarded, refuse } from "./toolkit/refuse.ts";
import { argumentFiles, healthcheckTools, runtimeFiles } from "./toolkit/runtime-files.ts";
import { commandName, commandWords, execForm } from "./toolkit/shell.ts";
import { lowPort, lowPortNote } from "../lib/ports.ts";
import { appUserLines, checkOriginalUser } from "./toolkit/users.ts";
import { contextPathOf, imagePathOf, runCwd, runsWith, walkStage } from "./toolkit/walk.ts";
import { envPairs } from "../../src/engine/parse.ts";

/**
 * Rust: the build stage keeps `cargo build --release` (or `cargo install`);
 * the runtime stage is `debian:<same codename>-slim` with the binary, the
 * shared libraries its crates link (libssl, libpq, ...), CA certificates
 * when it talks TLS, and the original CMD/ENTRYPOINT.
 */

const CARGO_HOME = "/usr/local/cargo";
const PATH_DIRS = [
  `${CARGO_HOME}/bin`,
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

function isCargoBuild(cmd: ShellCommand): boolean {
  return commandName(cmd) === "cargo" && (cmd.args[0]?.value === "build" || cmd.args[0]?.value === "install");
}

export const rust: EcosystemPlanner = {
  id: "rust",
  detect(input) {
    const image = input.stage.image;
    if (image && /^(rust|rustlang\/rust)$/.test(shortName(image.name)))
      return runsWith(input, isCargoBuild).length > 0 || input.context.exists("Cargo.toml");
    return runsWith(input, isCargoBuild).length > 0;
  },
  plan: (input) => guarded(() => planRust(input)),
};

/**
 * Debian codename of a rust image. Assumption: untagged/`latest`/nightly and
 * 1.89+ are trixie, 1.70–1.88 bookworm, older bullseye (the images' default
 * variant when each release came out).
 */
export function rustCodename(name: string, tag: string | null): string | null {
  const explicit = debianCodename(tag);
  if (explicit) return explicit;
  if (/alpine/.test(tag ?? "")) return null;
  const repo = shortName(name);
  if (repo === "rustlang/rust") return /^nightly(-slim)?$/.test(tag ?? "nightly") ? "trixie" : null;
  if (repo !== "rust") return null;
  if (tag === null || tag === "latest" || tag === "slim") return "trixie";
  const m = /^1\.(\d+)(\.\d+)?(-slim)?$/.exec(tag);
  if (!m) return null;
  const minor = Number(m[1]);
  return minor >= 89 ? "trixie" : minor >= 70 ? "bookworm" : "bullseye";
}

interface CargoBuild {
  out: string;
  profile: string;
  /** Binary name when the command selects one (`--bin x`). */
  bin: string | null;
  install: boolean;
}

function planRust(input: SplitInput) {
  const { model, stage, context, options } = input;
  const image = stage.image!;
  const codename = rustCodename(image.name, image.tag);
  if (!codename)
    refuse(
      `cannot tell the Debian release of ${image.expanded} (Alpine or unknown rust image)`,
      stage.from.line,
    );

  const builds = runsWith(input, isCargoBuild);
  if (builds.length === 0) refuse("no `cargo build` or `cargo install` step", null);
  if (builds.length > 1)
    refuse(
      `${builds.length} cargo build/install commands; cannot tell which binary the image runs`,
      builds[1].instr.line,
    );
  const { instr: buildInstr, cmd } = builds[0];
  const walk = walkStage(input, { workdir: "/", env: { CARGO_HOME } });
  const dir =
    runCwd(input, walk, buildInstr, cmd) ??
    refuse("cannot tell the directory cargo runs in", buildInstr.line);
  const cb = cargoArgs(input, buildInstr, cmd, dir);

  // Manifest and binary name.
  const ctxDir = contextPathOf(walk, dir, buildInstr);
  const manifestPath = ctxDir === null ? null : ctxDir ? `${ctxDir}/Cargo.toml` : "Cargo.toml";
  const manifest = manifestPath ? context.readFile(manifestPath) : undefined;
  if (!manifest) refuse(`no Cargo.toml for the build directory ${dir} in the build context`, buildInstr.line);
  const bins = binNames(manifest);
  const runtimeCwd = walk.finalCwd ?? refuse("cannot tell the final WORKDIR", null);
  let bin = cb.bin;
  if (!bin) {
    if (bins.workspace && bins.names.length === 0) {
      refuse(
        "Cargo workspace without `--bin`/`-p`: cannot tell which binary the image runs",
        buildInstr.line,
      );
    }
    if (bins.names.length === 1) bin = bins.names[0];
  }
  // The CMD may name the binary and settle which one.
  const entry = stage.instructions.filter((i) => i.keyword === "ENTRYPOINT" || i.keyword === "CMD");
  const ep = entry.filter((i) => i.keyword === "ENTRYPOINT").pop() ?? null;
  const cmdI = entry.filter((i) => i.keyword === "CMD").pop() ?? null;
  const main = ep ?? cmdI;
  if (!main) refuse("no CMD or ENTRYPOINT: cannot tell what the image runs", null);
  const mainWords = commandWords(model, main);
  const first = mainWords.words?.[0] ?? null;
  if (!bin && first) {
    const named = basename(first);
    if (bins.names.includes(named) || bins.workspace) bin = named;
  }
  if (!bin)
    refuse(
      `Cargo.toml declares ${bins.names.length} binaries (${bins.names.join(", ")}); cannot tell which one runs`,
      buildInstr.line,
    );
  if (bins.names.length > 0 && !bins.names.includes(bin) && !bins.workspace) {
    refuse(`${bin} is not a binary of ${manifestPath}`, buildInstr.line);
  }
  const built = cb.install ? `${cb.out}/${bin}` : `${cb.out}/${bin}`;
  const runtimePath = cb.install ? `/usr/local/bin/${bin}` : built;

  const lay = layout(input, walk, buildInstr, { buildCommand: cmd });
  checkOriginalUser(lay.user, ["root", "nobody"]);

  // CMD/ENTRYPOINT: the binary (path or PATH lookup), or `cargo run` of the same profile.
  const replace = new Map<Instr, string | null>();
  if (ep && cmdI && !ep.execForm) refuse("shell-form ENTRYPOINT with a CMD; cannot carry it over", ep.line);
  for (const instr of [ep, cmdI]) {
    if (!instr) continue;
    if (instr === cmdI && ep) break; // CMD holds the ENTRYPOINT's arguments
    const { words, shell } = instr === main ? mainWords : commandWords(model, instr);
    if (!words) {
      if (/\bcargo\b/.test(instr.text)) refuse(`${instr.keyword} runs cargo at run time`, instr.line);
      // Kept as written: it must name the binary by its path.
      const runs = /^\s*(?:exec\s+)?(\S+)/.exec(instr.args.map((a) => a.value).join(" "))?.[1] ?? "";
      if (resolvePath(runtimeCwd, runs) !== runtimePath) {
        refuse(`cannot read ${instr.keyword}; it does not start with the binary's path`, instr.line);
      }
      continue;
    }
    if (words[0] === "cargo") {
      const sub = words[1];
      if (sub !== "run") refuse(`${instr.keyword} runs cargo at run time`, instr.line);
      const runArgs = words.slice(2);
      const dd = runArgs.indexOf("--");
      const flags = dd === -1 ? runArgs : runArgs.slice(0, dd);
      const appArgs = dd === -1 ? [] : runArgs.slice(dd + 1);
      const profile = flags.includes("--release") || flags.includes("-r") ? "release" : "debug";
      const known = flags.every((f) =>
        ["--release", "-r", "--locked", "--frozen", "--offline", "-q", "--quiet"].includes(f),
      );
      if (cb.install || profile !== cb.profile || !known || (cb.bin === null && bins.names.length !== 1)) {
        refuse(
          `${instr.keyword} runs the build tool at run time (\`cargo run\`) with a different build than the RUN's`,
          instr.line,
        );
      }
      if (resolvePath(runtimeCwd, ".") !== dir)
        refuse("`cargo run` runs in another directory than the build", instr.line);
      replace.set(instr, `${instr.keywordText} ${execForm([runtimePath, ...appArgs])}`);
      continue;
    }
    const target = words[0].includes("/")
      ? resolvePath(runtimeCwd, words[0])
      : PATH_DIRS.map((d) => `${d}/${words[0]}`).find((p) => p === built);
    if (target !== built && !(cb.install && words[0] === bin)) {
      refuse(
        `${instr.keyword} runs \`${words[0]}\`, not the binary the build produces (${built})`,
        instr.line,
      );
    }
    if (target !== runtimePath && words[0] !== bin) {
      replace.set(
        instr,
        `${instr.keywordText} ${shell ? execForm([runtimePath, ...words.slice(1)]) : execForm([runtimePath, ...words.slice(1)])}`,
      );
    }
  }

  // Runtime libraries.
  const lock = ctxDir === null ? undefined : context.readFile(ctxDir ? `${ctxDir}/Cargo.lock` : "Cargo.lock");
  const libs = runtimeLibraries(manifest, lock, codename);
  const pk = classifyPackages(lay.installs, codename);
  if (pk.runtime.length > 0 && pk.manager !== "apt")
    refuse(
      `installs runtime packages with ${pk.manager} (${pk.runtime.join(", ")})`,
      lay.installs[0].instr.line,
    );
  const packages = [...new Set([...libs, ...pk.runtime, ...healthcheckTools(stage)])];
  if (packages.length > 0 && ["stretch", "buster", "jessie"].includes(codename)) {
    refuse(`debian:${codename} is archived; its runtime packages cannot be installed`, stage.from.line);
  }

  const low = lowPort(model, stage.instructions);
  const asRoot = low !== null && !lay.user;
  // Distroless cc (glibc, libgcc, libssl3, CA certificates) when asked for and enough.
  const distroless =
    options.runtimeFlavour === "distroless" &&
    codename === "bookworm" &&
    packages.every((p) => p === "ca-certificates" || p === "libssl3");
  if (distroless) {
    for (const i of [ep, cmdI]) {
      if (!i || replace.has(i)) continue;
      const { words } = commandWords(model, i);
      if (!words) refuse(`shell-form ${i.keyword} needs a shell; distroless has none`, i.line);
      if (i === main && words[0] !== runtimePath)
        replace.set(i, `${i.keywordText} ${execForm([runtimePath, ...words.slice(1)])}`);
      else if (!i.execForm) replace.set(i, `${i.keywordText} ${execForm(words)}`);
    }
    for (const i of stage.instructions) {
      if (i.keyword === "HEALTHCHECK" && !/^\s*NONE\b/i.test(i.args[0]?.value ?? ""))
        refuse("HEALTHCHECK needs tools distroless lacks", i.line);
    }
    checkOriginalUser(lay.user, ["root", "nonroot", "nobody"]);
  }
  const runtimeImage = distroless
    ? `gcr.io/distroless/cc-debian12${asRoot ? "" : ":nonroot"}`
    : `debian:${codename}-slim`;
  const artifacts = [
    { from: built, to: runtimePath },
    ...argumentFiles(walk, lay, runtimeCwd, [built, runtimePath]),
  ];
  const appCtx = contextPathOf(walk, runtimeCwd);
  if (appCtx !== null) {
    for (const rel of runtimeFiles(context, appCtx)) {
      const at = imagePathOf(walk, rel, buildInstr);
      if (at && !at.startsWith(resolvePath(dir, "target"))) artifacts.push({ from: at, to: at });
    }
  }
  const setup: string[] = [];
  if (packages.length > 0 && !distroless)
    setup.push(installLine(model, "apt", packages, runtimeAptOptions(pk, lay.installs)));
  const after: string[] = [];
  if (!lay.user && !asRoot && !distroless) {
    const [create, user] = appUserLines(model, "debian");
    setup.push(create);
    after.push(user);
  }
  if (!walk.setsWorkdir && artifacts.length > 1) setup.push(`${keyword(model, "WORKDIR")} ${runtimeCwd}`);
  const userNote = lay.user || !low ? "" : `; ${lowPortNote(low)}`;
  const assumed = debianCodename(image.tag) ? "" : ` (${image.tag ?? "untagged"} assumed ${codename})`;
  return assemble(input, lay, {
    image: runtimeImage,
    setup,
    artifacts,
    afterArtifacts: after,
    replace,
    buildEdits: [],
    message: `build stage on ${image.raw}, runtime stage on ${runtimeImage} with ${runtimePath}${packages.length && !distroless ? ` (+ ${packages.join(", ")})` : ""}${assumed}${userNote}`,
  });
}

function cargoArgs(input: SplitInput, instr: Instr, cmd: ShellCommand, dir: string): CargoBuild {
  const install = cmd.args[0].value === "install";
  const words = cmd.args.slice(1).map((a) => a.value);
  if (words.some((w) => w === null)) refuse("cargo arguments use shell expansions", instr.line);
  const w = words as string[];
  const value = (...names: string[]) => {
    for (let i = 0; i < w.length; i++) {
      for (const n of names) {
        if (w[i] === n) return w[i + 1] ?? null;
        if (w[i].startsWith(`${n}=`)) return w[i].slice(n.length + 1);
      }
    }
    return null;
  };
  for (const i of input.stage.instructions) {
    if (i.start > instr.start || i.keyword !== "ENV") continue;
    for (const [k] of envPairs(i)) {
      if (
        k === "CARGO_TARGET_DIR" ||
        k === "CARGO_BUILD_TARGET" ||
        k === "CARGO_INSTALL_ROOT" ||
        (k === "CARGO_HOME" && install)
      ) {
        refuse(`ENV ${k} moves cargo's output; not supported`, i.line);
      }
    }
  }
  if (/CARGO_TARGET_DIR|CARGO_BUILD_TARGET|CARGO_INSTALL_ROOT/.test(instr.text))
    refuse("the RUN moves cargo's output; not supported", instr.line);
  if (value("--manifest-path"))
    refuse("--manifest-path builds another crate's target dir; not supported", instr.line);
  const bin = value("--bin");
  const pkg = value("-p", "--package");
  if (w.includes("--bins") || w.includes("--examples") || w.includes("--example"))
    refuse("builds several binaries or examples", instr.line);
  if (install) {
    const path = value("--path");
    if (!path)
      refuse("`cargo install` of a crate from a registry or git: not this build context's app", instr.line);
    const root = value("--root");
    return {
      out: root ? `${resolvePath(dir, root)}/bin` : `${CARGO_HOME}/bin`,
      profile: "release",
      bin,
      install: true,
    };
  }
  let profile = w.includes("--release") || w.includes("-r") ? "release" : "debug";
  const named = value("--profile");
  if (named) profile = named === "dev" ? "debug" : named === "bench" ? "release" : named;
  const target = value("--target");
  const targetDir = value("--target-dir");
  const base = targetDir ? resolvePath(dir, targetDir) : resolvePath(dir, "target");
  return { out: `${base}${target ? `/${target}` : ""}/${profile}`, profile, bin: bin ?? pkg, install: false };
}

/** `[[bin]]` names, else the package name; `workspace` when the manifest is a virtual workspace. */
export function binNames(manifest: string): { names: string[]; workspace: boolean } {
  const names: string[] = [];
  let section = "";
  let pkgName: string | null = null;
  let autobins = true;
  let hasPackage = false;
  let workspace = false;
  for (const raw of manifest.split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    const sec = /^\[\[?\s*([^\]]+?)\s*\]\]?$/.exec(line);
    if (sec) {
      section = line.startsWith("[[") ? `[[${sec[1]}]]` : sec[1];
      if (section === "package") hasPackage = true;
      if (section === "workspace") workspace = true;
      continue;
    }
    const kv = /^([A-Za-z_-]+)\s*=\s*(.+)$/.exec(line);
    if (!kv) continue;
    const val = kv[2].trim().replace(/^["']|["']$/g, "");
    if (section === "package" && kv[1] === "name") pkgName = val;
    if (section === "package" && kv[1] === "autobins" && val === "false") autobins = false;
    if (section === "[[bin]]" && kv[1] === "name") names.push(val);
  }
  if (names.length === 0 && pkgName && autobins) names.push(pkgName);
  return { names, workspace: workspace && (!hasPackage || names.length === 0) };
}

/** Shared libraries and CA certificates the crates need at run time (Debian packages). */
export function runtimeLibraries(manifest: string, lock: string | undefined, codename: string): string[] {
  const ssl = libsslFor(codename);
  const t64 = codename === "trixie";
  const crates = new Set<string>();
  if (lock) for (const m of lock.matchAll(/^name\s*=\s*"([^"]+)"/gm)) crates.add(m[1]);
  const deps = manifest;
  const has = (c: string) =>
    crates.has(c) || (!lock && new RegExp(`^\\s*${c.replace(/-/g, "[-_]")}\\s*=`, "m").test(deps));
  const pkgs: string[] = [];
  const openssl =
    crates.has("openssl-sys") ||
    (!lock &&
      (has("openssl") ||
        has("native-tls") ||
        has("hyper-tls") ||
        has("git2") ||
        /native-tls/.test(deps) ||
        (has("reqwest") && !/reqwest[^\n]*rustls/.test(deps))));
  const tls =
    openssl ||
    has("rustls") ||
    has("ring") ||
    has("webpki-roots") ||
    has("reqwest") ||
    has("mongodb") ||
    has("hyper-rustls") ||
    has("ureq");
  if (tls) pkgs.push("ca-certificates");
  if (openssl) pkgs.push(ssl);
  if (has("pq-sys") || (!lock && /diesel[^\n]*postgres/.test(deps))) pkgs.push("libpq5");
  if (has("mysqlclient-sys")) pkgs.push("libmariadb3");
  if (has("libsqlite3-sys") && !/bundled/.test(deps)) pkgs.push("libsqlite3-0");
  if (has("curl-sys") || has("isahc")) pkgs.push(t64 ? "libcurl4t64" : "libcurl4");
  return pkgs;
}

export function manifestOf(context: BuildContext, dir: string): string | undefined {
  return context.readFile(dir ? `${dir}/Cargo.toml` : "Cargo.toml");
}
