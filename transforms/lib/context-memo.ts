import type { BuildContext } from "../../src/engine/types.ts";

/**
 * A cache of what depends only on the build context (and a key). A context
 * does not change during a run and the Dockerfiles of one folder share it, so
 * reading it through a memo does the work once per folder, not once per look
 * at each file. Entries go with the context (a WeakMap); past `maxKeys` keys
 * for one context (the empty context is shared by every file without a
 * folder) its entries are dropped and computed again.
 */
export function contextMemo<T>(maxKeys: number): (context: BuildContext, key: string, compute: () => T) => T {
  const byContext = new WeakMap<BuildContext, Map<string, T>>();
  return (context, key, compute) => {
    let known = byContext.get(context);
    if (!known) byContext.set(context, (known = new Map()));
    if (known.has(key)) return known.get(key)!;
    if (known.size >= maxKeys) known.clear();
    const value = compute();
    known.set(key, value);
    return value;
  };
}
