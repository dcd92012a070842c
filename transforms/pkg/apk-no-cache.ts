import type { DockerfileModel } from "../../src/engine/parse.ts";
import type { Edit, Transform } from "../../src/engine/types.ts";
import {
  laterInstructions,
  cacheMountTargets,
  change,
  hasOption,
  insertAfterWord,
  runScripts,
  toolCalls,
  type RunScript,
  type ToolCall,
} from "./shell-edits.ts";

const noCache = (call: ToolCall) => hasOption(call, "", ["--no-cache"]);

/**
 * Edit removing `apk update && ` when the update only feeds `apk add` calls
 * that (after this change) all use --no-cache: the next command must follow
 * with `&&` so nothing else loses the index.
 */
function dropUpdate(rs: RunScript, update: ToolCall): Edit | null {
  if (update.prefix.length > 0 || update.cmd.assignments.length > 0 || update.cmd.hasRedirects) return null;
  if (update.words.length !== 2 && !(update.words.length === 3 && /^-q+$/.test(update.words[2].value ?? "")))
    return null;
  if (update.words.slice(1, update.subIndex).length > 0) return null;
  const base = rs.script.base;
  const text = rs.script.text;
  // Must open the script or follow `&&`: look backwards over blanks and continuations.
  const before = text.slice(0, update.cmd.start - base).replace(/[ \t\\\n]+$/, "");
  if (before !== "" && !before.endsWith("&&")) return null;
  const m = /^[ \t]*&&(?:[ \t]|\\\n)*/.exec(text.slice(update.cmd.end - base));
  if (!m) return null;
  return { start: update.cmd.start, end: update.cmd.end + m[0].length, text: "" };
}

/** A later RUN (same stage or built FROM it) may use the index `apk update` left behind. */
function laterApkNeedsIndex(model: DockerfileModel, rs: RunScript): boolean {
  const later = laterInstructions(model, rs.instr).filter((i) => /\bapk\b/.test(i.text));
  const parsed = runScripts(model, later);
  if (parsed.length !== later.length) return true;
  return parsed.some((p) => toolCalls(p, ["apk"]).some((c) => c.sub?.value !== "update" && !noCache(c)));
}

export const apkNoCache: Transform = {
  id: "apk-no-cache",
  description: "Use apk add --no-cache (and drop the apk update it makes redundant)",
  rationale:
    "`apk add` without --no-cache leaves the package index in /var/cache/apk inside the layer. With " +
    "--no-cache apk fetches the index into memory and installs exactly the same packages. An " +
    "`apk update &&` just before is then redundant and is removed, but only when every apk call in the " +
    "RUN is an `apk add` that uses --no-cache and the update opens the RUN or follows `&&`. RUNs with a " +
    "cache mount on the apk cache are left alone.",
  applicability: "safe",
  reads: ["RUN", "SHELL"],
  applicabilityNote: "apk installs the same packages; only its index cache is left out of the layer.",
  rules: ["DL3019", "DS-0025"],
  // Dropping `apk update` waits for the --no-cache repairs of the RUNs after it.
  multiPass: true,
  run({ model }) {
    const changes = [];
    for (const rs of runScripts(model)) {
      if (cacheMountTargets(rs.instr).some((t) => /apk/.test(t))) continue;
      const calls = toolCalls(rs, ["apk"]);
      const adds = calls.filter((c) => c.sub?.value === "add");
      for (const call of adds) {
        if (noCache(call)) continue;
        changes.push(
          change(model, call.sub!.start, [insertAfterWord(call.sub!, "--no-cache")], "apk add --no-cache", [
            "DL3019",
            "DS-0025",
          ]),
        );
      }
      if (adds.length === 0 || adds.some((c) => !noCache(c))) continue; // drop the update on the next pass
      const others = calls.filter((c) => c.sub?.value !== "add");
      if (others.length !== 1 || others[0].sub?.value !== "update") continue;
      if (others[0].cmd.start > adds[0].cmd.start) continue;
      if (laterApkNeedsIndex(model, rs)) continue;
      const edit = dropUpdate(rs, others[0]);
      if (edit)
        changes.push(
          change(
            model,
            others[0].cmd.start,
            [edit],
            "drop `apk update`: apk add --no-cache fetches the index itself",
            ["DL3019", "DS-0025"],
          ),
        );
    }
    return { changes, refusals: [] };
  },
};
