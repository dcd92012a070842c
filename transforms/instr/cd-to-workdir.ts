import { absolutePath } from "../../src/engine/paths.ts";
import type { DockerfileModel, Instr, Span, Stage } from "../../src/engine/parse.ts";
import { shellOf, shellTree } from "../../src/engine/shell.ts";
import { readSuppressions } from "../../src/engine/suppress.ts";
import { indentAt, insertLinesAfter } from "../../src/engine/style.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { escapeRegExp } from "../lib/regexp.ts";
import {
  LITERAL_PATH,
  laterInStage,
  matchCase,
  slice,
  workdirsBefore,
  workdirValue,
  insertionPointBefore,
} from "./util.ts";

const RULES = ["DL3003", "DS-0013"];

/** Instructions whose meaning does not depend on the working directory. */
const CWD_FREE = new Set(["ENV", "ARG", "LABEL", "EXPOSE", "USER", "STOPSIGNAL", "SHELL", "MAINTAINER"]);

/** Folders every Linux base image has: `cd` into them cannot fail. */
const STANDARD_DIRS = new Set([
  "/",
  "/bin",
  "/etc",
  "/home",
  "/lib",
  "/opt",
  "/root",
  "/srv",
  "/tmp",
  "/usr",
  "/usr/bin",
  "/usr/lib",
  "/usr/local",
  "/usr/local/bin",
  "/usr/local/lib",
  "/usr/local/src",
  "/usr/share",
  "/usr/src",
  "/var",
  "/var/lib",
  "/var/log",
  "/var/tmp",
]);

/**
 * Whether `dir` surely exists when `instr` runs: a standard folder, a WORKDIR
 * of the stage before it, a COPY/ADD destination at or below it, or a folder
 * an earlier RUN makes with mkdir. WORKDIR creates a missing folder where
 * `cd` fails the build, so only then is the rewrite the same build.
 */
function knownToExist(
  model: DockerfileModel,
  stage: Stage,
  instr: Instr,
  dir: string,
  before: Map<Instr, string | null>,
): boolean {
  if (STANDARD_DIRS.has(dir)) return true;
  const mkdir = new RegExp(`\\bmkdir\\b[^;&|\\n]*\\s["']?${escapeRegExp(dir)}/?["']?(?=[\\s;&|]|$)`);
  for (const earlier of stage.instructions) {
    if (earlier === instr) break;
    if (before.get(earlier) === dir) return true;
    if ((earlier.keyword === "COPY" || earlier.keyword === "ADD") && earlier.args.length >= 2) {
      const dest = earlier.args[earlier.args.length - 1].value;
      const abs = dest.startsWith("/") ? absolutePath(dest) : null;
      if (abs !== null && (abs === dir || abs.startsWith(dir + "/"))) return true;
    }
    if (earlier.keyword === "RUN" && mkdir.test(earlier.text)) return true;
  }
  return false;
}

/**
 * The first later instruction of the stage that would notice the working
 * directory changed: null when an absolute WORKDIR resets it first, "end" when
 * the stage ends (the image's WorkingDir is what `docker run` and child stages
 * start in). A RUN that starts with `cd /absolute &&` does not notice.
 */
