import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/e2e/**", "node_modules/**"],
    globalSetup: ["test/temp-root.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
