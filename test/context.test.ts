import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { recordReads } from "../src/engine/context-reads.ts";
import { folderContext } from "../src/io/context.ts";
import { jsonErrorMessage, readRegularFile } from "../src/io/safe-read.ts";
import { addToCopy } from "../transforms/instr/add-to-copy.ts";
import { mergeRuns } from "../transforms/merge-runs.ts";

let dir = "";
beforeAll(loadParsers);
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = "";
});

function folder(files: Record<string, string | Buffer>): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-context-"));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/** A tar header block: name, then `ustar` at byte 257. */
function tarHeader(name: string): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, "utf8");
  block.write("ustar", 257, "latin1");
  return block;
}

describe("folderContext.readStart", () => {
  test("gives the first bytes one character per byte, whatever the encoding", () => {
    const root = folder({ "a.gz": zlib.gzipSync("hello"), "t.tar": tarHeader("ünïcödé/名前.txt") });
    const context = folderContext(root);
    expect(context.readStart("a.gz", 2)).toBe("\x1f\x8b");
    // UTF-8 decoding would shift `ustar` away from byte 257 (multi-byte name).
    expect(context.readStart("t.tar", 512)!.slice(257, 262)).toBe("ustar");
    expect(context.readStart("missing", 4)).toBeUndefined();
    expect(context.readStart(".", 4)).toBeUndefined();
  });
});

describe("add-to-copy over a real folder", () => {
  test("archives stay ADD by their bytes; text files, even past the 2 MB read limit, become COPY", () => {
    const root = folder({
      "payload.bin": zlib.gzipSync("data"),
      "bundle.dat": tarHeader("ünï/名前.txt"),
      "big.txt": "x".repeat(3 * 1024 * 1024),
      "notes.txt": "hello\n",
    });
    const df =
      "FROM alpine\nADD payload.bin /opt/\nADD bundle.dat /opt/\nADD big.txt /opt/\nADD notes.txt /opt/\n";
    const r = optimizeFile(df, folderContext(root), { transforms: [addToCopy] });
    expect(r.output).toBe(
      "FROM alpine\nADD payload.bin /opt/\nADD bundle.dat /opt/\nCOPY big.txt /opt/\nCOPY notes.txt /opt/\n",
    );
  });

  test("a wildcard over a folder of many files reads only their first bytes", () => {
    const files: Record<string, string | Buffer> = {};
    for (let i = 0; i < 50; i++) files[`part${i}.txt`] = `${i}\n`.repeat(1000);
    const root = folder(files);
    const r = optimizeFile("FROM alpine\nADD *.txt /opt/\n", folderContext(root), {
      transforms: [addToCopy],
    });
    expect(r.output).toBe("FROM alpine\nCOPY *.txt /opt/\n");
    fs.writeFileSync(path.join(root, "part7.txt"), zlib.gzipSync("now an archive"));
    const again = optimizeFile("FROM alpine\nADD *.txt /opt/\n", folderContext(root), {
      transforms: [addToCopy],
    });
    expect(again.changed).toBe(false);
  });
});

describe("what depends only on the build context is worked out once per context", () => {
  test("add-to-copy reads each file a wildcard matches once, over every look and every Dockerfile", () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`part${i}.txt`] = "text\n";
    const context = folderContext(folder(files));
    let reads = 0;
    const counting = {
      ...context,
      readStart: (rel: string, bytes: number) => (reads++, context.readStart(rel, bytes)),
    };
    const df = "FROM alpine\nADD *.txt /opt/\nRUN true\nRUN true\n";
    for (let i = 0; i < 3; i++) {
      const r = optimizeFile(df, counting, { transforms: [addToCopy, mergeRuns] });
      expect(r.output).toBe("FROM alpine\nCOPY *.txt /opt/\nRUN true \\\n    && true\n");
    }
    expect(reads).toBe(40);
  });
});

