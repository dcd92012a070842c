import { UNSAFE_NOT_APPLIED } from "../src/engine/types.ts";
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers, type FileResult } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { structuralProblems } from "../src/engine/check.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { changeEntry, refusalEntry } from "../src/report/json.ts";
import { fixtureCases, REPORT_FILE } from "./fixture-cases.ts";

beforeAll(loadParsers);

const cases = fixtureCases();
/**
 * Writes each case's expected output (when it changes the input or already has an
 * expected.Dockerfile) and report instead of checking them (review the diff before committing).
 */
const UPDATE = process.env.DFOPT_UPDATE_FIXTURES === "1";

/** The whole report of a fixture run, as its expected.report.json records it. */
function reportOf(result: FileResult) {
  return {
    changes: result.changes.map(changeEntry),
    refusals: result.refusals.map(refusalEntry),
    sideFiles: result.sideFiles.map((f) => ({
      path: f.path,
      message: f.message,
      applicability: f.applicability,
    })),
  };
}

describe.each(cases.map((c) => [`${c.transform}/${c.name}`, c] as const))("%s", (_name, c) => {
  const transforms =
    c.transforms.length > 0
      ? c.transforms.map((id) => {
          const t = transformById(id);
          if (!t) throw new Error(`fixture names unknown transform '${id}'`);
          return t;
        })
      : TRANSFORMS.filter((t) => !t.defaultOff);
  const run = (text: string, safeOnly = false) =>
    optimizeFile(text, c.context, { transforms, options: c.options, safeOnly });

  test("produces the expected output", () => {
    const result = run(c.input);
    expect(result.error).toBeNull();
    const expectedFile = path.join(c.dir, "expected.Dockerfile");
    if (UPDATE && result.output !== null && (result.output !== c.input || fs.existsSync(expectedFile))) {
      fs.writeFileSync(expectedFile, result.output);
      c.expected = result.output;
    }
    expect(result.output).toBe(c.expected);
    if (c.expected !== c.input) expect(result.changes.length).toBeGreaterThan(0);
    for (const [name, content] of Object.entries(c.expectedSideFiles)) {
      expect(result.sideFiles.find((f) => f.path === name)?.content).toBe(content);
    }
    if (c.refusal) {
      expect(result.refusals.map((r) => r.reason).join("\n")).toContain(c.refusal);
    }
  });

  test(`reports exactly ${REPORT_FILE}`, () => {
    const actual = reportOf(run(c.input));
    const file = path.join(c.dir, REPORT_FILE);
    if (UPDATE) fs.writeFileSync(file, JSON.stringify(actual, null, 2) + "\n");
    expect(fs.existsSync(file), `${file} is missing: run DFOPT_UPDATE_FIXTURES=1`).toBe(true);
    expect(actual).toEqual(JSON.parse(fs.readFileSync(file, "utf8")));
  });

  test("is stable on its own output", () => {
    const again = run(c.expected);
    expect(again.output).toBe(c.expected);
    expect(again.changes).toEqual([]);
  });

  test("under --safe applies only safe changes, reports the others, and is stable", () => {
    const full = run(c.input);
    const safe = run(c.input, true);
    expect(safe.error).toBeNull();
    expect(safe.changes.filter((ch) => ch.applicability !== "safe")).toEqual([]);
    expect(safe.sideFiles.filter((f) => f.applicability !== "safe")).toEqual([]);
    const unsafe = [...full.changes, ...full.sideFiles].filter((x) => x.applicability === "unsafe");
    if (unsafe.length === 0) {
      expect(safe.output).toBe(full.output);
      expect(safe.sideFiles).toEqual(full.sideFiles);
    } else {
      expect(safe.refusals.some((r) => r.reason.startsWith(UNSAFE_NOT_APPLIED))).toBe(true);
    }
    const again = run(safe.output, true);
    expect(again.output).toBe(safe.output);
    expect(again.changes).toEqual([]);
  });

  test("output parses without new problems", () => {
    const before = structuralProblems(parseDockerfile(c.input)).length;
    expect(structuralProblems(parseDockerfile(c.expected)).length).toBeLessThanOrEqual(before);
  });
});

test("every registered transform has fixtures", () => {
  const covered = new Set(cases.map((c) => c.transform));
  expect(TRANSFORMS.map((t) => t.id).filter((id) => !covered.has(id))).toEqual([]);
});

test("every registered transform explains its applicability", () => {
  for (const t of TRANSFORMS) expect(t.applicabilityNote?.length ?? 0, t.id).toBeGreaterThan(10);
});
