/**
 * End-to-end: a rewrite must never swallow an error (issue 18). Each case is a
 * Dockerfile whose build fails; dfopt rewrites it with every default
 * transform, and the rewrite is really built with buildah: it must fail too.
 * The failures are offline and deterministic (`false`, apt-get with a
 * malformed or empty source list, a package that does not exist). Run with
 * `npx vitest run -c vitest.e2e.config.ts -t "swallows no error"` as root
 * (scripts/e2e/ci.sh sets buildah up).
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { memoryContext } from "../../src/io/context.ts";
import type { Builder } from "../../src/verify/builder.ts";
import { TRANSFORMS } from "../../transforms/index.ts";
import { setUpBuildah, WORK } from "./buildah-env.ts";

// An update that fails at once: the source list is not a source list.
const FAILING_UPDATE = "apt-get -o Dir::Etc::SourceList=/etc/os-release update";
// An update that succeeds offline and reads no sources.
const EMPTY_UPDATE = "apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null update";

const CASES: Array<{ name: string; dockerfile: string; rewrittenBy: string }> = [
  {
    // defect 2: merge-runs wrote `false && true || echo x > /f`
    name: "a failing RUN before an || list with a redirect",
    dockerfile: 'FROM debian:bookworm\nRUN false\nRUN true || echo x > /f\nCMD ["true"]\n',
    rewrittenBy: "merge-runs",
  },
  {
    // defect 3: apt-get-update-alone wrote `update && apt-get install -y curl; echo installed`
    name: "a failing apt-get update before an install followed by ;",
    dockerfile: `FROM debian:bookworm\nRUN ${FAILING_UPDATE}\nRUN apt-get install -y curl; echo installed\nCMD ["true"]\n`,
    rewrittenBy: "apt-get-update-alone",
  },
  {
    // apt-get-clean-lists appended `&& rm -rf ...` after `( set -e; ... )`, where sh ignores set -e
    name: "a failing install under set -e in a RUN that gets apt-get update in front",
    dockerfile: `FROM debian:bookworm\nRUN ${EMPTY_UPDATE}\nRUN set -e; apt-get install -y dfopt-no-such-package; echo installed\nCMD ["true"]\n`,
    rewrittenBy: "apt-get-update-alone",
  },
];

let builder: Builder;

beforeAll(async () => {
  ({ builder } = setUpBuildah());
  await loadParsers();
});

test.each(CASES)("swallows no error: $name", async ({ name, dockerfile, rewrittenBy }) => {
  const result = optimizeFile(dockerfile, memoryContext({}), { transforms: TRANSFORMS });
  expect(result.error).toBeNull();
  // the case proves something only if dfopt rewrote the risky part
  expect(result.changes.map((c) => c.transform)).toContain(rewrittenBy);

  const dir = path.join(WORK, "errors", name.replace(/[^a-z0-9]+/gi, "-"));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const build = async (which: string, text: string) => {
    const file = path.join(dir, `${which}.Dockerfile`);
    fs.writeFileSync(file, text);
    const tag = `localhost/dfopt-e2e/errors-${which}`;
    const outcome = await builder.build(file, dir, tag, { noCache: true });
    if (outcome.ok) await builder.remove([tag]);
    return outcome;
  };
  const before = await build("original", dockerfile);
  expect(before.ok, "the original must fail to build (fixture problem)").toBe(false);
  const after = await build("rewritten", result.output);
  expect(after.ok, `the rewrite built although the original fails:\n${result.output}`).toBe(false);
});
