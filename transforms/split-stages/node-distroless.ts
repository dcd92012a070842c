/** The verify-only runtime stage on a distroless Node image (no shell, npm or package manager). */
import type { Instr } from "../../src/engine/parse.ts";
import { keyword } from "../../src/engine/style.ts";
import { DISTROLESS_NODE_MAJORS } from "../catalog/images.ts";
import type { SplitInput } from "./types.ts";
import { basename, resolvePath } from "../../src/engine/paths.ts";
import { originalUser } from "./toolkit/instructions.ts";
import { quote, refuse } from "./toolkit/refuse.ts";
import type { Segment } from "./toolkit/segments.ts";
import { commandWords, execForm } from "./toolkit/shell.ts";
import { jsonArgv, type StartCommand } from "../lib/start-command.ts";
import type { NodeBase } from "./node-base.ts";
import type { Pkg } from "./node-package.ts";
import { type NodeReading, startFileTextOf } from "./node-reading.ts";
import { NODE_SHEBANG } from "./node-start.ts";

/** The runtime stage on a distroless Node image: the image, the owner of the copied files, what the message says. */
interface ShellLess {
  image: string;
  chown: string | null;
  note: string;
}

/** Users a distroless image's /etc/passwd has. */
const DISTROLESS_USERS = ["root", "nonroot", "nobody"];

/**
 * `nodeRuntime: "distroless"` (--verify rungs, proven by the real run; with `nodeCopy: "output"` the
 * built output only, else the app folder): the runtime stage on `gcr.io/distroless/nodejs<major>-debian12` (`:nonroot` unless the runtime
 * keeps root), which has node as its ENTRYPOINT and no shell, npm or package manager. The start
 * command must come down to `node <file> [args]` (directly, through a `start`/`run` script that is
 * exactly that with no pre/post hook, or a script whose shebang is node): its CMD becomes the exec
 * form of node's arguments (an ENTRYPOINT names `/nodejs/bin/node`), in `segOf`. Refused when the
 * runtime would need a shell or anything distroless lacks: a CMD with variables or operators, RUNs
 * (OS packages, users), SHELL, a HEALTHCHECK that is not node, a user the image
 * does not have, a musl (alpine) build, a Node major without a distroless image.
 */
