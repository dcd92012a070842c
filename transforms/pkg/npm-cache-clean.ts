import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import type { BuildContext, Change, Refusal, Transform } from "../../src/engine/types.ts";
import {
  appendCommand,
  cacheMountTargets,
  change,
  envBefore,
  finalImageStages,
  operands,
  prefixText,
  refusal,
  runScripts,
  toolCalls,
} from "./shell-edits.ts";

const NPM_INSTALLS = new Set(["install", "i", "ci", "add", "update"]);
const YARN_INSTALLS = new Set(["install", "add"]);

/**
 * Yarn 1 is certain only from the build context: a `yarn.lock` that says
 * `# yarn lockfile v1` and no `.yarnrc.yml` / `packageManager: yarn@2+`.
 * Under Yarn 2+ `yarn cache clean` empties the project cache a Plug'n'Play
 * app loads its packages from at run time.
 */
function yarnOneCertain(ctx: BuildContext): string | null {
  if (ctx.exists(".yarnrc.yml")) return ".yarnrc.yml shows Yarn 2+";
  const pkg = ctx.readFile("package.json");
  if (pkg && /"packageManager"\s*:\s*"yarn@(?!1\.)/.test(pkg))
    return "package.json names Yarn 2+ as packageManager";
  const lock = ctx.readFile("yarn.lock");
  if (!lock) return "no yarn.lock in the build context to tell Yarn 1 from Yarn 2+";
  if (!/^# yarn lockfile v1/m.test(lock)) return "yarn.lock is not a Yarn 1 lock file";
  return null;
}

function cacheUsedAnyway(model: DockerfileModel, instr: Instr): boolean {
  if (cacheMountTargets(instr).some((t) => /npm|yarn|\.cache/.test(t))) return true;
  const env = envBefore(model, instr);
  return ["npm_config_cache", "NPM_CONFIG_CACHE", "YARN_CACHE_FOLDER"].some((n) => env.has(n));
}

export const npmCacheClean: Transform = {
  id: "npm-cache-clean",
  description: "Clean the npm/yarn cache in the final-image RUN that installs packages",
  rationale:
    "npm and yarn keep a copy of every downloaded package (~/.npm, the yarn cache); in the final image " +
    "it is dead weight. `npm cache clean --force` / `yarn cache clean` appended at the end of the same " +
    "RUN removes it without touching node_modules. Only RUNs of the final stage (and the stages it is " +
    "built FROM) are changed: files of other build stages reach the image only through COPY --from, " +
    "which does not copy caches from the home directory. Skipped when the cache is a cache mount, " +
    "relocated by npm_config_cache/YARN_CACHE_FOLDER, or already cleaned. yarn is changed only when the " +
    "build context proves Yarn 1 (under Yarn 2+ the cache can be the project's package store).",
  applicability: "safe",
  reads: ["RUN", "SHELL", "ENV", "ARG"],
  applicabilityNote:
    "Only the download cache in the home folder goes; node_modules and global installs stay.",
  rules: ["DL3060"],
  run({ model, context }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const finalStages = finalImageStages(model);
    for (const rs of runScripts(model)) {
      if (!finalStages.has(rs.instr.stage)) continue;
      const installers = toolCalls(rs, ["npm", "yarn"]);
      if (installers.length === 0 || cacheUsedAnyway(model, rs.instr)) continue;
      const text = rs.instr.text;
      const npm = installers.find(
        (c) =>
          c.tool === "npm" &&
          c.sub?.value &&
          NPM_INSTALLS.has(c.sub.value) &&
          !c.words.some((w) => /^--cache\b/.test(w.value ?? "")),
      );
      const yarn = installers.find(
        (c) =>
          c.tool === "yarn" &&
          ((c.sub === null && c.words.length === 1) ||
            (c.sub?.value && YARN_INSTALLS.has(c.sub.value)) ||
            (c.sub === null && c.words.slice(1).every((w) => w.value?.startsWith("-")))),
      );
      const adds: string[] = [];
      const rules: string[] = [];
      let at: number | null = null;
      if (npm && !/npm\s+cache\s+(?:clean|clear|rm)|\.npm\b/.test(text)) {
        adds.push(`${prefixText(npm)}npm cache clean --force`);
        at = npm.words[0].start;
      }
      if (
        yarn &&
        !/yarn\s+cache\s+clean|\/yarn\b|\.yarn-cache|\.cache\/yarn/.test(text) &&
        !operands(yarn).some((w) => w.value === "global")
      ) {
        const why = yarnOneCertain(context);
        if (why) refusals.push(refusal(model, yarn.words[0].start, `yarn cache kept: ${why}`, ["DL3060"]));
        else {
          adds.push(`${prefixText(yarn)}yarn cache clean`);
          rules.push("DL3060");
          at ??= yarn.words[0].start;
        }
      }
      if (adds.length === 0 || at === null) continue;
      const edit = appendCommand(model, rs, adds.join(" && "));
      if (edit)
        changes.push(change(model, at, [edit], `clean the package cache (${adds.join(", ")})`, rules));
    }
    return { changes, refusals };
  },
};
