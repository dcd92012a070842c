/**
 * Yarn Berry (2+) in the Node planner: what `.yarnrc.yml`, `packageManager`
 * and the lockfile say about where packages live and how dev dependencies
 * can be dropped.
 *
 * - `nodeLinker: node-modules` installs into node_modules, as Yarn classic.
 * - PnP (the default) writes `.pnp.cjs` and keeps zip archives in the cache:
 *   `.yarn/cache` inside the project, or `~/.yarn/berry/cache` when the global
 *   cache is on (the default from Yarn 4), which a runtime stage copying the
 *   app folder would not have.
 * - `yarn workspaces focus --production` drops dev dependencies; it is built
 *   into Yarn 4 and a plugin (`workspace-tools`) before.
 */
import type { Instr } from "../../src/engine/parse.ts";
import type { BuildContext } from "../../src/engine/types.ts";
import { refuse } from "./toolkit/refuse.ts";

export interface YarnBerry {
  linker: "pnp" | "node-modules";
  /** Major version, when `packageManager` or the `yarnPath` release names it. */
  major: number | null;
  /** `yarn workspaces focus --production` is available (Yarn 4, or the workspace-tools plugin). */
  focus: boolean;
}

/** Yarn Berry facts of the project, or null for npm, pnpm and Yarn classic; refuses what it cannot follow. */
export function yarnBerry(context: BuildContext, packageManager: string | null, at: Instr): YarnBerry | null {
  const rc = context.readFile(".yarnrc.yml");
  const lock = context.readFile("yarn.lock");
  const pmMajor = /^yarn@(\d+)/.exec(packageManager ?? "")?.[1];
  const berry =
    rc !== undefined ||
    (pmMajor !== undefined && Number(pmMajor) >= 2) ||
    (lock !== undefined && /^__metadata:/m.test(lock));
  if (!berry) return null;
  const setting = (key: string) =>
    new RegExp(`^${key}:\\s*["']?([^"'\\s#]+)`, "m").exec(rc ?? "")?.[1] ?? null;
  const yarnPath = setting("yarnPath");
  const releaseMajor = /yarn-(\d+)\.[\w.-]*\.c?js$/.exec(yarnPath ?? "")?.[1];
  const major =
    pmMajor !== undefined ? Number(pmMajor) : releaseMajor !== undefined ? Number(releaseMajor) : null;
  const linker = setting("nodeLinker") ?? "pnp";
  if (linker !== "pnp" && linker !== "node-modules")
    refuse(`Yarn Berry with nodeLinker ${linker} is not planned (only pnp and node-modules)`, at);
  if (linker === "pnp") {
    const globalCache = setting("enableGlobalCache");
    const global = globalCache !== null ? globalCache === "true" : major === null ? null : major >= 4;
    if (global === null)
      refuse(
        "Yarn Berry PnP: the Yarn version is not known (no packageManager or yarnPath), so neither is whether packages live in the global cache outside the app folder",
        at,
      );
    if (global)
      refuse(
        "Yarn Berry PnP with the global cache: the packages live in ~/.yarn/berry/cache, outside the app folder the runtime stage gets (set enableGlobalCache: false)",
        at,
      );
  }
  return {
    linker,
    major,
    focus: (major !== null && major >= 4) || /plugin-workspace-tools/.test(rc ?? ""),
  };
}
