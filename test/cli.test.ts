import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { applyPatch } from "diff";
import { beforeAll, describe, expect, test } from "vitest";
import { VERSION } from "../src/version.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { Writable } from "node:stream";
import { main } from "../src/cli/main.ts";
import { dfopt, tree } from "./cli-run.ts";
import { textSink, withoutTimings } from "./text-sink.ts";
import { loadParsers } from "../src/engine/engine.ts";

beforeAll(loadParsers);

const UNPINNED = "FROM node:latest\r\nRUN echo hi\r\n";

describe("dfopt CLI", () => {
  test("--version matches package.json", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../package.json"), "utf8"));
    expect(VERSION).toBe(pkg.version);
    const r = await dfopt(["--version"], os.tmpdir());
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  test("--list-transforms names every transform with its applicability", async () => {
    const r = await dfopt(["--list-transforms"], os.tmpdir());
    expect(r.code).toBe(0);
    for (const t of TRANSFORMS)
      expect(r.stdout).toMatch(new RegExp(`^${t.id}\\s+${t.applicability}\\s+(on|off)\\s`, "m"));
    expect(r.stdout).toMatch(/^pin-tags\s+unsafe\s/m);
    expect(r.stdout).toMatch(/^merge-runs\s+safe\s/m);
    const json = JSON.parse((await dfopt(["--list-transforms", "--format", "json"], os.tmpdir())).stdout);
    expect(json.transforms.map((t: { id: string }) => t.id)).toEqual(TRANSFORMS.map((t) => t.id));
    for (const t of json.transforms as Array<{ applicability: string; applicabilityNote: string }>) {
      expect(["safe", "unsafe"]).toContain(t.applicability);
      expect(t.applicabilityNote.length).toBeGreaterThan(10);
    }
  });

  test("an unknown transform id is a usage error (exit 2) naming it", async () => {
    const r = await dfopt(["--only", "pin-tags,nope", "."], os.tmpdir());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'nope'");
  });

  test("dry run prints a git-style diff, keeps CRLF, writes nothing", async () => {
    const dir = tree({ "svc/Dockerfile": UNPINNED });
    const r = await dfopt(["--unsafe", "--only", "pin-tags", "svc"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--- a/svc/Dockerfile\n+++ b/svc/Dockerfile\n");
    expect(r.stdout).toMatch(/^-FROM node:latest\r$/m);
    expect(r.stdout).toMatch(/^\+FROM node:\d[^\r\n]*\r$/m);
    expect(fs.readFileSync(path.join(dir, "svc/Dockerfile"), "utf8")).toBe(UNPINNED);
  });

  test("--write writes atomically keeping the mode; then --check exits 0", async () => {
    const dir = tree({ Dockerfile: UNPINNED });
    const file = path.join(dir, "Dockerfile");
    fs.chmodSync(file, 0o640);
    expect((await dfopt(["--check", "--unsafe", "--only", "pin-tags", "."], dir)).code).toBe(1);
    const w = await dfopt(["--write", "--unsafe", "--only", "pin-tags", "."], dir);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain("wrote Dockerfile");
    const written = fs.readFileSync(file, "utf8");
    expect(written).toMatch(/^FROM node:\d\S*\r\nRUN echo hi\r\n$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(dir)).toEqual(["Dockerfile"]);
    const c = await dfopt(["--check", "--unsafe", "--only", "pin-tags", "."], dir);
    expect(c.code).toBe(0);
    expect(c.stdout).toBe("");
  });

  test("bad files are reported with exit 2 while the good ones are still processed", async () => {
    const dir = tree({
      "a/Dockerfile": UNPINNED,
      "b/Dockerfile": "",
      "c/Dockerfile": Buffer.from([0x46, 0x52, 0x00, 0x4d]),
      "d/Dockerfile": "FROM alpine:3.20\nFORM x\n",
      "e/Dockerfile": "FROM alpine:3.20\n" + "# pad\n".repeat(200_000),
    });
    const r = await dfopt(["--unsafe", "--only", "pin-tags", "a", "b", "c", "d", "e", "missing"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("+++ b/a/Dockerfile");
    expect(r.stderr).toContain("b/Dockerfile: error: empty file");
    expect(r.stderr).toContain("c/Dockerfile: error: binary file");
    expect(r.stderr).toContain("d/Dockerfile:2: error: unknown instruction 'FORM'");
    expect(r.stderr).toContain("e/Dockerfile: error: file is larger than");
    expect(r.stderr).toMatch(/missing: .*no such file/);
  });

  test("--jobs: 0 runs every file in this thread, 1 through a worker; same output; below 0 is a usage error", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++)
      files[`svc${i}/Dockerfile`] = i % 2 ? UNPINNED : "FROM alpine:3.20\nRUN a\nRUN b\n";
    const dir = tree(files);
    const inThread = await dfopt(["--format", "json", "."], dir);
    const oneWorker = await dfopt(["--format", "json", ".", "--jobs", "1"], dir);
    expect(inThread.code).toBe(0);
    expect(JSON.parse(inThread.stdout).files).toHaveLength(30);
    expect(withoutTimings(oneWorker.stdout)).toBe(withoutTimings(inThread.stdout));
    const bad = await dfopt([".", "--jobs", "-1"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--jobs must be a whole number ≥ 0, not '-1'");
  });

  test("a folder without Dockerfiles is an error", async () => {
    const dir = tree({ "README.md": "hi" });
    const r = await dfopt(["."], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no Dockerfiles/);
  });

  test("--format json prints one document with the documented shape", async () => {
    const dir = tree({ "x/Dockerfile": UNPINNED, "y/Dockerfile": "" });
    const r = await dfopt(["--format", "json", "--unsafe", "--only", "pin-tags", "."], dir);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary).toEqual({ files: 2, changed: 1, errors: 1 });
    const [x, y] = doc.files;
    expect(x).toMatchObject({ path: "x/Dockerfile", changed: true, written: [], error: null });
    expect(x.changes[0]).toMatchObject({ transform: "pin-tags", line: 1 });
    expect(typeof x.changes[0].message).toBe("string");
    expect(y).toMatchObject({
      path: "y/Dockerfile",
      changed: false,
      diff: null,
      error: { message: "empty file", line: null },
    });
    // The entry carries the patch: applied to the input, it gives what --write writes.
    expect(x.diff).toMatch(/^--- a\/x\/Dockerfile\n\+\+\+ b\/x\/Dockerfile\n@@ /);
    const patched = applyPatch(UNPINNED, x.diff);
    await dfopt(["--write", "--unsafe", "--only", "pin-tags", "x/Dockerfile"], dir);
    expect(patched).toBe(fs.readFileSync(path.join(dir, "x/Dockerfile"), "utf8"));
    expect(patched).not.toBe(UNPINNED);
  });

  test("--format jsonl with --write still carries each file's diff", async () => {
    const dir = tree({ Dockerfile: UNPINNED });
    const r = await dfopt(["--format", "jsonl", "--write", "--unsafe", "--only", "pin-tags", "."], dir);
    const [entry] = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(entry.changed).toBe(true);
    expect(entry.written).toEqual(["Dockerfile"]);
    expect(applyPatch(UNPINNED, entry.diff)).toBe(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"));
  });

  test("a stdout that fails (EPIPE) stops the run before the next file: exit 2, where it stopped on stderr", async () => {
    const dir = tree({ "a/Dockerfile": UNPINNED, "b/Dockerfile": UNPINNED, "c/Dockerfile": UNPINNED });
    let lines = 0;
    const closed = new Writable({
      write(_chunk, _enc, cb) {
        cb(++lines > 1 ? Object.assign(new Error("write EPIPE"), { code: "EPIPE" }) : null);
      },
    });
    const err = textSink();
    const args = ["--write", "--unsafe", "--only", "pin-tags", "--jobs", "0", "."];
    const code = await main(args, { stdout: closed, stderr: err.stream, cwd: dir });
    expect(code).toBe(2);
    expect(err.text()).toMatch(
      /2 files written\.[\s\S]*stdout closed early \(EPIPE\); stopped after 2 of 3 files/,
    );
    const written = ["a", "b", "c"].filter(
      (d) => fs.readFileSync(path.join(dir, d, "Dockerfile"), "utf8") !== UNPINNED,
    );
    expect(written).toEqual(["a", "b"]);
  });

  test("a config file with an unknown key is an error naming file and key", async () => {
    const dir = tree({ Dockerfile: UNPINNED, "dfopt.config.json": '{"transforms":{},"colour":true}' });
    const r = await dfopt(["."], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("dfopt.config.json: unknown key 'colour'");
  });

  test("a misspelt or wrong transform option is an error naming file and key, with a hint", async () => {
    const config = (options: object) =>
      tree({ Dockerfile: UNPINNED, "dfopt.config.json": JSON.stringify({ options }) });
    let r = await dfopt(["."], config({ "split-stages": { goRuntme: "scratch" } }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "dfopt.config.json: unknown option 'options.split-stages.goRuntme'; did you mean 'goRuntime'? (known: goRuntime, nodeCopy, nodeRuntime, buildToolStart, runtimeUser, noBuildStep)",
    );
    r = await dfopt(["."], config({ "split-stages": { goRuntime: "scrach" } }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `'options.split-stages.goRuntime' must be "scratch", not "scrach"; did you mean 'scratch'?`,
    );
    r = await dfopt(["."], config({ "exec-form-cmd": { entrypoint: "yes" } }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`'options.exec-form-cmd.entrypoint' must be true or false, not "yes"`);
    r = await dfopt(["."], config({ "pin-tags": { resolve: true } }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option 'options.pin-tags.resolve' (pin-tags takes no options)");
    r = await dfopt(
      ["."],
      config({ "split-stages": { goRuntime: "scratch" }, "exec-form-cmd": { entrypoint: true } }),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("dfopt.config.json");
  });

  test("every option a transform reads is one it declares", () => {
    // A transform reads its options as options.perTransform["<id>"]?.<key>: each such key must be in its schema.
    const reads = new Set<string>();
    const root = path.resolve(import.meta.dirname, "../transforms");
    for (const file of fs.readdirSync(root, { recursive: true }) as string[]) {
      if (!file.endsWith(".ts")) continue;
      const text = fs.readFileSync(path.join(root, file), "utf8");
      for (const m of text.matchAll(/perTransform\["([\w-]+)"\]\??\.(\w+)/g)) reads.add(`${m[1]}.${m[2]}`);
    }
    expect(reads.size).toBeGreaterThan(0);
    for (const read of reads) {
      const [id, key] = read.split(".");
      expect(Object.keys(transformById(id)?.options ?? {}), read).toContain(key);
    }
  });

  test("a config file can turn a transform off", async () => {
    const transformsOf = async (dir: string) =>
      JSON.parse((await dfopt(["--format", "json", "--unsafe", "."], dir)).stdout).files[0].changes.map(
        (c: { transform: string }) => c.transform,
      );
    expect(await transformsOf(tree({ Dockerfile: UNPINNED }))).toContain("pin-tags");
    const dir = tree({ Dockerfile: UNPINNED, "dfopt.config.json": '{"transforms":{"pin-tags":false}}' });
    expect(await transformsOf(dir)).not.toContain("pin-tags");
  });

  describe("safe by default, --unsafe, --verify", () => {
    // Safe: apt-get-update-alone, apt-get-clean-lists, merge-runs. Unsafe: exec-form-cmd, non-root-user.
    const BOTH = "FROM node:20\nRUN apt-get update\nRUN apt-get install -y curl\nCMD node server.js\n";
    const LEFT_OUT = "unsafe change not applied (--unsafe applies it, --verify can prove it)";
    const leftOut = (id: string) =>
      new RegExp(`left alone \\[${id}\\]: ${LEFT_OUT.replace(/[()]/g, "\\$&")}: `);

    test("applies only safe changes and reports each unsafe one as left alone; a second run changes nothing", async () => {
      const dir = tree({ Dockerfile: BOTH });
      const full = JSON.parse((await dfopt(["--unsafe", "--format", "json", "Dockerfile"], dir)).stdout)
        .files[0];
      const kinds = new Set(full.changes.map((c: { applicability: string }) => c.applicability));
      expect([...kinds].sort()).toEqual(["safe", "unsafe"]);

      const r = await dfopt(["--write", "Dockerfile"], dir);
      expect(r.code).toBe(0);
      const written = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
      expect(written).toBe(
        "FROM node:20\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nCMD node server.js\n",
      );
      // A .dockerignore is safe for an image that copies nothing from the context.
      expect(fs.existsSync(path.join(dir, ".dockerignore"))).toBe(true);
      expect(r.stderr).toMatch(leftOut("exec-form-cmd"));
      expect(r.stderr).toMatch(leftOut("non-root-user"));
      expect(r.stderr).toContain(`exec-form-cmd: ${LEFT_OUT}\n`);

      const again = await dfopt(["--check", "--format", "json", "Dockerfile"], dir);
      expect(again.code).toBe(0);
      const entry = JSON.parse(again.stdout).files[0];
      expect(entry.changes).toEqual([]);
      expect(entry.refusals.map((x: { transform: string }) => x.transform)).toEqual(
        expect.arrayContaining(["exec-form-cmd", "non-root-user"]),
      );
      // With --unsafe the unsafe changes are still there to make.
      expect((await dfopt(["--unsafe", "--check", "Dockerfile"], dir)).code).toBe(1);
      expect((await dfopt(["--safe", "--check", "Dockerfile"], dir)).code).toBe(0);
    });

    test('the config\'s "safe": false applies unsafe changes too, --safe overrides it; JSON marks each change', async () => {
      const dir = tree({ Dockerfile: BOTH, "dfopt.config.json": '{"safe":false}' });
      const unsafe = JSON.parse((await dfopt(["--format", "json", "Dockerfile"], dir)).stdout).files[0];
      expect(unsafe.changes.map((c: { applicability: string }) => c.applicability)).toContain("unsafe");
      const r = await dfopt(["--safe", "--format", "json", "--explain", "Dockerfile"], dir);
      const entry = JSON.parse(r.stdout).files[0];
      expect(entry.changes.length).toBeGreaterThan(0);
      for (const c of entry.changes) expect(c.applicability).toBe("safe");
      const held = entry.refusals.filter((x: { reason: string }) => x.reason.startsWith(`${LEFT_OUT}: `));
      expect(held.map((x: { transform: string }) => x.transform)).toEqual([
        "apt-get-no-install-recommends",
        "exec-form-cmd",
        "non-root-user",
        "add-args",
      ]);
      expect(held.find((x: { transform: string }) => x.transform === "non-root-user").line).toBe(1);
      const bad = tree({ Dockerfile: BOTH, "dfopt.config.json": '{"safe":"yes"}' });
      const e = await dfopt(["Dockerfile"], bad);
      expect(e.code).toBe(2);
      expect(e.stderr).toContain("dfopt.config.json: 'safe' must be true or false");
      const both = await dfopt(["--safe", "--unsafe", "Dockerfile"], dir);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("--safe and --unsafe cannot be used together");
    });

    test("--explain names each change's applicability", async () => {
      const dir = tree({ Dockerfile: BOTH });
      const r = await dfopt(["--explain", "--unsafe", "-q", "Dockerfile"], dir);
      expect(r.stdout).toMatch(/^Dockerfile:2: \[apt-get-update-alone, safe\] /m);
      expect(r.stdout).toMatch(
        /^Dockerfile:\d+: \[exec-form-cmd, unsafe\] \(DL3025, JSONArgsRecommended\) /m,
      );
    });
  });

  test("# dfopt ignore-file leaves the file alone", async () => {
    const dir = tree({ Dockerfile: "# dfopt ignore-file\n" + UNPINNED });
    const r = await dfopt(["--check", "."], dir);
    expect(r.code).toBe(0);
  });
});

describe("a diff printed to a terminal", () => {
  // A Dockerfile's own lines can hold escape sequences: on a terminal they could erase the line
  // above (hiding a changed line from the reviewer), set the window title or write the clipboard
  // (OSC 52). git shows a diff through less, which prints them as text; dfopt writes directly.
  const HOSTILE =
    "FROM debian:12\n# \u001b]52;c;ZXZpbA==\u0007 \u001b[1A\u001b[2K\u009b2J bidi\u202e x\n" +
    "RUN apt-get update\nRUN apt-get install curl\n";

  async function run(isTTY: boolean, args: string[]) {
    const dir = tree({ "app/Dockerfile": HOSTILE });
    const out = textSink();
    const err = textSink();
    Object.assign(out.stream, { isTTY });
    const code = await main([...args, "--only", "apt-get-yes,merge-runs", "app"], {
      stdout: out.stream,
      stderr: err.stream,
      cwd: dir,
    });
    return { code, stdout: out.text() };
  }

  test("shows the control characters of the file's lines as escapes, with or without color", async () => {
    for (const args of [["--no-color"], []]) {
      const { code, stdout } = await run(true, args);
      expect(code).toBe(0);
      // only the diff's own color codes (ESC [ digits m) remain
      // eslint-disable-next-line no-control-regex -- the control characters are what it looks for
      const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;
      // eslint-disable-next-line no-control-regex -- ESC starts the color codes it removes
      expect(stdout.replace(/\u001b\[[0-9;]*m/g, "")).not.toMatch(RAW);
      expect(stdout).toContain("# \\x1b]52;c;ZXZpbA==\\x07 \\x1b[1A\\x1b[2K\\x9b2J bidi\\u202e x");
    }
  });

  test("into a pipe or a file it stays the exact patch, which applies", async () => {
    const { stdout } = await run(false, []);
    expect(stdout).toContain("\u001b]52;c;ZXZpbA==\u0007");
    const patched = applyPatch(HOSTILE, stdout.slice(0, stdout.indexOf("--- /dev/null")));
    expect(patched).toContain("apt-get install -y curl");
  });
});
