import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import {
  formatReference,
  parseImageReference,
  shortImageName,
  splitDomain,
} from "../src/engine/image-ref.ts";
import { loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { DEFAULT_OPTIONS, type ResolvedImage } from "../src/engine/types.ts";
import { emptyContext, memoryContext } from "../src/io/context.ts";
import { dryRunSettings } from "../src/io/process.ts";
import { candidateTags, dockerCredentials, parseChallenge, resolveImage } from "../src/io/registry.ts";
import { resolveRegistryImages } from "../src/io/resolve.ts";
import { pinTags } from "../transforms/pin-tags.ts";
import { dfopt, tree } from "./cli-run.ts";

beforeAll(loadParsers);

describe("image references", () => {
  test("Docker's normalisation: docker.io/library for one-part Hub names, a registry only with . : or localhost", () => {
    expect(parseImageReference("node")).toEqual({
      domain: "docker.io",
      path: "library/node",
      tag: null,
      digest: null,
    });
    expect(parseImageReference("index.docker.io/someorg/tool:1.2")).toEqual({
      domain: "docker.io",
      path: "someorg/tool",
      tag: "1.2",
      digest: null,
    });
    expect(splitDomain("localhost/app")).toEqual({ domain: "localhost", path: "app" });
    expect(splitDomain("127.0.0.1:5000/org/app")).toEqual({ domain: "127.0.0.1:5000", path: "org/app" });
    expect(splitDomain("someorg/tool")).toEqual({ domain: "docker.io", path: "someorg/tool" });
    const withDigest = parseImageReference(`ghcr.io/o/r:v1@sha256:${"a".repeat(64)}`);
    expect(withDigest).toMatchObject({
      domain: "ghcr.io",
      path: "o/r",
      tag: "v1",
      digest: `sha256:${"a".repeat(64)}`,
    });
    expect(formatReference(parseImageReference("python:3.12")!)).toBe("docker.io/library/python:3.12");
  });

  test("invalid references are refused, not guessed", () => {
    expect(parseImageReference("Node:20")).toBeNull(); // upper case in a Hub path
    expect(parseImageReference("node:${V}")).toBeNull();
    expect(parseImageReference("")).toBeNull();
  });

  test("the short catalog name strips Docker Hub's prefixes only", () => {
    expect(shortImageName("registry-1.docker.io/library/node")).toBe("node");
    expect(shortImageName("bitnami/redis")).toBe("bitnami/redis");
    expect(shortImageName("mcr.microsoft.com/dotnet/sdk")).toBe("mcr.microsoft.com/dotnet/sdk");
  });
});

describe("candidate tags", () => {
  const tags = [
    "20",
    "20.19",
    "20.19.4",
    "20.19.5",
    "20.19.5-alpine",
    "21.0.0",
    "20.2.0",
    "latest",
    "20.19.5-rc1",
  ];
  test("a partial version: the more specific versions with the same variant, newest and most specific first", () => {
    expect(candidateTags("20", tags)).toEqual(["20.19.5", "20.19.4", "20.19", "20.2.0"]);
    expect(candidateTags("20-alpine", tags)).toEqual(["20.19.5-alpine"]);
    expect(candidateTags("20.19", tags)).toEqual(["20.19.5", "20.19.4"]);
  });
  test("latest (or no tag): every plain version tag, newest first", () => {
    expect(candidateTags(null, tags).slice(0, 3)).toEqual(["21.0.0", "20.19.5", "20.19.4"]);
  });
});

test("WWW-Authenticate challenges are read with quoted and bare values", () => {
  expect(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"',
    ),
  ).toEqual({
    scheme: "bearer",
    params: {
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/node:pull",
    },
  });
  expect(parseChallenge('Basic realm="Registry"').scheme).toBe("basic");
});

/**
 * A registry that behaves like Docker Hub: every /v2 request needs a bearer
 * token from its token service, which wants the user's basic credentials;
 * tag lists come in pages of two, linked with `Link: <…>; rel="next"`.
 */
