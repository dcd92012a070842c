import fs from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { memoryContext } from "../src/io/context.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import {
  APPS_DIR,
  listApps,
  runApps,
  runtimeCopyProblems,
  type AppRow,
} from "../scripts/split-apps-table.ts";

const present = fs.existsSync(APPS_DIR) && listApps().length > 0;
if (!present)
  console.warn(`split-stages-apps: skipped, the apps corpus is not at ${APPS_DIR} (set DFOPT_APPS)`);

describe.skipIf(!present)("split-stages over the real apps corpus", () => {
  let rows: AppRow[] = [];
  beforeAll(async () => {
    rows = await runApps();
  }, 60_000);

  test("every app is either converted or refused with a reason", () => {
    expect(rows.length).toBe(listApps().length);
    for (const r of rows) {
      expect(r.reason.trim(), r.dir).not.toBe("");
      expect(r.reason, r.dir).not.toMatch(/internal:/);
    }
  });

  test("multi-stage apps are refused as such", () => {
    const multi = rows.filter((r) => r.kind === "multi-stage-control");
    expect(multi.length).toBeGreaterThan(0);
    for (const r of multi) {
      expect(r.converted, r.dir).toBe(false);
      expect(r.reason, r.dir).toMatch(/^already multi-stage \(\d+ stages\)$/);
    }
  });

  test("converted apps only copy from the build stage what it produces, and from the context what it holds", () => {
    const converted = rows.filter((r) => r.converted);
    expect(converted.length).toBeGreaterThan(0);
    for (const r of converted) expect(r.problems, r.dir).toEqual([]);
  });

  test("converted apps keep every original comment and parse into a build stage and a runtime stage", () => {
    for (const r of rows.filter((x) => x.converted)) {
      const before = parseDockerfile(r.input);
      const after = parseDockerfile(r.output);
      expect(after.stages.length, r.dir).toBe(2);
      for (const c of before.comments) expect(r.output, r.dir).toContain(c.text);
      // No COPY --link and no RUN heredocs are introduced.
      expect(r.output.includes("--link"), r.dir).toBe(r.input.includes("--link"));
      expect(/<<-?\s*["']?\w/.test(r.output), r.dir).toBe(/<<-?\s*["']?\w/.test(r.input));
    }
  });

  test("a second run over each converted app changes nothing", () => {
    for (const r of rows.filter((x) => x.converted)) {
      const again = optimizeFile(r.output, r.context, { transforms: [splitStages] });
      expect(again.output, r.dir).toBe(r.output);
      expect(again.changes, r.dir).toEqual([]);
    }
  });
});

describe("runtimeCopyProblems (the check the apps test relies on)", () => {
  beforeAll(loadParsers);
  test("flags a runtime COPY --from=build of a path the build stage never makes", () => {
    const text = [
      "FROM node:20 AS build",
      "WORKDIR /app",
      "COPY . .",
      "RUN npm ci",
      "",
      "FROM node:20-slim",
      "COPY --from=build /app /app",
      "COPY --from=build /srv/missing /srv/missing",
      "COPY config.yml /etc/app/",
      'CMD ["node", "/app/index.js"]',
      "",
    ].join("\n");
    const problems = runtimeCopyProblems(parseDockerfile(text), memoryContext({ "package.json": "{}" }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain("/srv/missing");
    expect(problems[1]).toContain("config.yml is not in the build context");
  });

  test("accepts paths named by build RUNs (go -o, python -m venv)", () => {
    const text = [
      "FROM golang:1.21 AS build",
      "WORKDIR /src",
      "COPY . .",
      "RUN python -m venv /opt/venv && go build -o /out/server ./cmd/server",
      "FROM gcr.io/distroless/static-debian12",
      "COPY --from=build /out/server /server",
      "COPY --from=build /opt/venv /opt/venv",
      "COPY --from=build /src/templates /templates",
      "",
    ].join("\n");
    expect(runtimeCopyProblems(parseDockerfile(text), memoryContext({}))).toEqual([]);
  });
});
