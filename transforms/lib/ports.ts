import type { Instr } from "../../src/engine/parse.ts";

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
