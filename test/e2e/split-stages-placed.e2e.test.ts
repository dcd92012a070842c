/**
 * split-stages on builds that put files in place outside the app folder, built for real with
 * buildah on the stand-in images: a Node build served by nginx from /var/www/html (web-root
 * planner: the runtime stage is the same image with nginx and only that folder), and a Go build
 * whose RUN after the build moves its config into /etc and copies a folder into /srv (followed
 * cp/mv: the runtime stage gets those paths), and a Node app whose install RUN moves node_modules
 * to /node_modules, as dockersamples/example-voting-app's result service does (the runtime stage
 * gets /node_modules, pruned where it lies). The original and the rewrite must show the same.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../../src/engine/engine.ts";
import { folderContext } from "../../src/io/context.ts";
import type { Builder, RunOutcome, RunRequest } from "../../src/verify/builder.ts";
import { splitStages } from "../../transforms/split-stages/index.ts";
import { ROOT, setUpBuildah, WORK } from "./buildah-env.ts";

let builder: Builder;

beforeAll(async () => {
  builder = setUpBuildah().builder;
  await loadParsers();
});

/**
 * Builds the case (a copy in WORK) as written and as split-stages rewrites it, then runs both
 * images with `req`; the images are removed again. Returns the rewrite, both runs and both sizes.
 */
async function buildAndRun(
  name: string,
  req: RunRequest,
): Promise<{ output: string; runs: RunOutcome[]; bytes: Array<number | null> }> {
  const dir = path.join(WORK, "split-stages-placed", name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, "fixtures/e2e-cases", name), dir, { recursive: true });
  const original = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
  const result = optimizeFile(original, folderContext(dir), { transforms: [splitStages] });
  expect(result.error).toBeNull();
  expect(result.changes.map((c) => c.transform)).toEqual(["split-stages"]);
  const rewritten = path.join(dir, "Dockerfile.dfopt");
  fs.writeFileSync(rewritten, result.output);
  const tags = [`localhost/dfopt-e2e/${name}:original`, `localhost/dfopt-e2e/${name}:dfopt`];
  try {
    const runs: RunOutcome[] = [];
    const bytes: Array<number | null> = [];
    for (const [file, tag] of [
      [path.join(dir, "Dockerfile"), tags[0]],
      [rewritten, tags[1]],
    ]) {
      const built = await builder.build(file, dir, tag, { noCache: true });
      expect(built.error).toBeNull();
      const run = await builder.run(tag, req);
      expect(run.exitCode, run.stderr).toBe(0);
      runs.push(run);
      bytes.push((await builder.inspect(tag))?.bytes ?? null);
    }
    return { output: result.output, runs, bytes };
  } finally {
    await builder.remove(tags);
  }
}

test("a site built on node and served by nginx: the rewrite serves the same files, without the sources", async () => {
  const smoke =
    "nginx -t 2>&1 | tail -1 && cat /var/www/html/index.html /var/www/html/assets/app.js && " +
    "if [ -e /root/code ]; then echo sources shipped; else echo no sources; fi";
  const { output, runs } = await buildAndRun("web-root-nginx", { smoke, timeoutMs: 60_000 });
  expect(output).toContain("COPY --from=build /var/www/html /var/www/html");
  expect(runs[0].stdout).toContain("<title>dfopt</title>");
  expect(runs[0].stdout).toContain("sources shipped");
  expect(runs[1].stdout).toBe(runs[0].stdout.replace("sources shipped", "no sources"));
});

test("a Go build whose RUN moves its config into place: the rewrite's binary reads the same files", async () => {
  const { output, runs } = await buildAndRun("placed-config-go", { timeoutMs: 60_000 });
  expect(output).toContain("COPY --from=build /etc/api/config.txt /etc/api/config.txt");
  expect(output).toContain("COPY --from=build /srv/deploy /srv/deploy");
  expect(runs[0].stdout).toBe("/etc/api/config.txt: port=8080\n/srv/deploy/motd.txt: hello from /srv\n");
  expect(runs[1].stdout).toBe(runs[0].stdout);
});

test("a Node app whose install RUN moves node_modules to /node_modules: the same output, without dev dependencies, smaller", async () => {
  const smoke =
    "node server.js && if [ -e /node_modules/typescript ]; then echo dev dependencies shipped; else echo no dev dependencies; fi";
  const { output, runs, bytes } = await buildAndRun("placed-node-modules", { smoke, timeoutMs: 60_000 });
  expect(output).toContain(
    "RUN mv /node_modules node_modules && npm prune --omit=dev && mv node_modules /node_modules",
  );
  expect(output).toContain("COPY --from=build /node_modules /node_modules");
  expect(output).not.toMatch(/^USER /m);
  expect(runs[0].stdout).toBe(
    "ms from /node_modules/ms/index.js\n2 days = 172800000 ms\ndev dependencies shipped\n",
  );
  expect(runs[1].stdout).toBe(runs[0].stdout.replace("dev dependencies shipped", "no dev dependencies"));
  expect(bytes[0]).not.toBeNull();
  expect(bytes[1]).not.toBeNull();
  expect(bytes[1]!).toBeLessThan(bytes[0]!);
  console.log(`placed-node-modules: original ${bytes[0]} bytes, rewrite ${bytes[1]} bytes`);
});
