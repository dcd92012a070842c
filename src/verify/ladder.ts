import { optimizeFile, type FileResult } from "../engine/engine.ts";
import { parseDockerfile } from "../engine/parse.ts";
import type { BuildContext, RuntimeFlavour, Transform, TransformOptions } from "../engine/types.ts";
import { ECOSYSTEMS } from "../../transforms/split-stages/index.ts";
import type { Ecosystem } from "../../transforms/catalog/images.ts";

/**
 * One step of a ladder: split-stages option overrides. The candidate is the text the engine writes
 * with these options; rungs whose texts come out the same are built once.
 */
export interface Rung {
  id: string;
  /** What the candidate ships, for reports. */
  description: string;
  runtimeFlavour?: RuntimeFlavour;
  /** Overrides of `options["split-stages"]` (the config file's per-transform options). */
  splitStages?: Record<string, unknown>;
  /** Transforms this rung does not run. */
  without?: readonly string[];
}

type EcosystemId = Ecosystem;

/**
 * The rungs tried before the rewrite --unsafe makes without --verify ("default"), most aggressive
 * (smallest image) first. After "default" comes "no-split": every other transform, no split-stages.
 */
export const LADDERS: Record<EcosystemId, Rung[]> = {
  node: [
    {
      id: "distroless",
      description:
        "the built output of a start command that is plainly `node <file>` on the distroless Node image of the same major (no shell, no npm), with production node_modules from a stage that installs them",
      runtimeFlavour: "slim",
      splitStages: { nodeCopy: "output", nodeRuntime: "distroless" },
    },
    {
      id: "distroless-app-folder",
      description:
        "the app folder (production node_modules, sources and build output) of a plain `node <file>` start command on the distroless Node image",
      runtimeFlavour: "slim",
      splitStages: { nodeRuntime: "distroless" },
    },
    {
      id: "built-output",
      description:
        "only the built output the start command runs or serves (a static SPA's folder), with production node_modules and package.json unless the server is installed globally",
      runtimeFlavour: "slim",
      splitStages: { nodeCopy: "output" },
    },
    // the runtime is alpine when the original is (glibc modules would not load on musl)
    { id: "slim", description: "the app folder on the slim (or alpine) variant", runtimeFlavour: "slim" },
    {
      id: "build-tool-start",
      description:
        "a start command that runs a build tool (vite preview, react-scripts start): the app folder with the dependencies it runs, dev ones kept, on the slim (or alpine) variant",
      runtimeFlavour: "slim",
      splitStages: { buildToolStart: "keep" },
    },
  ],
  python: [
    {
      id: "slim-swap",
      description: "an app with no install step: the same image on its -slim variant",
      splitStages: { noBuildStep: "slim" },
    },
    { id: "venv-slim", description: "venv + app on the slim variant", runtimeFlavour: "slim" },
  ],
  go: [
    { id: "scratch", description: "the binary alone on scratch", splitStages: { goRuntime: "scratch" } },
    { id: "distroless", description: "the binary on distroless static", runtimeFlavour: "distroless" },
    { id: "debian-slim", description: "the binary on the slim variant", runtimeFlavour: "slim" },
  ],
  java: [{ id: "jre", description: "JRE + jar / install folder", runtimeFlavour: "slim" }],
  rust: [
    { id: "distroless", description: "the binary on distroless", runtimeFlavour: "distroless" },
    { id: "slim", description: "the binary on the slim variant", runtimeFlavour: "slim" },
  ],
  dotnet: [{ id: "runtime", description: ".NET runtime image + published output", runtimeFlavour: "slim" }],
  // the served folder on the same server image: no other rung to try
  web: [],
};

export const DEFAULT_RUNG: Rung = { id: "default", description: "the rewrite dfopt makes without --verify" };
export const NO_SPLIT_RUNG: Rung = {
  id: "no-split",
  description: "every other rewrite, without split-stages",
  without: ["split-stages"],
};

/** Ecosystems whose runtime stage can keep the original's user (split-stages' `runtimeUser`). */
const KEEPS_USER: ReadonlySet<EcosystemId> = new Set(["node", "python"]);

