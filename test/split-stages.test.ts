import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { DEFAULT_OPTIONS, type TransformOptions } from "../src/engine/types.ts";
import { emptyContext, memoryContext } from "../src/io/context.ts";
import { absolutePath, resolvePath } from "../src/engine/paths.ts";
import { appFolder, copyInfo, workdirs } from "../transforms/split-stages/toolkit/instructions.ts";
import { classifyInterpretedPackages } from "../transforms/split-stages/toolkit/packages.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import { TRANSFORMS } from "../transforms/index.ts";
import { fixtureCases } from "./fixture-cases.ts";
import { runtimeCopyProblems } from "../scripts/split-apps-table.ts";
import { lowPort } from "../transforms/lib/ports.ts";
import { startCommand } from "../transforms/lib/start-command.ts";

beforeAll(loadParsers);

const run = (text: string, files: Record<string, string> | null, options: Partial<TransformOptions> = {}) =>
  optimizeFile(text, files ? memoryContext(files) : emptyContext, {
    transforms: [splitStages],
    options: { ...DEFAULT_OPTIONS, ...options },
  });

const refusal = (r: ReturnType<typeof run>) => r.refusals.map((x) => x.reason).join("\n");
const lines = (...l: string[]) => l.join("\n") + "\n";
const pkg = (
  scripts: Record<string, string>,
  deps: Record<string, string> = {},
  dev: Record<string, string> = {},
  extra = {},
) =>
  JSON.stringify({
    name: "x",
    version: "1.0.0",
    scripts,
    dependencies: deps,
    devDependencies: dev,
    ...extra,
  });

describe("common helpers", () => {
  test("paths", () => {
    expect(absolutePath("/a/./b/../c/")).toBe("/a/c");
    expect(resolvePath("/app", "src/../dist")).toBe("/app/dist");
    expect(resolvePath("/app", "/opt/x")).toBe("/opt/x");
  });

  test("WORKDIR tracking resolves relative folders and known variables", () => {
    const m = parseDockerfile(
      lines("FROM node:20", "ENV APP_HOME=/srv/app", "WORKDIR $APP_HOME", "WORKDIR web", "COPY . .", "CMD x"),
    );
    const stage = m.stages[0];
    const cwd = workdirs(stage);
    expect(cwd.get(stage.instructions[3])).toBe("/srv/app/web");
    expect(appFolder(stage)).toBe("/srv/app/web");
  });

  test("the app folder falls back to where the whole context is copied", () => {
    const m = parseDockerfile(lines("FROM python:3.12", "COPY . /code", "CMD python /code/app.py"));
    expect(appFolder(m.stages[0])).toBe("/code");
  });

  test("copyInfo reads JSON form, flags and folder destinations", () => {
    const m = parseDockerfile(
      lines("FROM node:20", 'COPY --chown=node:node ["package.json", "yarn.lock", "./"]'),
    );
    const c = copyInfo(m.stages[0].instructions[0], "/app")!;
    expect(c.sources).toEqual(["package.json", "yarn.lock"]);
    expect(c.destAbs).toBe("/app");
    expect(c.destIsDir).toBe(true);
    expect(c.chown).toBe("node:node");
  });

  test("OS packages: compilers and headers stay behind, their runtime libraries come along", () => {
    const apt = classifyInterpretedPackages("apt", [
      "build-essential",
      "gcc",
      "libpq-dev",
      "ffmpeg",
      "git",
      "curl",
    ]);
    expect(apt.runtime).toEqual(["libpq5", "ffmpeg"]);
    expect(apt.buildOnly).toEqual(["build-essential", "gcc", "libpq-dev", "git", "curl"]);
    expect(classifyInterpretedPackages("apt", ["libgdal-dev"]).unknownDev).toEqual(["libgdal-dev"]);
    expect(classifyInterpretedPackages("apk", ["build-base", "postgresql-dev", "tzdata"]).runtime).toEqual([
      "libpq",
      "tzdata",
    ]);
    expect(classifyInterpretedPackages("apt", ["curl"], { neededAtRuntime: ["curl"] }).runtime).toEqual([
      "curl",
    ]);
  });

  test("startCommand unwraps sh -c and combines ENTRYPOINT with CMD", () => {
    const a = parseDockerfile(lines("FROM node:20", 'CMD ["/bin/sh", "-c", "npm run migrate && npm start"]'));
    expect(startCommand(a, a.stages[0]).commands).toEqual([
      ["npm", "run", "migrate"],
      ["npm", "start"],
    ]);
    const b = parseDockerfile(
      lines("FROM python:3", 'ENTRYPOINT ["python", "-m", "app"]', 'CMD ["--port", "80"]'),
    );
    expect(startCommand(b, b.stages[0]).commands).toEqual([["python", "-m", "app", "--port", "80"]]);
  });
});

