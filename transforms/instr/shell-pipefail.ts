import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { shellOf, shellTree } from "../../src/engine/shell.ts";
import { walkShellTree } from "../../src/engine/shell-tree.ts";
import { indentAt } from "../../src/engine/style.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { matchCase, rootImage, stageChain, insertionPointBefore, OFFICIAL_DEBIAN_FAMILY } from "./util.ts";

const RULES = ["DL4006"];
const SHELL_JSON = '["/bin/bash", "-o", "pipefail", "-c"]';

/** Official images known to ship /bin/bash in every non-alpine variant. */
const BASH_IMAGES = new Set([
  ...OFFICIAL_DEBIAN_FAMILY,
  "centos",
  "fedora",
  "amazonlinux",
  "rockylinux",
  "almalinux",
  "oraclelinux",
  "redhat/ubi8",
  "redhat/ubi9",
  "mcr.microsoft.com/devcontainers/base",
]);

/** Why a base image is not known to have bash, or null when it is. */
export function bashUnknown(name: string, tag: string | null): string | null {
  if (!BASH_IMAGES.has(name)) return `base image '${name}' is not known to ship bash`;
  const t = tag ?? "latest";
  if (/alpine|busybox|distroless|windows|servercore|nanoserver|minimal|micro/.test(t)) {
    return `base image '${name}:${t}' is not known to ship bash`;
  }
  return null;
}

/** Whether a RUN pipes one command into another. */
function hasPipe(model: DockerfileModel, instr: Instr): boolean {
  // a pipeline of two commands or more is written with `|` (or `|&`): most RUNs need no tree
  if (!instr.text.includes("|")) return false;
  const script = shellOf(instr, model.text, model.escapeChar);
  if (!script) return false;
  let found = false;
  walkShellTree(shellTree(script).root, (n) => {
    if (n.kind === "pipeline" && n.commands.length > 1) found = true;
    return found ? false : undefined;
  });
  return found;
}

/** Shell-form instructions that would run under a SHELL inserted earlier. */
const SHELL_USERS = new Set(["CMD", "ENTRYPOINT", "HEALTHCHECK"]);

function hasEchoEscapes(model: DockerfileModel, stage: Stage, from: Instr): boolean {
  // dash's echo interprets `\n`, bash's does not: switching /bin/sh to bash changes such output.
  return stage.instructions.some((i) => {
    if (i.keyword !== "RUN" || i.start < from.start) return false;
    const script = shellOf(i, model.text, model.escapeChar);
    return !!script?.commands.some(
      (c) => c.name?.value === "echo" && c.args.some((a) => a.raw.includes("\\")),
    );
  });
}

/** A CMD/ENTRYPOINT/HEALTHCHECK that runs through the stage's SHELL. */
function usesShell(i: Instr): boolean {
  if (i.keyword === "HEALTHCHECK") {
    const cmd = i.args.findIndex((a) => a.value.toUpperCase() === "CMD");
    return cmd !== -1 && !(i.args[cmd + 1]?.value ?? "").startsWith("[");
  }
  return SHELL_USERS.has(i.keyword) && !i.execForm;
}

export const shellPipefail: Transform = {
  id: "shell-pipefail",
  description: "Add SHELL with `-o pipefail` before the first RUN that pipes, on images with bash",
  rationale:
    "In `RUN curl ... | tar x` only the last command's status counts, so a failed download still builds. " +
    '`SHELL ["/bin/bash", "-o", "pipefail", "-c"]` makes such failures fail the build — that is the point, ' +
    "and why this repair is unsafe: a build that silently ignored a pipe failure will now stop. It is only " +
    "added where the base image is known to ship bash (official Debian/Ubuntu/RHEL-family images and the language " +
    "images built on them, not alpine, busybox, distroless or unknown images), once per stage, never when the " +
    "stage (or the stage it builds on) already sets SHELL. RUNs that echo backslash escapes (dash and bash differ) " +
    "are refused. When a shell-form CMD/ENTRYPOINT/HEALTHCHECK follows, SHELL is reset to /bin/sh before it.",
  applicability: "unsafe",
  reads: ["RUN", "SHELL", "CMD", "ENTRYPOINT", "HEALTHCHECK"],
  applicabilityNote: "A RUN whose pipe fails early now fails the build that used to pass.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const added = new Set<number>();
    for (const stage of model.stages) {
      const chain = stageChain(model, stage);
      if (chain.some((s) => added.has(s.index) || s.instructions.some((i) => i.keyword === "SHELL")))
        continue;
      const piped = stage.instructions.find(
        (i) =>
          i.keyword === "RUN" &&
          !i.execForm &&
          !i.hasHeredoc &&
          !/pipefail/.test(i.text) &&
          hasPipe(model, i),
      );
      if (!piped) continue;
      const refuse = (reason: string) =>
        refusals.push({ line: piped.line, reason: `RUN pipes without pipefail; ${reason}`, rules: RULES });
      const img = rootImage(model, stage);
      if (!img) {
        refuse("the base image is not known");
        continue;
      }
      const why = bashUnknown(img.name, img.tag);
      if (why) {
        refuse(why);
        continue;
      }
      const dashism = stage.instructions.find(
        (i) => i.keyword === "RUN" && i.start >= piped.start && /\[\s[^\]\n]*\s==\s/.test(i.text),
      );
      if (dashism) {
        refuse(`line ${dashism.line} uses \`[ a == b ]\`, which /bin/sh (dash) rejects and bash accepts`);
        continue;
      }
      if (hasEchoEscapes(model, stage, piped)) {
        refuse("a later RUN echoes backslash escapes, which bash prints differently from /bin/sh");
        continue;
      }
      const indent = indentAt(model, piped.start);
      const kw = matchCase(piped.keywordText, "SHELL");
      const at = insertionPointBefore(model, piped);
      const edits = [{ start: at, end: at, text: `${indent}${kw} ${SHELL_JSON}${model.source.eol}` }];
      const user = stage.instructions.find((i) => usesShell(i) && i.start > piped.start);
      if (user) {
        if (stage.instructions.some((i) => i.keyword === "RUN" && i.start > user.start)) {
          refuse(`a shell-form ${user.keyword} comes before later RUNs`);
          continue;
        }
        const ui = insertionPointBefore(model, user);
        edits.push({
          start: ui,
          end: ui,
          text: `${indentAt(model, user.start)}${kw} ["/bin/sh", "-c"]${model.source.eol}`,
        });
      }
      added.add(stage.index);
      changes.push({
        edits,
        line: piped.line,
        message: "SHELL with pipefail before the first piped RUN",
        rules: RULES,
      });
    }
    return { changes, refusals };
  },
};
