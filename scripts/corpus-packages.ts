/**
 * The OS package names real Dockerfiles install (../shared/corpus), with how
 * many install commands name each: the scope of the tables generated from
 * Debian's metadata (scripts/apt-recommends.sh, scripts/dev-libraries.sh).
 */
import fs from "node:fs";
import path from "node:path";
import { loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "../test/corpus-check.ts";
import { packageName } from "../transforms/pkg/apt-get-no-install-recommends.ts";
import { runScripts, toolCalls, toolOperands } from "../transforms/pkg/shell-edits.ts";

/** Every package name real Dockerfiles pass to apt-get/apt install → how many installs name it. */
export async function corpusAptPackages(): Promise<Map<string, number>> {
  if (!corpusAvailable) throw new Error(`${CORPUS} not found: the table covers the packages it installs`);
  await loadParsers();
  const counts = new Map<string, number>();
  for (const file of corpusFiles()) {
    try {
      const model = parseDockerfile(fs.readFileSync(path.join(CORPUS, file), "utf8"));
      for (const rs of runScripts(model))
        for (const call of toolCalls(rs, ["apt-get", "apt"]))
          if (call.sub?.value === "install")
            for (const w of toolOperands(call)) {
              if (!w.value) continue;
              const name = packageName(w.value);
              counts.set(name, (counts.get(name) ?? 0) + 1);
            }
    } catch {
      // a file that does not parse installs nothing we can read
    }
  }
  return counts;
}
