import { noteReads, recordReads } from "../../src/engine/context-reads.ts";
import type { BuildContext } from "../../src/engine/types.ts";

/**
 * A cache of what depends only on the build context (and a key). A context
 * does not change during a run and the Dockerfiles of one folder share it, so
 * reading it through a memo does the work once per folder, not once per look
 * at each file. Entries go with the context (a WeakMap); past `maxKeys` keys
 * for one context (the empty context is shared by every file without a
 * folder) its entries are dropped and computed again. Each entry keeps the
 * context reads it came from and notes them at every hit, for the result
 * cache (src/engine/context-reads.ts). Every memo of context-derived values
 * must go through here.
 */
export function contextMemo<T>(maxKeys: number): (context: BuildContext, key: string, compute: () => T) => T {
  type Entry = { value: T; reads: ReadonlySet<string> };
  const byContext = new WeakMap<BuildContext, Map<string, Entry>>();
  return (context, key, compute) => {
    let known = byContext.get(context);
    if (!known) byContext.set(context, (known = new Map<string, Entry>()));
    const hit = known.get(key);
    if (hit) {
      noteReads(hit.reads);
      return hit.value;
    }
    if (known.size >= maxKeys) known.clear();
    const entry = recordReads(compute);
    known.set(key, entry);
    return entry.value;
  };
}
