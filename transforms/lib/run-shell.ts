import type { DockerfileModel, Instr, Stage } from "../../src/engine/parse.ts";
import { shortImageName } from "../../src/engine/image-ref.ts";
import { isWindowsImage } from "../instr/util.ts";

/** The shell a RUN's shell form runs in, as far as the Dockerfile tells. */
export interface ShellInfo {
  posix: boolean;
  /** Why the shell is not POSIX, or where errexit comes from. */
  note: string;
  errexit: boolean;
}

const POSIX_SHELL = /^(sh|bash|dash|ash|ksh|mksh|zsh|busybox)$/;
const DEFAULT_SHELL: ShellInfo = { posix: true, note: "", errexit: false };

interface Shells {
  /** The shell in effect at each instruction of a stage (the SHELLs before it decide). */
  before: Map<Instr, ShellInfo>;
  /** The shell in effect after a stage's last instruction, by stage index (what a child stage inherits). */
  after: Map<number, ShellInfo>;
}

/** Per model, read in one pass over its stages (a RUN asked about alone costs no walk back through its stage). */
const shellsOfModel = new WeakMap<DockerfileModel, Shells>();

function shellsOf(model: DockerfileModel): Shells {
  let shells = shellsOfModel.get(model);
  if (shells) return shells;
  shells = { before: new Map(), after: new Map() };
  for (const stage of model.stages) {
    let current = inherited(model, stage, shells);
    for (const instr of stage.instructions) {
      shells.before.set(instr, current);
      if (instr.keyword === "SHELL") current = declared(model, instr);
    }
    shells.after.set(stage.index, current);
  }
  shellsOfModel.set(model, shells);
  return shells;
}

/** What a SHELL instruction sets. */
function declared(model: DockerfileModel, instr: Instr): ShellInfo {
  let argv: unknown;
  try {
    argv = instr.argsSpan ? JSON.parse(model.text.slice(instr.argsSpan.start, instr.argsSpan.end)) : null;
  } catch {
    argv = null;
  }
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
    return { posix: false, note: `SHELL at line ${instr.line} cannot be read`, errexit: false };
  }
  const exe = argv[0].split(/[\\/]/).pop()!.toLowerCase();
  if (!POSIX_SHELL.test(exe)) {
    return { posix: false, note: `SHELL at line ${instr.line} uses ${exe}`, errexit: false };
  }
  const opts = argv.slice(1);
  const errexit = opts.some(
    (a, k) => (/^-[A-Za-z]*e/.test(a) && !a.startsWith("--")) || (a === "-o" && opts[k + 1] === "errexit"),
  );
  return { posix: true, note: `SHELL at line ${instr.line} has -e`, errexit };
}

/** A stage's shell before its own SHELLs: its parent stage's, else its base image's default. */
function inherited(model: DockerfileModel, stage: Stage, shells: Shells): ShellInfo {
  const image = stage.image;
  if (!image) return DEFAULT_SHELL;
  const parent = model.stages.find(
    (s) => s.index < stage.index && s.name !== null && s.name.toLowerCase() === image.expanded.toLowerCase(),
  );
  if (parent) return shells.after.get(parent.index) ?? DEFAULT_SHELL;
  // A Windows image runs RUN with cmd, or with the PowerShell its own image config sets as SHELL
  // (microsoft/aspnet, microsoft/iis): neither reads a script as sh does.
  if (isWindowsImage(shortImageName(image.name), image.tag?.toLowerCase() ?? null)) {
    return {
      posix: false,
      note: `the base image ${image.raw} is a Windows image (cmd or PowerShell)`,
      errexit: false,
    };
  }
  return DEFAULT_SHELL;
}

/** The shell RUN instructions at `index` of `stage` run with (`index` past the end: after the stage). */
export function effectiveShell(model: DockerfileModel, stage: Stage, index: number): ShellInfo {
  const shells = shellsOf(model);
  const instr = stage.instructions[index];
  return (instr ? shells.before.get(instr) : shells.after.get(stage.index)) ?? DEFAULT_SHELL;
}

/** The shell `instr` (a RUN of `model`) runs with. */
export function shellOfRun(model: DockerfileModel, instr: Instr): ShellInfo {
  return shellsOf(model).before.get(instr) ?? DEFAULT_SHELL;
}
