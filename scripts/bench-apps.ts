/**
 * `npm run bench:apps [-- --only a,b] [--limit N] [--docs]`: the real-app benchmark (not part of CI).
 * For each app of bench/apps.tsv unpacked by scripts/bench-apps/fetch.ts, it swaps base images for the
 * nearest local stand-in (alike for the original and every rewrite, printed), runs the `--verify`
 * ladder with buildah, then builds the original and the kept rewrite once more to measure layers,
 * build time and rebuild time after a one-line source edit. Prints a row per app and a summary line;
 * `--docs` writes the table to docs/real-apps.md. Storage: the e2e one ($DFOPT_E2E_WORK).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadParsers } from "../src/engine/engine.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { folderContext } from "../src/io/context.ts";
import { makeBuilder } from "../src/verify/builder.ts";
import { releaseFolder, trackFolder } from "../src/verify/cleanup.ts";
import { compareBuilds } from "../src/verify/compare.ts";
import { verifyRewrite } from "../src/verify/rewrite.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { ROOT, WORK, loadApps, sourcesOf, unpack, type App } from "./bench-apps/apps.ts";
import { withStandIns } from "./bench-apps/stand-ins.ts";

interface Row {
  app: App;
  standIns: string;
  converted: boolean;
  verified: boolean;
  sameOutput: boolean | null;
  originalBytes: number | null;
  newBytes: number | null;
  /** Bytes of the kept image above its final base image. */
  aboveBase: number | null;
  layers: string;
  build: string;
  rebuild: string;
  note: string;
}

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = new Set((arg("--only") ?? "").split(",").filter(Boolean));
const limit = Number(arg("--limit") ?? Infinity);
const E2E_WORK = path.resolve(process.env.DFOPT_E2E_WORK ?? "/tmp/dfopt-e2e");
process.env.CONTAINERS_STORAGE_CONF ??= path.join(E2E_WORK, "storage.conf");
process.env.CONTAINERS_REGISTRIES_CONF ??= path.join(E2E_WORK, "registries.conf");
process.env.BUILDAH_ISOLATION ??= "chroot";

function localImages(): string[] {
  const out = execFileSync("buildah", ["images", "--format", "{{.Name}}:{{.Tag}}"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l && !l.includes("<none>"));
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
    standIns: "",
    converted: false,
    verified: false,
    sameOutput: null,
    originalBytes: null,
    newBytes: null,
    aboveBase: null,
    layers: "-",
    build: "-",
    rebuild: "-",
    note: "",
  };
  const src = sourcesOf(app);
  const contextDir = path.join(src, app.context);
  const { text, served } = withStandIns(fs.readFileSync(path.join(src, app.dockerfile), "utf8"), local);
  row.standIns = served.map((s) => `${s.wanted} → ${s.standIn ?? "none"}`).join(", ");
  console.log(`[${app.name}] stand-ins: ${row.standIns || "(none needed)"}`);
  const missing = served.filter((s) => s.standIn === null);
  if (missing.length) {
    row.note = `no stand-in for ${missing.map((s) => s.wanted).join(", ")}`;
    return row;
  }
  const log = (l: string) => console.log(`[${app.name}] ${l}`);
  const { verification, kept } = await verifyRewrite({
    builder,
    raw: text,
    contextDir,
    context: folderContext(contextDir),
    transforms: TRANSFORMS,
    options: DEFAULT_OPTIONS,
    timeoutMs: 30_000,
    tagPrefix: `localhost/dfopt-bench/${app.name.toLowerCase()}`,
    log,
  });
  row.verified = verification.verified;
  row.originalBytes = verification.originalBytes;
  row.newBytes = verification.newBytes;
  row.converted = !!kept?.result.changes.some((c) => c.transform === "split-stages");
  row.note = verification.verified ? `kept ${verification.kept}` : (verification.reason ?? "");
  if (!kept) return row;
  const work = path.join(WORK, "compare", app.name);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  trackFolder(work);
  try {
    const c = await compareBuilds({
      builder,
      originalText: text,
      rewrittenText: kept.result.output,
      sideFiles: kept.sideFiles,
      contextDir,
      workDir: work,
      touch: "auto",
      run: { timeoutMs: 30_000 },
      tagPrefix: `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp`,
      keepImages: true,
      log,
    });
    row.sameOutput = c.sameOutput;
    row.layers = `${c.before.image?.layers ?? "-"} → ${c.after.image?.layers ?? "-"}`;
    row.build = `${c.before.build.seconds.toFixed(1)} → ${c.after.build.seconds.toFixed(1)} s`;
    row.rebuild = c.touched
      ? `${c.before.rebuild?.seconds.toFixed(1) ?? "-"} → ${c.after.rebuild?.seconds.toFixed(1) ?? "-"} s`
      : "-";
    const finalBase = [...kept.result.output.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)/gim)].pop()?.[1];
    const base = finalBase && finalBase !== "scratch" ? await builder.inspect(finalBase) : null;
    if (row.newBytes !== null)
      row.aboveBase = row.newBytes - (finalBase === "scratch" ? 0 : (base?.bytes ?? NaN));
    await builder.remove([
      `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp:before`,
      `localhost/dfopt-bench/${app.name.toLowerCase()}-cmp:after`,
    ]);
  } finally {
    releaseFolder(work);
  }
  return row;
}

