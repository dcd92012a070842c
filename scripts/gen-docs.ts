// Generates docs/transforms.md and the transforms table in README.md from the
// transforms' own metadata and fixtures. `--check` exits 1 when they are stale.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderReadmeExample, renderReadmeTable, renderTransformsDoc } from "../src/docs.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const readmePath = path.join(root, "README.md");
const docPath = path.join(root, "docs/transforms.md");

const START = "<!-- transforms:start -->";
const END = "<!-- transforms:end -->";
const readme = fs.readFileSync(readmePath, "utf8");
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a === -1 || b === -1) throw new Error("README.md lacks the transforms markers");
let newReadme = readme.slice(0, a + START.length) + "\n" + renderReadmeTable() + "\n" + readme.slice(b);
const EX_START = "<!-- example:start -->";
const EX_END = "<!-- example:end -->";
const c = newReadme.indexOf(EX_START);
const d = newReadme.indexOf(EX_END);
if (c === -1 || d === -1) throw new Error("README.md lacks the example markers");
const example = await renderReadmeExample(path.join(root, "examples/node-api"));
newReadme = newReadme.slice(0, c + EX_START.length) + "\n" + example + "\n" + newReadme.slice(d);
const newDoc = await renderTransformsDoc(path.join(root, "fixtures"));

const stale: string[] = [];
for (const [file, content] of [
  [readmePath, newReadme],
  [docPath, newDoc],
] as const) {
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (current === content) continue;
  if (check) stale.push(path.relative(root, file));
  else fs.writeFileSync(file, content);
}
if (stale.length > 0) {
  console.error(`stale generated docs: ${stale.join(", ")} (run: npx tsx scripts/gen-docs.ts)`);
  process.exit(1);
}
