import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { optimizeFile, loadParsers } from "../engine/engine.ts";
import { folderContext } from "../io/context.ts";
import { TRANSFORMS } from "../../transforms/index.ts";
import { detectBuilder, makeBuilder, type BuilderName, type Probe } from "./builder.ts";
import { releasePath, trackPath } from "./cleanup.ts";
import { compareBuilds } from "./compare.ts";
import { comparisonJson, renderTable, verdictOf } from "./report.ts";
import { runRequestFor } from "./rewrite.ts";

export { detectBuilder, makeBuilder } from "./builder.ts";
export { compareBuilds, pickTouchFile, outputsMatch } from "./compare.ts";
export { renderTable, renderE2eMarkdown, comparisonJson, verdictOf, formatBytes } from "./report.ts";

export const NO_BUILDER_MESSAGE =
  "dfopt verify: no container builder found. It needs one of: docker (with buildx and a running daemon), " +
  "podman, or buildah on PATH (set DFOPT_BUILDER=docker|podman|buildah or --builder to pick one).\n";

export interface VerifyOptions {
  dockerfile: string;
  /** The Dockerfile as the user named it, for messages (default: `dockerfile`). */
  shown?: string;
  /** --builder: only this one (else DFOPT_BUILDER, else the first found). */
  builder?: BuilderName;
  /** --buildx-builder (docker only). */
  buildxBuilder?: string;
  context?: string;
  smoke?: string;
  /** `--env KEY=VALUE` settings both runs get. */
  env?: string[];
  format: "table" | "json";
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** How long each container may run (default 20 s). */
  timeoutSeconds?: number;
  /** For tests: how builder detection probes commands. */
  probe?: Probe;
}

/**
 * `dfopt verify`: rewrites the Dockerfile in memory, builds the original and the rewrite with the
 * first builder found, runs both and prints a before/after table. Writes nothing to the user's files.
 * Returns 0 (rewrite verified), 1 (the rewrite failed to build, run or match), 2 (could not verify).
 */
export async function runVerify(opts: VerifyOptions): Promise<number> {
  const say = (s: string) => opts.stderr.write(s);
  const dockerfile = path.resolve(opts.dockerfile);
  const shown = opts.shown ?? opts.dockerfile;
  let raw: string;
  try {
    raw = fs.readFileSync(dockerfile, "utf8");
  } catch (e) {
    say(`dfopt verify: cannot read ${shown}: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
    return 2;
  }
  const contextDir = path.resolve(opts.context ?? path.dirname(dockerfile));
  if (!fs.existsSync(contextDir) || !fs.statSync(contextDir).isDirectory()) {
    say(`dfopt verify: build context ${contextDir} is not a folder\n`);
    return 2;
  }
  const prefer = opts.builder ?? (process.env.DFOPT_BUILDER || undefined);
  const found = await detectBuilder(opts.probe, prefer);
  if (!found) {
    say(prefer ? `dfopt verify: builder ${prefer} not found (or not working) on PATH\n` : NO_BUILDER_MESSAGE);
    return 2;
  }
  await loadParsers();
  const result = optimizeFile(raw, folderContext(contextDir), { transforms: TRANSFORMS });
  if (result.error) {
    say(`dfopt verify: ${shown}: ${result.error.message}\n`);
    return 2;
  }
  const changes = result.changes.map((c) => ({ transform: c.transform, line: c.line, message: c.message }));
  const refusals = result.refusals.map((r) => ({ transform: r.transform, line: r.line, reason: r.reason }));
  if (!result.changed && result.sideFiles.length === 0) {
    if (opts.format === "json") {
      opts.stdout.write(
        JSON.stringify(
          { dockerfile: shown, changed: false, changes, refusals, verdict: "no-change" },
          null,
          2,
        ) + "\n",
      );
    } else {
      opts.stdout.write(`dfopt verify: dfopt leaves ${shown} unchanged; nothing to verify.\n`);
      for (const r of refusals)
        opts.stdout.write(`  refused (${r.transform}${r.line ? `, line ${r.line}` : ""}): ${r.reason}\n`);
    }
    return 0;
  }
  const builder = makeBuilder(found.name, found.version, { buildxBuilder: opts.buildxBuilder });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-verify-"));
  trackPath(workDir);
  say(`dfopt verify: ${found.version}; working in ${workDir}\n`);
  try {
    const comparison = await compareBuilds({
      builder,
      originalText: raw,
      rewrittenText: result.output,
      sideFiles: result.sideFiles,
      contextDir,
      workDir,
      touch: "auto",
      // the same checks as --verify: its command, its first EXPOSEd port, its HEALTHCHECK
      run: runRequestFor(raw, opts.smoke, (opts.timeoutSeconds ?? 20) * 1000, opts.env),
      tagPrefix: `localhost/dfopt-verify-${process.pid}`,
      log: (l) => say(`  ${l}\n`),
    });
    if (opts.format === "json") {
      const json = {
        dockerfile: shown,
        context: contextDir,
        changed: result.changed,
        sideFiles: result.sideFiles.map((f) => f.path),
        changes,
        refusals,
        ...comparisonJson(comparison),
      };
      opts.stdout.write(JSON.stringify(json, null, 2) + "\n");
    } else {
      opts.stdout.write(renderTable(comparison, `dfopt verify ${shown} (${found.version})`));
      if (changes.length) {
        opts.stdout.write("rewrites verified:\n");
        for (const c of changes) opts.stdout.write(`  line ${c.line} ${c.transform}: ${c.message}\n`);
      }
      for (const f of result.sideFiles) opts.stdout.write(`  side file ${f.path}: ${f.message}\n`);
    }
    const v = verdictOf(comparison);
    return v === "ok" ? 0 : v === "rewrite-failed" ? 1 : 2;
  } catch (e) {
    say(`dfopt verify: ${(e as Error).message}\n`);
    return 2;
  } finally {
    releasePath(workDir);
  }
}
