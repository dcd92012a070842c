/**
 * One way to do each thing: a name is exported (defined) by one module of
 * src/ and transforms/ only. Re-exports (`export { x } from`) are not definitions.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

const DECLARATION =
  /^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|const|let|var|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/gm;
/** `export { a, b as c };` without `from`: local names exported under their (new) names. */
const EXPORT_LIST = /^export\s+(?:type\s+)?\{([^}]*)\}\s*;/gm;
const IMPORT_LIST = /^import\s+(?:type\s+)?\{([^}]*)\}\s*from/gm;

/** The local names of `import { a, b as c }` lists: exporting one of them again is a re-export. */
function importedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(IMPORT_LIST))
    for (const part of m[1].split(",")) {
      const name = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()!
        .trim();
      if (name) names.add(name);
    }
  return names;
}

/** The names a module defines and exports. */
export function exportedNames(text: string): string[] {
  const names = [...text.matchAll(DECLARATION)].map((m) => m[1]);
  const imported = importedNames(text);
  for (const m of text.matchAll(EXPORT_LIST)) {
    for (const part of m[1].split(",")) {
      const [local, exported = local] = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .map((s) => s.trim());
      if (local && !imported.has(local)) names.push(exported);
    }
  }
  return names;
}

/** Each exported name defined in more than one file, with those files. */
function definedTwice(files: string[]): Map<string, string[]> {
  const where = new Map<string, string[]>();
  for (const f of files) {
    for (const name of new Set(exportedNames(fs.readFileSync(f, "utf8")))) {
      where.set(name, [...(where.get(name) ?? []), path.relative(ROOT, f)]);
    }
  }
  return new Map([...where].filter(([, fs]) => fs.length > 1));
}

describe("exported names", () => {
  test("the scanner sees declarations, export lists and renames, not re-exports", () => {
    const text = [
      "export function a() {}",
      "export const b = 1;",
      "export type C = string;",
      "export interface D {}",
      "export class E {}",
      "const f = 1, g = 2;",
      "export { f, g as h };",
      'export { z } from "./z.ts";',
      'import { y } from "./y.ts";',
      "export { y };",
    ].join("\n");
    expect(exportedNames(text).sort()).toEqual(["C", "D", "E", "a", "b", "f", "h"]);
  });

  test("no name is exported by two modules of src/ and transforms/", () => {
    const files = [...sourceFiles(path.join(ROOT, "src")), ...sourceFiles(path.join(ROOT, "transforms"))];
    expect(files.length).toBeGreaterThan(50);
    expect(Object.fromEntries(definedTwice(files))).toEqual({});
  });
});
