import type { ChildProcess } from "node:child_process";
import { builtin } from "../engine/lazy.ts";
import { trackProcessGroup } from "./cleanup.ts";

// Loaded on first use: only `dfopt verify` starts processes.
const childProcess = () => builtin<typeof import("node:child_process")>("node:child_process");

export interface ExecResult {
  /** Exit code, or null when killed by a signal (e.g. after the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Wall-clock seconds. */
  seconds: number;
  /** The command could not be started (ENOENT, EACCES). */
  spawnError: string | null;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the whole process group after this many milliseconds. */
  timeoutMs?: number;
  /** Keep at most this many bytes of each stream (the tail is kept). */
  maxBytes?: number;
}

const DEFAULT_MAX = 4 * 1024 * 1024;

/** A running child whose output is collected; `stop()` ends its process group. */
export interface Running {
  done: Promise<ExecResult>;
  stop(): void;
}

/** Starts `cmd args` in its own process group, collecting stdout/stderr. Never throws. */
export function start(cmd: string, args: string[], opts: ExecOptions = {}): Running {
  const t0 = process.hrtime.bigint();
  const max = opts.maxBytes ?? DEFAULT_MAX;
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  let child: ChildProcess;
  const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
  try {
    child = childProcess().spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const err = { code: null, stdout, stderr, timedOut, seconds: seconds(), spawnError: String(e) };
    return { done: Promise.resolve(err), stop() {} };
  }
  // killed with its group if dfopt is interrupted while it runs
  const untrack = child.pid !== undefined ? trackProcessGroup(child.pid) : () => {};
  const kill = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  };
  let hardKill: NodeJS.Timeout | undefined;
  const stop = () => {
    kill("SIGTERM");
    hardKill ??= setTimeout(() => kill("SIGKILL"), 5000);
  };
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs)
    : undefined;
  const append = (acc: string, chunk: Buffer) => {
    const next = acc + chunk.toString("utf8");
    return next.length > max ? next.slice(next.length - max) : next;
  };
  child.stdout?.on("data", (c: Buffer) => (stdout = append(stdout, c)));
  child.stderr?.on("data", (c: Buffer) => (stderr = append(stderr, c)));
  const done = new Promise<ExecResult>((resolve) => {
    let spawnError: string | null = null;
    child.on("error", (e) => {
      spawnError = e.message;
    });
    child.on("close", (code) => {
      untrack();
      if (timer) clearTimeout(timer);
      if (hardKill) clearTimeout(hardKill);
      resolve({ code, stdout, stderr, timedOut, seconds: seconds(), spawnError });
    });
  });
  return { done, stop };
}

export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return start(cmd, args, opts).done;
}

/**
 * Lines build tools print as advice rather than as what went wrong: npm's notices and warnings,
 * Browserslist's "data is old" hint. They come after the error (npm prints its update notice last),
 * so a tail of the log taken with them may hold nothing else.
 */
const BUILD_LOG_ADVICE =
  // eslint-disable-next-line no-control-regex -- a colour code may start the line
  /^(?:\x1b\[[0-9;]*m)*\s*(?:npm notice|npm warn\b|Browserslist:|npx update-browserslist-db|Why you should do it regularly)/i;

/** `log` without the advice lines of build tools (BUILD_LOG_ADVICE). */
export function withoutAdvice(log: string): string {
  return log
    .split("\n")
    .filter((l) => !BUILD_LOG_ADVICE.test(l))
    .join("\n");
}

/** The last `n` lines of a log, for error messages. */
export function tail(text: string, n = 15): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}
