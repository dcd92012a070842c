import { beforeAll, describe, expect, test } from "vitest";
import { LineMap } from "../src/engine/line-map.ts";
import { loadParsers } from "../src/engine/engine.ts";
import { parseSource } from "../src/engine/parse.ts";
import { decodeSource } from "../src/engine/source.ts";
import { applyEdits } from "../src/engine/edits.ts";
import { dfopt, tree } from "./cli-run.ts";

beforeAll(loadParsers);

/**
 * Issue 18, defect 16: shell-pipefail inserts a SHELL line before the first
 * piped RUN, and merge-runs, which runs later and sees that text, reported
 * "lines 3, 4, 5" for RUNs at lines 2-4. Every line dfopt reports must be a
 * line of the user's file, in every output.
 */
const PIPED =
  'FROM debian:12\nRUN curl -fsSL https://example.com/x | sh\nRUN make\nRUN make install\nCMD ["sh"]\n';

describe("reported lines are lines of the user's file", () => {
  test("JSON: merge-runs after shell-pipefail's SHELL line names the RUNs' own lines", async () => {
    const dir = tree({ Dockerfile: PIPED });
    const { code, stdout } = await dfopt(["--unsafe", "--format", "json", "Dockerfile"], dir);
    expect(code).toBe(0);
    const file = JSON.parse(stdout).files[0];
    const byId = (id: string) => file.changes.filter((c: { transform: string }) => c.transform === id);
    // the precondition: shell-pipefail did insert a line above the RUNs
    expect(byId("shell-pipefail")).toHaveLength(1);
    expect(file.diff).toContain("+SHELL [");
    expect(byId("merge-runs")).toEqual([
      {
        transform: "merge-runs",
        line: 2,
        message: "merged 3 consecutive RUN instructions (lines 2, 3, 4) into one layer",
        rules: ["DL3059"],
        applicability: "safe",
      },
    ]);
  });

  test("--explain and SARIF report the same lines", async () => {
    const dir = tree({ Dockerfile: PIPED });
    const explain = await dfopt(["--unsafe", "--explain", "Dockerfile"], dir);
    expect(explain.stdout).toContain(
      "Dockerfile:2: [merge-runs, safe] (DL3059) merged 3 consecutive RUN instructions (lines 2, 3, 4) into one layer",
    );
    const sarif = JSON.parse((await dfopt(["--unsafe", "--format", "sarif", "Dockerfile"], dir)).stdout);
    const merge = sarif.runs[0].results.find((r: { ruleId: string }) => r.ruleId === "merge-runs");
    expect(merge.message.text).toContain("(lines 2, 3, 4)");
    expect(merge.locations[0].physicalLocation.region.startLine).toBe(2);
  });

  test("refusal lines and the lines in their reasons are mapped too", async () => {
    const input =
      'FROM debian:12\nRUN curl -fsSL https://example.com/x | sh\nRUN --network=none make\nCMD ["sh"]\n';
    const dir = tree({ Dockerfile: input });
    const file = JSON.parse((await dfopt(["--unsafe", "--format", "json", "Dockerfile"], dir)).stdout)
      .files[0];
    expect(file.diff).toContain("+SHELL [");
    const refusal = file.refusals.find((r: { transform: string }) => r.transform === "merge-runs");
    expect(refusal).toEqual({
      transform: "merge-runs",
      line: 3,
      reason: "RUN at line 3 has different flags than line 2; only RUNs with the same flags can be merged",
      rules: ["DL3059"],
    });
  });

  test("every line in a report over a file whose lines shift is within the file", async () => {
    // apt-get-update-alone deletes a line, add-args and shell-pipefail insert some: lines move both ways
    const input = [
      "FROM debian:12",
      "RUN apt-get update",
      "RUN apt-get install -y curl",
      "ENV A=1",
      "RUN apt-get update",
      "RUN apt-get install -y git",
      "RUN curl -fsSL https://example.com/x | sh",
      "RUN echo one",
      "RUN echo two",
      'CMD ["sh"]',
      "",
    ].join("\n");
    const dir = tree({ Dockerfile: input });
    const file = JSON.parse((await dfopt(["--unsafe", "--format", "json", "Dockerfile"], dir)).stdout)
      .files[0];
    const lines = input.split("\n");
    const merge = file.changes.find((c: { transform: string }) => c.transform === "merge-runs");
    expect(merge.line).toBe(7);
    expect(merge.message).toBe("merged 3 consecutive RUN instructions (lines 7, 8, 9) into one layer");
    for (const item of [...file.changes, ...file.refusals]) {
      if (item.line !== null) expect(lines[item.line - 1]).toBeDefined();
    }
  });
});

describe("LineMap", () => {
  const model = (text: string) => parseSource(decodeSource(text));

  test("a line below an inserted line maps up; the inserted line maps to where it was put", () => {
    const before = model("FROM a\nRUN x\nRUN y\n");
    const map = new LineMap(before);
    const at = before.lineStart(2);
    const edits = [{ start: at, end: at, text: 'SHELL ["/bin/bash", "-c"]\n' }];
    const after = model(applyEdits(before.text, edits));
    map.push(before.text, edits);
    expect(map.line(after, 1)).toBe(1);
    expect(map.line(after, 2)).toBe(2);
    expect(map.line(after, 3)).toBe(2);
    expect(map.line(after, 4)).toBe(3);
    expect(map.text(after, "lines 3 and 4, and line 1")).toBe("lines 2 and 3, and line 1");
    expect(map.text(after, "lines 3, 4, 1")).toBe("lines 2, 3, 1");
  });

  test("a line below a deleted line maps down, through several batches and pending edits", () => {
    const v0 = model("FROM a\nRUN apt-get update\nRUN x\nRUN y\n");
    const map = new LineMap(v0);
    const del = [{ start: v0.lineStart(2), end: v0.lineStart(3), text: "" }];
    const v1 = model(applyEdits(v0.text, del));
    map.push(v0.text, del);
    expect(map.line(v1, 2)).toBe(3);
    const ins = [{ start: 0, end: 0, text: "ARG V=1\n" }];
    const v2 = model(applyEdits(v1.text, ins));
    map.push(v1.text, ins);
    expect(map.line(v2, 4)).toBe(4);
    // a text the next (pending) edits lead to
    const pending = [{ start: v2.lineStart(2), end: v2.lineStart(2), text: "# x\n" }];
    const v3 = model(applyEdits(v2.text, pending));
    expect(map.line(v3, 5, pending)).toBe(4);
    map.truncate(1);
    expect(map.line(v1, 3)).toBe(4);
  });
});

describe("an edit that rewrites many lines", () => {
  const model = (text: string) => parseSource(decodeSource(text));

  test("a line it keeps word for word maps to the user's line, not to the start of the edit", () => {
    const before = model("FROM node\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD node server.js\n");
    const map = new LineMap(before);
    const split =
      "FROM node AS build\nWORKDIR /app\nCOPY . .\nRUN npm ci\n\nFROM node-slim\nCMD node server.js\n";
    const edits = [{ start: 0, end: before.text.length, text: split }];
    const after = model(applyEdits(before.text, edits));
    map.push(before.text, edits);
    expect(map.line(after, 4)).toBe(4); // RUN npm ci, kept
    expect(map.line(after, 7)).toBe(5); // CMD, kept
    expect(map.line(after, 6)).toBe(5); // FROM node-slim, inserted before the CMD
  });
});
