import type { FileReport } from "../io/process.ts";
import { jsonFileEntry } from "./json.ts";
import { createSummary, type SummaryJson } from "./summary.ts";

/**
 * `--format jsonl`: one JSON object per file per line (the same shape as the
 * JSON document's `files[]` entries), then a final `{"summary":{...}}` line.
 */
export function createJsonlWriter(out: NodeJS.WritableStream) {
  const summary = createSummary();
  return {
    add(report: FileReport): void {
      summary.add(report);
      out.write(JSON.stringify(jsonFileEntry(report)) + "\n");
    },
    /** Writes the summary line; `extra` adds or overrides fields (e.g. discovery problems in `errors`). */
    end(extra: Partial<SummaryJson> = {}): void {
      out.write(JSON.stringify({ summary: { ...summary.toJSON(), ...extra } }) + "\n");
    },
  };
}
