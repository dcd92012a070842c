import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, parseTransformList } from "../config.ts";
import { DEFAULT_CACHE_DIR, resultCacheKey } from "../io/cache.ts";
import { discover, parseShard, shardFiles } from "../io/discover.ts";
import { processAll } from "../io/pool.ts";
import type { FileReport, ProcessSettings } from "../io/process.ts";
import { resolveRegistryImages } from "../io/resolve.ts";
import { colorizeDiff } from "../report/diff.ts";
import { jsonFileEntry } from "../report/json.ts";
import { createJsonlWriter } from "../report/jsonl.ts";
import { createMarkdownReport } from "../report/markdown.ts";
import { createSarifWriter } from "../report/sarif.ts";
import { createSummary } from "../report/summary.ts";
import { createProgress } from "./progress.ts";
import { TRANSFORMS } from "../../transforms/index.ts";
import { VERSION } from "../version.ts";

export const EXIT_OK = 0;
export const EXIT_CHANGES = 1;
export const EXIT_ERROR = 2;
const MAX_FILES_WITH_REFUSALS = 20;

type Format = "diff" | "json" | "jsonl" | "sarif";

interface CliOptions {
  write?: boolean;
  check?: boolean;
  format: Format;
  only?: string;
  skip?: string;
  listTransforms?: boolean;
  context?: string;
  config?: string;
  mergeRuns?: "final" | "all";
  runtime?: "slim" | "alpine" | "distroless";
  registryPrefix?: string;
  resolve?: boolean;
  resolvePin?: "tag" | "digest" | "both";
  explain?: boolean;
  quiet?: boolean;
  jobs?: string;
  exclude: string[];
  followSymlinks?: boolean;
  shard?: string;
  report?: string;
  color?: boolean;
  cache?: boolean;
  cacheLocation?: string;
}

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

const HELP_AFTER = `
Paths are Dockerfiles or folders (searched recursively for Dockerfile,
Containerfile, *.Dockerfile, *.dockerfile and Dockerfile.*, honouring
.gitignore, skipping .git, node_modules and vendor). Default: the current folder.

By default dfopt changes nothing: it prints a unified diff of what it would
do. Use --write to apply it, --check in CI.

Exit codes:
  0  success (also when a diff was printed)
  1  --check: some files would change
  2  a file could not be processed, or bad usage (other files are still processed)

Suppress a change: "# dfopt ignore=<transform-id>" on the line before an
instruction, "# dfopt ignore-file" anywhere; hadolint, BuildKit check=skip,
trivy:ignore and checkov:skip comments are honoured for the repairs they name.

Examples:
  dfopt                              diff for every Dockerfile under .
  dfopt --write services/api/Dockerfile
  dfopt --check --only pin-tags .    fail CI when an image is unpinned
  dfopt --format sarif repos/ > dfopt.sarif
  dfopt --shard 1/4 --report migration.md repos/
  dfopt --cache repos/               review again: unchanged files come from the cache
  dfopt verify Dockerfile --smoke "node -e 'console.log(1)'"
`;

function buildProgram(io: CliIo, run: (paths: string[], opts: CliOptions) => Promise<number>): Command {
  const program = new Command("dfopt")
    .description(
      "Make Dockerfiles smaller, faster to rebuild and safer: prints a diff, or rewrites with --write.",
    )
    .version(VERSION, "-V, --version")
    .argument("[paths...]", "Dockerfiles, folders or globs", ["."])
    .option("-w, --write", "write the changes in place (atomically)")
    .option("-c, --check", "list the files that would change; exit 1 if any would")
    .addOption(
      new Option("-f, --format <format>", "output format")
        .choices(["diff", "json", "jsonl", "sarif"])
        .default("diff"),
    )
    .option("--only <ids>", "run only these transforms (comma separated)")
    .option("--skip <ids>", "do not run these transforms (comma separated)")
    .option("--list-transforms", "list the transforms (id, safety, peer rule IDs, description) and exit")
    .option("--explain", "print each change with its rule IDs and why, and every refusal")
    .option("-q, --quiet", "print no refusals and no summary")
    .option("--context <dir>", "build context for every Dockerfile (default: each Dockerfile's folder)")
    .option(
      "--config <file>",
      'config file (default: dfopt.config.json or package.json "dfopt", found upward)',
    )
    .addOption(new Option("--merge-runs <scope>", "stages merge-runs works on").choices(["final", "all"]))
    .addOption(
      new Option("--runtime <flavour>", "runtime base for split-stages").choices([
        "slim",
        "alpine",
        "distroless",
      ]),
    )
    .option(
      "--registry-prefix <prefix>",
      "prefix for base images dfopt introduces (a mirror), e.g. mirror.local/",
    )
    .option(
      "--resolve",
      "pin floating base-image tags (none, latest, 20, 1.2) against the image's registry: the most specific tag with the same digest, plus the digest",
    )
    .addOption(
      new Option("--resolve-pin <what>", "what --resolve writes (implies --resolve)").choices([
        "both",
        "tag",
        "digest",
      ]),
    )
    .option("-j, --jobs <n>", "worker threads (default: number of cores; 0: none, all files in this thread)")
    .option(
      "--exclude <glob>",
      "skip paths matching a gitignore-style glob (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .option("--follow-symlinks", "follow symbolic links while searching folders")
    .option("--shard <i/n>", "process only part i of n of the files (stable split for CI matrices)")
    .option("--report <file.md>", "write a markdown migration report grouped by repository")
    .option(
      "--cache",
      "keep each file's result and reuse it while the file, its build context, its config, the options and dfopt stay the same",
    )
    .option("--cache-location <dir>", `folder for --cache (default: ${DEFAULT_CACHE_DIR}); implies --cache`)
    .option("--no-color", "never color the diff")
    .addHelpText("after", HELP_AFTER)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .action(async (paths: string[], opts: CliOptions) => {
      program.setOptionValue("__exit", await run(paths, opts));
    });

  program
    .command("verify")
    .description(
      "build the original and the rewritten Dockerfile, run both, and compare (docker buildx, podman or buildah)",
    )
    .argument("<dockerfile>", "the Dockerfile to verify")
    .option("--context <dir>", "build context (default: the Dockerfile's folder)")
    .option("--smoke <cmd>", "command to run in both images instead of the image's own command")
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action(
      async (dockerfile: string, opts: { context?: string; smoke?: string; format: "table" | "json" }) => {
        const { runVerify } = await import("../verify/index.ts");
        const code = await runVerify({ dockerfile, ...opts, stdout: io.stdout, stderr: io.stderr });
        program.setOptionValue("__exit", code);
      },
    );
  return program;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io, (paths, opts) => runFiles(paths, opts, io));
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0)
        return EXIT_OK;
      return EXIT_ERROR;
    }
    throw e;
  }
  return (program.getOptionValue("__exit") as number | undefined) ?? EXIT_OK;
}

