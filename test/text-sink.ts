import { Writable } from "node:stream";

/** CLI output in tests: the summary's timings differ between two runs of the same files. */
export const withoutTimings = (text: string) => text.replace(/"seconds":[\d.]+,"filesPerSecond":\d+/, "");

/** A writable stream that keeps what is written, for the CLI's stdout and stderr in tests. */
export function textSink(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}
