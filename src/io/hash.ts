import { builtin } from "../engine/lazy.ts";

type Crypto = typeof import("node:crypto");

/** sha1 of a text (node:crypto is loaded on first use: only --cache needs it). */
export function sha1(text: string, encoding: "hex" | "base64" = "hex"): string {
  return builtin<Crypto>("node:crypto").createHash("sha1").update(text).digest(encoding);
}
