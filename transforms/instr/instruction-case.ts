import type { Change, Transform } from "../../src/engine/types.ts";

const RULES = ["ConsistentInstructionCasing", "FromAsCasing"];

export const instructionCase: Transform = {
  id: "instruction-case",
  description: "Make instruction keywords (and FROM ... AS) use one case",
  rationale:
    "Mixed-case keywords make a Dockerfile harder to scan and BuildKit warns about them. Keywords are case-" +
    "insensitive, so writing them all in the file's majority case (upper on a tie) changes nothing but the " +
    "text; `AS` follows the case of its `FROM`. ONBUILD trigger instructions are left as written.",
  applicability: "safe",
  applicabilityNote: "Keywords are case-insensitive.",
  rules: RULES,
  run({ model }) {
    let upper = 0;
    let lower = 0;
    for (const i of model.instructions) {
      if (!/[a-z]/i.test(i.keywordText)) continue;
      if (i.keywordText === i.keywordText.toUpperCase()) upper++;
      else if (i.keywordText === i.keywordText.toLowerCase()) lower++;
    }
    const toLower = lower > upper;
    const fix = (s: string) => (toLower ? s.toLowerCase() : s.toUpperCase());
    const changes: Change[] = [];
    for (const instr of model.instructions) {
      const edits = [];
      if (instr.keywordText !== fix(instr.keywordText)) {
        edits.push({ ...instr.keywordSpan, text: fix(instr.keywordText) });
      }
      if (instr.keyword === "FROM") {
        const stage = model.stages[instr.stage];
        const as = stage?.nameSpan
          ? instr.args.find((a) => a.end < stage.nameSpan!.start && a.value.toLowerCase() === "as")
          : undefined;
        if (as && as.value !== fix(as.value) && as.end - as.start === 2)
          edits.push({ start: as.start, end: as.end, text: fix(as.value) });
      }
      if (edits.length === 0) continue;
      changes.push({
        edits,
        line: instr.line,
        message: `keyword case → ${toLower ? "lower" : "upper"} case`,
        rules: edits.length === 1 && edits[0].start !== instr.keywordSpan.start ? ["FromAsCasing"] : RULES,
      });
    }
    return { changes, refusals: [] };
  },
};
