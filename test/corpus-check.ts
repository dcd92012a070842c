import fs from "node:fs";
import path from "node:path";
import { structuralProblems, newProblems } from "../src/engine/check.ts";
import { optimizeFile, setCheckDeclaredReads, type FileResult } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import type { Transform } from "../src/engine/types.ts";
import { emptyContext } from "../src/io/context.ts";

/**
 * ../shared/corpus/dockerfiles beside the project; DFOPT_CORPUS names another
 * folder (a git worktree elsewhere, e.g. /work/wt/<name>, has no ../shared).
 */
export const CORPUS = process.env.DFOPT_CORPUS
  ? path.resolve(process.env.DFOPT_CORPUS)
  : path.resolve(import.meta.dirname, "../../shared/corpus/dockerfiles");
export const corpusAvailable = fs.existsSync(CORPUS);

export function corpusFiles(): string[] {
  if (!corpusAvailable) return [];
  return fs
    .readdirSync(CORPUS)
    .filter((f) => f !== "SOURCES.tsv")
    .sort();
}

export interface Violation {
  file: string;
  kind: "crash" | "unparseable" | "not-idempotent" | "lost-comment" | "line-ending" | "bom";
  detail: string;
}

const commentLines = (text: string) => text.split("\n").filter((l) => /^\s*#/.test(l));

/**
 * The invariants every rewrite keeps on a real file: no crash, output parses
 * without new problems, a second run changes nothing, no comment line lost,
 * CRLF files stay CRLF, a BOM stays. Every transform the engine would skip
 * for its declared `reads` runs anyway and must find nothing to change (a
 * crash otherwise).
 */
export function checkFile(
  file: string,
  raw: string,
  transforms: readonly Transform[],
): { result: FileResult; violations: Violation[] } {
  const violations: Violation[] = [];
  const run = (text: string) => {
    setCheckDeclaredReads(true);
    try {
      return optimizeFile(text, emptyContext, { transforms });
    } finally {
      setCheckDeclaredReads(false);
    }
  };
  let result: FileResult;
  try {
    result = run(raw);
  } catch (e) {
    const violation: Violation = { file, kind: "crash", detail: (e as Error).stack ?? String(e) };
    return {
      result: {
        original: raw,
        output: raw,
        changed: false,
        changes: [],
        refusals: [],
        sideFiles: [],
        error: null,
      },
      violations: [violation],
    };
  }
  if (result.error?.kind === "internal" || result.error?.kind === "no-fixed-point") {
    violations.push({ file, kind: "crash", detail: result.error.message });
  }
  if (!result.changed) return { result, violations };
  const out = result.output;
  try {
    const added = newProblems(
      structuralProblems(parseDockerfile(raw)),
      structuralProblems(parseDockerfile(out)),
    );
    if (added.length > 0)
      violations.push({
        file,
        kind: "unparseable",
        detail: added.map((p) => `${p.line}: ${p.message}`).join("; "),
      });
  } catch (e) {
    violations.push({ file, kind: "unparseable", detail: String(e) });
  }
  const again = run(out);
  if (again.output !== out) {
    violations.push({
      file,
      kind: "not-idempotent",
      detail: again.changes.map((c) => `${c.transform}@${c.line}: ${c.message}`).join("; "),
    });
  }
  // Comments may move (split-stages carries a comment with its instruction), but none may vanish.
  const remaining = new Map<string, number>();
  for (const c of commentLines(out)) remaining.set(c, (remaining.get(c) ?? 0) + 1);
  for (const c of commentLines(raw)) {
    const n = remaining.get(c) ?? 0;
    if (n === 0) {
      violations.push({ file, kind: "lost-comment", detail: c.trim() });
      break;
    }
    remaining.set(c, n - 1);
  }
  const crlf = (t: string) => (t.match(/\r\n/g) ?? []).length;
  const lf = (t: string) => (t.match(/(?<!\r)\n/g) ?? []).length;
  if (crlf(raw) > 0 && lf(raw) === 0 && lf(out) > 0)
    violations.push({ file, kind: "line-ending", detail: "CRLF file got LF lines" });
  if (raw.startsWith("\uFEFF") !== out.startsWith("\uFEFF"))
    violations.push({ file, kind: "bom", detail: "BOM changed" });
  return { result, violations };
}
