import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { emptyContext, memoryContext } from "../src/io/context.ts";
import type { BuildContext } from "../src/engine/types.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";

beforeAll(loadParsers);

const PKG_IDS = [
  "apt-to-apt-get",
  "apt-get-yes",
  "apt-get-no-install-recommends",
  "apt-get-clean-lists",
  "apk-no-cache",
  "yum-hygiene",
  "pip-no-cache-dir",
  "npm-ci",
  "npm-cache-clean",
  "curl-flags",
];

function run(text: string, ids: string[] = PKG_IDS, context: BuildContext = emptyContext) {
  const transforms = ids.map((id) => transformById(id)!);
  const result = optimizeFile(text, context, { transforms });
  expect(result.error).toBeNull();
  const again = optimizeFile(result.output, context, { transforms });
  expect(again.output).toBe(result.output);
  expect(again.changes).toEqual([]);
  return result;
}

describe("registration", () => {
  test("every package repair is registered with rationale and rules", () => {
    for (const id of PKG_IDS) {
      const t = TRANSFORMS.find((x) => x.id === id);
      expect(t, id).toBeDefined();
      expect(t!.rationale?.length ?? 0).toBeGreaterThan(80);
    }
    expect(transformById("apt-get-no-install-recommends")!.applicability).toBe("unsafe");
    expect(transformById("apt-get-yes")!.applicability).toBe("safe");
    expect(transformById("apt-get-clean-lists")!.applicability).toBe("safe");
  });
});

describe("all package repairs together", () => {
  test("a typical Debian RUN gets every repair, tagged with peer IDs", () => {
    const r = run("FROM debian:12\nRUN apt update && apt install curl\n");
    expect(r.output).toBe(
      "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*\n",
    );
    const rules = r.changes.flatMap((c) => c.rules);
    for (const id of ["DL3027", "DL3014", "DS-0021", "DL3015", "DS-0029", "DL3009"])
      expect(rules).toContain(id);
  });

  test("a hadolint ignore for one rule stops only that repair", () => {
    const r = run("FROM debian:12\n# hadolint ignore=DL3015\nRUN apt-get update && apt-get install curl\n");
    expect(r.output).toContain("apt-get install -y curl && rm -rf /var/lib/apt/lists/*");
    expect(r.output).not.toContain("--no-install-recommends");
  });

  test("a global hadolint ignore applies to the whole file", () => {
    const r = run("# hadolint global ignore=DL3042\nFROM python:3.12\nRUN pip install flask\n");
    expect(r.changed).toBe(false);
  });
});

describe("shell positions", () => {
  test("commands inside quotes, $( ) and functions are left alone", () => {
    const text =
      'FROM debian:12\nRUN sh -c "apt-get install curl" && echo $(pip install x) && f() { apk add y; }\n';
    expect(run(text).output).toBe(text);
  });

  test("a clean-up is not appended after an exec whose output is redirected (the redirect is exec's own)", () => {
    // tree-sitter hangs `> log 2>&1` on the whole list, which hid the exec at its end.
    const text =
      "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends x && exec x-setup > /var/log/x 2>&1\n";
    expect(run(text, ["apt-get-clean-lists"]).output).toBe(text);
  });

  test("a clean-up is not appended after a background job or exec", () => {
    const text =
      "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends x && sleep 1 &\n";
    expect(run(text, ["apt-get-clean-lists"]).output).toBe(text);
  });

  test("apk update after || is not dropped (it would change what runs)", () => {
    const r = run("FROM alpine:3\nRUN true || apk update && apk add curl\n", ["apk-no-cache"]);
    expect(r.output).toBe("FROM alpine:3\nRUN true || apk update && apk add --no-cache curl\n");
  });

  test("apk update is kept when a later RUN still reads the index", () => {
    const r = run(
      "FROM alpine:3\nRUN apk update && apk add curl\n# dfopt ignore=apk-no-cache\nRUN apk add git\n",
      ["apk-no-cache"],
    );
    expect(r.output).toContain("RUN apk update && apk add --no-cache curl\n");
    expect(r.output).toContain("RUN apk add git\n");
  });

  test("inline comments make a RUN untouchable (Docker joins the lines first)", () => {
    const text = "FROM debian:12\nRUN apt-get install curl # note \\\n    git\n";
    expect(run(text).output).toBe(text);
  });

  test("commands named like Object.prototype's members are ordinary commands", () => {
    const r = run("FROM debian:12\nRUN toString -x && constructor install && apt-get install curl\n");
    expect(r.output).toContain("constructor install && apt-get install -y --no-install-recommends curl");
  });

  test("an inline comment keeps the RUN untouchable after an edit above moves it", () => {
    const runText = "RUN apt-get install curl # note \\\n    git\n";
    const r = run(`FROM debian:12\nMAINTAINER someone\n${runText}`, [...PKG_IDS, "maintainer-to-label"]);
    expect(r.output).toBe(`FROM debian:12\nLABEL org.opencontainers.image.authors="someone"\n${runText}`);
  });

  test("curl: combined short flags are recognised and extended in place", () => {
    const r = run("FROM debian:12\nRUN curl -sSL https://x/i.sh | bash && curl -Ls https://x/a -o a\n", [
      "curl-flags",
    ]);
    expect(r.output).toBe(
      "FROM debian:12\nRUN curl -fsSL https://x/i.sh | bash && curl -fLs https://x/a -o a\n",
    );
  });

  test("curl: a value-taking letter ends the flag cluster (-of is -o f)", () => {
    const r = run("FROM debian:12\nRUN curl -sof https://x/a\n", ["curl-flags"]);
    expect(r.output).toBe("FROM debian:12\nRUN curl -fL -sof https://x/a\n");
  });
});

