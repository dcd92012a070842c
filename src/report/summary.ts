import { printable } from "./printable.ts";
import { UNSAFE_NOT_APPLIED } from "../engine/types.ts";
import type { FileReport } from "../io/process.ts";

export interface SummaryJson {
  files: number;
  changed: number;
  /** Files with at least one refusal. */
  refused: number;
  errors: number;
  /** Files written (--write). */
  written: number;
  /** Reports taken from the result cache (--cache). */
  fromCache: number;
  /** Changes and side files applied that are unsafe (may change what the image does). */
  unsafeChanges: number;
  /** Transform id → changes applied. */
  changesByTransform: Record<string, number>;
  /** `transform: reason` → refusals, most frequent first. */
  refusalsByReason: Record<string, number>;
  /** Error kind → files. */
  errorsByKind: Record<string, number>;
  seconds: number;
  filesPerSecond: number;
}

export interface RenderOptions {
  /** Wall time of the run; default: since createSummary(). */
  seconds?: number;
  mode?: "diff" | "write" | "check";
  /** Refusal reasons listed (most frequent first). */
  topReasons?: number;
}

/**
 * Numbers that vary between otherwise identical reasons (line numbers,
 * counts) are folded so that the same refusal groups together.
 */
export function reasonKey(transform: string, reason: string): string {
  // Each unsafe change held back has its own message: one group per transform.
  if (reason.startsWith(UNSAFE_NOT_APPLIED)) return `${transform}: ${UNSAFE_NOT_APPLIED}`;
  return `${transform}: ${reason.replace(/\b(line|lines|stage) \d+(-\d+)?/g, "$1 N")}`;
}

/** 12345 → "12,345" (Intl's toLocaleString costs ~20 ms to load on a cold start). */
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const inc = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);
const sorted = (m: Map<string, number>) =>
  [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

/** End-of-run counts, accumulated one FileReport at a time (nothing per file is kept). */
export function createSummary() {
  // process.hrtime, not performance.now(): the latter loads perf_hooks (~1.5 ms of a one-file run).
  const started = process.hrtime.bigint();
  let files = 0;
  let changed = 0;
  let refused = 0;
  let errors = 0;
  let written = 0;
  let fromCache = 0;
  let unsafeChanges = 0;
  const byTransform = new Map<string, number>();
  const byReason = new Map<string, number>();
  const byKind = new Map<string, number>();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;

  return {
    add(report: FileReport): void {
      files++;
      if (report.error) {
        errors++;
        inc(byKind, report.error.kind);
      }
      if (report.changed) changed++;
      if (report.refusals.length > 0) refused++;
      if (report.written.length > 0) written++;
      if (report.cached) fromCache++;
      for (const c of report.changes) inc(byTransform, c.transform);
      for (const c of report.changes) if (c.applicability === "unsafe") unsafeChanges++;
      for (const f of report.sideFiles) if (f.applicability === "unsafe") unsafeChanges++;
      for (const r of report.refusals) inc(byReason, reasonKey(r.transform, r.reason));
    },

    /** A command-line path that named nothing to process (missing, no Dockerfiles under it). */
    addInputProblem(kind: string): void {
      errors++;
      inc(byKind, kind);
    },

    toJSON(seconds = elapsed()): SummaryJson {
      return {
        files,
        changed,
        refused,
        errors,
        written,
        fromCache,
        unsafeChanges,
        changesByTransform: Object.fromEntries(sorted(byTransform)),
        refusalsByReason: Object.fromEntries(sorted(byReason)),
        errorsByKind: Object.fromEntries(sorted(byKind)),
        seconds: Math.round(seconds * 1000) / 1000,
        filesPerSecond: seconds > 0 ? Math.round(files / seconds) : 0,
      };
    },

    render(opts: RenderOptions = {}): string {
      const seconds = opts.seconds ?? elapsed();
      const top = opts.topReasons ?? 10;
      const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
      // A rate over a run shorter than a second says more about start-up than about speed.
      const rate = seconds >= 1 ? `, ${thousands(Math.round(files / seconds))} files/s` : "";
      const verb =
        opts.mode === "write" ? "changed" : opts.mode === "check" ? "would change" : "with changes";
      const lines = [
        `dfopt: ${plural(files, "file")} scanned in ${seconds.toFixed(1)} s${rate}: ` +
          `${changed} ${verb}, ${refused} with refusals, ${plural(errors, "error")}` +
          (opts.mode === "write" ? `, ${plural(written, "file")} written` : "") +
          (fromCache > 0 ? ` (${thousands(fromCache)} from the cache)` : "") +
          ".",
      ];
      if (byTransform.size > 0) {
        lines.push("  changes by transform:");
        for (const [id, n] of sorted(byTransform)) lines.push(`    ${String(n).padStart(6)}  ${id}`);
      }
      if (unsafeChanges > 0)
        lines.push(
          `  ${thousands(unsafeChanges)} of the changes ${unsafeChanges === 1 ? "is" : "are"} unsafe (may change what the image does), applied by --unsafe or proven by --verify`,
        );
      if (byReason.size > 0) {
        const all = sorted(byReason);
        lines.push(`  refusals by reason${all.length > top ? ` (top ${top} of ${all.length})` : ""}:`);
        for (const [reason, n] of all.slice(0, top))
          lines.push(`    ${String(n).padStart(6)}  ${printable(reason)}`);
      }
      if (byKind.size > 0) {
        lines.push("  errors by kind:");
        for (const [kind, n] of sorted(byKind)) lines.push(`    ${String(n).padStart(6)}  ${kind}`);
      }
      return lines.join("\n");
    },
  };
}

export type Summary = ReturnType<typeof createSummary>;
