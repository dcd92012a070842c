import fs from "node:fs";
import path from "node:path";
import ignore from "ignore";
import type { FileError } from "./engine/engine.ts";
import { forgetRepositories, repositoryRoot } from "./io/repository.ts";
import { jsonErrorMessage, readRegularFile } from "./io/safe-read.ts";
import { DEFAULT_OPTIONS, type ResolvePin, type Transform, type TransformOptions } from "./engine/types.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { availableTransforms, PluginError } from "./plugins.ts";

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
 *     "exclude": ["legacy/**"],
 *     "plugins": ["./dfopt/no-latest.mjs"],
 *     "safe": false
 *   }
 * `plugins` (custom transforms, src/plugins.ts) of a config found upward run
 * only with --allow-config-plugins.
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
  plugins?: string[];
  /** Apply only safe changes (the default); false applies the unsafe ones too, as --unsafe does. */
  safe?: boolean;
}

export const CONFIG_FILE = "dfopt.config.json";

export class ConfigError extends Error {}

/** A config file is small: a larger one is refused unread (package.json included). */
const MAX_CONFIG_BYTES = 2 * 1024 * 1024;

/** Edit distance between two short strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

/** `; did you mean 'x'?` for the known name closest to `name`, when one is close enough. */
export function didYouMean(name: string, known: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(best.length / 3))
    ? `; did you mean '${best}'?`
    : "";
}

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
    "plugins",
    "safe",
    "$schema",
  ];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      const keys = known.filter((k) => k !== "$schema");
      fail(`unknown key '${key}'${didYouMean(key, keys)} (known: ${keys.join(", ")})`);
    }
  }
  const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (config.transforms !== undefined) {
    if (!isObject(config.transforms)) fail("'transforms' must be an object of transform id → true/false");
    for (const [id, on] of Object.entries(config.transforms as object)) {
      if (!transformById(id) && !config.plugins)
        fail(`unknown transform '${id}' in 'transforms'${transformHint(id)}`);
      if (typeof on !== "boolean") fail(`'transforms.${id}' must be true or false`);
    }
  }
  if (config.options !== undefined) {
    if (!isObject(config.options)) fail("'options' must be an object of transform id → options object");
    for (const [id, opts] of Object.entries(config.options as object)) {
      const transform = transformById(id);
      // A plugin's id is known only once the plugins are loaded, and a plugin declares no option schema.
      if (!transform && !config.plugins)
        return fail(`unknown transform '${id}' in 'options'${transformHint(id)}`);
      if (!isObject(opts)) fail(`'options.${id}' must be an object`);
      const problem = transform && optionProblem(transform, opts as Record<string, unknown>);
      if (problem) fail(problem);
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
  if (config.safe !== undefined && typeof config.safe !== "boolean") fail("'safe' must be true or false");
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
  if (
    config.plugins !== undefined &&
    (!Array.isArray(config.plugins) || config.plugins.some((p) => typeof p !== "string" || p === ""))
  ) {
    fail("'plugins' must be an array of plugin files (relative to the config) or package names");
  }
  return config;
}

const transformHint = (id: string) =>
  didYouMean(
    id,
    TRANSFORMS.map((t) => t.id),
  );

/** What is wrong with a transform's options object, checked against the keys it declares. */
function optionProblem(transform: Transform, options: Record<string, unknown>): string | null {
  const specs = transform.options ?? {};
  const keys = Object.keys(specs);
  for (const [key, value] of Object.entries(options)) {
    const where = `'options.${transform.id}.${key}'`;
    const spec = specs[key];
    if (!spec) {
      const known = keys.length > 0 ? `known: ${keys.join(", ")}` : `${transform.id} takes no options`;
      return `unknown option ${where}${didYouMean(key, keys)} (${known})`;
    }
    if (spec.type === "boolean" && typeof value !== "boolean")
      return `${where} must be true or false, not ${JSON.stringify(value)}`;
    if (spec.type === "string" && (typeof value !== "string" || !spec.values.includes(value))) {
      const allowed = spec.values.map((v) => JSON.stringify(v)).join(" or ");
      const hint = typeof value === "string" ? didYouMean(value, spec.values) : "";
      return `${where} must be ${allowed}, not ${JSON.stringify(value)}${hint}`;
    }
  }
  return null;
}

interface LoadedConfig {
  file: string | null;
  config: DfoptConfig;
}

/**
 * Reads a config file (dfopt.config.json or package.json with a "dfopt" key);
 * throws ConfigError. Found upward, a file must really be inside `within`
 * (its repository): a link out of it is an error, not read, except for a
 * package.json found upward, which is then no config (`optional`): it is
 * mainly the app's file, and the transforms see it as unreadable too.
 * Messages never quote the file's text.
 */
export function loadConfigFile(file: string, within?: string, optional = false): LoadedConfig | null {
  const read = readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES, within });
  if ("failure" in read) {
    if (optional && read.failure.refusal !== "unreadable") return null;
    throw new ConfigError(`${file}: cannot read config: ${read.failure.message}`);
  }
  const text = read.bytes.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: ${jsonErrorMessage(e, text)}`);
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
  forgetRepositories();
}

/** Whether an entry is there (a dangling link is not; a link out of the repository is, and is refused). */
function present(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? fs.existsSync(file) : true;
  } catch {
    return false;
  }
}

/** The real path of the repository (the nearest folder upward with `.git`) holding `dir`; null when none. */
function repositoryOf(dir: string): string | null {
  const root = repositoryRoot(dir);
  if (root === null) return null;
  try {
    return fs.realpathSync.native(root);
  } catch {
    return root;
  }
}

function findConfig(dir: string): LoadedConfig | ConfigError {
  const cached = byDirectory.get(dir);
  if (cached) return cached;
  let found: LoadedConfig | ConfigError;
  try {
    const own = path.join(dir, CONFIG_FILE);
    const pkg = path.join(dir, "package.json");
    const load = (file: string, optional: boolean) => {
      if (!present(file)) return null;
      // Outside a repository a config file may not lead out of its own folder.
      let within = repositoryOf(dir);
      if (within === null) {
        try {
          within = fs.realpathSync.native(dir);
        } catch {
          within = dir;
        }
      }
      return loadConfigFile(file, within, optional);
    };
    const loaded = load(own, false) ?? load(pkg, true);
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
  /** The built-in transforms and the plugins that apply to this file. */
  transforms: readonly Transform[];
  excluded: boolean;
  error: FileError | null;
}

interface SelectionSettings {
  only: string[] | null;
  skip: string[];
  configPath: string | null;
  /** Plugin files from --transform (absolute paths). */
  plugins?: string[];
  /** Load the plugins of configs found upward (configPath's are always loaded). */
  allowConfigPlugins?: boolean;
  /** The API's config keys, laid over the config file's; with `noConfig`, no file is read. */
  configOverrides?: DfoptConfig;
  noConfig?: boolean;
  cliOptions: {
    mergeRuns?: "final" | "all";
    runtimeFlavour?: "slim" | "alpine" | "distroless";
    registryPrefix?: string;
    resolve?: ResolvePin;
  };
}

export function configFor(dockerfile: string, settings: SelectionSettings): EffectiveConfig {
  let loaded: LoadedConfig | ConfigError;
  if (settings.noConfig) {
    loaded = { file: null, config: {} };
  } else if (settings.configPath) {
    const key = `explicit:${path.resolve(settings.configPath)}`;
    loaded =
      byDirectory.get(key) ??
      (() => {
        let l: LoadedConfig | ConfigError;
        try {
          l =
            loadConfigFile(path.resolve(settings.configPath)) ??
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
  const failed = (kind: string, message: string): EffectiveConfig => ({
    file: null,
    config: {},
    options: DEFAULT_OPTIONS,
    transforms: TRANSFORMS,
    excluded: false,
    error: { kind, message, line: null },
  });
  if (loaded instanceof ConfigError) return failed("config", loaded.message);
  if (settings.configOverrides)
    loaded = { ...loaded, config: { ...loaded.config, ...settings.configOverrides } };
  const { config, file } = loaded;
  let transforms: readonly Transform[];
  try {
    transforms = availableTransforms(settings, loaded, !!settings.configPath);
  } catch (e) {
    if (e instanceof PluginError) return failed("plugin", e.message);
    if (e instanceof ConfigError) return failed("config", e.message);
    throw e;
  }
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
  return { file, config, options, transforms, excluded, error: null };
}

function resolvePin(value: DfoptConfig["resolve"]): ResolvePin {
  return value === true ? "both" : value === undefined || value === false ? "off" : value;
}

/** Transforms to run: --only wins; else defaults adjusted by the config; then --skip. */
export function resolveTransforms(
  effective: { config: DfoptConfig; transforms: readonly Transform[] },
  settings: SelectionSettings,
): Transform[] {
  const toggles = effective.config.transforms ?? {};
  return effective.transforms.filter((t) => {
    if (settings.skip.includes(t.id)) return false;
    if (settings.only) return settings.only.includes(t.id);
    return toggles[t.id] ?? !t.defaultOff;
  });
}

/** Throws with a message listing the known ids when one is unknown. */
export function parseTransformList(
  value: string,
  flag: string,
  known: readonly Transform[] = TRANSFORMS,
): string[] {
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !known.some((t) => t.id === id));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${flag}: unknown transform${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} (known: ${known.map((t) => t.id).join(", ")})`,
    );
  }
  return ids;
}
