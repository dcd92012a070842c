import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { structuralProblems } from "../src/engine/check.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { fixtureCases } from "./fixture-cases.ts";

beforeAll(loadParsers);

const cases = fixtureCases();

describe.each(cases.map((c) => [`${c.transform}/${c.name}`, c] as const))("%s", (_name, c) => {
  const transforms =
    c.transforms.length > 0
      ? c.transforms.map((id) => {
          const t = transformById(id);
          if (!t) throw new Error(`fixture names unknown transform '${id}'`);
          return t;
        })
      : TRANSFORMS.filter((t) => !t.defaultOff);
  const run = (text: string) => optimizeFile(text, c.context, { transforms, options: c.options });

  test("produces the expected output", () => {
    const result = run(c.input);
    expect(result.error).toBeNull();
    expect(result.output).toBe(c.expected);
    if (c.expected !== c.input) expect(result.changes.length).toBeGreaterThan(0);
    for (const [name, content] of Object.entries(c.expectedSideFiles)) {
      expect(result.sideFiles.find((f) => f.path === name)?.content).toBe(content);
    }
    if (c.refusal) {
      expect(result.refusals.map((r) => r.reason).join("\n")).toContain(c.refusal);
    }
  });

  test("is stable on its own output", () => {
    const again = run(c.expected);
    expect(again.output).toBe(c.expected);
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
