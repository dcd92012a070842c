import type { Transform, TransformResult } from "../../src/engine/types.ts";
import { dotnet } from "./dotnet.ts";
import { go } from "./go.ts";
import { java } from "./java.ts";
import { node } from "./node.ts";
import { python } from "./python.ts";
import { rust } from "./rust.ts";
import { webRoot } from "./web-root.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { repoName } from "./toolkit/images.ts";
import { contextMemo } from "../lib/context-memo.ts";

/** Ecosystems in the order they are asked; the first whose `detect` claims the file plans it. */
export const ECOSYSTEMS: EcosystemPlanner[] = [webRoot, node, python, go, java, rust, dotnet];

export const splitStages: Transform = {
  id: "split-stages",
  description: "Split a single-stage application build into a build stage and a slim, non-root runtime stage",
  rationale:
    "A single-stage image ships compilers, dev dependencies and package caches to production. " +
    "The rewrite keeps the original build steps in a `build` stage and copies only what the app needs " +
    "into a slim runtime image running as a non-root user; it refuses whenever it cannot prove the " +
    "result still builds and runs the same app. A site built into a web server's folder " +
    "(`/var/www/html`, `/usr/share/nginx/html`) keeps the server image and gets only that folder.",
  applicability: "unsafe",
  applicabilityNote:
    "The app then runs on another base image (slim, alpine or distroless), as a non-root user, without dev dependencies and build tools.",
  rules: ["DL3002"],
  options: {
    goRuntime: {
      type: "string",
      values: ["scratch"],
      description:
        'base of a Go runtime stage: "scratch" for an empty image (default: distroless, or Debian when packages are needed)',
    },
    nodeCopy: {
      type: "string",
      values: ["output"],
      description:
        'Node runtime stage: "output" copies only package.json, production node_modules and the folders the start command runs (a --verify rung; default: the whole app folder)',
    },
    nodeRuntime: {
      type: "string",
      values: ["distroless"],
      description:
        'Node runtime stage: "distroless" runs the app (with nodeCopy "output", only its built output) on gcr.io/distroless/nodejs<major>-debian12 (no shell, no npm) when the start command is plainly `node <file>`, with production node_modules from a stage that installs them or the pruned build stage (a --verify rung; default: the slim variant)',
    },
    buildToolStart: {
      type: "string",
      values: ["keep"],
      description:
        'a Node start command that runs a build tool (`vite preview`, `react-scripts start`): "keep" splits with the whole app folder and the dependencies it runs, dev ones kept (a --verify rung; default: refused)',
    },
    runtimeUser: {
      type: "string",
      values: ["original"],
      description:
        'a runtime stage of Node or Python: "original" keeps the original\'s user (root when it sets none) instead of a non-root user (a --verify rung; default: non-root)',
    },
    noBuildStep: {
      type: "string",
      values: ["slim"],
      description:
        'an app with no build step: "slim" runs the same steps on the image\'s -slim variant (a --verify rung; default: left alone)',
    },
  },
  run({ model, context, options }): TransformResult {
    const none: TransformResult = { changes: [], refusals: [] };
    if (model.stages.length !== 1) {
      if (model.stages.length > 1) {
        return {
          changes: [],
          refusals: [{ line: null, reason: `already multi-stage (${model.stages.length} stages)` }],
        };
      }
      return none;
    }
    const stage = model.stages[0];
    if (!stage.image) {
      return { changes: [], refusals: [{ line: stage.from.line, reason: "FROM has no image to build on" }] };
    }
    if (repoName(stage.image.name) === "scratch") {
      return {
        changes: [],
        refusals: [{ line: stage.from.line, reason: "FROM scratch: nothing is built here" }],
      };
    }
    const input: SplitInput = { model, stage, context, options };
    const claimer = ECOSYSTEMS.find((e) => e.detect(input));
    if (!claimer) {
      return {
        changes: [],
        refusals: [{ line: stage.from.line, reason: `no recognised application build (${seen(input)})` }],
      };
    }
    const outcome = claimer.plan(input);
    if (outcome.kind === "refuse") {
      return { changes: [], refusals: [{ line: outcome.line, reason: `${claimer.id}: ${outcome.reason}` }] };
    }
    return {
      changes: [{ edits: outcome.edits, line: stage.from.line, message: outcome.message, rules: ["DL3002"] }],
      refusals: [],
    };
  },
};

const MANIFESTS = [
  "package.json",
  "go.mod",
  "requirements.txt",
  "pyproject.toml",
  "Pipfile",
  "pom.xml",
  "build.gradle",
  "build.gradle.kts",
  "Cargo.toml",
];

// Most files end in the "no recognised build" refusal, every round: its manifests are looked up once per context.
const manifestsSeen = contextMemo<string[]>(1);

/** A short description of what the dispatcher saw, for the "no recognised build" refusal. */
function seen({ model, stage, context }: SplitInput): string {
  const manifests = manifestsSeen(context, "", () => MANIFESTS.filter((f) => context.exists(f)));
  const runs = stage.instructions.filter((i) => i.keyword === "RUN").length;
  const parts = [`base ${stage.image!.raw}`, `${runs} RUN${runs === 1 ? "" : "s"}`];
  parts.push(
    manifests.length
      ? `manifests: ${manifests.join(", ")}`
      : context.root === "<none>"
        ? "no build context"
        : "no manifests in the context",
  );
  void model;
  return parts.join(", ");
}
