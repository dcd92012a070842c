import type { DockerfileModel, Stage } from "../../src/engine/parse.ts";

/** The earlier stage of this file a stage is built FROM (`FROM build`, by name or index), or null for an image. */
export function parentStage(model: DockerfileModel, stage: Stage): Stage | null {
  const img = stage.image?.expanded.toLowerCase();
  if (!img) return null;
  for (const s of model.stages) {
    if (s.index >= stage.index) break;
    if ((s.name && s.name.toLowerCase() === img) || String(s.index) === img) return s;
  }
  return null;
}
