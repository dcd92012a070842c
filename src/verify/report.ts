import type { Comparison, SideResult } from "./compare.ts";
import type { FileVerification } from "./rewrite.ts";
import { withoutAdvice } from "./exec.ts";

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "?";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

export function reduction(
  before: number | null | undefined,
  after: number | null | undefined,
): number | null {
  if (!before || after === null || after === undefined) return null;
  return (before - after) / before;
}

const pct = (r: number | null) => {
  if (r === null) return "";
  const v = Math.abs(r * 100).toFixed(1);
  return v === "0.0" ? "0.0%" : `${r > 0 ? "-" : "+"}${v}%`;
};
const secs = (s: number | null | undefined) => (s === null || s === undefined ? "-" : `${s.toFixed(1)} s`);
const yesNo = (v: boolean | null | undefined) => (v === null || v === undefined ? "-" : v ? "yes" : "NO");

export type Verdict = "ok" | "rewrite-failed" | "cannot-verify";

/** 0/1/2 semantics of `dfopt verify`. */
export function verdictOf(c: Comparison): Verdict {
  if (!c.before.build.ok || !c.before.run?.ok) return "cannot-verify";
  if (!c.after.build.ok || !c.after.run?.ok || c.sameOutput !== true) return "rewrite-failed";
  return "ok";
}

function rows(c: Comparison): [string, string, string][] {
  const side = (s: SideResult) => s;
  const b = side(c.before);
  const a = side(c.after);
  const r = reduction(b.image?.bytes, a.image?.bytes);
  return [
    ["build ok", yesNo(b.build.ok), yesNo(a.build.ok)],
    ["run ok", yesNo(b.run?.ok ?? null), yesNo(a.run?.ok ?? null)],
    ["same output", "", yesNo(c.sameOutput)],
    [
      "image size",
      formatBytes(b.image?.bytes),
      a.image ? `${formatBytes(a.image.bytes)}${r === null ? "" : ` (${pct(r)})`}` : "-",
    ],
    ["layers", b.image ? String(b.image.layers) : "-", a.image ? String(a.image.layers) : "-"],
    ["build time", b.build.ok ? secs(b.build.seconds) : "-", a.build.ok ? secs(a.build.seconds) : "-"],
    [
      "rebuild time",
      b.rebuild?.ok ? secs(b.rebuild.seconds) : b.rebuild ? "failed" : "-",
      a.rebuild?.ok ? secs(a.rebuild.seconds) : a.rebuild ? "failed" : "-",
    ],
  ];
}

