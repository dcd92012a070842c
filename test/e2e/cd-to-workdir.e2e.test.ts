import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { emptyContext } from "../../src/io/context.ts";
import { STAND_IN_ENV, buildahSync, standInReady } from "./buildah-env.ts";
import { cdToWorkdir } from "../../transforms/instr/cd-to-workdir.ts";

/**
 * cd-to-workdir's safe rewrite (`RUN cd /dir && …` → `WORKDIR /dir` + `RUN …`, the earlier WORKDIR
 * restored after) builds an image with the same files and the same working folder. Built with
 * buildah on the stand-in debian:bookworm-slim; the image's files are listed with their checksums
 * by a run of the built image, and its WorkingDir read from its config.
 */
const env = STAND_IN_ENV;
const BASE = "docker.io/library/debian:bookworm-slim";
const ready = standInReady(BASE, "cd-to-workdir");

/** What a build of `dockerfile` leaves: the files under /opt/app and /srv with checksums, and WorkingDir. */
function builtImage(dockerfile: string): { files: string; workingDir: string | undefined } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-cd-workdir-e2e-"));
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  const iid = path.join(dir, "iid");
  const name = `dfopt-cd-workdir-${process.pid}-${Date.now()}`;
  try {
    buildahSync(["build", "--pull=never", "--iidfile", iid, "-f", "Dockerfile", "."], { cwd: dir, env });
    const id = fs.readFileSync(iid, "utf8").trim();
    const { OCIv1 } = JSON.parse(
      execFileSync("buildah", ["inspect", "--type", "image", id], { env, encoding: "utf8" }),
    ) as { OCIv1: { config: { WorkingDir?: string } } };
    execFileSync("buildah", ["from", "--pull=never", "--name", name, id], { env, stdio: "ignore" });
    try {
      const files = buildahSync(
        ["run", name, "--", "sh", "-c", "find /opt/app /srv -type f | sort | xargs md5sum"],
        {
          env,
        },
      );
      return { files, workingDir: OCIv1.config.WorkingDir };
    } finally {
      execFileSync("buildah", ["rm", name], { env, stdio: "ignore" });
      execFileSync("buildah", ["rmi", id], { env, stdio: "ignore" });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Record<string, string> = {
  "a redirect on the last command of the list":
    "FROM debian:bookworm-slim\nWORKDIR /srv\nRUN mkdir -p /opt/app\n" +
    "RUN cd /opt/app && echo built > out.txt && ls -a > listing.txt 2>&1\n" +
    "RUN echo after > here.txt\n",
  "several RUNs in a row, then the folder restored":
    "FROM debian:bookworm-slim\nWORKDIR /srv\nRUN mkdir -p /opt/app\n" +
    "RUN cd /opt/app && echo one > a.txt\nRUN cd /opt/app && cat a.txt > b.txt\n" +
    "RUN pwd > where.txt\n",
};

describe.skipIf(!ready)("cd-to-workdir builds the same files and working folder", () => {
  beforeAll(loadParsers);
  test.each(Object.entries(CASES))("%s", (_name, original) => {
    const rewritten = optimizeFile(original, emptyContext, { transforms: [cdToWorkdir] });
    expect(rewritten.changes.length).toBeGreaterThan(0);
    expect(rewritten.changes.every((c) => c.applicability === "safe")).toBe(true);
    expect(rewritten.output).toMatch(/^WORKDIR \/opt\/app$/m);
    const before = builtImage(original);
    expect(before.files).toContain("/opt/app/");
    expect(builtImage(rewritten.output)).toEqual(before);
  });
});
