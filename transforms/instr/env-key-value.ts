import type { Instr } from "../../src/engine/parse.ts";
import type { Change, Refusal, Transform } from "../../src/engine/types.ts";

const RULES = ["LegacyKeyValueFormat"];
const KEY_WORD = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/**
 * Rewrites the value of legacy `ENV name value...` (Docker reads everything
 * after the name as one word, spaces included) into one word for `name=value`.
 * Returns the value unchanged when it already is one word, a double-quoted
 * word with the same meaning otherwise, or null when dfopt cannot be sure.
 *
 * Docker's word rules: outside quotes `E` (the escape character) makes the
 * next character literal; inside double quotes only `E"`, `E$` and `EE` are
 * escapes (other `E`s stay); single quotes are literal; `$` expands outside
 * single quotes.
 */
export function legacyValueToWord(raw: string, E: string): string | null {
  let oneWord = true;
  let out = "";
  let i = 0;
  const n = raw.length;
  while (i < n) {
    const c = raw[i];
    if (c === E) {
      // continuation: escape, optional blanks, newline → keep verbatim
      const m = /^[ \t]*\r?\n/.exec(raw.slice(i + 1));
      if (m) {
        oneWord = false;
        out += c + m[0];
        i += 1 + m[0].length;
        continue;
      }
      if (i + 1 >= n) return null;
      const d = raw[i + 1];
      out += d === '"' || d === "$" || d === E ? E + d : d;
      i += 2;
      continue;
    }
    if (c === '"') {
      const start = i;
      i++;
      while (i < n && raw[i] !== '"') i += raw[i] === E ? 2 : 1;
      if (i >= n) return null;
      out += raw.slice(start + 1, i);
      i++;
      continue;
    }
    if (c === "'") {
      const close = raw.indexOf("'", i + 1);
      if (close === -1) return null;
      for (const d of raw.slice(i + 1, close)) out += d === '"' || d === "$" || d === E ? E + d : d;
      i = close + 1;
      continue;
    }
    if (c === "$" && raw[i + 1] === "{") {
      const close = raw.indexOf("}", i);
      if (close === -1 || /["']/.test(raw.slice(i, close))) return null;
      out += raw.slice(i, close + 1);
      i = close + 1;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") oneWord = false;
    out += c;
    i++;
  }
  if (oneWord) return raw;
  return `"${out}"`;
}

/** The legacy `KEY value` pair of an ENV or LABEL, or null when it uses `key=value`. */
function legacy(instr: Instr): { key: Instr["args"][number]; rawStart: number } | null {
  if (instr.args.length < 1) return null;
  const key = instr.args[0];
  if (key.value.includes("=")) return null;
  return { key, rawStart: key.end };
}

export const envKeyValue: Transform = {
  id: "env-key-value",
  description: "Rewrite legacy `ENV key value` / `LABEL key value` as key=value",
  rationale:
    "The space-separated form is deprecated (BuildKit LegacyKeyValueFormat) and reads ambiguously: in " +
    "`ENV A b c` the value is `b c`. The value is rewritten as one word with the same meaning: unchanged when it " +
    "has no blanks, otherwise double-quoted with quotes and escapes converted so variables still expand and " +
    "literal text stays literal. Continuation lines are kept inside the quotes.",
  applicability: "safe",
  reads: ["ENV", "LABEL"],
  applicabilityNote: "The value is rewritten with the same meaning.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    for (const instr of model.instructions) {
      if ((instr.keyword !== "ENV" && instr.keyword !== "LABEL") || instr.stage < 0 || !instr.argsSpan)
        continue;
      const pair = legacy(instr);
      if (!pair) continue;
      const refuse = (reason: string) =>
        refusals.push({ line: instr.line, reason: `legacy ${instr.keyword} kept: ${reason}`, rules: RULES });
      if (instr.args.length < 2) continue; // `ENV A` alone is an error Docker reports
      if (!KEY_WORD.test(model.text.slice(pair.key.start, pair.key.end))) {
        refuse("the key is quoted or escaped");
        continue;
      }
      const rawAll = model.text.slice(pair.rawStart, instr.argsSpan.end);
      const lead = /^(?:[ \t]|\\[ \t]*\r?\n|`[ \t]*\r?\n)*/.exec(rawAll)![0];
      if (lead.includes("\n")) {
        refuse("the value starts on a continuation line");
        continue;
      }
      const raw = rawAll.slice(lead.length).replace(/[ \t]+$/, "");
      if (/(^|\n)[ \t]*#/.test(raw)) {
        refuse("comment lines inside the value");
        continue;
      }
      if (raw.startsWith("=")) {
        refuse(
          "`key = value` with blanks around `=` is read as one legacy pair whose value starts with `=`; probably not what was meant",
        );
        continue;
      }
      const word = legacyValueToWord(raw, model.escapeChar);
      if (word === null) {
        refuse("the value has quoting dfopt cannot convert safely");
        continue;
      }
      changes.push({
        edits: [{ start: pair.key.end, end: pair.rawStart + lead.length + raw.length, text: "=" + word }],
        line: instr.line,
        message: `legacy \`${instr.keyword} ${pair.key.value} value\` → ${pair.key.value}=value`,
        rules: RULES,
      });
    }
    return { changes, refusals };
  },
};
