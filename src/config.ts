import fs from "node:fs";
import path from "node:path";
import ignore from "ignore";
import type { FileError } from "./engine/engine.ts";
import { DEFAULT_OPTIONS, type ResolvePin, type Transform, type TransformOptions } from "./engine/types.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";

/**
 * dfopt.config.json (or the "dfopt" key of package.json), found upward from
 * each Dockerfile, or named with --config:
 *   {
 *     "transforms": { "merge-runs": false, "add-args": true },
 *     "options": { "split-stages": { "goRuntime": "scratch" } },
 *     "mergeRuns": "final" | "all",
 *     "runtime": "slim" | "alpine" | "distroless",
 *     "registryPrefix": "mirror.example.com/",
 *     "resolve": true | "tag" | "digest" | "both",
 *     "exclude": ["legacy/**"]
 *   }
 */
export interface DfoptConfig {
  transforms?: Record<string, boolean>;
  options?: Record<string, Record<string, unknown>>;
  mergeRuns?: "final" | "all";
  runtime?: "slim" | "alpine" | "distroless";
  registryPrefix?: string;
  /** Pin floating tags against the registry; true means "both". */
  resolve?: boolean | Exclude<ResolvePin, "off">;
  exclude?: string[];
}

export const CONFIG_FILE = "dfopt.config.json";

export class ConfigError extends Error {}

