/**
 * Build output served by a web server from its own folder: a RUN copies what
 * the build made (a Node/React build, say) into `/var/www/html` or
 * `/usr/share/nginx/html`, and the image runs nginx or Apache. The runtime
 * stage is the same server image (the same base, with the server package the
 * original installed) and gets only that folder, plus the files the RUNs put
 * in place and the server configuration COPYs. Anything else a RUN writes
 * outside the app folder and the served folder is refused.
 */
import type { Instr } from "../../src/engine/parse.ts";
import { isInside } from "../../src/engine/paths.ts";
import type { ShellCommand } from "../../src/engine/shell.ts";
import { assemble, layout } from "./toolkit/assemble.ts";
import { repoName } from "./toolkit/images.ts";
import { appFolderToCopy, copyInfo, SCRATCH_PATHS, shellVars, workdirs } from "./toolkit/instructions.ts";
import { aptOptions, installLine, TOOLCHAIN_PACKAGES } from "./toolkit/packages.ts";
import { placement } from "./toolkit/placed-files.ts";
import { guarded, quote, refuse } from "./toolkit/refuse.ts";
import { healthcheckTools } from "./toolkit/runtime-files.ts";
import { commandName, fileCommandProblem, FILE_COMMANDS, runCommands } from "./toolkit/shell.ts";
import { runCwd, walkStage } from "./toolkit/walk.ts";
import type { EcosystemPlanner, SplitInput } from "./types.ts";
import { startCommand } from "../lib/start-command.ts";

/** Folders the usual web servers serve by default. */
const WEB_ROOTS = ["/var/www/html", "/usr/share/nginx/html", "/usr/local/apache2/htdocs"];
/** Programs that serve a web root (the start command runs one of them). */
const SERVERS = /^(?:nginx|httpd|httpd-foreground|apache2|apache2ctl|apachectl|lighttpd)$/;
/** Server images whose default command serves the web root. */
const SERVER_IMAGES: Record<string, string> = { nginx: "/", httpd: "/usr/local/apache2" };
/** OS packages that are the server itself. */
const SERVER_PACKAGES = new Set(["nginx", "nginx-light", "nginx-full", "nginx-core", "apache2", "lighttpd"]);
/** Packages a front-end build needs and the served folder does not. */
const FRONTEND_BUILD_ONLY = new Set([
  ...TOOLCHAIN_PACKAGES,
  "nodejs",
  "npm",
  "yarn",
  "python3",
  "python",
  "curl",
  "wget",
  "ca-certificates",
  "gnupg2",
  "bzip2",
  "zip",
]);
/** Front-end build tools a RUN may run: they write inside the app folder. */
const FRONTEND_TOOLS = ["npm", "npx", "yarn", "pnpm", "node", "corepack", "bower", "gulp", "grunt", "ng"];

/** The web root a path lies in, if any. */
const webRootOf = (path: string) => WEB_ROOTS.find((w) => isInside(path, w)) ?? null;

export const webRoot: EcosystemPlanner = {
  id: "web",
  detect(input) {
    const { model, stage } = input;
    const start = startCommand(model, stage);
    const serves =
      start.commands.some((argv) => SERVERS.test((argv[0] ?? "").split("/").pop() ?? "")) ||
      (start.cmd === null && start.entrypoint === null && repoName(stage.image!.name) in SERVER_IMAGES);
    if (!serves) return false;
    return stage.instructions.some(
      (i) => i.keyword === "RUN" && /\b(?:cp|mv)\b/.test(i.text) && WEB_ROOTS.some((w) => i.text.includes(w)),
    );
  },
  plan: (input) => guarded(() => planWebRoot(input)),
};