describe("npm-ci", () => {
  const pkg = JSON.stringify({ name: "a", dependencies: { lodash: "^4.17.21" } });
  const lockV1 = JSON.stringify({
    name: "a",
    lockfileVersion: 1,
    dependencies: { lodash: { version: "4.17.21" } },
  });

  test("follows COPY . . without a WORKDIR (relative to the image's own)", () => {
    const ctx = memoryContext({ "package.json": pkg, "package-lock.json": lockV1 });
    const r = run("FROM node:16\nCOPY . .\nRUN npm install --production\n", ["npm-ci"], ctx);
    expect(r.output).toBe("FROM node:16\nCOPY . .\nRUN npm ci --production\n");
  });

  test("refuses on images whose npm may predate npm ci", () => {
    const ctx = memoryContext({ "package.json": pkg, "package-lock.json": lockV1 });
    const old = run("FROM node:8\nCOPY . .\nRUN npm install\n", ["npm-ci"], ctx);
    expect(old.changed).toBe(false);
    expect(old.refusals[0].reason).toMatch(/node:10\+/);
    const other = run("FROM ubuntu:22.04\nCOPY . .\nRUN npm install\n", ["npm-ci"], ctx);
    expect(other.changed).toBe(false);
  });

  test("refuses an unknown flag and a cd before the install", () => {
    const ctx = memoryContext({ "package.json": pkg, "package-lock.json": lockV1 });
    const flag = run("FROM node:20\nCOPY . .\nRUN npm install --no-package-lock\n", ["npm-ci"], ctx);
    expect(flag.refusals[0].reason).toContain("--no-package-lock");
    const cd = run("FROM node:20\nCOPY . .\nRUN cd sub && npm install\n", ["npm-ci"], ctx);
    expect(cd.refusals[0].reason).toContain("changes directory");
  });

  test("a later COPY of the lock file does not count", () => {
    const ctx = memoryContext({ "package.json": pkg, "package-lock.json": lockV1 });
    const r = run("FROM node:20\nWORKDIR /app\nCOPY package.json .\nRUN npm i\nCOPY . .\n", ["npm-ci"], ctx);
    expect(r.changed).toBe(false);
  });
});

describe("npm-cache-clean", () => {
  test("yarn without a build context is refused, npm in the same RUN still cleaned", () => {
    const r = run("FROM node:20\nRUN npm install -g pm2 && yarn install\n", ["npm-cache-clean"]);
    expect(r.output).toBe(
      "FROM node:20\nRUN npm install -g pm2 && yarn install && npm cache clean --force\n",
    );
    expect(r.refusals.map((x) => x.reason).join()).toContain("Yarn 1 from Yarn 2+");
  });

  test("the final stage's parent stage counts as final image", () => {
    const r = run('FROM node:20 AS base\nRUN npm ci\nFROM base\nCMD ["node"]\n', ["npm-cache-clean"]);
    expect(r.output).toContain("RUN npm ci && npm cache clean --force\n");
  });
});

describe("yum-hygiene", () => {
  test("sudo installs get a sudo clean-up", () => {
    const r = run("FROM centos:7\nRUN sudo yum -q install -y git\n", ["yum-hygiene"]);
    expect(r.output).toBe("FROM centos:7\nRUN sudo yum -q install -y git && sudo yum clean all\n");
  });
});
