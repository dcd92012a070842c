import { parseSource, type DockerfileModel } from "../src/engine/parse.ts";
import { shellOf, type ShellCommand, type ShellNode, type ShellScript } from "../src/engine/shell.ts";
import { decodeSource } from "../src/engine/source.ts";

/**
 * A small model of what a Dockerfile's RUNs do, for semantic tests: which
 * commands run, in which order, and whether the build fails, when a chosen
 * set of commands fails. It follows sh's rules for `&&`, `||`, `;`, `!`,
 * `( )`, `{ }`, pipelines (with pipefail from SHELL), `exit`, `set -e`/`+e`
 * (errexit is ignored left of `&&`/`||`, after `!` and inside anything run
 * there) and background jobs (their status is never seen). A command is
 * named by its first two words (`apt-get install`, `echo installed`).
 * Anything else (if, loops, case) throws: a test must not rely on a guess.
 */
export interface BuildRun {
  failed: boolean;
  trace: string[];
}

interface ShellOptions {
  errexit: boolean;
  pipefail: boolean;
}

class Exit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

/** Runs every shell-form RUN of the file in order, each in a fresh shell, stopping at the first that fails. */
export function simulateBuild(dockerfile: string, failing: ReadonlySet<string>): BuildRun {
  const model = parseSource(decodeSource(dockerfile));
  const trace: string[] = [];
  let shellOpts: ShellOptions = { errexit: false, pipefail: false };
  for (const instr of model.instructions) {
    if (instr.keyword === "FROM") shellOpts = { errexit: false, pipefail: false };
    if (instr.keyword === "SHELL") shellOpts = shellFlags(model, instr.text);
    if (instr.keyword !== "RUN") continue;
    const script = shellOf(instr, model.text, model.escapeChar);
    if (!script || script.hasErrors) throw new Error(`RUN at line ${instr.line} is not simulated`);
    const status = new Shell(script, failing, { ...shellOpts }, trace).run();
    if (status !== 0) return { failed: true, trace };
  }
  return { failed: false, trace };
}

/** Every command name (first two words) the file's RUNs hold. */
export function commandNames(dockerfile: string): string[] {
  const model = parseSource(decodeSource(dockerfile));
  const names = new Set<string>();
  for (const instr of model.instructions) {
    if (instr.keyword !== "RUN") continue;
    const script = shellOf(instr, model.text, model.escapeChar);
    for (const c of script?.commands ?? []) {
      const name = commandName(c);
      if (!["true", "false", "exit", "set"].includes(c.name?.value ?? "")) names.add(name);
    }
  }
  return [...names];
}

/**
 * Whether the rewrite fails exactly when the original does and, when both
 * build, ran the original's commands in the same order, for every choice of
 * failing commands. Commands only the rewrite runs (clean-ups dfopt adds) succeed and
 * are left out of its trace, and so are `movable` ones (a transform that moves
 * a command on purpose), whose failures still count. Returns the first
 * difference, or null.
 */
export function behaviourDifference(
  original: string,
  rewritten: string,
  movable: string[] = [],
): string | null {
  const names = commandNames(original);
  if (names.length > 10) throw new Error("too many commands to try every failure");
  const known = new Set(names.filter((n) => !movable.includes(n)));
  for (let mask = 0; mask < 1 << names.length; mask++) {
    const failing = new Set(names.filter((_, i) => mask & (1 << i)));
    const a = simulateBuild(original, failing);
    const b = simulateBuild(rewritten, failing);
    const aTrace = a.trace.filter((n) => known.has(n));
    const bTrace = b.trace.filter((n) => known.has(n));
    // A failed build leaves no image: which commands ran before it failed does not matter.
    if (a.failed !== b.failed || (!a.failed && aTrace.join("\n") !== bTrace.join("\n"))) {
      return (
        `with ${[...failing].join(", ") || "nothing"} failing: ` +
        `original ${a.failed ? "fails" : "builds"} running [${aTrace.join("; ")}], ` +
        `rewrite ${b.failed ? "fails" : "builds"} running [${bTrace.join("; ")}]`
      );
    }
  }
  return null;
}

function shellFlags(model: DockerfileModel, text: string): ShellOptions {
  const json = text.slice(text.indexOf("["));
  const argv = JSON.parse(json) as string[];
  const opts = argv.slice(1);
  void model;
  return {
    errexit: opts.some((a) => /^-[a-z]*e/.test(a)) || opts.includes("errexit"),
    pipefail: opts.includes("pipefail"),
  };
}

