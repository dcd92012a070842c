import {
  argDeclarations,
  splitImage,
  type DockerfileModel,
  type Instr,
  type Stage,
} from "../src/engine/parse.ts";
import type { Change, Edit, Refusal, Transform, TransformResult } from "../src/engine/types.ts";
import { CATALOG_CHECKED, IMAGES } from "./catalog/images.ts";
import { declaredVersions, type DeclaredVersions } from "./lib/declared-versions.ts";
import { own } from "./lib/own.ts";

/** Docker Hub name without `docker.io/` or `library/`, lower-cased: the catalog key. */
export function canonicalImageName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, "")
    .replace(/^library\//, "");
}

type Decision = { tag: string; source: string } | { refuse: string };

/** The tag an untagged / `:latest` image should get: the project's declared version, else the catalog. */
export function chooseTag(name: string, declared: DeclaredVersions): Decision {
  const entry = own(IMAGES, canonicalImageName(name));
  if (!entry) return { refuse: `no known current tag for image ${name}; pin it by hand` };
  const d = entry.ecosystem ? declared[entry.ecosystem] : undefined;
  if (d && entry.ecosystem) {
    if (d.version === null) {
      return {
        refuse: `${d.source} declares a ${entry.ecosystem} version dfopt cannot map to a ${name} tag; pin it by hand`,
      };
    }
    const tag = entry.tagFor?.(d.version) ?? null;
    if (!tag)
      return {
        refuse: `${name} publishes no tag for ${entry.ecosystem} ${d.version} (${d.source}); pin it by hand`,
      };
    return { tag, source: d.source };
  }
  if (entry.refuse || !entry.tag)
    return { refuse: entry.refuse ?? `no known current tag for image ${name}; pin it by hand` };
  return { tag: entry.tag, source: `catalog, checked ${CATALOG_CHECKED}` };
}

const WHOLE_VAR = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/;
const TAG_VAR = /:\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/;
const refersTo = (text: string, name: string) => new RegExp(`\\$\\{?${name}(?![A-Za-z0-9_])`).test(text);

interface Plan {
  stage: Stage;
  edit: Edit;
  /** Set when the edit changes a global ARG's default instead of the FROM. */
  argName: string | null;
  message: string;
  rules: string[];
}

