import type { FileReport } from "../io/process.ts";

export interface ProgressOptions {
  /** Off for machine formats (json, jsonl, sarif) and --quiet; never drawn when the stream is not a TTY. */
  enabled: boolean;
  /** Minimum time between redraws. */
  intervalMs?: number;
  /** For tests: the clock. */
  now?: () => number;
}

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/**
 * A one-line progress bar on stderr: done/total, changed, refused, errors,
 * files/s; redrawn at most every 100 ms. Call `clear()` before writing to a
 * stream shown on the same terminal; the next tick draws it again.
 */
export function createProgress(stream: Stream, total: number, opts: ProgressOptions) {
  const active = opts.enabled && !!stream.isTTY && total > 1;
  const now = opts.now ?? (() => Number(process.hrtime.bigint()) / 1e6);
  const interval = opts.intervalMs ?? 100;
  const started = now();
  let lastDraw = -Infinity;
  let shown = false;
  let done = 0;
  let changed = 0;
  let refused = 0;
  let errors = 0;

  const line = () => {
    const secs = (now() - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 70));
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    return `[${bar}] ${done}/${total}  changed ${changed}  refused ${refused}  errors ${errors}  ${rate} files/s`;
  };
  const draw = () => {
    stream.write(`\r${line()}\u001b[K`);
    shown = true;
    lastDraw = now();
  };

  return {
    active,
    tick(report: FileReport): void {
      done++;
      if (report.changed) changed++;
      if (report.refusals.length > 0) refused++;
      if (report.error) errors++;
      if (active && now() - lastDraw >= interval) draw();
    },
    /** Erases the bar (if drawn) so that other output starts on a clean line. */
    clear(): void {
      if (!shown) return;
      stream.write("\r\u001b[K");
      shown = false;
      lastDraw = -Infinity;
    },
    /** Erases the bar at the end of the run. */
    done(): void {
      if (!shown) return;
      stream.write("\r\u001b[K");
      shown = false;
    },
  };
}

export type Progress = ReturnType<typeof createProgress>;
