/**
 * dfopt run, as users run it (bin/dfopt.cjs), on repositories built to turn
 * it against its host: links out of the build context, links to /dev/zero,
 * FIFOs where dfopt reads files, huge files. Whatever the repository holds,
 * dfopt must end (the spawn timeout is a guard against a hang, not a speed
 * target), never print what lies outside the repository, exit with the
 * documented code and go on with the rest of the run.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { entryPath } from "../src/io/cache.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/dfopt.cjs");
const built = fs.existsSync(path.join(ROOT, "dist/dfopt.cjs"));
const canMkfifo = spawnSync("mkfifo", ["--version"]).status === 0 && fs.existsSync("/dev/zero");

/** Far longer than any of these runs takes: only a hang reaches it. */
const HANG_GUARD_MS = 60_000;
const SECRET = `HOSTILE-SECRET-${process.pid}`;

let base = "";
let outside = "";

function run(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: "utf8",
    timeout: HANG_GUARD_MS,
    env: { ...process.env, NO_COLOR: "1", DFOPT_COMPILE_CACHE: path.join(base, "compile-cache") },
  });
  // A hang is killed by the guard (signal set); a crash has a signal or an abort message.
  expect(r.error, `dfopt ${args.join(" ")} did not end`).toBeUndefined();
  expect(r.signal).toBeNull();
  const output = r.stdout + r.stderr;
  expect(output).not.toContain(SECRET);
  expect(output).not.toMatch(/bad_alloc|FATAL ERROR|Aborted/);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const json = (stdout: string) =>
  JSON.parse(stdout) as {
    files: {
      path: string;
      changed: boolean;
      refusals: { transform: string; reason: string }[];
      sideFiles: { path: string }[];
      error: { kind: string; message: string } | null;
    }[];
  };

/** A repository folder with `files`; a value `{ link }` is a symbolic link, `{ fifo: true }` a FIFO, `{ sparse }` a huge file. */
type Entry = string | { link: string } | { fifo: true } | { sparse: number };
function repo(name: string, files: Record<string, Entry>): string {
  const dir = path.join(base, name);
  for (const [rel, entry] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof entry === "string") fs.writeFileSync(p, entry);
    else if ("link" in entry) fs.symlinkSync(entry.link, p);
    else if ("fifo" in entry) expect(spawnSync("mkfifo", [p]).status).toBe(0);
    else {
      fs.writeFileSync(p, "");
      fs.truncateSync(p, entry.sparse);
    }
  }
  return dir;
}

const NODE_APP =
  'FROM node:20\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\nCOPY . .\nCMD ["node", "index.js"]\n';
const PY_APP =
  'FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt ./\nRUN pip install -r requirements.txt\nCOPY . .\nCMD ["python", "app.py"]\n';

