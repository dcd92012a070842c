import fs from "node:fs";
import path from "node:path";
import { loadParsers, optimizeFile } from "/work/wt/apps/src/engine/engine.ts";
import { DEFAULT_OPTIONS } from "/work/wt/apps/src/engine/types.ts";
import { folderContext } from "/work/wt/apps/src/io/context.ts";
import { TRANSFORMS } from "/work/wt/apps/transforms/index.ts";
await loadParsers();
for (const dir of process.argv.slice(2)) {
  const spec = JSON.parse(fs.readFileSync(path.join(dir, "case.json"), "utf8"));
  const r = optimizeFile(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8"), folderContext(path.join(dir, "context")), {
    transforms: TRANSFORMS.filter((t) => spec.transforms.includes(t.id)),
    options: { ...DEFAULT_OPTIONS, ...spec.options },
  });
  fs.writeFileSync(path.join(dir, "expected.Dockerfile"), r.output);
}