/**
 * The same rung with the original's user (root when it sets none): for an app whose output shows
 * its user (it prints HOME or its environment, writes where only root may), which a non-root
 * runtime changes. Gives no other candidate when the rung adds no user (text alike: built once).
 */
function asOriginalUser(rung: Rung): Rung {
  return {
    id: `${rung.id}-original-user`,
    description: `${rung.description}, as the original's user`,
    runtimeFlavour: rung.runtimeFlavour,
    splitStages: { ...rung.splitStages, runtimeUser: "original" },
    without: [...(rung.without ?? []), "non-root-user"],
  };
}

const SPLIT_STAGES = "split-stages";

/** The ecosystem split-stages would plan this file with, or null (not single-stage, or unknown). */
export function ecosystemOf(
  raw: string,
  context: BuildContext,
  options: TransformOptions,
): EcosystemId | null {
  let model;
  try {
    model = parseDockerfile(raw);
  } catch {
    return null;
  }
  if (model.stages.length !== 1 || !model.stages[0].image) return null;
  const input = { model, stage: model.stages[0], context, options };
  return ECOSYSTEMS.find((e) => e.detect(input))?.id ?? null;
}

/**
 * The ladder for a file: its ecosystem's rungs, then "default"; for Node and Python the same split
 * rungs again as the original's user; then "no-split" and "no-split-original-user".
 */
export function ladderFor(ecosystem: EcosystemId | null, splits: boolean): Rung[] {
  if (!splits) return [DEFAULT_RUNG];
  const split = [...(ecosystem ? LADDERS[ecosystem] : []), DEFAULT_RUNG];
  const keep = ecosystem !== null && KEEPS_USER.has(ecosystem);
  return [...split, ...(keep ? split.map(asOriginalUser) : []), NO_SPLIT_RUNG, asOriginalUser(NO_SPLIT_RUNG)];
}

export function optionsFor(rung: Rung, options: TransformOptions): TransformOptions {
  if (!rung.runtimeFlavour && !rung.splitStages) return options;
  return {
    ...options,
    runtimeFlavour: rung.runtimeFlavour ?? options.runtimeFlavour,
    perTransform: {
      ...options.perTransform,
      [SPLIT_STAGES]: { ...options.perTransform[SPLIT_STAGES], ...rung.splitStages },
    },
  };
}

export interface Candidate {
  /** The rungs that give this text (the first names it). */
  rungs: Rung[];
  result: FileResult;
  /** Side files whose content differs from the context's. */
  sideFiles: FileResult["sideFiles"];
}

/**
 * The distinct candidate rewrites of `raw`, in ladder order. Rungs whose text equals the original
 * (nothing to build) or an earlier rung's, whose engine run fails, or whose split is refused (the
 * no-split rung gives that text), give no candidate.
 */
export function candidatesFor(
  raw: string,
  context: BuildContext,
  transforms: readonly Transform[],
  options: TransformOptions,
): { ecosystem: EcosystemId | null; candidates: Candidate[] } {
  const splits = transforms.some((t) => t.id === SPLIT_STAGES);
  const ecosystem = splits ? ecosystemOf(raw, context, options) : null;
  const candidates: Candidate[] = [];
  for (const rung of ladderFor(ecosystem, splits)) {
    const result = optimizeFile(raw, context, {
      transforms: transforms.filter((t) => !rung.without?.includes(t.id)),
      options: optionsFor(rung, options),
    });
    if (result.error) continue;
    // a split rung whose split is refused gives the no-split text: named by the no-split rung, so
    // that a report never says "kept built-output" of a file that was not split
    const splitRung = splits && !rung.without?.includes(SPLIT_STAGES);
    if (splitRung && !result.changes.some((c) => c.transform === SPLIT_STAGES)) continue;
    const sideFiles = result.sideFiles.filter((f) => context.readFile(f.path) !== f.content);
    if (!result.changed && sideFiles.length === 0) continue;
    const key = JSON.stringify([result.output, sideFiles]);
    const same = candidates.find((c) => JSON.stringify([c.result.output, c.sideFiles]) === key);
    if (same) same.rungs.push(rung);
    else candidates.push({ rungs: [rung], result, sideFiles });
  }
  return { ecosystem, candidates };
}
