import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../src/cli/main.ts";
import { textSink } from "./text-sink.ts";

/** Runs the CLI in this process (in this thread unless `--jobs` is given: a worker through tsx takes a second). */
export async function dfopt(args: string[], cwd: string) {
  const out = textSink();
  const err = textSink();
  const jobs = args.includes("--jobs") ? [] : ["--jobs", "0"];
  const code = await main([...args, ...jobs], { stdout: out.stream, stderr: err.stream, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** A temporary folder holding `files` (relative path → content). */
export function tree(files: Record<string, string | Buffer>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-cli-"));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}
