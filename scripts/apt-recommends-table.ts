/**
 * npx tsx scripts/apt-recommends-table.ts RELEASE=PACKAGES[,PACKAGES...] ... > transforms/pkg/apt-recommends.ts
 * (run by scripts/apt-recommends.sh with the Packages indexes of each Debian release: main,
 * -updates and -security, the first file's stanza winning for a package).
 *
 * The packages covered are those real Dockerfiles install (every apt-get/apt install operand in
 * ../shared/corpus) that the release has; for each: which packages of the KEEP list
 * `apt-get install` adds only because of Recommends — reached through Depends/Pre-Depends and
 * Recommends (recursively, as apt installs the recommends of what it installs) but not through
 * Depends/Pre-Depends alone — and whether Recommends bring anything else at all ("exact": the
 * flag plus the kept packages installs the same packages). The image is taken to hold only the
 * release's minimal base (Priority: required, Essential and apt with their dependencies, what
 * debootstrap's minbase and the debian:*-slim images install): a larger image has more of the
 * closure already, so it can only drop less.
 */
import fs from "node:fs";
import { KEEP } from "../transforms/pkg/apt-get-no-install-recommends.ts";
import { corpusAptPackages } from "./corpus-packages.ts";

/** `a (>= 1) | b, c:any` → [["a", "b"], ["c"]]: the alternatives of each dependency. */
const alternatives = (field: string | undefined) =>
  (field ?? "")
    .split(",")
    .map((d) =>
      d
        .split("|")
        .map((a) =>
          a
            .trim()
            .replace(/\s*\(.*\)$/, "")
            .replace(/:\w+$/, ""),
        )
        .filter(Boolean),
    )
    .filter((alts) => alts.length > 0);

interface ReleaseTable {
  /** Kept recommends (space-separated, "" for none) → the packages that bring exactly those. */
  groups: Record<string, string[]>;
  /** Packages whose Recommends bring nothing beyond the kept ones. */
  exact: string[];
}

function releaseTable(files: string[], scope: Set<string>): ReleaseTable {
  const depends = new Map<string, string[][]>();
  const recommends = new Map<string, string[][]>();
  const providers = new Map<string, string>();
  const base: string[] = ["apt"];
  for (const file of files) {
    for (const stanza of fs.readFileSync(file, "utf8").split(/\n\n+/)) {
      const field = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(stanza)?.[1];
      const pkg = field("Package");
      if (!pkg || depends.has(pkg)) continue;
      depends.set(pkg, [...alternatives(field("Pre-Depends")), ...alternatives(field("Depends"))]);
      recommends.set(pkg, alternatives(field("Recommends")));
      for (const [v] of alternatives(field("Provides"))) if (!providers.has(v)) providers.set(v, pkg);
      if (field("Priority") === "required" || field("Essential") === "yes") base.push(pkg);
    }
  }
  const real = (p: string) => (depends.has(p) ? p : (providers.get(p) ?? null));
  /**
   * What installing `starts` brings: a dependency already met by an installed
   * or chosen package (any alternative) needs nothing, else apt takes the first
   * alternative it knows.
   */
  function closure(
    starts: string[],
    withRecommends: boolean,
    installed: Set<string>,
    takeAlternatives = true,
  ): Set<string> {
    const seen = new Set<string>();
    const queue = [...starts];
    const met = (alts: string[]) =>
      alts.some((a) => {
        const p = real(a);
        return p !== null && (seen.has(p) || installed.has(p));
      });
    while (queue.length > 0) {
      const p = real(queue.shift()!);
      if (!p || seen.has(p) || (installed.has(p) && !starts.includes(p))) continue;
      seen.add(p);
      for (const alts of [...depends.get(p)!, ...(withRecommends ? recommends.get(p)! : [])]) {
        if (met(alts) || (!takeAlternatives && alts.length > 1)) continue;
        const first = alts.find((a) => real(a) !== null);
        if (first) queue.push(first);
      }
    }
    return seen;
  }
  /**
   * The minimal base: the required and essential packages (and apt), then what they depend on
   * without a choice (debootstrap picks some alternatives by its own rules, such as
   * usr-is-merged over usrmerge and its perl: a smaller base only makes the table keep more).
   */
  const seed = new Set(base.map(real).filter((p): p is string => p !== null));
  const installed = new Set([...seed, ...closure([...seed], false, seed, false)]);
  const groups: Record<string, string[]> = {};
  const exact: string[] = [];
  for (const pkg of [...depends.keys()].filter((p) => scope.has(p)).sort()) {
    const hard = closure([pkg], false, installed);
    const extra = [...closure([pkg], true, installed)].filter((p) => !hard.has(p));
    const kept = extra.filter((p) => Object.hasOwn(KEEP, p)).sort();
    (groups[kept.join(" ")] ??= []).push(pkg);
    if (kept.length === extra.length) exact.push(pkg);
  }
  return { groups, exact };
}

const scope = new Set((await corpusAptPackages()).keys());
const releases = process.argv.slice(2).map((a) => {
  const [release, files] = a.split("=");
  return { release, table: releaseTable(files.split(","), scope) };
});

const quoted = (s: string) => JSON.stringify(s);
const body = releases
  .map(({ release, table }) => {
    const groups = Object.keys(table.groups)
      .sort()
      .map((k) => `      ${quoted(k)}: ${quoted(table.groups[k].join(" "))},`)
      .join("\n");
    return `  ${release}: {\n    groups: {\n${groups}\n    },\n    exact: ${quoted(table.exact.join(" "))},\n  },`;
  })
  .join("\n");
const date = new Date().toISOString().slice(0, 10);
process.stdout
  .write(`// Generated by scripts/apt-recommends.sh from Debian's package metadata; do not edit by hand.

export const APT_RECOMMENDS_SOURCE = "Debian ${releases.map((r) => r.release).join(", ")} package metadata (main, -updates, -security), read ${date}";

/**
 * Per Debian release, for the packages real Dockerfiles install (${scope.size} names seen in the
 * corpus) that the release has: \`groups\` maps packages of apt-get-no-install-recommends' KEEP list
 * (space-separated; "" for none) to the packages \`apt-get install\` would add them for only
 * because of Recommends (their own or those of what they install), on the release's minimal base;
 * \`exact\` lists the packages whose Recommends bring nothing else.
 */
const TABLES = {
${body}
} as const;

export type DebianRelease = keyof typeof TABLES;
export const DEBIAN_RELEASES = Object.keys(TABLES) as DebianRelease[];

export interface RecommendsTable {
  /** Package → the kept packages its recommends bring; undefined for packages the release lacks. */
  kept: ReadonlyMap<string, readonly string[]>;
  /** Packages whose Recommends bring only kept packages: the flag plus those installs the same. */
  exact: ReadonlySet<string>;
}

const tables = new Map<DebianRelease, RecommendsTable>();

/** The table of one release, unpacked on first use. */
export function aptRecommends(release: DebianRelease): RecommendsTable {
  let table = tables.get(release);
  if (!table) {
    const { groups, exact } = TABLES[release];
    const kept = new Map<string, readonly string[]>();
    for (const [k, pkgs] of Object.entries(groups)) {
      const list = k ? k.split(" ") : [];
      for (const p of pkgs.split(" ")) kept.set(p, list);
    }
    tables.set(release, (table = { kept, exact: new Set(exact.split(" ")) }));
  }
  return table;
}
`);
