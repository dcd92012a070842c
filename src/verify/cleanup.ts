import fs from "node:fs";
import { builtin } from "../engine/lazy.ts";

/**
 * What verification leaves behind until it is done with it: images, containers, scratch folders,
 * port locks and running builder processes. Everything is registered here while it exists, so that an interrupted
 * run (SIGINT, SIGTERM, or an exit on EPIPE) still removes it: the cleanup is synchronous and runs on
 * process exit, and a signal received while anything is registered is turned into that exit.
 */
interface Leftover {
  /** The command and arguments that remove it (`buildah rmi -f TAG`). */
  argv: [string, ...string[]];
  env: NodeJS.ProcessEnv;
}

const leftovers = new Map<string, Leftover>();
const paths = new Set<string>();
const processGroups = new Set<number>();
let installed = false;

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

function onSignal(signal: NodeJS.Signals): void {
  // exit runs cleanupNow through the "exit" handler
  process.exit(SIGNAL_EXIT[signal] ?? 1);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanupNow);
  for (const s of Object.keys(SIGNAL_EXIT)) process.on(s, onSignal);
}

function uninstallWhenEmpty(): void {
  if (!installed || leftovers.size || paths.size || processGroups.size) return;
  installed = false;
  process.off("exit", cleanupNow);
  for (const s of Object.keys(SIGNAL_EXIT)) process.off(s, onSignal);
}

/** Registers something to remove; the returned function unregisters it (once it is removed). */
export function trackLeftover(key: string, leftover: Leftover): () => void {
  install();
  leftovers.set(key, leftover);
  return () => {
    leftovers.delete(key);
    uninstallWhenEmpty();
  };
}

/** A scratch folder or file (a lock) removed at exit unless `releasePath` removed it first. */
export function trackPath(p: string): void {
  install();
  paths.add(p);
}

export function releasePath(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  paths.delete(p);
  uninstallWhenEmpty();
}

/** A running builder process group, killed at exit. */
export function trackProcessGroup(pid: number): () => void {
  install();
  processGroups.add(pid);
  return () => {
    processGroups.delete(pid);
    uninstallWhenEmpty();
  };
}

/** Kills running builder processes, removes containers and images, then scratch folders. Never throws. */
export function cleanupNow(): void {
  for (const pid of processGroups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  processGroups.clear();
  // containers first: an image in use by a container cannot be removed
  const ordered = [...leftovers.entries()].sort(
    ([a], [b]) => Number(b.startsWith("container:")) - Number(a.startsWith("container:")),
  );
  for (const [, l] of ordered) {
    try {
      builtin<typeof import("node:child_process")>("node:child_process").spawnSync(
        l.argv[0],
        l.argv.slice(1),
        {
          env: l.env,
          stdio: "ignore",
          timeout: 60_000,
        },
      );
    } catch {
      // best effort
    }
  }
  leftovers.clear();
  for (const d of paths) fs.rmSync(d, { recursive: true, force: true });
  paths.clear();
  uninstallWhenEmpty();
}
