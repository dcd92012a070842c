import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { releasePath, trackPath } from "./cleanup.ts";
import { readRegularFile } from "../io/safe-read.ts";

/**
 * Containers run on the host network, so the HTTP probe of 127.0.0.1:PORT reaches whatever listens
 * there. Two verifications of servers on the same port (two dfopt runs, a benchmark beside the e2e
 * suite) would answer each other's probes, and a verification could pass on another server's
 * answer. So a run that probes a port first takes a lock on it shared by every dfopt process of the
 * machine, then checks that nothing listens there yet.
 */

/** How long to wait for another dfopt process to release the port. */
const LOCK_WAIT_MS = 15 * 60_000;
const POLL_MS = 500;
/** How long a port already listened on may take to be freed. */
const FREE_WAIT_MS = 10_000;

export type PortHold = { release(): void } | { error: string };

function lockFile(port: number): string {
  return path.join(os.tmpdir(), `dfopt-verify-port-${port}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Creates the lock file, or removes it when the process that made it is gone; false while held. */
function tryLock(file: string): boolean {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  // The file lies in the shared temporary folder: another user may have put a FIFO, a link to
  // /dev/zero or a folder there. Read only a small regular file, without blocking.
  const read = readRegularFile(file, { maxBytes: 64, noFollow: true });
  if ("failure" in read && read.failure.refusal === "missing") return false; // released: try again
  const owner = "bytes" in read ? Number.parseInt(read.bytes.toString("utf8"), 10) : Number.NaN;
  if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
  try {
    fs.rmSync(file, { force: true, recursive: true });
  } catch {
    // another user's file in a sticky folder: wait, as for a held lock, until the time runs out
  }
  return false;
}

/** True when something accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Holds `port` for one run: waits for other dfopt processes to release it, then fails when a
 * process that is not dfopt's already listens on it (its answer could not be told from the image's).
 */
export async function holdPort(port: number, waitMs = LOCK_WAIT_MS): Promise<PortHold> {
  const file = lockFile(port);
  const until = Date.now() + waitMs;
  while (!tryLock(file)) {
    if (Date.now() >= until)
      return {
        error: `port ${port} stayed locked by another dfopt verification (${file}) for ${waitMs / 1000} s`,
      };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  trackPath(file);
  const release = () => releasePath(file);
  // a server stopped a moment ago may still hold the socket
  const freeBy = Date.now() + FREE_WAIT_MS;
  while ((await listening(port)) && Date.now() < freeBy) await new Promise((r) => setTimeout(r, POLL_MS));
  if (await listening(port)) {
    release();
    return {
      error: `something already listens on 127.0.0.1:${port}; the image's server could not be told from it`,
    };
  }
  return { release };
}
