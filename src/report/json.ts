import type { AppliedChange, ReportedRefusal } from "../engine/engine.ts";
import type { FileReport } from "../io/process.ts";
import { verificationJson } from "../verify/report.ts";

/** A change as every machine format shows it. */
export const changeEntry = (c: AppliedChange) => ({
  transform: c.transform,
  line: c.line,
  message: c.message,
  rules: c.rules,
  applicability: c.applicability,
});

/** A refusal as every machine format shows it. */
export const refusalEntry = (r: ReportedRefusal) => ({
  transform: r.transform,
  line: r.line,
  reason: r.reason,
  rules: r.rules,
});

/** One entry of the `--format json` document's `files` array (also one line of jsonl). */
export function jsonFileEntry(report: FileReport) {
  return {
    path: report.path,
    changed: report.changed,
    changes: report.changes.map(changeEntry),
    refusals: report.refusals.map(refusalEntry),
    sideFiles: report.sideFiles.map((f) => ({
      path: f.path,
      message: f.message,
      created: f.created,
      applicability: f.applicability,
    })),
    /** With --write: the files written (side files first); a failed write leaves the rest out. */
    written: report.written,
    /** Unified diff of the Dockerfile and side files (what --write writes); null when unchanged. */
    diff: report.changed ? report.diff : null,
    error: report.error
      ? { kind: report.error.kind, message: report.error.message, line: report.error.line }
      : null,
    ...(report.verify ? { verify: verificationJson(report.verify) } : {}),
  };
}
