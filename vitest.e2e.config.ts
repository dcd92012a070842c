import { defineConfig } from "vitest/config";

/** Real image builds (buildah, as root): `npx vitest run -c vitest.e2e.config.ts`, or scripts/e2e/ci.sh. */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    fileParallelism: false,
    // one app at a time: 2 cores, and the HTTP fixtures use fixed ports
    sequence: { concurrent: false },
    testTimeout: 20 * 60_000,
    // the first run builds the base images (about 4 minutes cold)
    hookTimeout: 45 * 60_000,
  },
});
