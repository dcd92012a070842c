import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseDockerfile } from "../engine/parse.ts";
import type { BuildContext, Transform, TransformOptions } from "../engine/types.ts";
import type { Builder, BuilderName, RunOutcome, RunRequest } from "./builder.ts";
import { releasePath, trackPath } from "./cleanup.ts";
import { copyContext, outputDifference, writeInCopy } from "./compare.ts";
import { tail } from "./exec.ts";
import { candidatesFor, type Candidate } from "./ladder.ts";
import { reasonLine } from "./report.ts";

/** Where a candidate failed. */
export type FailedStep = "build" | "run" | "output";

export interface CandidateReport {
  /** The rung that names the candidate, and every rung that gave the same text. */
  rung: string;
  rungs: string[];
  description: string;
  outcome: "kept" | "failed" | "not-tried";
  step: FailedStep | null;
  /** Why it failed: the build log's tail, the run error, or the output difference. */
  reason: string | null;
  bytes: number | null;
}

/** The `verify` entry of a file's report. */
export interface FileVerification {
  verified: boolean;
  builder: BuilderName;
  /** What the builder says of its version, e.g. "buildah version 1.28.2". */
  builderVersion: string;
  ecosystem: string | null;
  /** The rung kept, or null when no candidate passed (the file is then left as it is). */
  kept: string | null;
  originalBuilds: boolean;
  originalBytes: number | null;
  /** What the original did when run (its stdout, or HTTP status and body), the start of it. */
  originalOutput: string | null;
  /** Bytes of the image kept; the original's when none was. */
  newBytes: number | null;
  candidates: CandidateReport[];
  /** Why nothing was verified: the original did not build or run, or every candidate failed. */
  reason: string | null;
}

export interface RewriteVerifyInput {
  builder: Builder;
  raw: string;
  /** The user's build context folder (copied, never written) and its reader. */
  contextDir: string;
  context: BuildContext;
  transforms: readonly Transform[];
  options: TransformOptions;
  /** `sh -c` command run in every image instead of its own command. */
  smoke?: string;
  /** `KEY=VALUE` settings every run gets (`--verify-env`). */
  runEnv?: string[];
  timeoutMs: number;
  /** Image tags are `<tagPrefix>:original`, `<tagPrefix>:c1`, ... */
  tagPrefix: string;
  log?: (line: string) => void;
}

export interface RewriteVerifyOutcome {
  verification: FileVerification;
  /** The candidate kept, or null: leave the file unchanged. */
  kept: Candidate | null;
}

/**
 * The run request for an image: its own command, its first EXPOSEd TCP port, its HEALTHCHECK;
 * with the `KEY=VALUE` settings `env` (`--verify-env`) when given.
 */
export function runRequestFor(
  raw: string,
  smoke: string | undefined,
  timeoutMs: number,
  env: string[] = [],
): RunRequest {
  const settings = env.length ? { env } : {};
  if (smoke) return { smoke, timeoutMs, ...settings };
  const req: RunRequest = { timeoutMs, ...settings };
  let model;
  try {
    model = parseDockerfile(raw);
  } catch {
    return req;
  }
  const last = model.stages[model.stages.length - 1];
  for (const i of last?.instructions ?? []) {
    if (i.keyword === "EXPOSE" && !req.http) {
      const port = i.args.map((a) => /^(\d+)(?:\/tcp)?$/i.exec(a.value)?.[1]).find(Boolean);
      if (port) req.http = { port: Number(port), path: "/" };
    }
    if (i.keyword === "HEALTHCHECK" && i.argsSpan) {
      const m = /^CMD\s+([\s\S]*)$/i.exec(model.text.slice(i.argsSpan.start, i.argsSpan.end).trim());
      if (!m) {
        delete req.healthcheck; // HEALTHCHECK NONE
        continue;
      }
      const body = m[1].replace(/\\\r?\n/g, " ").trim();
      let argv: unknown = null;
      if (body.startsWith("[")) {
        try {
          argv = JSON.parse(body);
        } catch {
          argv = null;
        }
      }
      req.healthcheck =
        Array.isArray(argv) && argv.every((a) => typeof a === "string") ? argv : ["/bin/sh", "-c", body];
    }
  }
  return req;
}

/** What a run gave: its HTTP answer (status and body) or its stdout. */
const wholeOutput = (r: RunOutcome) => (r.http ? `HTTP ${r.http.status} ${r.http.body}` : r.stdout);
const outputStart = (r: RunOutcome) => wholeOutput(r).slice(0, 200);

/**
 * The two outputs from a little before where they first differ: their starts may be alike for
 * longer than a message shows (an HTML page that differs only in a hashed asset name).
 */
export function differingOutputs(a: RunOutcome, b: RunOutcome): [string, string] {
  const [x, y] = [wholeOutput(a), wholeOutput(b)];
  let at = 0;
  while (at < x.length && x[at] === y[at]) at++;
  const from = at > 160 ? at - 40 : 0;
  const shown = (s: string) => JSON.stringify(`${from ? "…" : ""}${s.slice(from, from + 200)}`);
  return [shown(x), shown(y)];
}

