/** The runtime stage's user: keeping the original USER, or creating a non-root one. */
import type { DockerfileModel, Instr, Stage } from "../../../src/engine/parse.ts";
import type { TransformOptions } from "../../../src/engine/types.ts";
import { keyword } from "../../../src/engine/style.ts";
import { lowPort, lowPortNote } from "../../lib/ports.ts";
import { originalUser } from "./instructions.ts";
import { refuse } from "./refuse.ts";
import type { ShellCommand } from "../../../src/engine/shell.ts";
import { hasControlFlow, rootDaemon, shellCommands } from "./shell.ts";
import { type StartCommand } from "../../lib/start-command.ts";

/**
 * Whether the runtime stage switches to a non-root user: not when the original
 * sets USER itself (`originalUser` is kept), nor when it names a port below
 * 1024 (`lowPort`), which a non-root user could not bind (the runtime stage
 * then runs as root, as the original did; `note` says why), nor with the
 * option `runtimeUser: "original"` (a --verify rung, for an app whose output
 * shows its user, e.g. HOME). Refuses when the app starts a daemon that expects root.
 */
export function checkRuntimeUser(
  model: DockerfileModel,
  stage: Stage,
  start: StartCommand,
  options: TransformOptions,
): { addUser: boolean; note: string | null } {
  if (originalUser(stage) !== null) return { addUser: false, note: null };
  if (options.perTransform["split-stages"]?.runtimeUser === "original")
    return { addUser: false, note: "runs as root like the original (runtimeUser: original)" };
  const daemon = rootDaemon(start);
  if (daemon)
    refuse(
      `starts ${daemon}, which expects to run as root; a non-root runtime user would break it`,
      start.entrypoint ?? start.cmd,
    );
  const low = lowPort(model, stage.instructions);
  if (low) return { addUser: false, note: lowPortNote(low) };
  return { addUser: true, note: null };
}

/**
 * A build RUN as the Node and Python planners read it: "user creation" when it only creates users
 * (the runtime stage repeats it), else its commands. Refuses a heredoc, shell control flow and
 * shell it cannot parse.
 */
export function buildRunCommands(model: DockerfileModel, instr: Instr): ShellCommand[] | "user creation" {
  if (instr.hasHeredoc) refuse(`RUN heredoc at line ${instr.line} is not analysed`, instr);
  if (isUserCreation(model, instr)) return "user creation";
  if (hasControlFlow(model, instr))
    refuse(`RUN at line ${instr.line} has shell control flow the transform does not analyse`, instr);
  return shellCommands(model, instr) ?? refuse(`cannot parse the shell of RUN at line ${instr.line}`, instr);
}

/** True when a RUN only creates users/groups (useradd, adduser, groupadd, addgroup). */
function isUserCreation(model: DockerfileModel, instr: Instr): boolean {
  const cmds = shellCommands(model, instr);
  return (
    !!cmds &&
    cmds.length > 0 &&
    cmds.every((c) =>
      /^(?:useradd|adduser|groupadd|addgroup)$/.test((c.name?.value ?? "").split("/").pop() ?? ""),
    )
  );
}

/**
 * Lines that create an unprivileged `app` user on a Debian-like (`apt`) or
 * Alpine (`apk`) runtime base, followed later by `USER app`.
 */
export function createUserLines(
  model: DockerfileModel,
  family: "debian" | "alpine",
  name = "app",
  uid = 10001,
): string[] {
  const run = keyword(model, "RUN");
  if (family === "alpine")
    return [
      `${run} addgroup -S -g ${uid} ${name} && adduser -S -D -u ${uid} -G ${name} -h /home/${name} ${name}`,
    ];
  return [
    `${run} groupadd --system --gid ${uid} ${name} && useradd --system --uid ${uid} --gid ${name} --create-home ${name}`,
  ];
}

/** `USER <name>` in the file's case. */
export function userLine(model: DockerfileModel, user: string): string {
  return `${keyword(model, "USER")} ${user}`;
}

export type UserStyle = "debian" | "alpine" | "none";

/** Lines that create and switch to an `app` user (the same user the other planners create). */
export function appUserLines(model: DockerfileModel, style: UserStyle): string[] {
  if (style === "none") return [];
  return [...createUserLines(model, style), userLine(model, "app")];
}

/** The runtime USER the original sets: numeric or well-known names only. */
export function checkOriginalUser(user: Instr | null, known: string[]): void {
  if (!user) return;
  const name = (user.args[0]?.value ?? "").split(":")[0];
  if (/^\d+$/.test(name) || known.includes(name) || /^\$\{?APP_UID\}?$/.test(name)) return;
  refuse(`USER ${name} is created in the build image; the runtime image does not have it`, user.line);
}
