import { UNSAFE_NOT_APPLIED } from "../src/engine/types.ts";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRANSFORMS } from "../transforms/index.ts";
import { dryRunSettings, processFile, type FileReport, type ProcessSettings } from "../src/io/process.ts";
import { unifiedDiff } from "../src/report/diff.ts";
import { createSarifWriter, parseUnifiedDiff, type SarifReplacement } from "../src/report/sarif.ts";
import { loadParsers } from "../src/engine/engine.ts";

// The SARIF 2.1.0 schema as shipped by @microsoft/jest-sarif (devDependency), JSON Schema draft-04
// (hence ajv-draft-04). Its `language` pattern is not valid as a unicode regex: unicodeRegExp off.
const require = createRequire(import.meta.url);
const schema = require("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
// CommonJS default export: loaded with require so that `new Ajv()` type-checks under NodeNext.
const Ajv = require("ajv-draft-04") as typeof import("ajv-draft-04").default;

let dir: string;
let settings: ProcessSettings;

const INPUTS: Record<string, string> = {
  "api/Dockerfile": 'FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\nCMD ["bash"]\n',
  "win/Dockerfile": "FROM alpine:3.20\r\nRUN apk add curl\r\nRUN echo hi\r\n",
  "noeol/Dockerfile": "from node:20\nmaintainer someone <a@b.c>\nrun npm install",
  "broken/Dockerfile": "FROM alpine\nFROBNICATE now\n",
  "spaced dir/Dockerfile":
    "FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD python app.py\n",
};

function writeAll(sarifOf: (w: ReturnType<typeof createSarifWriter>) => void): string {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const w = createSarifWriter(out, [...TRANSFORMS], dir);
  sarifOf(w);
  return Buffer.concat(chunks).toString("utf8");
}

/** Applies SARIF replacements (line/column regions, UTF-16 columns) to a text. */
function applyReplacements(text: string, replacements: SarifReplacement[]): string {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  const offset = (line: number, col: number) =>
    (line - 1 < starts.length ? starts[line - 1] : text.length) + col - 1;
  const spans = replacements
    .map((r) => ({
      start: offset(r.deletedRegion.startLine, r.deletedRegion.startColumn),
      end: offset(r.deletedRegion.endLine, r.deletedRegion.endColumn),
      text: r.insertedContent.text,
    }))
    .sort((a, b) => b.start - a.start);
  let out = text;
  for (const s of spans) out = out.slice(0, s.start) + s.text + out.slice(Math.min(s.end, out.length));
  return out;
}

beforeAll(async () => {
  await loadParsers();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-sarif-"));
  for (const [rel, text] of Object.entries(INPUTS)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  fs.writeFileSync(path.join(dir, "spaced dir/requirements.txt"), "flask==3.0.0\n");
  settings = dryRunSettings(dir);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("SARIF", () => {
  it("validates against the SARIF 2.1.0 schema, with fixes that rebuild the output exactly", () => {
    const reports: FileReport[] = Object.keys(INPUTS).map((rel) =>
      processFile(path.join(dir, rel), settings),
    );
    expect(reports.filter((r) => r.changed).length).toBeGreaterThanOrEqual(3);
    expect(reports.some((r) => r.error)).toBe(true);
    const text = writeAll((w) => {
      for (const r of reports) w.add(r);
      w.end();
    });
    const log = JSON.parse(text);
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false, validateFormats: false });
    const validate = ajv.compile(schema);
    expect(validate(log), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);

    const run = log.runs[0];
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(TRANSFORMS.map((t) => t.id));
    for (const rule of run.tool.driver.rules) expect(rule.fullDescription.text.length).toBeGreaterThan(0);
    // One result per change, one note per refusal, one per side file.
    const changes = reports.reduce((n, r) => n + r.changes.length, 0);
    const refusals = reports.reduce((n, r) => n + r.refusals.length, 0);
    const sides = reports.reduce((n, r) => n + r.sideFiles.length, 0);
    expect(run.results).toHaveLength(changes + refusals + sides);
    expect(run.results.filter((r: { level: string }) => r.level === "note")).toHaveLength(refusals);
    for (const r of run.results) {
      if (r.ruleIndex !== undefined) expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
    }
    // Errors are notifications, not results.
    const notes = run.invocations[0].toolExecutionNotifications;
    expect(notes).toHaveLength(reports.filter((r) => r.error).length);
    expect(notes[0].descriptor.id).toBe("unknown-instruction");

    // Applying every fix of a file to the original gives the rewritten file, byte for byte.
    for (const report of reports.filter((r) => r.changed)) {
      const original = fs.readFileSync(path.join(dir, report.path), "utf8");
      const uri = report.path.split("/").map(encodeURIComponent).join("/");
      const replacements = run.results
        .flatMap(
          (r: {
            fixes?: {
              artifactChanges: { artifactLocation: { uri: string }; replacements: SarifReplacement[] }[];
            }[];
          }) => r.fixes ?? [],
        )
        .flatMap(
          (f: {
            artifactChanges: { artifactLocation: { uri: string }; replacements: SarifReplacement[] }[];
          }) => f.artifactChanges,
        )
        .filter((c: { artifactLocation: { uri: string } }) => c.artifactLocation.uri === uri)
        .flatMap((c: { replacements: SarifReplacement[] }) => c.replacements);
      const ownDiff = parseUnifiedDiff(report.diff ?? "").find((f) => f.path === report.path);
      if (!ownDiff) continue; // only a side file changed
      expect(replacements.length, report.path).toBe(ownDiff.blocks.length);
      const rebuilt = applyReplacements(original, replacements);
      // The same file rewritten in place (--write) in a copy of the tree:
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-sarif-write-"));
      try {
        fs.cpSync(dir, copy, { recursive: true });
        processFile(path.join(copy, report.path), { ...settings, mode: "write", cwd: copy });
        expect(rebuilt, report.path).toBe(fs.readFileSync(path.join(copy, report.path), "utf8"));
      } finally {
        fs.rmSync(copy, { recursive: true, force: true });
      }
    }
  });

  it("carries each change's applicability in its result, and each rule's default; safe-only runs validate too", () => {
    for (const safe of [false, true]) {
      const reports = Object.keys(INPUTS).map((rel) =>
        processFile(path.join(dir, rel), { ...settings, safe }),
      );
      const log = JSON.parse(
        writeAll((w) => {
          for (const r of reports) w.add(r);
          w.end();
        }),
      );
      const validate = new Ajv({ strict: false, unicodeRegExp: false, validateFormats: false }).compile(
        schema,
      );
      expect(validate(log), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);
      const run = log.runs[0];
      run.tool.driver.rules.forEach((rule: { properties: { applicability: string } }, i: number) =>
        expect(rule.properties.applicability).toBe(TRANSFORMS[i].applicability),
      );
      const changeResults = run.results.filter((r: { level: string }) => r.level === "warning");
      const expected = reports.flatMap((r) => [
        ...r.changes.map((c) => c.applicability),
        ...r.sideFiles.map((f) => f.applicability),
      ]);
      expect(
        changeResults.map((r: { properties: { applicability: string } }) => r.properties.applicability),
      ).toEqual(expected);
      if (safe) {
        expect(expected).not.toContain("unsafe");
        const notes = run.results.filter((r: { level: string }) => r.level === "note");
        expect(
          notes.some((r: { message: { text: string } }) =>
            r.message.text.startsWith(`left alone: ${UNSAFE_NOT_APPLIED}: `),
          ),
        ).toBe(true);
      } else {
        expect(expected).toContain("unsafe");
        expect(expected).toContain("safe");
      }
    }
  });

  it("parses diffs exactly: CRLF, missing final newline, new files, lines starting with --", () => {
    const cases: [string | null, string][] = [
      ["a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\nd\r\n"],
      ["x\ny", "x\nz\n"],
      ["x\ny\n", "x\ny"],
      [null, "new\nfile\n"],
      ["-- a\nkeep\n", "++ b\nkeep\n"],
      ["1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "0\n1\n2\n3\n4\n6\n7\n8\n9\n10\n11\n12\n13\n"],
    ];
    for (const [before, after] of cases) {
      const diff = unifiedDiff("f", before, after);
      const [file] = parseUnifiedDiff(diff);
      expect(file.path).toBe("f");
      expect(file.created).toBe(before === null);
      expect(
        applyReplacements(
          before ?? "",
          file.blocks.map((b) => b.replacement),
        ),
        JSON.stringify(before),
      ).toBe(after);
    }
  });

  it("writes a valid empty log when there is nothing to report", () => {
    const log = JSON.parse(writeAll((w) => w.end()));
    const validate = new Ajv({ strict: false, unicodeRegExp: false, validateFormats: false }).compile(schema);
    expect(validate(log)).toBe(true);
    expect(log.runs[0].results).toEqual([]);
    // The validator does reject a broken log (a run without a tool driver).
    expect(validate({ version: "2.1.0", runs: [{ tool: {}, results: [] }] })).toBe(false);
  });
});