/** The before/after table `dfopt verify` prints. */
export function renderTable(c: Comparison, title: string): string {
  const header: [string, string, string] = ["", "original", "rewritten"];
  const all = [header, ...rows(c)];
  const w = [0, 1, 2].map((i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(w[i]))
      .join("   ")
      .trimEnd();
  const out = [title, line(header), line(w.map((n) => "-".repeat(n))), ...rows(c).map(line)];
  if (c.touched) out.push(`(rebuild after changing ${c.touched})`);
  const problems: string[] = [];
  for (const [name, s] of [
    ["original", c.before],
    ["rewritten", c.after],
  ] as const) {
    if (!s.build.ok && s.build.error) problems.push(`${name} build failed:\n${indent(s.build.error)}`);
    if (s.run && !s.run.ok) problems.push(`${name} run failed:\n${indent(s.run.error ?? "")}`);
    if (s.rebuild && !s.rebuild.ok)
      problems.push(`${name} rebuild failed:\n${indent(s.rebuild.error ?? "")}`);
  }
  if (c.sameOutput === false) {
    const show = (s: SideResult) =>
      s.run?.http ? `HTTP ${s.run.http.status} ${s.run.http.body}` : (s.run?.stdout ?? "");
    problems.push(
      `output differs:\n  original:\n${indent(show(c.before), 4)}\n  rewritten:\n${indent(show(c.after), 4)}`,
    );
  }
  out.push(...problems);
  const v = verdictOf(c);
  out.push(
    v === "ok"
      ? "verdict: the rewrite builds, runs and gives the same output"
      : v === "rewrite-failed"
        ? "verdict: the rewrite FAILED (see above); do not apply it"
        : "verdict: could not verify (the original did not build or run)",
  );
  return out.join("\n") + "\n";
}

function indent(s: string, n = 2): string {
  const pad = " ".repeat(n);
  return s
    .trimEnd()
    .split("\n")
    .map((l) => pad + l)
    .join("\n");
}

/** Plain data for `--format json` and for the e2e results file. */
export function comparisonJson(c: Comparison) {
  const side = (s: SideResult) => ({
    buildOk: s.build.ok,
    buildSeconds: s.build.ok ? round(s.build.seconds) : null,
    buildError: s.build.error,
    runOk: s.run?.ok ?? null,
    exitCode: s.run?.exitCode ?? null,
    output: s.run ? (s.run.http ? `HTTP ${s.run.http.status} ${s.run.http.body}` : s.run.stdout) : null,
    runError: s.run?.error ?? null,
    bytes: s.image?.bytes ?? null,
    layers: s.image?.layers ?? null,
    rebuildSeconds: s.rebuild?.ok ? round(s.rebuild.seconds) : null,
    rebuildError: s.rebuild && !s.rebuild.ok ? s.rebuild.error : null,
  });
  return {
    builder: c.builder,
    verdict: verdictOf(c),
    sameOutput: c.sameOutput,
    reduction: reduction(c.before.image?.bytes, c.after.image?.bytes),
    touched: c.touched,
    original: side(c.before),
    rewritten: side(c.after),
  };
}

const round = (s: number) => Math.round(s * 100) / 100;

export interface E2eRow {
  app: string;
  ecosystem: string;
  /** What dfopt did: the transforms applied, or the refusal / "no change". */
  dfopt: string;
  comparison: Comparison | null;
  /** Why the app failed, or null when it passed. */
  failure: string | null;
}

/** docs/e2e-results.md */
export function renderE2eMarkdown(
  rows: E2eRow[],
  meta: { date: string; builder: string; command: string; notes: string[] },
): string {
  const out = [
    "# dfopt end-to-end results",
    "",
    `Generated by \`${meta.command}\` on ${meta.date} with ${meta.builder}. Each app in \`fixtures/e2e/\` is a`,
    "single-stage Dockerfile; dfopt (all registered transforms) rewrites it, then the original and the",
    "rewritten Dockerfile are built cold, both images are run and their output compared, one source",
    "file is changed and both are built again (layer cache on). Sizes are uncompressed bytes.",
    "",
    "| app | ecosystem | original | optimized | reduction | layers | same output | build s (orig → new) | rebuild s (orig → new) | result |",
    "|---|---|---:|---:|---:|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const c = r.comparison;
    const b = c?.before;
    const a = c?.after;
    const red = reduction(b?.image?.bytes, a?.image?.bytes);
    out.push(
      `| ${r.app} | ${r.ecosystem} | ${b?.image ? `${b.image.bytes} (${formatBytes(b.image.bytes)})` : "-"} | ${a?.image ? `${a.image.bytes} (${formatBytes(a.image.bytes)})` : "-"} | ${red === null ? "-" : `${(red * 100).toFixed(1)}%`} | ${b?.image?.layers ?? "-"} → ${a?.image?.layers ?? "-"} | ${yesNo(c?.sameOutput)} | ${b?.build.ok ? b.build.seconds.toFixed(1) : "-"} → ${a?.build.ok ? a.build.seconds.toFixed(1) : "-"} | ${b?.rebuild?.ok ? b.rebuild.seconds.toFixed(1) : "-"} → ${a?.rebuild?.ok ? a.rebuild.seconds.toFixed(1) : "-"} | ${r.failure ? "FAIL" : "pass"} |`,
    );
  }
  out.push("", "## What dfopt did, and failures", "");
  for (const r of rows) {
    out.push(
      `- **${r.app}**: ${r.dfopt}${r.failure ? `. **FAIL**: ${r.failure.replace(/\s+/g, " ").slice(0, 600)}` : ""}`,
    );
  }
  if (meta.notes.length) out.push("", "## Notes", "", ...meta.notes.map((n) => `- ${n}`));
  return out.join("\n") + "\n";
}

/**
 * The telling line of a candidate's failure: of a build, `buildErrorLine`; of a failed run, the
 * first line that says error (the builder's own exit lines follow what the app printed).
 */
export function reasonLine(c: { step: string | null; reason: string | null }): string {
  if (c.step === "build") return buildErrorLine(c.reason ?? "");
  const lines = (c.reason ?? "").trim().split("\n");
  return (lines.find((l) => /\berror\b/i.test(l)) ?? lines[0] ?? "").trim();
}

/**
 * Lines of a build log that say a step failed but not why: the builder's own closing lines
 * (buildah/podman `Error: building at STEP ...: exit status 1`, BuildKit `ERROR: failed to solve`),
 * npm's pointers to its log, stack frames and step headers.
 */
const BUILD_LOG_NOISE =
  /^(?:Error: building at STEP|error building at STEP|subprocess exited with status|ERROR: failed to solve|exit status \d+$|time=|STEP \d|--> |at |-+$|[~^\s]+$|npm error\s*$|warning\b)|A complete log of this run|For a full report see/i;
/** Terminal escape sequences (colours, cursor moves) tools print into a build log. */
// eslint-disable-next-line no-control-regex -- the escape character is what it finds
const TERMINAL_ESCAPES = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;

/** `log` without the terminal escape sequences (colours, cursor moves) tools print into it. */
export function withoutTerminalEscapes(log: string): string {
  return log.replace(TERMINAL_ESCAPES, "");
}

/**
 * Why a build failed, in one line of its log: the time limit when it was hit, else the first error
 * the build itself printed, else the last line that is not the builder's own.
 */
export function buildErrorLine(log: string): string {
  const all = withoutTerminalEscapes(withoutAdvice(log))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const lines = all.filter((l) => !BUILD_LOG_NOISE.test(l));
  return (
    lines.find((l) => /^timed out after \d+ s$/.test(l)) ??
    lines.find((l) => /^(?:npm )?error\b|ERR!|^Error\b|^E: |: [Ee]rror\b|\berror TS\d+:/.test(l)) ??
    lines.find((l) => /\b(?:not found|No such file|failed|cannot|unable|incompatible)\b/i.test(l)) ??
    lines[lines.length - 1] ??
    all[all.length - 1] ??
    ""
  );
}

/** "buildah version 1.28.2", "docker (github.com/docker/buildx v0.12.0)". */
export function builderLabel(v: { builder: string; builderVersion: string }): string {
  return v.builderVersion.startsWith(v.builder) ? v.builderVersion : `${v.builder} (${v.builderVersion})`;
}

/** The human line for a file's verification. */
export function describeVerification(v: FileVerification): string {
  const tried = v.candidates
    .filter((c) => c.outcome === "failed")
    .map((c) => `${c.rung}: ${c.step} failed (${reasonLine(c)})`);
  const head = v.verified
    ? `verified with ${builderLabel(v)}: kept ${v.kept} (${formatBytes(v.originalBytes)} → ${formatBytes(v.newBytes)})`
    : `NOT verified with ${builderLabel(v)}: ${v.originalBuilds ? "left unchanged" : "the original does not build"}`;
  return [head, ...tried.map((t) => `  tried ${t}`)].join("\n");
}

/** Plain data for JSON, JSONL, SARIF properties and the markdown report. */
export function verificationJson(v: FileVerification) {
  return {
    verified: v.verified,
    builder: v.builder,
    builderVersion: v.builderVersion,
    ecosystem: v.ecosystem,
    kept: v.kept,
    originalBuilds: v.originalBuilds,
    originalBytes: v.originalBytes,
    originalOutput: v.originalOutput,
    newBytes: v.newBytes,
    reason: v.reason,
    candidates: v.candidates.map((c) => ({
      rung: c.rung,
      rungs: c.rungs,
      outcome: c.outcome,
      step: c.step,
      reason: c.reason,
      bytes: c.bytes,
    })),
  };
}
