import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Transform } from "../engine/types.ts";
import type { FileReport } from "../io/process.ts";
import { VERSION } from "../version.ts";
import { builderLabel, verificationJson } from "../verify/report.ts";

/** A SARIF text region (1-based lines and columns, UTF-16 code units). */
export interface SarifRegion {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

export interface SarifReplacement {
  deletedRegion: SarifRegion;
  insertedContent: { text: string };
}

/** One contiguous run of removed and/or added lines of a unified diff, in old-file coordinates. */
export interface DiffBlock {
  /** First old line removed, or the old line the text is inserted before. */
  oldStart: number;
  /** Old lines removed (0 for a pure insertion). */
  oldCount: number;
  replacement: SarifReplacement;
}

export interface DiffFile {
  /** Path from the `+++ b/...` header. */
  path: string;
  created: boolean;
  blocks: DiffBlock[];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * Splits the unified diff of a FileReport (Dockerfile and side files) into
 * SARIF replacements: each run of `-`/`+` lines becomes one replacement of
 * whole lines. Exact: the lines keep their own endings (CR included), and
 * `\ No newline at end of file` is honoured.
 */
export function parseUnifiedDiff(diff: string): DiffFile[] {
  const files: DiffFile[] = [];
  const lines = diff.split("\n");
  let file: DiffFile | null = null;
  let oldLine = 0;
  let removed: string[] = [];
  let added: string[] = [];
  let blockStart = 0;
  // Which list the last line went to, for "\ No newline at end of file".
  let last: "old" | "new" | "both" | null = null;
  let oldNoEol = false;
  let newNoEol = false;
  // Lines still due in the current hunk: a removed line "-- x" must not be read as a header.
  let oldLeft = 0;
  let newLeft = 0;

  const flush = () => {
    if (!file || (removed.length === 0 && added.length === 0)) return;
    let deletedRegion: SarifRegion;
    if (removed.length === 0) {
      deletedRegion = { startLine: blockStart, startColumn: 1, endLine: blockStart, endColumn: 1 };
    } else if (oldNoEol) {
      const lastLine = removed[removed.length - 1];
      deletedRegion = {
        startLine: blockStart,
        startColumn: 1,
        endLine: blockStart + removed.length - 1,
        endColumn: lastLine.length + 1,
      };
    } else {
      deletedRegion = {
        startLine: blockStart,
        startColumn: 1,
        endLine: blockStart + removed.length,
        endColumn: 1,
      };
    }
    const text = added.map((l, i) => (i === added.length - 1 && newNoEol ? l : l + "\n")).join("");
    file.blocks.push({
      oldStart: blockStart,
      oldCount: removed.length,
      replacement: { deletedRegion, insertedContent: { text } },
    });
    removed = [];
    added = [];
    oldNoEol = false;
    newNoEol = false;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (oldLeft <= 0 && newLeft <= 0 && line.startsWith("--- ") && lines[i + 1]?.startsWith("+++ ")) {
      flush();
      const before = line.slice(4);
      const after = lines[i + 1].slice(4);
      file = { path: after.replace(/^b\//, ""), created: before === "/dev/null", blocks: [] };
      files.push(file);
      i++;
      continue;
    }
    const h = HUNK.exec(line);
    if (h) {
      flush();
      const start = Number(h[1]);
      const count = h[2] === undefined ? 1 : Number(h[2]);
      oldLine = count === 0 ? start + 1 : start;
      oldLeft = count;
      newLeft = h[4] === undefined ? 1 : Number(h[4]);
      last = null;
      continue;
    }
    if (!file) continue;
    const tag = line[0];
    if (tag === " ") {
      flush();
      oldLine++;
      oldLeft--;
      newLeft--;
      last = "both";
    } else if (tag === "-") {
      if (removed.length === 0 && added.length === 0) blockStart = oldLine;
      else if (added.length > 0) {
        flush(); // a new run of removals after additions: a separate block
        blockStart = oldLine;
      }
      removed.push(line.slice(1));
      oldLine++;
      oldLeft--;
      last = "old";
    } else if (tag === "+") {
      if (removed.length === 0 && added.length === 0) blockStart = oldLine;
      added.push(line.slice(1));
      newLeft--;
      last = "new";
    } else if (tag === "\\") {
      if (last === "old") oldNoEol = true;
      else if (last === "new") newNoEol = true;
    }
  }
  flush();
  return files;
}

function artifactUri(shown: string): { uri: string; uriBaseId?: string } {
  if (path.isAbsolute(shown)) return { uri: pathToFileURL(shown).href };
  // Split at the platform's separators only: on Linux a backslash is part of a name, and a folder
  // named `..\..\etc` must not become `../../etc`, a URI out of SRCROOT.
  const separators = path.sep === "\\" ? /[\\/]/ : /\//;
  return { uri: shown.split(separators).map(encodeURIComponent).join("/"), uriBaseId: "SRCROOT" };
}

function ruleDescriptor(t: Transform) {
  const long = t.rationale ?? t.description;
  return {
    id: t.id,
    name: t.id.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase()),
    shortDescription: { text: t.description },
    fullDescription: { text: long },
    help: { text: long },
    defaultConfiguration: { level: "warning" as const, enabled: !t.defaultOff },
    // The default applicability of the rule's changes; each result carries its own.
    properties: { tags: [...(t.rules ?? [])], applicability: t.applicability },
  };
}

/**
 * Streams a SARIF 2.1.0 log: one run, one rule per transform, one result
 * per change (with the rewrite as a `fix`), refusals as `note` results
 * without fixes, side files as results with their own fix, and file errors
 * as `toolExecutionNotifications`. Results are written as files arrive;
 * only the (few) notifications are held until `end()`.
 */
export function createSarifWriter(out: NodeJS.WritableStream, transforms: Transform[], cwd: string) {
  const ruleIndex = new Map(transforms.map((t, i) => [t.id, i]));
  const notifications: unknown[] = [];
  let started = false;
  let first = true;

  const start = () => {
    if (started) return;
    started = true;
    const head = {
      $schema: "https://json.schemastore.org/sarif-2.1.0.json",
      version: "2.1.0",
    };
    const run = {
      tool: {
        driver: {
          name: "dfopt",
          version: VERSION,
          semanticVersion: VERSION,
          rules: transforms.map(ruleDescriptor),
        },
      },
      originalUriBaseIds: { SRCROOT: { uri: pathToFileURL(cwd).href.replace(/\/?$/, "/") } },
      columnKind: "utf16CodeUnits",
    };
    const headJson = JSON.stringify(head);
    const runJson = JSON.stringify(run);
    out.write(`${headJson.slice(0, -1)},"runs":[${runJson.slice(0, -1)},"results":[`);
  };

  const result = (r: object) => {
    out.write((first ? "\n" : ",\n") + JSON.stringify(r));
    first = false;
  };

  const rule = (id: string) =>
    ruleIndex.has(id) ? { ruleId: id, ruleIndex: ruleIndex.get(id) } : { ruleId: id };

  const location = (shown: string, line: number | null) => ({
    physicalLocation: {
      artifactLocation: artifactUri(shown),
      ...(line !== null && line >= 1 ? { region: { startLine: line } } : {}),
    },
  });

  return {
    add(report: FileReport): void {
      start();
      if (report.error) {
        notifications.push({
          level: "error",
          message: { text: `${report.path}: ${report.error.message}` },
          descriptor: { id: report.error.kind },
          locations: [location(report.path, report.error.line)],
        });
      }
      const diffFiles = report.diff ? parseUnifiedDiff(report.diff) : [];
      const own = diffFiles.find((f) => f.path === report.path);
      // Each diff block goes to the change nearest to it, so fixes are disjoint
      // and applying all of a file's fixes gives exactly the rewritten file.
      const blocksOf = new Map<number, DiffBlock[]>();
      if (own && report.changes.length > 0) {
        for (const b of own.blocks) {
          const lastOld = b.oldStart + Math.max(0, b.oldCount - 1);
          let best = 0;
          let bestDistance = Infinity;
          report.changes.forEach((c, i) => {
            const d = c.line < b.oldStart ? b.oldStart - c.line : c.line > lastOld ? c.line - lastOld : 0;
            if (d < bestDistance) {
              best = i;
              bestDistance = d;
            }
          });
          blocksOf.set(best, [...(blocksOf.get(best) ?? []), b]);
        }
      }
      report.changes.forEach((c, i) => {
        const blocks = blocksOf.get(i) ?? [];
        result({
          ...rule(c.transform),
          level: "warning",
          message: { text: c.message },
          locations: [location(report.path, c.line)],
          ...(blocks.length > 0
            ? {
                fixes: [
                  {
                    description: { text: c.message },
                    artifactChanges: [
                      {
                        artifactLocation: artifactUri(report.path),
                        replacements: blocks.map((b) => b.replacement),
                      },
                    ],
                  },
                ],
              }
            : {}),
          properties: { ...(c.rules.length > 0 ? { tags: c.rules } : {}), applicability: c.applicability },
        });
      });
      for (const side of report.sideFiles) {
        const d = diffFiles.find((f) => f.path === side.path);
        result({
          ruleId: "side-file",
          level: "warning",
          message: { text: `${side.created ? "create" : "update"} ${side.path}: ${side.message}` },
          locations: [location(side.path, null)],
          ...(d && d.blocks.length > 0
            ? {
                fixes: [
                  {
                    description: { text: side.message },
                    artifactChanges: [
                      {
                        artifactLocation: artifactUri(side.path),
                        replacements: d.blocks.map((b) => b.replacement),
                      },
                    ],
                  },
                ],
              }
            : {}),
          properties: { applicability: side.applicability },
        });
      }
      if (report.verify) {
        const v = verificationJson(report.verify);
        result({
          ruleId: "verify",
          level: v.verified ? "note" : "warning",
          message: {
            text: v.verified
              ? `verified by a real build with ${builderLabel(v)}: kept ${v.kept}`
              : `not verified with ${builderLabel(v)}: ${v.reason}`,
          },
          locations: [location(report.path, null)],
          properties: { verify: v },
        });
      }
      for (const r of report.refusals) {
        result({
          ...rule(r.transform),
          level: "note",
          message: { text: `left alone: ${r.reason}` },
          locations: [location(report.path, r.line)],
          ...(r.rules.length > 0 ? { properties: { tags: r.rules } } : {}),
        });
      }
    },

    end(): void {
      start();
      const invocation = { executionSuccessful: true, toolExecutionNotifications: notifications };
      out.write(`${first ? "" : "\n"}],"invocations":[${JSON.stringify(invocation)}]}]}\n`);
    },
  };
}

export type SarifWriter = ReturnType<typeof createSarifWriter>;
