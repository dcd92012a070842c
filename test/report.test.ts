import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProgress } from "../src/cli/progress.ts";
import { dryRunSettings, processFile, type FileReport } from "../src/io/process.ts";
import { UNSAFE_NOT_APPLIED } from "../src/engine/types.ts";
import { jsonFileEntry } from "../src/report/json.ts";
import { createJsonlWriter } from "../src/report/jsonl.ts";
import { createMarkdownReport, mdEscape } from "../src/report/markdown.ts";
import { createSummary } from "../src/report/summary.ts";
import { printable } from "../src/report/printable.ts";
import { loadParsers } from "../src/engine/engine.ts";

let dir: string;
let reports: FileReport[];

const TREE: Record<string, string> = {
  "repos/shop/.git/HEAD": "ref: refs/heads/main\n",
  "repos/shop/api/Dockerfile":
    'FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\nCMD ["bash"]\n',
  "repos/shop/web/Dockerfile": "FROM scratch\nCOPY app /app\n",
  "repos/blog/.git/HEAD": "ref: refs/heads/main\n",
  "repos/blog/Dockerfile": "FROM alpine\nFROBNICATE now\n",
  "loose/Dockerfile": "FROM node:20\nRUN npm install\nCMD node server.js\n",
};

function capture() {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString("utf8")));
  return { out, text: () => text };
}

