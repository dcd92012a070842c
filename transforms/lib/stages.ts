import type { DockerfileModel, Stage } from "../../src/engine/parse.ts";

/** The stage before index `before` that `ref` (a FROM image or a `--from` value) names by name or index, or null. */
export function stageByReference(model: DockerfileModel, ref: string, before: number): Stage | null {
  const lower = ref.toLowerCase();
  for (const s of model.stages) {
    if (s.index >= before) break;
    if ((s.name && s.name.toLowerCase() === lower) || String(s.index) === lower) return s;
  }
  return null;
}

/** The earlier stage of this file a stage is built FROM (`FROM build`, by name or index), or null for an image. */
export function parentStage(model: DockerfileModel, stage: Stage): Stage | null {
  return stage.image ? stageByReference(model, stage.image.expanded, stage.index) : null;
}
