import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { dfopt } from "../cli-run.ts";

/**
 * `--resolve` against the real component: Debian's docker-registry (CNCF
 * Distribution 2.8) on a free 127.0.0.1 port, images pushed with buildah
 * under several tags and as a two-platform index; dfopt must write the exact
 * digests the pushes reported.
 */
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = [
  ...["docker-registry", "buildah"].filter((c) => !have(c)),
  ...(process.getuid?.() === 0 ? [] : ["root"]),
];
const why = missing.length
  ? ` (skipped: needs ${missing.join(", ")}; apt-get install docker-registry buildah)`
  : "";
if (missing.length) console.warn(`registry e2e${why}`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-registry-e2e-"));
let registry: ChildProcess | null = null;
let domain = "";
const digests: Record<string, string> = {};
const imageIds: Record<string, string> = {};

function buildah(...args: string[]): string {
  const storage = [
    "--root",
    path.join(work, "root"),
    "--runroot",
    path.join(work, "run"),
    "--storage-driver",
    "vfs",
  ];
  return execFileSync("buildah", [...storage, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** A scratch image holding one file, for one platform. */
function tinyImage(name: string, content: string, arch: string): void {
  const c = buildah("from", "scratch");
  fs.writeFileSync(path.join(work, name), content);
  buildah("copy", c, path.join(work, name), `/${name}`);
  buildah("config", "--arch", arch, "--os", "linux", c);
  imageIds[name] = buildah("commit", "-q", c, `localhost/${name}:latest`);
  buildah("rm", c);
}

function push(image: string, repoTag: string, kind: "image" | "index" = "image"): string {
  const digestFile = path.join(work, "digest");
  const target = `docker://${domain}/${repoTag}`;
  if (kind === "image")
    buildah("push", "-q", "--tls-verify=false", "--digestfile", digestFile, image, target);
  else
    buildah(
      "manifest",
      "push",
      "-q",
      "--all",
      "--tls-verify=false",
      "--digestfile",
      digestFile,
      image,
      target,
    );
  return fs.readFileSync(digestFile, "utf8").trim();
}

describe.skipIf(missing.length > 0)(`--resolve against docker-registry${why}`, () => {
  beforeAll(async () => {
    const port = await freePort();
    domain = `127.0.0.1:${port}`;
    const config = path.join(work, "config.yml");
    fs.writeFileSync(
      config,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(work, "data")}\n` +
        `http:\n  addr: ${domain}\nlog:\n  level: error\n`,
    );
    registry = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
    for (let i = 0; ; i++) {
      const up = await fetch(`http://${domain}/v2/`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 100) throw new Error(`docker-registry did not start on ${domain}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    tinyImage("a", "release 3.1.4\n", "amd64");
    tinyImage("b", "release 4.0.0\n", "amd64");
    tinyImage("c", "release 3.1.4 for arm\n", "arm64");
    // org/tiny: latest, 3, 3.1 and 3.1.4 are image a; 4.0.0 (newer) and 3.1.3 are image b
    for (const tag of ["3", "3.1", "3.1.4", "latest"])
      digests[`tiny:${tag}`] = push("localhost/a", `org/tiny:${tag}`);
    for (const tag of ["4.0.0", "3.1.3"]) digests[`tiny:${tag}`] = push("localhost/b", `org/tiny:${tag}`);
    // org/multi: an index of a (amd64) and c (arm64) under 2, 2.5 and 2.5.1
    buildah("manifest", "create", "localhost/multi");
    buildah("manifest", "add", "localhost/multi", "containers-storage:localhost/a:latest");
    buildah("manifest", "add", "localhost/multi", "containers-storage:localhost/c:latest");
    for (const tag of ["2", "2.5", "2.5.1"])
      digests[`multi:${tag}`] = push("localhost/multi", `org/multi:${tag}`, "index");
    process.env.DFOPT_REGISTRY_CACHE = "off";
  });

  afterAll(() => {
    registry?.kill();
    try {
      buildah("rmi", "--all", "--force");
    } catch {
      // the storage goes with the folder
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("the pushes are what the test assumes: one digest per image, one for the index", () => {
    expect(new Set(["3", "3.1", "3.1.4", "latest"].map((t) => digests[`tiny:${t}`])).size).toBe(1);
    expect(digests["tiny:4.0.0"]).not.toBe(digests["tiny:3.1.4"]);
    expect(new Set(["2", "2.5", "2.5.1"].map((t) => digests[`multi:${t}`])).size).toBe(1);
    expect(digests["multi:2"]).not.toBe(digests["tiny:3.1.4"]);
  });

  test("floating tags get the most specific tag with the same digest and the digest; the index digest for multi-arch", async () => {
    const dir = fs.mkdtempSync(path.join(work, "app-"));
    const file = path.join(dir, "Dockerfile");
    fs.writeFileSync(
      file,
      `FROM ${domain}/org/tiny AS one\n` +
        `FROM ${domain}/org/tiny:latest AS two\n` +
        `FROM ${domain}/org/tiny:3.1 AS three\n` +
        `FROM ${domain}/org/multi:2\n` +
        `FROM ${domain}/org/missing:1 AS four\n` +
        `COPY --from=one /a /one\n`,
    );
    const r = await dfopt(["--resolve", "--only", "pin-tags", "--write", file], dir);
    expect(r.code).toBe(0);
    const tiny = `${domain}/org/tiny:3.1.4@${digests["tiny:3.1.4"]}`;
    expect(fs.readFileSync(file, "utf8")).toBe(
      `FROM ${tiny} AS one\n` +
        `FROM ${tiny} AS two\n` +
        `FROM ${tiny} AS three\n` +
        `FROM ${domain}/org/multi:2.5.1@${digests["multi:2"]}\n` +
        `FROM ${domain}/org/missing:1 AS four\n` +
        `COPY --from=one /a /one\n`,
    );
    expect(r.stderr).toContain(
      `Dockerfile:5: left alone [pin-tags]: registry ${domain}: no tag '1' in org/missing (HTTP 404)`,
    );
    // the pins pull the images that were pushed, for each platform of the index
    expect(buildah("pull", "-q", "--tls-verify=false", "--arch", "amd64", tiny)).toBe(imageIds.a);
    const arm = `${domain}/org/multi:2.5.1@${digests["multi:2"]}`;
    const armId = buildah("pull", "-q", "--tls-verify=false", "--arch", "arm64", arm);
    expect(armId).toBe(imageIds.c);
  });

  test("--resolve-pin tag / digest; an unreachable registry leaves the line alone and names it", async () => {
    const dir = fs.mkdtempSync(path.join(work, "app-"));
    const file = path.join(dir, "Dockerfile");
    const dead = `127.0.0.1:${await freePort()}`;
    fs.writeFileSync(file, `FROM ${domain}/org/tiny:3\nFROM ${dead}/org/tiny:3\n`);
    const tag = await dfopt(["--resolve-pin", "tag", "--only", "pin-tags", file], dir);
    expect(tag.stdout).toContain(`+FROM ${domain}/org/tiny:3.1.4\n`);
    expect(tag.stderr).toContain(
      `Dockerfile:2: left alone [pin-tags]: registry ${dead}: unreachable (ECONNREFUSED)`,
    );
    const digest = await dfopt(["--resolve-pin", "digest", "--only", "pin-tags", file], dir);
    expect(digest.stdout).toContain(`+FROM ${domain}/org/tiny:3@${digests["tiny:3"]}\n`);
  });
});
