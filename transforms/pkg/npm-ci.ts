import path from "node:path/posix";
import { parseDockerignore } from "../../src/engine/dockerignore-rules.ts";
import { globContext, hasGlob } from "../../src/engine/glob.ts";
import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import { contextPath, isInside } from "../../src/engine/paths.ts";
import { parentStage } from "../lib/stages.ts";
import type { BuildContext, Change, Refusal, Transform } from "../../src/engine/types.ts";
import {
  change,
  operands,
  refusal,
  runScripts,
  toolCalls,
  type RunScript,
  type ToolCall,
} from "./shell-edits.ts";

/** Stand-in for the base image's WORKDIR when the stage sets none: relative paths stay consistent. */
const BASE_WD = "/\u0000wd";

/** npm install flags that npm ci accepts with the same meaning. */
const CI_FLAGS = new Set([
  "--production",
  "--only=prod",
  "--only=production",
  "--omit=dev",
  "--omit=optional",
  "--omit=peer",
  "--no-optional",
  "--ignore-scripts",
  "--legacy-peer-deps",
  "--strict-peer-deps",
  "--no-audit",
  "--no-fund",
  "--unsafe-perm",
  "--silent",
  "-s",
  "-q",
  "--quiet",
  "--no-progress",
  "--prefer-offline",
  "--prefer-online",
  "--no-update-notifier",
  "--verbose",
  "-d",
  "--include=dev",
  "--include=optional",
  "--foreground-scripts",
]);
const CI_VALUE_FLAGS = new Set(["--loglevel", "--registry", "--cache"]);

type Origin = { kind: "context"; path: string } | { kind: "unknown"; why: string; line: number };

/** Context paths a COPY source names (globs expanded against the context). */
function expandSource(ctx: BuildContext, src: string): string[] {
  const rel = path.normalize(src.replace(/^\/+/, "") || ".");
  return hasGlob(rel) ? globContext(ctx, contextPath(rel)) : [rel];
}

/** Which build-context file each COPY before `run` leaves at the image path `target`. */
function originOf(
  model: DockerfileModel,
  ctx: BuildContext,
  stageInstrs: Instr[],
  run: Instr,
  target: string,
  workdirs: Map<Instr, string>,
): Origin | null {
  let origin: Origin | null = null;
  for (const i of stageInstrs) {
    if (i.start >= run.start) break;
    if (i.keyword !== "COPY" && i.keyword !== "ADD") continue;
    if (i.execForm || i.hasHeredoc || i.args.length < 2) {
      origin = { kind: "unknown", why: "a COPY dfopt cannot read", line: i.line };
      continue;
    }
    const wd = workdirs.get(i)!;
    const rawDest = i.args[i.args.length - 1].value;
    const dest = path.resolve(wd, rawDest);
    const srcs = i.args.slice(0, -1).map((a) => a.value);
    const fromOther = i.flags.some((f) => f.name === "from");
    const destIsDir =
      rawDest.endsWith("/") ||
      rawDest === "." ||
      rawDest === ".." ||
      srcs.length > 1 ||
      srcs.some(hasGlob) ||
      [...workdirs.values()].some((w) => isInside(w, dest));
    if (!isInside(target, dest) && !(destIsDir && path.dirname(target) === dest)) continue;
    if (
      rawDest.includes("$") ||
      fromOther ||
      srcs.some(
        (s) =>
          s.includes("$") ||
          /^[a-z]+:\/\//i.test(s) ||
          (i.keyword === "ADD" && /\.(tar|tgz|gz|bz2|xz|zst)$/.test(s)),
      )
    ) {
      origin = { kind: "unknown", why: `line ${i.line} may write it from elsewhere`, line: i.line };
      continue;
    }
    for (const src of srcs) {
      for (const p of expandSource(ctx, src)) {
        if (ctx.isDirectory(p)) {
          if (isInside(target, dest) && target !== dest)
            origin = { kind: "context", path: path.join(p, path.relative(dest, target)) };
        } else if (destIsDir ? path.join(dest, path.basename(p)) === target : dest === target) {
          origin = { kind: "context", path: p };
        }
      }
    }
  }
  return origin;
}

