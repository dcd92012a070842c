#!/usr/bin/env node
// The bundled CLI (dist/, built by `npm run build`, which `npm ci` runs via
// "prepare"); from a source checkout without a build, run the TypeScript
// through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const bundle = fileURLToPath(new URL("../dist/dfopt.js", import.meta.url));
if (existsSync(bundle)) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("../src/cli/index.ts", import.meta.url).href);
}
