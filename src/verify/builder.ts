import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { releasePath, trackLeftover, trackPath } from "./cleanup.ts";
import { exec, start, tail, withoutAdvice, type ExecResult } from "./exec.ts";
import { holdPort } from "./port-lock.ts";

export type BuilderName = "docker" | "podman" | "buildah";

export interface BuildOutcome {
  ok: boolean;
  seconds: number;
  /** Tail of the build log when it failed. */
  error: string | null;
}

export interface ImageFacts {
  /** Uncompressed size in bytes (sum of the layers), null when the builder does not say. */
  bytes: number | null;
  layers: number;
  /** ENTRYPOINT + CMD. */
  command: string[];
}

export interface RunRequest {
  /** Run `sh -c <smoke>` instead of the image's own command. */
  smoke?: string;
  /** Stop the container after this long (a server counts as running fine if it is still up). */
  timeoutMs: number;
  /** Ask an HTTP server the image starts on 127.0.0.1 (host network) instead of waiting for exit. */
  http?: { port: number; path: string };
  /** The image's HEALTHCHECK command (argv), run in the container while its command is still up. */
  healthcheck?: string[];
  /** `KEY=VALUE` settings the run gets (`--verify-env`), like `docker run -e`. */
  env?: string[];
}

/** A run's `--verify-env` settings as [KEY, VALUE] pairs (`KEY` alone: an empty value). */
function settingPairs(req: RunRequest): Array<[string, string]> {
  return (req.env ?? []).map((e) => {
    const eq = e.indexOf("=");
    return eq === -1 ? [e, ""] : [e.slice(0, eq), e.slice(eq + 1)];
  });
}

/**
 * A run's settings go to the builder without their values on its command line, which every user
 * of the machine sees (`ps`) for as long as the run lasts:
 * - docker and podman read them from an `--env-file` only this user may read, removed after the
 *   run (a value holding a line break, which such a file cannot hold, stays on the command line);
 * - buildah's `config --env KEY` takes the value from its own environment, except for a name the
 *   builder's environment already has (PATH, HOME, ...), whose value would change how it runs, and
 *   an empty value.
 */