function render(rows: Row[], summary: string): string {
  const out = [
    "| app | ecosystem | converted | verified | same output | original → new | above base | layers | build | rebuild after edit | stand-ins | note |",
    "|---|---|---|---|---|---|---:|---|---|---|---|---|",
  ];
  const yn = (b: boolean | null) => (b === null ? "-" : b ? "yes" : "no");
  for (const r of rows) {
    out.push(
      `| [${r.app.name}](https://github.com/${r.app.repo}/tree/${r.app.commit}) | ${r.app.ecosystem} | ${yn(r.converted)} | ${yn(r.verified)} | ${yn(r.sameOutput)} | ${mb(r.originalBytes)} → ${mb(r.newBytes)} | ${r.aboveBase === null || Number.isNaN(r.aboveBase) ? "-" : r.aboveBase} | ${r.layers} | ${r.build} | ${r.rebuild} | ${r.standIns.replace(/\|/g, "/")} | ${r.note.replace(/\s+/g, " ").replace(/\|/g, "/").slice(0, 200)} |`,
    );
  }
  return [summary, "", ...out].join("\n") + "\n";
}

async function main() {
  const apps = loadApps().filter((a) => only.size === 0 || only.has(a.name));
  const ready: App[] = [];
  for (const app of apps) {
    const why = unpack(app);
    if (why) console.log(`skip ${app.name}: ${why}`);
    else if (ready.length < limit) ready.push(app);
  }
  if (ready.length === 0) {
    console.log("bench:apps: no app sources to build (see scripts/bench-apps/fetch.ts); nothing measured");
    return;
  }
  await loadParsers();
  const version = execFileSync("buildah", ["--version"], { encoding: "utf8" }).trim();
  const builder = makeBuilder("buildah", version, { pull: "never" });
  const local = localImages();
  const rows: Row[] = [];
  for (const app of ready) rows.push(await benchApp(app, local, builder));
  const reductions = rows
    .filter((r) => r.verified && r.originalBytes && r.newBytes !== null)
    .map((r) => 1 - r.newBytes! / r.originalBytes!);
  const med = median(reductions);
  const summary =
    `${rows.length} apps: converted ${pct(rows.filter((r) => r.converted).length, rows.length)}, ` +
    `converted and verified ${pct(rows.filter((r) => r.converted && r.verified).length, rows.length)}, ` +
    `median size reduction ${med === null ? "-" : `${(med * 100).toFixed(1)}%`}`;
  const table = render(rows, summary);
  console.log(table);
  if (process.argv.includes("--docs")) {
    const doc = path.join(ROOT, "docs/real-apps.md");
    const text = fs.readFileSync(doc, "utf8");
    const marker = "<!-- bench:apps table -->";
    const at = text.indexOf(marker);
    fs.writeFileSync(
      doc,
      `${at >= 0 ? text.slice(0, at) : text}${marker}\n\nMeasured ${new Date().toISOString().slice(0, 16)} UTC with ${version}.\n\n${table}`,
    );
  }
}

await main();
