/**
 * The output of the compiled-ecosystem planners: the stage classified around
 * the build step (`layout`) and turned into edits (`assemble`) that add
 * ` AS build`, move the runtime-only instructions and append the runtime stage.
 */
import { argDeclarations, type DockerfileModel, type Instr, envPairs } from "../../../src/engine/parse.ts";
import { isInside, resolvePath } from "../../../src/engine/paths.ts";
import type { ShellCommand } from "../../../src/engine/shell.ts";
import { keyword, removeInstruction } from "../../../src/engine/style.ts";
import type { Edit } from "../../../src/engine/types.ts";
import { baseImage } from "./images.ts";
import { RUNTIME_ONLY } from "./instructions.ts";
import { type OsInstall, packageInstalls } from "./packages.ts";
import { placement } from "./placed-files.ts";
import { refuse } from "./refuse.ts";
import { commandName, runCommands } from "./shell.ts";
import { runCwd, type StageWalk, variablesIn } from "./walk.ts";
import type { SplitInput, SplitOutcome } from "../types.ts";

/** Commands a RUN before the build may use without affecting the runtime image. */
const PRE_BUILD_COMMANDS = new Set([
  "apt-get",
  "apt",
  "apk",
  "yum",
  "dnf",
  "microdnf",
  "rm",
  "mkdir",
  "cd",
  "echo",
  "ls",
  "true",
  "pwd",
  "export",
  "set",
  "go",
  "cargo",
  "rustup",
  "rustc",
  "mvn",
  "mvnw",
  "gradle",
  "gradlew",
  "dotnet",
  "chmod",
  "dos2unix",
  "sed",
  "update-ca-certificates",
  "env",
  "which",
]);

/** Commands a RUN after the build may use (tidying the build stage only). */
const POST_BUILD_COMMANDS = new Set(["rm", "ls", "echo", "true", "pwd", "du", "chmod", "strip"]);

export interface Layout {
  /** The build stage's name (existing `AS x` or `build`). */
  buildName: string;
  /** Instructions copied into the runtime stage, in order (moved or duplicated). */
  runtime: Instr[];
  /** Instructions removed from the build stage. */
  moved: Set<Instr>;
  /** OS package installs before the build. */
  installs: OsInstall[];
  /** The original USER instruction that applies at run time, if any. */
  user: Instr | null;
  cmd: Instr | null;
  entrypoint: Instr | null;
  /** Paths `rm`ed after the build (null: could not tell which). */
  removed: Array<{ path: string | null; line: number }>;
  /** Paths the build RUN and the RUNs after it put in place with `cp`/`mv`: the runtime stage copies them. */
  placed: Array<{ path: string; line: number }>;
}

export interface LayoutOptions {
  /** RUNs after `build` the ecosystem accepts (e.g. a `cp` of the artifact). */
  acceptPostBuild?: (instr: Instr) => boolean;
  /** Pre-build RUN commands the ecosystem also accepts. */
  extraPreBuildCommands?: string[];
  /** Commands next to the build command in the build RUN the ecosystem accepts. */
  acceptInBuild?: (cmd: ShellCommand) => boolean;
  /** The build command itself (always accepted). */
  buildCommand?: ShellCommand;
  /**
   * Base-image variables the planner declares again in the runtime stage
   * (e.g. golang's GOPATH), so runtime instructions may use them.
   */
  redeclaredEnv?: string[];
}

/**
 * Classifies the stage around the last build step `build`: what is moved,
 * what is duplicated into the runtime stage, and refuses what cannot be
 * carried over safely.
 */