function envFile(req: RunRequest): { args: string[]; remove: () => void } {
  const pairs = settingPairs(req);
  if (pairs.length === 0) return { args: [], remove: () => {} };
  const inline = pairs.filter(([, v]) => /[\r\n]/.test(v));
  const filed = pairs.filter(([, v]) => !/[\r\n]/.test(v));
  const args = inline.flatMap(([k, v]) => ["--env", `${k}=${v}`]);
  if (filed.length === 0) return { args, remove: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dfopt-verify-env-"));
  trackPath(dir);
  const file = path.join(dir, "env");
  fs.writeFileSync(file, filed.map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  return { args: [...args, "--env-file", file], remove: () => releasePath(dir) };
}

function buildahConfigEnv(
  req: RunRequest,
  env: NodeJS.ProcessEnv,
): { args: string[]; env: NodeJS.ProcessEnv } {
  const args: string[] = [];
  const values: NodeJS.ProcessEnv = {};
  for (const [k, v] of settingPairs(req)) {
    // buildah reads an empty value as none given
    if (k in env || v === "") args.push("--env", `${k}=${v}`);
    else {
      args.push("--env", k);
      values[k] = v;
    }
  }
  return { args, env: { ...env, ...values } };
}

export interface RunOutcome {
  /** Exited 0, or (server) answered over HTTP, whatever the status / was still running at the time limit. */
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** HTTP status and body when `http` was asked. */
  http: { status: number; body: string } | null;
  /** Exit code of the HEALTHCHECK command when it was asked and the container was still up. */
  health?: number | null;
  error: string | null;
}

/**
 * buildah (chroot isolation, like runc) copies its own binary into a sealed memfd before a RUN
 * step or a run starts; on a busy machine the kernel can refuse the seal (EBUSY) and the step
 * fails before anything in the image ran. Such a failure says nothing about the Dockerfile.
 */
const TRANSIENT_BUILDER_FAILURE = /sealing memfd copy: Device or resource busy/;

export const isTransientBuilderFailure = (log: string): boolean => TRANSIENT_BUILDER_FAILURE.test(log);

/** Runs `step` again, up to `tries` times in all, while it fails only for TRANSIENT_BUILDER_FAILURE. */
export async function againOnTransient<T extends { ok: boolean; error: string | null }>(
  step: () => Promise<T>,
  tries = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await step();
    if (outcome.ok || attempt >= tries || !isTransientBuilderFailure(outcome.error ?? "")) return outcome;
  }
}

/** `<tool> <lead> [--no-cache] -f <dockerfile> -t <tag> <context>`: every builder's build command ends the same. */
async function buildWith(
  tool: string,
  lead: string[],
  build: { dockerfile: string; context: string; tag: string; noCache: boolean },
  env: NodeJS.ProcessEnv,
  settings: BuilderSettings,
): Promise<BuildOutcome> {
  const args = [
    ...lead,
    ...(build.noCache ? ["--no-cache"] : []),
    "-f",
    build.dockerfile,
    "-t",
    build.tag,
    build.context,
  ];
  const r = await exec(tool, args, { env, timeoutMs: settings.buildTimeoutMs ?? BUILD_TIMEOUT_MS });
  return { ok: r.code === 0, seconds: r.seconds, error: r.code === 0 ? null : failure(r) };
}

export interface Builder {
  name: BuilderName;
  version: string;
  build(dockerfile: string, context: string, tag: string, opts: { noCache: boolean }): Promise<BuildOutcome>;
  inspect(tag: string): Promise<ImageFacts | null>;
  run(tag: string, req: RunRequest): Promise<RunOutcome>;
  remove(tags: string[]): Promise<void>;
  /** Drop dangling images (the layer cache), to keep disk use in check. */
  prune(): Promise<void>;
}

export interface BuilderSettings {
  /** Pull policy for FROM images: "never" when base images are local stand-ins. */
  pull?: "never" | "missing";
  env?: NodeJS.ProcessEnv;
  /** docker only: the named buildx builder (`--builder`), e.g. a remote or kubernetes BuildKit. */
  buildxBuilder?: string;
  /** How long one build may take (default 30 minutes). */
  buildTimeoutMs?: number;
}

/** How detection asks whether a command works: `(cmd, args) => exit code 0?`. */
export type Probe = (cmd: string, args: string[]) => Promise<string | null>;

const realProbe: Probe = async (cmd, args) => {
  const r = await exec(cmd, args, { timeoutMs: 15_000 });
  if (r.code !== 0) return null;
  // "buildah version 1.28.2 (image-spec ...)" -> "buildah version 1.28.2"
  return (r.stdout || r.stderr)
    .trim()
    .split("\n")[0]
    .replace(/\s*\(.*\)\s*$/, "");
};

export const BUILDER_ORDER: readonly BuilderName[] = ["docker", "podman", "buildah"];

/**
 * The first working builder: docker (with buildx and a reachable daemon), podman, buildah.
 * `prefer` (from DFOPT_BUILDER) restricts detection to that one.
 */
export async function detectBuilder(
  probe: Probe = realProbe,
  prefer?: string,
): Promise<{ name: BuilderName; version: string } | null> {
  const order = prefer ? BUILDER_ORDER.filter((b) => b === prefer) : BUILDER_ORDER;
  for (const name of order) {
    if (name === "docker") {
      const v = await probe("docker", ["buildx", "version"]);
      if (v && (await probe("docker", ["info", "--format", "{{.ServerVersion}}"])))
        return { name, version: v };
    } else {
      const v = await probe(name, ["--version"]);
      if (v) return { name, version: v };
    }
  }
  return null;
}

export function makeBuilder(name: BuilderName, version: string, settings: BuilderSettings = {}): Builder {
  return name === "buildah" ? buildahBuilder(version, settings) : cliBuilder(name, version, settings);
}

/**
 * The hostname every buildah run gets: buildah names each container's host after its random id, so
 * two runs of the same image would print different HOSTNAMEs (docker and podman on the host network
 * give the host's own name to both).
 */
export const RUN_HOSTNAME = "dfopt-verify";

let counter = 0;
const containerName = () => `dfopt-verify-${process.pid}-${Date.now().toString(36)}-${counter++}`;

/** What a failed builder command said: the end of its log, its time limit, or its exit code. */
export function failure(r: ExecResult): string {
  if (r.spawnError) return r.spawnError;
  // last, so that a tail of this text still says it
  if (r.timedOut) return `${tail(r.stderr || r.stdout)}\ntimed out after ${r.seconds.toFixed(0)} s`;
  // the build log (stdout) ends with the failing step; the error itself is on stderr
  const parts = [tail(withoutAdvice(r.stdout), 8), tail(withoutAdvice(r.stderr), 20)].filter(
    (p) => p.trim() !== "",
  );
  return parts.join("\n") || `exit code ${r.code}`;
}

const BUILD_TIMEOUT_MS = 30 * 60_000;

/** How long a command must stay up before its HEALTHCHECK is asked (when there is no HTTP port). */
const HEALTH_START_MS = 3000;

/** How long a server that answered a 5xx keeps running, so that its log of the error is read. */
const LOG_GRACE_MS = 1000;

/** Tracks an image tag for removal at exit; `remove` untracks it. */
function imageTracker(cmd: string, env: NodeJS.ProcessEnv) {
  const untrack = new Map<string, () => void>();
  return {
    built(tag: string) {
      if (!untrack.has(tag))
        untrack.set(tag, trackLeftover(`image:${cmd}:${tag}`, { argv: [cmd, "rmi", "-f", tag], env }));
    },
    removed(tags: string[]) {
      for (const t of tags) {
        untrack.get(t)?.();
        untrack.delete(t);
      }
    },
  };
}

/**
 * Runs the container command; when `http` is asked, holds the port (see port-lock.ts), polls the
 * server, then stops it; when a `healthcheck` is asked, runs it (through `health`) while the command
 * is still up.
 */
async function runWithHttp(
  launch: () => ReturnType<typeof start>,
  req: RunRequest,
  cleanup: () => Promise<void>,
  health: (argv: string[]) => Promise<ExecResult>,
): Promise<RunOutcome> {
  const hold = req.http ? await holdPort(req.http.port) : null;
  if (hold && "error" in hold) {
    await cleanup();
    return {
      ok: false,
      exitCode: null,
      timedOut: false,
      stdout: "",
      stderr: "",
      http: null,
      error: hold.error,
    };
  }
  try {
    return await launchAndProbe(launch, req, cleanup, health);
  } finally {
    hold?.release();
  }
}

async function launchAndProbe(
  launch: () => ReturnType<typeof start>,
  req: RunRequest,
  cleanup: () => Promise<void>,
  health: (argv: string[]) => Promise<ExecResult>,
): Promise<RunOutcome> {
  const proc = launch();
  let http: RunOutcome["http"] = null;
  let healthCode: number | null | undefined;
  let exited = false;
  void proc.done.then(() => (exited = true));
  const askHealth = async () => {
    if (req.healthcheck && !exited) healthCode = (await health(req.healthcheck)).code;
  };
  if (!req.http && req.healthcheck && !req.smoke) {
    const until = Date.now() + Math.min(HEALTH_START_MS, req.timeoutMs / 2);
    while (Date.now() < until && !exited) await new Promise((r) => setTimeout(r, 100));
    await askHealth();
  }
  if (req.http) {
    const deadline = Date.now() + req.timeoutMs;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`http://127.0.0.1:${req.http.port}${req.http.path}`, {
          signal: AbortSignal.timeout(3000),
        });
        http = { status: res.status, body: await res.text() };
        await askHealth();
        // a server logs a failed request after answering it (express defers it): let it reach stderr
        if (http.status >= 500) await new Promise((r) => setTimeout(r, LOG_GRACE_MS));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    proc.stop();
  }
  const r = await proc.done;
  await cleanup();
  const serverStopped = req.http !== undefined && http !== null;
  // a server that answers runs, whatever its status (an error page is behaviour to compare)
  const ok = req.http ? http !== null : r.code === 0 || (r.timedOut && !req.smoke);
  let error: string | null = null;
  if (!ok) {
    if (req.http && http === null)
      error = `no HTTP answer on 127.0.0.1:${req.http.port}${req.http.path}\n${failure(r)}`;
    else error = failure(r);
  }
  return {
    ok,
    exitCode: serverStopped ? null : r.code,
    timedOut: r.timedOut,
    stdout: r.stdout,
    stderr: r.stderr,
    http,
    ...(healthCode !== undefined ? { health: healthCode } : {}),
    error,
  };
}

