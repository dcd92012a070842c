import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { emptyContext } from "../../src/io/context.ts";
import { STAND_IN_ENV, buildahSync, standInReady } from "./buildah-env.ts";
import { execFormCmd } from "../../transforms/instr/exec-form-cmd.ts";

/**
 * exec-form-cmd writes out the shell of a command that needs one
 * (`CMD ["/bin/sh", "-c", "..."]`): the image config a real build stores
 * (Cmd, Entrypoint) is the same as the shell form's, continuation lines,
 * quotes and escapes included. (With a SHELL instruction the builders differ:
 * buildah stores /bin/sh -c, BuildKit the SHELL; such commands are left alone.) Built with buildah on the
 * stand-in debian:bookworm-slim (scripts/e2e/base-images.sh); nothing runs.
 */
const env = STAND_IN_ENV;
const BASE = "docker.io/library/debian:bookworm-slim";
const ready = standInReady(BASE, "exec-form-shell");

/** The Cmd and Entrypoint a build of `dockerfile` stores. The image is removed again. */
function storedCommand(dockerfile: string): { Cmd?: string[]; Entrypoint?: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-exec-form-e2e-"));
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  const iid = path.join(dir, "iid");
  try {
    buildahSync(["build", "--pull=never", "--iidfile", iid, "-f", "Dockerfile", "."], { cwd: dir, env });
    const id = fs.readFileSync(iid, "utf8").trim();
    const { OCIv1 } = JSON.parse(
      execFileSync("buildah", ["inspect", "--type", "image", id], { env, encoding: "utf8" }),
    ) as { OCIv1: { config: { Cmd?: string[]; Entrypoint?: string[] } } };
    const config = OCIv1.config;
    execFileSync("buildah", ["rmi", id], { env, stdio: "ignore" });
    return { Cmd: config.Cmd, Entrypoint: config.Entrypoint };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Record<string, string> = {
  "lists, expansions and quotes": `FROM debian:bookworm-slim\nCMD ./migrate && exec ./serve --port "$PORT" --name 'my app' > /tmp/log\n`,
  "continuation lines keep their inner blanks": `FROM debian:bookworm-slim\nCMD ./migrate \\\n    && ./serve \\\n\t--verbose\n`,
  "escape directive": "# escape=`\nFROM debian:bookworm-slim\nCMD echo a\\b `\n  | tr a b\n",
  "exec-form ENTRYPOINT receives the shell form": `FROM debian:bookworm-slim\nENTRYPOINT ["/usr/bin/env"]\nCMD echo $HOME\n`,
  "shell-form ENTRYPOINT": `FROM debian:bookworm-slim\nENTRYPOINT exec /usr/bin/env "$@"\n`,
};

describe.skipIf(!ready)("exec form with the shell written out stores the same command", () => {
  beforeAll(loadParsers);
  test.each(Object.entries(CASES))("%s", (_name, original) => {
    const rewritten = optimizeFile(original, emptyContext, { transforms: [execFormCmd] });
    expect(rewritten.changes.map((c) => c.applicability)).not.toContain(undefined);
    expect(rewritten.output).not.toBe(original);
    expect(rewritten.output).toMatch(/^(CMD|ENTRYPOINT) \[/m);
    expect(storedCommand(rewritten.output)).toEqual(storedCommand(original));
  });
});
