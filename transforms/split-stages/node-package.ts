/** The app's package.json, as the Node planner reads it. */
import type { SplitInput } from "./types.ts";
import { contextFileAt, readJson, stageVars, workdirs } from "./toolkit/instructions.ts";
import { refuse } from "./toolkit/refuse.ts";

export type Pm = "npm" | "yarn" | "pnpm" | "bun";

export interface Pkg {
  scripts: Record<string, string>;
  deps: Set<string>;
  devDeps: Set<string>;
  workspaces: boolean;
  packageManager: string | null;
  main: string | null;
  /** The context folder package.json comes from: "" (the context root) or the app folder's source. */
  dir: string;
}

/** Lock and settings files of package managers other than npm. */
const NOT_NPM_FILES = [
  "yarn.lock",
  ".yarnrc.yml",
  ".yarnrc",
  "pnpm-lock.yaml",
  "bun.lock",
  "bun.lockb",
  ".pnp.cjs",
];

/**
 * package.json at the context root; else the one a COPY puts in the app folder
 * (`COPY src/package*.json ./`), followed for npm only (the other managers'
 * files are looked for at the context root).
 */
export function readPkg(input: SplitInput, appDir: string): Pkg | null {
  const { model, stage, context } = input;
  const file = context.exists("package.json")
    ? "package.json"
    : contextFileAt(
        stage,
        context,
        `${appDir}/package.json`,
        workdirs(stage, "/", model.globalArgValues),
        stageVars(stage, model.globalArgValues),
      );
  const j = file === null ? null : readJson(context, file);
  if (!j || file === null) return null;
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
  const other = dir ? NOT_NPM_FILES.find((f) => context.exists(`${dir}/${f}`)) : undefined;
  if (other)
    refuse(
      `package.json comes from ${dir}/, which has ${other}: only npm is followed outside the context root`,
    );
  const rec = (v: unknown) => (v && typeof v === "object" ? (v as Record<string, string>) : {});
  // The scripts' texts, in a record without a prototype: `npm run constructor` names a plain script
  // (Object.prototype.constructor is not its text), and a value that is not a string is no script.
  const scripts = Object.create(null) as Record<string, string>;
  for (const [name, body] of Object.entries(rec(j.scripts)))
    if (typeof body === "string") scripts[name] = body;
  return {
    scripts,
    deps: new Set([...Object.keys(rec(j.dependencies)), ...Object.keys(rec(j.optionalDependencies))]),
    devDeps: new Set(Object.keys(rec(j.devDependencies))),
    workspaces: j.workspaces !== undefined,
    packageManager: typeof j.packageManager === "string" ? j.packageManager : null,
    main: typeof j.main === "string" ? j.main : null,
    dir,
  };
}
