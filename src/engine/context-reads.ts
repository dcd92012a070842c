/**
 * Which answers of the build context a result rests on, for the result cache
 * (src/io/cache.ts). A context notes each read by a key (src/io/context.ts
 * says what its keys mean). A memo of context-derived values keeps the reads
 * its value came from and notes them again on every hit, so a file whose
 * answer came from a memo still records what that answer rests on.
 */
let recording: Set<string> | null = null;

export function noteRead(key: string): void {
  if (recording !== null) recording.add(key);
}

export function noteReads(keys: ReadonlySet<string>): void {
  if (recording !== null) for (const k of keys) recording.add(k);
}

/** Runs `fn` and returns its value with the reads it made; an enclosing recording gets them too. */
export function recordReads<T>(fn: () => T): { value: T; reads: ReadonlySet<string> } {
  const outer = recording;
  const reads = new Set<string>();
  recording = reads;
  try {
    return { value: fn(), reads };
  } finally {
    recording = outer;
    if (outer !== null) for (const k of reads) outer.add(k);
  }
}
