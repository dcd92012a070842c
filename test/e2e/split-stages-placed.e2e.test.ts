/**
 * split-stages on builds that put files in place outside the app folder, built for real with
 * buildah on the stand-in images: a Node build served by nginx from /var/www/html (web-root
 * planner: the runtime stage is the same image with nginx and only that folder), and a Go build
 * whose RUN after the build moves its config into /etc and copies a folder into /srv (followed
 * cp/mv: the runtime stage gets those paths). The original and the rewrite must show the same.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { folderContext } from "../../src/io/context.ts";
import type { Builder } from "../../src/verify/builder.ts";
import { splitStages } from "../../transforms/split-stages/index.ts";
import { ROOT, setUpBuildah, WORK } from "./buildah-env.ts";

let builder: Builder;

beforeAll(async () => {
  builder = setUpBuildah().builder;
  await loadParsers();
});

/** A copy of the case in WORK with split-stages' rewrite of its Dockerfile beside it. */
function caseCopy(name: string): { dir: string; rewritten: string; output: string } {
  const dir = path.join(WORK, "split-stages-placed", name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, "fixtures/e2e-cases", name), dir, { recursive: true });
  const original = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
  const result = optimizeFile(original, folderContext(dir), { transforms: [splitStages] });
  expect(result.error).toBeNull();
  expect(result.changes.map((c) => c.transform)).toEqual(["split-stages"]);
  const rewritten = path.join(dir, "Dockerfile.dfopt");
  fs.writeFileSync(rewritten, result.output);
  return { dir, rewritten, output: result.output };
}

test("a site built on node and served by nginx: the rewrite serves the same files, without the sources", async () => {
  const { dir, rewritten, output } = caseCopy("web-root-nginx");
  expect(output).toContain("COPY --from=build /var/www/html /var/www/html");
  const tags = ["localhost/dfopt-e2e/web-root:original", "localhost/dfopt-e2e/web-root:dfopt"];
  try {
    const before = await builder.build(path.join(dir, "Dockerfile"), dir, tags[0], { noCache: true });
    expect(before.error).toBeNull();
    const after = await builder.build(rewritten, dir, tags[1], { noCache: true });
    expect(after.error).toBeNull();
    const smoke =
      "nginx -t 2>&1 | tail -1 && cat /var/www/html/index.html /var/www/html/assets/app.js && " +
      "if [ -e /root/code ]; then echo sources shipped; else echo no sources; fi";
    const runs = [];
    for (const tag of tags) runs.push(await builder.run(tag, { smoke, timeoutMs: 60_000 }));
    for (const run of runs) expect(run.exitCode, run.stderr).toBe(0);
    expect(runs[0].stdout).toContain("<title>dfopt</title>");
    expect(runs[0].stdout).toContain("sources shipped");
    expect(runs[1].stdout).toBe(runs[0].stdout.replace("sources shipped", "no sources"));
    const sizes = await Promise.all(tags.map((t) => builder.inspect(t)));
    expect(sizes[1]!.command).toEqual(sizes[0]!.command);
  } finally {
    await builder.remove(tags);
  }
});

test("a Go build whose RUN moves its config into place: the rewrite's binary reads the same files", async () => {
  const { dir, rewritten, output } = caseCopy("placed-config-go");
  expect(output).toContain("COPY --from=build /etc/api/config.txt /etc/api/config.txt");
  expect(output).toContain("COPY --from=build /srv/deploy /srv/deploy");
  const tags = ["localhost/dfopt-e2e/placed-config:original", "localhost/dfopt-e2e/placed-config:dfopt"];
  try {
    const before = await builder.build(path.join(dir, "Dockerfile"), dir, tags[0], { noCache: true });
    expect(before.error).toBeNull();
    const after = await builder.build(rewritten, dir, tags[1], { noCache: true });
    expect(after.error).toBeNull();
    const runs = [];
    for (const tag of tags) runs.push(await builder.run(tag, { timeoutMs: 60_000 }));
    for (const run of runs) expect(run.exitCode, run.stderr).toBe(0);
    expect(runs[0].stdout).toBe("/etc/api/config.txt: port=8080\n/srv/deploy/motd.txt: hello from /srv\n");
    expect(runs[1].stdout).toBe(runs[0].stdout);
  } finally {
    await builder.remove(tags);
  }
});