function tokenRegistry(options: { user: string; password: string; auth: "bearer" | "basic" }) {
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [],
  });
  const other = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [1],
  });
  const digestOf = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
  const manifests: Record<string, string> = {
    "1": index,
    "1.4": index,
    "1.4.2": index,
    "1.4.1": other,
    "1.3.9": other,
    latest: index,
  };
  const token = "t0k3n";
  const basic = `Basic ${Buffer.from(`${options.user}:${options.password}`).toString("base64")}`;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    const seen = () => requests.push(`${req.method} ${url.pathname}${url.search}`);
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (url.pathname === "/token") {
      seen();
      if (
        req.headers.authorization !== basic ||
        url.searchParams.get("scope") !== "repository:org/app:pull"
      ) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token }));
      return;
    }
    const wanted = options.auth === "bearer" ? `Bearer ${token}` : basic;
    if (req.headers.authorization !== wanted) {
      const challenge =
        options.auth === "bearer"
          ? `Bearer realm="${origin}/token",service="test-registry",scope="repository:org/app:pull"`
          : 'Basic realm="test"';
      res.writeHead(401, { "www-authenticate": challenge }).end();
      return;
    }
    seen(); // requests that got past authentication
    const m = /^\/v2\/org\/app\/manifests\/(.+)$/.exec(url.pathname);
    if (m) {
      const body = manifests[decodeURIComponent(m[1])];
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        "docker-content-digest": digestOf(body),
        "content-type": JSON.parse(body).mediaType,
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    if (url.pathname === "/v2/org/app/tags/list") {
      const all = Object.keys(manifests);
      const from = Number(url.searchParams.get("last") ?? 0);
      const page = all.slice(from, from + 2);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (from + 2 < all.length) headers.link = `</v2/org/app/tags/list?n=2&last=${from + 2}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name: "org/app", tags: page }));
      return;
    }
    res.writeHead(404).end();
  });
  return {
    requests,
    indexDigest: digestOf(index),
    start: () =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)),
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A docker config folder with `docker login` credentials for `domain`. */
function dockerConfig(domain: string, user: string, password: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-docker-config-"));
  const auth = Buffer.from(`${user}:${password}`).toString("base64");
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ auths: { [domain]: { auth } } }));
  return dir;
}

describe("registry client against a token-auth registry", () => {
  const registry = tokenRegistry({ user: "ci", password: "s3cret", auth: "bearer" });
  let domain = "";
  beforeAll(async () => {
    domain = await registry.start();
  });
  afterAll(() => registry.stop());
  afterEach(() => vi.unstubAllEnvs());

  test("credentials come from config.json's auths (auth, or username and password)", async () => {
    const dir = dockerConfig(domain, "ci", "s3cret");
    expect(await dockerCredentials(domain, dir)).toBe("ci:s3cret");
    expect(await dockerCredentials("other.example", dir)).toBeNull();
    fs.writeFileSync(
      path.join(dir, "config.json"),
      JSON.stringify({ auths: { "https://index.docker.io/v1/": { username: "u", password: "p" } } }),
    );
    expect(await dockerCredentials("docker.io", dir)).toBe("u:p");
  });

  /**
   * Fake `docker-credential-<name>` programs on PATH, as docker runs them:
   * `get` with the server address on stdin, which each records.
   */
  function fakeHelpers(): { bin: string; asked: (name: string) => string } {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-cred-helpers-"));
    const helper = (name: string, body: string) => {
      const file = path.join(bin, `docker-credential-${name}`);
      fs.writeFileSync(
        file,
        `#!/bin/sh\n[ "$1" = get ] || exit 9\nread server\nprintf %s "$server" > "$0.asked"\n${body}\n`,
      );
      fs.chmodSync(file, 0o755);
    };
    helper(
      "store",
      `if [ "$server" = "${domain}" ]; then echo '{"ServerURL":"${domain}","Username":"ci","Secret":"s3cret"}'; ` +
        `else echo "credentials not found in native keychain"; exit 1; fi`,
    );
    helper("broken", `echo '{"Username":"ci","Secret":"s3cret"}'; echo "keychain locked" >&2; exit 3`);
    helper("slow", "sleep 5");
    helper("token", `echo '{"Username":"<token>","Secret":"refresh"}'`);
    vi.stubEnv("PATH", `${bin}${path.delimiter}${process.env.PATH ?? ""}`);
    return {
      bin,
      asked: (name) => fs.readFileSync(path.join(bin, `docker-credential-${name}.asked`), "utf8"),
    };
  }

  const configWith = (config: object) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-docker-config-"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    return dir;
  };

  test("credsStore and credHelpers: docker-credential-<name> get, with the registry on stdin", async () => {
    const helpers = fakeHelpers();
    const store = configWith({ auths: { [domain]: {} }, credsStore: "store" });
    expect(await dockerCredentials(domain, store)).toBe("ci:s3cret");
    expect(helpers.asked("store")).toBe(domain);
    // a registry the store holds nothing for: no credentials, not an error
    expect(await dockerCredentials("other.example", store)).toBeNull();
    // Docker Hub is asked for under docker login's server address
    await dockerCredentials("docker.io", store);
    expect(helpers.asked("store")).toBe("https://index.docker.io/v1/");
    // the registry's own helper comes before the store
    const own = configWith({ credsStore: "broken", credHelpers: { [domain]: "store" } });
    expect(await dockerCredentials(domain, own)).toBe("ci:s3cret");
    // the token flow takes the helper's answer
    const answer = await resolveImage({ domain, path: "org/app", tag: "1" }, { dockerConfigDir: store });
    expect(answer).toEqual({ digest: registry.indexDigest, tag: "1.4.2" });
    registry.requests.length = 0; // the next tests count their own requests
  });

  test("a failing, missing or slow helper: a refusal naming the registry and the helper, never the secret", async () => {
    fakeHelpers();
    const refusal = async (config: object, timeoutMs?: number) =>
      resolveImage(
        { domain, path: "org/app", tag: "1" },
        { dockerConfigDir: configWith(config), ...(timeoutMs ? { timeoutMs } : {}) },
      );
    const broken = await refusal({ credsStore: "broken" });
    expect(broken).toEqual({
      refuse: `registry ${domain}: credential helper docker-credential-broken: exited with status 3`,
    });
    expect(JSON.stringify(broken)).not.toContain("s3cret");
    expect(await refusal({ credHelpers: { [domain]: "absent" } })).toEqual({
      refuse: `registry ${domain}: credential helper docker-credential-absent: not found on PATH`,
    });
    expect(await refusal({ credsStore: "../../bin/sh" })).toEqual({
      refuse: `registry ${domain}: credential helper name '../../bin/sh' in docker's config.json is not valid`,
    });
    expect(await refusal({ credsStore: "token" })).toEqual({
      refuse: `registry ${domain}: credential helper docker-credential-token: gave an identity token (OAuth refresh token), which dfopt does not exchange`,
    });
    expect(await refusal({ credsStore: "slow" }, 300)).toEqual({
      refuse: `registry ${domain}: credential helper docker-credential-slow: no answer within 0.3 s`,
    });
  });

  test("token flow with config.json credentials: the most specific tag with the floating tag's digest", async () => {
    const dockerConfigDir = dockerConfig(domain, "ci", "s3cret");
    const answer = await resolveImage({ domain, path: "org/app", tag: "1" }, { dockerConfigDir });
    // 1.4.2 has the same index as 1; 1.4.1 is another image
    expect(answer).toEqual({ digest: registry.indexDigest, tag: "1.4.2" });
    expect(registry.requests.filter((r) => r.startsWith("GET /token")).length).toBe(1);
    expect(registry.requests).toContain("GET /v2/org/app/tags/list?n=2&last=4");
  });

  test("wrong credentials, a missing tag: a refusal naming the registry and why", async () => {
    const wrong = dockerConfig(domain, "ci", "nope");
    expect(await resolveImage({ domain, path: "org/app", tag: "1" }, { dockerConfigDir: wrong })).toEqual({
      refuse: `registry ${domain}: token service ${domain} answered HTTP 401`,
    });
    const right = dockerConfig(domain, "ci", "s3cret");
    expect(await resolveImage({ domain, path: "org/app", tag: "7" }, { dockerConfigDir: right })).toEqual({
      refuse: `registry ${domain}: no tag '7' in org/app (HTTP 404)`,
    });
  });

  test("a bulk run asks each image once, and the next run none (disk cache)", async () => {
    const dir = tree({
      "a/Dockerfile": `FROM ${domain}/org/app:1\n`,
      "b/Dockerfile": `FROM ${domain}/org/app:1 AS build\nFROM ${domain}/org/app:1\n`,
      "c/Dockerfile": `FROM ${domain}/org/app:1.4.2\n`, // exact: nothing to ask
    });
    const files = ["a", "b", "c"].map((d) => path.join(dir, d, "Dockerfile"));
    const cacheFile = path.join(dir, "registry.json");
    const settings = dryRunSettings(dir, { cliOptions: { resolve: "both" } });
    const dockerConfigDir = dockerConfig(domain, "ci", "s3cret");
    registry.requests.length = 0;
    const first = await resolveRegistryImages(files, settings, { cacheFile, dockerConfigDir });
    const key = `${domain}/org/app:1`;
    expect(first).toEqual({
      [files[0]]: { [key]: { digest: registry.indexDigest, tag: "1.4.2" } },
      [files[1]]: { [key]: { digest: registry.indexDigest, tag: "1.4.2" } },
    });
    expect(registry.requests.filter((r) => r === "HEAD /v2/org/app/manifests/1").length).toBe(1);
    registry.requests.length = 0;
    expect(await resolveRegistryImages(files, settings, { cacheFile, dockerConfigDir })).toEqual(first);
    expect(registry.requests).toEqual([]);
    // an expired answer is asked again
    await resolveRegistryImages(files, settings, { cacheFile, dockerConfigDir, ttlMs: 0 });
    expect(registry.requests.filter((r) => r === "HEAD /v2/org/app/manifests/1").length).toBe(1);
  });

  test("a bulk run through worker threads and --cache: one look-up, every file pinned, the second run from the cache", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`app${i}/Dockerfile`] = `FROM ${domain}/org/app:1.4\nRUN echo ${i}\n`;
    const dir = tree(files);
    vi.stubEnv("DOCKER_CONFIG", dockerConfig(domain, "ci", "s3cret"));
    vi.stubEnv("DFOPT_REGISTRY_CACHE", path.join(dir, "registry.json"));
    registry.requests.length = 0;
    const args = [
      "--resolve",
      "--only",
      "pin-tags",
      "--jobs",
      "2",
      "--cache-location",
      path.join(dir, ".c"),
      "--format",
      "json",
      ".",
    ];
    const first = await dfopt(args, dir);
    expect(first.code).toBe(0);
    const pinned = `+FROM ${domain}/org/app:1.4.2@${registry.indexDigest}`;
    const entries = JSON.parse(first.stdout).files as { diff: string }[];
    expect(entries.length).toBe(30);
    expect(entries.every((f) => f.diff.includes(pinned))).toBe(true);
    expect(registry.requests.filter((r) => r === "HEAD /v2/org/app/manifests/1.4").length).toBe(1);
    registry.requests.length = 0;
    const second = await dfopt(args, dir);
    expect(second.stdout).toBe(first.stdout);
    expect(/\((\d+) from the cache\)/.exec(second.stderr)?.[1]).toBe("30");
    expect(registry.requests).toEqual([]);
  });

  test("the CLI writes the pin through $DOCKER_CONFIG; a config file can turn it on", async () => {
    const dir = tree({
      Dockerfile: `FROM ${domain}/org/app\nRUN true\n`,
      "dfopt.config.json": JSON.stringify({ resolve: "tag" }),
    });
    vi.stubEnv("DOCKER_CONFIG", dockerConfig(domain, "ci", "s3cret"));
    vi.stubEnv("DFOPT_REGISTRY_CACHE", "off");
    const r = await dfopt(["--only", "pin-tags", "--write", "."], dir);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8")).toBe(
      `FROM ${domain}/org/app:1.4.2\nRUN true\n`,
    );
    fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${domain}/org/app:1.4\n`);
    const both = await dfopt(["--only", "pin-tags", "--resolve-pin", "both", "--write", "."], dir);
    expect(both.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8")).toBe(
      `FROM ${domain}/org/app:1.4.2@${registry.indexDigest}\n`,
    );
  });
});

test("basic auth registries get config.json's credentials directly", async () => {
  const registry = tokenRegistry({ user: "u", password: "pw", auth: "basic" });
  const domain = await registry.start();
  try {
    const answer = await resolveImage(
      { domain, path: "org/app", tag: null },
      { dockerConfigDir: dockerConfig(domain, "u", "pw") },
    );
    expect(answer).toEqual({ digest: registry.indexDigest, tag: "1.4.2" });
    const none = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-docker-config-"));
    expect(await resolveImage({ domain, path: "org/app", tag: null }, { dockerConfigDir: none })).toEqual({
      refuse: `registry ${domain}: authentication required and no credentials in docker's config.json`,
    });
  } finally {
    await registry.stop();
  }
});