function listTransforms(io: CliIo, format: Format): number {
  if (format === "json") {
    const list = TRANSFORMS.map((t) => ({
      id: t.id,
      safety: t.safety,
      enabledByDefault: !t.defaultOff,
      rules: t.rules ?? [],
      description: t.description,
    }));
    io.stdout.write(JSON.stringify({ transforms: list }, null, 2) + "\n");
    return EXIT_OK;
  }
  const idWidth = Math.max(...TRANSFORMS.map((t) => t.id.length), 2);
  io.stdout.write(`${"ID".padEnd(idWidth)}  SAFETY       DEFAULT  RULES / DESCRIPTION\n`);
  for (const t of TRANSFORMS) {
    const rules = t.rules?.length ? `[${t.rules.join(", ")}] ` : "";
    io.stdout.write(
      `${t.id.padEnd(idWidth)}  ${t.safety.padEnd(11)}  ${(t.defaultOff ? "off" : "on").padEnd(7)}  ${rules}${t.description}\n`,
    );
  }
  return EXIT_OK;
}

async function runFiles(paths: string[], opts: CliOptions, io: CliIo): Promise<number> {
  const fail = (message: string) => {
    io.stderr.write(`dfopt: ${message}\n`);
    return EXIT_ERROR;
  };
  if (opts.listTransforms) return listTransforms(io, opts.format);
  if (opts.write && opts.check) return fail("--write and --check cannot be used together");
  let only: string[] | null = null;
  let skip: string[] = [];
  let shard: { index: number; count: number } | null = null;
  let jobs = os.availableParallelism();
  try {
    if (opts.only) only = parseTransformList(opts.only, "--only");
    if (opts.skip) skip = parseTransformList(opts.skip, "--skip");
    if (opts.shard) shard = parseShard(opts.shard);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof Error) return fail(e.message);
    throw e;
  }
  if (opts.jobs !== undefined) {
    jobs = Number(opts.jobs);
    if (!Number.isInteger(jobs) || jobs < 0)
      return fail(`--jobs must be a whole number ≥ 0, not '${opts.jobs}'`);
  }
  if (opts.context && !isDirectory(path.resolve(io.cwd, opts.context)))
    return fail(`--context: no such folder: ${opts.context}`);
  if (opts.config && !fs.existsSync(path.resolve(io.cwd, opts.config)))
    return fail(`--config: no such file: ${opts.config}`);
  const cacheDir =
    opts.cache || opts.cacheLocation ? path.resolve(io.cwd, opts.cacheLocation ?? DEFAULT_CACHE_DIR) : null;
  if (cacheDir) {
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.accessSync(cacheDir, fs.constants.W_OK);
    } catch (e) {
      return fail(`--cache: cannot use ${cacheDir}: ${(e as Error).message}`);
    }
  }

  const started = Date.now();
  // Paths are relative to io.cwd (the process's own folder in real use, a temp folder in tests).
  const inputs = io.cwd === process.cwd() ? paths : paths.map((p) => path.resolve(io.cwd, p));
  const found = discover(inputs, { exclude: opts.exclude, followSymlinks: !!opts.followSymlinks });
  for (const p of found.problems) io.stderr.write(`dfopt: ${p.path}: ${p.message}\n`);
  const files = shard ? shardFiles(found.files, shard.index, shard.count) : found.files;

  const format = opts.format;
  const mode: ProcessSettings["mode"] = opts.write ? "write" : opts.check ? "check" : "diff";
  const settings: ProcessSettings = {
    mode,
    only,
    skip,
    contextDir: opts.context ? path.resolve(io.cwd, opts.context) : null,
    configPath: opts.config ? path.resolve(io.cwd, opts.config) : null,
    cliOptions: {
      mergeRuns: opts.mergeRuns,
      runtimeFlavour: opts.runtime,
      registryPrefix: opts.registryPrefix,
      resolve: opts.resolvePin ?? (opts.resolve ? "both" : undefined),
    },
    // Machine formats carry the patch in every mode; the human format prints it only in a dry run.
    computeDiff: format !== "diff" || mode === "diff",
    cwd: io.cwd,
  };
  if (cacheDir) settings.cache = { dir: cacheDir, key: resultCacheKey(settings) };
  settings.resolved = await resolveRegistryImages(files, settings);

  // Per-file refusals for small runs or --explain; a bulk run gets them
  // counted by reason in the summary instead.
  const showRefusals = !opts.quiet && (!!opts.explain || files.length <= MAX_FILES_WITH_REFUSALS);
  const color = opts.color !== false && !!io.stdout.isTTY && !process.env.NO_COLOR;
  const summary = createSummary();
  for (const _ of found.problems) summary.addInputProblem("bad-path");
  const progress = createProgress(io.stderr, files.length, { enabled: format === "diff" && !opts.quiet });
  const markdown = opts.report ? createMarkdownReport(io.cwd, inputs) : null;
  const sarif = format === "sarif" ? createSarifWriter(io.stdout, [...TRANSFORMS], io.cwd) : null;
  const jsonl = format === "jsonl" ? createJsonlWriter(io.stdout) : null;
  let jsonStarted = false;
  if (format === "json") io.stdout.write('{"files":[');

  const onReport = (report: FileReport) => {
    summary.add(report);
    progress.tick(report);
    markdown?.add(report);
    if (format === "json") {
      io.stdout.write((jsonStarted ? "," : "") + JSON.stringify(jsonFileEntry(report)));
      jsonStarted = true;
    } else if (jsonl) {
      jsonl.add(report);
    } else if (sarif) {
      sarif.add(report);
    } else {
      progress.clear();
      printHuman(report, opts, mode, color, showRefusals, io);
    }
  };

  await processAll(files, settings, Math.max(1, Math.min(jobs, files.length)), onReport, {
    threads: jobs > 0,
  });
  progress.done();

  const errors = summary.toJSON().errors;
  if (format === "json") {
    const s = summary.toJSON();
    io.stdout.write(`],"summary":${JSON.stringify({ files: s.files, changed: s.changed, errors })}}\n`);
  }
  jsonl?.end({ errors });
  sarif?.end();
  if (markdown && opts.report) {
    try {
      fs.writeFileSync(path.resolve(io.cwd, opts.report), markdown.render());
    } catch (e) {
      io.stderr.write(`dfopt: cannot write report ${opts.report}: ${(e as Error).message}\n`);
      return EXIT_ERROR;
    }
  }
  if (!opts.quiet) io.stderr.write(summary.render({ seconds: (Date.now() - started) / 1000, mode }) + "\n");

  if (errors > 0) return EXIT_ERROR;
  if (mode === "check" && summary.toJSON().changed > 0) return EXIT_CHANGES;
  return EXIT_OK;
}

