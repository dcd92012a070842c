import { execFileSync } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The e2e work folder: the stand-in base images' storage, results ($DFOPT_E2E_WORK). */
export const WORK = path.resolve(process.env.DFOPT_E2E_WORK ?? "/tmp/dfopt-e2e");

/**
 * Makes sure the stand-in base images exist (quick when present; skipped with DFOPT_E2E_SKIP_BASE=1)
 * and points buildah, in this process and its children, at their storage.
 */
export function useStandInStorage(): void {
  if (process.getuid?.() !== 0)
    throw new Error("the e2e suite builds images with buildah as root (run scripts/e2e/ci.sh)");
  if (process.env.DFOPT_E2E_SKIP_BASE !== "1") {
    // builds the stand-in base images, or restores them from the cache
    execFileSync(path.join(ROOT, "scripts/e2e/base-images.sh"), ["ensure"], {
      env: { ...process.env, WORK },
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  process.env.CONTAINERS_STORAGE_CONF = path.join(WORK, "storage.conf");
  process.env.CONTAINERS_REGISTRIES_CONF = path.join(WORK, "registries.conf");
  process.env.BUILDAH_ISOLATION = "chroot";
}
