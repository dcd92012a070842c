/** The Node (or oven/bun) base image of the build and its runtime variant. */
import { NODE_LTS_CODENAMES } from "../catalog/images.ts";
import type { SplitInput } from "./types.ts";
import { own } from "../lib/own.ts";
import { repoName, slimVariant } from "./toolkit/images.ts";
import { quote, refuse } from "./toolkit/refuse.ts";

function nodeMajor(tag: string): number | null {
  const m = /^(\d+)/.exec(tag);
  if (m) return Number(m[1]);
  const name = tag.split("-")[0];
  return own(NODE_LTS_CODENAMES, name) ?? null;
}

/** The runtime image tag for a node build tag (null when it cannot be named). */
function runtimeTag(tag: string): string | null {
  if (/alpine|slim/.test(tag)) return tag;
  if (tag === "latest") return "slim";
  if (/^(?:current|lts)$/.test(tag) || /^[\w.]+(?:-(?:bookworm|bullseye|buster|stretch|trixie))?$/.test(tag))
    return `${tag}-slim`;
  return null;
}

export interface NodeBase {
  image: NonNullable<SplitInput["stage"]["image"]>;
  tag: string;
  /** The image's non-root user the runtime stage runs as (`node`, or `bun` on oven/bun). */
  user: string;
  /** The runtime image: the `-slim` variant of the same tag. */
  runtimeRaw: string;
  alpine: boolean;
  major: number | null;
  /** Why an asked-for runtime flavour is not used. */
  notes: string[];
}

/** The base image and its runtime variant; refuses images it does not know. */
export function nodeBase(input: SplitInput): NodeBase {
  const { stage, options } = input;
  if (/^(?:oven\/bun|bun)$/.test(repoName(stage.image!.name))) return bunBase(input);
  const { image, tag, runtimeRaw, alpine } = slimVariant(stage, {
    repo: "node",
    app: "a Node app",
    runtimeTag,
  });
  const notes: string[] = [];
  if (options.runtimeFlavour === "alpine" && !alpine)
    notes.push("runtimeFlavour alpine ignored: native modules built on glibc would not load on musl");
  if (options.runtimeFlavour === "distroless")
    notes.push("runtimeFlavour distroless not used for Node: the start command needs a shell and npm");
  return { image, tag, user: "node", runtimeRaw, alpine, major: nodeMajor(tag), notes };
}

/**
 * `oven/bun:<tag>` (Debian) runs on `oven/bun:<tag>-slim`, published for every 1.x tag, `latest`
 * and `canary`; `-alpine` and `-slim` tags stay. Every variant has the `bun` user (uid 1000) and
 * WORKDIR /home/bun/app. `-distroless` is not used: its ENTRYPOINT is bun itself and it has no shell.
 */
function bunBase({ stage, options }: SplitInput): NodeBase {
  const image = stage.image!;
  if (image.digest)
    refuse(
      `base image ${image.raw} is pinned by digest; the digest of its slim variant is not known`,
      stage.from,
    );
  if (image.usesVariables)
    refuse(`base image ${image.raw} uses a variable the transform cannot extend to a slim tag`, stage.from);
  const tag = image.tag ?? "latest";
  const version = /^(latest|canary|\d+(?:\.\d+){0,2})(?:-debian)?$/.exec(tag);
  const runtimeTag = /-(?:alpine|slim)$|^(?:alpine|slim)$/.test(tag)
    ? tag
    : version && !/^0\./.test(version[1])
      ? version[1] === "latest"
        ? "slim"
        : `${version[1]}-slim`
      : null;
  if (!runtimeTag) refuse(`no slim variant known for oven/bun:${tag}`, stage.from);
  const firstWork = stage.instructions.find((i) => /^(?:WORKDIR|COPY|ADD|RUN)$/.test(i.keyword));
  if (firstWork && firstWork.keyword !== "WORKDIR")
    refuse(
      `${quote(firstWork)} runs in oven/bun's own WORKDIR /home/bun/app; the split needs the app folder named by a WORKDIR`,
      firstWork,
    );
  const notes: string[] = [];
  if (options.runtimeFlavour === "distroless")
    notes.push(
      "runtimeFlavour distroless not used for bun: oven/bun:*-distroless runs bun as its ENTRYPOINT, with no shell",
    );
  if (options.runtimeFlavour === "alpine" && !/alpine/.test(tag))
    notes.push("runtimeFlavour alpine ignored: native modules built on glibc would not load on musl");
  return {
    image,
    tag,
    user: "bun",
    runtimeRaw: `${image.name}:${runtimeTag}`,
    alpine: /alpine/.test(tag),
    major: null,
    notes,
  };
}
