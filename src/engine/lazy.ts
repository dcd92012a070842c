import { createRequire } from "node:module";

/**
 * Modules loaded on first use. Most files need neither tree-sitter nor
 * dockerfile-ast, and a one-file run should not pay for loading them (nor
 * for Node built-ins only bulk runs or `verify` use, see `builtin`), so the
 * code that needs one throws a `NotLoadedYet`; `withLazyModules` loads what
 * is missing and runs the work again from the start (it is pure until it
 * writes, and nothing is written before the whole file is processed).
 */
export class NotLoadedYet extends Error {
  /** `load` makes the missing module available; the work is then run again. */
  constructor(
    message: string,
    readonly load: () => Promise<void>,
  ) {
    super(message);
  }
}

const requireHere = createRequire(import.meta.url);

/** A Node built-in, loaded on first call rather than at start-up (each costs a one-file run 1-5 ms). */
export function builtin<T>(name: `node:${string}`): T {
  return requireHere(name) as T;
}

/** Runs `fn`, loading what it turns out to need and running it again (at most once per lazy module). */
export async function withLazyModules<T>(fn: () => T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof NotLoadedYet) || attempt >= 3) throw e;
      await e.load();
    }
  }
}
