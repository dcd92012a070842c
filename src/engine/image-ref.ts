/**
 * Docker image references, parsed and normalised the way Docker does it
 * (github.com/distribution/reference): the part before the first `/` is a
 * registry when it contains `.` or `:` or is `localhost`; otherwise the image
 * is on Docker Hub (`docker.io`), where a one-part path lives under `library/`.
 * The one place dfopt splits and normalises image references.
 */

/** Docker Hub's canonical domain, and the host its registry API answers on. */
export const DOCKER_HUB = "docker.io";
export const DOCKER_HUB_REGISTRY = "registry-1.docker.io";
const HUB_ALIASES = new Set([DOCKER_HUB, "index.docker.io", DOCKER_HUB_REGISTRY]);

export interface ImageReference {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  domain: string;
  /** Repository path inside the registry: `library/node`, `someorg/tool`. */
  path: string;
  tag: string | null;
  /** `sha256:…`, without the `@`. */
  digest: string | null;
}

/** `name[:tag][@digest]` split at the digest's `@` and the tag's `:` (a `:` before the last `/` is a port). */
export function splitImage(image: string): { name: string; tag: string | null; digest: string | null } {
  let rest = image;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

/** Registry domain and repository path of an image name (no tag or digest), normalised as Docker does. */
export function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const isRegistry =
    slash !== -1 && (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first);
  let domain = isRegistry ? first : DOCKER_HUB;
  let path = isRegistry ? name.slice(slash + 1) : name;
  if (domain === "index.docker.io") domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  return { domain, path };
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

/** A full reference, or null when it is not a valid one (variables, upper case, empty parts). */
export function parseImageReference(ref: string): ImageReference | null {
  const { name, tag, digest } = splitImage(ref);
  if (!name || (tag !== null && !TAG.test(tag)) || (digest !== null && !DIGEST.test(digest))) return null;
  const { domain, path } = splitDomain(name);
  if (!/^[A-Za-z0-9.-]+(?::\d+)?$/.test(domain) && !/^\[[0-9a-fA-F:]+\](?::\d+)?$/.test(domain)) return null;
  if (!path.split("/").every((c) => PATH_COMPONENT.test(c))) return null;
  return { domain, path, tag, digest };
}

/** `domain/path:tag` in Docker's canonical form (`docker.io/library/node:20`). */
export function formatReference(ref: Pick<ImageReference, "domain" | "path" | "tag">): string {
  return `${ref.domain}/${ref.path}${ref.tag === null ? "" : `:${ref.tag}`}`;
}

/**
 * The short, lower-cased name dfopt's catalogs use: Docker Hub images without
 * `docker.io/` or `library/` (`docker.io/library/node` → `node`,
 * `bitnami/redis` stays), other registries in full (`mcr.microsoft.com/dotnet/sdk`).
 */
export function shortImageName(name: string): string {
  const lower = name.toLowerCase();
  const slash = lower.indexOf("/");
  if (slash !== -1 && HUB_ALIASES.has(lower.slice(0, slash))) {
    const rest = lower.slice(slash + 1);
    return rest.startsWith("library/") ? rest.slice("library/".length) : rest;
  }
  const { domain, path } = splitDomain(lower);
  if (domain !== DOCKER_HUB) return `${domain}/${path}`;
  return path.startsWith("library/") ? path.slice("library/".length) : path;
}

/** The host to call for a registry domain (Docker Hub's API is not on docker.io itself). */
export function registryHost(domain: string): string {
  return domain === DOCKER_HUB ? DOCKER_HUB_REGISTRY : domain;
}

/** Whether a registry is reached over plain HTTP, as Docker allows by default for local ones. */
export function isLocalRegistry(domain: string): boolean {
  const host = domain.replace(/:\d+$/, "");
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
}