function printHuman(
  report: FileReport,
  opts: CliOptions,
  mode: ProcessSettings["mode"],
  color: boolean,
  showRefusals: boolean,
  io: CliIo,
): void {
  if (report.error) {
    const where = report.error.line ? `${report.path}:${report.error.line}` : report.path;
    io.stderr.write(`dfopt: ${where}: error: ${report.error.message}\n`);
    return;
  }
  if (opts.explain) {
    for (const c of report.changes) {
      const rules = c.rules.length ? ` (${c.rules.join(", ")})` : "";
      io.stdout.write(`${report.path}:${c.line}: [${c.transform}]${rules} ${c.message}\n`);
    }
    for (const f of report.sideFiles) io.stdout.write(`${f.path}: [side file] ${f.message}\n`);
  }
  if (showRefusals) {
    for (const r of report.refusals) {
      const where = r.line ? `${report.path}:${r.line}` : report.path;
      io.stderr.write(`${where}: left alone [${r.transform}]: ${r.reason}\n`);
    }
  }
  if (!report.changed) return;
  if (mode === "check") io.stdout.write(`${report.path}\n`);
  else if (mode === "write") {
    for (const w of report.written) io.stdout.write(`wrote ${w}\n`);
  } else if (report.diff) {
    io.stdout.write(color ? colorizeDiff(report.diff) : report.diff);
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