function firstCwdUser(model: DockerfileModel, instr: Instr): Instr | "end" | null {
  for (const next of laterInStage(model, instr)) {
    if (next.keyword === "WORKDIR") {
      return workdirValue(next)?.startsWith("/") ? null : next;
    }
    if (CWD_FREE.has(next.keyword)) continue;
    if (next.keyword === "VOLUME" && next.args.every((a) => /^["[]*\//.test(a.value))) continue;
    if (next.keyword === "RUN" && leadingCd(model, next)?.dir.startsWith("/")) continue;
    return next;
  }
  return "end";
}

/** A RUN whose script starts with `cd <literal> &&`: the cd command and the pipeline after `&&`. */
function leadingCd(model: DockerfileModel, instr: Instr) {
  if (instr.keyword !== "RUN" || instr.execForm || instr.hasHeredoc) return null;
  const script = shellOf(instr, model.text, model.escapeChar);
  // Most RUNs have no `cd` at all: no tree needed.
  if (!script || script.hasErrors || !/\bcd\b/.test(script.text)) return null;
  // `cd dir && a; b`: the cd holds for the rest of the script too.
  const top = shellTree(script).root.statements[0];
  // backgrounded: its cd does not reach the rest
  if (!top || top.background || top.ops[0] !== "&&") return null;
  const [head, next] = top.pipelines;
  const first = head.commands[0];
  if (head.negated || head.commands.length !== 1 || first.kind !== "simple") return null;
  const cmd = first.command;
  if (cmd.name?.value !== "cd") return null;
  // `cd dir 2>/dev/null && …` is not read as a plain leading cd (a redirect inside the command is refused below).
  if (first.redirects.length > 0 && !cmd.hasRedirects) return null;
  const dir = cmd.args.length === 1 && cmd.args[0].value !== null ? cmd.args[0].value : "";
  return { cmd, first: first as Span, next: next as Span, dir };
}

export const cdToWorkdir: Transform = {
  id: "cd-to-workdir",
  description: "Replace a leading `cd dir &&` in RUN with WORKDIR",
  rationale:
    "`RUN cd dir && cmd` hides the directory a build step works in; WORKDIR states it. The rewrite is " +
    "`WORKDIR dir` + `RUN cmd`, followed by `WORKDIR <previous>` whenever a later instruction of the stage (or the " +
    "image's default working directory) would otherwise see the new directory. It is refused when the previous " +
    "directory is not known (set by the base image). WORKDIR creates a missing folder where `cd` would fail the " +
    "build: the change is safe when the folder surely exists (a standard folder, an earlier WORKDIR, COPY " +
    "destination or mkdir), and unsafe otherwise, since a build that failed there would then go on.",
  applicability: "safe",
  applicabilityNote:
    "The RUN runs in the same folder, and the previous WORKDIR is restored for what follows; unsafe when the folder may not exist, as WORKDIR creates it where `cd` would fail.",
  rules: RULES,
  // Each rewrite splits a RUN; the RUNs after it are read again with the new WORKDIRs.
  multiPass: true,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const suppressions = readSuppressions(model);
    const suppressed = (i: Instr) => suppressions.isSuppressed(["cd-to-workdir", ...RULES], i.line);
    for (const stage of model.stages) {
      const list = stage.instructions;
      let before: Map<Instr, string | null> | null = null;
      let i = 0;
      while (i < list.length) {
        const instr = list[i];
        const found = analyse(model, stage, instr);
        if (!found || suppressed(instr)) {
          i++;
          continue;
        }
        const refuse = (reason: string) => refusals.push({ line: instr.line, reason, rules: RULES });
        if ("reason" in found) {
          refuse(found.reason);
          i++;
          continue;
        }
        before ??= workdirsBefore(model, stage);
        const old = before.get(instr) ?? null;
        const { dir } = found;
        let target: string;
        if (dir.startsWith("/")) target = absolutePath(dir);
        else if (old !== null) target = absolutePath(old + "/" + dir);
        else {
          refuse(`\`cd ${dir}\` is relative and the working directory before it comes from the base image`);
          i++;
          continue;
        }
        const dropCd = { start: found.first.start, end: found.next.start, text: "" };
        if (target === old) {
          // `cd` into the directory it is already in: the `cd` alone goes.
          changes.push({
            edits: [dropCd],
            line: instr.line,
            message: `\`cd ${dir} &&\` removed: RUN already runs in ${target}`,
            rules: RULES,
          });
          i++;
          continue;
        }
        const user = firstCwdUser(model, instr);
        if (user !== null && old === null) {
          refuse(
            `\`cd ${dir}\`: later instructions use the working directory, and the one to restore comes from the base image`,
          );
          i++;
          continue;
        }
        const indent = indentAt(model, instr.start);
        const kw = matchCase(instr.keywordText, "WORKDIR");
        let exists = knownToExist(model, stage, instr, target, before);
        const workdirLine = (at: number, path: string) => ({
          start: at,
          end: at,
          text: `${indent}${kw} ${path}${model.source.eol}`,
        });
        const edits = [workdirLine(insertionPointBefore(model, instr), target), dropCd];
        // The instructions up to `user` do not use the working directory, apart
        // from RUNs that start with `cd /absolute &&`: convert those in the same change.
        const end =
          user === null ? resetIndex(model, instr) : user === "end" ? list.length : list.indexOf(user);
        let cur = target;
        let also = 0;
        for (let j = i + 1; j < end; j++) {
          const r = list[j];
          const more = analyse(model, stage, r);
          if (!more || "reason" in more || !more.dir.startsWith("/") || suppressed(r)) continue;
          const t = absolutePath(more.dir);
          exists &&= knownToExist(model, stage, r, t, before);
          if (t !== cur) edits.push(workdirLine(insertionPointBefore(model, r), t));
          edits.push({ start: more.first.start, end: more.next.start, text: "" });
          cur = t;
          also++;
        }
        if (user === "end") {
          edits.push(insertLinesAfter(model, list[list.length - 1], [`${indent}${kw} ${old}`]));
        } else if (user) {
          edits.push(workdirLine(insertionPointBefore(model, user), old!));
        }
        changes.push({
          edits,
          line: instr.line,
          message:
            `\`cd ${dir} &&\` → WORKDIR ${target}` +
            (also > 0 ? ` (and ${also} following RUN${also > 1 ? "s" : ""})` : "") +
            (user !== null ? ` (restored to ${old} after)` : "") +
            (exists ? "" : "; WORKDIR creates a missing folder where `cd` would fail the build"),
          rules: RULES,
          applicability: exists ? "safe" : "unsafe",
        });
        i = Math.max(end, i + 1);
      }
    }
    return { changes, refusals };
  },
};

/** Index of the absolute WORKDIR that resets the directory after `instr` (see firstCwdUser). */
function resetIndex(model: DockerfileModel, instr: Instr): number {
  const list = model.stages[instr.stage].instructions;
  for (let j = list.indexOf(instr) + 1; j < list.length; j++) if (list[j].keyword === "WORKDIR") return j;
  return list.length;
}

type Analysis = { reason: string } | { dir: string; first: Span; next: Span };

/** Whether a RUN starts with a `cd` this transform can turn into WORKDIR (null: no leading cd at all). */
function analyse(model: DockerfileModel, stage: Stage, instr: Instr): Analysis | null {
  const found = leadingCd(model, instr);
  if (!found) return null;
  const { cmd, first, next } = found;
  if (cmd.args.length !== 1 || cmd.assignments.length > 0 || cmd.hasRedirects) {
    return { reason: "`cd` with options or several arguments" };
  }
  const dir = cmd.args[0].value;
  if (dir === null || !LITERAL_PATH.test(dir) || dir.startsWith("-")) {
    return { reason: `\`cd ${cmd.args[0].raw}\`: the directory is not a literal path` };
  }
  if (!next) return null;
  if (/(^|\n)[ \t]*#/.test(model.text.slice(first.start, next.start))) {
    return { reason: "comment lines between `cd` and the next command" };
  }
  const rest = slice(model, { start: next.start, end: instr.argsSpan!.end });
  if (/\bOLDPWD\b|\bcd\s+-(\s|$)/.test(rest)) {
    return { reason: "the command uses the previous directory (OLDPWD / `cd -`)" };
  }
  if (
    instr.flags.some(
      (f) => f.name === "mount" && /(?:^|,)(?:target|dst|destination)=(?!\/)/.test(f.value ?? ""),
    )
  ) {
    return { reason: "a --mount target is relative to the working directory" };
  }
  const shells = stage.instructions.filter((i) => i.keyword === "SHELL" && i.start < instr.start);
  if (shells.some((i) => !/\/(?:ba|da)?sh"/.test(i.text)))
    return { reason: "the stage uses a non-POSIX SHELL" };
  return { dir, first, next };
}
