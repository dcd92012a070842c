/**
 * Builds transforms/split-stages/toolkit/dev-libraries.ts (run by scripts/dev-libraries.sh):
 *
 *   npx tsx scripts/dev-libraries-table.ts names            # the -dev packages to look up
 *   npx tsx scripts/dev-libraries-table.ts table META_DIR   # the table, from META_DIR/<release>.txt
 *
 * The packages covered are the `-dev` packages real Dockerfiles install at least MIN_USES times
 * (../shared/corpus). META_DIR/<release>.txt holds `apt-cache show` stanzas of those packages and
 * of what they depend on, per Debian release. A `-dev` package's runtime libraries are read from
 * Debian's shared-library convention: the library packages it depends on at exactly its own
 * version (`libpq5 (= 15.8-0+deb12u1)`) and built from the same source package, through the
 * same-source `-dev` packages it depends on, and through the one `-dev` package a transitional,
 * dummy, metapackage or `*-defaults` package (`default-libmysqlclient-dev`) stands for. A `-dev`
 * package without such a dependency, and depending on no other `-dev` package, ships no shared
 * library (headers, static archives, tools): nothing at run time. A
 * package missing from a release, or one that depends on its own library by anything but the
 * exact version, is left out: the planners refuse it.
 */
import fs from "node:fs";
import path from "node:path";
import { corpusAptPackages } from "./corpus-packages.ts";

const RELEASES = ["bullseye", "bookworm", "trixie"] as const;
const MIN_USES = 5;
/** Same-source packages that are tools or data, not the shared library. */
const NOT_A_LIBRARY = /-(?:bin|tools|utils|common|data|doc|dbg|headers|perl)$/;

interface Stanza {
  source: string;
  version: string;
  depends: string[][];
  /** Transitional, dummy or metapackage: it stands for the packages it depends on. */
  standIn: boolean;
}

type Parsed = { name: string; exact: boolean };

function readStanzas(file: string): Map<string, Stanza> {
  const out = new Map<string, Stanza>();
  for (const text of fs.readFileSync(file, "utf8").split(/\n\n+/)) {
    const field = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(text)?.[1];
    const pkg = field("Package");
    if (!pkg || out.has(pkg)) continue;
    const version = field("Version") ?? "";
    const deps = [field("Pre-Depends"), field("Depends")]
      .filter((f): f is string => !!f)
      .flatMap((f) => f.split(","))
      .map((group) => group.split("|").map((alt) => alt.trim()));
    out.set(pkg, {
      source: (field("Source") ?? pkg).replace(/\s*\(.*\)$/, ""),
      version,
      depends: deps,
      standIn:
        /transitional|dummy|metapackage|default version/i.test(field("Description") ?? "") ||
        field("Section") === "metapackages" ||
        /-defaults$/.test(field("Source") ?? ""),
    });
  }
  return out;
}

function parseDep(alt: string, version: string): Parsed {
  const m = /^([^\s(:]+)(?::\w+)?\s*(?:\(\s*(=|>=|<=|>>|<<)\s*([^)]+)\))?$/.exec(alt);
  const name = m?.[1] ?? alt;
  return { name, exact: m?.[2] === "=" && m[3].trim() === version };
}

/** The runtime libraries of `dev` in one release; undefined when not certain. */
function librariesOf(pkgs: Map<string, Stanza>, dev: string, seen = new Set<string>()): string[] | undefined {
  const s = pkgs.get(dev);
  if (!s || seen.has(dev)) return undefined;
  seen.add(dev);
  const libs = new Set<string>();
  const standsFor: string[] = [];
  let otherDev = false;
  for (const group of s.depends) {
    if (group.length !== 1) continue; // alternatives: apt's choice, not the library's
    const d = parseDep(group[0], s.version);
    const dep = pkgs.get(d.name);
    if (!dep) continue;
    const sameSource = dep.source === s.source;
    if (/-dev(?:$|-)/.test(d.name)) {
      if (sameSource || s.standIn) standsFor.push(d.name);
      else otherDev = true;
      continue;
    }
    if (!sameSource || NOT_A_LIBRARY.test(d.name)) continue;
    if (!d.exact) return undefined; // its own library at another version: not the convention
    libs.add(d.name);
  }
  // Nothing of its own, but it builds on other -dev packages: their libraries may be what it links.
  if (libs.size === 0 && standsFor.length === 0 && (s.standIn || otherDev)) return undefined;
  for (const sub of standsFor) {
    const more = librariesOf(pkgs, sub, seen);
    if (more === undefined) return undefined;
    for (const l of more) libs.add(l);
  }
  return [...libs].sort();
}

const [mode, metaDir] = process.argv.slice(2);
const counts = await corpusAptPackages();
const names = [...counts.entries()]
  .filter(([n, c]) => n.endsWith("-dev") && c >= MIN_USES)
  .map(([n]) => n)
  .sort();
if (mode === "names") {
  process.stdout.write(names.join("\n") + "\n");
} else if (mode === "table" && metaDir) {
  const perRelease = RELEASES.map((r) => readStanzas(path.join(metaDir, `${r}.txt`)));
  const same: string[] = [];
  const differ: string[] = [];
  for (const dev of names) {
    const libs = perRelease.map((pkgs) => librariesOf(pkgs, dev)?.join(" "));
    if (libs.every((l) => l === undefined)) continue;
    const line = (v: unknown) => `  ${JSON.stringify(dev)}: ${JSON.stringify(v)},`;
    if (libs.every((l) => l === libs[0])) same.push(line(libs[0]));
    else differ.push(line(libs.map((l) => l ?? null)));
  }
  const date = new Date().toISOString().slice(0, 10);
  process.stdout
    .write(`// Generated by scripts/dev-libraries.sh from Debian's package metadata; do not edit by hand.

export const DEV_LIBRARIES_SOURCE =
  "Debian 11 bullseye, 12 bookworm and 13 trixie package metadata (main, amd64), read ${date}";

/** The Debian releases the table covers, in the order of \`PER_RELEASE\`'s entries. */
export const DEV_LIBRARY_RELEASES = ${JSON.stringify(RELEASES)} as const;

/**
 * \`-dev\` package → the runtime library packages it builds against (space-separated; "" when it
 * ships no shared library), the same in every covered release. Read from each package's exact-version
 * same-source dependencies (scripts/dev-libraries-table.ts); covers the ${names.length} \`-dev\`
 * packages real Dockerfiles install at least ${MIN_USES} times, those it could read with certainty.
 */
export const SAME_IN_EVERY_RELEASE: Readonly<Record<string, string>> = {
${same.join("\n")}
};

/** The same, for packages whose libraries differ between releases; null where not certain. */
export const PER_RELEASE: Readonly<Record<string, readonly (string | null)[]>> = {
${differ.join("\n")}
};
`);
} else {
  process.stderr.write("usage: dev-libraries-table.ts names | table META_DIR\n");
  process.exit(2);
}
