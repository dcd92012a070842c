import type { DockerfileModel, Stage } from "../../src/engine/parse.ts";

/** Per model, the first stage of each (lower-case) name: a FROM chain thousands of stages deep is not walked by scanning. */
const stagesByName = new WeakMap<DockerfileModel, Map<string, Stage>>();

/** The stage before index `before` that `ref` (a FROM image or a `--from` value) names by name or index, or null. */
export function stageByReference(model: DockerfileModel, ref: string, before: number): Stage | null {
  let byName = stagesByName.get(model);
  if (!byName) {
    byName = new Map();
    for (const s of model.stages) {
      const name = s.name?.toLowerCase();
      if (name !== undefined && !byName.has(name)) byName.set(name, s);
    }
    stagesByName.set(model, byName);
  }
  const lower = ref.toLowerCase();
  // The first stage that has the name or the index, as a scan in file order finds it.
  const named = byName.get(lower);
  const numbered = /^(0|[1-9]\d*)$/.test(lower) ? model.stages[Number(lower)] : undefined;
  const found = named && numbered ? (named.index < numbered.index ? named : numbered) : (named ?? numbered);
  return found && found.index < before ? found : null;
}

/** The earlier stage of this file a stage is built FROM (`FROM build`, by name or index), or null for an image. */
export function parentStage(model: DockerfileModel, stage: Stage): Stage | null {
  return stage.image ? stageByReference(model, stage.image.expanded, stage.index) : null;
}
