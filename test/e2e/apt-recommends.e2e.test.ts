import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { emptyContext } from "../../src/io/context.ts";
import { STAND_IN_ENV, buildahSpawn, standInReady } from "./buildah-env.ts";
import { aptGetNoInstallRecommends } from "../../transforms/pkg/apt-get-no-install-recommends.ts";

/**
 * apt-get-no-install-recommends keeps what the image needs: curl recommends
 * ca-certificates, and an HTTPS download after the rewrite still works, where
 * the bare flag breaks it. Built with buildah on the stand-in debian:bookworm-slim
 * (scripts/e2e/base-images.sh); apt-get and the download reach Debian's mirror.
 */
const env = STAND_IN_ENV;
const BASE = "docker.io/library/debian:bookworm-slim";
const ready = standInReady(BASE, "apt-recommends");

/** Builds `dockerfile`; true when the build succeeds. The image is removed again. */
function builds(dockerfile: string): { ok: boolean; log: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-apt-e2e-"));
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  const iid = path.join(dir, "iid");
  const r = buildahSpawn(
    ["build", "--pull=never", "--layers=false", "--iidfile", iid, "-f", "Dockerfile", "."],
    {
      cwd: dir,
      env,
    },
  );
  if (fs.existsSync(iid))
    execFileSync("buildah", ["rmi", fs.readFileSync(iid, "utf8").trim()], { env, stdio: "ignore" });
  fs.rmSync(dir, { recursive: true, force: true });
  return { ok: r.status === 0, log: `${r.stdout}\n${r.stderr}`.slice(-2000) };
}

describe.skipIf(!ready)(
  "apt-get --no-install-recommends keeps the recommended packages an image needs",
  () => {
    beforeAll(loadParsers);

    test("curl over HTTPS still works after the rewrite (ca-certificates kept); the bare flag breaks it", () => {
      const original =
        `FROM debian:bookworm-slim\n` +
        `RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n` +
        `RUN curl -fsS -o /dev/null https://deb.debian.org/debian/\n`;
      const result = optimizeFile(original, emptyContext, { transforms: [aptGetNoInstallRecommends] });
      expect(result.output).toBe(
        original.replace("install -y curl", "install -y --no-install-recommends curl ca-certificates"),
      );
      const before = builds(original);
      expect(before.ok, before.log).toBe(true);
      const after = builds(result.output);
      expect(after.ok, after.log).toBe(true);
      const bare = builds(original.replace("install -y curl", "install -y --no-install-recommends curl"));
      expect(bare.ok).toBe(false);
      expect(bare.log).toMatch(/curl: \(60\)|certificate/i);
    });
  },
);
