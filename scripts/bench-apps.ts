/**
 * `npm run bench:apps [-- --only a,b] [--limit N] [--docs]`: the real-app benchmark (not part of CI).
 * For each app of bench/apps.tsv unpacked by scripts/bench-apps/fetch.ts, it swaps base images for the
 * nearest local stand-in (alike for the original and every rewrite, printed), runs the `--verify`
 * ladder with buildah, then builds the original and the kept rewrite once more to measure layers,
 * build time and rebuild time after a one-line source edit, and the bytes of the original and the kept
 * image above the base image of their final stage. Prints a row per app and a summary line;
 * `--docs` writes the table to docs/real-apps.md. Storage: the e2e one ($DFOPT_E2E_WORK).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { folderContext } from "../src/io/context.ts";
import { makeBuilder } from "../src/verify/builder.ts";
import { releasePath, trackPath } from "../src/verify/cleanup.ts";
import { compareBuilds, outputDifference } from "../src/verify/compare.ts";
import { reasonLine, withoutTerminalEscapes } from "../src/verify/report.ts";
import { differingOutputs, runRequestFor, verifyRewrite } from "../src/verify/rewrite.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import {
  ROOT,
  WORK,
  absentFiles,
  loadApps,
  runEnvOf,
  sourcesOf,
  unpack,
  type App,
} from "./bench-apps/apps.ts";
import { failureSummary, standInGap, unreachableHosts } from "./bench-apps/network.ts";
import { finalBaseImage, withStandIns } from "./bench-apps/stand-ins.ts";

interface Row {
  app: App;
  /** When it was measured (ISO time). */
  measured: string;
  standIns: string;
  /** The original builds with the stand-ins and this machine's network. */
  originalBuilds: boolean;
  converted: boolean;
  verified: boolean;
  sameOutput: boolean | null;
  originalBytes: number | null;
  newBytes: number | null;
  /** Bytes of the kept image above the base image of its final stage. */
  aboveBase: number | null;
  /** The same for the original image. */
  originalAboveBase?: number | null;
  layers: string;
  build: string;
  rebuild: string;
  note: string;
  /** The verification's own words when nothing was verified (build log tail, output difference). */
  detail: string;
}

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = new Set((arg("--only") ?? "").split(",").filter(Boolean));
const limit = Number(arg("--limit") ?? Infinity);
const buildTimeoutMs = Number(arg("--build-timeout") ?? 20) * 60_000;
/** Measure again apps that already have a result (by default they are kept and skipped). */
const again = process.argv.includes("--again");
const RESULTS = path.join(WORK, "results");
const E2E_WORK = path.resolve(process.env.DFOPT_E2E_WORK ?? "/tmp/dfopt-e2e");
process.env.CONTAINERS_REGISTRIES_CONF ??= path.join(E2E_WORK, "registries.conf");
process.env.BUILDAH_ISOLATION ??= "chroot";
process.env.CONTAINERS_STORAGE_CONF ??= benchStorage();
refuseSharedStorage(process.env.CONTAINERS_STORAGE_CONF);

/**
 * A storage of the benchmark's own, which sees the e2e storage's stand-in images read-only: every
 * image in it is the benchmark's, so its layer cache can be dropped after each app without touching
 * the stand-ins or other users of the e2e storage.
 */
function benchStorage(): string {
  const e2eGraph = e2eGraphRoot();
  const conf = path.join(WORK, "storage.conf");
  fs.mkdirSync(WORK, { recursive: true });
  fs.writeFileSync(
    conf,
    [
      "[storage]",
      'driver = "overlay"',
      `graphroot = "${path.join(WORK, "storage/graph")}"`,
      `runroot = "${path.join(WORK, "storage/run")}"`,
      "",
      "[storage.options]",
      `additionalimagestores = ["${e2eGraph}"]`,
      "",
    ].join("\n"),
  );
  return conf;
}

/**
 * The storage itself failed, not the app: a layer of the shared stand-in store went missing under a
 * build or a listing (another process changing that store). Such a result is not kept.
 */
const STORAGE_ERROR = /layer not known|may be corrupted \(remove the image/;

/** Another program held the port the app's server answers on: the run says nothing of the app. */
const PORT_TAKEN = /something already listens on 127\.0\.0\.1:\d+/;

/** Where the e2e storage keeps its images (the stand-ins). */
function e2eGraphRoot(): string {
  return graphRootOf(path.join(E2E_WORK, "storage.conf")) ?? path.join(E2E_WORK, "storage/graph");
}

function graphRootOf(conf: string): string | null {
  const text = fs.existsSync(conf) ? fs.readFileSync(conf, "utf8") : "";
  const root = /^\s*graphroot\s*=\s*"([^"]+)"/m.exec(text)?.[1];
  return root ? path.resolve(root) : null;
}