export function distrolessRuntime(
  input: SplitInput,
  r: {
    base: NodeBase;
    pkg: Pkg;
    reading: NodeReading;
    start: { start: StartCommand };
    addUser: boolean;
    runtimeInstall: string[];
    segOf: Map<Instr, Segment>;
  },
): ShellLess {
  const { model, stage } = input;
  const { base, reading, segOf } = r;
  const eol = model.source.eol;
  const why = "the distroless Node image has no shell, npm or package manager";
  if (base.user === "bun") refuse("nodeRuntime distroless is for node images, not oven/bun", stage.from);
  if (base.alpine)
    refuse(
      `${base.image.raw} is alpine: node_modules built on musl would not load on the distroless (glibc) image`,
      stage.from,
    );
  if (base.major === null || !DISTROLESS_NODE_MAJORS.includes(base.major))
    refuse(
      `no distroless image for ${base.image.raw}'s Node major (gcr.io/distroless/nodejs<major>-debian12 exists for ${DISTROLESS_NODE_MAJORS.join(", ")})`,
      stage.from,
    );
  const shell = stage.instructions.find((i) => i.keyword === "SHELL");
  if (shell) refuse(`${quote(shell)}: ${why}`, shell);
  if (r.runtimeInstall.length > 0)
    refuse(`the runtime stage would install OS packages (${r.runtimeInstall.join(" ")}); ${why}`);
  for (const [instr, role] of reading.roles)
    if (role.user) refuse(`${quote(instr)} creates a user in the runtime stage; ${why}`, instr);
  if (!stage.instructions.some((i) => i.keyword === "WORKDIR"))
    refuse("no WORKDIR: the distroless :nonroot image starts in /home/nonroot, the original in /");
  const user = originalUser(stage);
  const userName = (user?.args[0]?.value ?? "").split(":")[0];
  if (user && !/^\d+$/.test(userName) && !DISTROLESS_USERS.includes(userName))
    refuse(
      `${quote(user)}: the distroless image's users are ${DISTROLESS_USERS.join(", ")} (and numeric ids)`,
      user,
    );
  // files keep the owner the original gave them only when the image knows it; root can write anyway
  const owned = reading.chownApp;
  const chown = r.addUser
    ? "nonroot:nonroot"
    : owned && (/^\d+(?::\d+)?$/.test(owned) || DISTROLESS_USERS.includes(owned.split(":")[0]))
      ? owned
      : owned && user && userName !== "root" && userName !== "0"
        ? refuse(`the app folder's owner ${owned} is not a user of the distroless image`, user)
        : null;
  const command = distrolessCommand(input, r.pkg, reading, r.start.start);
  segOf.set(command.instr, { ...segOf.get(command.instr)!, body: command.body + eol });
  for (const h of stage.instructions.filter((i) => i.keyword === "HEALTHCHECK")) {
    const raw = h.argsSpan ? model.text.slice(h.argsSpan.start, h.argsSpan.end) : "";
    if (/^NONE\s*$/i.test(raw)) continue;
    const argv = /^CMD\s+\[/i.test(raw) ? jsonArgv(model, raw.replace(/^CMD\s+/i, "")) : null;
    if (!argv || !/^(?:node|nodejs|\/usr\/(?:local\/)?bin\/node)$/.test(argv[0] ?? ""))
      refuse(
        `${quote(h)} needs a shell or tools (curl, wget) the distroless image lacks; only node runs there`,
        h,
      );
    const seg = segOf.get(h)!;
    segOf.set(h, {
      ...seg,
      body: seg.body.replace(
        raw,
        `${keyword(model, "CMD")} ${execForm([DISTROLESS_NODE, ...argv.slice(1)])}`,
      ),
    });
  }
  const tag = r.addUser ? ":nonroot" : "";
  // the start command is node: a global install (a build tool, npm itself) stays in the build stage
  const globals = [...reading.globalPackages].sort();
  return {
    image: `gcr.io/distroless/nodejs${base.major}-debian12${tag}`,
    chown,
    note: [
      `no shell or npm in the runtime: ${quote(command.instr)} becomes ${command.body.replace(/\s+/g, " ")}, run by the image's node`,
      ...(globals.length
        ? [
            `the global install of ${globals.join(", ")} stays in the build stage (the start command runs node)`,
          ]
        : []),
    ].join("; "),
  };
}

/** Where the distroless Node image has node (its ENTRYPOINT). */
const DISTROLESS_NODE = "/nodejs/bin/node";

/**
 * The start command as the distroless Node image runs it: `CMD ["<file>", ...]` after its node
 * ENTRYPOINT, or `ENTRYPOINT ["/nodejs/bin/node", ...]` when the original sets an ENTRYPOINT (its
 * exec-form CMD stays). Refuses anything that is not plainly node.
 */
function distrolessCommand(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  start: StartCommand,
): { instr: Instr; body: string } {
  const { model } = input;
  const words = (i: Instr): { words: string[]; shell: boolean } => {
    const w = commandWords(model, i);
    if (!w.words)
      refuse(`${quote(i)} needs a shell (variables, operators or several commands); distroless has none`, i);
    return { words: w.words, shell: w.shell };
  };
  const { cmd, entrypoint } = start;
  if (entrypoint) {
    const ep = words(entrypoint);
    if (ep.shell && cmd)
      refuse(`${quote(entrypoint)} is shell form, which ignores CMD; its exec form would not`, entrypoint);
    if (cmd && words(cmd).shell)
      refuse(
        `${quote(cmd)} is shell form: after an exec-form ENTRYPOINT it runs /bin/sh, which distroless lacks`,
        cmd,
      );
    const { args, cd } = nodeArgs(input, pkg, reading, ep.words, !!cmd, entrypoint);
    const command = `${keyword(model, "ENTRYPOINT")} ${execForm([DISTROLESS_NODE, ...args])}`;
    return { instr: entrypoint, body: inFolder(input, reading, entrypoint, cd, command) };
  }
  const { args, cd } = nodeArgs(input, pkg, reading, words(cmd!).words, false, cmd!);
  return {
    instr: cmd!,
    body: inFolder(input, reading, cmd!, cd, `${keyword(model, "CMD")} ${execForm(args)}`),
  };
}

/**
 * `command` (the start instruction `start` becomes), after a WORKDIR into the folder of a
 * `cd <folder> && node …` script: node runs in that folder. The runtime's working folder then is
 * that folder for everything that runs in the container, so refused when a HEALTHCHECK (wherever it
 * stands) or an instruction after `start` that depends on the working folder (a relative COPY,
 * WORKDIR or VOLUME) would see it move, or when the folder at `start` is not known.
 */
function inFolder(
  input: SplitInput,
  reading: NodeReading,
  start: Instr,
  cd: string | null,
  command: string,
): string {
  if (cd === null) return command;
  const { model, stage } = input;
  const at = reading.cwdAt.get(start);
  if (!at) refuse(`${quote(start)}'s script runs \`cd ${cd}\`, from a folder the file does not fix`, start);
  const moved = stage.instructions.find(
    (i) =>
      (i.keyword === "HEALTHCHECK" && !/^HEALTHCHECK\s+NONE\s*$/i.test(i.text)) ||
      (i.start > start.start && /^(?:COPY|ADD|WORKDIR|VOLUME|RUN|ONBUILD)$/.test(i.keyword)),
  );
  if (moved)
    refuse(
      `${quote(start)}'s script runs \`cd ${cd}\`: the runtime's WORKDIR would move for ${quote(moved)}, which depends on it`,
      moved,
    );
  return `${keyword(model, "WORKDIR")} ${resolvePath(at, cd)}${model.source.eol}${command}`;
}

/** A package script that is plainly `node <args>`: words without quotes, variables or operators. */
const PLAIN_NODE_SCRIPT = /^node(?:[ \t]+[\w./@=:,+-]+)+$/;

/** A package script that changes folder first: `cd site && node index.js` (a plain relative folder). */
const CD_NODE_SCRIPT =
  /^cd[ \t]+((?:(?!\.\.?[/ \t&])[\w.-]+\/)*(?!\.\.?[/ \t&])[\w.-]+)\/?[ \t]*&&[ \t]*(node(?:[ \t]+[\w./@=:,+-]+)+)$/;

/**
 * node's arguments for `argv` (`node …`, `npm start`, a node-shebang script), and the folder a
 * `cd <folder> && node …` script runs them in (relative to the start command's), or a refusal.
 */
function nodeArgs(
  input: SplitInput,
  pkg: Pkg,
  reading: NodeReading,
  argv: string[],
  moreArgs: boolean,
  at: Instr,
): { args: string[]; cd: string | null } {
  const name = basename(argv[0] ?? "");
  const rest = argv.slice(1);
  let args: string[] | null = null;
  let cd: string | null = null;
  if (/^(?:node|nodejs)$/.test(name)) args = rest;
  else if ((name === "npm" || name === "yarn") && !reading.berry && !moreArgs) {
    const script =
      rest.length === 1 && rest[0] === "start"
        ? "start"
        : rest.length === 2 && /^(?:run|run-script)$/.test(rest[0])
          ? rest[1]
          : null;
    if (!script) refuse(`\`${argv.join(" ")}\` is not a plain package script run`, at);
    const hook = [`pre${script}`, `post${script}`].find((h) => pkg.scripts[h] !== undefined);
    if (hook) refuse(`${name} ${script} runs the "${hook}" script too, which needs ${name}`, at);
    const body = pkg.scripts[script];
    // npm's start without a script is `node server.js`
    const cdThen = body === undefined ? null : CD_NODE_SCRIPT.exec(body.trim());
    if (body === undefined && script === "start" && name === "npm") args = ["server.js"];
    else if (body !== undefined && PLAIN_NODE_SCRIPT.test(body.trim()))
      args = body.trim().split(/\s+/).slice(1);
    else if (cdThen) {
      cd = cdThen[1];
      args = cdThen[2].split(/\s+/).slice(1);
    } else
      refuse(
        `the "${script}" script is not plainly \`node <file>\` (${body ?? "missing"}); ${name} is not in distroless`,
        at,
      );
  } else if (argv[0]?.includes("/") && NODE_SHEBANG.test(startFileTextOf(input, reading, argv[0]) ?? ""))
    args = argv;
  if (!args) refuse(`starts \`${argv.join(" ")}\`, not node: distroless runs only node`, at);
  if (!args.some((a) => !a.startsWith("-")) && !moreArgs)
    refuse(`\`${argv.join(" ")}\` names no file for node to run`, at);
  return { args, cd };
}