export function validateConfig(value: unknown, where: string): DfoptConfig {
  const fail = (msg: string): never => {
    throw new ConfigError(`${where}: ${msg}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("the config must be a JSON object");
  const config = value as Record<string, unknown>;
  const known = [
    "transforms",
    "options",
    "mergeRuns",
    "runtime",
    "registryPrefix",
    "resolve",
    "exclude",
    "$schema",
  ];
  for (const key of Object.keys(config)) {
    if (!known.includes(key))
      fail(`unknown key '${key}' (known: ${known.filter((k) => k !== "$schema").join(", ")})`);
  }
  const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (config.transforms !== undefined) {
    if (!isObject(config.transforms)) fail("'transforms' must be an object of transform id → true/false");
    for (const [id, on] of Object.entries(config.transforms as object)) {
      if (!transformById(id)) fail(`unknown transform '${id}' in 'transforms'`);
      if (typeof on !== "boolean") fail(`'transforms.${id}' must be true or false`);
    }
  }
  if (config.options !== undefined) {
    if (!isObject(config.options)) fail("'options' must be an object of transform id → options object");
    for (const [id, opts] of Object.entries(config.options as object)) {
      if (!transformById(id)) fail(`unknown transform '${id}' in 'options'`);
      if (!isObject(opts)) fail(`'options.${id}' must be an object`);
    }
  }
  if (config.mergeRuns !== undefined && config.mergeRuns !== "final" && config.mergeRuns !== "all") {
    fail(`'mergeRuns' must be "final" or "all", not ${JSON.stringify(config.mergeRuns)}`);
  }
  if (config.runtime !== undefined && !["slim", "alpine", "distroless"].includes(config.runtime as string)) {
    fail(`'runtime' must be "slim", "alpine" or "distroless", not ${JSON.stringify(config.runtime)}`);
  }
  if (config.registryPrefix !== undefined && typeof config.registryPrefix !== "string") {
    fail("'registryPrefix' must be a string");
  }
  if (
    config.resolve !== undefined &&
    ![true, false, "tag", "digest", "both"].includes(config.resolve as string)
  ) {
    fail(`'resolve' must be true, false, "tag", "digest" or "both", not ${JSON.stringify(config.resolve)}`);
  }
  if (
    config.exclude !== undefined &&
    (!Array.isArray(config.exclude) || config.exclude.some((g) => typeof g !== "string"))
  ) {
    fail("'exclude' must be an array of glob strings");
  }
  return config as DfoptConfig;
}

interface LoadedConfig {
  file: string | null;
  config: DfoptConfig;
}

/** Reads a config file (dfopt.config.json or package.json with a "dfopt" key); throws ConfigError. */
export function loadConfigFile(file: string): LoadedConfig | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`${file}: cannot read config (${(e as NodeJS.ErrnoException).code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (path.basename(file) === "package.json") {
    const section = (json as Record<string, unknown> | null)?.dfopt;
    if (section === undefined) return null;
    return { file, config: validateConfig(section, `${file} ("dfopt" key)`) };
  }
  return { file, config: validateConfig(json, file) };
}

const byDirectory = new Map<string, LoadedConfig | ConfigError>();

/** Drops the configs read so far: a new run reads them again (files may have changed in between). */
export function forgetConfigs(): void {
  byDirectory.clear();
}

function findConfig(dir: string): LoadedConfig | ConfigError {
  const cached = byDirectory.get(dir);
  if (cached) return cached;
  let found: LoadedConfig | ConfigError;
  try {
    const own = path.join(dir, CONFIG_FILE);
    const pkg = path.join(dir, "package.json");
    const loaded =
      (fs.existsSync(own) ? loadConfigFile(own) : null) ?? (fs.existsSync(pkg) ? loadConfigFile(pkg) : null);
    const parent = path.dirname(dir);
    found =
      loaded ??
      (parent === dir || fs.existsSync(path.join(dir, ".git"))
        ? { file: null, config: {} }
        : findConfig(parent));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    found = e;
  }
  byDirectory.set(dir, found);
  return found;
}

export interface EffectiveConfig {
  file: string | null;
  config: DfoptConfig;
  options: TransformOptions;
  excluded: boolean;
  error: FileError | null;
}

interface SelectionSettings {
  only: string[] | null;
  skip: string[];
  configPath: string | null;
  cliOptions: {
    mergeRuns?: "final" | "all";
    runtimeFlavour?: "slim" | "alpine" | "distroless";
    registryPrefix?: string;
    resolve?: ResolvePin;
  };
}

export function configFor(dockerfile: string, settings: SelectionSettings): EffectiveConfig {
  let loaded: LoadedConfig | ConfigError;
  if (settings.configPath) {
    const key = `explicit:${path.resolve(settings.configPath)}`;
    loaded =
      byDirectory.get(key) ??
      (() => {
        let l: LoadedConfig | ConfigError;
        try {
          l =
            loadConfigFile(path.resolve(settings.configPath!)) ??
            new ConfigError(`${settings.configPath}: package.json has no "dfopt" key`);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          l = e;
        }
        byDirectory.set(key, l);
        return l;
      })();
  } else {
    loaded = findConfig(path.dirname(path.resolve(dockerfile)));
  }
  if (loaded instanceof ConfigError) {
    return {
      file: null,
      config: {},
      options: DEFAULT_OPTIONS,
      excluded: false,
      error: { kind: "config", message: loaded.message, line: null },
    };
  }
  const { config, file } = loaded;
  let excluded = false;
  if (file && config.exclude?.length) {
    const rel = path.relative(path.dirname(file), path.resolve(dockerfile)).split(path.sep).join("/");
    excluded = !rel.startsWith("..") && ignore().add(config.exclude).ignores(rel);
  }
  const options: TransformOptions = {
    mergeRuns: settings.cliOptions.mergeRuns ?? config.mergeRuns ?? DEFAULT_OPTIONS.mergeRuns,
    runtimeFlavour: settings.cliOptions.runtimeFlavour ?? config.runtime ?? DEFAULT_OPTIONS.runtimeFlavour,
    registryPrefix:
      settings.cliOptions.registryPrefix ?? config.registryPrefix ?? DEFAULT_OPTIONS.registryPrefix,
    perTransform: config.options ?? {},
    resolve: settings.cliOptions.resolve ?? resolvePin(config.resolve),
    resolved: {},
    versionBots: DEFAULT_OPTIONS.versionBots,
  };
  return { file, config, options, excluded, error: null };
}

function resolvePin(value: DfoptConfig["resolve"]): ResolvePin {
  return value === true ? "both" : value === undefined || value === false ? "off" : value;
}

/** Transforms to run: --only wins; else defaults adjusted by the config; then --skip. */
export function resolveTransforms(
  effective: { config: DfoptConfig },
  settings: SelectionSettings,
): Transform[] {
  const toggles = effective.config.transforms ?? {};
  return TRANSFORMS.filter((t) => {
    if (settings.skip.includes(t.id)) return false;
    if (settings.only) return settings.only.includes(t.id);
    return toggles[t.id] ?? !t.defaultOff;
  });
}

/** Throws with a message listing the known ids when one is unknown. */
export function parseTransformList(value: string, flag: string): string[] {
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !transformById(id));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${flag}: unknown transform${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} (known: ${TRANSFORMS.map((t) => t.id).join(", ")})`,
    );
  }
  return ids;
}
