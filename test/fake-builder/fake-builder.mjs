#!/usr/bin/env node
/**
 * A fake container builder for tests. Installed by test/fake-builder/install.ts as `docker`,
 * `podman` or `buildah` in a folder put on PATH, it answers the commands src/verify/builder.ts runs, in each CLI's own syntax, so
 * the same code path is exercised for all three without a real engine. Its state (images,
 * containers, a log of calls) lives in $FAKE_BUILDER_STATE.
 *
 * Behaviour (environment):
 *   FAKE_FAIL_BUILD  "|"-separated substrings: a Dockerfile containing one fails to build
 *   FAKE_BROKEN_RUN  "|"-separated substrings of the final FROM image: the app prints an error, exit 1
 *   FAKE_RUN_SLEEP   seconds a run waits before printing (writes "running" in the state folder first)
 *   FAKE_HTTP_STATUS an image whose Dockerfile EXPOSEs a port serves it on 127.0.0.1, answering every
 *                    request with this status and "Internal Server Error", and logging the error
 *                    on stderr: "Error: secret option required for sessions", or, for a final FROM
 *                    image containing one of the "|"-separated FAKE_HTTP_OTHER_ERROR, a missing view
 *   FAKE_REQUIRE_ENV a variable the app needs: without it (no `run --env NAME=...`) it prints
 *                    "Error: Invalid environment: NAME" and exits 1; with it, it prints "NAME=value"
 *   FAKE_PRINT_HOSTNAME  the app prints its hostname: buildah's is the container's (random) unless
 *                    `run --hostname` names one; docker's and podman's (host network) is the host's
 * An image's size is derived from its final FROM image (scratch, distroless, alpine, -slim, other).
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

// the wrapper on PATH names the CLI it impersonates
const name = process.env.FAKE_BUILDER_NAME ?? path.basename(process.argv[1]);
const args = process.argv.slice(2);
const state = process.env.FAKE_BUILDER_STATE;
if (!state) {
  process.stderr.write("fake builder: FAKE_BUILDER_STATE is not set\n");
  process.exit(125);
}
fs.mkdirSync(state, { recursive: true });
fs.appendFileSync(path.join(state, "calls.log"), JSON.stringify([name, ...args]) + "\n");

const file = (f) => path.join(state, f);
const load = (f) => (fs.existsSync(file(f)) ? JSON.parse(fs.readFileSync(file(f), "utf8")) : {});
const save = (f, v) => fs.writeFileSync(file(f), JSON.stringify(v, null, 1));
const list = (env) => (process.env[env] ? process.env[env].split("|").filter(Boolean) : []);
const out = (s) => process.stdout.write(s);

function flag(names) {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : undefined;
}

function finalImage(text) {
  const froms = [...text.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)/gim)].map((m) => m[1]);
  return froms[froms.length - 1] ?? "scratch";
}

function sizeOf(image, text) {
  const copies = (text.match(/^COPY\b/gim) ?? []).length;
  const base =
    image === "scratch"
      ? 0
      : image.includes("distroless")
        ? 2_000_000
        : image.includes("alpine")
          ? 8_000_000
          : image.includes("slim")
            ? 80_000_000
            : 700_000_000;
  return base + copies * 1_000_000;
}

function build() {
  const dockerfile = flag(["-f", "--file"]);
  const tag = flag(["-t", "--tag"]);
  const context = args[args.length - 1];
  const text = fs.readFileSync(dockerfile, "utf8");
  if (!fs.statSync(context).isDirectory()) throw new Error(`no context ${context}`);
  const failing = list("FAKE_FAIL_BUILD").find((s) => text.includes(s));
  if (failing) {
    out(`STEP 1/4: ${text.split("\n")[0]}\nSTEP 4/4: RUN something\n`);
    process.stderr.write(`error building at STEP 4/4: fake failure (${failing})\n`);
    process.exit(1);
  }
  const images = load("images.json");
  const image = finalImage(text);
  images[tag] = { image, bytes: sizeOf(image, text), dockerfile: text };
  save("images.json", images);
  out(`COMMIT ${tag}\n`);
}

function inspect(tag) {
  const img = load("images.json")[tag];
  if (!img) {
    process.stderr.write(`no such image ${tag}\n`);
    process.exit(125);
  }
  const digest = `sha256:${Buffer.from(tag).toString("hex").padEnd(64, "0").slice(0, 64)}`;
  if (name === "buildah") {
    const layersFile = path.join(state, "graph", "overlay-layers", "layers.json");
    fs.mkdirSync(path.dirname(layersFile), { recursive: true });
    const layers = fs.existsSync(layersFile) ? JSON.parse(fs.readFileSync(layersFile, "utf8")) : [];
    layers.push({ "diff-digest": digest, "diff-size": img.bytes });
    fs.writeFileSync(layersFile, JSON.stringify(layers));
    out(JSON.stringify({ OCIv1: { config: { Cmd: ["app"] }, rootfs: { diff_ids: [digest] } } }));
  } else {
    out(JSON.stringify([{ Size: img.bytes, Config: { Cmd: ["app"] }, RootFS: { Layers: [digest] } }]));
  }
}

/**
 * A run's settings: `--env KEY=VALUE` / `--env KEY` (the value from this process's environment, as
 * docker does) and `--env-file FILE` on docker/podman; for buildah, what `config --env` set on the
 * container.
 */
