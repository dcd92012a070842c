import type { Transform } from "../src/engine/types.ts";
import { dockerignore } from "./dockerignore.ts";
import { splitStages } from "./split-stages/index.ts";
import { testStage } from "./test-stage.ts";
import { addToCopy } from "./instr/add-to-copy.ts";
import { cdToWorkdir } from "./instr/cd-to-workdir.ts";
import { envKeyValue } from "./instr/env-key-value.ts";
import { execFormCmd } from "./instr/exec-form-cmd.ts";
import { instructionCase } from "./instr/instruction-case.ts";
import { maintainerToLabel } from "./instr/maintainer-to-label.ts";
import { nonRootUser } from "./instr/non-root-user.ts";
import { shellPipefail } from "./instr/shell-pipefail.ts";
import { workdirAbsolute } from "./instr/workdir-absolute.ts";
import { mergeRuns } from "./merge-runs.ts";
import { aptToAptGet } from "./pkg/apt-to-apt-get.ts";
import { aptGetYes } from "./pkg/apt-get-yes.ts";
import { aptGetNoInstallRecommends } from "./pkg/apt-get-no-install-recommends.ts";
import { aptGetCleanLists } from "./pkg/apt-get-clean-lists.ts";
import { aptGetUpdateAlone } from "./pkg/apt-get-update-alone.ts";
import { apkNoCache } from "./pkg/apk-no-cache.ts";
import { yumHygiene } from "./pkg/yum-hygiene.ts";
import { pipNoCacheDir } from "./pkg/pip-no-cache-dir.ts";
import { npmCi } from "./pkg/npm-ci.ts";
import { npmCacheClean } from "./pkg/npm-cache-clean.ts";
import { curlFlags } from "./pkg/curl-flags.ts";
import { pinTags } from "./pin-tags.ts";
import { addArgs } from "./add-args.ts";

/**
 * Every transform, in the order the engine runs them: tags and structure
 * first (split-stages creates stages the smell repairs then tidy), then the
 * repairs, then merge-runs and add-args, which reshape what the others wrote.
 */
export const TRANSFORMS: readonly Transform[] = [
  // structure: pin first, so split-stages derives the runtime image from a real version
  pinTags,
  splitStages,
  testStage,
  dockerignore,
  // smell repairs
  aptToAptGet,
  aptGetUpdateAlone,
  aptGetYes,
  aptGetNoInstallRecommends,
  aptGetCleanLists,
  apkNoCache,
  yumHygiene,
  pipNoCacheDir,
  npmCi,
  npmCacheClean,
  curlFlags,
  // instruction repairs
  addToCopy,
  maintainerToLabel,
  envKeyValue,
  workdirAbsolute,
  cdToWorkdir,
  execFormCmd,
  shellPipefail,
  nonRootUser,
  instructionCase,
  // layout: after the repairs that edit single RUNs
  mergeRuns,
  addArgs,
];

export function transformById(id: string): Transform | undefined {
  return TRANSFORMS.find((t) => t.id === id);
}
