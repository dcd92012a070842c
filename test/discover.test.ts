import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover, isDockerfileName } from "../src/io/discover.ts";
import { globToRegExp } from "../src/engine/glob.ts";

const FROM = "FROM alpine:3.20\n";
let root: string;
let cwd: string;

function put(rel: string, content = FROM): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
}

/** discover() with the temp tree as cwd, so paths come back relative. */
function run(inputs: string[], exclude: string[] = [], followSymlinks = false) {
  process.chdir(root);
  try {
    return discover(inputs, { exclude, followSymlinks });
  } finally {
    process.chdir(cwd);
  }
}

beforeAll(() => {
  cwd = process.cwd();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-discover-"));
  put("repos/a/.git/HEAD", "ref: refs/heads/main\n");
  put("repos/a/.gitignore", "build/\n*.generated.Dockerfile\n!keep.generated.Dockerfile\n");
  put("repos/a/Dockerfile");
  put("repos/a/build/Dockerfile");
  put("repos/a/docker/web.Dockerfile");
  put("repos/a/docker/x.generated.Dockerfile");
  put("repos/a/docker/keep.generated.Dockerfile");
  put("repos/a/docker/.gitignore", "legacy/\n");
  put("repos/a/docker/legacy/Dockerfile");
  put("repos/a/node_modules/pkg/Dockerfile");
  put("repos/a/vendor/lib/Dockerfile");
  put("repos/a/.git/Dockerfile");
  put("repos/b/Containerfile");
  put("repos/b/Dockerfile.prod");
  put("repos/b/Dockerfile.orig");
  put("repos/b/Dockerfile.bak");
  put("repos/b/Dockerfile.dockerignore", "*\n");
  put("repos/b/.dockerignore", "*\n");
  put("repos/b/app.dockerfile");
  put("repos/b/README.md", "# readme\n");
  put("repos/b/tests/Dockerfile");
  put("empty/readme.txt", "nothing\n");
  // Symlinks: a loop back to an ancestor, a link to a file, a dangling link.
  fs.symlinkSync(path.join(root, "repos"), path.join(root, "repos/b/tests/loop"));
  fs.symlinkSync(path.join(root, "repos/b/Dockerfile.prod"), path.join(root, "repos/b/linked.Dockerfile"));
  fs.symlinkSync(path.join(root, "nowhere"), path.join(root, "repos/b/dangling.Dockerfile"));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe("isDockerfileName", () => {
  it("takes Dockerfile names and rejects backups, ignore files and templates", () => {
    for (const n of [
      "Dockerfile",
      "Containerfile",
      "dockerfile",
      "web.Dockerfile",
      "x.dockerfile",
      "Dockerfile.prod",
      "Dockerfile.3",
    ]) {
      expect(isDockerfileName(n), n).toBe(true);
    }
    for (const n of [
      ".dockerignore",
      "Dockerfile.dockerignore",
      "Dockerfile.orig",
      "Dockerfile.bak",
      "Dockerfile.rej",
      "Dockerfile.swp",
      "Dockerfile~",
      "Dockerfile.j2",
      "README.md",
      "Dockerfiles",
      "docker-compose.yml",
    ]) {
      expect(isDockerfileName(n), n).toBe(false);
    }
  });
});

describe("discover", () => {
  it("walks folders, honours .gitignore at every level and skips .git/node_modules/vendor", () => {
    const { files, problems } = run(["repos"]);
    expect(problems).toEqual([]);
    expect(files).toEqual([
      "repos/a/Dockerfile",
      "repos/a/docker/keep.generated.Dockerfile",
      "repos/a/docker/web.Dockerfile",
      "repos/b/Containerfile",
      "repos/b/Dockerfile.prod",
      "repos/b/app.dockerfile",
      "repos/b/tests/Dockerfile",
    ]);
  });

  it("honours the .gitignore of the repository above the input folder", () => {
    const { files } = run(["repos/a/build", "repos/a/docker"]);
    // build/ is ignored by repos/a/.gitignore: nothing is found there.
    expect(files).toEqual(["repos/a/docker/keep.generated.Dockerfile", "repos/a/docker/web.Dockerfile"]);
  });

  it("always takes a file named explicitly, even when ignored", () => {
    const { files, problems } = run(["repos/a/build/Dockerfile", "repos/b/Dockerfile.orig"]);
    expect(problems).toEqual([]);
    expect(files).toEqual(["repos/a/build/Dockerfile", "repos/b/Dockerfile.orig"]);
  });

  it("applies --exclude relative to the cwd and to the input root", () => {
    expect(run(["repos"], ["repos/b/tests/"]).files).not.toContain("repos/b/tests/Dockerfile");
    const rootRelative = run(["repos"], ["tests", "*.dockerfile"]).files;
    expect(rootRelative).not.toContain("repos/b/tests/Dockerfile");
    expect(rootRelative).not.toContain("repos/b/app.dockerfile");
    expect(rootRelative).toContain("repos/b/Containerfile");
  });

  it("skips symlinks unless asked, and never loops when following them", () => {
    const off = run(["repos/b"]).files;
    expect(off.some((f) => f.includes("loop") || f.includes("linked"))).toBe(false);
    const on = run(["repos/b"], [], true);
    expect(on.problems).toEqual([]);
    // The loop reaches repos/ again (its real path differs from repos/b): walked once,
    // the link to Dockerfile.prod is the same real file as Dockerfile.prod: kept once.
    expect(
      on.files.filter((f) => f.endsWith("Dockerfile.prod") || f.endsWith("linked.Dockerfile")),
    ).toHaveLength(1);
    expect(new Set(on.files.map((f) => fs.realpathSync(path.join(root, f)))).size).toBe(on.files.length);
    expect(on.files).toContain("repos/b/tests/loop/a/Dockerfile");
  });

  it("reports missing paths and folders without Dockerfiles", () => {
    const { files, problems } = run(["nope", "empty", "repos/b/Containerfile"]);
    expect(files).toEqual(["repos/b/Containerfile"]);
    expect(problems).toEqual([
      { path: "nope", message: "no such file or directory" },
      { path: "empty", message: "no Dockerfiles found under empty" },
    ]);
  });

  it("deduplicates and sorts, keeping paths as typed", () => {
    const { files } = run(["./repos/b/", "repos/b/Containerfile", "repos/b"]);
    expect(files).toEqual([
      "repos/b/Containerfile",
      "repos/b/Dockerfile.prod",
      "repos/b/app.dockerfile",
      "repos/b/tests/Dockerfile",
    ]);
    process.chdir(root);
    try {
      const abs = discover([path.join(root, "repos/b/tests")], { exclude: [], followSymlinks: false }).files;
      expect(abs).toEqual([path.join(root, "repos/b/tests/Dockerfile")]);
    } finally {
      process.chdir(cwd);
    }
  });

  it("expands globs: matching folders are walked, matching files are taken", () => {
    // Backups and ignore files stay out even when the glob matches them.
    expect(run(["repos/*/Dockerfile*"]).files).toEqual(["repos/a/Dockerfile", "repos/b/Dockerfile.prod"]);
    // A file the glob names is taken whatever its name.
    expect(run(["repos/b/*.md"]).files).toEqual(["repos/b/README.md"]);
    expect(run(["repos/**/*.{dockerfile,Dockerfile}"]).files).toEqual([
      "repos/a/docker/keep.generated.Dockerfile",
      "repos/a/docker/web.Dockerfile",
      "repos/b/app.dockerfile",
    ]);
    expect(run(["repos/?"]).files).toHaveLength(7);
    expect(run(["repos/*.nothing"]).problems).toEqual([
      { path: "repos/*.nothing", message: "no Dockerfiles match repos/*.nothing" },
    ]);
    expect(globToRegExp("a/**/b").test("a/b")).toBe(true);
    expect(globToRegExp("a/**/b").test("a/x/y/b")).toBe(true);
    expect(globToRegExp("a/*").test("a/x/y")).toBe(false);
  });

  it("walks 50k entries quickly", () => {
    const big = path.join(root, "big");
    for (let r = 0; r < 50; r++) {
      const dir = path.join(big, `repo${r}`, "src", "deep");
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), "");
      fs.writeFileSync(path.join(big, `repo${r}`, "Dockerfile"), FROM);
    }
    const t0 = performance.now();
    const { files } = run(["big"]);
    const ms = performance.now() - t0;
    console.log(`discover: 50k entries walked in ${ms.toFixed(0)} ms`);
    expect(files).toHaveLength(50);
    expect(ms).toBeLessThan(3000);
  });
});
