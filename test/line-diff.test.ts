import fs from "node:fs";
import path from "node:path";
import { applyPatch, createTwoFilesPatch } from "diff";
import { describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { emptyContext } from "../src/io/context.ts";
import { unifiedDiff } from "../src/report/diff.ts";
import { splitLinesKeepingEnds } from "../src/report/line-diff.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { CORPUS, corpusFiles } from "./corpus-check.ts";

/** What unifiedDiff printed when it called jsdiff's createTwoFilesPatch. */
function jsdiffUnified(file: string, before: string | null, after: string): string {
  const patch = createTwoFilesPatch(
    before === null ? "/dev/null" : `a/${file}`,
    `b/${file}`,
    before ?? "",
    after,
    undefined,
    undefined,
    { context: 3 },
  );
  return patch
    .split("\n")
    .filter((line, i) => !(i === 0 && line.startsWith("=")))
    .join("\n");
}

function expectSameAsJsdiff(file: string, before: string | null, after: string): void {
  const ours = unifiedDiff(file, before, after);
  expect(ours).toBe(jsdiffUnified(file, before, after));
  if (before !== null) expect(applyPatch(before, ours)).toBe(after);
}

/** A small deterministic PRNG, so a failure names a seed that reproduces it. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("unifiedDiff", () => {
  test("splits lines the way jsdiff does (LF, CRLF, lone CR, no final newline)", () => {
    expect(splitLinesKeepingEnds("a\r\nb\rc\nd")).toEqual(["a\r\n", "b\rc\n", "d"]);
    expect(splitLinesKeepingEnds("")).toEqual([]);
    expect(splitLinesKeepingEnds("\n\n")).toEqual(["\n", "\n"]);
  });

  test.each([
    ["a new file", null, "FROM alpine\nRUN true\n"],
    ["a file emptied", "FROM alpine\n", ""],
    ["the final newline removed", "FROM a\nRUN b\n", "FROM a\nRUN b"],
    ["the final newline added", "FROM a\nRUN b", "FROM a\nRUN b\n"],
    ["CRLF to LF", "FROM a\r\nRUN b\r\n", "FROM a\nRUN b\n"],
    ["repeated lines (ambiguous alignment)", "x\ny\ny\ny\nz\n", "x\ny\ny\nz\ny\n"],
    ["two hunks far apart", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "0\n2\n3\n4\n5\n6\n7\n8\n9\n10\nX\n"],
    ["hunks merged by context", "1\n2\n3\n4\n5\n6\n7\n", "0\n2\n3\n4\n5\n6\nX\n"],
    ["a name that needs quoting", "a\n", "b\n"],
  ])("matches jsdiff: %s", (name, before, after) => {
    expectSameAsJsdiff(
      name === "a name that needs quoting" ? 'dir/we"ird\tname' : "Dockerfile",
      before,
      after,
    );
  });

  test("matches jsdiff on seeded random edits of line lists", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rand = rng(seed);
      const pool = ["FROM a", "RUN x", "RUN y", "", "# c", "ENV A=1", "RUN x"];
      const lines = Array.from(
        { length: Math.floor(rand() * 30) },
        () => pool[Math.floor(rand() * pool.length)],
      );
      const edited = lines.flatMap((l) => {
        const r = rand();
        if (r < 0.1) return [];
        if (r < 0.2) return [l, pool[Math.floor(rand() * pool.length)]];
        if (r < 0.3) return [pool[Math.floor(rand() * pool.length)]];
        return [l];
      });
      const eol = rand() < 0.2 ? "\r\n" : "\n";
      const before = lines.join(eol) + (rand() < 0.8 ? eol : "");
      const after = edited.join(eol) + (rand() < 0.8 ? eol : "");
      if (before === after) continue;
      try {
        expectSameAsJsdiff("Dockerfile", before, after);
      } catch (e) {
        throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test("a rewrite of every line of a huge file ends with one valid hunk (Myers would take O(N^2))", () => {
    // 100,000 RUNs merged into one: every line changes. A 600 KB Dockerfile is under the 1 MiB cap,
    // and an unbounded search over every alignment took minutes and gigabytes.
    const n = 100_000;
    const before = "FROM alpine:3.20\n" + "RUN a\n".repeat(n) + 'CMD ["sh"]\n';
    const after = "FROM alpine:3.20\nRUN a \\\n" + "    && a \\\n".repeat(n - 2) + '    && a\nCMD ["sh"]\n';
    const ours = unifiedDiff("Dockerfile", before, after);
    const lines = ours.split("\n");
    expect(lines.filter((l) => l.startsWith("@@"))).toEqual([`@@ -1,${n + 2} +1,${n + 2} @@`]);
    expect(lines.filter((l) => l.startsWith("-")).length).toBe(n + 1); // with the "--- a/" header
    expect(applyPatch(before, ours)).toBe(after);
  });

  const corpus = fs.existsSync(CORPUS);
  test.skipIf(!corpus)("matches jsdiff on dfopt's own rewrites of a corpus sample", async () => {
    await loadParsers();
    const files = corpusFiles().filter((_, i) => i % 20 === 0);
    let compared = 0;
    for (const f of files) {
      const raw = fs.readFileSync(path.join(CORPUS, f), "utf8");
      const result = optimizeFile(raw, emptyContext, { transforms: TRANSFORMS });
      if (!result.changed) continue;
      expectSameAsJsdiff(f, result.original, result.output);
      compared++;
    }
    expect(compared).toBeGreaterThan(files.length / 2);
  });
  test.skipIf(corpus)("corpus diff comparison skipped: ../shared/corpus is not present", () => {});
});
