import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile, parseEdited } from "../src/engine/parse.ts";
import { analysisOf } from "../transforms/lib/analysis.ts";

beforeAll(loadParsers);

const DOCKERFILE = [
  "FROM golang:1.22 AS build",
  "RUN apt-get update && apt-get install -y git",
  "RUN go build -o /app . # builds the app",
  "FROM build AS test",
  "RUN go test ./...",
  "FROM debian:12-slim AS base",
  "RUN apt-get update",
  'RUN ["echo", "exec form"]',
  "FROM base",
  "COPY --from=build /app /app",
  "",
].join("\n");

describe("one analysis per model", () => {
  test("is computed once per model and reads the stages and RUNs as they are", () => {
    const model = parseDockerfile(DOCKERFILE);
    const analysis = analysisOf(model);
    expect(analysisOf(model)).toBe(analysis);
    expect(analysis.runScripts).toBe(analysis.runScripts);
    // The RUN with an inline comment and the exec-form RUN are not trusted shell.
    expect(analysis.runScripts.map((rs) => rs.instr.line)).toEqual([2, 5, 7]);
    expect([...analysis.finalImageStages].sort()).toEqual([2, 3]);
    expect([...analysis.descendantStages(0)]).toEqual([1]);
    expect([...analysis.descendantStages(2)]).toEqual([3]);
    expect([...analysis.descendantStages(1)]).toEqual([]);
  });

  test("a model after an edit gets its own analysis, and keeps the RUNs the edit left alone", () => {
    const model = parseDockerfile(DOCKERFILE);
    const before = analysisOf(model).runScripts;
    const at = model.text.indexOf("FROM base\n");
    const edits = [{ start: at, end: at + "FROM base".length, text: "FROM build" }];
    const text = model.text.slice(0, at) + "FROM build" + model.text.slice(at + "FROM base".length);
    const next = parseEdited(model, { ...model.source, text }, edits);
    const after = analysisOf(next);
    expect(after).not.toBe(analysisOf(model));
    expect([...after.finalImageStages].sort()).toEqual([0, 3]);
    expect(after.runScripts.map((rs) => rs.instr.line)).toEqual([2, 5, 7]);
    // Instructions before the edit are the same objects, and so are their RUN scripts.
    expect(after.runScripts[0]).toBe(before[0]);
  });
});
