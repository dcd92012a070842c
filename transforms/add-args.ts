import { argDeclarations, type DockerfileModel, type Stage } from "../src/engine/parse.ts";
import { keyword } from "../src/engine/style.ts";
import { readSuppressions } from "../src/engine/suppress.ts";
import type { Edit, Refusal, Transform, TransformResult, VersionBots } from "../src/engine/types.ts";
import { shortImageName } from "../src/engine/image-ref.ts";
import { own } from "./lib/own.ts";

const ID = "add-args";

/** ARG name for an image: node → NODE_VERSION, mcr.microsoft.com/dotnet/sdk → DOTNET_SDK_VERSION. */
export function argNameFor(imageName: string): string {
  const name = shortImageName(imageName);
  const special: Record<string, string> = {
    node: "NODE_VERSION",
    golang: "GO_VERSION",
    python: "PYTHON_VERSION",
    "eclipse-temurin": "TEMURIN_VERSION",
  };
  const known = own(special, name);
  if (known) return known;
  const dotnet = /^mcr\.microsoft\.com\/dotnet\/(?:core\/)?([^/]+)$/.exec(name);
  const base = dotnet ? `DOTNET_${dotnet[1]}` : name.slice(name.lastIndexOf("/") + 1);
  const upper = base
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return `${/^[A-Z_]/.test(upper) ? "" : "IMAGE_"}${upper || "IMAGE"}_VERSION`;
}

/**
 * Splits a tag into the version the ARG holds and a variant suffix that stays
 * in the FROM: `20-alpine` → ["20", "-alpine"], `3.9-eclipse-temurin-21` →
 * ["3.9", "-eclipse-temurin-21"]. Null for tags that do not start with a
 * version (`bookworm-slim`, `jdk17`, `nonroot`, `8u312`): there is no version to move.
 */
export function splitTag(tag: string): [version: string, suffix: string] | null {
  const m = /^(v?\d+(?:\.\d+)*)([-_].*)?$/.exec(tag);
  return m ? [m[1], m[2] ?? ""] : null;
}

