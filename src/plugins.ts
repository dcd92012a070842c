/**
 * Custom transforms ("plugins"): JavaScript modules (ESM or CommonJS) whose
 * default export is a transform, or an array of them, with the built-ins'
 * interface (src/engine/types.ts). They are loaded with require() (Node
 * loads ES modules that way since 20.19), synchronously and once per process
 * and file, so every worker thread loads them itself as it first needs them,
 * the way jscodeshift loads `-t`.
 *
 * Trust: a plugin runs with dfopt's rights. `--transform` and a config file
 * the user names (`--config`, the API's `config`) are the user's choice and
 * are loaded. A config file dfopt finds next to a Dockerfile belongs to the
 * repository being scanned: its `plugins` are loaded only with
 * `--allow-config-plugins` (the API's `allowConfigPlugins`); without it the
 * Dockerfiles under that config are reported as errors, not silently
 * processed without the rules their team asked for.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import {
  PluginFailure,
  type Change,
  type Refusal,
  type SideFile,
  type Transform,
  type TransformResult,
} from "./engine/types.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import type { DfoptConfig } from "./config.ts";

export class PluginError extends Error {}

const requireHere = createRequire(import.meta.url);
/** Loaded plugin files (absolute path → their transforms). A failure is not kept: the file may be fixed. */
const loaded = new Map<string, Transform[]>();

/** The transforms of plugin files (absolute paths), loaded on first use; throws PluginError. */
export function loadPlugins(files: readonly string[]): Transform[] {
  const transforms: Transform[] = [];
  const seen = new Map<string, string>(TRANSFORMS.map((t) => [t.id, "a built-in transform"]));
  for (const file of files) {
    let entry = loaded.get(file);
    if (!entry) {
      const result = loadPluginFile(file);
      if (result instanceof PluginError) throw result;
      loaded.set(file, (entry = result));
    }
    for (const t of entry) {
      const taken = seen.get(t.id);
      if (taken) throw new PluginError(`${file}: plugin id '${t.id}' is already used by ${taken}`);
      seen.set(t.id, file);
      transforms.push(t);
    }
  }
  return transforms;
}

function loadPluginFile(file: string): Transform[] | PluginError {
  let exported: unknown;
  try {
    if (!fs.statSync(file).isFile()) return new PluginError(`${file}: plugin is not a file`);
    const mod = requireHere(file) as { default?: unknown } | null;
    exported = mod && typeof mod === "object" && "default" in mod ? mod.default : mod;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return new PluginError(`${file}: no such plugin file`);
    return new PluginError(`${file}: plugin failed to load: ${e instanceof Error ? e.message : String(e)}`);
  }
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) return new PluginError(`${file}: plugin exports no transform`);
  const transforms: Transform[] = [];
  for (const [i, candidate] of list.entries()) {
    const where = Array.isArray(exported) ? `${file} (export ${i})` : file;
    const problem = shapeProblem(candidate);
    if (problem) return new PluginError(`${where}: not a dfopt transform: ${problem}`);
    transforms.push(guarded(candidate as Transform, file));
  }
  return transforms;
}

const ID = /^[a-z0-9][a-z0-9._-]*$/i;

/** What is wrong with a module's export as a transform, or null. */
function shapeProblem(t: unknown): string | null {
  if (typeof t !== "object" || t === null)
    return "the default export must be a transform object (or an array of them)";
  const o = t as Record<string, unknown>;
  if (typeof o.id !== "string" || !ID.test(o.id))
    return "'id' must be a string of letters, digits, '.', '_' or '-'";
  if (typeof o.description !== "string" || o.description === "") return "'description' must be a string";
  if (o.applicability !== "safe" && o.applicability !== "unsafe")
    return `'applicability' must be "safe" or "unsafe"`;
  if (o.applicabilityNote !== undefined && typeof o.applicabilityNote !== "string")
    return "'applicabilityNote' must be a string";
  if (typeof o.run !== "function") return "'run' must be a function";
  if (o.rationale !== undefined && typeof o.rationale !== "string") return "'rationale' must be a string";
  if (o.rules !== undefined && !(Array.isArray(o.rules) && o.rules.every((r) => typeof r === "string")))
    return "'rules' must be an array of strings";
  for (const flag of ["defaultOff", "multiPass"])
    if (o[flag] !== undefined && typeof o[flag] !== "boolean") return `'${flag}' must be true or false`;
  return null;
}

/**
 * The plugin with its `run` checked: a throw, or a result that is not
 * changes and refusals with edits inside the text, becomes a PluginFailure,
 * which the engine reports as an error of that file (kind "plugin").
 */
function guarded(plugin: Transform, file: string): Transform {
  const name = `plugin ${plugin.id} (${file})`;
  return {
    ...plugin,
    // A plugin runs again whenever the text changed: a `reads` it declares is not checked as the
    // built-in ones are (on the corpus), and a wrong one would leave work for a second run.
    reads: undefined,
    run(input) {
      let result: unknown;
      try {
        result = plugin.run(input);
      } catch (e) {
        throw new PluginFailure(`${name} threw: ${e instanceof Error ? e.message : String(e)}`);
      }
      const problem = resultProblem(result, input.model.text.length);
      if (problem) throw new PluginFailure(`${name} returned a bad result: ${problem}`);
      return result as TransformResult;
    },
  };
}

