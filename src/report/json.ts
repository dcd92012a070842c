import type { FileReport } from "../io/process.ts";
import { verificationJson } from "../verify/report.ts";

/** One entry of the `--format json` document's `files` array (also one line of jsonl). */
export function jsonFileEntry(report: FileReport) {
  return {
    path: report.path,
    changed: report.changed,
    changes: report.changes.map((c) => ({
      transform: c.transform,
      line: c.line,
      message: c.message,
      rules: c.rules,
    })),
    refusals: report.refusals.map((r) => ({
      transform: r.transform,
      line: r.line,
      reason: r.reason,
      rules: r.rules,
    })),
    sideFiles: report.sideFiles,
    /** Unified diff of the Dockerfile and side files (what --write writes); null when unchanged. */
    diff: report.changed ? report.diff : null,
    error: report.error
      ? { kind: report.error.kind, message: report.error.message, line: report.error.line }
      : null,
    ...(report.verify ? { verify: verificationJson(report.verify) } : {}),
  };
}
