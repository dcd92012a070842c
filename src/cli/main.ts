import { printable } from "../report/printable.ts";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, loadConfigFile, parseTransformList } from "../config.ts";
import { DEFAULT_CACHE_DIR, resultCacheKey } from "../io/cache.ts";
import { discover, parseShard, shardFiles } from "../io/discover.ts";
import { processAll } from "../io/pool.ts";
import { processText, type FileReport, type ProcessSettings } from "../io/process.ts";
import { linkedFolderUnder, planReport, WriteError, writePlanned } from "../io/write.ts";
import { withLazyModules } from "../engine/lazy.ts";
import type { Transform } from "../engine/types.ts";
import { availableTransforms, loadPlugins, PluginError } from "../plugins.ts";
import { resolveRegistryImages } from "../io/resolve.ts";
import { colorizeDiff, terminalDiff } from "../report/diff.ts";
import { describeVerification } from "../verify/report.ts";
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
  safe?: boolean;
  unsafe?: boolean;
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
  transform: string[];
  allowConfigPlugins?: boolean;
  stdin?: boolean;
  stdinFilepath?: string;
  verify?: boolean;
  builder?: "docker" | "podman" | "buildah";
  buildxBuilder?: string;
  smoke?: string;
  verifyEnv: string[];
}

export interface CliIo {
  /** Read with --stdin. */
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

const HELP_AFTER = `
Paths are Dockerfiles or folders (searched recursively for Dockerfile,
Containerfile, *.Dockerfile, *.dockerfile and Dockerfile.*, honouring
.gitignore, skipping .git, node_modules and vendor). Default: the current folder.

By default dfopt changes nothing: it prints a unified diff of what it would
do. Use --write to apply it, --check in CI. Every change is "safe" (the image
builds and runs the same) or "unsafe" (it may not: another runtime base, a
USER, a flag that fails a broken download). Only safe changes are applied,
and each unsafe one is reported as left out, unless --verify proves it with
real builds or --unsafe (or "safe": false in the config) accepts it unproven.

Exit codes:
  0  success (also when a diff was printed)
  1  --check: some files would change
  2  a file could not be processed or written, or bad usage (other files are
     still processed); or stdout closed early (e.g. | head): no new file is
     started, those under way are finished, the summary goes to stderr

Suppress a change: "# dfopt ignore=<transform-id>" on the line before an
instruction, "# dfopt ignore-file" anywhere; hadolint, BuildKit check=skip,
trivy:ignore and checkov:skip comments are honoured for the repairs they name.

Examples:
  dfopt                              diff for every Dockerfile under .
  dfopt --write services/api/Dockerfile
  dfopt --check --only pin-tags .    fail CI when an image is unpinned
  dfopt --write --unsafe Dockerfile  also apply unproven unsafe changes (review the diff)
  dfopt --format sarif repos/ > dfopt.sarif
  dfopt --shard 1/4 --report migration.md repos/
  dfopt --cache repos/               review again: unchanged files come from the cache
  dfopt --write --verify services/api    keep only rewrites a real build proves
  dfopt verify Dockerfile --smoke "node -e 'console.log(1)'"
  dfopt --write --verify --verify-env UPSTREAM_URL=http://127.0.0.1:9 .   an app that needs a setting to start
  dfopt --transform ./no-latest.mjs --only no-latest .
  dfopt --stdin --stdin-filepath api/Dockerfile < api/Dockerfile
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
    .option("--unsafe", "also apply unsafe changes without proof (split-stages, USER, ...); see --verify")
    .option("--safe", 'apply only safe changes (the default; overrides "safe": false in the config)')
    .addOption(
      new Option("-f, --format <format>", "output format")
        .choices(["diff", "json", "jsonl", "sarif"])
        .default("diff"),
    )
    .option("--only <ids>", "run only these transforms (comma separated)")
    .option("--skip <ids>", "do not run these transforms (comma separated)")
    .option(
      "--list-transforms",
      "list the transforms (id, applicability, default, peer rule IDs, description) and exit",
    )
    .option("--explain", "print each change with its applicability, rule IDs and why, and every refusal")
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
    .option(
      "--transform <file>",
      "also run the custom transform (plugin) in this JavaScript file (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .option(
      "--allow-config-plugins",
      "load the plugins a config file found beside the Dockerfiles lists (code from the scanned repository)",
    )
    .option("--stdin", "read one Dockerfile from stdin and print the rewritten text to stdout (for editors)")
    .option(
      "--stdin-filepath <path>",
      "with --stdin: where the Dockerfile lives, for its config and build context (default: ./Dockerfile)",
    )
    .option(
      "--verify",
      "build the original and candidate rewrites, run them, and keep the smallest that behaves the same",
    )
    .addOption(builderOption())
    .option("--buildx-builder <name>", "docker: the buildx builder to build with (e.g. a remote BuildKit)")
    .option("--smoke <cmd>", "--verify: command to run in every image instead of its own command")
    .option(
      "--verify-env <KEY=VALUE>",
      "--verify: a setting every run of an image gets, like `docker run -e` (repeatable)",
      collectEnv,
      [],
    )
    .addHelpText("after", HELP_AFTER)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    // the verify subcommand's own --context and --format must not be taken by the main command
    .enablePositionalOptions()
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
    .option(
      "-e, --env <KEY=VALUE>",
      "a setting both runs get, like `docker run -e` (repeatable)",
      collectEnv,
      [],
    )
    .addOption(builderOption())
    .option("--buildx-builder <name>", "docker: the buildx builder to build with")
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action(async (dockerfile: string, opts: Omit<VerifyCliOptions, "dockerfile">) => {
      const { runVerify } = await import("../verify/index.ts");
      const code = await runVerify({
        ...opts,
        dockerfile: path.resolve(io.cwd, dockerfile),
        shown: dockerfile,
        context: opts.context && path.resolve(io.cwd, opts.context),
        stdout: io.stdout,
        stderr: io.stderr,
      });
      program.setOptionValue("__exit", code);
    });
  return program;
}

interface VerifyCliOptions {
  dockerfile: string;
  context?: string;
  smoke?: string;
  env: string[];
  format: "table" | "json";
  builder?: "docker" | "podman" | "buildah";
  buildxBuilder?: string;
}

/** A repeated `KEY=VALUE` run setting; anything else is a usage error. */
function collectEnv(value: string, previous: string[]): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(value))
    throw new InvalidArgumentError(`expected KEY=VALUE (a variable name, "=", its value), got "${value}"`);
  return [...previous, value];
}

function builderOption(): Option {
  return new Option("--builder <name>", "builder for verification (default: the first found)").choices([
    "docker",
    "podman",
    "buildah",
  ]);
}

/** What became of stdout: `lost` is the error code once a write failed (EPIPE: the reader is gone). */
interface OutputState {
  lost: string | null;
  /** runFiles said where it stopped. */
  told: boolean;
}

const lostOutput = (code: string) =>
  code === "EPIPE" ? "stdout closed early (EPIPE)" : `cannot write to stdout (${code})`;

function watchOutput(io: CliIo): OutputState {
  const state: OutputState = { lost: null, told: false };
  io.stdout.on("error", (e: NodeJS.ErrnoException) => {
    state.lost ??= e.code ?? e.message;
  });
  io.stderr.on("error", () => {
    // Nowhere left to report it; the exit code still tells.
  });
  return state;
}

/** Resolves once what was written to `stream` so far has been handed on (or failed). */
function settled(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => setImmediate(resolve)));
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const output = watchOutput(io);
  const program = buildProgram(io, (paths, opts) => runFiles(paths, opts, io, output));
  let code: number;
  try {
    await program.parseAsync(argv, { from: "user" });
    code = (program.getOptionValue("__exit") as number | undefined) ?? EXIT_OK;
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const ok = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0;
    code = ok ? EXIT_OK : EXIT_ERROR;
  }
  await settled(io.stdout);
  if (output.lost && !output.told) {
    io.stderr.write(`dfopt: ${lostOutput(output.lost)}; output was lost\n`);
    return EXIT_ERROR;
  }
  return code;
}

function listTransforms(io: CliIo, format: Format, transforms: readonly Transform[]): number {
  if (format === "json") {
    const list = transforms.map((t) => ({
      id: t.id,
      applicability: t.applicability,
      applicabilityNote: t.applicabilityNote ?? null,
      enabledByDefault: !t.defaultOff,
      rules: t.rules ?? [],
      description: t.description,
    }));
    io.stdout.write(JSON.stringify({ transforms: list }, null, 2) + "\n");
    return EXIT_OK;
  }
  const idWidth = Math.max(...transforms.map((t) => t.id.length), 2);
  io.stdout.write(`${"ID".padEnd(idWidth)}  APPLICABILITY  DEFAULT  RULES / DESCRIPTION\n`);
  for (const t of transforms) {
    const rules = t.rules?.length ? `[${t.rules.join(", ")}] ` : "";
    io.stdout.write(
      `${t.id.padEnd(idWidth)}  ${t.applicability.padEnd(13)}  ${(t.defaultOff ? "off" : "on").padEnd(7)}  ${rules}${t.description}\n`,
    );
  }
  return EXIT_OK;
}

async function runFiles(paths: string[], opts: CliOptions, io: CliIo, output: OutputState): Promise<number> {
  const fail = (message: string) => {
    io.stderr.write(`dfopt: ${message}\n`);
    return EXIT_ERROR;
  };
  const pluginFiles = opts.transform.map((f) => path.resolve(io.cwd, f));
  let known: readonly Transform[] = TRANSFORMS;
  try {
    if (pluginFiles.length > 0) known = [...TRANSFORMS, ...loadPlugins(pluginFiles)];
  } catch (e) {
    if (e instanceof PluginError) return fail(`--transform: ${e.message}`);
    throw e;
  }
  // The plugins of a config named with --config count as known ids (for --only, the list, SARIF).
  try {
    const named = opts.config ? loadConfigFile(path.resolve(io.cwd, opts.config)) : null;
    if (named?.config.plugins) known = availableTransforms({ plugins: pluginFiles }, named, true);
  } catch (e) {
    if (!(e instanceof PluginError || e instanceof ConfigError)) throw e;
    // reported with each file, as without --only
  }
  if (opts.listTransforms) return listTransforms(io, opts.format, known);
  if (opts.write && opts.check) return fail("--write and --check cannot be used together");
  if (opts.stdinFilepath && !opts.stdin) return fail("--stdin-filepath needs --stdin");
  if (opts.stdin && (opts.write || paths.length > 1 || paths[0] !== "."))
    return fail("--stdin reads one Dockerfile from stdin: give no paths and no --write");
  let only: string[] | null = null;
  let skip: string[] = [];
  let shard: { index: number; count: number } | null = null;
  let jobs = os.availableParallelism();
  try {
    if (opts.only) only = parseTransformList(opts.only, "--only", known);
    if (opts.skip) skip = parseTransformList(opts.skip, "--skip", known);
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
  const started = Date.now();
  // Paths are relative to io.cwd (the process's own folder in real use, a temp folder in tests).
  const inputs = io.cwd === process.cwd() ? paths : paths.map((p) => path.resolve(io.cwd, p));
  // The report's target is checked before any file is touched, and again when it is written.
  const reportFile = opts.report ? path.resolve(io.cwd, opts.report) : null;
  const scannedFolders = inputs.map((p) => nearestFolder(path.resolve(io.cwd, p)));
  const checkReport = () => planReport(reportFile!, io.cwd, scannedFolders);
  if (reportFile) {
    try {
      checkReport();
    } catch (e) {
      if (e instanceof WriteError) return fail(`--report: ${e.message}`);
      throw e;
    }
  }
  const cacheDir =
    opts.cache || opts.cacheLocation ? path.resolve(io.cwd, opts.cacheLocation ?? DEFAULT_CACHE_DIR) : null;
  if (cacheDir) {
    // The default folder is under the current one, which may be a scanned repository.
    const linked = linkedFolderUnder(cacheDir, scannedFolders);
    if (linked)
      return fail(
        `--cache: ${path.relative(io.cwd, linked) || "."} is a symbolic link inside a scanned folder; dfopt does not write through it (choose another --cache-location)`,
      );
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.accessSync(cacheDir, fs.constants.W_OK);
    } catch (e) {
      return fail(`--cache: cannot use ${cacheDir}: ${(e as Error).message}`);
    }
  }

  if (opts.safe && opts.unsafe) return fail("--safe and --unsafe cannot be used together");
  if ((opts.builder || opts.buildxBuilder || opts.smoke || opts.verifyEnv.length) && !opts.verify)
    return fail("--builder, --buildx-builder, --smoke and --verify-env need --verify");
  if (opts.buildxBuilder && opts.builder && opts.builder !== "docker")
    return fail("--buildx-builder works with --builder docker only");

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
    plugins: pluginFiles,
    allowConfigPlugins: !!opts.allowConfigPlugins,
    safe: opts.unsafe ? false : opts.safe ? true : undefined,
  };
  if (opts.stdin) return runStdin(settings, opts, io);

  const found = discover(inputs, { exclude: opts.exclude, followSymlinks: !!opts.followSymlinks });
  for (const p of found.problems) io.stderr.write(`dfopt: ${printable(`${p.path}: ${p.message}`)}\n`);
  const files = shard ? shardFiles(found.files, shard.index, shard.count) : found.files;
  // Before sharding: the other shards' Dockerfiles build from the same context.
  settings.contextShared = !!opts.context && found.files.length > 1;
  if (cacheDir) settings.cache = { dir: cacheDir, key: resultCacheKey(settings) };
  settings.resolved = await resolveRegistryImages(files, settings);
  // --verify: the workers only plan (nothing written, nothing cached); real builds decide what is kept
  const verifier = opts.verify ? await rewriteVerifier(settings, opts, io) : undefined;
  if (verifier === null) return EXIT_ERROR;

  // Per-file refusals for small runs or --explain; a bulk run gets them
  // counted by reason in the summary instead.
  const showRefusals = !opts.quiet && (!!opts.explain || files.length <= MAX_FILES_WITH_REFUSALS);
  const color = opts.color !== false && !!io.stdout.isTTY && !process.env.NO_COLOR;
  const summary = createSummary();
  for (const _ of found.problems) summary.addInputProblem("bad-path");
  const progress = createProgress(io.stderr, files.length, { enabled: format === "diff" && !opts.quiet });
  const markdown = opts.report ? createMarkdownReport(io.cwd, inputs) : null;
  const sarif = format === "sarif" ? createSarifWriter(io.stdout, [...known], io.cwd) : null;
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

  let verified = Promise.resolve();
  const emit = verifier
    ? (report: FileReport) => {
        verified = verified.then(async () => onReport(await verifier.verify(report)));
      }
    : onReport;
  // Once stdout is gone no new file is started: the run could not report it.
  await processAll(
    files,
    verifier ? { ...settings, mode: "diff", cache: null } : settings,
    Math.max(1, Math.min(jobs, files.length)),
    emit,
    { threads: jobs > 0, shouldStop: () => output.lost !== null },
  );
  await verified;
  progress.done();
  if (verifier && !opts.quiet) io.stderr.write(verifier.summary() + "\n");

  const errors = summary.toJSON().errors;
  if (format === "json") {
    const s = summary.toJSON();
    io.stdout.write(`],"summary":${JSON.stringify({ files: s.files, changed: s.changed, errors })}}\n`);
  }
  jsonl?.end({ errors });
  sarif?.end();
  await settled(io.stdout);
  let reportFailed = false;
  if (markdown && reportFile) {
    try {
      writePlanned(checkReport(), markdown.render());
    } catch (e) {
      if (!(e instanceof WriteError)) throw e;
      io.stderr.write(`dfopt: --report: ${e.message}\n`);
      reportFailed = true;
    }
  }
  if (!opts.quiet) io.stderr.write(summary.render({ seconds: (Date.now() - started) / 1000, mode }) + "\n");
  if (output.lost) {
    const done = summary.toJSON().files;
    const where =
      done < files.length
        ? `stopped after ${done} of ${files.length} files`
        : `all ${files.length} files processed`;
    io.stderr.write(`dfopt: ${lostOutput(output.lost)}; ${where}; output was lost\n`);
    output.told = true;
    return EXIT_ERROR;
  }

  if (errors > 0 || reportFailed) return EXIT_ERROR;
  if (mode === "check" && summary.toJSON().changed > 0) return EXIT_CHANGES;
  return EXIT_OK;
}

/**
 * --stdin (prettier's convention, for editors): the Dockerfile comes from
 * stdin and its rewrite goes to stdout, nothing else; --stdin-filepath says
 * where it lives, for its config and build context. Side files (a new
 * .dockerignore) are only named on stderr: --write on the file creates them.
 */
async function runStdin(settings: ProcessSettings, opts: CliOptions, io: CliIo): Promise<number> {
  if (opts.format !== "diff") {
    io.stderr.write("dfopt: --stdin prints the rewritten Dockerfile; it takes no --format\n");
    return EXIT_ERROR;
  }
  const file = path.resolve(io.cwd, opts.stdinFilepath ?? "Dockerfile");
  const text = await readAll(io.stdin ?? process.stdin);
  const report = await withLazyModules(() =>
    processText(file, text, { ...settings, mode: "diff", computeDiff: false, keepOutput: true }),
  );
  // Errors and refusals as a dry run prints them, on stderr; no diff (none was computed).
  printHuman(report, { ...opts, explain: false }, "diff", false, !opts.quiet, io);
  if (report.error) return EXIT_ERROR;
  if (!opts.quiet)
    for (const f of report.sideFiles) io.stderr.write(`${f.path}: not written with --stdin: ${f.message}\n`);
  io.stdout.write(report.output ?? text);
  return opts.check && report.changed ? EXIT_CHANGES : EXIT_OK;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function printHuman(
  report: FileReport,
  opts: CliOptions,
  mode: ProcessSettings["mode"],
  color: boolean,
  showRefusals: boolean,
  io: CliIo,
): void {
  const wrote = () => {
    for (const w of report.written) io.stdout.write(`wrote ${printable(w)}\n`);
  };
  if (report.error) {
    wrote(); // a write that failed midway: what was written is said
    const where = report.error.line ? `${report.path}:${report.error.line}` : report.path;
    io.stderr.write(`dfopt: ${printable(`${where}: error: ${report.error.message}`)}\n`);
    return;
  }
  if (opts.explain) {
    for (const c of report.changes) {
      const rules = c.rules.length ? ` (${c.rules.join(", ")})` : "";
      io.stdout.write(
        printable(`${report.path}:${c.line}: [${c.transform}, ${c.applicability}]${rules} ${c.message}`) +
          "\n",
      );
    }
    for (const f of report.sideFiles)
      io.stdout.write(printable(`${f.path}: [side file, ${f.applicability}] ${f.message}`) + "\n");
  }
  if (showRefusals) {
    for (const r of report.refusals) {
      const where = r.line ? `${report.path}:${r.line}` : report.path;
      io.stderr.write(printable(`${where}: left alone [${r.transform}]: ${r.reason}`) + "\n");
    }
  }
  if (report.verify && !opts.quiet)
    // one line per candidate tried: each made printable, the line breaks between them kept
    for (const line of `${report.path}: ${describeVerification(report.verify)}`.split("\n"))
      io.stderr.write(printable(line) + "\n");
  if (!report.changed) return;
  if (mode === "check") io.stdout.write(`${printable(report.path)}\n`);
  else if (mode === "write") wrote();
  else if (report.diff) {
    const shown = io.stdout.isTTY ? terminalDiff(report.diff) : report.diff;
    io.stdout.write(color ? colorizeDiff(shown) : shown);
  }
}

/** `p` if it is a folder, else the nearest folder above it (a file or glob input's folder). */
function nearestFolder(p: string): string {
  while (!isDirectory(p) && path.dirname(p) !== p) p = path.dirname(p);
  return p;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** --verify: the builder found, or null after telling why none was (exit 2). */
async function rewriteVerifier(settings: ProcessSettings, opts: CliOptions, io: CliIo) {
  const { createRewriteVerifier, noBuilderMessage } = await import("../verify/files.ts");
  const verifier = await createRewriteVerifier(settings, {
    builder: opts.builder,
    buildxBuilder: opts.buildxBuilder,
    smoke: opts.smoke,
    runEnv: opts.verifyEnv,
    log: opts.quiet ? undefined : (line) => io.stderr.write(`dfopt: ${line}\n`),
  });
  if (!verifier)
    io.stderr.write(`dfopt: --verify: ${noBuilderMessage(opts.builder ?? process.env.DFOPT_BUILDER)}\n`);
  return verifier;
}
