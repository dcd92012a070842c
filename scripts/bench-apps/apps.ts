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
  /** `KEY=VALUE` settings (space separated) every run of the app gets (`--verify-env`), or "". */
  run_env: string;
}

/** The app's run settings, as `--verify-env` takes them. */
export const runEnvOf = (app: App): string[] => (app.run_env ?? "").split(/\s+/).filter(Boolean);

/** bench/apps.tsv: one app a line, with a header. */
export function loadApps(file = APPS_FILE): App[] {
  const [head, ...lines] = fs.readFileSync(file, "utf8").trimEnd().split("\n");
  const cols = head.split("\t");
  return lines.map((line) => {
    const cells = line.split("\t");
    const row = Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? ""])) as unknown as App;
    if (!/^[0-9a-f]{40}$/.test(row.commit))
      throw new Error(`${file}: ${row.name}: commit must be 40 hex digits`);
    if (runEnvOf(row).some((e) => !/^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(e)))
      throw new Error(`${file}: ${row.name}: run_env must be KEY=VALUE settings separated by spaces`);
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
  // the fetch tool's snapshots may lack their largest blobs: leave those files out, and say so
  const absent = absentBlobs(gitDir, app.commit);
  const tar = execFileSync(
    "git",
    [
      "--git-dir",
      gitDir,
      "archive",
      "--format=tar",
      app.commit,
      ...(absent.length ? ["--", ".", ...absent.map((f) => `:(exclude,literal)${f}`)] : []),
    ],
    { maxBuffer: 1024 * 1024 * 1024 },
  );
  execFileSync("tar", ["-x", "-C", dest], { input: tar });
  if (absent.length) fs.writeFileSync(path.join(dest, ".dfopt-absent"), absent.join("\n") + "\n");
  fs.writeFileSync(path.join(dest, ".dfopt-commit"), `${app.repo} ${app.commit}\n`);
  return null;
}

/** Files of `commit` whose blob the mirror does not hold. */
function absentBlobs(gitDir: string, commit: string): string[] {
  const tree = execFileSync("git", ["--git-dir", gitDir, "ls-tree", "-r", "-z", commit], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const blobs = tree
    .split("\0")
    .filter(Boolean)
    .map((l) => /^\d+ blob ([0-9a-f]+)\t([\s\S]*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  if (blobs.length === 0) return [];
  const check = execFileSync("git", ["--git-dir", gitDir, "cat-file", "--batch-check"], {
    input: blobs.map((m) => m[1]).join("\n") + "\n",
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const missing = new Set(
    check
      .split("\n")
      .filter((l) => l.endsWith(" missing"))
      .map((l) => l.split(" ")[0]),
  );
  return blobs.filter((m) => missing.has(m[1])).map((m) => m[2]);
}

/** Files of an unpacked app left out because its mirror lacks them. */
export function absentFiles(app: App, work = WORK): string[] {
  const f = path.join(sourcesOf(app, work), ".dfopt-absent");
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
}