describe("folderContext keeps a bounded amount of file content", () => {
  test("reads past 8 MB are not kept: a later change on disk is seen for them only", () => {
    const files: Record<string, string> = {};
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`);
    for (const n of names) files[n] = "a".repeat(1024 * 1024);
    const root = folder(files);
    const context = folderContext(root);
    for (const n of names) expect(context.readFile(n)).toHaveLength(1024 * 1024);
    for (const n of names) fs.writeFileSync(path.join(root, n), "changed");
    const kept = names.filter((n) => context.readFile(n) !== "changed");
    // The first 8 files (8 MB) are kept, so a run sees one consistent version of them; the rest are re-read.
    expect(kept).toEqual(names.slice(0, 8));
  });
});

describe("folderContext's read keys (for --cache)", () => {
  test("each answer is noted under a key whose digest changes exactly when the answer can", () => {
    const root = folder({ "package.json": "{}", "app.tar": tarHeader("a").toString("latin1") });
    fs.mkdirSync(path.join(root, "src"));
    const context = folderContext(root);
    const { value, reads } = recordReads(() => [
      context.readFile("./package.json"),
      context.readStart("app.tar", 4),
      context.list(""),
      context.isDirectory("src"),
      context.exists("src/missing.ts"),
    ]);
    expect(value).toEqual(["{}", "a\0\0\0", ["app.tar", "package.json", "src"], true, false]);
    // src's existence and type come from the root listing; the missing file from its own stat.
    expect([...reads].sort()).toEqual(["F:package.json", "H:4:app.tar", "L:", "S:src/missing.ts"]);
    const before = [...reads].map((k) => context.readDigest(k));

    fs.writeFileSync(path.join(root, "package.json"), '{"name":"x"}');
    fs.writeFileSync(path.join(root, "src/missing.ts"), "");
    const after = folderContext(root);
    const now = [...reads].map((k) => after.readDigest(k));
    expect(now[0]).not.toBe(before[0]); // package.json's content
    expect(now.slice(1, 3)).toEqual(before.slice(1, 3)); // app.tar's start, the root listing
    expect(now[3]).not.toBe(before[3]); // src/missing.ts exists now
    fs.rmSync(path.join(root, "src"), { recursive: true });
    fs.writeFileSync(path.join(root, "src"), "now a file");
    expect(folderContext(root).readDigest("L:")).not.toBe(before[2]);
    expect(() => folderContext(root).readDigest("Q:x")).toThrow(/unknown context read key/);
  });
});

describe("folderContext never follows a link out of the context", () => {
  test("links out (file, folder, /dev/zero) and FIFOs are there but not read; links inside are followed", () => {
    const root = folder({ "real.json": '{"a":1}' });
    const outsideDir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-outside-"));
    try {
      fs.writeFileSync(path.join(outsideDir, "secret"), "OUTSIDE");
      fs.mkdirSync(path.join(root, "sub"));
      fs.writeFileSync(path.join(root, "sub", "inner.txt"), "inner");
      fs.symlinkSync(path.join(outsideDir, "secret"), path.join(root, "out-file"));
      fs.symlinkSync(outsideDir, path.join(root, "out-dir"));
      fs.symlinkSync("/dev/zero", path.join(root, "zero"));
      fs.symlinkSync("real.json", path.join(root, "in-file"));
      fs.symlinkSync("sub", path.join(root, "in-dir"));
      fs.symlinkSync("../" + path.basename(root) + "/real.json", path.join(root, "roundabout"));
      spawnSync("mkfifo", [path.join(root, "fifo")]);
      const context = folderContext(root);
      for (const name of ["out-file", "out-dir", "zero", "fifo"]) {
        expect(context.exists(name), name).toBe(true);
        expect(context.isDirectory(name), name).toBe(false);
        expect(context.readFile(name), name).toBeUndefined();
        expect(context.readStart(name, 4), name).toBeUndefined();
      }
      // Nothing beyond a link out is in the context.
      expect(context.list("out-dir")).toEqual([]);
      expect(context.exists("out-dir/secret")).toBe(false);
      expect(context.readFile("out-dir/secret")).toBeUndefined();
      expect(context.readFile("../" + path.basename(outsideDir) + "/secret")).toBeUndefined();
      expect(context.readFile("sub/../out-file")).toBeUndefined();
      // Links that stay inside are followed.
      expect(context.readFile("in-file")).toBe('{"a":1}');
      expect(context.readFile("roundabout")).toBe('{"a":1}');
      expect(context.isDirectory("in-dir")).toBe(true);
      expect(context.list("in-dir")).toEqual(["inner.txt"]);
      expect(context.readStart("in-dir/inner.txt", 3)).toBe("inn");
    } finally {
      fs.rmSync(outsideDir, { recursive: true, force: true });
    }
  });
});

describe("folder links inside the context: a walk through them ends", () => {
  /** Every folder a walk by list() and isDirectory() reaches, at most `cap` (a guard, not the answer). */
  const walk = (context: ReturnType<typeof folderContext>, cap = 100_000) => {
    const seen: string[] = [];
    const stack = [""];
    while (stack.length > 0 && seen.length < cap) {
      const d = stack.pop()!;
      seen.push(d);
      for (const name of context.list(d)) {
        const p = d ? `${d}/${name}` : name;
        if (context.isDirectory(p)) stack.push(p);
      }
    }
    return seen;
  };

  test("loops (a link to its own folder or an ancestor, two folders linking each other) and a diamond of links", () => {
    const root = folder({ "main.go": "package main\n" });
    for (const [rel, text] of [
      ["sub/a.txt", "a"],
      ["b/b.txt", "b"],
    ]) {
      fs.mkdirSync(path.dirname(path.join(root, rel)));
      fs.writeFileSync(path.join(root, rel), text);
    }
    fs.symlinkSync(".", path.join(root, "sub", "self"));
    fs.symlinkSync("..", path.join(root, "sub", "up"));
    fs.symlinkSync("../b", path.join(root, "sub", "to-b"));
    fs.symlinkSync("../sub", path.join(root, "b", "to-sub"));
    // d0/{x,y} → d1, d1/{x,y} → d2 …: 2^30 paths without a loop
    for (let i = 0; i < 30; i++) {
      fs.mkdirSync(path.join(root, `d${i}`));
      for (const l of ["x", "y"]) fs.symlinkSync(`../d${i + 1}`, path.join(root, `d${i}`, l));
    }
    fs.mkdirSync(path.join(root, "d30"));
    const context = folderContext(root);
    const folders = walk(context);
    expect(folders.length).toBeLessThan(1000);
    // a folder reached through one link is still read, as Docker's COPY of the named path follows it
    expect(context.isDirectory("sub/to-b")).toBe(true);
    expect(context.list("sub/to-b")).toEqual(["b.txt", "to-sub"]);
    expect(context.readFile("sub/to-b/b.txt")).toBe("b");
    expect(context.readFile("sub/self/a.txt")).toBe("a");
    // through a second folder link, a walk goes no further: the entry is there but is no folder
    expect(context.exists("sub/self/self")).toBe(true);
    expect(context.isDirectory("sub/self/self")).toBe(false);
    expect(context.isDirectory("sub/to-b/to-sub")).toBe(false);
    expect(context.isDirectory("d0/x/y")).toBe(false);
  });
});

describe("readRegularFile", () => {
  test("refuses FIFOs and devices without blocking, large files unread, and links when asked", () => {
    const root = folder({ "a.txt": "hello", "big.bin": "" });
    fs.truncateSync(path.join(root, "big.bin"), 10_000);
    spawnSync("mkfifo", [path.join(root, "fifo")]);
    fs.symlinkSync("a.txt", path.join(root, "link"));
    const refusal = (file: string, opts: Parameters<typeof readRegularFile>[1]) => {
      const r = readRegularFile(path.join(root, file), opts);
      return "failure" in r ? r.failure.refusal : r.bytes.toString();
    };
    expect(refusal("a.txt", { maxBytes: 100 })).toBe("hello");
    expect(refusal("fifo", { maxBytes: 100 })).toBe("not-regular");
    expect(refusal("big.bin", { maxBytes: 100 })).toBe("too-large");
    expect(refusal("link", { maxBytes: 100 })).toBe("hello");
    expect(refusal("link", { maxBytes: 100, noFollow: true })).toBe("symlink");
    expect(refusal("missing", { maxBytes: 100 })).toBe("missing");
    expect(refusal("", { maxBytes: 100 })).toBe("directory");
    const zero = readRegularFile("/dev/zero", { maxBytes: 100 });
    expect("failure" in zero && zero.failure.refusal).toBe("not-regular");
  });

  test("a JSON error never quotes the text (V8's own message does)", () => {
    for (const text of ["SECRET-TEXT here", '{"a": 1,\n  SECRET-TEXT }']) {
      let error: unknown;
      try {
        JSON.parse(text);
      } catch (e) {
        error = e;
      }
      const message = jsonErrorMessage(error, text);
      expect(message).toMatch(/^invalid JSON/);
      expect(message).not.toContain("SECRET");
    }
    let error: unknown;
    try {
      JSON.parse('{"a": 1,\n  x }');
    } catch (e) {
      error = e;
    }
    expect(jsonErrorMessage(error, '{"a": 1,\n  x }')).toBe("invalid JSON at line 2, column 3");
  });
});
