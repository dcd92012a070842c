import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { TRANSFORMS } from "../transforms/index.ts";
import { CORPUS, checkFile, corpusAvailable, corpusFiles, type Violation } from "./corpus-check.ts";
import { loadParsers } from "../src/engine/engine.ts";

beforeAll(loadParsers);

// The corpus is checked in two halves, so vitest runs them on both cores.
export function corpusSuite(part: number, parts: number): void {
  if (!corpusAvailable) {
    test.skip(`corpus tests skipped: ${CORPUS} is absent (it lives in ../shared beside the project)`, () => {});
    return;
  }
  describe(`corpus part ${part}/${parts} (../shared/corpus/dockerfiles)`, () => {
    test("every file: no crash, parses, idempotent, keeps comments and line endings", () => {
      const files = corpusFiles().filter((_, i) => i % parts === part - 1);
      const violations: Violation[] = [];
      let changed = 0;
      for (const f of files) {
        const raw = fs.readFileSync(path.join(CORPUS, f), "utf8");
        const { result, violations: v } = checkFile(f, raw, TRANSFORMS);
        if (result.changed) changed++;
        violations.push(...v);
      }
      expect(files.length).toBeGreaterThan(7000);
      expect(violations.slice(0, 20)).toEqual([]);
      expect(changed).toBeGreaterThan(0);
    });
  });
}
