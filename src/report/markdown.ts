import fs from "node:fs";
import path from "node:path";
import type { FileReport } from "../io/process.ts";
import { repositoryRoot } from "../io/repository.ts";
import { jsonFileEntry } from "./json.ts";
import { builderLabel, reasonLine, type verificationJson } from "../verify/report.ts";
import { printable } from "./printable.ts";

/** What the report keeps per file: the JSON entry (no diff, no file contents). */
type FileEntry = ReturnType<typeof jsonFileEntry>;

interface RepoGroup {
  /** Repository folder as shown (relative to the cwd where possible). */
  label: string;
  files: number;
  changed: number;
  refused: number;
  errors: number;
  /** Only files with something to say. */
  entries: FileEntry[];
}

/** Escapes text for markdown prose (messages and reasons come from transforms, paths from users). */
export function mdEscape(text: string): string {
  return printable(text.replace(/[\\`*_[\]<>|#~]/g, "\\$&").replace(/\r?\n/g, " "));
}

export function mdCode(text: string): string {
  const ticks = text.includes("`") ? "``" : "`";
  const pad = ticks.length > 1 ? " " : "";
  return `${ticks}${pad}${printable(text.replace(/\r?\n/g, " "))}${pad}${ticks}`;
}

/**
 * `--report <file.md>`: a migration report grouped by repository (the
 * nearest folder above each Dockerfile holding `.git`; else the input folder
 * it was found under, else the cwd), for pull-request descriptions. Keeps a
 * compact summary per file that has changes, refusals or errors.
 * `inputs` are the paths given on the command line (optional).
 */
export function createMarkdownReport(cwd: string, inputs: string[] = []) {
  const roots = inputs
    .map((i) => path.resolve(cwd, i))
    .map((abs) => (isDir(abs) ? abs : path.dirname(abs)))
    .sort((a, b) => b.length - a.length);
  const repoOfDir = new Map<string, string | null>();
  const groups = new Map<string, RepoGroup>();
  let total = 0;

  const repoFor = (abs: string): string => {
    const dir = path.dirname(abs);
    const repo = repositoryRoot(dir, repoOfDir);
    if (repo) return repo;
    const root = roots.find((r) => dir === r || dir.startsWith(r + path.sep));
    return root ?? cwd;
  };

  const label = (abs: string): string => {
    const rel = path.relative(cwd, abs);
    if (rel === "") return ".";
    return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel.split(path.sep).join("/");
  };

  return {
    add(report: FileReport): void {
      total++;
      const repo = repoFor(path.resolve(cwd, report.path));
      let g = groups.get(repo);
      if (!g) {
        g = { label: label(repo), files: 0, changed: 0, refused: 0, errors: 0, entries: [] };
        groups.set(repo, g);
      }
      g.files++;
      if (report.changed) g.changed++;
      if (report.refusals.length > 0) g.refused++;
      if (report.error) g.errors++;
      if (!report.changed && report.refusals.length === 0 && !report.error) return;
      g.entries.push(jsonFileEntry(report));
    },

    render(): string {
      const list = [...groups.values()].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
      const sum = (k: "changed" | "refused" | "errors") => list.reduce((n, g) => n + g[k], 0);
      const out: string[] = ["# dfopt migration report", ""];
      out.push(
        `${total} Dockerfile${total === 1 ? "" : "s"} in ${list.length} ` +
          `repositor${list.length === 1 ? "y" : "ies"}: ${sum("changed")} changed, ` +
          `${sum("refused")} with refusals (left alone where unsafe), ${sum("errors")} with errors.`,
        "",
      );
      const unsafe = (e: FileEntry) =>
        e.changes.some((c) => c.applicability === "unsafe") ||
        e.sideFiles.some((f) => f.applicability === "unsafe");
      if (list.some((g) => g.entries.some(unsafe)))
        out.push(
          "Changes marked **(unsafe)** may change what the image does (another base, a USER, a flag that fails " +
            "a build); they were applied because of `--unsafe` or proven by `--verify`: review them.",
          "",
        );
      if (list.length > 1) {
        out.push(
          "| Repository | Dockerfiles | Changed | With refusals | Errors |",
          "|---|---:|---:|---:|---:|",
        );
        for (const g of list) {
          out.push(
            `| ${mdCode(g.label).replace(/\|/g, "\\|")} | ${g.files} | ${g.changed} | ${g.refused} | ${g.errors} |`,
          );
        }
        out.push("");
      }
      for (const g of list) {
        out.push(`## ${mdCode(g.label)}`, "");
        out.push(
          `${g.files} Dockerfile${g.files === 1 ? "" : "s"}: ${g.changed} changed, ` +
            `${g.refused} with refusals, ${g.errors} with errors.`,
          "",
        );
        const changed = g.entries.filter((e) => e.changed);
        if (changed.length > 0) {
          out.push("### Changes", "");
          for (const e of changed) {
            out.push(`- ${mdCode(e.path)}`);
            for (const c of e.changes) {
              const rules = c.rules.length > 0 ? ` (${c.rules.map(mdEscape).join(", ")})` : "";
              const unsafe = c.applicability === "unsafe" ? " **(unsafe)**" : "";
              out.push(
                `  - line ${c.line}:${unsafe} ${mdEscape(c.message)} — ${mdCode(c.transform)}${rules}`,
              );
            }
            for (const f of e.sideFiles) {
              const unsafe = f.applicability === "unsafe" ? " **(unsafe)**" : "";
              out.push(
                `  - ${f.created ? "new" : "updated"} ${mdCode(f.path)}:${unsafe} ${mdEscape(f.message)}`,
              );
            }
          }
          out.push("");
        }
        const refused = g.entries.filter((e) => e.refusals.length > 0);
        if (refused.length > 0) {
          out.push("### Left alone", "");
          for (const e of refused) {
            out.push(`- ${mdCode(e.path)}`);
            for (const r of e.refusals) {
              const where = r.line === null ? "" : `line ${r.line}: `;
              out.push(`  - ${where}${mdEscape(r.reason)} — ${mdCode(r.transform)}`);
            }
          }
          out.push("");
        }
        const verified = g.entries.filter((e) => e.verify);
        if (verified.length > 0) {
          out.push("### Real builds (--verify)", "");
          for (const e of verified) out.push(...verificationMarkdown(e.path, e.verify!));
          out.push("");
        }
        const failed = g.entries.filter((e) => e.error);
        if (failed.length > 0) {
          out.push("### Errors", "");
          for (const e of failed) {
            const err = e.error!;
            const where = err.line === null ? "" : ` line ${err.line}`;
            out.push(`- ${mdCode(e.path)}${where}: ${mdEscape(err.message)} (${mdCode(err.kind)})`);
          }
          out.push("");
        }
      }
      return out.join("\n");
    },
  };
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export type MarkdownReport = ReturnType<typeof createMarkdownReport>;

function verificationMarkdown(file: string, v: ReturnType<typeof verificationJson>): string[] {
  const head = v.verified
    ? `verified with ${mdEscape(builderLabel(v))}: kept ${mdCode(v.kept ?? "")}, ${v.originalBytes ?? "?"} → ${v.newBytes ?? "?"} bytes`
    : `**not verified** with ${mdEscape(builderLabel(v))}: ${mdEscape(v.reason ?? "")}`;
  const lines = [`- ${mdCode(file)}: ${head}`];
  for (const c of v.candidates) {
    if (c.outcome !== "failed") continue;
    lines.push(`  - ${mdCode(c.rung)}: ${c.step} failed: ${mdEscape(reasonLine(c))}`);
  }
  return lines;
}
