/**
 * What dfopt writes, and how a run ends, driven through the real CLI
 * (bin/dfopt.cjs; run `node scripts/build.mjs` first, or it runs the sources
 * through tsx) on temporary repositories: symbolic links, owners, hard links,
 * --report targets, a closed stdout and side files that cannot be written.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const BIN = path.resolve(import.meta.dirname, "../bin/dfopt.cjs");
const isRoot = process.getuid?.() === 0;
/** A user that owns nothing here, for the owner tests and to run the CLI unprivileged. */
const OTHER = 1234;

const APT = "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\n";
const FIXED = "FROM ubuntu:22.04\nRUN apt-get update && apt-get install -y curl\n";
const ONLY = ["--only", "apt-get-update-alone"];

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

/** A temporary folder (readable by everyone, for runs as another user) holding `files`. */
function tree(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-hostile-"));
  temps.push(dir);
  fs.chmodSync(dir, 0o755);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

let binForOthers: string | null = null;
/**
 * The CLI another user runs: the bundle copied into a folder everyone may read, since the checkout
 * may sit in one only its owner enters (a clone in `mktemp -d`). Without a bundle, the checkout's own.
 */
function binFor(as: number | undefined): string {
  const root = path.dirname(path.dirname(BIN));
  if (as === undefined || !fs.existsSync(path.join(root, "dist/cli.cjs"))) return BIN;
  if (binForOthers === null) {
    const dir = tree();
    for (const part of ["bin", "dist", "package.json"])
      fs.cpSync(path.join(root, part), path.join(dir, part), { recursive: true });
    binForOthers = path.join(dir, "bin/dfopt.cjs");
  }
  return binForOthers;
}

function cli(args: string[], cwd: string, as?: number) {
  const r = spawnSync(process.execPath, [binFor(as), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", DFOPT_COMPILE_CACHE: "off" },
    ...(as === undefined ? {} : { uid: as, gid: as }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const read = (file: string) => fs.readFileSync(file, "utf8");
const isLink = (file: string) => fs.lstatSync(file).isSymbolicLink();
/** Temporary files a write may leave behind. */
const leftovers = (dir: string) =>
  (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.includes(".dfopt-"));

describe("--write through symbolic links", () => {
  test("a Dockerfile linked to a file inside its repository: the target is written, the link kept", () => {
    const dir = tree({ "repo/.git/HEAD": "", "repo/docker/base.Dockerfile": APT });
    fs.mkdirSync(path.join(dir, "repo/svc"));
    fs.symlinkSync("../docker/base.Dockerfile", path.join(dir, "repo/svc/Dockerfile"));
    const r = cli(["--write", ...ONLY, "repo/svc/Dockerfile"], dir);
    expect(r.stderr).not.toContain("error:");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("wrote repo/svc/Dockerfile\n");
    expect(isLink(path.join(dir, "repo/svc/Dockerfile"))).toBe(true);
    expect(fs.readlinkSync(path.join(dir, "repo/svc/Dockerfile"))).toBe("../docker/base.Dockerfile");
    expect(read(path.join(dir, "repo/docker/base.Dockerfile"))).toBe(FIXED);
    expect(leftovers(dir)).toEqual([]);
  });

  test("a Dockerfile linked out of its repository is refused: exit 2, the file named, nothing written", () => {
    const dir = tree({ "repo/.git/HEAD": "", "outside/Dockerfile": APT, "plain/real/Dockerfile": APT });
    fs.symlinkSync(path.join(dir, "outside/Dockerfile"), path.join(dir, "repo/Dockerfile"));
    const r = cli(["--write", ...ONLY, "repo/Dockerfile"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/repo\/Dockerfile: error: .*symbolic link.*outside/);
    expect(r.stdout).toBe("");
    expect(isLink(path.join(dir, "repo/Dockerfile"))).toBe(true);
    expect(read(path.join(dir, "outside/Dockerfile"))).toBe(APT);

    // Outside a git repository, the boundary is the Dockerfile's own folder.
    fs.mkdirSync(path.join(dir, "plain/svc"));
    fs.symlinkSync("../real/Dockerfile", path.join(dir, "plain/svc/Dockerfile"));
    const plain = cli(["--write", ...ONLY, "plain/svc/Dockerfile"], dir);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain("plain/svc/Dockerfile: error:");
    expect(read(path.join(dir, "plain/real/Dockerfile"))).toBe(APT);
  });

  test("--follow-symlinks into a folder out of the repository finds the file but does not write it", () => {
    const dir = tree({ "repo/.git/HEAD": "", "repo/own/Dockerfile": APT, "outside/Dockerfile": APT });
    fs.symlinkSync(path.join(dir, "outside"), path.join(dir, "repo/linked"));
    const r = cli(["--write", "--follow-symlinks", ...ONLY, "repo"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("wrote repo/own/Dockerfile\n");
    expect(r.stderr).toMatch(/repo\/linked\/Dockerfile: error: .*outside/);
    expect(read(path.join(dir, "repo/own/Dockerfile"))).toBe(FIXED);
    expect(read(path.join(dir, "outside/Dockerfile"))).toBe(APT);
  });

  test("a .dockerignore linked inside the build context is written through the link", () => {
    const dir = tree({ "app/Dockerfile": APT + "COPY . /src\n", "app/config/ignore": "node_modules\n" });
    fs.symlinkSync("config/ignore", path.join(dir, "app/.dockerignore"));
    const r = cli(["--write", "--unsafe", "--only", "dockerignore", "app"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("wrote app/.dockerignore\n");
    expect(isLink(path.join(dir, "app/.dockerignore"))).toBe(true);
    expect(read(path.join(dir, "app/config/ignore"))).toMatch(/^node_modules\n# added by dfopt\n\.git\n/);
  });

  test("a .dockerignore linked out of the build context is never written through", () => {
    const dir = tree({ "app/Dockerfile": APT + "COPY . /src\n", "secret/ignore": "node_modules\n" });
    fs.symlinkSync(path.join(dir, "secret/ignore"), path.join(dir, "app/.dockerignore"));
    const r = cli(["--write", "--unsafe", "--only", "dockerignore", "app"], dir);
    expect(isLink(path.join(dir, "app/.dockerignore"))).toBe(true);
    expect(read(path.join(dir, "secret/ignore"))).toBe("node_modules\n");
    // Left alone when the link is not read at all; refused, naming it, when it is.
    expect(r.stdout).toBe("");
    if (r.code !== 0) expect(r.stderr).toMatch(/app\/\.dockerignore.*symbolic link.*outside/);
  });
});

describe("--write keeps owner, group, mode and hard links", () => {
  test.skipIf(!isRoot)("run as root, a file owned by another user keeps its owner, group and mode", () => {
    const dir = tree({ "svc/Dockerfile": APT });
    const file = path.join(dir, "svc/Dockerfile");
    fs.chownSync(file, OTHER, OTHER);
    fs.chmodSync(file, 0o640);
    const r = cli(["--write", ...ONLY, "svc"], dir);
    expect(r.code).toBe(0);
    const st = fs.statSync(file);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([OTHER, OTHER, 0o640]);
    expect(read(file)).toBe(FIXED);
  });
  if (!isRoot)
    test.skip("owner kept when run as root: not root here, cannot chown to another user", () => {});

  test.skipIf(!isRoot)(
    "a user who cannot give the new file its owner writes in place, keeping the owner",
    () => {
      // Root's file, writable by everyone, in a folder the user may write: a rename would make it the user's.
      const dir = tree({ "svc/Dockerfile": APT });
      const file = path.join(dir, "svc/Dockerfile");
      fs.chmodSync(path.join(dir, "svc"), 0o777);
      fs.chmodSync(file, 0o666);
      const r = cli(["--write", ...ONLY, "svc"], dir, OTHER);
      expect(r.code).toBe(0);
      const st = fs.statSync(file);
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o666]);
      expect(read(file)).toBe(FIXED);
    },
  );

  test("a file with several hard links is written in place: every name sees the change", () => {
    const dir = tree({ "a/Dockerfile": APT });
    fs.mkdirSync(path.join(dir, "b"));
    fs.linkSync(path.join(dir, "a/Dockerfile"), path.join(dir, "b/Dockerfile"));
    const before = fs.statSync(path.join(dir, "a/Dockerfile")).ino;
    const r = cli(["--write", ...ONLY, "a/Dockerfile"], dir);
    expect(r.code).toBe(0);
    const [a, b] = ["a", "b"].map((d) => fs.statSync(path.join(dir, d, "Dockerfile")));
    expect([a.ino, b.ino, a.nlink]).toEqual([before, before, 2]);
    expect(read(path.join(dir, "b/Dockerfile"))).toBe(FIXED);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe("--report", () => {
  const repo = () => tree({ "repo/.git/HEAD": "", "repo/Dockerfile": APT, "victim/file": "keep\n" });

  test("a report path that is a symbolic link is refused before any file is written", () => {
    const dir = repo();
    fs.symlinkSync(path.join(dir, "victim/file"), path.join(dir, "repo/dfopt.md"));
    const r = cli(["--write", ...ONLY, "--report", "repo/dfopt.md", "repo"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report: .*repo\/dfopt\.md.*symbolic link/);
    expect(read(path.join(dir, "victim/file"))).toBe("keep\n");
    expect(isLink(path.join(dir, "repo/dfopt.md"))).toBe(true);
    expect(read(path.join(dir, "repo/Dockerfile"))).toBe(APT);
  });

  test("a report under a linked folder inside a scanned folder is refused", () => {
    const dir = repo();
    fs.symlinkSync(path.join(dir, "victim"), path.join(dir, "repo/out"));
    const r = cli(["--write", ...ONLY, "--report", "repo/out/r.md", "repo"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report: .*repo\/out.*symbolic link/);
    expect(fs.readdirSync(path.join(dir, "victim"))).toEqual(["file"]);
    expect(read(path.join(dir, "repo/Dockerfile"))).toBe(APT);
  });

  test("a report into a missing folder is refused before any file is written", () => {
    const dir = repo();
    const r = cli(["--write", ...ONLY, "--report", "nope/r.md", "repo"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report: .*nope.*(no such folder|does not exist)/);
    expect(r.stdout).toBe("");
    expect(read(path.join(dir, "repo/Dockerfile"))).toBe(APT);
  });

  test("a report replaces an existing report atomically, keeping its mode", () => {
    const dir = repo();
    fs.writeFileSync(path.join(dir, "r.md"), "old\n", { mode: 0o600 });
    const r = cli(["--write", ...ONLY, "--report", "r.md", "repo"], dir);
    expect(r.code).toBe(0);
    expect(read(path.join(dir, "r.md"))).toContain("repo/Dockerfile");
    expect(fs.statSync(path.join(dir, "r.md")).mode & 0o777).toBe(0o600);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe("--cache", () => {
  test("a cache folder reached through a link a scanned repository planted is refused before any file is written", () => {
    const dir = tree({ "repo/.git/HEAD": "", "repo/Dockerfile": APT });
    fs.mkdirSync(path.join(dir, "elsewhere"));
    fs.symlinkSync(path.join(dir, "elsewhere"), path.join(dir, "repo/node_modules"));
    const r = cli(["--write", ...ONLY, "--cache", "."], path.join(dir, "repo"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--cache: node_modules is a symbolic link inside a scanned folder/);
    expect(fs.readdirSync(path.join(dir, "elsewhere"))).toEqual([]);
    expect(read(path.join(dir, "repo/Dockerfile"))).toBe(APT);
  });
});

describe("a side file that cannot be written", () => {
  test("the report says what was written and names the side file that failed", () => {
    // A build folder the user may not create files in; run unprivileged (root writes anywhere).
    const dir = tree({ "app/Dockerfile": APT + "COPY . /src\n", "app/.env": "SECRET=1\n" });
    if (isRoot) fs.chownSync(path.join(dir, "app/Dockerfile"), OTHER, OTHER);
    fs.chmodSync(path.join(dir, "app"), 0o555);
    const args = ["--write", "--unsafe", "--format", "json", "--only", "apt-get-update-alone,dockerignore"];
    const r = cli([...args, "app/Dockerfile"], dir, isRoot ? OTHER : undefined);
    expect(r.code).toBe(2);
    const [entry] = JSON.parse(r.stdout).files;
    expect(entry.changed).toBe(true);
    expect(entry.diff).toContain("+++ b/app/Dockerfile");
    expect(entry.error.message).toContain("app/.dockerignore");
    // What the report says was written is what is on disk.
    const onDisk = read(path.join(dir, "app/Dockerfile"));
    expect(onDisk).toBe(
      entry.written.includes("app/Dockerfile") ? FIXED + "COPY . /src\n" : APT + "COPY . /src\n",
    );
    expect(fs.existsSync(path.join(dir, "app/.dockerignore"))).toBe(false);
    // Checked before anything is written: the pair is written whole or not at all.
    expect(entry.written).toEqual([]);
  });
});

describe("stdout closed early (EPIPE)", () => {
  /** Runs the CLI with stdout read up to its first line, then closed, as `| head -1` does. */
  function firstLineThenClose(args: string[], cwd: string) {
    return new Promise<{ code: number | null; first: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd,
        env: { ...process.env, NO_COLOR: "1", DFOPT_COMPILE_CACHE: "off" },
      });
      let out = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) child.stdout.destroy();
      });
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("close", (code) => resolve({ code, first: out.split("\n")[0], stderr }));
    });
  }

  const many = (n: number) => {
    const files: Record<string, string> = {};
    for (let i = 0; i < n; i++) files[`d${String(i).padStart(3, "0")}/Dockerfile`] = APT;
    return tree(files);
  };

  for (const jobs of [[], ["--jobs", "0"]]) {
    test(`--write ${jobs.join(" ")} | head -1: stops, exits 2, every file whole, the summary on stderr`, async () => {
      const dir = many(300);
      const r = await firstLineThenClose(["--write", ...ONLY, ...jobs, "d*/Dockerfile"], dir);
      expect(r.first).toMatch(/^wrote d\d{3}\/Dockerfile$/);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/dfopt: stdout closed early \(EPIPE\); stopped after \d+ of 300 files/);
      const contents = fs.readdirSync(dir).map((d) => read(path.join(dir, d, "Dockerfile")));
      expect(contents.every((c) => c === APT || c === FIXED)).toBe(true);
      const written = contents.filter((c) => c === FIXED).length;
      expect(r.stderr).toMatch(new RegExp(`\\b${written} files? written`));
      expect(leftovers(dir)).toEqual([]);
    });
  }
});
