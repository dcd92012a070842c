// Bundles the CLI into dist/ (one file per entry) and copies the tree-sitter
// .wasm files beside it, where src/engine/shell.ts looks first.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  // worker: the worker-thread entry src/io/pool.ts starts beside the bundle (dist/worker.js).
  entryPoints: { dfopt: "src/cli/index.ts", worker: "src/io/worker.ts" },
  outdir: "dist",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  splitting: false,
  sourcemap: false,
  logLevel: "warning",
  banner: {
    // Bundled CommonJS dependencies (dockerfile-ast, commander) call require().
    js: "import { createRequire as __dfoptCreateRequire } from 'node:module'; const require = __dfoptCreateRequire(import.meta.url);",
  },
});
copyFileSync(require.resolve("web-tree-sitter/web-tree-sitter.wasm"), "dist/web-tree-sitter.wasm");
copyFileSync(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"), "dist/tree-sitter-bash.wasm");