function planWebRoot(input: SplitInput) {
  const { model, stage } = input;
  const image = stage.image!;
  if (image.usesVariables) refuse(`the base image ${image.raw} uses variables`, stage.from);
  const repo = repoName(image.name);
  for (const argv of startCommand(model, stage).commands) {
    const program = (argv[0] ?? "").split("/").pop() ?? "";
    if (!SERVERS.test(program))
      refuse(
        `the start command also runs \`${argv[0] ?? "a command named by a variable"}\`, not only the web server`,
      );
  }
  const walk = walkStage(input, { workdir: SERVER_IMAGES[repo] ?? "/" });
  const appDir = appFolderToCopy(stage, model.globalArgValues);
  const vars = shellVars(stage);
  const folders = new Set([...walk.cwd.values()].filter((d): d is string => d !== null));

  // The served folder: where the last RUN that copies into a web root puts the output.
  let build: Instr | null = null;
  let served: string | null = null;
  const placedBy = (instr: Instr, c: ShellCommand) => {
    const cwd = runCwd(input, walk, instr, c);
    const p = placement(
      c,
      cwd,
      (raw) => walk.expand(raw, instr),
      (d) => folders.has(d) || d === cwd,
    );
    if ("why" in p) refuse(`${quote(instr)}: \`${commandName(c)}\` cannot be followed: ${p.why}`, instr);
    return p.placed;
  };
  for (const instr of stage.instructions) {
    if (instr.keyword !== "RUN") continue;
    for (const c of runCommands(model, instr)) {
      if (commandName(c) !== "cp" && commandName(c) !== "mv") continue;
      const root = placedBy(instr, c)
        .map(webRootOf)
        .find((w) => w !== null);
      if (!root) continue;
      if (served && served !== root) refuse(`the build copies into both ${served} and ${root}`, instr);
      served = root;
      build = instr;
    }
  }
  if (!build || !served) refuse("no RUN copies the build output into a web server's folder");

  // Every RUN writes only inside the app folder and the served folder (cp/mv after the build are followed).
  const inside = (p: string) => isInside(p, appDir) || isInside(p, served) || SCRATCH_PATHS.test(p);
  for (const instr of stage.instructions) {
    if (instr.keyword !== "RUN") continue;
    for (const c of runCommands(model, instr)) {
      const name = commandName(c);
      if ((name === "cp" || name === "mv") && instr.start < build.start) {
        const out = placedBy(instr, c).find((p) => !inside(p));
        if (out)
          refuse(
            `${quote(instr)} puts ${out} in place before the build; the runtime stage would lack it`,
            instr,
          );
      } else if (FILE_COMMANDS.has(name) && name !== "cp" && name !== "mv") {
        const cwd = runCwd(input, walk, instr, c) ?? appDir;
        const problem = fileCommandProblem(model, instr, c, appDir, cwd, vars.get(instr));
        if (problem && fileCommandProblem(model, instr, c, served, cwd, vars.get(instr)))
          refuse(`${problem}; the runtime stage would lack that change`, instr);
      }
    }
  }

  const lay = layout(input, walk, build, {
    extraPreBuildCommands: [...FRONTEND_TOOLS, "cp", "mv"],
    acceptInBuild: (c) => FRONTEND_TOOLS.includes(commandName(c)),
  });

  // The server: the package the original installed (the base image's own server needs none).
  const health = healthcheckTools(stage);
  const keep: string[] = [];
  let manager: "apt" | "apk" | null = null;
  for (const inst of lay.installs) {
    if (inst.manager === "yum") refuse(`${quote(inst.instr)} installs with yum`, inst.instr);
    for (const p of inst.packages) {
      if (SERVER_PACKAGES.has(p) || health.includes(p)) {
        if (!keep.includes(p)) keep.push(p);
        manager = inst.manager;
      } else if (!FRONTEND_BUILD_ONLY.has(p) && !/-dev$/.test(p))
        refuse(`installs ${p}, which the served site may need at run time`, inst.instr);
    }
  }
  for (const t of health) if (!keep.includes(t)) keep.push(t);
  const setup: string[] = [];
  if (keep.length > 0) {
    const alpine = manager === "apk" || (manager === null && /alpine/.test(image.tag ?? ""));
    const opts = aptOptions(lay.installs);
    if (!alpine && opts === null)
      refuse(
        "the server is installed by apt installs with different options",
        lay.installs[0]?.instr ?? null,
      );
    setup.push(installLine(model, alpine ? "apk" : "apt", keep, opts ?? ["-y"]));
  }

  // Server configuration COPYs before the build go to the runtime stage too, as written.
  const cwd = workdirs(stage, SERVER_IMAGES[repo] ?? "/", model.globalArgValues);
  for (const instr of stage.instructions) {
    if (instr.start >= build.start) break;
    const c = copyInfo(instr, cwd.get(instr) ?? null);
    if (!c || c.remote || c.from) continue;
    if (!c.destAbs) refuse(`cannot tell where ${quote(instr)} copies to`, instr);
    if (inside(c.destAbs)) continue;
    if (!c.dest.startsWith("/"))
      refuse(`${quote(instr)} copies outside the app folder to a relative path`, instr);
    setup.push(model.text.slice(instr.start, instr.end).replace(/\r?\n$/, ""));
  }

  const server = keep.find((p) => SERVER_PACKAGES.has(p));
  return assemble(input, lay, {
    image: image.raw,
    setup,
    artifacts: [{ from: served, to: served }],
    buildEdits: [],
    message: `build stage on ${image.raw}, runtime stage on ${image.raw}${server ? ` (+ ${server})` : ""} with only ${served}, the folder the web server serves`,
  });
}
