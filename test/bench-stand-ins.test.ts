import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { loadApps, mirrorOf, sourcesOf, unpack, type App } from "../scripts/bench-apps/apps.ts";
import { standInFor, withStandIns } from "../scripts/bench-apps/stand-ins.ts";

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
});

describe("bench:apps list and fetch", () => {
  test("the app list pins every app to a commit and says where it came from", () => {
    const apps = loadApps();
    expect(apps.length).toBeGreaterThanOrEqual(25);
    for (const a of apps) {
      expect(a.repo).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(a.provenance).toContain(a.commit);
    }
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
      git("add", ".");
      git("commit", "-qm", "one");
      const first = git("rev-parse", "HEAD").trim();
      fs.writeFileSync(path.join(work, "Dockerfile"), "FROM node:20\n");
      git("commit", "-qam", "two");
      execFileSync("git", ["clone", "-q", "--bare", work, path.join(mirror, "acme+shop", "repo")]);
      expect(mirrorOf("acme/shop", mirror)).toBe(path.join(mirror, "acme+shop", "repo"));
      const app: App = {
        name: `acme__shop-${process.pid}`,
        repo: "acme/shop",
        commit: first,
        dockerfile: "Dockerfile",
        context: ".",
        ecosystem: "node",
        provenance: "test",
        note: "",
      };
      const out = path.join(mirror, "out");
      expect(unpack(app, mirror, out)).toBeNull();
      expect(fs.readFileSync(path.join(sourcesOf(app, out), "Dockerfile"), "utf8")).toBe("FROM node:16\n");
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