/** The span of an ARG's default value for `name`, when it is written plainly (`NAME=value` / `NAME="value"`). */
function argValueSpan(
  model: DockerfileModel,
  arg: Instr,
  name: string,
): { start: number; end: number } | null {
  for (const word of arg.args) {
    const raw = model.text.slice(word.start, word.end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(["']?)([^"'$\\`\s]*)\2$/.exec(raw);
    if (m && m[1] === name) {
      const start = word.start + name.length + 1 + m[2].length;
      return { start, end: start + m[3].length };
    }
  }
  return null;
}

function run(model: DockerfileModel, declared: () => DeclaredVersions): TransformResult {
  const plans: Plan[] = [];
  const refusals: Refusal[] = [];
  const argInstrs = model.instructions.filter((i) => i.keyword === "ARG");
  const earlierNames: string[] = [];

  for (const stage of model.stages) {
    const img = stage.image;
    const line = stage.from.line;
    const stageRef = img && earlierNames.includes(img.expanded.toLowerCase());
    if (stage.name) earlierNames.push(stage.name.toLowerCase());
    if (!img || img.digest !== null || stageRef) continue;
    if (canonicalImageName(img.name) === "scratch") continue;
    if (img.usesVariables && (img.name === "" || img.name.includes("$") || img.expanded.includes("$"))) {
      refusals.push({
        line,
        reason: `image name comes from ${img.raw}, which has no usable default; pin it by hand`,
      });
      continue;
    }
    if (img.tag !== null && img.tag !== "latest") continue;
    const rules = [img.tag === null ? "DL3006" : "DL3007", "DS-0001"];
    const decision = chooseTag(img.name, declared());
    if ("refuse" in decision) {
      refusals.push({ line, reason: decision.refuse, rules });
      continue;
    }
    const { tag, source } = decision;
    const message = `pin ${img.name} to ${tag} (${source})`;
    if (model.text.slice(img.rawSpan.start, img.rawSpan.end) !== img.raw) {
      refusals.push({
        line,
        reason: `the image reference of this FROM is split across lines; pin it by hand`,
        rules,
      });
      continue;
    }

    // Tag written literally (or absent) at the end of the reference: edit the FROM.
    const lastSegment = img.raw.slice(img.raw.lastIndexOf("/") + 1);
    if (img.tag === null && !lastSegment.includes("$")) {
      const at = img.rawSpan.end;
      plans.push({ stage, edit: { start: at, end: at, text: `:${tag}` }, argName: null, message, rules });
      continue;
    }
    if (img.tag === "latest" && img.raw.endsWith(":latest")) {
      const end = img.rawSpan.end;
      plans.push({
        stage,
        edit: { start: end - "latest".length, end, text: tag },
        argName: null,
        message,
        rules,
      });
      continue;
    }

    // The tag (or the whole image) comes from a global ARG: change its default.
    const whole = WHOLE_VAR.exec(img.raw);
    const tagVar = whole ? null : TAG_VAR.exec(img.raw);
    const argName = whole ? (whole[1] ?? whole[2]) : tagVar ? (tagVar[1] ?? tagVar[2]) : null;
    if (!argName) {
      refusals.push({
        line,
        reason: `the tag of ${img.raw} comes from a variable expression pin-tags cannot edit; pin it by hand`,
        rules,
      });
      continue;
    }
    const declaring = model.globalArgs.filter((a) => argDeclarations(a).some(([n]) => n === argName));
    const otherUses = argInstrs.filter(
      (a) =>
        !declaring.includes(a) &&
        (refersTo(a.text, argName) || argDeclarations(a).some(([n]) => n === argName)),
    );
    const span = declaring.length === 1 ? argValueSpan(model, declaring[0], argName) : null;
    if (!span || otherUses.length > 0) {
      const why =
        otherUses.length > 0
          ? `ARG ${argName} is also used by another ARG (line ${otherUses[0].line})`
          : `ARG ${argName} is not declared once with a plain default before the first FROM`;
      refusals.push({ line, reason: `${why}; pin ${img.name} by hand`, rules });
      continue;
    }
    const current = model.text.slice(span.start, span.end);
    let value: string;
    if (whole) {
      const parts = splitImage(current);
      if (parts.digest !== null) continue;
      value =
        parts.tag === null
          ? `${current}:${tag}`
          : `${current.slice(0, current.length - parts.tag.length)}${tag}`;
    } else {
      value = tag;
    }
    const argMessage = `${message} via ARG ${argName}`;
    plans.push({ stage, edit: { ...span, text: value }, argName, message: argMessage, rules });
  }

  // An ARG default may only change when every FROM that reads it wants the same new value.
  const changes: Change[] = [];
  const byArg = new Map<string, Plan[]>();
  for (const p of plans) {
    if (p.argName === null) {
      changes.push({ edits: [p.edit], line: p.stage.from.line, message: p.message, rules: p.rules });
    } else {
      byArg.set(p.argName, [...(byArg.get(p.argName) ?? []), p]);
    }
  }
  for (const [name, group] of byArg) {
    const readers = model.stages.filter((s) => refersTo(s.from.text, name));
    const values = new Set(group.map((p) => p.edit.text));
    if (values.size > 1 || readers.some((s) => !group.some((p) => p.stage === s))) {
      for (const p of group) {
        refusals.push({
          line: p.stage.from.line,
          reason: `ARG ${name} is read by FROMs that need different tags; pin them by hand`,
          rules: p.rules,
        });
      }
      continue;
    }
    const first = group[0];
    const rules = [...new Set(group.flatMap((p) => p.rules))];
    changes.push({ edits: [first.edit], line: first.stage.from.line, message: first.message, rules });
  }
  return { changes, refusals };
}

export const pinTags: Transform = {
  id: "pin-tags",
  description:
    "Give untagged and :latest base images an explicit tag (the project's declared version, else a known current one)",
  rationale:
    "An untagged or :latest base image changes under you: two builds of the same commit can get different " +
    "runtimes. pin-tags writes the tag explicitly, choosing the version the build context declares " +
    "(package.json engines, .nvmrc, go.mod, .python-version, pom.xml, rust-toolchain, global.json) for images " +
    "of that ecosystem, else the current line from a dated built-in catalog. When the version comes from a " +
    "global ARG it changes the ARG's default, never the FROM. Digests, scratch and stage references are left " +
    "alone; unknown images, databases (whose data format follows the version) and variables it cannot resolve " +
    "are refused with the reason.",
  applicability: "unsafe",
  applicabilityNote:
    "The tag it writes can name another version than the one `:latest` or the untagged image pulls today, so the build can get a different runtime.",
  rules: ["DL3006", "DL3007", "DS-0001"],
  run({ model, context }) {
    let cache: DeclaredVersions | null = null;
    return run(model, () => (cache ??= declaredVersions(context)));
  },
};