/** The parts of `buildah info`, `buildah inspect --type image` and `docker image inspect` read here. */
interface BuildahInfo {
  store?: { GraphRoot: string; GraphDriverName: string; GraphOptions?: string[] | null };
}
interface ImageCommand {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
}
interface BuildahImage {
  OCIv1?: { config?: ImageCommand; rootfs?: { diff_ids?: string[] } };
}
interface DockerImage {
  Size?: unknown;
  Config?: ImageCommand | null;
  RootFS?: { Layers?: string[] | null };
}

function buildahBuilder(version: string, settings: BuilderSettings): Builder {
  const base = settings.env ?? process.env;
  // As root, chroot isolation needs no OCI runtime or cgroup setup (crun/runc often fail in CI
  // containers); an explicit BUILDAH_ISOLATION wins.
  const env =
    base.BUILDAH_ISOLATION || process.getuid?.() !== 0 ? base : { ...base, BUILDAH_ISOLATION: "chroot" };
  const pull = settings.pull ? [`--pull=${settings.pull}`] : [];
  const images = imageTracker("buildah", env);
  // layers.json of the storage and of its read-only additional image stores (`overlay.imagestore=`),
  // where base images often live
  let layersFiles: string[] | undefined;
  const diffSizes = async (): Promise<Map<string, number> | null> => {
    if (layersFiles === undefined) {
      const info = await exec("buildah", ["info"], { env });
      layersFiles = [];
      try {
        const { store } = JSON.parse(info.stdout) as BuildahInfo;
        if (store) {
          const driver = store.GraphDriverName;
          const extra = (store.GraphOptions ?? [])
            .map((o) => new RegExp(`^${driver}\\.imagestore=(.+)$`).exec(o)?.[1])
            .filter((p): p is string => !!p);
          layersFiles = [store.GraphRoot, ...extra].map((root) =>
            path.join(root, `${driver}-layers`, "layers.json"),
          );
        }
      } catch {
        layersFiles = [];
      }
    }
    if (layersFiles.length === 0) return null;
    const m = new Map<string, number>();
    for (const file of layersFiles) {
      try {
        const layers = JSON.parse(fs.readFileSync(file, "utf8")) as {
          "diff-digest"?: string;
          "diff-size"?: number;
        }[];
        for (const l of layers)
          if (l["diff-digest"] && typeof l["diff-size"] === "number") m.set(l["diff-digest"], l["diff-size"]);
      } catch {
        // an unreadable store: its layers stay unknown (the size is then not told)
      }
    }
    return m;
  };
  const builder: Builder = {
    name: "buildah",
    version,
    build: (dockerfile, context, tag, opts) => {
      images.built(tag);
      // no working container is left behind when a step fails
      const lead = ["bud", "--layers", "--force-rm", ...pull];
      return againOnTransient(() =>
        buildWith("buildah", lead, { dockerfile, context, tag, ...opts }, env, settings),
      );
    },
    async inspect(tag) {
      const r = await exec("buildah", ["inspect", "--type", "image", tag], { env });
      if (r.code !== 0) return null;
      const j = JSON.parse(r.stdout) as BuildahImage;
      const cfg = j.OCIv1?.config ?? {};
      const ids = j.OCIv1?.rootfs?.diff_ids ?? [];
      const sizes = await diffSizes();
      let bytes: number | null = null;
      if (sizes && ids.every((d) => sizes.has(d))) bytes = ids.reduce((s, d) => s + (sizes.get(d) ?? 0), 0);
      return { bytes, layers: ids.length, command: [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])] };
    },
    run: (tag, req) => againOnTransient(() => runOnce(tag, req)),
    async remove(tags) {
      for (const t of tags) await exec("buildah", ["rmi", "-f", t], { env });
      images.removed(tags);
    },
    async prune() {
      await exec("buildah", ["rmi", "--prune"], { env });
    },
  };
  return builder;

  async function runOnce(tag: string, req: RunRequest): Promise<RunOutcome> {
    const name = containerName();
    const untrack = trackLeftover(`container:buildah:${name}`, { argv: ["buildah", "rm", name], env });
    const from = await exec("buildah", ["from", "--pull=never", "--name", name, tag], { env });
    const empty = { exitCode: null, timedOut: false, stdout: "", stderr: "", http: null };
    if (from.code !== 0) {
      untrack();
      return { ok: false, ...empty, error: failure(from) };
    }
    let argv: string[];
    if (req.smoke) argv = ["/bin/sh", "-c", req.smoke];
    else argv = (await builder.inspect(tag))?.command ?? [];
    const cleanup = async () => {
      await exec("buildah", ["rm", name], { env });
      untrack();
    };
    if (argv.length === 0) {
      await cleanup();
      return { ok: false, ...empty, error: "the image has no ENTRYPOINT or CMD (give --smoke)" };
    }
    if (req.env?.length) {
      const settings = buildahConfigEnv(req, env);
      const set = await exec("buildah", ["config", ...settings.args, name], { env: settings.env });
      if (set.code !== 0) {
        await cleanup();
        return { ok: false, ...empty, error: failure(set) };
      }
    }
    return runWithHttp(
      () =>
        start("buildah", ["run", "--hostname", RUN_HOSTNAME, name, "--", ...argv], {
          env,
          timeoutMs: req.timeoutMs,
        }),
      req,
      cleanup,
      (check) =>
        exec("buildah", ["run", "--hostname", RUN_HOSTNAME, name, "--", ...check], {
          env,
          timeoutMs: 30_000,
        }),
    );
  }
}

