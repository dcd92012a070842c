import type { Transform } from "../src/engine/types.ts";

/**
 * Every transform, in the order the engine runs them. Structure first
 * (split-stages creates stages the smell fixes then tidy), then the smell
 * repairs, then merge-runs (after repairs that edit single RUNs), then tags.
 */
export const TRANSFORMS: readonly Transform[] = [];

export function transformById(id: string): Transform | undefined {
  return TRANSFORMS.find((t) => t.id === id);
}
