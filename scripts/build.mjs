// Bundles the CLI into dist/ and copies the tree-sitter .wasm files beside
// it, where src/engine/shell.ts looks first:
//   dist/dfopt.cjs  the CLI as one CommonJS file (run through V8's code cache),
//   dist/cli.cjs    its launcher (src/cli/launch.ts), run by bin/dfopt.cjs,
//   dist/worker.js  the worker-thread entry src/io/pool.ts starts.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const common = { bundle: true, platform: "node", target: "node20", sourcemap: false, logLevel: "warning" };
rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");

// commander loads node:child_process (~5 ms of a one-file run) for
// executable subcommands, which dfopt has none of: load it on first use.
const lazyChildProcessInCommander = {
  name: "lazy-child-process-in-commander",
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const code = readFileSync(args.path, "utf8");
      const eager = "const childProcess = require('node:child_process');";
      const uses = code.match(/childProcess\.\w+/g) ?? [];
      if (!code.includes(eager) || uses.some((u) => u !== "childProcess.spawn"))
        throw new Error(`build: ${args.path} no longer loads child_process as expected; update the patch`);
      const lazy =
        "let childProcessModule; const childProcess = { spawn: (...a) => (childProcessModule ??= require('node:child_process')).spawn(...a) };";
      return { contents: code.replace(eager, lazy), loader: "js" };
    });
  },
};

await build({
  ...common,
  entryPoints: ["src/cli/index.ts"],
  outfile: "dist/dfopt.cjs",
  format: "cjs",
  plugins: [lazyChildProcessInCommander],
  define: { "import.meta.url": "__dfoptModuleUrl" },
  banner: {
    js: "const __dfoptModuleUrl = require('node:url').pathToFileURL(__filename).href; const __dfoptRequire = require;",
  },
});
// web-tree-sitter loads Node built-ins with import(); a script run from V8's
// code cache (vm.Script) has no loader for that on Node 20.
const cjs = readFileSync("dist/dfopt.cjs", "utf8");
const patched = asciiOnly(
  cjs.replace(
    /\bimport\((["'])((?:node:)?(?:module|fs\/promises|fs|path|url))\1\)/g,
    'Promise.resolve(__dfoptRequire("$2"))',
  ),
);
if (/\bimport\(["']/.test(patched))
  throw new Error("dist/dfopt.cjs still has a dynamic import() of a string");
writeFileSync("dist/dfopt.cjs", patched);

await build({
  ...common,
  entryPoints: ["src/cli/launch.ts"],
  outfile: "dist/cli.cjs",
  format: "cjs",
  define: { __DFOPT_BUNDLE_SHA1__: JSON.stringify(createHash("sha1").update(patched).digest("hex")) },
});
await build({
  ...common,
  entryPoints: ["src/io/worker.ts"],
  outfile: "dist/worker.js",
  format: "esm",
  banner: {
    // Bundled CommonJS dependencies (dockerfile-ast, commander) call require().
    js: "import { createRequire as __dfoptCreateRequire } from 'node:module'; const require = __dfoptCreateRequire(import.meta.url);",
  },
});
writeFileSync("dist/worker.js", asciiOnly(readFileSync("dist/worker.js", "utf8")));
copyFileSync(require.resolve("web-tree-sitter/web-tree-sitter.wasm"), "dist/web-tree-sitter.wasm");
copyFileSync(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"), "dist/tree-sitter-bash.wasm");

/**
 * esbuild escapes non-ASCII characters in strings and identifiers but keeps
 * them in the comments it preserves. One such character makes Node decode the
 * whole ~1 MB bundle into a two-byte string at every start (~20 million
 * instructions, a fifth of a one-file run's own cost). A \uXXXX escape of
 * each UTF-16 unit reads the same in a comment, and in a string or a regular
 * expression too, should one ever hold such a character.
 */
function asciiOnly(code) {
  return code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