/** workdirsOf per stage (its instruction list): asked once per npm install, it would be quadratic in the stage. */
const workdirsOfStage = new WeakMap<Instr[], Map<Instr, string> | null>();

function workdirsOf(stageInstrs: Instr[]): Map<Instr, string> | null {
  if (workdirsOfStage.has(stageInstrs)) return workdirsOfStage.get(stageInstrs)!;
  const out = readWorkdirs(stageInstrs);
  workdirsOfStage.set(stageInstrs, out);
  return out;
}

/** WORKDIR in force at each instruction of the stage (null entries: unknown). */
function readWorkdirs(stageInstrs: Instr[]): Map<Instr, string> | null {
  let wd = BASE_WD;
  const out = new Map<Instr, string>();
  for (const i of stageInstrs) {
    if (i.keyword === "WORKDIR") {
      const v = i.args.map((a) => a.value).join(" ");
      if (v.includes("$") || v === "") return null;
      wd = path.resolve(wd, v);
    }
    out.set(i, wd);
  }
  return out;
}

/** Every dependency of a package.json (or a lock's root), in a record without a prototype (`__proto__` is a name). */
const deps = (pkg: Record<string, unknown>) => {
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of ["dependencies", "devDependencies", "optionalDependencies"]) {
    const v = pkg[k];
    if (v && typeof v === "object") for (const [name, spec] of Object.entries(v)) out[name] = spec;
  }
  return out;
};

/** The lock file matches package.json (npm ci fails otherwise); null when it does, or why not. */
function lockMismatch(pkgText: string, lockText: string): string | null {
  let pkg: Record<string, unknown>;
  let lock: Record<string, unknown>;
  try {
    pkg = JSON.parse(pkgText) as Record<string, unknown>;
    lock = JSON.parse(lockText) as Record<string, unknown>;
  } catch {
    return "package.json or its lock file is not valid JSON";
  }
  if (pkg.workspaces) return "package.json uses workspaces";
  const wanted = deps(pkg);
  const version = Number(lock.lockfileVersion ?? 1);
  const root = (lock.packages as Record<string, Record<string, unknown>> | undefined)?.[""];
  if (version >= 2 && root) {
    const locked = deps(root);
    const a = Object.keys(wanted).sort();
    const b = Object.keys(locked).sort();
    if (a.join("\0") !== b.join("\0") || a.some((k) => wanted[k] !== locked[k]))
      return "the lock file does not match package.json's dependencies";
    return null;
  }
  const lockedDeps = (lock.dependencies as Record<string, unknown>) ?? {};
  if (Object.keys(wanted).some((k) => !Object.hasOwn(lockedDeps, k)))
    return "the lock file does not list every dependency of package.json";
  return null;
}

/** The base image is a node image whose npm has `npm ci` (npm ≥ 5.7, node ≥ 10). */
function npmHasCi(model: DockerfileModel, stage: number): boolean {
  const img = model.stages[stage].image;
  if (!img || !/(^|\/)node$/.test(img.name)) return false;
  const major = /^(\d+)/.exec(img.tag ?? "latest");
  return major ? Number(major[1]) >= 10 : true;
}

