// @ts-check
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", ".tmp/**", "fixtures/**", "examples/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `x as never` silences the type checker instead of stating a type
      "no-restricted-syntax": [
        "error",
        { selector: "TSAsExpression > TSNeverKeyword", message: "say the real type instead of `as never`" },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // transforms are pure: they see the build context through BuildContext, never the file system
    files: ["transforms/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            "fs",
            "node:fs",
            "fs/promises",
            "node:fs/promises",
            "child_process",
            "node:child_process",
          ].map((name) => ({ name, message: "transforms never touch the file system or run programs" })),
          patterns: [
            { group: ["**/src/io/**"], message: "transforms may not import the I/O layer" },
            {
              group: ["**/src/engine/shell.ts"],
              importNames: ["ShellNode", "visit"],
              message:
                "transforms read the shell through shellTree (src/engine/shell-tree.ts), not tree-sitter's nodes",
            },
          ],
        },
      ],
    },
  },
  {
    // tests read the CLI's JSON output, whose shape the assertions themselves check
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], ...tseslint.configs.disableTypeChecked },
  // plain JS build scripts and the fake builder run under Node
  { files: ["**/*.mjs"], languageOptions: { globals: globals.node } },
  {
    files: ["bin/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", __dirname: "readonly", process: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
