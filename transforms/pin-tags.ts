import {
  argDeclarations,
  type DockerfileModel,
  type ImageRef,
  type Instr,
  type Stage,
} from "../src/engine/parse.ts";
import {
  formatReference,
  parseImageReference,
  registryHost,
  shortImageName,
  splitImage,
} from "../src/engine/image-ref.ts";
import type {
  Applicability,
  BuildContext,
  Change,
  Edit,
  Refusal,
  ResolvePin,
  ResolvedImage,
  Transform,
  TransformResult,
} from "../src/engine/types.ts";
import { CATALOG_CHECKED, IMAGES } from "./catalog/images.ts";
import { declaredVersions, type DeclaredVersions } from "./lib/declared-versions.ts";
import { own } from "./lib/own.ts";

type Decision = { tag: string; source: string } | { refuse: string };

/** The tag the project's declared version asks for (package.json engines, go.mod, ...), or null when none applies. */
function declaredChoice(name: string, declared: DeclaredVersions): Decision | null {
  const entry = own(IMAGES, shortImageName(name));
  const d = entry?.ecosystem ? declared[entry.ecosystem] : undefined;
  if (!entry || !d || !entry.ecosystem) return null;
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

/** The tag an untagged / `:latest` image should get: the project's declared version, else the catalog. */
export function chooseTag(name: string, declared: DeclaredVersions): Decision {
  const fromProject = declaredChoice(name, declared);
  if (fromProject) return fromProject;
  const entry = own(IMAGES, shortImageName(name));
  if (!entry || entry.refuse || !entry.tag)
    return { refuse: entry?.refuse ?? `no known current tag for image ${name}; pin it by hand` };
  return { tag: entry.tag, source: `catalog, checked ${CATALOG_CHECKED}` };
}

/** A tag that moves to newer releases: none, `latest`, or a partial version (`20`, `1.2`, `20-alpine`). */
export function isFloatingTag(tag: string | null): boolean {
  return tag === null || tag === "latest" || /^v?\d+(?:\.\d+)?(?:[-_].*)?$/.test(tag);
}

/**
 * What `--resolve` asks the registry for a floating FROM: the tag as written,
 * or the project's declared version for an untagged/latest image; `key` is
 * the canonical reference (`docker.io/library/node:20`) the answers are keyed by.
 */
function resolveTarget(
  img: ImageRef,
  declared: () => DeclaredVersions,
): { key: string; tag: string } | { refuse: string } {
  let tag = img.tag ?? "latest";
  if (img.tag === null || img.tag === "latest") {
    const fromProject = declaredChoice(img.name, declared());
    if (fromProject && "refuse" in fromProject) return fromProject;
    if (fromProject) tag = fromProject.tag;
  }
  const ref = parseImageReference(`${img.name}:${tag}`);
  if (!ref) return { refuse: `${img.name}:${tag} is not a valid image reference; pin it by hand` };
  return { key: formatReference(ref), tag };
}

/** FROMs naming an external image without a digest (not a stage, not scratch), with whether an earlier stage is named so. */
function* externalImages(model: DockerfileModel): Generator<{ stage: Stage; img: ImageRef }> {
  const earlierNames: string[] = [];
  for (const stage of model.stages) {
    const img = stage.image;
    const stageRef = img && earlierNames.includes(img.expanded.toLowerCase());
    if (stage.name) earlierNames.push(stage.name.toLowerCase());
    if (!img || img.digest !== null || stageRef) continue;
    if (shortImageName(img.name) === "scratch") continue;
    yield { stage, img };
  }
}

const unresolvedName = (img: ImageRef) =>
  img.usesVariables && (img.name === "" || img.name.includes("$") || img.expanded.includes("$"));

/** The references `--resolve` must look up in registries before pin-tags runs on this file (for the I/O layer). */
export function imagesToResolve(model: DockerfileModel, context: BuildContext): string[] {
  let cache: DeclaredVersions | null = null;
  const declared = () => (cache ??= declaredVersions(context));
  const keys = new Set<string>();
  for (const { img } of externalImages(model)) {
    if (unresolvedName(img) || !isFloatingTag(img.tag)) continue;
    const target = resolveTarget(img, declared);
    if ("key" in target) keys.add(target.key);
  }
  return [...keys];
}

interface Pin {
  /** The tag to write; null keeps the reference untagged. */
  tag: string | null;
  /** `@sha256:…` to append, or "". */
  digest: string;
  message: string;
  rules: string[];
  /** The registry says it is the very image the reference pulls today. */
  sameImage: boolean;
}

/** The pin a registry answer gives in `mode`, or a refusal. */
function registryPin(
  img: ImageRef,
  target: { key: string; tag: string },
  answer: ResolvedImage | undefined,
  mode: Exclude<ResolvePin, "off">,
  rules: string[],
): Pin | { refuse: string } {
  if (!answer) return { refuse: `${target.key} was not looked up in its registry; pin it by hand` };
  if ("refuse" in answer) return { refuse: `${answer.refuse}; ${img.name} left as written` };
  const host = registryHost(parseImageReference(target.key)!.domain);
  // Digest only: the tag as asked (untagged stays untagged); otherwise the most specific tag with the same digest.
  const asked = img.tag === null && target.tag === "latest" ? null : target.tag;
  const tag = mode === "digest" ? asked : (answer.tag ?? (mode === "both" ? asked : null));
  if (tag === null && mode === "tag")
    return { refuse: `${host} has no version tag with the digest of ${target.key}; pin it by hand` };
  const digest = mode === "tag" ? "" : `@${answer.digest}`;
  const shown = `${img.name}${tag === null ? "" : `:${tag}`}${digest}`;
  // The same image only when the registry resolved the tag as written, not a version the project declares.
  const sameImage = target.tag === (img.tag ?? "latest");
  const message = `pin ${img.name}:${target.tag} to ${shown} (as ${host} has it now)`;
  return { tag, digest, message, rules, sameImage };
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
  /** Safe when the registry proved it the same image; a catalog or declared version may not be. */
  applicability: Applicability;
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

function run(
  model: DockerfileModel,
  declared: () => DeclaredVersions,
  mode: ResolvePin,
  resolved: Readonly<Record<string, ResolvedImage>>,
): TransformResult {
  const plans: Plan[] = [];
  const refusals: Refusal[] = [];
  const argInstrs = model.instructions.filter((i) => i.keyword === "ARG");

  for (const { stage, img } of externalImages(model)) {
    const line = stage.from.line;
    if (unresolvedName(img)) {
      refusals.push({
        line,
        reason: `image name comes from ${img.raw}, which has no usable default; pin it by hand`,
      });
      continue;
    }
    const untaggedOrLatest = img.tag === null || img.tag === "latest";
    if (mode === "off" ? !untaggedOrLatest : !isFloatingTag(img.tag)) continue;
    const rules = untaggedOrLatest ? [img.tag === null ? "DL3006" : "DL3007", "DS-0001"] : [];
    let pin: Pin | { refuse: string };
    if (mode === "off") {
      const decision = chooseTag(img.name, declared());
      pin =
        "refuse" in decision
          ? decision
          : {
              tag: decision.tag,
              digest: "",
              message: `pin ${img.name} to ${decision.tag} (${decision.source})`,
              rules,
              sameImage: false,
            };
    } else {
      const target = resolveTarget(img, declared);
      pin = "refuse" in target ? target : registryPin(img, target, resolved[target.key], mode, rules);
    }
    if ("refuse" in pin) {
      refusals.push({ line, reason: pin.refuse, ...(rules.length ? { rules } : {}) });
      continue;
    }
    const { message } = pin;
    const applicability: Applicability = pin.sameImage ? "safe" : "unsafe";
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
    const end = img.rawSpan.end;
    if (img.tag === null && !lastSegment.includes("$")) {
      const text = `${pin.tag === null ? "" : `:${pin.tag}`}${pin.digest}`;
      plans.push({ stage, edit: { start: end, end, text }, argName: null, message, rules, applicability });
      continue;
    }
    if (img.tag !== null && img.raw.endsWith(`:${img.tag}`)) {
      const text = `${pin.tag ?? img.tag}${pin.digest}`;
      plans.push({
        stage,
        edit: { start: end - img.tag.length, end, text },
        argName: null,
        message,
        rules,
        applicability,
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
    // A digest may go into an ARG holding the whole image; after an ARG holding only the tag
    // it would override --build-arg, so that gets the tag alone.
    const tag = pin.tag ?? img.tag;
    if (!whole && (mode === "digest" || tag === null)) {
      refusals.push({
        line,
        reason: `the tag of ${img.raw} comes from ARG ${argName}; a digest in the FROM would override --build-arg, so pin it by hand`,
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
      const name = parts.tag === null ? current : current.slice(0, current.length - parts.tag.length - 1);
      value = `${name}${tag === null ? "" : `:${tag}`}${pin.digest}`;
    } else {
      value = tag!;
    }
    if (value === current) continue;
    const tagOnly =
      !whole && pin.digest ? " (tag only: a digest after the ARG would override --build-arg)" : "";
    const argMessage = `${message} via ARG ${argName}${tagOnly}`;
    plans.push({ stage, edit: { ...span, text: value }, argName, message: argMessage, rules, applicability });
  }

  // An ARG default may only change when every FROM that reads it wants the same new value.
  const changes: Change[] = [];
  const byArg = new Map<string, Plan[]>();
  for (const p of plans) {
    if (p.argName === null) {
      changes.push({
        edits: [p.edit],
        line: p.stage.from.line,
        message: p.message,
        rules: p.rules,
        applicability: p.applicability,
      });
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
    const applicability = group.every((p) => p.applicability === "safe") ? "safe" : "unsafe";
    changes.push({
      edits: [first.edit],
      line: first.stage.from.line,
      message: first.message,
      rules,
      applicability,
    });
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
    "are refused with the reason. With --resolve the registry decides instead: a floating tag (none, latest, " +
    "a partial version such as 20 or 1.2) gets the most specific version tag with the same digest, plus the " +
    "digest (the index digest of a multi-platform image), as the registry has it at that moment, so the build " +
    "gets the very image it got before.",
  applicability: "unsafe",
  applicabilityNote:
    "The tag it writes can name another version than the one `:latest` or the untagged image pulls today, so the build can get a different runtime.",
  rules: ["DL3006", "DL3007", "DS-0001"],
  run({ model, context, options }) {
    let cache: DeclaredVersions | null = null;
    return run(model, () => (cache ??= declaredVersions(context)), options.resolve, options.resolved);
  },
};
