import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import {
  absentFiles,
  loadApps,
  mirrorOf,
  runEnvOf,
  sourcesOf,
  unpack,
  type App,
} from "../scripts/bench-apps/apps.ts";
import { standInGap, unreachableHosts } from "../scripts/bench-apps/network.ts";
import { finalBaseImage, standInFor, withStandIns } from "../scripts/bench-apps/stand-ins.ts";

// the stand-in images scripts/e2e/base-images.sh makes (public tags, as `buildah images` lists them)
const LOCAL = [
  "docker.io/library/node:20",
  "docker.io/library/node:20-slim",
  "docker.io/library/node:18",
  "docker.io/library/node:18-slim",
  "docker.io/library/node:22",
  "docker.io/library/python:3.11",
  "docker.io/library/python:3.11-slim",
  "docker.io/library/python:3.13",
  "docker.io/library/golang:1.19",
  "docker.io/library/golang:1.21",
  "docker.io/library/rust:1.85",
  "docker.io/library/eclipse-temurin:17-jdk",
  "docker.io/library/eclipse-temurin:17-jre",
  "docker.io/library/debian:bookworm",
  "gcr.io/distroless/static-debian12:nonroot",
  "gcr.io/distroless/nodejs20-debian12:latest",
  "gcr.io/distroless/nodejs20-debian12:nonroot",
];

describe("bench:apps stand-ins", () => {
  test("an image present is itself; others take the nearest tag of their family", () => {
    expect(standInFor("node:20", LOCAL)).toBe("node:20");
    expect(standInFor("docker.io/library/node:20-slim", LOCAL)).toBe("node:20-slim");
    expect(standInFor("node:16", LOCAL)).toBe("node:18");
    expect(standInFor("node:12-slim", LOCAL)).toBe("node:18-slim");
    expect(standInFor("node:latest", LOCAL)).toBe("node:22");
    expect(standInFor("node:24-alpine", LOCAL)).toBe("node:22");
    expect(standInFor("python:3.9-slim", LOCAL)).toBe("python:3.11-slim");
    expect(standInFor("python:3.12", LOCAL)).toBe("python:3.11");
    expect(standInFor("golang:1.22-alpine", LOCAL)).toBe("golang:1.21");
    expect(standInFor("maven:3-eclipse-temurin-17-alpine", LOCAL)).toBe("eclipse-temurin:17-jdk");
    expect(standInFor("openjdk:alpine", LOCAL)).toBe("eclipse-temurin:17-jdk");
    expect(standInFor("ubuntu:22.04", LOCAL)).toBe("debian:bookworm");
    expect(standInFor("oven/bun:1", LOCAL)).toBeNull();
    // the distroless Node images name their major in the repository; the tag (the user) must agree
    expect(standInFor("gcr.io/distroless/nodejs22-debian12:nonroot", LOCAL)).toBe(
      "gcr.io/distroless/nodejs20-debian12:nonroot",
    );
    expect(standInFor("gcr.io/distroless/nodejs24-debian12", LOCAL)).toBe(
      "gcr.io/distroless/nodejs20-debian12:latest",
    );
    expect(standInFor("gcr.io/distroless/nodejs22-debian12:debug", LOCAL)).toBeNull();
  });

  test("a Go release before 1.16 keeps GOPATH mode on the module-mode stand-in; later ones build as they are", () => {
    const { text, served } = withStandIns(
      "FROM golang:1.6.0-alpine AS build\nRUN go install\nFROM golang:1.16.5-stretch\nFROM golang:1.19\n",
      LOCAL,
    );
    expect(text).toBe(
      "FROM golang:1.19 AS build\nENV GO111MODULE=auto\nRUN go install\nFROM golang:1.19\nFROM golang:1.19\n",
    );
    expect(served).toEqual([
      { wanted: "golang:1.6.0-alpine", standIn: "golang:1.19 + GO111MODULE=auto" },
      { wanted: "golang:1.16.5-stretch", standIn: "golang:1.19" },
      { wanted: "golang:1.19", standIn: "golang:1.19" },
    ]);
    expect(withStandIns("FROM golang:1.5\r\nRUN go build\r\n", LOCAL).text).toBe(
      "FROM golang:1.19\r\nENV GO111MODULE=auto\r\nRUN go build\r\n",
    );
    expect(standInFor("golang:latest", LOCAL)).toBe("golang:1.21");
  });

  test("every FROM is swapped alike, stage names and scratch are left alone, and each swap is told", () => {
    const { text, served } = withStandIns(
      "FROM node:16 AS build\nRUN make\nFROM build AS test\nFROM scratch\nFROM oven/bun:1\n",
      LOCAL,
    );
    expect(text).toBe("FROM node:18 AS build\nRUN make\nFROM build AS test\nFROM scratch\nFROM oven/bun:1\n");
    expect(served).toEqual([
      { wanted: "node:16", standIn: "node:18" },
      { wanted: "oven/bun:1", standIn: null },
    ]);
  });

  test("the base image of the final stage follows stage names and expands global ARG defaults", () => {
    const split =
      "ARG NODE_VERSION=20\nFROM node:${NODE_VERSION} AS build\nRUN npm ci\n\nFROM node:${NODE_VERSION}-slim\nCMD node\n";
    expect(finalBaseImage(split)).toBe("node:20-slim");
    expect(finalBaseImage("FROM node:20 AS base\nFROM base AS app\nRUN x\nFROM app\n")).toBe("node:20");
    expect(finalBaseImage("FROM golang:1.19 AS build\nFROM scratch\n")).toBe("scratch");
    expect(finalBaseImage("ARG V\nFROM node:${V}-slim\n")).toBeNull();
  });
});