/**
 * The benchmark drops every writable image of its storage after each app: on the e2e storage (e.g.
 * after `eval "$(scripts/e2e/base-images.sh env)"`) that would be the stand-ins themselves.
 */
function refuseSharedStorage(conf: string): void {
  if (graphRootOf(conf) !== path.resolve(e2eGraphRoot())) return;
  console.error(
    `bench:apps: CONTAINERS_STORAGE_CONF (${conf}) is the e2e storage, whose stand-in images the ` +
      "benchmark would drop after each app; unset it (the benchmark makes a storage of its own)",
  );
  process.exit(2);
}

function localImages(): string[] {
  const r = spawnSync("buildah", ["images", "--format", "{{.Name}}:{{.Tag}}"], { encoding: "utf8" });
  // a listing that skipped images it could not read would report their stand-ins as missing
  if (r.status !== 0 || STORAGE_ERROR.test(r.stderr))
    throw new Error(
      `buildah images failed, the storage is not readable now: ${r.stderr.trim()}\n` +
        "An image named there that lives in the benchmark's own storage (not the e2e stand-ins) was left " +
        "half-written by an interrupted run: remove it with " +
        `\`CONTAINERS_STORAGE_CONF=${process.env.CONTAINERS_STORAGE_CONF ?? "<the benchmark's storage.conf>"} buildah rmi -f <id>\`. ` +
        "Otherwise another program is writing the e2e storage: try again when it is done.",
    );
  return r.stdout.split("\n").filter((l) => l && !l.includes("<none>"));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? null
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (n: number, d: number) => (d === 0 ? "-" : `${((100 * n) / d).toFixed(0)}%`);
const mb = (n: number | null) => (n === null ? "-" : `${(n / 1e6).toFixed(1)} MB`);

async function benchApp(app: App, local: string[], builder: ReturnType<typeof makeBuilder>): Promise<Row> {
  const row: Row = {
    app,
    measured: new Date().toISOString(),
    standIns: "",
    originalBuilds: false,
    converted: false,
    verified: false,
    sameOutput: null,
    originalBytes: null,
    newBytes: null,
    aboveBase: null,
    originalAboveBase: null,
    layers: "-",
    build: "-",
    rebuild: "-",
    note: "",
    detail: "",
  };
  const log = (l: string) => console.log(`[${app.name}] ${l}`);
  const src = sourcesOf(app);
  const contextDir = path.join(src, app.context);
  const { text, served } = withStandIns(fs.readFileSync(path.join(src, app.dockerfile), "utf8"), local);
  row.standIns = served.map((s) => `${s.wanted} → ${s.standIn ?? "none"}`).join(", ");
  console.log(`[${app.name}] stand-ins: ${row.standIns || "(none needed)"}`);
  if (runEnvOf(app).length) log(`run settings (--verify-env): ${runEnvOf(app).join(" ")}`);
  const missing = served.filter((s) => s.standIn === null);
  if (missing.length) {
    row.note = `no stand-in for ${missing.map((s) => s.wanted).join(", ")}`;
    return row;
  }
  const absent = absentFiles(app);
  if (absent.length) log(`left out (not in the mirror): ${absent.join(", ")}`);
  const { verification, kept } = await verifyRewrite({
    builder,
    raw: text,
    contextDir,
    context: folderContext(contextDir),
    transforms: TRANSFORMS,
    options: DEFAULT_OPTIONS,
    runEnv: runEnvOf(app),
    timeoutMs: 30_000,
    tagPrefix: `localhost/dfopt-bench/${app.name.toLowerCase()}`,
    log,
  });
  row.originalBuilds = verification.originalBuilds;
  row.verified = verification.verified;
  row.originalBytes = verification.originalBytes;
  row.newBytes = verification.newBytes;
  row.converted = !!kept?.result.changes.some((c) => c.transform === "split-stages");
  // the rungs tried before the one kept, and why each failed: why the split went no further
  const before = verification.candidates
    .filter((c) => c.outcome === "failed")
    .map((c) => `${c.rung}: ${c.step} failed (${reasonLine(c)})`);
  // a file kept without a split: say why split-stages refused it (the rewrite --unsafe would make)
  const noSplit =
    kept && !row.converted
      ? optimizeFile(text, folderContext(contextDir), {
          transforms: TRANSFORMS,
          options: DEFAULT_OPTIONS,
        }).refusals.find((r) => r.transform === "split-stages")
      : undefined;
  const split = noSplit ? ` (split refused: ${noSplit.reason})` : "";
  row.note = verification.verified
    ? `kept ${verification.kept}${split}${before.length ? ` after ${before.join("; ")}` : ""}`
    : (verification.reason ?? "");
  row.detail = verification.reason ?? "";
  row.note = whyNotBuilt(row) ?? row.note;
  row.originalAboveBase = await aboveBase(builder, text, row.originalBytes);
  if (kept) row.aboveBase = await aboveBase(builder, kept.result.output, row.newBytes);
  log(
    `bytes above the final base image: original ${bytesOrDash(row.originalAboveBase)}, kept ${bytesOrDash(row.aboveBase)}`,
  );
  if (!kept) return row;
  const work = path.join(WORK, "compare", app.name);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  trackPath(work);
  try {
    const c = await compareBuilds({
      builder,
      originalText: text,
      rewrittenText: kept.result.output,
      sideFiles: kept.sideFiles,
      contextDir,
      workDir: work,
      touch: "auto",
      // as the ladder runs them: a server is asked over HTTP, not compared by what it printed until killed
      run: runRequestFor(text, undefined, 30_000, runEnvOf(app)),
      tagPrefix: `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp`,
      keepImages: true,
      log,
    });
    row.sameOutput = c.sameOutput;
    if (c.sameOutput === false && c.before.run && c.after.run) {
      // the ladder compared builds sharing a layer cache; these two were built apart, from scratch
      const [was, is] = differingOutputs(c.before.run, c.after.run);
      row.note += `; built from scratch, ${outputDifference(c.before.run, c.after.run)} differs: original ${was}, rewrite ${is}`;
    }
    row.layers = `${c.before.image?.layers ?? "-"} → ${c.after.image?.layers ?? "-"}`;
    row.build = `${c.before.build.seconds.toFixed(1)} → ${c.after.build.seconds.toFixed(1)} s`;
    row.rebuild = c.touched
      ? `${c.before.rebuild?.seconds.toFixed(1) ?? "-"} → ${c.after.rebuild?.seconds.toFixed(1) ?? "-"} s`
      : "-";
    await builder.remove([
      `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp:before`,
      `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp:after`,
    ]);
  } finally {
    releasePath(work);
  }
  return row;
}

/** Bytes of an image above the base image of its Dockerfile's final stage (null when either is unknown). */
async function aboveBase(
  builder: ReturnType<typeof makeBuilder>,
  dockerfile: string,
  bytes: number | null,
): Promise<number | null> {
  const base = finalBaseImage(dockerfile);
  if (bytes === null || base === null) return null;
  if (base === "scratch") return bytes;
  const baseBytes = (await builder.inspect(base))?.bytes;
  return typeof baseBytes === "number" ? bytes - baseBytes : null;
}

/**
 * Why the original did not build, from the kept build log: the network, a stand-in that differs
 * from the image asked for, or the app itself (the failing step and its error). Null when it built.
 */
function whyNotBuilt(row: Row): string | null {
  const log = row.detail || row.note;
  if (row.originalBuilds || !log.startsWith("the original does not build")) return null;
  const served = row.standIns
    .split(", ")
    .map((pair) => pair.split(" → "))
    .map(([wanted, standIn]) => ({ wanted, standIn: standIn === "none" ? null : standIn }));
  const hosts = unreachableHosts(log);
  if (hosts) return `original does not build here (network: ${hosts.join(", ")})`;
  const gap = standInGap(log, served);
  if (gap) return `original does not build here: ${gap}`;
  return `the original does not build: ${failureSummary(log) ?? log}`;
}

function render(rows: Row[], summary: string): string {
  const out = [
    "| app | ecosystem | converted | verified | same output | original → new | above base (original → new) | layers | build | rebuild after edit | stand-ins | note |",
    "|---|---|---|---|---|---|---:|---|---|---|---|---|",
  ];
  const yn = (b: boolean | null) => (b === null ? "-" : b ? "yes" : "no");
  for (const r of rows) {
    out.push(
      `| [${r.app.name}](https://github.com/${r.app.repo}/tree/${r.app.commit}) | ${r.app.ecosystem} | ${yn(r.converted)} | ${yn(r.verified)} | ${yn(r.sameOutput)} | ${mb(r.originalBytes)} → ${mb(r.newBytes)} | ${aboveBaseCell(r)} | ${r.layers} | ${r.build} | ${r.rebuild} | ${r.standIns.replace(/\|/g, "/")} | ${withoutTerminalEscapes(r.note).replace(/\s+/g, " ").replace(/\|/g, "/").slice(0, 200)} |`,
    );
  }
  return [summary, "", ...out].join("\n") + "\n";
}

const bytesOrDash = (n: number | null | undefined) =>
  n === null || n === undefined || Number.isNaN(n) ? "-" : String(n);
const aboveBaseCell = (r: Row) => `${bytesOrDash(r.originalAboveBase)} → ${bytesOrDash(r.aboveBase)}`;

const resultFile = (app: App) => path.join(RESULTS, `${app.name}.json`);

/** The stored result of an app, when it was measured at the commit bench/apps.tsv pins now. */
function storedRow(app: App): Row | null {
  const file = resultFile(app);
  if (!fs.existsSync(file)) return null;
  const row = JSON.parse(fs.readFileSync(file, "utf8")) as Row;
  if (row.app.commit !== app.commit || row.app.dockerfile !== app.dockerfile) return null;
  // the reading of a stored build log may have improved since it was measured
  return { ...row, app, note: whyNotBuilt(row) ?? row.note };
}

/** Drops the benchmark storage's images (its own storage: the stand-ins are only seen, read-only). */
function clearBenchImages() {
  const ids = execFileSync("buildah", ["images", "-q", "--all", "--no-trunc"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
  const own = new Set(
    execFileSync("buildah", ["images", "-q", "--all", "--no-trunc", "--filter", "readonly=false"], {
      encoding: "utf8",
    })
      .split("\n")
      .filter(Boolean),
  );
  const mine = ids.filter((id) => own.has(id));
  if (mine.length) execFileSync("buildah", ["rmi", "-f", ...mine], { stdio: "ignore" });
}

function summaryLine(rows: Row[]): string {
  const reductions = rows
    .filter((r) => r.verified && r.originalBytes && r.newBytes !== null)
    .map((r) => 1 - r.newBytes! / r.originalBytes!);
  const med = median(reductions);
  const builds = rows.filter((r) => r.originalBuilds);
  const count = (rs: Row[], f: (r: Row) => boolean) => rs.filter(f).length;
  const ok = (r: Row) => r.converted && r.verified;
  return (
    `${rows.length} apps measured: converted ${pct(
      count(rows, (r) => r.converted),
      rows.length,
    )}, ` +
    `converted and verified ${pct(count(rows, ok), rows.length)}; ` +
    `of the ${builds.length} whose original builds here: converted and verified ${pct(count(builds, ok), builds.length)}; ` +
    `median size reduction of the verified ${med === null ? "-" : `${(med * 100).toFixed(1)}%`} ` +
    `(${reductions.length} apps)`
  );
}

async function main() {
  const all = loadApps();
  const apps = all.filter((a) => only.size === 0 || only.has(a.name));
  const ready: App[] = [];
  for (const app of apps) {
    if (!again && storedRow(app)) continue;
    const why = unpack(app);
    if (why) console.log(`skip ${app.name}: ${why}`);
    else if (ready.length < limit) ready.push(app);
  }
  await loadParsers();
  const version = execFileSync("buildah", ["--version"], { encoding: "utf8" }).trim();
  const builder = makeBuilder("buildah", version, { pull: "never", buildTimeoutMs });
  const local = localImages();
  fs.mkdirSync(RESULTS, { recursive: true });
  for (const app of ready) {
    // another run (on another storage) may have measured it meanwhile
    if (!again && storedRow(app)) continue;
    const row = await benchApp(app, local, builder);
    const machine = `${row.note}\n${row.detail}`;
    if (STORAGE_ERROR.test(machine) || PORT_TAKEN.test(machine)) {
      console.log(
        `[${app.name}] not kept, measure it again: this machine, not the app (${row.note.slice(0, 200)})`,
      );
    } else {
      fs.writeFileSync(resultFile(app), JSON.stringify(row, null, 2));
      console.log(`[${app.name}] ${row.verified ? "verified" : "not verified"}: ${row.note}`);
    }
    try {
      clearBenchImages();
    } catch (e) {
      console.log(`could not drop the benchmark's images: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  const rows = all.map(storedRow).filter((r): r is Row => r !== null);
  const unmeasured = all.filter((a) => !storedRow(a)).map((a) => a.name);
  const table = render(rows, summaryLine(rows));
  console.log(table);
  if (unmeasured.length) console.log(`not measured yet: ${unmeasured.join(", ")}`);
  if (process.argv.includes("--docs")) {
    const doc = path.join(ROOT, "docs/real-apps.md");
    const text = fs.readFileSync(doc, "utf8");
    const marker = "<!-- bench:apps table -->";
    const at = text.indexOf(marker);
    const when = rows.map((r) => r.measured.slice(0, 16)).sort();
    const notYet = unmeasured.length ? `\nNot measured: ${unmeasured.join(", ")}.\n` : "";
    fs.writeFileSync(
      doc,
      `${at >= 0 ? text.slice(0, at) : text}${marker}\n\nMeasured between ${when[0]} and ${when[when.length - 1]} UTC with ${version}, one app at a time.\n${notYet}\n${table}`,
    );
  }
}

await main();
