import type { Transform } from "../../src/engine/types.ts";
import {
  callNode,
  change,
  hasOption,
  insertAfterWord,
  runScripts,
  toolCalls,
  type ToolCall,
} from "./shell-edits.ts";

const PROMPTING = new Set([
  "install",
  "upgrade",
  "dist-upgrade",
  "full-upgrade",
  "remove",
  "purge",
  "autoremove",
  "build-dep",
]);

/** `-y`, `--yes`, `--assume-yes`, quiet level 2 (`-qq`, `-q=2`, implies -y) or `-o APT::Get::Assume-Yes=true`. */
export function aptAssumesYes(call: ToolCall): boolean {
  if (hasOption(call, "y", ["--yes", "--assume-yes", "--force-yes"], "oct")) return true;
  for (const w of call.words) {
    const v = w.value ?? w.raw;
    if (/^-[a-z]*q[a-z]*q/i.test(v) || /^(-q|--quiet)=([2-9])/.test(v)) return true;
    if (/assume-yes/i.test(v)) return true;
  }
  return false;
}

/** `yes | apt-get install ...` answers the prompts already. */
function fedByPipe(call: ToolCall): boolean {
  const node = callNode(call);
  return node.parent.commands[0] !== node;
}

export const aptGetYes: Transform = {
  id: "apt-get-yes",
  description: "Add -y to apt-get install/upgrade/remove so the build never waits for a prompt",
  rationale:
    "Without -y, apt-get asks for confirmation; in a build there is no terminal, so apt-get aborts " +
    "whenever it would ask (e.g. when extra dependencies are pulled in). Adding -y only answers the " +
    "prompt apt-get would otherwise fail on; `-qq` and `yes |` already answer it and are left alone.",
  applicability: "safe",
  reads: ["RUN", "SHELL"],
  applicabilityNote:
    "apt-get asks only when it would abort a build without a terminal, so a build that succeeded is unchanged.",
  rules: ["DL3014", "DS-0021"],
  run({ model }) {
    const changes = [];
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["apt-get", "apt"])) {
        if (!call.sub?.value || !PROMPTING.has(call.sub.value)) continue;
        if (aptAssumesYes(call) || fedByPipe(call)) continue;
        const install = call.sub.value === "install";
        changes.push(
          change(
            model,
            call.sub.start,
            [insertAfterWord(call.sub, "-y")],
            `add -y to ${call.tool} ${call.sub.value}`,
            install ? ["DL3014", "DS-0021"] : [],
          ),
        );
      }
    }
    return { changes, refusals: [] };
  },
};