describe("bench:apps list and fetch", () => {
  test("the app list pins every app to a commit and says where it came from", () => {
    const apps = loadApps();
    expect(apps.length).toBeGreaterThanOrEqual(25);
    for (const a of apps) {
      expect(a.repo).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(a.provenance).toContain(a.commit);
    }
    // an app that needs settings to start gets them in every run (--verify-env)
    const guard = apps.find((a) => a.name === "TheodorNEngoy__mcp-guard")!;
    expect(runEnvOf(guard)).toEqual(["UPSTREAM_URL=http://127.0.0.1:9/mcp"]);
    expect(runEnvOf(apps.find((a) => a.name === "creack__sink")!)).toEqual([]);
  });

  test("an app is unpacked from its mirror at the pinned commit, or skipped with a message", () => {
    const mirror = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-bench-mirror-"));
    try {
      // a repository with two commits, as a bare git directory the way the fetch tool leaves it
      const work = path.join(mirror, "work");
      fs.mkdirSync(work);
      const git = (...args: string[]) =>
        execFileSync("git", ["-C", work, "-c", "user.email=t@t", "-c", "user.name=t", ...args], {
          encoding: "utf8",
        });
      git("init", "-q");
      fs.writeFileSync(path.join(work, "Dockerfile"), "FROM node:16\n");
      fs.writeFileSync(path.join(work, "big.pdf"), "a large file the snapshot lacks\n");
      git("add", ".");
      git("commit", "-qm", "one");
      const first = git("rev-parse", "HEAD").trim();
      fs.writeFileSync(path.join(work, "Dockerfile"), "FROM node:20\n");
      git("commit", "-qam", "two");
      execFileSync("git", ["clone", "-q", "--bare", work, path.join(mirror, "acme+shop", "repo")]);
      expect(mirrorOf("acme/shop", mirror)).toBe(path.join(mirror, "acme+shop", "repo"));
      // the fetch tool's snapshots may lack their largest blobs
      const bigBlob = git("rev-parse", `${first}:big.pdf`).trim();
      fs.rmSync(path.join(mirror, "acme+shop", "repo", "objects", bigBlob.slice(0, 2), bigBlob.slice(2)));
      const app: App = {
        name: `acme__shop-${process.pid}`,
        repo: "acme/shop",
        commit: first,
        dockerfile: "Dockerfile",
        context: ".",
        ecosystem: "node",
        provenance: "test",
        note: "",
        run_env: "",
      };
      const out = path.join(mirror, "out");
      expect(unpack(app, mirror, out)).toBeNull();
      expect(fs.readFileSync(path.join(sourcesOf(app, out), "Dockerfile"), "utf8")).toBe("FROM node:16\n");
      expect(fs.existsSync(path.join(sourcesOf(app, out), "big.pdf"))).toBe(false);
      expect(absentFiles(app, out)).toEqual(["big.pdf"]);
      expect(unpack({ ...app, name: "x", repo: "acme/none" }, mirror, out)).toMatch(
        /^no mirror of acme\/none under .* \(bring it with the fetch tool: github:acme\/none\)$/,
      );
      expect(unpack({ ...app, name: "y", commit: "0".repeat(40) }, mirror, out)).toBe(
        `commit ${"0".repeat(40)} is not in the mirror of acme/shop`,
      );
    } finally {
      fs.rmSync(mirror, { recursive: true, force: true });
    }
  });
});

