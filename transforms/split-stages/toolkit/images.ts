/** Base images a planner reads from the FROM line or introduces in the runtime stage. */
import type { TransformOptions } from "../../../src/engine/types.ts";

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

/** Debian codename in an image tag (`20-bookworm-slim` → bookworm), null when not named. */
export function debianCodename(tag: string | null): string | null {
  const m = /(?:^|-)(buster|bullseye|bookworm|trixie|stretch|jessie)(?:-|$)/.exec(tag ?? "");
  return m ? m[1] : null;
}

/** Debian codename in an image tag (`1.85-slim-bookworm` → bookworm). */
export function codenameOf(tag: string | null): string | null {
  const m = /(jessie|stretch|buster|bullseye|bookworm|trixie|forky)/.exec(tag ?? "");
  return m ? m[1] : null;
}

export function isAlpineTag(tag: string | null): boolean {
  return /(?:^|-)alpine/.test(tag ?? "");
}
