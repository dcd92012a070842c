import type { DockerfileModel, Stage } from "../../src/engine/parse.ts";
import type { BuildContext, Edit, TransformOptions } from "../../src/engine/types.ts";
import type { Ecosystem } from "../catalog/images.ts";

/** What every ecosystem planner receives: a single-stage Dockerfile and its build context. */
export interface SplitInput {
  model: DockerfileModel;
  /** The only stage. */
  stage: Stage;
  context: BuildContext;
  options: TransformOptions;
}

export type SplitOutcome =
  /** The rewrite, as edits to the original text (untouched lines keep their bytes). */
  | { kind: "rewrite"; edits: Edit[]; message: string }
  /** This ecosystem recognised the app but cannot prove a rewrite safe. */
  | { kind: "refuse"; reason: string; line: number | null };

/** One ecosystem's planner; see README.md in this folder for adding one. */
export interface EcosystemPlanner {
  id: Ecosystem;
  /** Cheap recognition from the base image and the build context. */
  detect(input: SplitInput): boolean;
  plan(input: SplitInput): SplitOutcome;
}
