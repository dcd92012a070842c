import type { DockerfileModel, Span } from "./parse.ts";

/** Replace `text.slice(start, end)` with `text`. Offsets are into the BOM-less text. */
export interface Edit extends Span {
  text: string;
}

/** One atomic change: all of its edits apply, or none do. */
export interface Change {
  edits: Edit[];
  /** 1-based line the change is about (in the text the transform saw; the engine maps it to the user's file). */
  line: number;
  /**
   * Human reason, shown in reports. Lines it names are written `line N` or
   * `lines N, M and K` (lines of the text the transform saw): the engine maps
   * them to lines of the user's file, as it maps `line`.
   */
  message: string;
  /** Peer rule IDs this change fixes (hadolint DL3009, Trivy DS-0029, ...). */
  rules?: string[];
  /** Set where this change is safer or riskier than its transform's default. */
  applicability?: Applicability;
}

/** A transform saw something it would change but cannot prove safe. */
export interface Refusal {
  line: number | null;
  /** Why; lines are named as in Change.message, and mapped the same way. */
  reason: string;
  /** Peer rule IDs concerned, where any. */
  rules?: string[];
}

/** A file other than the Dockerfile to create or replace (e.g. `.dockerignore`). */
export interface SideFile {
  /** Path relative to the build context. */
  path: string;
  content: string;
  message: string;
  /** Set where this file is safer or riskier than its transform's default. */
  applicability?: Applicability;
}

export interface TransformResult {
  changes: Change[];
  refusals: Refusal[];
  sideFiles?: SideFile[];
}

/** Read-only view of the build context (the folder `docker build` would send). */
export interface BuildContext {
  /** Absolute path, or a label for in-memory contexts. */
  readonly root: string;
  /** File contents, or undefined when absent or unreadable. Paths are relative, `/`-separated. */
  readFile(relPath: string): string | undefined;
  /**
   * The first `bytes` bytes of a file, one character per byte (latin1), for
   * magic-number checks without reading (or keeping) the whole file; undefined
   * when absent or unreadable.
   */
  readStart(relPath: string, bytes: number): string | undefined;
  exists(relPath: string): boolean;
  /** Entry names of a folder (files and folders), empty when absent. */
  list(relDir: string): string[];
  isDirectory(relPath: string): boolean;
}

/**
 * Whether a change keeps what the build and the image do, as Ruff's fix
 * applicability:
 * - `safe`: a build that succeeded still succeeds, and the image runs the same
 *   (same base image, packages, files the app can use, user, environment,
 *   command); only layer layout, package-manager caches nothing reads, and the
 *   text of the Dockerfile may differ;
 * - `unsafe`: it may not (a different runtime base, a USER, a flag that fails a
 *   build that passed, fewer packages), on purpose and explained by the
 *   transform's `applicabilityNote`.
 * `--safe` applies only safe changes.
 */
export type Applicability = "safe" | "unsafe";

/** Start of the refusal reason that reports a change `--safe` held back. */
export const UNSAFE_NOT_APPLIED = "unsafe change not applied (--unsafe applies it, --verify can prove it)";

export type MergeRunsScope = "final" | "all";
/** What `--resolve` writes for a floating tag: the most specific tag, its digest, or both. */
export type ResolvePin = "off" | "tag" | "digest" | "both";

/** A registry's answer for a floating tag (`--resolve`), looked up by the I/O layer before transforms run. */
export type ResolvedImage =
  | { digest: string; /** Most specific version tag with the same digest, or null. */ tag: string | null }
  | { refuse: string };
export type RuntimeFlavour = "slim" | "alpine" | "distroless";

/** Version-update bots set up for the repository a Dockerfile is in (found by the I/O layer). */
export interface VersionBots {
  /** Dependabot's config (path from the repository root) when a `docker` update covers this folder, else null. */
  dependabotDocker: string | null;
  /** Renovate's config (path from the repository root, or `package.json`), else null. */
  renovate: string | null;
}

export interface TransformOptions {
  mergeRuns: MergeRunsScope;
  runtimeFlavour: RuntimeFlavour;
  /** Prefix for base images dfopt introduces, e.g. `mirror.example.com/` . */
  registryPrefix: string;
  /** Per-transform options from the config file, keyed by transform id. */
  perTransform: Record<string, Record<string, unknown>>;
  /**
   * How the run uses the build context, when it knows (absent: the
   * Dockerfile's own folder, used by it alone). A file that applies to
   * every build of the context (.dockerignore) is only edited for a context
   * that is the Dockerfile's own folder and serves no other Dockerfile of the run.
   */
  contextUse?: {
    /** The context is the folder the Dockerfile is in. */
    ownFolder: boolean;
    /** The context was given once (--context) for several Dockerfiles of the run. */
    sharedInRun: boolean;
  };
  /** `--resolve`: pin floating tags against the registry ("off": the catalog only). */
  resolve: ResolvePin;
  /** The registry's answers for this file, keyed by canonical reference (`docker.io/library/node:20`). */
  resolved: Readonly<Record<string, ResolvedImage>>;
  versionBots: VersionBots;
}

export const DEFAULT_OPTIONS: TransformOptions = {
  mergeRuns: "final",
  runtimeFlavour: "slim",
  registryPrefix: "",
  perTransform: {},
  resolve: "off",
  resolved: {},
  versionBots: { dependabotDocker: null, renovate: null },
};

export interface TransformInput {
  model: DockerfileModel;
  context: BuildContext;
  options: TransformOptions;
}

/**
 * One key a transform reads from its `options` object in the config file
 * (`"options": { "<id>": { "<key>": value } }`); the config is checked
 * against it, so a misspelt key or a wrong value is an error, not a no-op.
 */
export type OptionSpec =
  | { type: "boolean"; description: string }
  | { type: "string"; values: readonly string[]; description: string };

export interface Transform {
  id: string;
  /** One line, shown by --list-transforms. */
  description: string;
  /** A few sentences for the docs: why the smell matters and why the repair is safe. */
  rationale?: string;
  /** Default applicability of its changes; a change may set its own. */
  applicability: Applicability;
  /** One or two sentences: why its changes are (or may not be) safe. */
  applicabilityNote?: string;
  /** Peer rule IDs this transform covers. */
  rules?: string[];
  /** Off unless named with --only or enabled in the config. */
  defaultOff?: boolean;
  /**
   * Its own output may hold more for it to change (one repair uncovers
   * another): the engine runs it again at once until it is stable. Others
   * run once per round, and the next round confirms them.
   */
  multiPass?: boolean;
  /**
   * The instructions whose text it reads (upper-case keywords; ONBUILD holds
   * its own), when that is not the whole file. Whatever it reads, it also
   * sees the order of everything in the file, the comments, and each stage's
   * name, flags and expanded base image, but not how a FROM is written
   * (`node:20` and `node:${NODE_VERSION}` with `ARG NODE_VERSION=20` read
   * the same). A later round then skips it when none of that changed since it
   * last found nothing to change (src/engine/reads.ts): `add-args` rewriting
   * FROM lines does not make every RUN repair run again. Undefined: the whole
   * file, so every change is seen.
   */
  reads?: readonly string[];
  /** The keys it reads from `options.perTransform[id]`; none when absent. */
  options?: Readonly<Record<string, OptionSpec>>;
  run(input: TransformInput): TransformResult;
}

export const noChange = (): TransformResult => ({ changes: [], refusals: [] });

/** A custom transform (src/plugins.ts) threw or returned a bad result: reported as that file's error. */
export class PluginFailure extends Error {}
