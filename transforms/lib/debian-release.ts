import type { DockerfileModel, Stage } from "../../src/engine/parse.ts";
import { shortImageName } from "../../src/engine/image-ref.ts";
import { own } from "./own.ts";
import { parentStage } from "./stages.ts";

/** Debian's codenames by release number. */
const CODENAME_OF_VERSION: Readonly<Record<string, string>> = {
  "8": "jessie",
  "9": "stretch",
  "10": "buster",
  "11": "bullseye",
  "12": "bookworm",
  "13": "trixie",
  "14": "forky",
};

/** Debian codename in an image tag (`20-bookworm-slim`, `1.85-slim-bookworm` → bookworm), null when not named. */
export function debianCodename(tag: string | null): string | null {
  const m = /(?:^|-)(jessie|stretch|buster|bullseye|bookworm|trixie|forky)(?:-|$)/.exec(tag ?? "");
  return m ? m[1] : null;
}

/**
 * The distribution a stage's packages come from, read from its base image
 * (through `FROM <earlier stage>`): Debian with its codename when the tag
 * names one (`debian:12`, `debian:bookworm-slim`, `python:3.12-slim-bookworm`),
 * Ubuntu for `ubuntu` images; null when the image does not say (variables,
 * `debian:latest` or `stable`, which move, and images that name no release).
 */
export type BaseDistribution =
  { distro: "debian"; codename: string } | { distro: "ubuntu"; tag: string } | null;

export function stageDistribution(model: DockerfileModel, stage: Stage): BaseDistribution {
  let root = stage;
  for (let p = parentStage(model, root); p; p = parentStage(model, p)) root = p;
  const image = root.image;
  if (!image || image.usesVariables) return null;
  const name = shortImageName(image.name);
  if (name === "ubuntu") return { distro: "ubuntu", tag: image.tag ?? "latest" };
  const version = name === "debian" ? /^(\d+)(?:[.-]|$)/.exec(image.tag ?? "") : null;
  const codename = (version && own(CODENAME_OF_VERSION, version[1])) ?? debianCodename(image.tag);
  return codename ? { distro: "debian", codename } : null;
}
