/**
 * Built-in catalog of explicit tags for well-known base images, used by
 * `pin-tags` when the build context declares no version for the image's
 * ecosystem. Pure data: update the entries and CATALOG_CHECKED together.
 *
 * Each tag is the newest stable (preferably long-term-support) line of the
 * image known to be published on CATALOG_CHECKED, at the precision its
 * maintainers keep a rolling tag for (`node:24` follows 24.x patches). A line
 * that is known to exist is preferred to a newer one that might not yet.
 * Entries with `refuse` are images dfopt knows but will not pin on its own.
 */

export const CATALOG_CHECKED = "2026-11-01";

export type Ecosystem = "node" | "go" | "python" | "java" | "rust" | "dotnet" | "web";

export interface ImageEntry {
  /** Tag to pin an untagged / `:latest` reference to (absent when `refuse` is set). */
  tag?: string;
  /** When set, pin-tags leaves the image alone and reports this reason. */
  refuse?: string;
  /** Ecosystem whose declared version (package.json, go.mod, ...) decides the tag. */
  ecosystem?: Ecosystem;
  /**
   * Tag for a declared ecosystem version (already reduced by declaredVersions,
   * e.g. "20", "3.12", "17", "8.0"); null when the image publishes no such tag.
   */
  tagFor?: (version: string) => string | null;
}

const JAVA_LTS = new Set(["8", "11", "17", "21", "25"]);
const same = (v: string) => v;

/**
 * Databases keep data in a version-specific format: a pin must match the
 * volumes, which only the user knows, so these are refused, naming the newest
 * long-term line as a hint.
 */
const database = (name: string, tag: string): ImageEntry => ({
  tag,
  refuse:
    `${name} keeps its data in a version-specific on-disk format; pin the version your ` +
    `volumes were created with by hand (newest known line: ${tag})`,
});

/** Distroless images publish no version tags, only `latest`, `nonroot`, `debug`. */
const distroless = (): ImageEntry => ({
  refuse: "distroless images publish no version tags (only latest/nonroot/debug); pin a digest by hand",
});

/**
 * Node.js majors with a maintained distroless image, `gcr.io/distroless/nodejs<major>-debian12`
 * (`:latest` as root, `:nonroot` as uid 65532; ENTRYPOINT `/nodejs/bin/node`, no shell, no npm).
 * nodejs18 was deprecated with Node 18's end of life (GoogleContainerTools/distroless#1788, April
 * 2025): its frozen image is not offered. Update with CATALOG_CHECKED.
 */
export const DISTROLESS_NODE_MAJORS: readonly number[] = [20, 22, 24];

/**
 * Keys are Docker Hub names without `docker.io/` or `library/`, or full
 * registry paths for other registries.
 */
export const IMAGES: Readonly<Record<string, ImageEntry>> = {
  node: { tag: "24", ecosystem: "node", tagFor: same },
  python: { tag: "3.14", ecosystem: "python", tagFor: same },
  golang: { tag: "1.25", ecosystem: "go", tagFor: same },
  rust: { tag: "1.91", ecosystem: "rust", tagFor: same },
  "eclipse-temurin": { tag: "25", ecosystem: "java", tagFor: (v) => (Number(v) >= 8 ? v : null) },
  amazoncorretto: {
    ecosystem: "java",
    tagFor: (v) => (JAVA_LTS.has(v) ? v : null),
    refuse: "amazoncorretto:latest is Corretto 8; pin the Java version the app needs by hand",
  },
  openjdk: {
    ecosystem: "java",
    tagFor: (v) => (["8", "11", "17"].includes(v) ? v : null),
    refuse:
      "the openjdk image is deprecated and its latest tag is an early-access build; " +
      "pin a version by hand or move to eclipse-temurin",
  },
  java: {
    refuse:
      "the java image is deprecated and frozen at Java 8; pin a version by hand or move to eclipse-temurin",
  },
  maven: {
    tag: "3.9-eclipse-temurin-21",
    ecosystem: "java",
    tagFor: (v) => (JAVA_LTS.has(v) ? `3.9-eclipse-temurin-${v}` : null),
  },
  gradle: {
    tag: "jdk21",
    ecosystem: "java",
    tagFor: (v) => (["8", "11", "17", "21"].includes(v) ? `jdk${v}` : null),
  },
  "mcr.microsoft.com/dotnet/sdk": { tag: "10.0", ecosystem: "dotnet", tagFor: same },
  "mcr.microsoft.com/dotnet/aspnet": { tag: "10.0", ecosystem: "dotnet", tagFor: same },
  "mcr.microsoft.com/dotnet/runtime": { tag: "10.0", ecosystem: "dotnet", tagFor: same },
  "mcr.microsoft.com/dotnet/runtime-deps": { tag: "10.0", ecosystem: "dotnet", tagFor: same },
  alpine: { tag: "3.22" },
  debian: { tag: "trixie" },
  ubuntu: { tag: "24.04" },
  fedora: { tag: "43" },
  amazonlinux: { tag: "2023" },
  busybox: { tag: "1.37" },
  centos: {
    refuse: "centos is end-of-life (no updates since 2024); move to a maintained base image by hand",
  },
  "gcr.io/distroless/static": distroless(),
  "gcr.io/distroless/static-debian12": distroless(),
  "gcr.io/distroless/base": distroless(),
  "gcr.io/distroless/base-debian12": distroless(),
  "gcr.io/distroless/cc": distroless(),
  "gcr.io/distroless/cc-debian12": distroless(),
  ...Object.fromEntries(
    DISTROLESS_NODE_MAJORS.map((major) => [`gcr.io/distroless/nodejs${major}-debian12`, distroless()]),
  ),
  nginx: { tag: "1.28" },
  httpd: { tag: "2.4" },
  tomcat: { tag: "11.0" },
  haproxy: { tag: "3.2" },
  traefik: { tag: "v3" },
  caddy: { tag: "2" },
  php: { tag: "8.4" },
  ruby: { tag: "3.4" },
  composer: { tag: "2" },
  mono: { tag: "6.12" },
  redis: { tag: "8" },
  postgres: database("postgres", "18"),
  mysql: database("mysql", "8.4"),
  mariadb: database("mariadb", "11.8"),
  mongo: database("mongo", "8.0"),
};

/**
 * Node.js release lines with the last version known for each, used to turn a
 * range like `>=18` or `^20.1` into a tag. Even majors are LTS lines.
 */
export const NODE_RELEASES: Readonly<Record<number, string>> = {
  10: "10.24.1",
  12: "12.22.12",
  14: "14.21.3",
  16: "16.20.2",
  17: "17.9.1",
  18: "18.20.8",
  19: "19.9.0",
  20: "20.19.5",
  21: "21.7.3",
  22: "22.21.0",
  23: "23.11.1",
  24: "24.11.0",
  25: "25.2.0",
  26: "26.1.0",
};

/** nvm's `lts/<codename>` aliases. */
export const NODE_LTS_CODENAMES: Readonly<Record<string, number>> = {
  argon: 4,
  boron: 6,
  carbon: 8,
  dubnium: 10,
  erbium: 12,
  fermium: 14,
  gallium: 16,
  hydrogen: 18,
  iron: 20,
  jod: 22,
  krypton: 24,
};

/** Python 3 minor lines with a Docker Hub `python:3.N` tag. */
export const PYTHON_MINORS: readonly number[] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
