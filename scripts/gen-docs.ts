// Generates docs/transforms.md and the transforms table in README.md from the
// transforms' own metadata and fixtures. `--check` exits 1 when they are stale.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  renderReadmeExample,
  renderReadmeTable,
  renderSafetyTable,
  renderTransformsDoc,
} from "../src/docs.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const readmePath = path.join(root, "README.md");
const docPath = path.join(root, "docs/transforms.md");

/** `text` with what lies between `<!-- name:start -->` and `<!-- name:end -->` replaced by `body`. */
function between(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(`<!-- ${name}:end -->`);
  if (a === -1 || b === -1) throw new Error(`README.md lacks the ${name} markers`);
  return text.slice(0, a + start.length) + "\n" + body + "\n" + text.slice(b);
}

let newReadme = fs.readFileSync(readmePath, "utf8");
newReadme = between(newReadme, "transforms", renderReadmeTable());
newReadme = between(newReadme, "safety", renderSafetyTable());
newReadme = between(newReadme, "example", await renderReadmeExample(path.join(root, "examples/node-api")));
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
