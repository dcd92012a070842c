import path from "node:path";
import { configFor, resolveTransforms } from "../config.ts";
import { loadParsers } from "../engine/engine.ts";
import { folderContext } from "../io/context.ts";
import {
  readInput,
  reportResult,
  withRunInputs,
  type FileReport,
  type ProcessSettings,
} from "../io/process.ts";
import { BUILDER_ORDER, detectBuilder, makeBuilder, type BuilderName, type Probe } from "./builder.ts";
import { verifyRewrite } from "./rewrite.ts";

export type { FileVerification } from "./rewrite.ts";

/** The id refusals from `--verify` carry. */
export const VERIFY_ID = "verify";

export interface RewriteVerifierOptions {
  /** --builder: only this one; default: the first of docker (buildx), podman, buildah that works. */
  builder?: BuilderName;
  /** --buildx-builder (docker only). */
  buildxBuilder?: string;
  smoke?: string;
  /** `KEY=VALUE` settings every run gets (`--verify-env`). */
  runEnv?: string[];
  /** How long each container runs (default 20 s). */
  timeoutSeconds?: number;
  /** Progress lines (builds and runs). */
  log?: (line: string) => void;
  probe?: Probe;
}

export function noBuilderMessage(prefer: string | undefined): string {
  const looked = prefer ? [prefer] : BUILDER_ORDER;
  return `no container builder found: looked for ${looked
    .map((b) => (b === "docker" ? "docker (buildx and a running daemon)" : b))
    .join(", ")} on PATH`;
}

/**
 * `--verify` on the rewrite path. `create` finds the builder (null: none found); `verify` takes the
 * dry-run report of one file, proves a candidate rewrite by real builds, and returns the report of
 * what is kept, writing it with --write. The user's files are read, and written only with --write.
 */
export async function createRewriteVerifier(settings: ProcessSettings, opts: RewriteVerifierOptions) {
  const prefer = opts.builder ?? (process.env.DFOPT_BUILDER || undefined);
  const found = await detectBuilder(opts.probe, prefer);
  if (!found) return null;
  await loadParsers();
  const builder = makeBuilder(found.name, found.version, { buildxBuilder: opts.buildxBuilder });
  let count = 0;
  const totals = { verified: 0, unverified: 0, originalBroken: 0 };

  /** Never throws: a failure of the verification itself is the file's error. */
  async function verify(report: FileReport): Promise<FileReport> {
    try {
      return await verifyReport(report);
    } catch (e) {
      const message = `--verify failed: ${(e as Error).message}`;
      return {
        ...report,
        changed: false,
        diff: null,
        written: [],
        error: { kind: "verify", message, line: null },
      };
    }
  }

  async function verifyReport(report: FileReport): Promise<FileReport> {
    // a file the default rewrite leaves alone may still have candidates (e.g. the slim swap)
    if (report.error) return report;
    const file = path.resolve(settings.cwd, report.path);
    const config = withRunInputs(configFor(file, settings), file, settings);
    if (config.error || config.excluded) return report;
    const input = readInput(file);
    if ("error" in input) return { ...report, error: input.error };
    const raw = input.text;
    const contextDir = settings.contextDir ?? path.dirname(file);
    const context = folderContext(contextDir);
    const { verification, kept } = await verifyRewrite({
      builder,
      raw,
      contextDir,
      context,
      transforms: resolveTransforms(config, settings),
      options: config.options,
      smoke: opts.smoke,
      runEnv: opts.runEnv,
      timeoutMs: (opts.timeoutSeconds ?? 20) * 1000,
      tagPrefix: `localhost/dfopt-verify-${process.pid}-${++count}`,
      log: opts.log && ((l) => opts.log!(`${report.path}: ${l}`)),
    });
    if (verification.candidates.length === 0) return report;
    if (verification.verified) totals.verified++;
    else if (!verification.originalBuilds) totals.originalBroken++;
    else totals.unverified++;
    const out: FileReport = { ...report, verify: verification, diff: null, written: [] };
    if (!kept) {
      return {
        ...out,
        changed: false,
        changes: [],
        sideFiles: [],
        refusals: [
          ...report.refusals,
          { transform: VERIFY_ID, line: null, reason: verification.reason ?? "not verified", rules: [] },
        ],
      };
    }
    return reportResult({ ...out, changed: false, sideFiles: [] }, file, kept.result, context, settings);
  }

  return {
    builder: found,
    verify,
    /** One line for the end of a run. */
    summary(): string {
      const parts = [`${totals.verified} rewrite${totals.verified === 1 ? "" : "s"} verified`];
      if (totals.unverified) parts.push(`${totals.unverified} left unchanged (no candidate passed)`);
      if (totals.originalBroken) parts.push(`${totals.originalBroken} whose original does not build`);
      return `verify (${found.version}): ${parts.join(", ")}`;
    },
  };
}