/** docker (buildx) and podman share the docker CLI surface. */
function cliBuilder(name: "docker" | "podman", version: string, settings: BuilderSettings): Builder {
  const env = settings.env ?? process.env;
  const pull = settings.pull === "never" ? (name === "podman" ? ["--pull=never"] : []) : [];
  const images = imageTracker(name, env);
  const buildx = settings.buildxBuilder ? ["--builder", settings.buildxBuilder] : [];
  return {
    name,
    version,
    build(dockerfile, context, tag, opts) {
      images.built(tag);
      const cmd = name === "docker" ? ["buildx", "build", ...buildx, "--load"] : ["build", "--layers"];
      return buildWith(name, [...cmd, ...pull], { dockerfile, context, tag, ...opts }, env, settings);
    },
    async inspect(tag) {
      const r = await exec(name, ["image", "inspect", tag], { env });
      if (r.code !== 0) return null;
      const j = (JSON.parse(r.stdout) as DockerImage[])[0] ?? {};
      const cfg = j.Config ?? {};
      return {
        bytes: typeof j.Size === "number" ? j.Size : null,
        layers: (j.RootFS?.Layers ?? []).length,
        command: [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])],
      };
    },
    async run(tag, req) {
      const cname = containerName();
      const settings = envFile(req);
      const args = ["run", "--rm", "--name", cname, ...settings.args, "--network", "host"];
      if (req.smoke) args.push("--entrypoint", "/bin/sh", tag, "-c", req.smoke);
      else args.push(tag);
      const untrack = trackLeftover(`container:${name}:${cname}`, { argv: [name, "rm", "-f", cname], env });
      const cleanup = async () => {
        await exec(name, ["rm", "-f", cname], { env });
        settings.remove();
        untrack();
      };
      // `exec` runs with the container's environment, the run's settings included
      return runWithHttp(
        () => start(name, args, { env, timeoutMs: req.timeoutMs }),
        req,
        cleanup,
        (check) => exec(name, ["exec", cname, ...check], { env, timeoutMs: 30_000 }),
      );
    },
    async remove(tags) {
      if (tags.length) await exec(name, ["rmi", "-f", ...tags], { env });
      images.removed(tags);
    },
    async prune() {
      await exec(name, ["image", "prune", "-f"], { env });
    },
  };
}