describe("bench:apps: why an original does not build here", () => {
  test("the hosts a build could not reach are named, the reachable registries are not", () => {
    expect(
      unreachableHosts(
        'go: github.com/labstack/echo/v4@v4.9.0: Get "https://proxy.golang.org/github.com/labstack/echo/v4/@v/v4.9.0.mod": dial tcp: lookup proxy.golang.org on 10.255.255.53:53: no such host',
      ),
    ).toEqual(["proxy.golang.org"]);
    expect(
      unreachableHosts(
        "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/flask/\nERROR: Could not find a version that satisfies the requirement flask (from versions: none)\nSee https://pip.pypa.io/warnings/venv",
      ),
    ).toEqual(["pypi.org"]);
    expect(
      unreachableHosts(
        "error: failed to get `serde` as a dependency\nCould not resolve host: index.crates.io",
      ),
    ).toEqual(["crates.io", "index.crates.io"]);
    expect(unreachableHosts('npm error Missing script: "build"')).toBeNull();
    expect(unreachableHosts("npm error getaddrinfo EAI_AGAIN registry.npmjs.org")).toEqual([
      "(a host the log does not name)",
    ]);
  });

  test("a failure that comes from the stand-in, not the app, says which stand-in", () => {
    const served = [{ wanted: "golang:1.16-alpine", standIn: "golang:1.19" }];
    expect(standInGap("/bin/sh: 1: apk: not found", served)).toBe(
      "the stand-in is Debian-based where the original is alpine (apk/busybox tools missing; golang:1.16-alpine → golang:1.19)",
    );
    expect(
      standInGap('exec: "mvn": executable file not found in $PATH', [
        { wanted: "maven:3-jdk-8", standIn: "eclipse-temurin:17-jdk" },
      ]),
    ).toBe("the stand-in has no Maven/Gradle (maven:3-jdk-8 → eclipse-temurin:17-jdk)");
    // Go 1.19 reads neither a three-part go version nor a toolchain line, nor builds newer language
    for (const log of [
      "go: errors parsing go.mod:\n/app/go.mod:3: invalid go version '1.21.0': must match format 1.23",
      "go: errors parsing go.mod:\n/app/go.mod:5: unknown directive: toolchain",
      "./m.go:2:29: cannot range over 3 (untyped int constant)\nnote: module requires Go 1.22",
    ])
      expect(standInGap(log, [{ wanted: "golang:1.21", standIn: "golang:1.19" }])).toBe(
        "the stand-in's Go is older than the one the go.mod asks for (golang:1.21 → golang:1.19)",
      );
    expect(standInGap("/bin/sh: 1: apk: not found", [{ wanted: "node:20", standIn: "node:20" }])).toBeNull();
    expect(standInGap("npm error Missing script", served)).toBeNull();
  });
});