test("an unreachable registry gives a refusal naming it", async () => {
  const answer = await resolveImage(
    { domain: "127.0.0.1:9", path: "org/app", tag: "1" },
    { timeoutMs: 2000 },
  );
  expect("refuse" in answer && answer.refuse).toMatch(/^registry 127\.0\.0\.1:9: unreachable \(/);
});

describe("pin-tags with registry answers", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  const run = (
    text: string,
    resolve: "tag" | "digest" | "both",
    resolved: Record<string, ResolvedImage>,
    files: Record<string, string> = {},
  ) => {
    const options = { ...DEFAULT_OPTIONS, resolve, resolved };
    const context = Object.keys(files).length ? memoryContext(files) : emptyContext;
    const result = optimizeFile(text, context, { transforms: [pinTags], options });
    const again = optimizeFile(result.output, context, { transforms: [pinTags], options });
    expect(again.output).toBe(result.output);
    return result;
  };
  const node20 = { "docker.io/library/node:20": { digest, tag: "20.19.5" } };

  test("tag and digest, tag only, digest only", () => {
    expect(run("FROM node:20\n", "both", node20).output).toBe(`FROM node:20.19.5@${digest}\n`);
    expect(run("FROM node:20\n", "tag", node20).output).toBe("FROM node:20.19.5\n");
    expect(run("FROM node:20\n", "digest", node20).output).toBe(`FROM node:20@${digest}\n`);
    expect(run("FROM node:20.19.5\n", "both", node20).changes).toEqual([]);
  });

  test("untagged and latest images resolve the project's declared version when it has one", () => {
    const r = run("FROM node AS build\nFROM docker.io/library/node:latest\n", "both", node20, {
      "package.json": JSON.stringify({ engines: { node: "20" } }),
    });
    expect(r.output).toBe(
      `FROM node:20.19.5@${digest} AS build\nFROM docker.io/library/node:20.19.5@${digest}\n`,
    );
    const untagged = run("FROM someorg/tool\n", "digest", {
      "docker.io/someorg/tool:latest": { digest, tag: "3.1.0" },
    });
    expect(untagged.output).toBe(`FROM someorg/tool@${digest}\n`);
  });

  test("a refusing registry leaves the line alone and says why; a tag from an ARG gets no digest", () => {
    const r = run("FROM node:20\nFROM node:20-alpine\n", "both", {
      "docker.io/library/node:20": { refuse: "registry registry-1.docker.io: no answer within 10 s" },
      "docker.io/library/node:20-alpine": { digest, tag: "20.19.5-alpine" },
    });
    expect(r.output).toBe(`FROM node:20\nFROM node:20.19.5-alpine@${digest}\n`);
    expect(r.refusals.map((x) => x.reason)).toEqual([
      "registry registry-1.docker.io: no answer within 10 s; node left as written",
    ]);
    const arg = run("ARG NODE_VERSION=20\nFROM node:${NODE_VERSION}\n", "both", node20);
    expect(arg.output).toBe("ARG NODE_VERSION=20.19.5\nFROM node:${NODE_VERSION}\n");
    expect(
      run("ARG NODE_VERSION=20\nFROM node:${NODE_VERSION}\n", "digest", node20).refusals[0].reason,
    ).toMatch(/comes from ARG NODE_VERSION; a digest in the FROM would override --build-arg/);
    const whole = run("ARG IMAGE=node:20\nFROM ${IMAGE}\n", "both", node20);
    expect(whole.output).toBe(`ARG IMAGE=node:20.19.5@${digest}\nFROM \${IMAGE}\n`);
  });
});
