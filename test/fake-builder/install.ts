import fs from "node:fs";
import path from "node:path";

const FAKE = path.join(import.meta.dirname, "fake-builder.mjs");

/**
 * Writes `docker`, `podman` and/or `buildah` wrappers that run the fake builder into `binDir`, with
 * its state in `stateDir`; returns the PATH value to use (the folder alone: no real builder is found).
 */
export function installFakeBuilders(binDir: string, stateDir: string, names: string[]): string {
  fs.mkdirSync(binDir, { recursive: true });
  for (const name of names) {
    const script = `#!/bin/sh\nFAKE_BUILDER_NAME=${name} FAKE_BUILDER_STATE=${JSON.stringify(stateDir)} exec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE)} "$@"\n`;
    fs.writeFileSync(path.join(binDir, name), script, { mode: 0o755 });
  }
  return binDir;
}

/** The fake builder's state: images and containers that still exist, and every call made. */
export function fakeState(stateDir: string) {
  const read = (f: string) =>
    fs.existsSync(path.join(stateDir, f)) ? JSON.parse(fs.readFileSync(path.join(stateDir, f), "utf8")) : {};
  const log = path.join(stateDir, "calls.log");
  return {
    images: read("images.json") as Record<string, { image: string; bytes: number; dockerfile: string }>,
    containers: read("containers.json") as Record<string, string>,
    calls: fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as string[])
      : [],
  };
}
