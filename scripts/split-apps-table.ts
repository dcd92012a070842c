/**
 * Runs split-stages over the real apps in /work/shared/corpus/apps (or
 * $DFOPT_APPS) and prints a markdown table: app, ecosystem, converted or
 * refused, reason. Also exports the analysis the apps test uses.
 * `--bench` runs it over the real-app benchmark's apps instead (bench/apps.tsv, full sources
 * unpacked by scripts/bench-apps/fetch.ts under $DFOPT_BENCH_WORK/src); apps not unpacked are skipped.
 *
 *   npx tsx scripts/split-apps-table.ts [--short] [--bench]
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile, type DockerfileModel, envPairs } from "../src/engine/parse.ts";
import type { BuildContext } from "../src/engine/types.ts";
import { folderContext } from "../src/io/context.ts";
import { absolutePath, isInside, resolvePath } from "../src/engine/paths.ts";
import { copyInfo, expandKnown, workdirs } from "../transforms/split-stages/toolkit/instructions.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import { loadApps, sourcesOf } from "./bench-apps/apps.ts";

export const APPS_DIR =
  process.env.DFOPT_APPS ?? path.resolve(import.meta.dirname, "../../shared/corpus/apps");

export interface AppRow {
  dir: string;
  /** Ecosystem as SOURCES.tsv labels it. */
  ecosystem: string;
  kind: string;
  converted: boolean;
  /** The planner that acted (from the change message or the refusal prefix). */
  planner: string;
  reason: string;
  input: string;
  output: string;
  context: BuildContext;
  /** Problems found in the converted output (empty for refusals). */
  problems: string[];
}

export function listApps(
  root = APPS_DIR,
): Array<{ dir: string; dockerfile: string; context: string; ecosystem: string; kind: string }> {
  const tsv = path.join(root, "SOURCES.tsv");
  if (!fs.existsSync(tsv)) return [];
  const [header, ...lines] = fs.readFileSync(tsv, "utf8").trim().split("\n");
  const cols = header.split("\t");
  const at = (row: string[], name: string) => row[cols.indexOf(name)] ?? "";
  return lines.map((l) => {
    const row = l.split("\t");
    const dir = at(row, "dir");
    return {
      dir,
      dockerfile: path.join(root, dir, at(row, "dockerfile")),
      context: path.join(root, dir, at(row, "context")),
      ecosystem: at(row, "ecosystem"),
      kind: at(row, "kind"),
    };
  });
}

/**
 * Checks a converted Dockerfile: every `COPY --from=<build stage>` source of
 * the final stage is something the build stage produces (inside one of its
 * WORKDIRs or COPY destinations, or a path its RUNs or ENVs name, such as `-o
 * /app/server`, `/opt/venv` or `UV_PROJECT_ENVIRONMENT=/opt/env`), and every plain COPY/ADD source of the final
 * stage exists in the build context.
 */
