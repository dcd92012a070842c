import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DOCKER_HUB, isLocalRegistry, registryHost, type ImageReference } from "../engine/image-ref.ts";
import { builtin } from "../engine/lazy.ts";
import type { ResolvedImage } from "../engine/types.ts";

/**
 * A small client of the OCI distribution API (the Docker registry HTTP API
 * v2): the tag list and a manifest's digest, with Docker Hub's token flow and
 * the credentials `docker login` keeps in ~/.docker/config.json (or in a
 * credential helper it names).
 */

/** Media types of single-platform manifests and of multi-platform indexes: an index's own digest is the one to pin. */
const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Candidate tags whose digest is compared with the floating tag's, newest first. */
const MAX_CANDIDATES = 8;
/** Pages of the tag list followed (Docker Hub pages at 100 by default; `n=1000` is asked). */
const MAX_TAG_PAGES = 20;

export interface RegistryClientOptions {
  /** Each HTTP request gives up after this long. */
  timeoutMs?: number;
  /** Folder holding config.json; default $DOCKER_CONFIG, else ~/.docker. */
  dockerConfigDir?: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The keys docker's config.json may file a registry under (`docker login` writes the first). */
const configKeys = (domain: string) =>
  domain === DOCKER_HUB
    ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    : [domain, `https://${domain}`, `http://${domain}`, `https://${domain}/v1/`, `https://${domain}/v2/`];

/**
 * `user:password` for a registry from docker's config.json, as docker reads
 * it: the registry's `credHelpers` entry, else the `credsStore`, else `auths`;
 * null when none has it. A helper that fails throws a RegistryError naming it
 * (never with its output, which may hold the secret).
 */
export async function dockerCredentials(
  domain: string,
  configDir = defaultDockerConfigDir(),
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<string | null> {
  let config: DockerConfig;
  try {
    config = JSON.parse(fs.readFileSync(path.join(configDir, "config.json"), "utf8")) as DockerConfig;
  } catch {
    return null;
  }
  const keys = configKeys(domain);
  const helper =
    keys.map((k) => config.credHelpers?.[k]).find((h) => typeof h === "string") ?? config.credsStore;
  if (typeof helper === "string" && helper !== "") return credentialHelper(helper, keys[0], timeoutMs);
  for (const key of keys) {
    const entry = config.auths?.[key];
    if (!entry) continue;
    if (entry.auth) return Buffer.from(entry.auth, "base64").toString("utf8");
    if (entry.username && entry.password) return `${entry.username}:${entry.password}`;
  }
  return null;
}

/** What a helper may print (a JSON object of a few short fields). */
const MAX_HELPER_OUTPUT = 64 * 1024;

/**
 * Runs `docker-credential-<name> get` (found on PATH, no shell) with the
 * registry's server address on stdin, as docker does; its JSON answer gives
 * `Username:Secret`. "credentials not found" is no credentials (null).
 */
function credentialHelper(name: string, server: string, timeoutMs: number): Promise<string | null> {
  const program = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    return Promise.reject(
      new RegistryError(`credential helper name '${name}' in docker's config.json is not valid`),
    );
  const { spawn } = builtin<typeof import("node:child_process")>("node:child_process");
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new RegistryError(`credential helper ${program}: ${why}`));
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "ignore"], shell: false });
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(`no answer within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => {
      size += b.length;
      if (size <= MAX_HELPER_OUTPUT) chunks.push(b);
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(e.code === "ENOENT" ? "not found on PATH" : `could not run (${e.code ?? e.message})`);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const out = Buffer.concat(chunks).toString("utf8");
      if (code !== 0) {
        // docker-credential-helpers' own message for a registry it holds nothing for
        if (/credentials not found/i.test(out)) resolve(null);
        else fail(`exited with status ${code ?? "(killed)"}`);
        return;
      }
      let answer: { Username?: unknown; Secret?: unknown };
      try {
        answer = JSON.parse(out) as typeof answer;
      } catch {
        fail("answered something other than JSON");
        return;
      }
      if (typeof answer.Username !== "string" || typeof answer.Secret !== "string" || !answer.Secret)
        fail("answer has no Username and Secret");
      else if (answer.Username === "<token>")
        fail("gave an identity token (OAuth refresh token), which dfopt does not exchange");
      else resolve(`${answer.Username}:${answer.Secret}`);
    });
    child.stdin.on("error", () => {}); // a helper that exits without reading: its status says why
    child.stdin.end(server);
  });
}

function defaultDockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), ".docker");
}

/** A registry said no, or could not be reached: the message becomes the refusal. */
export class RegistryError extends Error {}

/** `Bearer realm="…",service="…"` → { scheme, params }. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header) ?? ["", "", ""];
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g))
    params[p[1].toLowerCase()] = p[2] ?? p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** One registry repository: requests carry the token (or basic credentials) the registry asked for. */
class Repository {
  private authorization: string | null = null;
  private readonly base: string;
  constructor(
    readonly domain: string,
    readonly path: string,
    private readonly options: Required<RegistryClientOptions>,
  ) {
    this.base = `${isLocalRegistry(domain) ? "http" : "https"}://${registryHost(domain)}`;
  }

  private async request(url: string, init: { method: string; accept?: string }): Promise<Response> {
    const send = (authorization: string | null) =>
      fetchWithin(
        url,
        {
          method: init.method,
          headers: {
            ...(init.accept ? { accept: init.accept } : {}),
            ...(authorization ? { authorization } : {}),
          },
          redirect: "follow",
        },
        this.options.timeoutMs,
      );
    let res = await send(this.authorization);
    if (res.status !== 401) return res;
    const challenge = res.headers.get("www-authenticate");
    if (!challenge) return res;
    this.authorization = await this.authorize(parseChallenge(challenge));
    res = await send(this.authorization);
    return res;
  }

  private async authorize(challenge: { scheme: string; params: Record<string, string> }): Promise<string> {
    const credentials = await dockerCredentials(
      this.domain,
      this.options.dockerConfigDir,
      this.options.timeoutMs,
    );
    const basic = credentials ? `Basic ${Buffer.from(credentials).toString("base64")}` : null;
    if (challenge.scheme === "basic") {
      if (!basic)
        throw new RegistryError("authentication required and no credentials in docker's config.json");
      return basic;
    }
    if (challenge.scheme !== "bearer" || !challenge.params.realm)
      throw new RegistryError(`unsupported authentication challenge '${challenge.scheme}'`);
    const url = new URL(challenge.params.realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", challenge.params.scope ?? `repository:${this.path}:pull`);
    const res = await fetchWithin(
      url.href,
      { method: "GET", headers: basic ? { authorization: basic } : {} },
      this.options.timeoutMs,
    );
    if (!res.ok) throw new RegistryError(`token service ${url.host} answered HTTP ${res.status}`);
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token service ${url.host} gave no token`);
    return `Bearer ${token}`;
  }

  /** The digest of a tag's manifest, as stored (an index's own digest for multi-platform images). */
  async digest(tag: string): Promise<string> {
    const url = `${this.base}/v2/${this.path}/manifests/${encodeURIComponent(tag)}`;
    let res = await this.request(url, { method: "HEAD", accept: MANIFEST_TYPES });
    if (res.status === 404) throw new RegistryError(`no tag '${tag}' in ${this.path} (HTTP 404)`);
    if (!res.ok) throw new RegistryError(`manifest of ${this.path}:${tag}: HTTP ${res.status}`);
    const header = res.headers.get("docker-content-digest");
    if (header && /^sha256:[0-9a-f]{64}$/.test(header)) return header;
    // Some registries name the digest only on GET: hash the manifest as sent.
    res = await this.request(url, { method: "GET", accept: MANIFEST_TYPES });
    if (!res.ok) throw new RegistryError(`manifest of ${this.path}:${tag}: HTTP ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    const { createHash } = builtin<typeof import("node:crypto")>("node:crypto");
    return `sha256:${createHash("sha256").update(body).digest("hex")}`;
  }

  async tags(): Promise<string[]> {
    const tags: string[] = [];
    let next: string | null = `${this.base}/v2/${this.path}/tags/list?n=1000`;
    for (let page = 0; next && page < MAX_TAG_PAGES; page++) {
      const res = await this.request(next, { method: "GET", accept: "application/json" });
      if (!res.ok) throw new RegistryError(`tag list of ${this.path}: HTTP ${res.status}`);
      const body = (await res.json().catch(() => null)) as { tags?: unknown } | null;
      if (Array.isArray(body?.tags))
        tags.push(...body.tags.filter((t): t is string => typeof t === "string"));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "");
      next = link ? new URL(link[1], this.base).href : null;
    }
    return tags;
  }
}

