import { execFileSync } from "node:child_process";
import path from "node:path";
import { expect, test } from "vitest";

const root = path.resolve(import.meta.dirname, "..");

test("README transforms table, README example and docs/transforms.md match the code", () => {
  let output: string;
  let code = 0;
  try {
    output = execFileSync(process.execPath, ["--import", "tsx", "scripts/gen-docs.ts", "--check"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as { status: number; stderr: string };
    code = err.status;
    output = err.stderr;
  }
  expect(output).toBe("");
  expect(code).toBe(0);
});