function runEnv(container) {
  const env = { ...(load("container-env.json")[container] ?? {}) };
  args.forEach((a, i) => {
    const next = args[i + 1];
    if ((a === "--env" || a === "-e") && next) Object.assign(env, setting(next));
    if (a === "--env-file" && next)
      for (const line of fs.readFileSync(next, "utf8").split("\n"))
        if (line && !line.startsWith("#")) Object.assign(env, setting(line));
  });
  return env;
}

function setting(text) {
  const [k, ...v] = text.split("=");
  return { [k]: v.length ? v.join("=") : (process.env[k] ?? "") };
}

async function runApp(tag, container, hostname) {
  const containers = load("containers.json");
  containers[container] = tag;
  save("containers.json", containers);
  const img = load("images.json")[tag];
  const sleep = Number(process.env.FAKE_RUN_SLEEP ?? 0);
  if (sleep) {
    fs.writeFileSync(file("running"), container);
    await new Promise((r) => setTimeout(r, sleep * 1000));
  }
  const broken = img && list("FAKE_BROKEN_RUN").some((s) => img.image.includes(s));
  if (broken) {
    out("error: open /usr/share/zoneinfo/Europe/Paris: no such file or directory\n");
    return 1;
  }
  const needed = process.env.FAKE_REQUIRE_ENV;
  if (needed && runEnv(container)[needed] === undefined) {
    process.stderr.write(`Error: Invalid environment: ${needed}\n`);
    return 1;
  }
  out("hello from the app\n");
  if (needed) out(`${needed}=${runEnv(container)[needed]}\n`);
  if (process.env.FAKE_PRINT_HOSTNAME) out(`hostname: ${hostname}\n`);
  const port = process.env.FAKE_HTTP_STATUS && /^EXPOSE\s+(\d+)/m.exec(img?.dockerfile ?? "")?.[1];
  if (port) await serve(Number(port), Number(process.env.FAKE_HTTP_STATUS), img);
  return 0;
}

/** Serves until the run is stopped (its process group is killed). */
function serve(port, status, img) {
  const error = list("FAKE_HTTP_OTHER_ERROR").some((s) => img.image.includes(s))
    ? "Error: ENOENT: no such file or directory, open '/app/views/home.hbs'"
    : "Error: secret option required for sessions";
  return new Promise(() => {
    http
      .createServer((_req, res) => {
        res.writeHead(status, { "content-type": "text/html" });
        res.end("Internal Server Error");
        // like express's finalhandler, the error is logged after the answer
        setTimeout(
          () =>
            process.stderr.write(
              `${error}\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)\n`,
            ),
          300,
        );
      })
      .listen(port, "127.0.0.1");
  });
}

function removeContainer(container) {
  const containers = load("containers.json");
  delete containers[container];
  save("containers.json", containers);
}

function removeImages(tags) {
  const images = load("images.json");
  for (const t of tags) delete images[t];
  save("images.json", images);
}

async function main() {
  const [cmd, sub] = args;
  if (cmd === "--version") return out(`${name} version 9.9.9-fake (fake)\n`);
  if (name === "docker" && cmd === "buildx" && sub === "version")
    return out("github.com/docker/buildx v0.0.0-fake\n");
  if (name === "docker" && cmd === "info") return out("99.0.0-fake\n");
  if (name === "buildah") {
    if (cmd === "info")
      return out(
        JSON.stringify({ store: { GraphRoot: path.join(state, "graph"), GraphDriverName: "overlay" } }),
      );
    if (cmd === "bud") return build();
    if (cmd === "inspect") return inspect(args[args.length - 1]);
    if (cmd === "from") {
      const container = flag(["--name"]);
      const containers = load("containers.json");
      containers[container] = args[args.length - 1];
      save("containers.json", containers);
      return out(`${container}\n`);
    }
    if (cmd === "config") {
      const container = args[args.length - 1];
      const all = load("container-env.json");
      all[container] = { ...all[container], ...runEnv(null) };
      save("container-env.json", all);
      return;
    }
    if (cmd === "run") {
      // buildah run [--hostname NAME] CONTAINER -- CMD...
      const container = args[args.indexOf("--") - 1];
      const hostname = flag(["--hostname"]) ?? Math.random().toString(16).slice(2, 14);
      process.exitCode = await runApp(load("containers.json")[container], container, hostname);
      return;
    }
    if (cmd === "rm") return removeContainer(args[1]);
    if (cmd === "rmi")
      return args.includes("--prune")
        ? undefined
        : removeImages(args.filter((a) => !a.startsWith("-")).slice(1));
  } else {
    if (cmd === "buildx" && sub === "build") return build();
    if (cmd === "build") return build();
    if (cmd === "image" && sub === "inspect") return inspect(args[2]);
    if (cmd === "image" && sub === "prune") return;
    if (cmd === "run") {
      const container = flag(["--name"]);
      const rest = args.slice(args.indexOf("host") + 1);
      const tag = rest[0] === "--entrypoint" ? rest[2] : rest[0];
      process.exitCode = await runApp(tag, container, "the-host");
      removeContainer(container); // --rm
      return;
    }
    if (cmd === "exec") return;
    if (cmd === "rm") return removeContainer(args[args.length - 1]);
    if (cmd === "rmi") return removeImages(args.filter((a) => !a.startsWith("-")).slice(1));
  }
  process.stderr.write(`fake ${name}: unknown command ${args.join(" ")}\n`);
  process.exitCode = 125;
}

await main();