async function fetchWithin(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === "TimeoutError") throw new RegistryError(`no answer within ${timeoutMs / 1000} s`);
    throw new RegistryError(`unreachable (${err.cause?.code ?? err.cause?.message ?? err.message})`);
  }
}

const VERSION_TAG = /^(v?)(\d+(?:\.\d+)*)(.*)$/;

/**
 * The tags more specific than `floating` that may name the same image,
 * newest first: `20` → `20.19.5`, `20.19.4`, …; `20-alpine` → `20.19.5-alpine`;
 * `latest` (or no tag) → plain version tags (`25.2.1`); `alpine` → `25.2.1-alpine`.
 */
export function candidateTags(floating: string | null, tags: readonly string[]): string[] {
  const f = floating === null || floating === "latest" ? null : VERSION_TAG.exec(floating);
  const prefix = f ? f[2].split(".").map(Number) : [];
  const suffix = f ? f[3] : floating === null || floating === "latest" ? "" : `-${floating}`;
  const vee = f ? f[1] : null;
  const found: { tag: string; nums: number[] }[] = [];
  for (const tag of tags) {
    const m = VERSION_TAG.exec(tag);
    if (!m || m[3] !== suffix || (vee !== null && m[1] !== vee)) continue;
    const nums = m[2].split(".").map(Number);
    if (nums.length <= prefix.length || prefix.some((n, i) => nums[i] !== n)) continue;
    found.push({ tag, nums });
  }
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] === undefined || b[i] === undefined) return a[i] === undefined ? 1 : -1;
      if (a[i] !== b[i]) return b[i] - a[i];
    }
    return 0;
  };
  return found.sort((a, b) => compare(a.nums, b.nums)).map((c) => c.tag);
}

/**
 * Resolves `ref` (a floating tag; none means `latest`): its digest, and the
 * most specific version tag with that same digest (null when none has it).
 * Never throws: a registry that refuses or cannot be reached gives a refusal naming it.
 */
export async function resolveImage(
  ref: Pick<ImageReference, "domain" | "path" | "tag">,
  options: RegistryClientOptions = {},
): Promise<ResolvedImage> {
  const repo = new Repository(ref.domain, ref.path, {
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    dockerConfigDir: options.dockerConfigDir ?? defaultDockerConfigDir(),
  });
  const floating = ref.tag ?? "latest";
  try {
    const digest = await repo.digest(floating);
    const candidates = candidateTags(floating, await repo.tags()).slice(0, MAX_CANDIDATES);
    for (const tag of candidates) {
      if ((await repo.digest(tag).catch(() => null)) === digest) return { digest, tag };
    }
    return { digest, tag: null };
  } catch (e) {
    const reason = e instanceof RegistryError ? e.message : `internal error: ${(e as Error).message}`;
    return { refuse: `registry ${registryHost(ref.domain)}: ${reason}` };
  }
}
