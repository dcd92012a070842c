import fs from "node:fs";
import path from "node:path";

/**
 * Writes through a temporary file in the same folder and a rename, so a
 * reader never sees a half-written file; an existing file keeps its mode.
 */
export function writeFileAtomic(file: string, content: string): void {
  let mode: number | undefined;
  try {
    mode = fs.statSync(file).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.dfopt-${process.pid}-${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, content, mode === undefined ? undefined : { mode });
    if (mode !== undefined) fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot write ${file}: ${(e as Error).message}`);
  }
}
