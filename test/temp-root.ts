import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * vitest globalSetup: every temporary folder a test run makes (through `os.tmpdir()`, in the
 * test workers and the CLI processes they start) lands in one folder, removed when the run ends,
 * so an interrupted or failing test leaves nothing behind in /tmp.
 * The folder may be traversed by anyone: hostile-write tests run the CLI as another user.
 */
export default function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-test-"));
  fs.chmodSync(root, 0o755);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    fs.rmSync(root, { recursive: true, force: true });
  };
}