describe.skipIf(!built || !canMkfifo)(
  "a hostile repository (bin/dfopt.cjs; run `node scripts/build.mjs` first)",
  () => {
    beforeAll(() => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-hostile-"));
      outside = path.join(base, "outside");
      fs.mkdirSync(outside);
      // Not JSON: a parser's error message would quote its first characters.
      fs.writeFileSync(path.join(outside, "secret.txt"), `${SECRET} dotenv\n`);
      fs.writeFileSync(
        path.join(outside, "package.json"),
        `{"dependencies":{"dotenv":"1"},"note":"${SECRET}"}`,
      );
      fs.mkdirSync(path.join(outside, "dir"));
      fs.writeFileSync(path.join(outside, "dir", "index.js"), SECRET);
    });
    afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

    test("files linked out of the context are not read, quoted or replaced", () => {
      const secret = path.join(outside, "secret.txt");
      const dir = repo("escape", {
        Dockerfile: NODE_APP,
        "package.json": { link: secret },
        ".dockerignore": { link: secret },
        "go.mod": { link: secret },
        "requirements.txt": { link: path.join(outside, "package.json") },
        src: { link: path.join(outside, "dir") },
      });
      const r = run(["--format", "json", "--write", "."], dir);
      expect(r.code).toBe(0);
      const [file] = json(r.stdout).files;
      expect(file.error).toBeNull();
      expect(file.sideFiles).toEqual([]);
      expect(file.refusals).toContainEqual(
        expect.objectContaining({
          transform: "dockerignore",
          reason: expect.stringMatching(/does not read it/),
        }),
      );
      // --write left the link and its target alone.
      expect(fs.lstatSync(path.join(dir, ".dockerignore")).isSymbolicLink()).toBe(true);
      expect(fs.readFileSync(secret, "utf8")).toBe(`${SECRET} dotenv\n`);
    });

    test("a link inside the context to a file inside it is followed", () => {
      // The linked package.json loads .env files itself (dotenv): the proposed .dockerignore keeps .env.
      const inside = repo("inside-link", {
        Dockerfile: NODE_APP,
        "config/package.json": '{"dependencies":{"dotenv":"16"}}',
        "package.json": { link: "config/package.json" },
      });
      const out = repo("outside-link", {
        Dockerfile: NODE_APP,
        "package.json": { link: path.join(outside, "package.json") },
      });
      const created = (dir: string) => {
        const r = run(["--unsafe", "--only", "dockerignore", "."], dir);
        expect(r.code).toBe(0);
        return r.stdout.split("\n").filter((l) => l.startsWith("+") && !l.startsWith("+++"));
      };
      expect(created(inside)).not.toContain("+.env");
      // The same file reached through a link out of the context is not read: .env is ignored as usual.
      expect(created(out)).toContain("+.env");
    });

    test("a dfopt.config.json linked out of the repository is an error naming it, without its content", () => {
      const dir = repo("config-escape", {
        Dockerfile: NODE_APP,
        "dfopt.config.json": { link: path.join(outside, "secret.txt") },
      });
      const r = run(["."], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/dfopt\.config\.json: cannot read config: is a symbolic link out of/);
    });

    test("--follow-symlinks: a Dockerfile linked to a file outside the repository is an error that quotes none of it", () => {
      // A credentials file's first line (`https://user:token@host`) is no instruction: the error
      // must say so without echoing it into logs, SARIF or the report.
      const dir = repo("dockerfile-escape", {
        ".git/HEAD": "ref: refs/heads/main\n",
        "svc/Dockerfile": { link: path.join(outside, "secret.txt") },
      });
      for (const format of ["diff", "json", "sarif"]) {
        const r = run(["--follow-symlinks", "--format", format, "."], dir);
        expect(r.code).toBe(2);
        if (format === "json") {
          expect(json(r.stdout).files[0].error).toEqual({
            kind: "unknown-instruction",
            message: "unknown instruction: the line does not start with an instruction keyword",
            line: 1,
          });
        }
      }
    });

    test("links to /dev/zero end in neither a crash nor a hang", () => {
      const dir = repo("devzero", {
        Dockerfile: PY_APP,
        "package.json": { link: "/dev/zero" },
        "requirements.txt": { link: "/dev/zero" },
        ".dockerignore": { link: "/dev/zero" },
        ".gitignore": { link: "/dev/zero" },
        "app.py": { link: "/dev/zero" },
      });
      const r = run(["--format", "json", "."], dir);
      expect(r.code).toBe(0);
      expect(json(r.stdout).files[0].error).toBeNull();
      // The Dockerfile itself: an error naming it, and the other files are processed.
      repo("devzero-dockerfile", { Dockerfile: { link: "/dev/zero" }, "ok/Dockerfile": PY_APP });
      const d = run(["--follow-symlinks", "--format", "json", "devzero-dockerfile"], base);
      expect(d.code).toBe(2);
      const files = json(d.stdout).files;
      expect(files.find((f) => f.path === "devzero-dockerfile/Dockerfile")?.error?.message).toMatch(
        /not a regular file/,
      );
      expect(files.find((f) => f.path === "devzero-dockerfile/ok/Dockerfile")?.changed).toBe(true);
    });

    test("FIFOs as package.json, .gitignore, .dockerignore and in the context never block", () => {
      const dir = repo("fifos", {
        Dockerfile: NODE_APP,
        "package.json": { fifo: true },
        ".gitignore": { fifo: true },
        ".dockerignore": { fifo: true },
        "index.js": { fifo: true },
      });
      const r = run(["--format", "json", "."], dir);
      expect(r.code).toBe(0);
      const [file] = json(r.stdout).files;
      expect(file.error).toBeNull();
      expect(file.refusals).toContainEqual(
        expect.objectContaining({
          transform: "dockerignore",
          reason: expect.stringMatching(/does not read it/),
        }),
      );
      // A .gitignore above the input, up to the repository root, is read too.
      const above = repo("fifo-gitignore-above", {
        ".git/HEAD": "",
        ".gitignore": { fifo: true },
        "app/Dockerfile": PY_APP,
      });
      expect(run(["app"], above).code).toBe(0);
    });

    test("a FIFO as dfopt.config.json or as the Dockerfile is an error naming it; the run goes on", () => {
      repo("fifo-config", { Dockerfile: NODE_APP, "dfopt.config.json": { fifo: true } });
      repo("fifo-dockerfile", { Dockerfile: { fifo: true } });
      repo("plain", { Dockerfile: PY_APP });
      const r = run(["fifo-config", "fifo-dockerfile/Dockerfile", "plain"], base);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/fifo-config\/dfopt\.config\.json: cannot read config: not a regular file/);
      expect(r.stderr).toMatch(/fifo-dockerfile\/Dockerfile: error: not a regular file/);
      expect(r.stdout).toContain("+++ b/plain/Dockerfile");
      // Found by a folder search, a FIFO named Dockerfile is reported too, not skipped in silence.
      const found = run(["fifo-dockerfile"], base);
      expect(found.code).toBe(2);
      expect(found.stderr).toMatch(/fifo-dockerfile\/Dockerfile: error: not a regular file/);
    });

    test("huge files are not read", () => {
      const GIB = 1024 * 1024 * 1024;
      const dir = repo("huge", {
        Dockerfile: NODE_APP,
        "package.json": { sparse: 3 * GIB },
        ".gitignore": { sparse: 3 * GIB },
        ".dockerignore": { sparse: 3 * GIB },
        "big/Dockerfile": { sparse: 3 * GIB },
      });
      const r = run(["--format", "json", "."], dir);
      expect(r.code).toBe(2);
      const files = json(r.stdout).files;
      expect(files.find((f) => f.path === "Dockerfile")?.error).toBeNull();
      expect(files.find((f) => f.path === "big/Dockerfile")?.error).toEqual({
        kind: "too-large",
        message: expect.stringMatching(/larger than/),
        line: null,
      });
    });

    test("a Dockerfile of 100,000 instructions (under 1 MiB) is an error naming it, not minutes of work", () => {
      // Real Dockerfiles have at most a few hundred instructions; a transform that looks at the
      // rest of its stage for each instruction is quadratic in a file made of nothing else.
      const dir = repo("many-instructions", {
        "runs/Dockerfile": "FROM alpine:3.20\n" + "RUN a\n".repeat(100_000),
        "maintainers/Dockerfile": "FROM alpine:3.20\n" + "MAINTAINER a\n".repeat(50_000),
        "ok/Dockerfile": "FROM alpine:3.20\nRUN a\nRUN b\n",
      });
      const r = run(["--format", "json", "."], dir);
      expect(r.code).toBe(2);
      const files = json(r.stdout).files;
      for (const name of ["runs/Dockerfile", "maintainers/Dockerfile"]) {
        expect(files.find((f) => f.path === name)?.error).toEqual({
          kind: "too-large",
          message: "file has more than 5000 instructions",
          line: null,
        });
      }
      expect(files.find((f) => f.path === "ok/Dockerfile")?.changed).toBe(true);
      fs.rmSync(dir, { recursive: true }); // its diffs would swamp the bulk run's output below
    });

    test("Dockerfiles of 5000 instructions built to be slow end (a FROM chain 5000 stages deep, 1500 WORKDIRs each before an npm install)", () => {
      const chain = Array.from({ length: 5000 }, (_, i) => `FROM s${i - 1} AS s${i}\n`).join("");
      const workdirs = "FROM node:20\n" + "WORKDIR sub\nRUN cd x && npm install\n".repeat(1500);
      const dir = repo("slow-instructions", { "chain/Dockerfile": chain, "workdirs/Dockerfile": workdirs });
      const r = run(["--unsafe", "--format", "json", "."], dir);
      expect(r.code).toBe(0);
      const files = json(r.stdout).files;
      expect(files.map((f) => [f.path, f.error])).toEqual([
        ["chain/Dockerfile", null],
        ["workdirs/Dockerfile", null],
      ]);
      // 1500 nested relative WORKDIRs made absolute would write 4.5 MB: dropped, as a next run could not read it.
      expect(files[1].refusals).toContainEqual(
        expect.objectContaining({
          transform: "workdir-absolute",
          reason: "rewrite dropped: its result failed the check: it would be larger than 1048576 bytes",
        }),
      );
      fs.rmSync(dir, { recursive: true }); // its diffs would swamp the bulk run's output below
    });

    test("shell nested 20,000 deep is an error saying so, not an internal error that asks for a report", () => {
      const dir = repo("deep-shell", {
        "subst/Dockerfile":
          "FROM alpine:3.20\nRUN echo " + "$(".repeat(20_000) + "x" + ")".repeat(20_000) + "\n",
        "groups/Dockerfile":
          "FROM alpine:3.20\nRUN " + "(".repeat(50_000) + "true" + ")".repeat(50_000) + "\n",
      });
      const r = run(["--format", "json", "."], dir);
      expect(r.code).toBe(2);
      for (const f of json(r.stdout).files) {
        expect(f.error, f.path).toEqual({
          kind: "too-deep",
          message: "nested too deeply to read (the parser ran out of stack); file left unchanged",
          line: null,
        });
      }
    });

    test("wildcards built to backtrack (.dockerignore and COPY/ADD against long names) end", () => {
      // JavaScript's backtracking regular expressions take time exponential in the stars of such
      // patterns; Docker's Go matcher is linear. Only a hang reaches the guard.
      const long = "a".repeat(250);
      const deep = Array.from({ length: 30 }, () => "a").join("/");
      const stars = "a*".repeat(12) + "b";
      const dir = repo("redos", {
        ".dockerignore": `${stars}\n**/**/**/**/**/**/**/**/**/**/${stars}\n!${"?*".repeat(12)}b\n`,
        Dockerfile:
          `FROM golang:1.22\nWORKDIR /src\nCOPY ${"a".repeat(3000)} /src/\nADD ${stars} /src/\n` +
          'COPY . .\nRUN CGO_ENABLED=0 go build -o /bin/api .\nCMD ["/bin/api"]\n',
        "go.mod": "module example.com/api\n\ngo 1.22\n",
        "main.go": "package main\n\nfunc main() {}\n",
        [long]: "",
        [`${deep}/${long}`]: "",
        [`config/${long}.toml`]: "",
      });
      const r = run(["--unsafe", "--format", "json", "."], dir);
      expect(r.code).toBe(0);
      expect(json(r.stdout).files[0].error).toBeNull();
    });

    test("folder links that loop or branch (x -> ., y -> ..) end in neither a crash nor a hang", () => {
      // Planners walk the context (Go sources, runtime files): two links to `.` made 2^depth paths.
      const dir = repo("link-loops", {
        Dockerfile:
          'FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /bin/api .\nCMD ["/bin/api"]\n',
        "go.mod": "module example.com/api\n\ngo 1.22\n",
        "main.go": "package main\n\nfunc main() {}\n",
        "sub/x": { link: "." },
        "sub/y": { link: "." },
        "sub/up": { link: ".." },
        "config/a": { link: "../config" },
        "config/b": { link: "../sub" },
      });
      const r = run(["--unsafe", "--format", "json", "."], dir);
      expect(r.code).toBe(0);
      expect(json(r.stdout).files[0].error).toBeNull();
    });

    test("package.json keys named after members of Object.prototype are plain names", () => {
      // `npm run constructor` must not find Object.prototype.constructor as the script's text.
      const pkg = JSON.stringify({
        name: "x",
        version: "1.0.0",
        scripts: { build: "tsc", ["__proto__"]: { polluted: "yes" }, toString: "node x.js" },
        dependencies: { constructor: "1.0.0" },
        devDependencies: { typescript: "5" },
      }); // a computed key: an own "__proto__" key in the JSON
      const app = (script: string) =>
        repo(`proto-${script.replace(/_/g, "")}`, {
          Dockerfile:
            "FROM node:20\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm install\n" +
            `COPY . .\nRUN npm run build\nCMD ["npm", "run", "${script}"]\n`,
          "package.json": pkg,
          // lockfile v1 without the dependency: npm ci would fail, so npm install is kept
          "package-lock.json": '{"name":"x","lockfileVersion":1,"dependencies":{}}',
        });
      for (const script of ["constructor", "__proto__", "hasOwnProperty"]) {
        const r = run(["--unsafe", "--format", "json", "."], app(script));
        expect(r.code, script).toBe(0);
        const [file] = json(r.stdout).files;
        expect(file.error, script).toBeNull();
        expect(file.refusals, script).toContainEqual(
          expect.objectContaining({
            transform: "npm-ci",
            reason: expect.stringMatching(/does not list every/),
          }),
        );
      }
    });

    test("SARIF: a folder named ..\\..\\etc is one folder in the URI, not a way out of SRCROOT", () => {
      // On Linux a backslash is a character of a name; SARIF URIs split only at '/'.
      repo("..\\..\\etc", { Dockerfile: "FROM ubuntu:22.04\nRUN apt-get install curl\n" });
      const r = run(["--format", "sarif", "..\\..\\etc"], base);
      const log = JSON.parse(r.stdout) as {
        runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[];
      };
      const uris = log.runs[0].results.map((x) => x.locations[0].physicalLocation.artifactLocation.uri);
      expect(uris).toContain("..%5C..%5Cetc/Dockerfile");
      expect(uris.filter((u) => u.includes("../"))).toEqual([]);
      fs.rmSync(path.join(base, "..\\..\\etc"), { recursive: true });
    });

    test("names with control characters are printed escaped, never raw to the terminal", () => {
      // every control character but the newline ending each line, and the bidi overrides
      // eslint-disable-next-line no-control-regex -- the control characters are what it looks for
      const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
      const evil = "evil\u001b]0;pwned\u0007\u001b[2J\nX\u202e";
      repo(evil, { Dockerfile: "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\n" });
      for (const args of [[], ["--check"], ["--explain"], ["--write"]]) {
        const r = run([...args, evil], base);
        expect(r.stdout + r.stderr, args.join(" ")).not.toMatch(RAW_CONTROL);
        expect(r.stdout + r.stderr, args.join(" ")).toContain(
          "evil\\x1b]0;pwned\\x07\\x1b[2J\\x0aX\\u202e/Dockerfile",
        );
      }
    });

    test("a bulk run in worker threads over all of them ends, and reports every good file", () => {
      const r = run(["--jobs", "2", "--format", "json", "."], base);
      expect(r.code).toBe(2);
      const files = json(r.stdout).files;
      expect(files.find((f) => f.path === "plain/Dockerfile")?.changed).toBe(true);
      expect(files.filter((f) => f.error).map((f) => f.path)).toEqual(
        expect.arrayContaining([
          "config-escape/Dockerfile",
          "fifo-config/Dockerfile",
          "fifo-dockerfile/Dockerfile",
        ]),
      );
    });

    test("--cache: a rerun checks its context reads without following links out, and a planted entry is not read", () => {
      const dir = path.join(base, "escape");
      const first = run(["--cache", "--format", "json", "."], dir);
      const second = run(["--cache", "--format", "json", "."], dir);
      expect(second.stdout).toBe(first.stdout);
      // A FIFO where the next run looks for an entry (the cache folder may be in the repository).
      const entry = entryPath(path.join(dir, "node_modules/.cache/dfopt"), path.join(dir, "Dockerfile"));
      fs.rmSync(entry);
      expect(spawnSync("mkfifo", [entry]).status).toBe(0);
      expect(run(["--cache", "--format", "json", "."], dir).stdout).toBe(first.stdout);
    });
  },
);
