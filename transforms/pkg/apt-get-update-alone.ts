import type { Edit, Refusal, Transform } from "../../src/engine/types.ts";
import { removeInstruction } from "../../src/engine/style.ts";
import { shellOfRun } from "../lib/run-shell.ts";
import {
  cacheMountTargets,
  change,
  descendantStages,
  laterInstructions,
  prefixText,
  prependCommand,
  refusal,
  runScripts,
  toolCall,
  toolCalls,
  type RunScript,
  type ToolCall,
} from "./shell-edits.ts";

const APT_TOOLS = ["apt-get", "apt", "aptitude", "apt-cache", "apt-file"];
const NO_LISTS = new Set(["update", "clean", "autoclean", "remove", "purge", "autoremove"]);

/** The `apt-get update` calls of a RUN that runs nothing else, or null. */
function standaloneUpdates(rs: RunScript): ToolCall[] | null {
  const cmds = rs.script.commands;
  const updates = toolCalls(rs, ["apt-get", "apt"]).filter(
    (c) => c.sub?.value === "update" && c.prefix.length === 0,
  );
  return cmds.length > 0 && updates.length === cmds.length ? updates : null;
}

export const aptGetUpdateAlone: Transform = {
  id: "apt-get-update-alone",
  description: "Move a RUN that only runs apt-get update into the RUNs that install",
  rationale:
    "A RUN that only runs `apt-get update` is cached on its own: when a later RUN's package list changes, " +
    "Docker reuses the old lists and the install fails on packages that have since moved, or installs " +
    "stale versions. The standalone RUN is removed and `apt-get update && ` is put right before the first " +
    "install of every later RUN (same stage or stages built FROM it) that would have read its lists, so " +
    "each install gets fresh lists in its own layer. A failing update must still fail the build: where the " +
    "install is not in the RUN's final `&&` chain (`install; echo done`, `false || install`), the update goes " +
    "in front of the whole script, grouped: `apt-get update && ( ... )`. Refused when one of those RUNs " +
    "cannot be read, runs a script, runs under a non-POSIX SHELL or ends in a background job, and when a " +
    "comment sits on the RUN (it may be a suppression for the next instruction).",
  applicability: "safe",
  reads: ["RUN", "SHELL", "ONBUILD"],
  applicabilityNote:
    "Every install that read the standalone update's lists runs the same update right before it, in its own RUN; no RUN that could read them is left without.",
  rules: ["DS-0017"],
  run({ model }) {
    const changes = [];
    const refusals: Refusal[] = [];
    for (const rs of runScripts(model)) {
      const updates = standaloneUpdates(rs);
      if (!updates) continue;
      if (rs.instr.flags.length > 0 || cacheMountTargets(rs.instr).length > 0) continue;
      const at = updates[0].sub!.start;
      const no = (why: string) =>
        refusals.push(refusal(model, at, `standalone apt-get update kept: ${why}`, ["DS-0017"]));
      const prevLine =
        rs.instr.line > 1
          ? model.text.slice(model.lineStart(rs.instr.line - 1), model.lineStart(rs.instr.line)).trim()
          : "";
      if (prevLine.startsWith("#")) {
        no("a comment sits on it");
        continue;
      }
      const updateText = rs.script.slice(updates[0].cmd);
      const insert = /[\n\\`]/.test(updateText)
        ? "apt-get update"
        : updateText.replace(/^apt\b(?!-)/, "apt-get");
      const later = laterInstructions(model, rs.instr);
      const parsed = new Map(runScripts(model, later).map((p) => [p.instr, p]));
      const edits: Edit[] = [];
      let why: string | null = null;
      // Stages whose later RUNs read the lists of another standalone update, which moves there itself.
      const shadowed = new Set<number>();
      for (const i of later) {
        if (shadowed.has(i.stage)) continue;
        if (i.keyword === "ONBUILD" && /\bapt/.test(i.text)) why = `an ONBUILD uses apt (line ${i.line})`;
        if (i.keyword !== "RUN") continue;
        const p = parsed.get(i);
        if (!p) {
          // Untrusted: a RUN that does not parse, or one that cmd or PowerShell runs.
          const shell = shellOfRun(model, i);
          if (/\bapt|\.sh\b|dpkg/.test(i.text))
            why = shell.posix
              ? `a later RUN dfopt cannot read may use apt (line ${i.line})`
              : `${shell.note}; the RUN on line ${i.line} may not read \`&&\` as sh does`;
          continue;
        }
        if (/\.sh\b/.test(i.text)) why = `a later RUN runs a script (line ${i.line})`;
        if (standaloneUpdates(p)) {
          for (const s of [i.stage, ...descendantStages(model, i.stage)]) shadowed.add(s);
          continue;
        }
        for (const cmd of p.script.commands) {
          const call = toolCall(p, cmd);
          if (!call || !APT_TOOLS.includes(call.tool)) continue;
          const sub = call.sub?.value ?? null;
          if (sub === "update") break;
          if (sub !== null && NO_LISTS.has(sub)) continue;
          const prefix = prependCommand(p, cmd, `${prefixText(call)}${insert}`);
          if (!prefix) why = `the RUN on line ${i.line} ends in a background job and cannot take a prefix`;
          else edits.push(...prefix);
          break;
        }
        if (why) break;
      }
      if (why) {
        no(why);
        continue;
      }
      if (edits.length === 0) {
        no("no later RUN shows what it is for");
        continue;
      }
      edits.push(removeInstruction(model, rs.instr));
      changes.push(
        change(model, at, edits, "run apt-get update in the RUNs that install, not alone", ["DS-0017"]),
      );
    }
    return { changes, refusals };
  },
};
