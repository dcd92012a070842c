/**
 * Parsers loaded on first use. Most files need neither tree-sitter nor
 * dockerfile-ast, and a one-file run should not pay for loading them, so the
 * code that needs one throws a `NotLoadedYet`; `withLazyModules` loads what
 * is missing and runs the work again from the start (it is pure until it
 * writes, and nothing is written before the whole file is processed).
 */
export abstract class NotLoadedYet extends Error {
  abstract load(): Promise<void>;
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
