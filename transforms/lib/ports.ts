import {
  argDeclarations,
  expandVariables,
  type DockerfileModel,
  type Instr,
  envPairs,
} from "../../src/engine/parse.ts";
import { startCommand } from "./start-command.ts";

/**
 * Ports below 1024 that the EXPOSE instructions among `instrs` name
 * (`80`, `443/tcp`, the start of `80-90`), in order: a non-root user may not bind them.
 */
export function privilegedPorts(instrs: readonly Instr[]): number[] {
  const out: number[] = [];
  for (const i of instrs) {
    if (i.keyword !== "EXPOSE") continue;
    for (const a of i.args) {
      const n = Number(/^(\d+)(?:[-/]|$)/.exec(a.value)?.[1] ?? NaN);
      if (n > 0 && n < 1024) out.push(n);
    }
  }
  return out;
}

/** A port below 1024 the image may listen on, and where the file names it (`ENV PORT=80`). */
export interface LowPort {
  port: number;
  where: string;
}

/**
 * Start-command options whose value is a port or `[host]:port`: `--port 80`, `-p 80`, `-b :80`,
 * `--bind 0.0.0.0:80`, `-addr :80`, `--listen-addr=:80`, `--server.port=80`, `-Dserver.port=80`.
 */
const PORT_OPTION = /^(?:--?(?:[\w.]*[.-])?(?:port|bind|listen|address|addr)|-[bp])$/i;
/** Variables whose value is a port or `[host]:port`: `PORT`, `HTTP_PORT`, `LISTEN_ADDR`, `SERVER_ADDRESS`. */
const PORT_VARIABLE = /(?:^|_)(?:PORT|ADDR|ADDRESS|LISTEN|BIND)$/i;

/** The port of `80`, `:80`, `0.0.0.0:80`, `[::]:80`, `http://+:80` when it is below 1024, else null. */
function belowPort(value: string | null): number | null {
  const m = /^(?:[a-z][\w+.-]*:\/\/)?(?:[\w.*+-]*:|\[[:\w.]*\]:)?(\d{1,5})\/?$/i.exec(value ?? "");
  const n = Number(m?.[1] ?? NaN);
  return n > 0 && n < 1024 ? n : null;
}

/**
 * Where the image may listen on a port below 1024, which a non-root user cannot bind: EXPOSE, an
 * ENV or ARG `PORT`/`*_PORT`/`*_ADDR` value (ENV values with the file's own ARG defaults and ENV
 * values expanded), or the start command (`--port 80`, `-addr :80`, `--server.port=80`,
 * `0.0.0.0:80`); null when none. The one decision every planner that changes the user makes: the
 * image then keeps running as root, as the original did.
 */
export function lowPort(model: DockerfileModel, instrs: readonly Instr[]): LowPort | null {
  const exposed = privilegedPorts(instrs);
  if (exposed.length) return { port: exposed[0], where: `EXPOSE ${exposed[0]}` };
  const vars = new Map<string, string | null>();
  for (const i of instrs) {
    if (i.keyword !== "ARG" && i.keyword !== "ENV") continue;
    const arg = i.keyword === "ARG";
    for (const [k, v] of arg ? argDeclarations(i) : envPairs(i)) {
      // an ARG without a default takes the global ARG's value
      const value =
        v !== null ? expandVariables(v, vars) : arg ? (model.globalArgValues.get(k) ?? null) : null;
      vars.set(k, value);
      const port = PORT_VARIABLE.test(k) ? belowPort(value) : null;
      if (port !== null) return { port, where: `${i.keyword} ${k}=${value}` };
    }
  }
  for (const argv of startCommand(model, { instructions: instrs }).commands)
    for (const [j, w] of argv.entries()) {
      if (w === null) continue;
      const eq = w.indexOf("=");
      const flag = eq === -1 ? w : w.slice(0, eq);
      if (PORT_OPTION.test(flag)) {
        const value = eq === -1 ? (argv[j + 1] ?? null) : w.slice(eq + 1);
        const port = belowPort(value);
        if (port !== null)
          return { port, where: `\`${eq === -1 ? `${flag} ${value}` : w}\` in the start command` };
      } else if (/:\d+$/.test(w)) {
        const port = belowPort(w);
        if (port !== null) return { port, where: `\`${w}\` in the start command` };
      }
    }
  return null;
}

/** Why a runtime stage keeps root: the message every planner gives for `lowPort`. */
export function lowPortNote(low: LowPort): string {
  return `runs as root like the original: ${low.where} is a port below 1024, which a non-root user could not bind`;
}
