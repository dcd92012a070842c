#!/usr/bin/env node
// The bundled CLI (dist/, built by `npm run build`, which `npm ci` runs via
// "prepare"); from a source checkout without a build, run the TypeScript
// through tsx. CommonJS, so that a one-file run does not start Node's ESM
// loader (~15 ms).
"use strict";
const { existsSync } = require("node:fs");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const launcher = path.join(__dirname, "../dist/cli.cjs");
if (existsSync(launcher)) {
  require(launcher);
} else {
  import("tsx/esm/api")
    .then(({ register }) => {
      register();
      return import(pathToFileURL(path.join(__dirname, "../src/cli/index.ts")).href);
    })
    .catch((e) => {
      process.stderr.write(`dfopt: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 2;
    });
}
