import fs from "node:fs";
import path from "node:path";
import { nearestFolder } from "./repository.ts";
import { readTextOrUndefined } from "./safe-read.ts";
import type { VersionBots } from "../engine/types.ts";
import { linearMatcher } from "../engine/glob.ts";

/**
 * Which version-update bots a repository runs, read from its root: add-args
 * must not hide a version from Dependabot (it cannot follow an ARG into FROM,
 * dependabot-core#2057), and gives Renovate the comment its regex managers read.
 */

const DEPENDABOT_FILES = [".github/dependabot.yml", ".github/dependabot.yaml"];
const RENOVATE_FILES = [
  "renovate.json",
  "renovate.json5",
  ".github/renovate.json",
  ".github/renovate.json5",
  ".gitlab/renovate.json",
  ".gitlab/renovate.json5",
  ".renovaterc",
  ".renovaterc.json",
  ".renovaterc.json5",
];

const NO_BOTS: VersionBots = { dependabotDocker: null, renovate: null };

interface DependabotUpdate {
  ecosystem: string;
  directories: string[];
}

const scalar = (v: string) => v.trim().replace(/^(["'])(.*)\1$/, "$2");

/**
 * The `updates` of a dependabot.yml: each entry's package-ecosystem and its
 * `directory` / `directories` (block or flow list). A reader for this one
 * regular file shape, not for YAML at large.
 */
export function dependabotUpdates(text: string): DependabotUpdate[] {
  const updates: DependabotUpdate[] = [];
  let entryIndent = -1;
  let current: DependabotUpdate | null = null;
  let listKey: { indent: number } | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, "").replace(/^\s*#.*$/, "");
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    const item = /^(\s*)-\s+(.*)$/.exec(line);
    if (item && listKey && indent > listKey.indent && current) {
      current.directories.push(scalar(item[2]));
      continue;
    }
    listKey = null;
    let body = line.trim();
    if (item && (entryIndent === -1 || indent === entryIndent) && /^[\w-]+\s*:/.test(item[2])) {
      entryIndent = indent;
      current = { ecosystem: "", directories: [] };
      updates.push(current);
      body = item[2];
    } else if (indent <= entryIndent) {
      current = null;
    }
    if (!current) continue;
    const kv = /^([\w-]+)\s*:\s*(.*)$/.exec(body);
    if (!kv) continue;
    const [, key, value] = kv;
    if (key === "package-ecosystem") current.ecosystem = scalar(value);
    else if (key === "directory") current.directories.push(scalar(value));
    else if (key === "directories") {
      const flow = /^\[(.*)\]$/.exec(value.trim());
      if (flow) current.directories.push(...flow[1].split(",").map(scalar).filter(Boolean));
      else if (!value.trim()) listKey = { indent };
    }
  }
  return updates;
}

/**
 * Whether a Dependabot directory (`/`, `/services/api`, `/services/*`, `/**`) names `dir` (`/`-rooted).
 * The repository writes both, so the pattern is matched by glob.ts's linear matcher, never by a
 * backtracking RegExp (`/**` repeated against a deep folder took exponential time): each segment
 * matches with its `/` after it, `**` as any folders, against `dir` with a `/` added.
 */
export function dependabotCovers(pattern: string, dir: string): boolean {
  const norm = (p: string) => `/${p.replace(/^\.?\/+|\/+$/g, "")}`.replace(/^\/$/, "/");
  const segments = norm(pattern).split("/").filter(Boolean);
  const source =
    "/" +
    segments
      .map((seg) =>
        seg === "**"
          ? "(.*/)?"
          : seg
              .replace(/[.+^${}()|[\]\\]/g, "\\$&")
              .replace(/\*/g, "[^/]*")
              .replace(/\?/g, "[^/]") + "/",
      )
      .join("");
  const target = norm(dir);
  return linearMatcher(source).test(target === "/" ? "/" : `${target}/`);
}

/** A bot config of the scanned repository: a regular file inside `root`, capped, never blocking. */
function readText(root: string, rel: string): string | null {
  let within: string;
  try {
    within = fs.realpathSync(root);
  } catch {
    return null;
  }
  return readTextOrUndefined(path.join(root, rel), { maxBytes: 1024 * 1024, within }) ?? null;
}

/** The bots configured at repository `root` for the folder `dir` (`/`-rooted, as Dependabot names folders). */
export function versionBotsAt(root: string, dir: string): VersionBots {
  let dependabotDocker: string | null = null;
  for (const rel of DEPENDABOT_FILES) {
    const text = readText(root, rel);
    if (text === null) continue;
    const covers = dependabotUpdates(text).some(
      (u) => u.ecosystem === "docker" && u.directories.some((d) => dependabotCovers(d, dir)),
    );
    if (covers) dependabotDocker = rel;
    break;
  }
  let renovate = RENOVATE_FILES.find((rel) => fs.existsSync(path.join(root, rel))) ?? null;
  if (!renovate) {
    try {
      const pkg = JSON.parse(readText(root, "package.json") ?? "null") as Record<string, unknown> | null;
      if (pkg && typeof pkg === "object" && "renovate" in pkg) renovate = "package.json";
    } catch {
      // not JSON: no renovate key
    }
  }
  return dependabotDocker || renovate ? { dependabotDocker, renovate } : NO_BOTS;
}

const isRepoRoot = (dir: string) =>
  fs.existsSync(path.join(dir, ".git")) ||
  DEPENDABOT_FILES.some((f) => fs.existsSync(path.join(dir, f))) ||
  RENOVATE_FILES.some((f) => fs.existsSync(path.join(dir, f)));

const byFolder = new Map<string, VersionBots>();
const roots = new Map<string, string | null>();

export function forgetVersionBots(): void {
  byFolder.clear();
  roots.clear();
}

/**
 * The bots of the repository holding `folder`: its root is the nearest
 * folder upward with `.git` or a bot's config; none found, no bots.
 */
export function versionBotsFor(folder: string): VersionBots {
  const start = path.resolve(folder);
  const cached = byFolder.get(start);
  if (cached) return cached;
  const root = nearestFolder(start, isRepoRoot, roots);
  const bots = root
    ? versionBotsAt(root, `/${path.relative(root, start).split(path.sep).join("/")}`)
    : NO_BOTS;
  byFolder.set(start, bots);
  return bots;
}