describe("own fixtures: what every conversion guarantees", () => {
  const mine = fixtureCases().filter(
    (c) => c.transform === "split-stages" && /^(?:node|python)-/.test(c.name) && c.expected !== c.input,
  );
  test("there are at least 4 conversions per ecosystem", () => {
    expect(mine.filter((c) => c.name.startsWith("node-")).length).toBeGreaterThanOrEqual(4);
    expect(mine.filter((c) => c.name.startsWith("python-")).length).toBeGreaterThanOrEqual(4);
  });
  test.each(mine.map((c) => [c.name, c] as const))("%s", (_n, c) => {
    const before = parseDockerfile(c.input);
    const after = parseDockerfile(c.expected);
    if (after.stages.length === 1) {
      // the -slim swap (an app with no build step, a lock file whose install needs no build tool):
      // the same file on the base image's -slim variant, every other byte kept
      const [was, is] = [before.stages[0].image!, after.stages[0].image!];
      expect(is.name).toBe(was.name);
      expect(is.tag).toBe(`${was.tag}-slim`);
      expect(c.expected).toBe(c.input.replace(was.raw, is.raw));
      return;
    }
    // two stages, the first named, every runtime COPY --from backed by the build stage; on distroless
    // (nodeRuntime, which runs no npm) a third between them may install the production dependencies
    const shellLess = c.options.perTransform["split-stages"]?.nodeRuntime === "distroless";
    expect(after.stages.map((s) => s.index)).toEqual(
      shellLess && after.stages.length === 3 ? [0, 1, 2] : [0, 1],
    );
    expect(runtimeCopyProblems(after, c.context)).toEqual([]);
    const started = /^(?:CMD|ENTRYPOINT|HEALTHCHECK)$/;
    // nothing lost: every comment and every original instruction (FROM aside) is still there, byte for
    // byte; a COPY of the sources the runtime stage takes from the context gains the runtime owner
    for (const cm of before.comments) expect(c.expected).toContain(cm.text);
    for (const i of before.stages[0].instructions) {
      // distroless: the start command and HEALTHCHECK are rewritten for the image's node (checked below)
      if (shellLess && started.test(i.keyword)) continue;
      const owned = i.text.replace(
        /^(\w+)(\s)/,
        `$1 --chown=${shellLess ? "nonroot:nonroot" : "node:node"}$2`,
      );
      expect(
        [i.text, owned].some((t) => c.expected.includes(t)),
        i.text,
      ).toBe(true);
    }
    // the runtime stage runs as someone other than root (as root, like the original, when it
    // names a port below 1024 a non-root user could not bind, or with the --verify rung's
    // runtimeUser: original), and keeps CMD/ENTRYPOINT last-in-order
    const rt = after.stages.at(-1)!.instructions;
    const users = rt.filter((i) => i.keyword === "USER");
    const ownUser = before.stages[0].instructions.some((i) => i.keyword === "USER");
    const asOriginal = c.options.perTransform["split-stages"]?.runtimeUser === "original";
    const asRoot = !ownUser && (asOriginal || lowPort(before, before.stages[0].instructions));
    if (shellLess) {
      // the image's :nonroot tag is the user; its node runs every command, in exec form
      expect(after.stages.at(-1)!.image!.tag === "nonroot").toBe(!asRoot && !ownUser);
      if (asRoot) expect(users).toEqual([]);
      for (const i of rt.filter((i) => started.test(i.keyword) && !/NONE/i.test(i.text))) {
        expect(i.text, i.text).toMatch(/^\w+(?:\s+--\S+)*\s+(?:CMD\s+)?\[/);
        expect(i.text).not.toMatch(/\[\s*"(?:node|npm|sh|\/bin\/sh)"/);
      }
    } else if (asRoot) expect(users).toEqual([]);
    else {
      expect(users.length).toBeGreaterThan(0);
      expect(users.at(-1)!.args[0].value).not.toMatch(/^(?:root|0)$/);
    }
    const kinds = (s: typeof rt) =>
      s.filter((i) => /^(?:EXPOSE|CMD|ENTRYPOINT|HEALTHCHECK)$/.test(i.keyword)).map((i) => i.text);
    const kept = (t: string[]) => (shellLess ? t.map((x) => x.split(/\s/)[0]) : t);
    expect(kept(kinds(rt))).toEqual(kept(kinds(before.stages[0].instructions)));
    // line endings follow the input
    expect(c.expected.includes("\r\n")).toBe(c.input.includes("\r\n"));
    // introduced images carry the registry prefix option
    const img = after.stages.at(-1)!.image!.raw;
    if (c.options.registryPrefix) expect(img.startsWith(c.options.registryPrefix)).toBe(true);
  });
});

/** A Node app that installs from its manifests, then runs `tail` before its start command. */
const installed = (...tail: string[]) =>
  lines(
    "FROM node:20",
    "WORKDIR /app",
    "COPY package*.json ./",
    "RUN npm ci",
    ...tail,
    'CMD ["node", "index.js"]',
  );

describe("node planner decisions", () => {
  const base = (extra: string[] = [], cmd = '["npm", "start"]') =>
    lines(
      "FROM node:20",
      "WORKDIR /app",
      "COPY package.json package-lock.json ./",
      "RUN npm ci",
      "COPY . .",
      "RUN npm run build",
      ...extra,
      `CMD ${cmd}`,
    );
  const ctx = {
    "package.json": pkg({ build: "tsc", start: "node dist/index.js" }, {}, { typescript: "5" }),
    "package-lock.json": "{}",
  };

  test("a port below 1024 keeps the runtime stage on root, as the original ran", () => {
    const r = run(base(["EXPOSE 80"]), ctx);
    expect(r.changed).toBe(true);
    expect(r.output).not.toMatch(/^USER /m);
    expect(r.output).toContain("COPY --from=build /app /app\n");
    expect(r.changes[0].message).toContain("runs as root like the original: EXPOSE 80");
    // without EXPOSE: a PORT value, or the start command's own option
    const env = run(base(["ENV PORT=80"]), ctx);
    expect(env.output).not.toMatch(/^USER /m);
    expect(env.changes[0].message).toContain("ENV PORT=80 is a port below 1024");
    const high = run(base(["ENV PORT=8080", "EXPOSE 8080"]), ctx);
    expect(high.output).toMatch(/^USER node$/m);
  });

  test("a script named after a member of Object.prototype is a plain name (hostile package.json)", () => {
    const files = {
      "package.json": JSON.stringify({
        scripts: { build: "tsc", ["__proto__"]: { x: 1 }, toString: "node dist/index.js" },
        devDependencies: { typescript: "5" },
      }),
      "package-lock.json": "{}",
    };
    const text = (script: string) => base([], `["npm", "run", "${script}"]`);
    for (const script of ["constructor", "__proto__", "valueOf"]) {
      const r = run(text(script), files);
      expect(r.error, script).toBeNull();
      expect(refusal(r), script).toContain(`${script}: package.json has no`);
    }
    // an own script of that name is read as any other
    expect(run(text("toString"), files).changes[0].message).toContain("runtime stage");
  });

  test("a Python start command that binds port 80 keeps root too", () => {
    const ctx = { "requirements.txt": "gunicorn\n", "app.py": "" };
    const app = (cmd: string) =>
      lines("FROM python:3.12", "WORKDIR /app", "COPY . .", "RUN pip install -r requirements.txt", cmd);
    const bind = run(app('CMD ["gunicorn", "--bind", "0.0.0.0:80", "app:app"]'), ctx);
    expect(bind.output).not.toMatch(/^USER /m);
    expect(bind.changes[0].message).toContain("`--bind 0.0.0.0:80` in the start command");
    const uvicorn = run(app("CMD uvicorn app:app --host 0.0.0.0 --port=443"), ctx);
    expect(uvicorn.output).not.toMatch(/^USER /m);
    const high = run(app('CMD ["gunicorn", "-b", ":8000", "app:app"]'), ctx);
    expect(high.output).toMatch(/^USER app$/m);
  });

  test("NODE_ENV=production before the install means nothing to prune", () => {
    const r = run(
      lines(
        "FROM node:20",
        "ENV NODE_ENV=production",
        "WORKDIR /app",
        "COPY . .",
        "RUN npm ci",
        'CMD ["node", "index.js"]',
      ),
      ctx,
    );
    expect(r.changed).toBe(true);
    expect(r.output).not.toContain("prune");
  });

  test("with no build step the sources come from the context after the installed dependencies", () => {
    const ctx = {
      "package.json": pkg({ start: "node index.js" }, { express: "4" }, { jest: "29" }),
      "package-lock.json": "{}",
      "index.js": "",
    };
    const r = run(installed("COPY . .", "ENV NODE_ENV=production"), ctx);
    expect(r.output).toBe(
      lines(
        "FROM node:20 AS build",
        "WORKDIR /app",
        "COPY package*.json ./",
        "RUN npm ci",
        "RUN npm prune --omit=dev",
        "",
        "FROM node:20-slim",
        "WORKDIR /app",
        "COPY --from=build --chown=node:node /app /app",
        "COPY --chown=node:node . .",
        "ENV NODE_ENV=production",
        "USER node",
        'CMD ["node", "index.js"]',
      ),
    );
    // the file's own owner stays, and the manifests-first COPY moves to the runtime stage too
    const own = run(installed("COPY --chown=1000:1000 . .", "USER 1000"), ctx).output;
    expect(own).toContain("COPY --from=build --chown=1000:1000 /app /app\nCOPY --chown=1000:1000 . .\n");
    const first = run(
      lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN npm install", 'CMD ["node", "index.js"]'),
      ctx,
    );
    expect(first.output).toContain(
      "COPY package.json package-lock.json ./\nRUN npm install\nRUN npm prune --omit=dev\n\nFROM node:20-slim",
    );
    expect(first.output).toContain(
      "COPY --from=build --chown=node:node /app /app\nCOPY --chown=node:node . .\n",
    );
    // the built-output copy takes its files from the build stage, the prune before the sources
    const output = run(installed("COPY . ."), ctx, {
      perTransform: { "split-stages": { nodeCopy: "output" } },
    }).output;
    expect(output).toContain("RUN npm ci\nRUN npm prune --omit=dev\nCOPY . .\n");
    expect(output).toContain("COPY --from=build --chown=node:node /app/index.js /app/index.js\n");
  });

  test("the built-output copy installs production dependencies in the runtime stage only when the install is provably the same", () => {
    const lock = (packages: Record<string, object> = {}) =>
      JSON.stringify({
        name: "x",
        lockfileVersion: 3,
        packages: {
          "": {},
          "node_modules/express": { resolved: "https://registry.npmjs.org/express/-/express-4.19.2.tgz" },
          ...packages,
        },
      });
    const ctx = {
      "package.json": pkg(
        { build: "tsc", start: "node dist/server.js" },
        { express: "4" },
        { typescript: "5" },
      ),
      "package-lock.json": lock(),
      "src/server.ts": "",
    };
    const file = (...tail: string[]) =>
      lines(
        "FROM node:20",
        "WORKDIR /app",
        "COPY package*.json ./",
        "RUN npm ci",
        "COPY . .",
        "RUN npm run build",
        ...tail,
        'CMD ["node", "dist/server.js"]',
      );
    const layout = (text: string, files: Record<string, string> = ctx) =>
      run(text, files, { runtimeFlavour: "slim", perTransform: { "split-stages": { nodeCopy: "output" } } })
        .output;
    const installHere =
      "COPY --chown=node:node package.json package-lock.json /app/\n" +
      "RUN npm ci --omit=dev && npm cache clean --force && chown -R node:node node_modules\n" +
      "COPY --from=build --chown=node:node /app/dist /app/dist\n";
    const copied = "COPY --from=build --chown=node:node /app/node_modules /app/node_modules\n";
    const installed = layout(file());
    expect(installed).toContain(installHere);
    expect(installed).not.toContain("npm prune");
    // `npm install` stays `npm install`, node 14 has no --omit
    expect(layout(file().replace("RUN npm ci", "RUN npm install"))).toContain(
      "RUN npm install --omit=dev && npm cache clean --force",
    );
    expect(layout(file().replace("node:20", "node:14"))).toContain(
      "RUN npm ci --production && npm cache clean",
    );
    // a dev-only package's install script never runs with --omit=dev
    const devScript = { "node_modules/esbuild": { dev: true, hasInstallScript: true } };
    expect(layout(file(), { ...ctx, "package-lock.json": lock(devScript) })).toContain(installHere);
    const keeps = [
      layout(file(), {
        ...ctx,
        "package-lock.json": lock({ "node_modules/bcrypt": { hasInstallScript: true } }),
      }),
      layout(file(), {
        ...ctx,
        "package-lock.json": lock({ "node_modules/x": { resolved: "git+ssh://h/x.git" } }),
      }),
      layout(file(), {
        ...ctx,
        "package-lock.json": JSON.stringify({ lockfileVersion: 1, dependencies: {} }),
      }),
      layout(file(), { ...ctx, ".npmrc": "registry=https://npm.example/\n" }),
      layout(file("RUN rm -rf node_modules/.cache")),
      layout(file().replace("RUN npm ci", "RUN npm ci --legacy-peer-deps")),
      layout(file().replace("RUN npm ci", "ENV npm_config_registry=https://npm.example/\nRUN npm ci")),
      layout(file().replace("RUN npm ci", "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci")),
      layout(file(), {
        ...ctx,
        "package.json": pkg(
          { build: "prisma generate && tsc", start: "node dist/server.js" },
          { express: "4" },
        ),
      }),
    ];
    for (const output of keeps) {
      expect(output).toContain(copied);
      expect(output).not.toContain("--omit=dev &&");
    }
  });

  test("the sources stay in the build stage when something there may use them", () => {
    const ctx = {
      "package.json": pkg({ start: "node index.js" }, { express: "4" }),
      "package-lock.json": "{}",
    };
    const layout = (tail: string[], files: Record<string, string> = ctx) =>
      run(installed(...tail), files).output;
    // the whole app folder from the build stage, and no COPY from the context in the runtime stage
    const oldLayout = /COPY --from=build --chown=node:node \/app \/app\n(?![\s\S]*^COPY --chown)/m;
    expect(layout(["COPY . .", "RUN mkdir -p logs"])).toMatch(oldLayout);
    expect(layout(["COPY . .", "WORKDIR /app"])).toMatch(oldLayout);
    expect(layout(["ENV SRC=.", "COPY $SRC ."])).toMatch(oldLayout);
    expect(layout(["COPY . .", "RUN npm install --no-save left-pad"])).toMatch(oldLayout);
    // a node_modules in the context would land over the installed one
    expect(layout(["COPY . ."], { ...ctx, "node_modules/x/index.js": "" })).toMatch(oldLayout);
    expect(
      layout(["COPY . ."], { ...ctx, "node_modules/x/index.js": "", ".dockerignore": "node_modules\n" }),
    ).toContain("COPY --chown=node:node . .");
  });

  test("no split when it would drop only npm's download cache from an image already on the runtime base", () => {
    const ctx = {
      "package.json": pkg({ start: "node index.js" }, { express: "4" }),
      "package-lock.json": "{}",
      "index.js": "",
    };
    const app = (from: string, install: string, ...more: string[]) =>
      lines(
        from,
        "WORKDIR /app",
        "COPY package*.json ./",
        ...more,
        install,
        "COPY . .",
        'CMD ["node", "index.js"]',
      );
    const gains = "no build step, no dev dependencies to drop and";
    for (const from of ["FROM node:20-slim", "FROM node:20-alpine"]) {
      const r = run(app(from, "RUN npm ci --omit=dev"), ctx);
      expect(r.changed, from).toBe(false);
      expect(refusal(r), from).toContain(`${gains} ${from.slice(5)} is already the runtime image`);
    }
    // the whole engine then cleans the cache in place and keeps the original's single stage
    const whole = optimizeFile(app("FROM node:20-slim", "RUN npm ci --omit=dev"), memoryContext(ctx), {
      transforms: TRANSFORMS,
    }).output;
    expect(whole).toContain("RUN npm ci --omit=dev && npm cache clean --force\n");
    expect(whole).not.toContain("AS build");
    // each of these still gains from the split
    const splits = [
      app("FROM node:20", "RUN npm ci --omit=dev"), // the full image: the runtime is -slim
      app("FROM node:20-slim", "RUN npm ci"), // dev dependencies pruned
      app(
        "FROM node:20-slim",
        "RUN npm ci --omit=dev",
        "RUN apt-get update && apt-get install -y python3 make g++",
      ),
    ];
    for (const text of splits) {
      const r = run(text, ctx);
      expect(refusal(r), text).not.toContain(gains);
      expect(r.output, text).toContain("COPY --from=build --chown=node:node /app /app");
    }
    const built = run(
      lines(
        "FROM node:20-slim",
        "WORKDIR /app",
        "COPY package*.json ./",
        "RUN npm ci --omit=dev",
        "COPY . .",
        "RUN npm run build",
        'CMD ["node", "dist/index.js"]',
      ),
      { ...ctx, "package.json": pkg({ build: "node build.js" }, { express: "4" }) },
    );
    expect(built.output).toContain("FROM node:20-slim AS build");
  });

  test("no build step on the full image: the same steps on -slim when the lock file shows the install runs no code", () => {
    const lock = (packages: Record<string, object>, version = 3) =>
      JSON.stringify({ lockfileVersion: version, packages: { "": { name: "x" }, ...packages } });
    const express = { resolved: "https://registry.npmjs.org/express/-/express-4.0.0.tgz" };
    const ctx = (lockText: string, extra: Record<string, string> = {}) => ({
      "package.json": pkg({ start: "node index.js" }, { express: "4" }),
      "package-lock.json": lockText,
      "index.js": "",
      ...extra,
    });
    const app = (copy = "COPY package*.json ./") =>
      lines(
        "FROM node:20",
        "WORKDIR /app",
        copy,
        "RUN npm ci --omit=dev",
        "COPY . .",
        'CMD ["node", "index.js"]',
      );
    const swapped = run(app(), ctx(lock({ "node_modules/express": express })));
    expect(swapped.output).toBe(app().replace("FROM node:20\n", "FROM node:20-slim\n"));
    expect(swapped.changes[0].message).toContain("no build step: the same steps on node:20-slim");
    // the exec form and a pattern that names the lock file bring it in too
    const exec = app('COPY ["package.json", "package-lock.json*", "./"]');
    expect(run(exec, ctx(lock({ "node_modules/express": express }))).output).toContain("FROM node:20-slim\n");
    // anything the install may need the full image for keeps the split
    const split = (text: string, files: Record<string, string>) =>
      expect(run(text, files).output, JSON.stringify(files)).toContain(
        "COPY --from=build --chown=node:node /app /app",
      );
    split(app(), ctx(lock({ "node_modules/bcrypt": { ...express, hasInstallScript: true } })));
    split(app(), ctx(lock({ "node_modules/x": { resolved: "git+ssh://git@github.com/a/x.git#abc" } })));
    split(app(), ctx(lock({ "node_modules/x": { resolved: "file:../x", link: true } })));
    split(app(), ctx(lock({ "node_modules/express": express }, 1)));
    split(app(), ctx(lock({ "node_modules/express": express }), { "binding.gyp": "{}" }));
    split(app("COPY package.json ./"), ctx(lock({ "node_modules/express": express })));
    split(app(), {
      ...ctx(lock({ "node_modules/express": express })),
      "package.json": pkg({ start: "node index.js", postinstall: "node fetch.js" }, { express: "4" }),
    });
  });

  test("runtimeFlavour alpine on a glibc build keeps the slim runtime and says why", () => {
    const r = run(base(), ctx, { runtimeFlavour: "alpine" });
    expect(r.output).toContain("FROM node:20-slim");
    expect(r.changes[0].message).toContain("runtimeFlavour alpine ignored");
  });

  test("an original USER is kept and no node user is added", () => {
    const r = run(base(["USER 1000"]), ctx);
    expect(r.output).not.toContain("USER node");
    expect(r.output).not.toContain("--chown=node:node");
    expect(r.output.trimEnd().split("\n").slice(-2)[0]).toBe("USER 1000");
  });

  test("a start command that runs a devDependency keeps the dev dependencies instead of refusing", () => {
    const start = (cmd: string, dev: Record<string, string>) =>
      run(lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN npm ci", cmd), {
        ...ctx,
        "package.json": pkg({ start: "nodemon server.js" }, { express: "4" }, dev),
      });
    for (const [cmd, dev, kept] of [
      ['CMD ["npx", "cross-env", "NODE_ENV=production", "node", "x.js"]', { "cross-env": "7" }, "cross-env"],
      ['CMD ["npm", "start"]', { nodemon: "3" }, "nodemon"],
      ['CMD ["node", "-r", "ts-node/register", "src/main.ts"]', { "ts-node": "10" }, "ts-node"],
      ['CMD ["npx", "tsx", "src/main.ts"]', { tsx: "4" }, "tsx"],
    ] as const) {
      const r = start(cmd, dev);
      expect(r.changed, cmd).toBe(true);
      expect(r.output, cmd).not.toContain("prune");
      expect(r.changes[0].message, cmd).toContain(`the start command runs ${kept} from devDependencies`);
    }
    // Not listed at all: the runtime would not have it.
    expect(refusal(start('CMD ["npx", "tsx", "src/main.ts"]', {}))).toContain(
      "starts `tsx`, which package.json does not list",
    );
    // A dependency needs no dev dependencies: the prune stays.
    const r = run(
      lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN npm ci", 'CMD ["npx", "tsx", "a.ts"]'),
      {
        ...ctx,
        "package.json": pkg({}, { tsx: "4" }, { typescript: "5" }),
      },
    );
    expect(r.output).toContain("RUN npm prune --omit=dev");
  });

  test("Yarn Berry: focus --production only where Yarn 4 or the workspace-tools plugin provides it", () => {
    const berry = (rc: string, packageManager?: string) =>
      run(
        lines(
          "FROM node:20",
          "WORKDIR /app",
          "COPY . .",
          "RUN yarn install --immutable",
          'CMD ["node", "i.js"]',
        ),
        {
          ...ctx,
          "package.json": pkg(
            { start: "node i.js" },
            {},
            { typescript: "5" },
            packageManager ? { packageManager } : {},
          ),
          ".yarnrc.yml": rc,
          "yarn.lock": "__metadata:\n  version: 6\n",
        },
      );
    const plugin = berry(
      "nodeLinker: node-modules\nplugins:\n  - path: .yarn/plugins/@yarnpkg/plugin-workspace-tools.cjs\n",
      "yarn@3.8.2",
    );
    expect(plugin.output).toContain("RUN yarn workspaces focus --production\n");
    const yarn3 = berry("nodeLinker: node-modules\n", "yarn@3.8.2");
    expect(yarn3.output).not.toContain("focus");
    expect(yarn3.changes[0].message).toContain("dev dependencies kept");
    // PnP on Yarn 4 with the project cache is fine; with the default global cache it is not.
    expect(berry("enableGlobalCache: false\n", "yarn@4.5.0").changed).toBe(true);
    expect(refusal(berry("", "yarn@4.5.0"))).toContain("global cache");
    expect(refusal(berry("nodeLinker: pnpm\n", "yarn@4.5.0"))).toContain("nodeLinker pnpm");
  });

  test("lifecycle scripts (postinstall) keep the original COPY order", () => {
    const r = run(
      lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN npm ci", 'CMD ["node", "index.js"]'),
      {
        ...ctx,
        "package.json": pkg({ postinstall: "node scripts/gen.js", start: "node index.js" }),
      },
    );
    expect(r.changed).toBe(true);
    expect(r.output.indexOf("COPY . .")).toBeLessThan(r.output.indexOf("RUN npm ci"));
    expect(r.output).not.toContain("COPY package.json");
  });

  test("refusals name the problem", () => {
    const cases: Array<[string, Record<string, string> | null, string]> = [
      [
        lines("FROM node:0.10", "WORKDIR /app", "COPY . .", "RUN npm install", "CMD node app.js"),
        ctx,
        "no `node` user",
      ],
      [base(), { ...ctx, ".yarnrc.yml": "" }, ""],
      [
        lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN yarn install", "CMD yarn start"),
        { ...ctx, ".yarnrc.yml": "nodeLinker: pnp" },
        "Yarn Berry",
      ],
      [
        lines("FROM node:20", "WORKDIR /app", "COPY . .", "RUN npm ci && rm -rf /app", "CMD npm start"),
        ctx,
        "removes the app folder /app",
      ],
      [
        lines(
          "FROM node:20",
          "WORKDIR /app",
          "COPY . .",
          "RUN npm ci",
          "RUN npm run build > /etc/build.log",
          "CMD npm start",
        ),
        ctx,
        "writes outside the app folder",
      ],
      [
        // The redirect belongs to `echo`, the last command of the list (tree-sitter hung it on the whole list).
        lines(
          "FROM node:20",
          "WORKDIR /app",
          "COPY . .",
          "RUN npm ci && npm run build && echo done > /etc/build-state",
          "CMD npm start",
        ),
        ctx,
        "writes outside the app folder",
      ],
      [
        lines(
          "FROM node:20@sha256:" + "a".repeat(64),
          "WORKDIR /app",
          "COPY . .",
          "RUN npm ci",
          "CMD npm start",
        ),
        ctx,
        "pinned by digest",
      ],
      [
        lines(
          "FROM node:20",
          "WORKDIR /app",
          "COPY . .",
          "RUN npm ci",
          'CMD ["npx", "cross-env", "NODE_ENV=production", "concurrently", "node a.js", "node b.js"]',
        ),
        { ...ctx, "package.json": pkg({}, {}, { "cross-env": "7", concurrently: "8" }) },
        "runs commands through concurrently",
      ],
      [base(), null, "no build context"],
    ];
    for (const [text, files, reason] of cases) {
      if (!reason) continue;
      const r = run(text, files);
      expect(r.changed, reason).toBe(false);
      expect(refusal(r), reason).toContain(reason);
    }
  });
});

describe("python planner decisions", () => {
  const ctx = { "requirements.txt": "gunicorn\n", "app.py": "" };
  test("console scripts named under /usr/local/bin refuse: they move into the venv", () => {
    const r = run(
      lines(
        "FROM python:3.12",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["/usr/local/bin/gunicorn", "app:app"]',
      ),
      ctx,
    );
    expect(refusal(r)).toContain("/usr/local/bin/gunicorn, which moves into /opt/venv");
  });
  test("pip install --user refuses", () => {
    const r = run(
      lines(
        "FROM python:3.12",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install --user -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(refusal(r)).toContain("installs outside the interpreter's environment");
  });
  test("--no-build-isolation refuses: the venv lacks the system setuptools/wheel it relies on", () => {
    const r = run(
      lines(
        "FROM python:3.11",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install --no-build-isolation .",
        'CMD ["app"]',
      ),
      ctx,
    );
    expect(refusal(r)).toContain("--no-build-isolation");
  });
  test("Python 2 gets its venv from virtualenv (no venv module) and runs on the -slim tag", () => {
    const r = run(
      lines(
        "FROM python:2-alpine",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(r.changed).toBe(true);
    expect(r.output).toContain('RUN pip install "virtualenv<20" && virtualenv /opt/venv\n');
    expect(r.output).not.toContain("python -m venv");
    expect(r.output.slice(r.output.lastIndexOf("FROM "))).toMatch(/^FROM python:2-alpine\n/);
  });
  test("Python 2 with its own virtualenv keeps it and adds none", () => {
    const r = run(
      lines(
        "FROM python:2.7",
        "RUN pip install virtualenv && virtualenv /venv",
        'ENV PATH="/venv/bin:$PATH"',
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(r.changed).toBe(true);
    expect(r.output).not.toContain("/opt/venv");
    expect(r.output).toContain("COPY --from=build /venv /venv\n");
    expect(r.output).toMatch(/\nFROM python:2\.7-slim\n/);
    expect(r.changes[0].message).not.toContain("Python 2 has no venv module");
  });
  test("a chown the original gave the app folder is kept on the runtime copy, and the user exists before it", () => {
    const r = run(
      lines(
        "FROM python:3.12-slim",
        "RUN useradd web",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt && chown -R web:web .",
        "USER web",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(r.changed).toBe(true);
    const runtime = r.output.slice(r.output.lastIndexOf("FROM "));
    expect(runtime).toContain("COPY --from=build --chown=web:web /app /app");
    expect(runtime.indexOf("RUN useradd web")).toBeLessThan(runtime.indexOf("--chown=web:web"));
  });
  test("a COPY --chown the original gave the app files carries over to the runtime copy", () => {
    const r = run(
      lines(
        "FROM python:3.12-slim",
        "RUN useradd web",
        "WORKDIR /app",
        "COPY --chown=web:web . .",
        "RUN pip install -r requirements.txt",
        "USER web",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(r.output).toContain("COPY --from=build --chown=web:web /app /app");
  });
  test("an unknown -dev package refuses rather than guessing the runtime library", () => {
    const r = run(
      lines(
        "FROM python:3.12",
        "RUN apt-get update && apt-get install -y libgdal-dev",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
      ctx,
    );
    expect(refusal(r)).toContain(
      "installs libgdal-dev: the runtime library of libgdal-dev differs between Debian releases (bullseye: libgdal28, bookworm: libgdal32, trixie: libgdal36) and python:3.12 does not name its release",
    );
  });
  test("distroless is not used for Python and the message says so", () => {
    const r = run(
      lines(
        "FROM python:3.12",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
      ctx,
      {
        runtimeFlavour: "distroless",
      },
    );
    expect(r.output).toContain("FROM python:3.12-slim");
    expect(r.changes[0].message).toContain("distroless not used");
  });
});

describe("dispatcher", () => {
  test("multi-stage files, scratch and unrecognised builds are refused with what was seen", () => {
    expect(refusal(run(lines("FROM scratch", "COPY app /app", 'CMD ["/app"]'), {}))).toContain(
      "FROM scratch",
    );
    expect(refusal(run(lines("FROM a AS x", "FROM b", "COPY --from=x / /"), {}))).toContain(
      "already multi-stage (2 stages)",
    );
    expect(refusal(run(lines("FROM alpine:3.20", "RUN apk add --no-cache curl", 'CMD ["curl"]'), {}))).toBe(
      "no recognised application build (base alpine:3.20, 1 RUN, no manifests in the context)",
    );
  });
});

describe("node on distroless (nodeRuntime: distroless, a --verify rung)", () => {
  const distroless = {
    runtimeFlavour: "slim" as const,
    perTransform: { "split-stages": { nodeCopy: "output", nodeRuntime: "distroless" } },
  };
  const build = ["FROM node:22", "WORKDIR /app", "COPY . .", "RUN npm install", "RUN npm run build"];
  const files = (scripts: Record<string, string> = {}, more: Record<string, string> = {}) => ({
    "package.json": pkg({ build: "tsc", ...scripts }, { express: "^4" }, { typescript: "^5" }),
    "bin/cli.js": "#!/usr/bin/env node\nrequire('../dist/cli.js');\n",
    ...more,
  });
  const output = (r: ReturnType<typeof run>) => {
    expect(refusal(r)).toBe("");
    return r.output;
  };

  test("an exec-form ENTRYPOINT names the image's node; its CMD stays", () => {
    const r = run(
      lines(...build, 'ENTRYPOINT ["node", "dist/cli.js"]', 'CMD ["--port", "3000"]'),
      files(),
      distroless,
    );
    const out = output(r);
    expect(out).toMatch(/^FROM gcr\.io\/distroless\/nodejs22-debian12:nonroot$/m);
    expect(out).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "dist\/cli\.js"\]\nCMD \["--port", "3000"\]$/m);
  });

  test("a script whose shebang is node is run by node; `npm run <script>` that is plainly node too", () => {
    expect(output(run(lines(...build, 'CMD ["bin/cli.js", "serve"]'), files(), distroless))).toMatch(
      /^CMD \["bin\/cli\.js", "serve"\]$/m,
    );
    const script = run(
      lines(...build, "CMD npm run prod"),
      files({ prod: "node --enable-source-maps dist/cli.js" }),
      distroless,
    );
    expect(output(script)).toMatch(/^CMD \["--enable-source-maps", "dist\/cli\.js"\]$/m);
  });

  test("`cd <folder> && node …`: WORKDIR moves into the folder before the CMD; a parent folder is not followed", () => {
    const app = {
      runtimeFlavour: "slim" as const,
      perTransform: { "split-stages": { nodeRuntime: "distroless" } },
    };
    const cd = (start: string) => run(lines(...build, 'CMD ["npm", "start"]'), files({ start }), app);
    expect(output(cd("cd dist && node cli.js"))).toMatch(/^WORKDIR \/app\/dist\nCMD \["cli\.js"\]$/m);
    expect(output(cd("cd dist/server/ && node main.js --port 3000"))).toMatch(
      /^WORKDIR \/app\/dist\/server\nCMD \["main\.js", "--port", "3000"\]$/m,
    );
    // an ENTRYPOINT that runs the script moves the same way
    const ep = run(
      lines(...build, 'ENTRYPOINT ["npm", "start"]'),
      files({ start: "cd dist && node cli.js" }),
      app,
    );
    expect(output(ep)).toMatch(/^WORKDIR \/app\/dist\nENTRYPOINT \["\/nodejs\/bin\/node", "cli\.js"\]$/m);
    // a HEALTHCHECK runs in the image's working folder wherever it stands: it would move too
    const health = run(
      lines(...build, 'HEALTHCHECK CMD ["node", "dist/health.js"]', 'CMD ["npm", "start"]'),
      files({ start: "cd dist && node cli.js" }),
      app,
    );
    expect(refusal(health)).toContain("the runtime's WORKDIR would move for `HEALTHCHECK");
    for (const start of [
      "cd .. && node app/dist/cli.js",
      "cd dist/.. && node dist/cli.js",
      "cd ..&& node x.js",
      "cd . && node dist/cli.js",
    ])
      expect(refusal(cd(start)), start).toContain("not plainly `node <file>`");
  });

  test("refusals name what distroless lacks", () => {
    const refused = (
      tail: string[],
      scripts: Record<string, string> = {},
      more: Record<string, string> = {},
    ) => refusal(run(lines(...build, ...tail), files(scripts, more), distroless));
    // a start script that is more than node
    expect(refused(['CMD ["npm", "start"]'], { start: "NODE_ENV=production node dist/cli.js" })).toContain(
      'the "start" script is not plainly `node <file>`',
    );
    expect(refused(['CMD ["npm", "start"]'], { start: "node dist/a.js && node dist/b.js" })).toContain(
      "not plainly",
    );
    // the app spawns through sh, or another program starts it
    expect(refused(['CMD ["sh", "-c", "node dist/cli.js"]'])).toContain(
      "not node: distroless runs only node",
    );
    expect(refused(['CMD ["tini", "--", "node", "dist/cli.js"]'])).toContain("not node");
    // shell form that needs the shell, and a shell-form CMD after an exec-form ENTRYPOINT
    expect(refused(["CMD node dist/cli.js > /tmp/log"])).toContain("needs a shell");
    expect(refused([`ENTRYPOINT ["node", "dist/cli.js"]`, "CMD --port 3000"])).toContain("runs /bin/sh");
    // RUNs the runtime stage would need
    expect(refused(["RUN useradd -m app", "USER app", 'CMD ["node", "dist/cli.js"]'])).toContain(
      "creates a user in the runtime stage",
    );
    expect(refused(['SHELL ["/bin/bash", "-c"]', 'CMD ["node", "dist/cli.js"]'])).toContain("SHELL");
    expect(
      refused(['HEALTHCHECK CMD ["wget", "-q", "localhost:3000"]', 'CMD ["node", "dist/cli.js"]']),
    ).toContain("curl, wget");
    // no WORKDIR: distroless :nonroot would start in /home/nonroot
    const noWorkdir = run(
      lines(
        "FROM node:20",
        "COPY . /app",
        "RUN cd /app && npm install && npm run build",
        'CMD ["node", "/app/dist/cli.js"]',
      ),
      files(),
      distroless,
    );
    expect(refusal(noWorkdir)).not.toBe("");
  });

  test("without nodeCopy output: the whole app folder, pruned, on distroless", () => {
    const r = run(lines(...build, 'CMD ["node", "dist/cli.js"]'), files(), {
      runtimeFlavour: "slim",
      perTransform: { "split-stages": { nodeRuntime: "distroless" } },
    });
    const out = output(r);
    expect(out).toMatch(/^RUN npm prune --omit=dev$/m);
    expect(out).toMatch(/^COPY --from=build --chown=nonroot:nonroot \/app \/app$/m);
    expect(out).toMatch(/^CMD \["dist\/cli\.js"\]$/m);
  });
});
