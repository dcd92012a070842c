import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { dependabotCovers, dependabotUpdates, versionBotsFor } from "../src/io/version-bots.ts";
import { dfopt, tree } from "./cli-run.ts";

describe("dependabot.yml", () => {
  test("updates: ecosystems with directory, block and flow directories, comments and nested lists", () => {
    const text = [
      "version: 2",
      "registries:",
      "  hub:",
      "    type: docker-registry",
      "updates:",
      "  - package-ecosystem: 'npm' # app",
      "    directory: /",
      "    ignore:",
      "      - dependency-name: left-pad",
      "  - directories:",
      "      - /services/*",
      '      - "/tools"',
      '    package-ecosystem: "docker"',
      "  - package-ecosystem: docker",
      '    directories: ["/a", "/b/**"]',
    ].join("\n");
    expect(dependabotUpdates(text)).toEqual([
      { ecosystem: "npm", directories: ["/"] },
      { ecosystem: "docker", directories: ["/services/*", "/tools"] },
      { ecosystem: "docker", directories: ["/a", "/b/**"] },
    ]);
  });

  test("a directory covers that folder only; * one level, ** any depth", () => {
    expect(dependabotCovers("/", "/")).toBe(true);
    expect(dependabotCovers("/", "/app")).toBe(false);
    expect(dependabotCovers("/services/*", "/services/api")).toBe(true);
    expect(dependabotCovers("/services/*", "/services/api/v2")).toBe(false);
    expect(dependabotCovers("/**", "/deep/er")).toBe(true);
    expect(dependabotCovers("/b/**", "/b")).toBe(true);
    expect(dependabotCovers("tools/", "/tools")).toBe(true);
    expect(dependabotCovers("/a/**/b", "/a/b")).toBe(true);
    expect(dependabotCovers("/a/**/b", "/a/x/y/b")).toBe(true);
    expect(dependabotCovers("/a/**/b", "/a/x/b/c")).toBe(false);
    expect(dependabotCovers("/s?rv.*", "/srv.x")).toBe(false);
    expect(dependabotCovers("/s?rv.*", "/serv.x")).toBe(true);
  });

  test("a directory pattern built to backtrack (many ** against a deep folder) is matched in linear time", () => {
    // A repository writes both the pattern (.github/dependabot.yml) and the folders; as a
    // backtracking RegExp, 10 `**` took 25 s against a folder 30 deep, and each more multiplies it.
    const deep = "/" + Array(40).fill("a").join("/");
    expect(dependabotCovers("/" + Array(40).fill("**").join("/") + "/x", deep)).toBe(false);
    expect(dependabotCovers("/" + Array(40).fill("**").join("/") + "/a", deep)).toBe(true);
    expect(dependabotCovers("/" + "*a".repeat(30) + "b", "/" + "a".repeat(60))).toBe(false);
  });
});

describe("a repository's bots seen from a Dockerfile in a sub-folder", () => {
  test("the repository root is the nearest folder with .git; Dependabot keeps FROM literal where it updates docker", async () => {
    const dir = tree({
      ".git/HEAD": "ref: refs/heads/main\n",
      ".github/dependabot.yml":
        'version: 2\nupdates:\n  - package-ecosystem: "docker"\n    directory: "/services/api"\n',
      "services/api/Dockerfile": 'FROM node:20-alpine\nCMD ["node", "a.js"]\n',
      "services/web/Dockerfile": 'FROM node:20-alpine\nCMD ["node", "w.js"]\n',
    });
    expect(versionBotsFor(path.join(dir, "services/api"))).toEqual({
      dependabotDocker: ".github/dependabot.yml",
      renovate: null,
    });
    const r = await dfopt(["--unsafe", "--only", "add-args", "--write", "."], dir);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "services/api/Dockerfile"), "utf8")).toBe(
      'FROM node:20-alpine\nCMD ["node", "a.js"]\n',
    );
    expect(r.stderr).toContain(
      "services/api/Dockerfile:1: left alone [add-args]: Dependabot (.github/dependabot.yml) updates this folder's base images and cannot follow an ARG into FROM (dependabot-core#2057); node stays literal",
    );
    // not a folder Dependabot updates: the ARG is added
    expect(fs.readFileSync(path.join(dir, "services/web/Dockerfile"), "utf8")).toBe(
      'ARG NODE_VERSION=20\nFROM node:${NODE_VERSION}-alpine\nCMD ["node", "w.js"]\n',
    );
  });

  test("Renovate at the root: each new ARG gets the comment Renovate's regex managers read", async () => {
    const dir = tree({
      ".git/HEAD": "ref: refs/heads/main\n",
      ".github/renovate.json": '{ "extends": ["config:recommended"] }\n',
      "app/Dockerfile": 'FROM python:3.12-slim\r\nCMD ["python"]\r\n',
    });
    const r = await dfopt(["--unsafe", "--only", "add-args", "--write", "app"], dir);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "app/Dockerfile"), "utf8")).toBe(
      '# renovate: datasource=docker depName=python\r\nARG PYTHON_VERSION=3.12\r\nFROM python:${PYTHON_VERSION}-slim\r\nCMD ["python"]\r\n',
    );
  });
});