export function runtimeCopyProblems(model: DockerfileModel, context: BuildContext): string[] {
  const problems: string[] = [];
  if (model.stages.length < 2) return ["output is not multi-stage"];
  const final = model.stages[model.stages.length - 1];
  const byName = new Map(model.stages.map((s) => [(s.name ?? String(s.index)).toLowerCase(), s]));
  const finalCwd = workdirs(final);
  for (const instr of final.instructions) {
    const c = copyInfo(instr, finalCwd.get(instr) ?? null);
    if (!c || c.remote) continue;
    if (!c.from) {
      for (const s of c.sources) {
        if (/[*?[$]/.test(s)) continue;
        if (context.root !== "<none>" && !context.exists(s.replace(/^\.\//, "").replace(/\/+$/, "") || ".")) {
          problems.push(`line ${instr.line}: ${s} is not in the build context`);
        }
      }
      continue;
    }
    const build = byName.get(c.from.toLowerCase());
    if (!build) continue; // an external image
    // Variables the base image sets (golang: GOPATH) and the file's own, as BuildKit expands them.
    const golang = /(^|\/)golang$/.test(build.image?.name ?? "");
    const imageEnv = new Map<string, string | null>(golang ? [["GOPATH", "/go"]] : []);
    const vars = new Map(imageEnv);
    let dir = "/";
    const produced: string[] = [];
    const runText: string[] = [];
    for (const i of build.instructions) {
      if (i.keyword === "ENV")
        for (const [k, v] of envPairs(i)) vars.set(k, v === null ? null : expandKnown(v, vars));
      if (i.keyword === "WORKDIR") {
        const v = i.args.map((a) => a.value).join(" ");
        dir = resolvePath(dir, expandKnown(v, vars) ?? v);
        produced.push(dir);
      }
      const bc = copyInfo(i, dir, vars);
      if (bc?.destAbs) produced.push(bc.destAbs);
      // ENV names folders tools install into (UV_PROJECT_ENVIRONMENT=/opt/env for uv sync).
      // The file's own values stand in for its variables (`cp a.ini "$CONF_DIR"/`).
      if (i.keyword === "RUN" || i.keyword === "ENV")
        runText.push(i.text.replace(/\$\{?(\w+)\}?/g, (m, n: string) => vars.get(n) ?? m).replace(/"/g, ""));
      // `go install`/`go get` put the binary in $GOPATH/bin.
      if (golang && i.keyword === "RUN" && /\bgo\s+(install|get)\b/.test(i.text)) produced.push("/go/bin");
    }
    // Where build tools install by the official images' defaults (CARGO_HOME, GOPATH).
    if (runText.some((t) => /\bcargo\s+install\b/.test(t))) produced.push("/usr/local/cargo/bin");
    if (runText.some((t) => /\bgo\s+install\b/.test(t))) produced.push("/go/bin");
    for (const s of c.sources) {
      if (/[*?[$]/.test(s)) continue;
      // --from sources are paths in the build stage's filesystem, relative ones from its root.
      const abs = absolutePath(s.startsWith("/") ? s : "/" + s);
      const named = new RegExp(`(?:^|[\\s="'])(?:${escapeRe(abs)}|${escapeRe(s)})/?(?:$|[\\s"';&|])`);
      // `cp -rt /opt/data templates`, `mv deploy/tool /usr/local/bin/`: the folder and the name apart.
      const folder = new RegExp(`(?:^|[\\s="'])${escapeRe(path.posix.dirname(abs))}/?(?:$|[\\s"';&|])`);
      const name = new RegExp(`(?:^|[\\s/])${escapeRe(path.posix.basename(abs))}/?(?:$|[\\s"';&|])`);
      const ok =
        produced.some((p) => isInside(abs, p)) ||
        runText.some((t) => named.test(t) || (folder.test(t) && name.test(t)));
      if (!ok)
        problems.push(
          `line ${instr.line}: COPY --from=${c.from} ${s}: nothing in the build stage produces it`,
        );
    }
  }
  return problems;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The real-app benchmark's apps whose sources are unpacked. */
export function listBenchApps(): ReturnType<typeof listApps> {
  return loadApps()
    .map((app) => ({
      dir: app.name,
      dockerfile: path.join(sourcesOf(app), app.dockerfile),
      context: path.join(sourcesOf(app), app.context),
      ecosystem: app.ecosystem,
      kind: "",
    }))
    .filter((app) => fs.existsSync(app.dockerfile));
}

export async function runApps(apps = listApps(APPS_DIR)): Promise<AppRow[]> {
  await loadParsers();
  const rows: AppRow[] = [];
  for (const app of apps) {
    const input = fs.readFileSync(app.dockerfile, "utf8");
    const context = folderContext(app.context);
    const r = optimizeFile(input, context, { transforms: [splitStages] });
    const converted = r.changed;
    const change = r.changes.find((c) => c.transform === "split-stages");
    // After a conversion the engine re-runs the transform, which then refuses the (now) multi-stage file: skip that.
    const refusal = converted ? undefined : r.refusals.find((x) => x.transform === "split-stages");
    const reason = converted
      ? (change?.message ?? "")
      : (refusal?.reason ?? r.error?.message ?? "(no reason)");
    const planner = converted
      ? /the folder the web server serves$/.test(reason)
        ? "web"
        : plannerOf(r.output)
      : (/^(\w+): /.exec(reason)?.[1] ?? "-");
    rows.push({
      dir: app.dir,
      ecosystem: app.ecosystem,
      kind: app.kind,
      converted,
      planner,
      reason: converted ? reason : reason.replace(/^\w+: /, ""),
      input,
      output: r.output,
      context,
      problems: converted ? runtimeCopyProblems(parseDockerfile(r.output), context) : [],
    });
  }
  return rows;
}

function plannerOf(output: string): string {
  const m = parseDockerfile(output);
  const img = m.stages[0]?.image?.name ?? "";
  const known: Array<[RegExp, string]> = [
    [/node$|(?:^|\/)bun$/, "node"],
    [/python$/, "python"],
    [/golang$/, "go"],
    [/maven|gradle|jdk|temurin|openjdk|corretto/, "java"],
    [/rust$/, "rust"],
    [/dotnet|aspnet/, "dotnet"],
  ];
  return known.find(([re]) => re.test(img))?.[1] ?? "?";
}

/** `short`: reasons cut to 90 characters (for reports). */
export function markdownTable(rows: AppRow[], short = false): string {
  const cut = (s: string) => (short && s.length > 90 ? s.slice(0, 89) + "…" : s);
  const esc = (s: string) => cut(s.replace(/\|/g, "\\|").replace(/\n/g, " "));
  const lines = ["| app | ecosystem | result | reason |", "|---|---|---|---|"];
  for (const r of rows) {
    lines.push(
      `| ${r.dir} | ${r.ecosystem} | ${r.converted ? `converted (${r.planner})` : "refused"} | ${esc(r.reason)} |`,
    );
  }
  const conv = rows.filter((r) => r.converted).length;
  lines.push("", `${rows.length} apps: ${conv} converted, ${rows.length - conv} refused.`);
  return lines.join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bench = process.argv.includes("--bench");
  if (!bench && !fs.existsSync(APPS_DIR)) {
    console.error(`apps corpus not found at ${APPS_DIR} (set DFOPT_APPS)`);
    process.exit(1);
  }
  const apps = bench ? listBenchApps() : listApps(APPS_DIR);
  if (bench && apps.length === 0) {
    console.error("no benchmark app is unpacked (run scripts/bench-apps/fetch.ts first)");
    process.exit(1);
  }
  const rows = await runApps(apps);
  console.log(markdownTable(rows, process.argv.includes("--short")));
  const bad = rows.filter((r) => r.problems.length > 0);
  for (const r of bad) console.error(`${r.dir}: ${r.problems.join("; ")}`);
}
