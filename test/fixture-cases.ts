import fs from "node:fs";
import path from "node:path";
import { folderContext, emptyContext } from "../src/io/context.ts";
import type { BuildContext, TransformOptions } from "../src/engine/types.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { versionBotsAt } from "../src/io/version-bots.ts";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures");

/** Each case's expected report; regenerate it (and expected.Dockerfile) with `DFOPT_UPDATE_FIXTURES=1 npx vitest run test/fixtures.test.ts`. */
export const REPORT_FILE = "expected.report.json";

/**
 * fixtures/<transform>/<case>/
 *   Dockerfile            input, exact bytes
 *   expected.Dockerfile   expected output; absent means "must not change"
 *   context/              build context (default: none)
 *   expected.<file>       expected side file, e.g. expected.dockerignore → .dockerignore
 *   expected.report.json  the whole report: changes, refusals, side files (REPORT_FILE)
 *   case.json             { "transforms": [ids], "options": {...}, "refusal": "substring", "description": "..." }
 */
export interface FixtureCase {
  transform: string;
  name: string;
  dir: string;
  input: string;
  expected: string;
  context: BuildContext;
  transforms: string[];
  options: TransformOptions;
  refusal: string | null;
  expectedSideFiles: Record<string, string>;
}

export function fixtureCases(): FixtureCase[] {
  const cases: FixtureCase[] = [];
  if (!fs.existsSync(FIXTURES)) return cases;
  for (const transform of fs.readdirSync(FIXTURES).sort()) {
    const tdir = path.join(FIXTURES, transform);
    if (!fs.statSync(tdir).isDirectory() || transform.startsWith("e2e")) continue;
    for (const name of fs.readdirSync(tdir).sort()) {
      const dir = path.join(tdir, name);
      const inputPath = path.join(dir, "Dockerfile");
      if (!fs.existsSync(inputPath)) continue;
      const input = fs.readFileSync(inputPath, "utf8");
      const expectedPath = path.join(dir, "expected.Dockerfile");
      const spec = fs.existsSync(path.join(dir, "case.json"))
        ? JSON.parse(fs.readFileSync(path.join(dir, "case.json"), "utf8"))
        : {};
      const expectedSideFiles: Record<string, string> = {};
      for (const f of fs.readdirSync(dir)) {
        if (f.startsWith("expected.") && f !== "expected.Dockerfile" && f !== REPORT_FILE) {
          expectedSideFiles["." + f.slice("expected.".length)] = fs.readFileSync(path.join(dir, f), "utf8");
        }
      }
      const contextDir = path.join(dir, "context");
      cases.push({
        transform,
        name,
        dir,
        input,
        expected: fs.existsSync(expectedPath) ? fs.readFileSync(expectedPath, "utf8") : input,
        context: fs.existsSync(contextDir) ? folderContext(contextDir) : emptyContext,
        transforms: spec.transforms ?? (transform.startsWith("_") ? [] : [transform]),
        // a fixture's context/ is its repository's root: the version bots configured there apply
        options: {
          ...DEFAULT_OPTIONS,
          ...(fs.existsSync(contextDir) ? { versionBots: versionBotsAt(contextDir, "/") } : {}),
          ...(spec.options ?? {}),
        },
        refusal: spec.refusal ?? null,
        expectedSideFiles,
      });
    }
  }
  return cases;
}