export function layout(input: SplitInput, walk: StageWalk, build: Instr, opts: LayoutOptions = {}): Layout {
  const { model, stage } = input;
  const runtime: Instr[] = [];
  const moved = new Set<Instr>();
  const installs: OsInstall[] = [];
  let user: Instr | null = null;
  let cmd: Instr | null = null;
  let entrypoint: Instr | null = null;
  const removed: Array<{ path: string | null; line: number }> = [];
  const placed: Array<{ path: string; line: number }> = [];
  const folders = new Set([...walk.cwd.values()].filter((d): d is string => d !== null));
  /** Follows a `cp`/`mv` at or after the build: what it puts in place goes to the runtime stage. */
  const follow = (instr: Instr, c: ShellCommand, where: string) => {
    const cwd = runCwd(input, walk, instr, c);
    const p = placement(
      c,
      cwd,
      (raw) => walk.expand(raw, instr),
      (d) => folders.has(d) || d === cwd,
    );
    if ("why" in p) refuse(`${where}'s \`${commandName(c)}\` cannot be followed: ${p.why}`, instr.line);
    for (const path of p.placed) placed.push({ path, line: instr.line });
    // A moved pattern takes from the folder it names (`dist/*` → dist).
    for (const path of p.moved) removed.push({ path: path.replace(/\/[^/]*[*?[].*$/, ""), line: instr.line });
  };
  const preOk = new Set([...PRE_BUILD_COMMANDS, ...(opts.extraPreBuildCommands ?? [])]);
  /** The paths an `rm` after the build removes (null: cannot tell which). */
  const recordRemoved = (instr: Instr, c: ShellCommand) => {
    const dir = runCwd(input, walk, instr, c);
    for (const a of c.args) {
      if (a.value?.startsWith("-")) continue;
      const p = dir === null ? null : walk.expand(a.value ?? a.raw.replace(/^"(.*)"$/, "$1"), instr);
      removed.push({ path: p === null || /[*?[]/.test(p) ? null : resolvePath(dir!, p), line: instr.line });
    }
  };
  for (const instr of stage.instructions) {
    const after = instr.start > build.start;
    const k = instr.keyword;
    if (k === "ONBUILD") refuse("ONBUILD triggers cannot be split", instr.line);
    if (k === "SHELL") refuse("SHELL changes the shell; the runtime image may lack it", instr.line);
    if (k === "CMD") cmd = instr;
    if (k === "ENTRYPOINT") entrypoint = instr;
    if (RUNTIME_ONLY.has(k)) {
      runtime.push(instr);
      moved.add(instr);
    } else if (k === "USER") {
      user = instr;
      runtime.push(instr);
      if (after) moved.add(instr);
    } else if (k === "ENV" || k === "WORKDIR") {
      runtime.push(instr);
    } else if (k === "COPY" || k === "ADD") {
      if (!after) continue;
      if (instr.flags.some((f) => f.name === "from"))
        refuse(`${k} --from after the build: cannot tell what the runtime needs`, instr.line);
      const chown = instr.flags.find((f) => f.name === "chown");
      if (chown && !/^\d+(:\d+)?$/.test(chown.value ?? "")) {
        refuse(
          `${k} --chown=${chown.value} after the build names a user the runtime image may lack`,
          instr.line,
        );
      }
      runtime.push(instr);
      moved.add(instr);
    } else if (k === "RUN" && instr === build) {
      for (const c of runCommands(model, instr)) {
        const name = commandName(c);
        if (c === opts.buildCommand || c.start === opts.buildCommand?.start) continue;
        if (opts.acceptInBuild?.(c)) continue;
        if (name === "cp" || name === "mv") {
          follow(instr, c, "the build RUN");
          continue;
        }
        if (!preOk.has(name) && !POST_BUILD_COMMANDS.has(name)) {
          refuse(`the build RUN also runs \`${name}\`, which may prepare files for run time`, instr.line);
        }
        if (name === "rm" && opts.buildCommand && c.start > opts.buildCommand.start) recordRemoved(instr, c);
      }
      installs.push(...packageInstalls(model, instr));
    } else if (k === "RUN") {
      if (after) {
        if (opts.acceptPostBuild?.(instr)) continue;
        for (const c of runCommands(model, instr)) {
          if (commandName(c) === "rm") recordRemoved(instr, c);
          if (commandName(c) === "cp" || commandName(c) === "mv") {
            follow(instr, c, "a RUN after the build");
            continue;
          }
          if (!POST_BUILD_COMMANDS.has(commandName(c))) {
            refuse(
              `RUN after the build (\`${commandName(c)}\`) prepares the image for run time; cannot tell what the runtime stage needs`,
              instr.line,
            );
          }
        }
      } else {
        for (const c of runCommands(model, instr)) {
          const name = commandName(c);
          if (!preOk.has(name)) {
            refuse(
              `RUN before the build runs \`${name}\`, which may install something the app uses at run time`,
              instr.line,
            );
          }
        }
        installs.push(...packageInstalls(model, instr));
      }
    }
  }
  // ARGs the runtime instructions refer to are re-declared there.
  const used = new Set(runtime.flatMap((i) => variablesIn(i.text)));
  const args = [...model.globalArgs, ...stage.instructions].filter(
    (i) => i.keyword === "ARG" && argDeclarations(i).some(([n]) => used.has(n)),
  );
  for (const a of args.reverse()) runtime.unshift(a);
  // Variables the runtime instructions use must come from the file, not the build image.
  const defined = new Set<string>([...model.globalArgValues.keys(), ...(opts.redeclaredEnv ?? [])]);
  for (const i of [...model.globalArgs, ...stage.instructions]) {
    if (i.keyword === "ENV") for (const [n] of envPairs(i)) defined.add(n);
    if (i.keyword === "ARG") for (const [n] of argDeclarations(i)) defined.add(n);
  }
  for (const i of runtime) {
    if (i.keyword === "CMD" || i.keyword === "ENTRYPOINT" || i.keyword === "HEALTHCHECK") continue;
    for (const v of variablesIn(i.text)) {
      if (!defined.has(v) && v !== "PATH") {
        refuse(
          `${i.keyword} uses $${v}, which the build image defines and the runtime image does not`,
          i.line,
        );
      }
    }
  }
  return {
    buildName: stage.name ?? "build",
    runtime,
    moved,
    installs,
    user,
    cmd,
    entrypoint,
    removed,
    placed,
  };
}

/** The comment lines directly above `instr` (none above `floorLine`): they go where it goes. */
export function commentLinesAbove(model: DockerfileModel, instr: Instr, floorLine: number): number[] {
  const out: number[] = [];
  for (let l = instr.line - 1; l > floorLine; l--) {
    if (!model.comments.some((x) => x.line === l)) break;
    out.unshift(l);
  }
  return out;
}

export interface RuntimeStage {
  /** Image for the runtime FROM (without registry prefix). */
  image: string;
  /** Lines right after FROM (package installs, user creation). */
  setup: string[];
  /** Artifacts copied from the build stage: absolute paths, with the owner to give them (`--chown`). */
  artifacts: Array<{ from: string; to: string; chown?: string }>;
  /** Lines after the artifacts (e.g. `USER app`). */
  afterArtifacts?: string[];
  /** Replacement text for runtime instructions (e.g. CMD in exec form); `null` drops one. */
  replace?: Map<Instr, string | null>;
  /** Edits inside the build stage (e.g. `CGO_ENABLED=0`). */
  buildEdits: Edit[];
  message: string;
}

/**
 * Turns the layout and runtime stage into edits: ` AS build` on the FROM,
 * runtime-only instructions (and the comments right above them) moved out of
 * the build stage, and the runtime stage appended after the last build-stage
 * instruction.
 */
export function assemble(input: SplitInput, lay: Layout, rt: RuntimeStage): SplitOutcome {
  const { model, stage, options } = input;
  const eol = model.source.eol;
  // Files a cp/mv put in place, unless an artifact holds them already or a later rm takes them away.
  const artifacts = [...rt.artifacts];
  for (const p of lay.placed) {
    if (artifacts.some((a) => isInside(p.path, a.to))) continue;
    const gone = lay.removed.find((r) => r.line > p.line && r.path !== null && isInside(p.path, r.path));
    if (!gone) artifacts.push({ from: p.path, to: p.path });
  }
  for (const a of artifacts) {
    const gone = lay.removed.find((r) => r.path === null || isInside(a.from, r.path));
    if (gone)
      refuse(`the RUN on line ${gone.line} removes files after the build; ${a.from} may be gone`, gone.line);
  }
  const edits: Edit[] = [...rt.buildEdits];
  if (!stage.name) {
    const image = stage.image!;
    edits.push({ start: image.rawSpan.end, end: image.rawSpan.end, text: ` ${keyword(model, "AS")} build` });
  }
  const kept = stage.instructions.filter((i) => !lay.moved.has(i));
  const lastKept = kept.length > 0 ? kept[kept.length - 1] : stage.from;
  const tailStart = model.lineEndIncludingEol(model.lineStart(lastKept.endLine));
  const lineText = (i: Instr) => {
    const t = model.text.slice(
      model.lineStart(i.line),
      model.lineEndIncludingEol(model.lineStart(i.endLine)),
    );
    return t.endsWith("\n") ? t.replace(/\r?\n$/, "") : t;
  };
  const fromLine = model.lineOf(stage.from.start);
  const attached = (i: Instr) => commentLinesAbove(model, i, fromLine);
  const lineOnly = (l: number) => {
    const s = model.lineStart(l);
    return model.text.slice(s, model.lineEndIncludingEol(s)).replace(/\r?\n$/, "");
  };
  // Moved instructions above the tail: delete their lines (and attached comments).
  const movedText = new Map<Instr, string[]>();
  for (const i of lay.moved) {
    const comments = attached(i);
    movedText.set(i, [...comments.map(lineOnly), lineText(i)]);
    if (i.start >= tailStart) continue;
    const first = comments.length > 0 ? comments[0] : i.line;
    const rm = removeInstruction(model, i);
    rm.start = model.lineStart(first);
    const before = first > 1 ? lineOnly(first - 1).trim() : "x";
    const nextLine = model.lineOf(rm.end);
    if (rm.end < tailStart && before === "" && lineOnly(nextLine).trim() === "") {
      rm.end = model.lineEndIncludingEol(rm.end);
    }
    edits.push(rm);
  }
  // Tail comments not attached to a moved instruction go at the end of the runtime stage.
  const attachedLines = new Set([...lay.moved].flatMap((i) => attached(i)));
  const looseComments = model.comments.filter(
    (c) =>
      c.start >= tailStart &&
      !attachedLines.has(c.line) &&
      !stage.instructions.some((i) => c.line >= i.line && c.line <= i.endLine),
  );

  const k = (w: string) => keyword(model, w);
  const out: string[] = [];
  out.push(`${k("FROM")} ${baseImage(options, rt.image)}`);
  out.push(...rt.setup);
  const artifactLines = artifacts.map(
    (a) => `${k("COPY")} --from=${lay.buildName}${a.chown ? ` --chown=${a.chown}` : ""} ${a.from} ${a.to}`,
  );
  let placed = false;
  const place = () => {
    if (placed) return;
    placed = true;
    out.push(...artifactLines, ...(rt.afterArtifacts ?? []));
  };
  let prevEnd: number | null = null;
  for (const i of lay.runtime) {
    const early = ["ENV", "WORKDIR", "ARG", "LABEL", "MAINTAINER"].includes(i.keyword);
    if (!early) place();
    // Keep one blank line where the original had one between tail instructions.
    if (prevEnd !== null && i.start >= tailStart && lay.moved.has(i)) {
      const first = attached(i)[0] ?? i.line;
      const gap = model.text.slice(prevEnd, model.lineStart(first));
      if (/\n[ \t]*\r?\n/.test(gap) || /^[ \t]*\r?\n/.test(gap)) out.push("");
    }
    if (i.start >= tailStart) {
      // Loose comments of the tail keep their place among the moved instructions.
      while (looseComments.length > 0 && looseComments[0].start < i.start)
        out.push(lineOnly(looseComments.shift()!.line));
    }
    const replaced = rt.replace?.get(i);
    if (replaced === null) continue;
    const lines = lay.moved.has(i) ? movedText.get(i)! : [lineText(i)];
    if (replaced !== undefined) out.push(...lines.slice(0, -1), replaced);
    else out.push(...lines);
    prevEnd = i.start >= tailStart ? model.lineEndIncludingEol(model.lineStart(i.endLine)) : null;
  }
  place();
  for (const c of looseComments) out.push(lineOnly(c.line));
  const tail = eol + out.map((l) => l + eol).join("");
  const lastKeptLineHasEol = model.text.slice(0, tailStart).endsWith("\n");
  edits.push({ start: tailStart, end: model.text.length, text: (lastKeptLineHasEol ? "" : eol) + tail });
  return { kind: "rewrite", edits, message: rt.message };
}