function commandName(c: ShellCommand): string {
  return c.words
    .slice(0, 2)
    .map((w) => w.value ?? w.raw)
    .join(" ");
}

class Shell {
  private readonly commands: Map<ShellNode, ShellCommand>;

  constructor(
    private readonly script: ShellScript,
    private readonly failing: ReadonlySet<string>,
    private opts: ShellOptions,
    private readonly trace: string[],
  ) {
    this.commands = new Map(script.commands.map((c) => [c.node, c]));
  }

  run(): number {
    try {
      return this.sequence(this.script.root.children, false);
    } catch (e) {
      if (e instanceof Exit) return e.status;
      throw e;
    }
  }

  /** Statements separated by `;` or `&` (program, subshell and group bodies). */
  private sequence(children: ShellNode[], tested: boolean): number {
    let status = 0;
    const items = children.filter((c) => c.type !== "comment" && !["(", ")", "{", "}"].includes(c.type));
    for (let i = 0; i < items.length; i++) {
      const node = items[i];
      if (!node.named) continue;
      if (items[i + 1]?.type === "&") {
        // a background job: it runs, but nobody waits for its status or its exit
        try {
          this.eval(node, true);
        } catch (e) {
          if (!(e instanceof Exit)) throw e;
        }
        status = 0;
        continue;
      }
      status = this.eval(node, tested);
    }
    return status;
  }

  private eval(node: ShellNode, tested: boolean): number {
    switch (node.type) {
      case "command":
        return this.command(node, tested);
      case "list": {
        const [left, op, right] = node.children.filter((c) => c.type !== "comment");
        const l = this.eval(left, true);
        if ((op.type === "&&" && l !== 0) || (op.type === "||" && l === 0)) return l;
        return this.eval(right, tested);
      }
      case "redirected_statement":
        return this.eval(
          node.children.find((c) => c.field === "body")!,
          tested,
        );
      case "negated_command": {
        const inner = node.children.find((c) => c.named)!;
        return this.eval(inner, true) === 0 ? 1 : 0;
      }
      case "pipeline": {
        const parts = node.children.filter((c) => c.named);
        const statuses = parts.map((p) => this.isolated(() => this.eval(p, true)));
        const status = this.opts.pipefail
          ? ([...statuses].reverse().find((s) => s !== 0) ?? 0)
          : statuses[statuses.length - 1];
        return this.errexit(status, tested);
      }
      case "subshell": {
        const status = this.isolated(() => this.sequence(node.children, tested));
        return this.errexit(status, tested);
      }
      case "compound_statement":
        return this.sequence(node.children, tested);
      case "variable_assignment":
      case "declaration_command":
      case "function_definition":
        return 0;
      default:
        throw new Error(`the simulator does not model ${node.type}: ${this.script.slice(node)}`);
    }
  }

  /** Runs `fn` in a subshell: options and exits stay inside. */
  private isolated(fn: () => number): number {
    const saved = { ...this.opts };
    try {
      return fn();
    } catch (e) {
      if (e instanceof Exit) return e.status;
      throw e;
    } finally {
      this.opts = saved;
    }
  }

  private errexit(status: number, tested: boolean): number {
    if (status !== 0 && this.opts.errexit && !tested) throw new Exit(status);
    return status;
  }

  private command(node: ShellNode, tested: boolean): number {
    const cmd = this.commands.get(node)!;
    const name = cmd.name?.value ?? null;
    if (name === null) return 0;
    if (name === "exit") throw new Exit(Number(cmd.args[0]?.value ?? 0));
    if (name === "set") {
      const args = cmd.args.map((a) => a.value ?? "");
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (/^-[a-z]*e/.test(a)) this.opts.errexit = true;
        if (/^\+[a-z]*e/.test(a)) this.opts.errexit = false;
        if ((a === "-o" || a === "+o") && args[i + 1] === "pipefail") this.opts.pipefail = a === "-o";
        if ((a === "-o" || a === "+o") && args[i + 1] === "errexit") this.opts.errexit = a === "-o";
      }
      return 0;
    }
    if (name === "true" || name === ":") return 0;
    if (name === "false") return this.errexit(1, tested);
    const id = commandName(cmd);
    this.trace.push(id);
    return this.errexit(this.failing.has(id) ? 1 : 0, tested);
  }
}
