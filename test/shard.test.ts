import { describe, expect, it } from "vitest";
import { parseShard, shardFiles, shardKey } from "../src/io/discover.ts";

const files = Array.from({ length: 5000 }, (_, i) => `repos/r${i % 97}/svc${i}/Dockerfile`);

describe("--shard", () => {
  it("parts are disjoint, cover every file, and are roughly even", () => {
    for (const count of [1, 2, 3, 7, 16]) {
      const parts = Array.from({ length: count }, (_, i) => shardFiles(files, i + 1, count));
      const all = parts.flat();
      expect(all).toHaveLength(files.length);
      expect(new Set(all).size).toBe(files.length);
      for (const p of parts) {
        expect(p.length).toBeGreaterThan((files.length / count) * 0.85);
        expect(p.length).toBeLessThan((files.length / count) * 1.15);
      }
    }
  });

  it("depends on the path, not the list order or its spelling", () => {
    const reversed = [...files].reverse();
    expect(new Set(shardFiles(reversed, 2, 5))).toEqual(new Set(shardFiles(files, 2, 5)));
    const one = "repos/r1/svc1/Dockerfile";
    const part = (f: string) => [1, 2, 3, 4, 5].find((i) => shardFiles([f], i, 5).length === 1);
    expect(part(`./${one}`)).toBe(part(one));
    expect(part(`${process.cwd()}/${one}`)).toBe(part(one));
    expect(shardKey("./a//b/../c/Dockerfile")).toBe("a/c/Dockerfile");
  });

  it("is stable across machines: fixed assignments", () => {
    // Recomputed by hand from FNV-1a + murmur3 fmix32; a change here reshuffles users' CI shards.
    const got = ["Dockerfile", "a/Dockerfile", "services/api/Dockerfile"].map((f) =>
      [1, 2, 3].find((i) => shardFiles([f], i, 3).length === 1),
    );
    expect(got).toEqual(expectedParts(["Dockerfile", "a/Dockerfile", "services/api/Dockerfile"], 3));
  });

  it("parses i/n and rejects bad input with a message", () => {
    expect(parseShard("2/5")).toEqual({ index: 2, count: 5 });
    expect(parseShard(" 1 / 1 ")).toEqual({ index: 1, count: 1 });
    for (const bad of ["0/3", "4/3", "1/0", "x", "1/", "/2", "-1/2", "1.5/2", ""]) {
      expect(() => parseShard(bad), bad).toThrow(/--shard/);
    }
    expect(() => shardFiles(files, 0, 3)).toThrow();
  });
});

/** An independent implementation of the documented hash, to pin the algorithm. */
function expectedParts(paths: string[], count: number): number[] {
  return paths.map((p) => {
    const bytes = [...p].map((c) => c.charCodeAt(0));
    let h = 0x811c9dc5n;
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
    h ^= h >> 16n;
    h = (h * 0x85ebca6bn) & 0xffffffffn;
    h ^= h >> 13n;
    h = (h * 0xc2b2ae35n) & 0xffffffffn;
    h ^= h >> 16n;
    return Number(h % BigInt(count)) + 1;
  });
}
