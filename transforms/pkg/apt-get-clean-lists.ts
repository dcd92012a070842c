import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import type { Refusal, Transform } from "../../src/engine/types.ts";
import {
  appendCommand,
  cacheMountTargets,
  change,
  descendantStages,
  laterInstructions,
  prefixText,
  refusal,
  runScripts,
  toolCalls,
} from "./shell-edits.ts";

const APT_TOOLS = ["apt-get", "apt", "aptitude", "apt-cache", "apt-file"];
/** Subcommands that work without package lists. */
const NO_LISTS = new Set(["update", "clean", "autoclean", "remove", "purge", "autoremove"]);

/**
 * The first later instruction (same stage or a stage built FROM it) that may
 * read the package lists without downloading them itself.
 */
function laterListUser(model: DockerfileModel, instr: Instr): { at: Instr; why: string } | null {
  const stages = new Set([instr.stage, ...descendantStages(model, instr.stage)]);
  for (const i of model.instructions) {
    if (!stages.has(i.stage) || !["CMD", "ENTRYPOINT"].includes(i.keyword)) continue;
    if (/\bapt(-get|-cache|itude)?\b/.test(i.text))
      return { at: i, why: `the container runs apt at start-up` };
  }
  const later = laterInstructions(model, instr);
  const parsed = new Map(runScripts(model, later).map((rs) => [rs.instr, rs]));
  for (const i of later) {
    if (i.keyword === "ONBUILD" && /\bapt/.test(i.text)) return { at: i, why: "an ONBUILD uses apt" };
    if (i.keyword !== "RUN") continue;
    const rs = parsed.get(i);
    if (!rs) {
      if (/\bapt|\.sh\b|dpkg/.test(i.text))
        return { at: i, why: "a later RUN that dfopt cannot read may use apt" };
      continue;
    }
    if (/\.sh\b/.test(i.text)) return { at: i, why: "a later RUN runs a script that may use the apt lists" };
    let updated = false;
    for (const call of toolCalls(rs, APT_TOOLS)) {
      const sub = call.sub?.value ?? null;
      if (sub === "update") updated = true;
      else if (!updated && (sub === null || !NO_LISTS.has(sub))) {
        return {
          at: i,
          why: `a later RUN runs \`${call.tool} ${sub ?? "…"}\` without its own apt-get update`,
        };
      }
    }
  }
  return null;
}

export const aptGetCleanLists: Transform = {
  id: "apt-get-clean-lists",
  description: "Delete /var/lib/apt/lists in the RUN that ran apt-get update",
  rationale:
    "apt-get update downloads package lists (often 20-50 MB) into /var/lib/apt/lists; unless the same " +
    "RUN deletes them they stay in the layer forever. The clean-up is appended at the end of the RUN, " +
    "so nothing in that RUN loses the lists. It is only added when no later RUN in the stage (or in a " +
    "stage built FROM it) could read the lists without running apt-get update itself, and not when " +
    "the lists live in a cache mount.",
  applicability: "safe",
  reads: ["RUN", "SHELL", "CMD", "ENTRYPOINT", "ONBUILD"],
  applicabilityNote:
    "The lists are deleted at the end of the RUN that downloaded them, and only when no later RUN, ONBUILD or start-up command of the image could read them without its own update. An image built FROM this one must run apt-get update before it installs, as it must on the official images.",
  rules: ["DL3009"],
  run({ model }) {
    const changes = [];
    const refusals: Refusal[] = [];
    for (const rs of runScripts(model)) {
      const calls = toolCalls(rs, ["apt-get", "apt"]);
      const update = calls.find((c) => c.sub?.value === "update");
      if (!update) continue;
      if (rs.instr.text.includes("/var/lib/apt/lists")) continue;
      if (cacheMountTargets(rs.instr).some((t) => t.startsWith("/var/lib/apt"))) continue;
      const user = laterListUser(model, rs.instr);
      if (user) {
        refusals.push(
          refusal(model, update.sub!.start, `apt lists kept: ${user.why} (line ${user.at.line})`, ["DL3009"]),
        );
        continue;
      }
      const edit = appendCommand(model, rs, `${prefixText(update)}rm -rf /var/lib/apt/lists/*`);
      if (!edit) {
        refusals.push(
          refusal(
            model,
            update.sub!.start,
            "apt lists kept: the RUN ends in a way a clean-up cannot follow (exit, exec, &, or a group under set -e)",
            ["DL3009"],
          ),
        );
        continue;
      }
      changes.push(
        change(model, update.sub!.start, [edit], "delete the apt lists in the RUN that downloads them", [
          "DL3009",
        ]),
      );
    }
    return { changes, refusals };
  },
};
