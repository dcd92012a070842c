/**
 * Base-image stand-ins for the real-app benchmark: a FROM image of a known family resolves to the
 * nearest image present in the local (stand-in) storage, used alike for the original and every
 * rewrite. Pure functions; the benchmark lists the local images and prints which stand-in served.
 */
import { parseDockerfile } from "../../src/engine/parse.ts";
import { parentStage } from "../../transforms/lib/stages.ts";

/** Families whose tags may be served by another repository's stand-in. */
const FAMILY: Record<string, string> = {
  node: "node",
  python: "python",
  golang: "golang",
  rust: "rust",
  "eclipse-temurin": "eclipse-temurin",
  openjdk: "eclipse-temurin",
  maven: "eclipse-temurin",
  gradle: "eclipse-temurin",
  debian: "debian",
  ubuntu: "debian",
};

/** `gcr.io/distroless/nodejs22-debian12`: the Node major is in the repository name. */
const DISTROLESS_NODE = /^gcr\.io\/distroless\/nodejs(\d+)-debian\d+$/;

export interface ImageName {
  repo: string;
  tag: string;
}

/** `docker.io/library/node:20-slim` → { repo: "node", tag: "20-slim" } (digests dropped). */
export function splitName(image: string): ImageName {
  const noDigest = image.split("@")[0];
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  const tag = colon > slash ? noDigest.slice(colon + 1) : "latest";
  const repo = (colon > slash ? noDigest.slice(0, colon) : noDigest)
    .replace(/^(?:docker\.io\/|index\.docker\.io\/)/, "")
    .replace(/^library\//, "");
  return { repo, tag };
}

const VARIANTS = ["slim", "alpine", "jre", "jdk"];

/** Version numbers and variant words of a tag: `18.20-slim-bookworm` → [18, 20], {slim}. */
function tagShape(tag: string): { version: number[]; variants: Set<string> } {
  const m = /^(\d+(?:\.\d+)*)/.exec(tag);
  const version = m ? m[1].split(".").map(Number) : [];
  const variants = new Set(VARIANTS.filter((v) => new RegExp(`(^|[-.])${v}`).test(tag)));
  return { version, variants };
}

/** Lower is nearer: variants must agree first, then the major version, then minor ones. */
function distance(want: string, have: string): number {
  const a = tagShape(want);
  const b = tagShape(have);
  let d = 0;
  for (const v of VARIANTS) if (a.variants.has(v) !== b.variants.has(v)) d += v === "slim" ? 1000 : 100;
  // "latest", "alpine", ...: the newest
  if (a.version.length === 0) return d - (b.version[0] ?? 0) * 0.01 - (b.version[1] ?? 0) * 0.0001;
  if (b.version.length === 0) return d + 50;
  for (let i = 0; i < Math.max(a.version.length, 1); i++) {
    const diff = Math.abs((a.version[i] ?? 0) - (b.version[i] ?? 0));
    d += diff * (i === 0 ? 10 : 0.1 / i);
  }
  return d;
}

/**
 * The local image to build `image` on: itself when present, else the nearest tag of its family's
 * stand-in repository, else null (the app is skipped: no stand-in).
 */
export function standInFor(image: string, local: readonly string[]): string | null {
  const want = splitName(image);
  const present = local.map(splitName);
  if (present.some((p) => p.repo === want.repo && p.tag === want.tag)) return `${want.repo}:${want.tag}`;
  const node = DISTROLESS_NODE.exec(want.repo);
  if (node) {
    // distroless Node images name the major in the repository: the nearest major with the same tag
    const near = present
      .map((p) => ({ p, major: DISTROLESS_NODE.exec(p.repo)?.[1] }))
      .filter((c) => c.major !== undefined && c.p.tag === want.tag)
      .sort(
        (x, y) => Math.abs(Number(x.major) - Number(node[1])) - Math.abs(Number(y.major) - Number(node[1])),
      );
    return near.length ? `${near[0].p.repo}:${near[0].p.tag}` : null;
  }
  const family = FAMILY[want.repo.split("/").pop()!];
  if (!family) return null;
  const candidates = present.filter((p) => p.repo === family);
  if (candidates.length === 0) return null;
  const wantTag = family === want.repo ? want.tag : familyTag(want);
  const best = candidates
    .map((p) => ({ p, d: distance(wantTag, p.tag) }))
    .sort((x, y) => x.d - y.d || x.p.tag.localeCompare(y.p.tag))[0].p;
  return `${best.repo}:${best.tag}`;
}

/**
 * The setting a stand-in needs to behave as the image asked for: Go before 1.16 (`golang:1.5`,
 * `golang:1.15.2-alpine`) built a folder without go.mod in GOPATH mode, and 1.16 made module mode
 * the default, so such a tag gets `GO111MODULE=auto` on the module-mode stand-in. The setting goes
 * into the Dockerfile after its FROM (what dfopt reads, too), so it holds for the original and every
 * rewrite alike.
 */
export function standInSetting(image: string, standIn: string): string | null {
  const want = splitName(image);
  const m = /^1\.(\d+)(?:[.-]|$)/.exec(want.tag);
  if (want.repo.split("/").pop() !== "golang" || m === null || Number(m[1]) >= 16) return null;
  return standIn === image ? null : "GO111MODULE=auto";
}

/** A tag of another repository, said in the family's terms (`maven:3-eclipse-temurin-17` → `17-jdk`). */
function familyTag(want: ImageName): string {
  const java = /(?:jdk|temurin|openjdk)-?(\d+)/.exec(want.tag) ?? /^(\d+)/.exec(want.tag);
  if (/maven|gradle|openjdk|eclipse-temurin/.test(want.repo)) return `${java?.[1] ?? "17"}-jdk`;
  if (want.repo === "ubuntu") return "bookworm";
  return want.tag;
}

/** Rewrites every FROM image that has a stand-in; returns the text and what served what. */
export function withStandIns(
  dockerfile: string,
  local: readonly string[],
): { text: string; served: { wanted: string; standIn: string | null }[] } {
  const served: { wanted: string; standIn: string | null }[] = [];
  const stages = new Set<string>();
  const eol = dockerfile.includes("\r\n") ? "\r\n" : "\n";
  const text = dockerfile.replace(
    /^(\s*FROM\s+(?:--\S+\s+)*)(\S+)((?:\s+AS\s+(\S+))?)/gim,
    (all, head: string, image: string, tail: string, stage: string | undefined) => {
      const earlier = stages.has(image.toLowerCase());
      if (stage) stages.add(stage.toLowerCase());
      if (image === "scratch" || earlier || image.includes("$")) return all;
      const standIn = standInFor(image, local);
      const setting = standIn && standInSetting(image, standIn);
      served.push({ wanted: image, standIn: setting ? `${standIn} + ${setting}` : standIn });
      if (setting) return `${head}${standIn}${tail}${eol}ENV ${setting}`;
      return standIn && standIn !== image ? `${head}${standIn}${tail}` : all;
    },
  );
  return { text, served };
}

/**
 * The image the final stage of a Dockerfile is built on, following `FROM <stage>` back through
 * earlier stage names, with the global ARGs' defaults expanded (`node:${NODE_VERSION}-slim`);
 * "scratch" for scratch, null when it cannot be named (unparsable, or a variable with no default).
 */
export function finalBaseImage(dockerfile: string): string | null {
  const model = parsedOrNull(dockerfile);
  if (!model) return null;
  let stage = model.stages.at(-1);
  for (let parent = stage && parentStage(model, stage); parent; parent = parentStage(model, parent))
    stage = parent;
  const image = stage?.image;
  if (!image) return null;
  const unset = [...image.raw.matchAll(/\$\{?(\w+)/g)].some(
    ([, v]) => (model.globalArgValues.get(v) ?? "") === "",
  );
  return unset ? null : image.expanded;
}

function parsedOrNull(dockerfile: string): ReturnType<typeof parseDockerfile> | null {
  try {
    return parseDockerfile(dockerfile);
  } catch {
    return null;
  }
}