const isLine = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;

function resultProblem(result: unknown, textLength: number): string | null {
  if (typeof result !== "object" || result === null) return "not an object of changes and refusals";
  const r = result as Record<string, unknown>;
  if (!Array.isArray(r.changes)) return "'changes' must be an array";
  if (!Array.isArray(r.refusals)) return "'refusals' must be an array";
  for (const [i, c] of (r.changes as Partial<Change>[]).entries()) {
    if (typeof c !== "object" || c === null) return `changes[${i}] is not an object`;
    if (!isLine(c.line)) return `changes[${i}].line must be a line number (1 or more)`;
    if (typeof c.message !== "string") return `changes[${i}].message must be a string`;
    if (!Array.isArray(c.edits)) return `changes[${i}].edits must be an array`;
    for (const [j, e] of c.edits.entries()) {
      const at = `changes[${i}].edits[${j}]`;
      if (typeof e !== "object" || e === null || typeof e.text !== "string")
        return `${at} must be { start, end, text }`;
      if (!Number.isInteger(e.start) || !Number.isInteger(e.end) || e.start < 0 || e.end < e.start)
        return `${at} has a bad range ${e.start}-${e.end}`;
      if (e.end > textLength) return `${at} ends at ${e.end}, past the end of the text (${textLength})`;
    }
  }
  for (const [i, f] of (r.refusals as Partial<Refusal>[]).entries()) {
    if (typeof f !== "object" || f === null || typeof f.reason !== "string")
      return `refusals[${i}] must be { line, reason }`;
    if (f.line !== null && !isLine(f.line)) return `refusals[${i}].line must be a line number or null`;
  }
  if (r.sideFiles !== undefined) {
    if (!Array.isArray(r.sideFiles)) return "'sideFiles' must be an array";
    for (const [i, f] of (r.sideFiles as Partial<SideFile>[]).entries()) {
      if (
        typeof f !== "object" ||
        f === null ||
        typeof f.content !== "string" ||
        typeof f.message !== "string"
      )
        return `sideFiles[${i}] must be { path, content, message }`;
      if (
        typeof f.path !== "string" ||
        f.path === "" ||
        path.isAbsolute(f.path) ||
        f.path.split(/[\\/]/).includes("..")
      )
        return `sideFiles[${i}].path must be a path inside the build context`;
    }
  }
  return null;
}

/**
 * Plugin files named in a config file, as absolute paths: relative to the
 * config's folder, or package names resolved from there.
 */
export function configPluginFiles(configFile: string, specs: readonly string[]): string[] {
  const from = createRequire(path.resolve(configFile));
  return specs.map((spec) => {
    try {
      return from.resolve(spec.startsWith(".") ? path.resolve(path.dirname(configFile), spec) : spec);
    } catch {
      throw new PluginError(`${configFile}: cannot find plugin '${spec}'`);
    }
  });
}

/** Lists made so far, by the plugins and config keys they were made for (failures are not kept). */
const available = new Map<string, readonly Transform[]>();

/**
 * The built-ins followed by the plugins that apply under `loaded` (a config
 * file and what it holds): --transform's, then the config's. Throws
 * PluginError when the config's plugins are not trusted (see above), cannot
 * be loaded, or the config names a transform id none of them has.
 */
export function availableTransforms(
  settings: { plugins?: string[]; allowConfigPlugins?: boolean },
  loaded: { file: string | null; config: DfoptConfig },
  configNamedByUser: boolean,
): readonly Transform[] {
  const specs = loaded.config.plugins ?? [];
  const configFile = specs.length > 0 ? loaded.file : null;
  if (configFile && !configNamedByUser && !settings.allowConfigPlugins)
    throw new PluginError(
      `${configFile}: lists plugins (${specs.join(", ")}), code from the repository; dfopt loads them only with --allow-config-plugins`,
    );
  const cliFiles = settings.plugins ?? [];
  if (!configFile && cliFiles.length === 0) return TRANSFORMS;
  const { transforms, options } = loaded.config;
  const key = JSON.stringify([
    cliFiles,
    configFile,
    specs,
    Object.keys(transforms ?? {}),
    Object.keys(options ?? {}),
  ]);
  const kept = available.get(key);
  if (kept) return kept;
  const files = [...new Set([...cliFiles, ...(configFile ? configPluginFiles(configFile, specs) : [])])];
  const all = [...TRANSFORMS, ...loadPlugins(files)];
  for (const section of ["transforms", "options"] as const)
    for (const id of Object.keys(loaded.config[section] ?? {}))
      if (!all.some((t) => t.id === id))
        throw new PluginError(`${configFile}: unknown transform '${id}' in '${section}'`);
  available.set(key, all);
  return all;
}
