/** Base images a planner reads from the FROM line or introduces in the runtime stage. */
import type { ImageRef, Stage } from "../../../src/engine/parse.ts";
import type { TransformOptions } from "../../../src/engine/types.ts";
import { refuse } from "./refuse.ts";

/** An image dfopt introduces, with the `registryPrefix` option applied. */
export function baseImage(options: TransformOptions, image: string): string {
  const prefix = options.registryPrefix ?? "";
  if (!prefix) return image;
  return prefix.endsWith("/") ? prefix + image : prefix + "/" + image;
}

/** Repository name without registry (`docker.io/library/node` → `node`). */
export function repoName(name: string): string {
  return name
    .replace(/^(?:docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)/, "")
    .replace(/^library\//, "");
}

/** Image name without registry host or `library/`: `docker.io/library/golang` → `golang`. */
export function shortName(name: string): string {
  return name
    .replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, "")
    .replace(/^library\//, "");
}

export function isAlpineTag(tag: string | null): boolean {
  return /(?:^|-)alpine/.test(tag ?? "");
}

/**
 * The runtime variant of an official language image (`node`, `python`) on
 * the FROM line: `runtimeTag` names it for a plain tag, and a tag that is a
 * single variable gets `-slim` appended. Refuses other images, digests, and
 * tags it cannot name; `checkTag` refuses more (e.g. Windows tags).
 */
export function slimVariant(
  stage: Stage,
  lang: {
    repo: string;
    /** The app kind in the refusal: `a Node app`. */
    app: string;
    runtimeTag: (tag: string) => string | null;
    checkTag?: (tag: string, image: ImageRef) => void;
  },
): { image: ImageRef; tag: string; runtimeRaw: string; alpine: boolean } {
  const image = stage.image!;
  if (repoName(image.name) !== lang.repo)
    refuse(
      `unknown base image ${image.raw} for ${lang.app} (only the official ${lang.repo} images are known)`,
      stage.from,
    );
  if (image.digest)
    refuse(
      `base image ${image.raw} is pinned by digest; the digest of its slim variant is not known`,
      stage.from,
    );
  const tag = image.tag ?? "latest";
  lang.checkTag?.(tag, image);
  const rtTag = lang.runtimeTag(tag);
  if (!rtTag) refuse(`no slim variant known for ${lang.repo}:${tag}`, stage.from);
  let runtimeRaw = `${lang.repo}:${rtTag}`;
  if (image.usesVariables) {
    const m = new RegExp(`^(?:(?:docker\\.io\\/)?(?:library\\/)?)?${lang.repo}:(\\$\\{?\\w+\\}?)$`).exec(
      image.raw,
    );
    if (!m || /alpine|slim|-/.test(tag))
      refuse(`base image ${image.raw} uses a variable the transform cannot extend to a slim tag`, stage.from);
    runtimeRaw = `${lang.repo}:${m[1]}-slim`;
  }
  return { image, tag, runtimeRaw, alpine: /alpine/.test(tag) };
}
