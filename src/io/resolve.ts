import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { configFor, resolveTransforms } from "../config.ts";
import { parseImageReference } from "../engine/image-ref.ts";
import { withLazyModules } from "../engine/lazy.ts";
import { parseDockerfile } from "../engine/parse.ts";
import type { ResolvedImage } from "../engine/types.ts";
import { imagesToResolve } from "../../transforms/pin-tags.ts";
import { folderContext } from "./context.ts";
import { readInput, type ProcessSettings } from "./process.ts";
import { resolveImage, type RegistryClientOptions } from "./registry.ts";
import { planWrite, writePlanned } from "./write.ts";
import { readTextOrUndefined } from "./safe-read.ts";

/**
 * `--resolve`, before the run: finds the floating base images pin-tags will
 * want pinned in every file that has it on, asks each image's registry once
 * (at a few at a time), and hands the answers to the run through
 * `ProcessSettings.resolved`, so transforms stay pure and worker threads and
 * --cache see the same answers. Answers are kept on disk for a while, so
 * runs close together ask nothing.
 */

/** How long a registry's answer is reused from the disk cache. */
export const DEFAULT_REGISTRY_TTL_MS = 60 * 60_000;
const CONCURRENT_LOOKUPS = 4;
const CACHE_FORMAT = 1;

export interface ResolveRunOptions extends RegistryClientOptions {
  /** JSON file of earlier answers; null: none. Default: $DFOPT_REGISTRY_CACHE, else ~/.cache/dfopt/registry.json. */
  cacheFile?: string | null;
  ttlMs?: number;
}

export function defaultRegistryCacheFile(): string | null {
  const env = process.env.DFOPT_REGISTRY_CACHE;
  if (env === "off") return null;
  if (env) return env;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "dfopt", "registry.json");
}

interface CacheFile {
  format: number;
  /** Canonical reference → answer and when it was given (ms since the epoch). */
  answers: Record<string, { at: number; digest: string; tag: string | null }>;
}

function readCache(file: string | null): CacheFile["answers"] {
  if (!file) return {};
  try {
    const parsed = JSON.parse(readTextOrUndefined(file, { maxBytes: 16 * 1024 * 1024 }) ?? "") as CacheFile;
    return parsed.format === CACHE_FORMAT && parsed.answers ? parsed.answers : {};
  } catch {
    return {};
  }
}

function writeCache(file: string | null, answers: CacheFile["answers"]): void {
  if (!file) return;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writePlanned(
      planWrite(file, file, null),
      JSON.stringify({ format: CACHE_FORMAT, answers } satisfies CacheFile),
    );
  } catch {
    // A cache that cannot be written only costs the next run its look-ups.
  }
}

/** The references each file needs resolved (files without --resolve, or without pin-tags, need none). */
async function wantedByFile(files: string[], settings: ProcessSettings): Promise<Map<string, string[]>> {
  const wanted = new Map<string, string[]>();
  for (const file of files) {
    const config = configFor(file, settings);
    if (config.error || config.excluded || config.options.resolve === "off") continue;
    if (!resolveTransforms(config, settings).some((t) => t.id === "pin-tags")) continue;
    const input = readInput(file);
    if ("error" in input) continue; // the run reports the unreadable file
    const text = input.text;
    try {
      const model = await withLazyModules(() => parseDockerfile(text));
      const context = folderContext(settings.contextDir ?? path.dirname(file));
      const keys = imagesToResolve(model, context);
      if (keys.length > 0) wanted.set(file, keys);
    } catch {
      continue; // a file that does not parse is reported by the run
    }
  }
  return wanted;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** The registry's answers for every file that needs some, keyed by the file as listed. */
export async function resolveRegistryImages(
  files: string[],
  settings: ProcessSettings,
  options: ResolveRunOptions = {},
): Promise<Record<string, Record<string, ResolvedImage>>> {
  const wanted = await wantedByFile(files, settings);
  if (wanted.size === 0) return {};
  const cacheFile = options.cacheFile === undefined ? defaultRegistryCacheFile() : options.cacheFile;
  const ttl = options.ttlMs ?? DEFAULT_REGISTRY_TTL_MS;
  const kept = readCache(cacheFile);
  const now = Date.now();
  const answers = new Map<string, ResolvedImage>();
  const toAsk: string[] = [];
  for (const key of new Set([...wanted.values()].flat())) {
    const k = kept[key];
    if (k && now - k.at >= 0 && now - k.at < ttl) answers.set(key, { digest: k.digest, tag: k.tag });
    else toAsk.push(key);
  }
  await eachLimited(toAsk, CONCURRENT_LOOKUPS, async (key) => {
    const answer = await resolveImage(parseImageReference(key)!, options);
    answers.set(key, answer);
    if ("digest" in answer) kept[key] = { at: Date.now(), digest: answer.digest, tag: answer.tag };
  });
  if (toAsk.length > 0) {
    for (const [key, k] of Object.entries(kept)) if (now - k.at >= ttl) delete kept[key];
    writeCache(cacheFile, kept);
  }
  const byFile: Record<string, Record<string, ResolvedImage>> = {};
  for (const [file, keys] of wanted) byFile[file] = Object.fromEntries(keys.map((k) => [k, answers.get(k)!]));
  return byFile;
}
