import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { holdPort, listening } from "../src/verify/port-lock.ts";

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function listen(port = 0): Promise<number> {
  const server = net.createServer((c) => c.end());
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function freePort(): Promise<number> {
  const port = await listen();
  await new Promise((r) => servers.pop()!.close(r));
  return port;
}

const lockFile = (port: number) => path.join(os.tmpdir(), `dfopt-verify-port-${port}.lock`);

describe("verification port lock", () => {
  it("refuses a port another program already listens on", async () => {
    const port = await listen();
    const hold = await holdPort(port, 1000);
    expect(hold).toEqual({ error: expect.stringContaining(`127.0.0.1:${port}`) });
    expect(fs.existsSync(lockFile(port))).toBe(false);
  }, 20_000);

  it("makes a second holder wait until the first releases the port", async () => {
    const port = await freePort();
    const first = await holdPort(port);
    if (!("release" in first)) throw new Error(first.error);
    expect(fs.readFileSync(lockFile(port), "utf8")).toBe(String(process.pid));
    const blocked = await holdPort(port, 1200);
    expect(blocked).toEqual({ error: expect.stringContaining("locked by another dfopt verification") });
    const waiting = holdPort(port);
    setTimeout(() => first.release(), 300);
    const second = await waiting;
    expect("release" in second).toBe(true);
    if ("release" in second) second.release();
    expect(fs.existsSync(lockFile(port))).toBe(false);
    expect(await listening(port)).toBe(false);
  });

  it.skipIf(process.platform === "win32")(
    "a FIFO planted where the lock goes (the shared temporary folder) is removed, never read",
    async () => {
      // Reading it would block the whole process: another user of the machine could stop every
      // dfopt --verify run with one mkfifo.
      const port = await freePort();
      expect(spawnSync("mkfifo", [lockFile(port)]).status).toBe(0);
      const hold = await holdPort(port, 3000);
      expect("release" in hold).toBe(true);
      if ("release" in hold) hold.release();
      expect(fs.existsSync(lockFile(port))).toBe(false);
    },
    10_000,
  );

  it("takes over a lock left by a process that is gone", async () => {
    const port = await freePort();
    const gone = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    fs.writeFileSync(lockFile(port), gone);
    const hold = await holdPort(port, 3000);
    expect("release" in hold).toBe(true);
    if ("release" in hold) hold.release();
  });
});
