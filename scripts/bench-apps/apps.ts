import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const APPS_FILE = path.join(ROOT, "bench/apps.tsv");
/** Where apps are unpacked and results kept (never inside the checkout). */
export const WORK = path.resolve(process.env.DFOPT_BENCH_WORK ?? "/tmp/dfopt-bench-apps");
/** Where the `fetch` tool leaves repositories: `<owner>+<name>/repo` (a git directory). */
export const MIRROR = path.resolve(process.env.DFOPT_MIRROR ?? "/work/.mirror");

export interface App {
  name: string;
  /** GitHub owner/name. */
  repo: string;
  commit: string;
  /** Paths inside the repository. */
  dockerfile: string;
  context: string;
  ecosystem: string;
  provenance: string;
  note: string;
}

/** bench/apps.tsv: one app a line, with a header. */
export function loadApps(file = APPS_FILE): App[] {
  const [head, ...lines] = fs.readFileSync(file, "utf8").trimEnd().split("\n");
  const cols = head.split("\t");
  return lines.map((line) => {
    const cells = line.split("\t");
    const row = Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? ""])) as unknown as App;
    if (!/^[0-9a-f]{40}$/.test(row.commit))
      throw new Error(`${file}: ${row.name}: commit must be 40 hex digits`);
    return row;
  });
}

/** The folder an app's sources are unpacked into. */
export const sourcesOf = (app: App, work = WORK) => path.join(work, "src", app.name);

/** The git directory the fetch tool brought for `owner/name`, or null. */
export function mirrorOf(repo: string, mirror = MIRROR): string | null {
  const base = path.join(mirror, repo.replace("/", "+"));
  for (const dir of [path.join(base, "repo/.git"), path.join(base, "repo"), base]) {
    if (fs.existsSync(path.join(dir, "HEAD")) && fs.existsSync(path.join(dir, "objects"))) return dir;
  }
  return null;
}

/**
 * Unpacks the app's pinned commit from its mirror into sourcesOf(app). Returns null when done (or
 * already there), else why it was skipped.
 */
export function unpack(app: App, mirror = MIRROR, work = WORK): string | null {
  const dest = sourcesOf(app, work);
  if (fs.existsSync(path.join(dest, ".dfopt-commit"))) return null;
  const gitDir = mirrorOf(app.repo, mirror);
  if (!gitDir)
    return `no mirror of ${app.repo} under ${mirror} (bring it with the fetch tool: github:${app.repo})`;
  try {
    execFileSync("git", ["--git-dir", gitDir, "cat-file", "-e", `${app.commit}^{commit}`], {
      stdio: "ignore",
    });
  } catch {
    return `commit ${app.commit} is not in the mirror of ${app.repo}`;
  }
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const tar = execFileSync("git", ["--git-dir", gitDir, "archive", "--format=tar", app.commit], {
    maxBuffer: 1024 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dest], { input: tar });
  fs.writeFileSync(path.join(dest, ".dfopt-commit"), `${app.repo} ${app.commit}\n`);
  return null;
}