function planCi(model: DockerfileModel, ctx: BuildContext, rs: RunScript, call: ToolCall): Change | Refusal {
  const no = (why: string) => refusal(model, call.sub!.start, `npm install kept: ${why}`, []);
  const stage = model.stages[rs.instr.stage];
  if (parentStage(model, stage) !== null) return no("the stage is built FROM another stage");
  if (!npmHasCi(model, stage.index))
    return no("the base image is not a node:10+ image, so npm may lack `npm ci`");
  if (call.prefix.length > 0) return no("npm runs under sudo/env");
  for (const w of call.words.slice(1)) {
    if (w.value === null) return no(`\`${w.raw}\` is not a literal`);
  }
  const before = call.words.slice(1, call.subIndex).map((w) => w.value!);
  if (before.length > 0) return no(`npm options before install (${before.join(" ")})`);
  for (let k = call.subIndex + 1; k < call.words.length; k++) {
    const v = call.words[k].value!;
    if (CI_VALUE_FLAGS.has(v)) {
      k++;
      continue;
    }
    if (CI_FLAGS.has(v) || [...CI_VALUE_FLAGS].some((f) => v.startsWith(f + "="))) continue;
    return no(`\`${v}\` is not known to mean the same for npm ci`);
  }
  // Where does the RUN run? No `cd` before the call in this RUN.
  if (
    rs.script.commands.some(
      (c) => c.start < call.cmd.start && (c.name?.value === "cd" || c.name?.value === "pushd"),
    )
  )
    return no("the RUN changes directory before npm install");
  const workdirs = workdirsOf(stage.instructions);
  if (!workdirs) return no("a WORKDIR uses a variable");
  for (const i of stage.instructions) {
    if (i.start >= rs.instr.start) break;
    if (i.keyword === "RUN" && /\b(npm|yarn|pnpm|npx)\b|package-lock|node_modules/.test(i.text))
      return no(`an earlier RUN (line ${i.line}) already uses npm or node_modules`);
  }
  const cwd = workdirs.get(rs.instr)!;
  const pkg = originOf(model, ctx, stage.instructions, rs.instr, path.join(cwd, "package.json"), workdirs);
  if (!pkg || pkg.kind === "unknown")
    return no(
      pkg
        ? `cannot tell where package.json comes from (${pkg.why})`
        : "no package.json is copied into the RUN's directory",
    );
  let lockPath: string | null = null;
  for (const name of ["npm-shrinkwrap.json", "package-lock.json"]) {
    const lock = originOf(model, ctx, stage.instructions, rs.instr, path.join(cwd, name), workdirs);
    if (lock?.kind === "unknown") return no(`cannot tell where ${name} comes from (${lock.why})`);
    if (lock && ctx.exists(lock.path) && !ctx.isDirectory(lock.path)) {
      if (path.dirname(lock.path) !== path.dirname(pkg.path))
        return no(`${name} and package.json come from different folders`);
      lockPath = lock.path;
      break;
    }
  }
  if (!lockPath) return no("no package-lock.json or npm-shrinkwrap.json next to package.json is copied in");
  const pkgText = ctx.readFile(pkg.path);
  const lockText = ctx.readFile(lockPath);
  if (pkgText === undefined || lockText === undefined)
    return no("package.json or the lock file is not in the build context");
  const dockerignore = ctx.readFile(".dockerignore");
  if (dockerignore !== undefined) {
    const ignored = parseDockerignore(dockerignore);
    for (const p of [pkg.path, lockPath])
      if (ignored.ignores(p)) return no(`${p} is excluded by .dockerignore`);
  }
  const mismatch = lockMismatch(pkgText, lockText);
  if (mismatch) return no(mismatch);
  return change(
    model,
    call.sub!.start,
    [{ start: call.sub!.start, end: call.sub!.end, text: "ci" }],
    `npm ${call.sub!.value} → npm ci (${lockPath} is copied in)`,
    [],
  );
}

export const npmCi: Transform = {
  id: "npm-ci",
  description: "npm install (no package names) → npm ci when the lock file is copied in",
  rationale:
    "`npm install` may resolve newer versions than the lock file records and rewrites it; `npm ci` " +
    "installs exactly the locked tree, faster. The rewrite is made only when dfopt can follow the " +
    "COPY/WORKDIR instructions of the stage to a package.json and package-lock.json (or " +
    "npm-shrinkwrap.json) from the same folder of the build context, not excluded by .dockerignore, whose " +
    "dependencies agree (npm ci fails on a stale lock), on a node:10+ base image (npm ci needs npm 5.7), " +
    "with flags npm ci accepts. Otherwise it refuses and says why.",
  applicability: "unsafe",
  reads: ["RUN", "SHELL", "COPY", "ADD", "WORKDIR"],
  applicabilityNote:
    "npm ci installs exactly the lock file: where the lock is out of date in ways dfopt does not check (nested dependencies, an older lockfileVersion), npm install would have repaired it and npm ci fails or installs another tree.",
  rules: [],
  run({ model, context }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["npm"])) {
        if (call.sub?.value !== "install" && call.sub?.value !== "i") continue;
        if (operands(call, CI_VALUE_FLAGS).length > 0) continue;
        const r = planCi(model, context, rs, call);
        if ("edits" in r) changes.push(r);
        else refusals.push(r);
      }
    }
    return { changes, refusals };
  },
};