const VARIABLE_NAMES = /\$\{?([A-Za-z_][A-Za-z0-9_]*)/g;

/** Where the new ARG lines go: before the comment block attached to the first FROM, never above parser directives. */
function insertionOffset(model: DockerfileModel, first: Stage): number {
  const lines = model.text.split("\n").map((l) => l.replace(/\r$/, ""));
  let directives = 0;
  while (directives < lines.length && /^\s*#\s*[A-Za-z][A-Za-z0-9_-]*\s*=\s*\S*\s*$/.test(lines[directives]))
    directives++;
  let line = first.from.line; // 1-based
  const isComment = (l: number) => /^\s*#/.test(lines[l - 1] ?? "");
  const previousEnd = Math.max(
    directives,
    ...model.instructions.filter((i) => i.line < first.from.line).map((i) => i.endLine),
  );
  while (line - 1 > previousEnd && isComment(line - 1)) line--;
  // A suppression comment separated from FROM by blank lines still governs the FROM: stay above it.
  for (let l = previousEnd + 1; l < line; l++) {
    if (/^\s*#\s*(dfopt\s+ignore=|hadolint\s+ignore=|trivy:ignore:)/i.test(lines[l - 1])) {
      line = l;
      break;
    }
  }
  return model.lineStart(line);
}

/** Where FROM lines on `gcr.io/distroless/nodejs<major>-debian<N>` name `major` (the digits' span). */
function distrolessNode(
  model: DockerfileModel,
  major: string,
  suppressed: (line: number) => boolean,
): Array<{ start: number; end: number; raw: string }> {
  const found: Array<{ start: number; end: number; raw: string }> = [];
  for (const stage of model.stages) {
    const img = stage.image;
    if (!img || img.usesVariables || img.digest !== null || suppressed(stage.from.line)) continue;
    const m = /^((?:[\w.-]+\/)*gcr\.io\/distroless\/nodejs)(\d+)-debian\d+$/.exec(img.name);
    if (!m || m[2] !== major || !img.raw.startsWith(img.name)) continue;
    const start = img.rawSpan.start + m[1].length;
    found.push({ start, end: start + major.length, raw: img.raw });
  }
  return found;
}

interface Use {
  stage: Stage;
  version: string;
  suffix: string;
  /** Span of the tag inside the FROM. */
  tagStart: number;
  tagEnd: number;
}

function run(model: DockerfileModel, bots: VersionBots): TransformResult {
  const refusals: Refusal[] = [];
  const suppressions = readSuppressions(model);
  const taken = new Set<string>();
  for (const a of model.instructions.filter((i) => i.keyword === "ARG")) {
    for (const [n] of argDeclarations(a)) taken.add(n.toUpperCase());
  }
  // A global ARG is visible only in FROM lines and to ARGs that redeclare it;
  // variables those read must keep their meaning (an undeclared `${X}` in a FROM expands to "").
  for (const i of model.instructions.filter((i) => i.keyword === "FROM" || i.keyword === "ARG")) {
    for (const m of i.text.matchAll(VARIABLE_NAMES)) taken.add(m[1].toUpperCase());
  }

  const byImage = new Map<string, Use[]>();
  const earlierNames: string[] = [];
  for (const stage of model.stages) {
    const img = stage.image;
    const stageRef = img && earlierNames.includes(img.expanded.toLowerCase());
    if (stage.name) earlierNames.push(stage.name.toLowerCase());
    if (!img || stageRef || img.usesVariables || img.digest !== null) continue;
    if (img.tag === null || img.tag === "" || img.tag === "latest") continue;
    if (shortImageName(img.name) === "scratch") continue;
    if (suppressions.isSuppressed([ID], stage.from.line)) continue;
    if (model.text.slice(img.rawSpan.start, img.rawSpan.end) !== img.raw || !img.raw.endsWith(`:${img.tag}`))
      continue;
    const split = splitTag(img.tag);
    if (!split) continue;
    const [version, suffix] = split;
    const tagEnd = img.rawSpan.end;
    const use: Use = { stage, version, suffix, tagStart: tagEnd - img.tag.length, tagEnd };
    byImage.set(img.name, [...(byImage.get(img.name) ?? []), use]);
  }

  const lines: string[] = [];
  const edits: Edit[] = [];
  const moved: string[] = [];
  let firstLine: number | null = null;
  const argKw = keyword(model, "ARG");
  for (const [image, uses] of byImage) {
    if (bots.dependabotDocker) {
      refusals.push({
        line: uses[0].stage.from.line,
        reason:
          `Dependabot (${bots.dependabotDocker}) updates this folder's base images and cannot follow an ARG ` +
          `into FROM (dependabot-core#2057); ${image} stays literal`,
      });
      continue;
    }
    const versions = [...new Set(uses.map((u) => u.version))];
    if (versions.length > 1) {
      refusals.push({
        line: uses[0].stage.from.line,
        reason: `${image} is used at versions ${versions.join(", ")}; one ARG cannot hold both, so add-args leaves them alone`,
      });
      continue;
    }
    const base = argNameFor(image);
    const name = [
      base,
      base.replace(/_VERSION$/, "_IMAGE_VERSION"),
      base.replace(/_VERSION$/, "_IMAGE_TAG"),
    ].find((n) => !taken.has(n));
    if (!name) {
      refusals.push({
        line: uses[0].stage.from.line,
        reason: `ARG names for ${image} (${base}, ...) are already used in this file`,
      });
      continue;
    }
    taken.add(name);
    // Renovate's regex managers read this comment to update the ARG like a FROM.
    if (bots.renovate) lines.push(`# renovate: datasource=docker depName=${image}`);
    lines.push(`${argKw} ${name}=${versions[0]}`);
    for (const u of uses) edits.push({ start: u.tagStart, end: u.tagEnd, text: `\${${name}}${u.suffix}` });
    moved.push(`${image} → ARG ${name}=${versions[0]}`);
    // the distroless Node image names the node major in its repository: it follows a major-only ARG
    if (shortImageName(image) === "node" && /^\d+$/.test(versions[0]))
      for (const d of distrolessNode(model, versions[0], (line) => suppressions.isSuppressed([ID], line))) {
        edits.push({ start: d.start, end: d.end, text: `\${${name}}` });
        moved.push(`${d.raw} → nodejs\${${name}}`);
      }
    firstLine = Math.min(firstLine ?? Infinity, ...uses.map((u) => u.stage.from.line));
  }
  if (lines.length === 0 || firstLine === null) return { changes: [], refusals };
  const at = insertionOffset(model, model.stages[0]);
  const eol = model.source.eol;
  edits.push({ start: at, end: at, text: lines.map((l) => l + eol).join("") });
  return {
    changes: [{ edits, line: firstLine, message: `move base-image versions into ARGs: ${moved.join(", ")}` }],
    refusals,
  };
}

export const addArgs: Transform = {
  id: ID,
  description: "Move base-image versions into ARGs declared before the first FROM (ARG NODE_VERSION=20)",
  rationale:
    "Versions buried in FROM lines are easy to miss when upgrading and cannot be overridden with --build-arg. " +
    "add-args declares one ARG per image repository before the first FROM (after parser directives and existing " +
    "global ARGs) and makes the FROMs read it; stages using the same image and version share it. Only the leading " +
    "version moves into the ARG, the variant stays in the FROM (node:20-alpine → node:${NODE_VERSION}-alpine), so " +
    "a build stage on node:20 and a runtime stage on node:20-alpine share NODE_VERSION and are upgraded together; " +
    "a runtime stage on gcr.io/distroless/nodejs20-debian12, which names the major in its repository, reads a " +
    "major-only NODE_VERSION too (nodejs${NODE_VERSION}-debian12). " +
    "The default expands to the exact same image, so the build does not change. An image used at two different " +
    "versions is left alone (one ARG cannot hold both, and numbered names would hide which stage is which). " +
    "FROMs with variables, digests, stage references, scratch, untagged/latest images and tags that do not start " +
    "with a version number (`bookworm-slim`, `nonroot`) are left alone; names " +
    "never clash with ARGs or variables already in the file. In a repository whose .github/dependabot.yml updates " +
    "the folder's docker images, FROMs stay literal: Dependabot cannot follow an ARG into FROM. In a repository " +
    "with a Renovate config, each ARG gets the `# renovate: datasource=docker depName=<image>` comment its " +
    "regex managers read.",
  applicability: "unsafe",
  applicabilityNote:
    "The default ARG gives the same image, but a `--build-arg` of that name (unused before) now changes the base image.",
  run({ model, options }) {
    return run(model, options.versionBots);
  },
};