/**
 * Builds the original once, then each candidate rewrite (ladder order, most aggressive first) with
 * the layer cache on, runs each image the same way and keeps the first candidate that builds and
 * behaves like the original. Works on copies of the context in a scratch folder; removes every image
 * and the folder, also when interrupted (src/verify/cleanup.ts).
 */
export async function verifyRewrite(input: RewriteVerifyInput): Promise<RewriteVerifyOutcome> {
  const log = input.log ?? (() => {});
  const { builder } = input;
  const { ecosystem, candidates } = candidatesFor(input.raw, input.context, input.transforms, input.options);
  const reports: CandidateReport[] = candidates.map((c) => ({
    rung: c.rungs[0].id,
    rungs: c.rungs.map((r) => r.id),
    description: c.rungs[0].description,
    outcome: "not-tried",
    step: null,
    reason: null,
    bytes: null,
  }));
  const verification: FileVerification = {
    verified: false,
    builder: builder.name,
    builderVersion: builder.version,
    ecosystem,
    kept: null,
    originalBuilds: false,
    originalBytes: null,
    originalOutput: null,
    newBytes: null,
    candidates: reports,
    reason: null,
  };
  if (candidates.length === 0) {
    verification.reason = "no candidate rewrite";
    return { verification, kept: null };
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-verify-"));
  trackPath(work);
  // tags built and not yet removed
  const live = new Set<string>();
  const remove = async (tag: string) => {
    live.delete(tag);
    await builder.remove([tag]);
  };
  try {
    const baseContext = path.join(work, "context");
    for (const l of copyContext(input.contextDir, baseContext))
      log(`left out of the context copy: ${l} (a link out of the context, or not a regular file)`);
    const request = runRequestFor(input.raw, input.smoke, input.timeoutMs, input.runEnv);

    const original = `${input.tagPrefix}:original`;
    live.add(original);
    const originalFile = path.join(work, "Dockerfile.original");
    fs.writeFileSync(originalFile, input.raw.replace(/^\uFEFF/, ""));
    log("build original");
    const built = await builder.build(originalFile, baseContext, original, { noCache: false });
    if (!built.ok) {
      verification.reason = `the original does not build: ${tail(built.error ?? "", 12)}`;
      return { verification, kept: null };
    }
    verification.originalBuilds = true;
    verification.originalBytes = (await builder.inspect(original))?.bytes ?? null;
    log("run original");
    const reference = await builder.run(original, request);
    verification.originalOutput = outputStart(reference);
    // a command that exits non-zero is behaviour to compare; one that cannot start is not
    if (!reference.ok && (reference.exitCode === null || request.http) && !reference.timedOut) {
      // the error line first: a stack trace's tail is only "at ..." lines
      const said = reasonLine({ step: "run", reason: reference.error });
      const last = tail(reference.error ?? "", 12);
      verification.reason = `the original does not run: ${last.includes(said) ? last : `${said}\n${last}`}`;
      return { verification, kept: null };
    }
    await remove(original);

    for (const [index, candidate] of candidates.entries()) {
      const report = reports[index];
      // --smoke runs `sh -c` in every image: a shell-less runtime cannot pass, so it is not built
      if (input.smoke && candidate.rungs.every((r) => r.splitStages?.nodeRuntime === "distroless")) {
        const reason = "--smoke runs its command with sh -c, and the distroless image has no shell";
        Object.assign(report, { outcome: "failed", step: "run", reason });
        continue;
      }
      const tag = `${input.tagPrefix}:c${index + 1}`;
      live.add(tag);
      let context = baseContext;
      if (candidate.sideFiles.length > 0) {
        context = path.join(work, `context-${index + 1}`);
        copyContext(baseContext, context);
        for (const f of candidate.sideFiles) writeInCopy(context, f.path, f.content);
      }
      const file = path.join(work, `Dockerfile.${report.rung}`);
      fs.writeFileSync(file, candidate.result.output.replace(/^\uFEFF/, ""));
      log(`build candidate ${report.rung}`);
      const b = await builder.build(file, context, tag, { noCache: false });
      if (!b.ok) {
        Object.assign(report, { outcome: "failed", step: "build", reason: tail(b.error ?? "", 12) });
        await remove(tag);
        continue;
      }
      report.bytes = (await builder.inspect(tag))?.bytes ?? null;
      log(`run candidate ${report.rung}`);
      const run = await builder.run(tag, request);
      await remove(tag);
      if (!run.ok && reference.ok) {
        // the builder's failure text is already the ends of stdout and stderr
        Object.assign(report, { outcome: "failed", step: "run", reason: run.error ?? "" });
        continue;
      }
      const difference = outputDifference(reference, run);
      if (difference) {
        const [was, is] = differingOutputs(reference, run);
        Object.assign(report, {
          outcome: "failed",
          step: "output",
          reason: `${difference} differs: original ${was}, candidate ${is}`,
        });
        continue;
      }
      report.outcome = "kept";
      Object.assign(verification, { verified: true, kept: report.rung, newBytes: report.bytes });
      return { verification, kept: candidate };
    }
    verification.newBytes = verification.originalBytes;
    verification.reason = `no candidate builds and behaves like the original: ${reports
      .map((r) => `${r.rung}: ${r.step} failed (${reasonLine(r)})`)
      .join("; ")}`;
    return { verification, kept: null };
  } finally {
    if (live.size) await builder.remove([...live]);
    releasePath(work);
  }
}
