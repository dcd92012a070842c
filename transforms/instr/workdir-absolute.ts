import { absolutePath } from "../../src/engine/paths.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { unquote } from "../../src/engine/parse.ts";
import { workdirsBefore, workdirValue } from "./util.ts";

const RULES = ["DL3000", "DS-0009", "CKV_DOCKER_10", "WorkdirRelativePath"];

export const workdirAbsolute: Transform = {
  id: "workdir-absolute",
  description: "Make a relative WORKDIR absolute when the directory before it is known",
  rationale:
    "A relative WORKDIR resolves against whatever the working directory was, which may come from the base image " +
    "(golang's is /go, not /). dfopt resolves it only against an absolute WORKDIR set earlier in the same stage " +
    "(or in the stage it builds on, or `/` for scratch), so the resulting path is the one Docker would use.",
  applicability: "safe",
  applicabilityNote: "The absolute path is the one Docker resolves the relative WORKDIR to.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    for (const stage of model.stages) {
      const before = workdirsBefore(model, stage);
      for (const instr of stage.instructions) {
        if (instr.keyword !== "WORKDIR" || !instr.argsSpan) continue;
        const value = workdirValue(instr);
        if (value === null) {
          const raw = unquote(instr.args.map((a) => a.value).join(" "));
          if (
            !raw.startsWith("/") &&
            !raw.startsWith("$") &&
            !/^[A-Za-z]:/.test(raw) &&
            !raw.startsWith("\\") &&
            !raw.startsWith("[")
          ) {
            refusals.push({
              line: instr.line,
              reason: `relative WORKDIR '${raw}' is not a plain path`,
              rules: RULES,
            });
          }
          continue;
        }
        if (value.startsWith("/")) continue;
        const cur = before.get(instr) ?? null;
        if (cur === null) {
          refusals.push({
            line: instr.line,
            reason: `relative WORKDIR '${value}': the directory before it comes from the base image and is not known`,
            rules: RULES,
          });
          continue;
        }
        const abs = absolutePath(cur + "/" + value);
        changes.push({
          edits: [{ ...instr.argsSpan, text: abs }],
          line: instr.line,
          message: `relative WORKDIR ${value} → ${abs}`,
          rules: RULES,
        });
      }
    }
    return { changes, refusals };
  },
};
