import type { Transform } from "../../src/engine/types.ts";
import {
  cacheMountTargets,
  change,
  envBefore,
  hasOption,
  insertAfterWord,
  runScripts,
  toolCalls,
} from "./shell-edits.ts";

export const pipNoCacheDir: Transform = {
  id: "pip-no-cache-dir",
  description: "Add --no-cache-dir to pip install",
  rationale:
    "pip keeps every downloaded wheel in ~/.cache/pip; in an image that cache is dead weight in the " +
    "layer. --no-cache-dir installs the same packages without keeping it. Skipped when the cache is " +
    "wanted or already off: PIP_NO_CACHE_DIR set by ENV/ARG or on the command, --cache-dir given, or " +
    "a RUN --mount=type=cache on the pip cache.",
  applicability: "safe",
  reads: ["RUN", "SHELL", "ENV", "ARG"],
  applicabilityNote: "pip installs the same packages; only its download cache is left out of the layer.",
  rules: ["DL3042"],
  run({ model }) {
    const changes = [];
    for (const rs of runScripts(model)) {
      const calls = toolCalls(rs, ["pip"]);
      if (calls.length === 0) continue;
      if (cacheMountTargets(rs.instr).some((t) => /pip|\.cache\/?$|^\/root\/\.cache/.test(t))) continue;
      if (envBefore(model, rs.instr).has("PIP_NO_CACHE_DIR")) continue;
      if (/PIP_NO_CACHE_DIR|PIP_CACHE_DIR/.test(rs.instr.text)) continue;
      for (const call of calls) {
        if (call.sub?.value !== "install") continue;
        if (hasOption(call, "", ["--no-cache-dir", "--cache-dir", "--no-cache"])) continue;
        changes.push(
          change(
            model,
            call.sub.start,
            [insertAfterWord(call.sub, "--no-cache-dir")],
            "pip install --no-cache-dir",
            ["DL3042"],
          ),
        );
      }
    }
    return { changes, refusals: [] };
  },
};
