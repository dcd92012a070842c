import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import path from "node:path";
import { isTransientBuilderFailure, makeBuilder, type Builder } from "../../src/verify/builder.ts";

export const ROOT = path.resolve(import.meta.dirname, "../..");
/** The e2e work folder: the stand-in base images' storage, results ($DFOPT_E2E_WORK). */
export const WORK = path.resolve(process.env.DFOPT_E2E_WORK ?? "/tmp/dfopt-e2e");

/**
 * Makes sure the stand-in base images exist (built by scripts/e2e/base-images.sh, or restored from
 * its cache; quick when present; skipped with DFOPT_E2E_SKIP_BASE=1) and points buildah, in this
 * process and its children, at their storage.
 */
export function useStandInStorage(): void {
  if (process.getuid?.() !== 0)
    throw new Error("the e2e suite builds images with buildah as root (run scripts/e2e/ci.sh)");
  if (process.env.DFOPT_E2E_SKIP_BASE !== "1") {
    execFileSync(path.join(ROOT, "scripts/e2e/base-images.sh"), ["ensure"], {
      env: { ...process.env, WORK },
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  process.env.CONTAINERS_STORAGE_CONF = path.join(WORK, "storage.conf");
  process.env.CONTAINERS_REGISTRIES_CONF = path.join(WORK, "registries.conf");
  process.env.BUILDAH_ISOLATION = "chroot";
}

/** buildah over the stand-in storage, as every e2e test file builds. */
export function setUpBuildah(): { builder: Builder; version: string } {
  useStandInStorage();
  const version = execFileSync("buildah", ["--version"], { encoding: "utf8" })
    .trim()
    .replace(/\s*\(.*\)\s*$/, "");
  return { builder: makeBuilder("buildah", version, { pull: "never" }), version };
}

/** buildah's environment over the stand-in storage, for tests that run buildah themselves. */
export const STAND_IN_ENV = {
  ...process.env,
  CONTAINERS_STORAGE_CONF: path.join(WORK, "storage.conf"),
  CONTAINERS_REGISTRIES_CONF: path.join(WORK, "registries.conf"),
  BUILDAH_ISOLATION: "chroot",
};

/** Whether buildah can build on the stand-in `image` here (root, buildah, the image built); says why not. */
export function standInReady(image: string, suite: string): boolean {
  const ready =
    process.getuid?.() === 0 &&
    spawnSync("buildah", ["inspect", "--type", "image", image], { env: STAND_IN_ENV, stdio: "ignore" })
      .status === 0;
  if (!ready)
    console.warn(`${suite} e2e skipped: needs root, buildah and the stand-in ${image} (scripts/e2e/ci.sh)`);
  return ready;
}

/**
 * `buildah <args>` as a test runs it itself (build, run), tried again as the verify builder does
 * when buildah failed before anything ran (its memfd seal refused on a busy machine:
 * isTransientBuilderFailure).
 */
export function buildahSpawn(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnSyncReturns<string> {
  const run = () =>
    spawnSync("buildah", args, { cwd: opts.cwd, env: opts.env ?? STAND_IN_ENV, encoding: "utf8" });
  let r = run();
  for (let attempt = 2; attempt <= 3 && r.status !== 0 && isTransientBuilderFailure(r.stderr); attempt++)
    r = run();
  return r;
}

/** buildahSpawn's output, or a throw naming the failure. */
export function buildahSync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = buildahSpawn(args, opts);
  if (r.status !== 0)
    throw new Error(`buildah ${args.join(" ")} failed (exit ${r.status}): ${r.stderr.slice(-1500)}`);
  return r.stdout;
}