beforeAll(async () => {
  await loadParsers();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-report-"));
  for (const [rel, text] of Object.entries(TREE)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const settings = dryRunSettings(dir, { computeDiff: false, safe: false });
  reports = [
    "repos/shop/api/Dockerfile",
    "repos/shop/web/Dockerfile",
    "repos/blog/Dockerfile",
    "loose/Dockerfile",
  ].map((f) => processFile(path.join(dir, f), settings));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("jsonl", () => {
  it("writes one JSON object per file, then a summary line", () => {
    const { out, text } = capture();
    const w = createJsonlWriter(out);
    for (const r of reports) w.add(r);
    w.end();
    const lines = text().trimEnd().split("\n");
    expect(lines).toHaveLength(reports.length + 1);
    const entries = lines.slice(0, -1).map((l) => JSON.parse(l));
    expect(entries).toEqual(reports.map((r) => JSON.parse(JSON.stringify(jsonFileEntry(r)))));
    expect(entries[0].changes[0]).toHaveProperty("transform");
    expect(entries[2].error.kind).toBe("unknown-instruction");
    const { summary } = JSON.parse(lines[lines.length - 1]);
    expect(summary.files).toBe(4);
    expect(summary.errors).toBe(1);
    expect(summary.changed).toBe(reports.filter((r) => r.changed).length);
  });
});

describe("summary", () => {
  it("counts files, changes per transform, refusals by reason and errors by kind", () => {
    const s = createSummary();
    for (const r of reports) s.add(r);
    const j = s.toJSON(2);
    expect(j.files).toBe(4);
    expect(j.errors).toBe(1);
    expect(j.errorsByKind).toEqual({ "unknown-instruction": 1 });
    const changes = reports.reduce((n, r) => n + r.changes.length, 0);
    expect(Object.values(j.changesByTransform).reduce((a, b) => a + b, 0)).toBe(changes);
    expect(j.filesPerSecond).toBe(2);
    const text = s.render({ seconds: 2, mode: "write" });
    expect(text).toMatch(
      /^dfopt: 4 files scanned in 2\.0 s, 2 files\/s: \d+ changed, \d+ with refusals, 1 error, 0 files written\./,
    );
    expect(text).toContain("unknown-instruction");
    for (const id of Object.keys(j.changesByTransform)) expect(text).toContain(id);
  });

  it("gives no rate for a run shorter than a second", () => {
    const s = createSummary();
    for (const r of reports) s.add(r);
    expect(s.render({ seconds: 0.02, mode: "diff" })).toMatch(
      /^dfopt: 4 files scanned in 0\.0 s: \d+ with changes,/,
    );
    expect(s.render({ seconds: 1, mode: "diff" })).toMatch(/^dfopt: 4 files scanned in 1\.0 s, 4 files\/s: /);
  });
});

describe("markdown report", () => {
  it("groups files by repository (.git), else by input folder, with changes, refusals and errors", () => {
    const md = createMarkdownReport(dir, ["repos", "loose"]);
    for (const r of reports) md.add(r);
    const text = md.render();
    expect(text).toMatch(/^# dfopt migration report\n\n4 Dockerfiles in 3 repositories: /);
    const sections = text.split(/^## /m).slice(1);
    expect(sections.map((s) => s.split("\n")[0])).toEqual(["`loose`", "`repos/blog`", "`repos/shop`"]);
    const shop = sections[2];
    expect(shop).toContain("2 Dockerfiles: ");
    expect(shop).toContain("### Changes");
    expect(shop).toContain("- `repos/shop/api/Dockerfile`");
    for (const c of reports[0].changes) expect(shop).toContain(mdEscape(c.message));
    const blog = sections[1];
    expect(blog).toContain("### Errors");
    expect(blog).toContain("(`unknown-instruction`)");
    expect(text).not.toContain("--- a/"); // no diffs
    const refused = reports.find((r) => r.refusals.length > 0);
    if (refused) expect(text).toContain(mdEscape(refused.refusals[0].reason));
  });

  it("escapes markdown in messages", () => {
    expect(mdEscape("a *b* <c> `d` | e_f [g]")).toBe("a \\*b\\* \\<c\\> \\`d\\` \\| e\\_f \\[g\\]");
  });
});

describe("applicability", () => {
  const all = () => reports.flatMap((r) => r.changes);

  it("the fixtures' reports hold both kinds: loose/ has unsafe changes, repos/shop/api safe ones", () => {
    expect(new Set(all().map((c) => c.applicability))).toEqual(new Set(["safe", "unsafe"]));
  });

  it("JSON and JSONL carry it on every change and side file", () => {
    const { out, text } = capture();
    const w = createJsonlWriter(out);
    for (const r of reports) w.add(r);
    w.end();
    const entries = text()
      .trimEnd()
      .split("\n")
      .slice(0, -1)
      .map((l) => JSON.parse(l));
    entries.forEach((e, i) => {
      expect(e.changes.map((c: { applicability: string }) => c.applicability)).toEqual(
        reports[i].changes.map((c) => c.applicability),
      );
      for (const f of e.sideFiles) expect(["safe", "unsafe"]).toContain(f.applicability);
    });
    const loose = entries[3];
    expect(loose.changes.find((c: { transform: string }) => c.transform === "exec-form-cmd")).toMatchObject({
      applicability: "unsafe",
    });
    const api = entries[0];
    expect(
      api.changes.find((c: { transform: string }) => c.transform === "apt-get-clean-lists"),
    ).toMatchObject({ applicability: "safe" });
  });

  it("the summary counts unsafe changes and groups the ones held back by default per transform", () => {
    const s = createSummary();
    for (const r of reports) s.add(r);
    const unsafe =
      all().filter((c) => c.applicability === "unsafe").length +
      reports.flatMap((r) => r.sideFiles).filter((f) => f.applicability === "unsafe").length;
    expect(s.toJSON().unsafeChanges).toBe(unsafe);
    expect(s.render({ seconds: 1 })).toContain(`${unsafe} of the changes are unsafe`);

    const safe = processFile(path.join(dir, "loose/Dockerfile"), dryRunSettings(dir));
    expect(safe.changes.filter((c) => c.applicability === "unsafe")).toEqual([]);
    const held = safe.refusals.filter((r) => r.reason.startsWith(`${UNSAFE_NOT_APPLIED}: `));
    expect(held.map((r) => r.transform).sort()).toEqual(
      reports[3].changes
        .filter((c) => c.applicability === "unsafe")
        .map((c) => c.transform)
        .sort(),
    );
    const t = createSummary();
    t.add(safe);
    expect(t.toJSON().refusalsByReason).toMatchObject({
      [`exec-form-cmd: ${UNSAFE_NOT_APPLIED}`]: 1,
    });
  });

  it("the markdown report marks unsafe changes and says why they were applied", () => {
    const md = createMarkdownReport(dir, ["repos", "loose"]);
    for (const r of reports) md.add(r);
    const text = md.render();
    expect(text).toContain("applied because of `--unsafe` or proven by `--verify`: review them");
    const exec = reports[3].changes.find((c) => c.transform === "exec-form-cmd")!;
    expect(text).toContain(`- line ${exec.line}: **(unsafe)** ${mdEscape(exec.message)}`);
    const clean = reports[0].changes.find((c) => c.transform === "apt-get-clean-lists")!;
    expect(text).toContain(`- line ${clean.line}: ${mdEscape(clean.message)}`);
  });
});

describe("progress", () => {
  const fakeTty = () => {
    const c = capture();
    return Object.assign(c.out, { isTTY: true, columns: 100 }) as PassThrough & { isTTY: boolean };
  };

  it("draws on a TTY at most every 100 ms and clears at the end", () => {
    let now = 0;
    const out = new PassThrough();
    let text = "";
    out.on("data", (c: Buffer) => (text += c.toString("utf8")));
    const tty = Object.assign(out, { isTTY: true, columns: 100 });
    const p = createProgress(tty, 1000, { enabled: true, now: () => now });
    for (let i = 0; i < 1000; i++) {
      now += 1; // 1 ms per file: 1000 files in 1 s → about 10 redraws
      p.tick(reports[i % reports.length]);
    }
    p.done();
    const draws = text.split("\r").filter((s) => s.startsWith("["));
    expect(draws.length).toBeGreaterThanOrEqual(9);
    expect(draws.length).toBeLessThanOrEqual(11);
    expect(draws[draws.length - 1]).toMatch(
      /\] 9\d\d\/1000 {2}changed \d+ {2}refused \d+ {2}errors \d+ {2}\d+ files\/s/,
    );
    expect(text.endsWith("\r\u001b[K")).toBe(true);
  });

  it("draws nothing when not a TTY or when disabled", () => {
    for (const [stream, enabled] of [
      [capture().out, true],
      [fakeTty(), false],
    ] as const) {
      let written = "";
      stream.on("data", (c: Buffer) => (written += c.toString("utf8")));
      const p = createProgress(stream, 10, { enabled, now: () => 1000 });
      for (const r of reports) p.tick(r);
      p.clear();
      p.done();
      expect(written).toBe("");
    }
  });
});

describe("printable: one line of human output, whatever the repository names", () => {
  it("escapes control characters and bidi marks, and keeps the rest", () => {
    expect(printable("app/\u001b[2J\u001b]0;t\u0007\nx\ty\u009b\u202eé 日本/Dockerfile")).toBe(
      "app/\\x1b[2J\\x1b]0;t\\x07\\x0ax\\x09y\\x9b\\u202eé 日本/Dockerfile",
    );
    expect(printable("plain/Dockerfile:3: left alone")).toBe("plain/Dockerfile:3: left alone");
    // the markdown report too: a file that is read in a terminal
    expect(mdEscape("evil\u001b]0;t\u0007\n/Dockerfile")).toBe("evil\\x1b\\]0;t\\x07 /Dockerfile");
  });
});
