import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { dockerQuoteLiteral, matchCase } from "./util.ts";

const RULES = ["DL4000", "DS-0022", "CKV_DOCKER_6", "MaintainerDeprecated"];
const KEY = "org.opencontainers.image.authors";

export const maintainerToLabel: Transform = {
  id: "maintainer-to-label",
  description: "Replace deprecated MAINTAINER with the OCI authors LABEL",
  rationale:
    "MAINTAINER is deprecated and fills the image's legacy Author field; the OCI annotation " +
    "`org.opencontainers.image.authors` is what registries and scanners read. The value is copied literally " +
    "(LABEL expands variables, so `$`, quotes and the escape character are escaped). A stage that already has " +
    "that label is left alone.",
  applicability: "safe",
  reads: ["MAINTAINER", "LABEL"],
  applicabilityNote:
    "Only image metadata changes: the deprecated Author field becomes the OCI authors label.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    for (const stage of model.stages) {
      for (const instr of stage.instructions) {
        if (instr.keyword !== "MAINTAINER" || !instr.argsSpan) continue;
        const refuse = (reason: string) => refusals.push({ line: instr.line, reason, rules: RULES });
        if (instr.endLine !== instr.line) {
          refuse("MAINTAINER spans several lines");
          continue;
        }
        if (stage.instructions.some((i) => i.keyword === "LABEL" && i.text.includes(KEY))) {
          refuse(`the stage already has a ${KEY} label`);
          continue;
        }
        const value = model.text.slice(instr.argsSpan.start, instr.argsSpan.end).trim();
        if (value === "") continue;
        const kw = matchCase(instr.keywordText, "LABEL");
        changes.push({
          edits: [
            {
              start: instr.keywordSpan.start,
              end: instr.argsSpan.end,
              text: `${kw} ${KEY}=${dockerQuoteLiteral(value, model.escapeChar)}`,
            },
          ],
          line: instr.line,
          message: `MAINTAINER → LABEL ${KEY}`,
          rules: RULES,
        });
      }
    }
    return { changes, refusals };
  },
};
