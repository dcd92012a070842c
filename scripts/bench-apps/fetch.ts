/**
 * `tsx scripts/bench-apps/fetch.ts [names...]`: unpacks each app of bench/apps.tsv at its pinned
 * commit from the git directories the `fetch` tool brought ($DFOPT_MIRROR, default /work/.mirror),
 * into $DFOPT_BENCH_WORK/src/<name>. Apps without a mirror are skipped with a message; nothing is
 * downloaded here.
 */
import { loadApps, sourcesOf, unpack } from "./apps.ts";

const wanted = new Set(process.argv.slice(2));
let ready = 0;
let skipped = 0;
for (const app of loadApps()) {
  if (wanted.size && !wanted.has(app.name)) continue;
  const why = unpack(app);
  if (why) {
    skipped++;
    console.log(`skip ${app.name}: ${why}`);
  } else {
    ready++;
    console.log(`ready ${app.name}: ${sourcesOf(app)}`);
  }
}
console.log(`${ready} app(s) ready, ${skipped} skipped`);
