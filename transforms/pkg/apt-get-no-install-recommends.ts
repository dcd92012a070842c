import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import type { DockerfileModel } from "../../src/engine/parse.ts";
import { OFFICIAL_DEBIAN_FAMILY, rootImage } from "../instr/util.ts";
import { stageDistribution } from "../lib/debian-release.ts";
import { own } from "../lib/own.ts";
import {
  APT_RECOMMENDS_SOURCE,
  DEBIAN_RELEASES,
  aptRecommends,
  type DebianRelease,
  type RecommendsTable,
} from "./apt-recommends.ts";
import {
  afterLeadingFlags,
  change,
  insertAfterWord,
  refusal,
  runScripts,
  toolCalls,
  toolOperands,
} from "./shell-edits.ts";

const RULES = ["DL3015", "DS-0029"];

/**
 * Recommended packages a container needs at run time, added back explicitly
 * when an installed package recommends them (per the Debian metadata table).
 */
export const KEEP: Readonly<Record<string, string>> = {
  "ca-certificates": "the TLS trust store curl, wget, git and openssl need for HTTPS",
  "libc6-dev": "the C headers and start files gcc needs to build anything",
  gcc: "the compiler cmake drives",
  "g++": "the C++ compiler cmake drives",
  make: "the build tool cmake generates for",
  netbase: "/etc/services and /etc/protocols, for service-name lookups",
  "openssh-client": "git's ssh transport",
};

/**
 * Packages whose recommends are what they are used for, kept with them:
 * pip builds packages that have no wheel with build-essential and python3-dev
 * (python3-pip's Recommends); add-apt-repository fetches repository keys with
 * gnupg and dirmngr, which software-properties-common brings only through Recommends.
 */
const KEEP_WITH: Readonly<Record<string, readonly string[]>> = {
  "python3-pip": ["build-essential", "python3-dev"],
  "software-properties-common": ["gnupg", "dirmngr"],
};

/** `pkg=1.2`, `pkg:amd64`, `pkg/bookworm` → `pkg`. */
export const packageName = (word: string) => word.replace(/[=/].*$/, "").replace(/:[a-z0-9-]+$/, "");

const RELEASE_NUMBER: Readonly<Record<DebianRelease, number>> = { bullseye: 11, bookworm: 12, trixie: 13 };
const numbers = DEBIAN_RELEASES.map((r) => RELEASE_NUMBER[r]);
const TABLED = `Debian ${Math.min(...numbers)}-${Math.max(...numbers)}`;

/** Other package sources set up in the file: a package may then come from elsewhere, with other recommends. */
const OTHER_SOURCES = /sources\.list|add-apt-repository|apt-key|\/etc\/apt\/|apt\/preferences/;

/**
 * The tables that apply to a stage: its Debian release's when it has one
 * (`exact`: the release is known, so a package whose recommends are all kept
 * installs the same); every release's otherwise (Ubuntu, older Debian, an
 * image that names no release), a recommended package kept when any release
 * recommends it.
 */
function tablesFor(
  model: DockerfileModel,
  line: number,
): {
  tables: RecommendsTable[];
  keptBy: (p: string) => readonly string[] | undefined;
  label: string;
  exact: boolean;
  assumed: string | null;
} {
  const stage = model.stages.filter((s) => s.from.line <= line).at(-1);
  const distro = stage ? stageDistribution(model, stage) : null;
  const all = DEBIAN_RELEASES.map(aptRecommends);
  if (distro?.distro === "debian" && (DEBIAN_RELEASES as string[]).includes(distro.codename)) {
    const release = distro.codename as DebianRelease;
    // Official images keep apt's defaults (recommends on); another image may have turned them off.
    const img = rootImage(model, stage!);
    const official = img !== null && OFFICIAL_DEBIAN_FAMILY.has(img.name);
    return {
      tables: [aptRecommends(release)],
      keptBy: keptByIn(release, [aptRecommends(release)]),
      label: `Debian ${RELEASE_NUMBER[release]} ${release}`,
      exact: official,
      assumed: null,
    };
  }
  const why =
    distro?.distro === "ubuntu"
      ? `ubuntu:${distro.tag} is not in the tables`
      : distro?.distro === "debian"
        ? `no table for Debian ${distro.codename}`
        : "the base image names no Debian release";
  return {
    tables: all,
    keptBy: keptByIn("", all),
    label: TABLED,
    exact: false,
    assumed: `Recommends of ${TABLED} assumed: ${why}`,
  };
}

const keptByTables = new Map<string, (p: string) => readonly string[] | undefined>();

/**
 * The kept packages a package's recommends bring in any of `tables` (undefined when no table has
 * the package), for the release named by `key` ("" for every table). The tables never change, so
 * each answer is computed once per run: an install of tens of packages asks about each of them
 * and about everything they bring, in every file (~1% of a bulk run).
 */
function keptByIn(
  key: string,
  tables: readonly RecommendsTable[],
): (p: string) => readonly string[] | undefined {
  let keptBy = keptByTables.get(key);
  if (!keptBy) {
    // Only packages of the tables are kept, so the memo never outgrows them.
    const known = new Map<string, readonly string[]>();
    keptBy = (p) => {
      let kept = known.get(p);
      if (kept) return kept;
      const found = tables.map((t) => t.kept.get(p)).filter((k) => k !== undefined);
      if (found.length === 0) return undefined;
      kept = [...new Set(found.flat())];
      known.set(p, kept);
      return kept;
    };
    keptByTables.set(key, keptBy);
  }
  return keptBy;
}

export const aptGetNoInstallRecommends: Transform = {
  id: "apt-get-no-install-recommends",
  description:
    "Add --no-install-recommends to apt-get install, adding back the recommended packages known to be needed",
  rationale:
    "apt-get installs 'Recommends' packages by default, often tens of megabytes nobody uses in a " +
    "container. hadolint (DL3015) and Trivy (DS-0029) ask for --no-install-recommends. Some recommended " +
    "packages are needed, though: curl, wget and git recommend ca-certificates, without which HTTPS fails; " +
    "gcc recommends libc6-dev, without which it builds nothing. This repair reads tables built from " +
    `Debian's metadata (${APT_RECOMMENDS_SOURCE}) for the packages real Dockerfiles install: for each, what ` +
    "apt installs only because of Recommends (its own or those of what it installs). Those known to be needed " +
    "at run time (ca-certificates, libc6-dev, netbase, the compiler and make cmake drives, openssh-client for " +
    "git), and the recommends that are a tool's purpose (build-essential and python3-dev for pip, gnupg and " +
    "dirmngr for add-apt-repository), are added to the install explicitly. The table of the stage's Debian " +
    "release is used when its base image names one (`debian:12`, `python:3.12-slim-bookworm`); for Ubuntu, " +
    "older Debian and images that name no release, every table is read and a package is kept when any " +
    "release recommends it (an assumption: Ubuntu's metadata is not among the tables). Packages in no table " +
    "and packages named through variables are left alone with the reason. A change is safe when the release " +
    "is known, no other package source is set up in the file, no version is pinned, and the packages' " +
    "recommends are all added back (the image gets the same packages) on an official image (which keeps apt's defaults); otherwise it is unsafe (turn it off " +
    'with `"transforms": {"apt-get-no-install-recommends": false}` or `# hadolint ignore=DL3015`). Installs ' +
    "that ask for recommends explicitly (--install-recommends, APT::Install-Recommends) are left alone.",
  applicability: "unsafe",
  applicabilityNote:
    "Recommended packages are no longer installed; those known to be needed at run time are added back from Debian's metadata, but a dropped one may be needed, and an Ubuntu or older Debian package may recommend others. Safe where the stage's Debian release is known and every recommended package is added back.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    const otherSources = OTHER_SOURCES.test(model.text);
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["apt-get", "apt"])) {
        if (call.sub?.value !== "install") continue;
        if (call.words.some((w) => /install-recommends/i.test(w.value ?? w.raw))) continue;
        const words = toolOperands(call);
        const names = words.map((w) => (w.value === null ? null : packageName(w.value)));
        const at = call.sub.start;
        if (names.length === 0) continue;
        if (names.includes(null)) {
          refusals.push(
            refusal(model, at, "packages named through variables: their recommends are unknown", RULES),
          );
          continue;
        }
        const { tables, keptBy, label, exact, assumed } = tablesFor(model, rs.instr.line);
        const unknown = (names as string[]).filter((n) => keptBy(n) === undefined);
        if (unknown.length > 0) {
          const shown = unknown.slice(0, 3).join(", ") + (unknown.length > 3 ? ", ..." : "");
          const reason = `no ${label} Recommends known for ${shown}: which recommended packages the image needs is unproven`;
          refusals.push(refusal(model, at, reason, RULES));
          continue;
        }
        // What the named packages need, and what those need in turn.
        const installed = new Set(names as string[]);
        const addBack: string[] = [];
        const queue = [...installed];
        while (queue.length > 0) {
          const p = queue.shift()!;
          for (const r of [...(own(KEEP_WITH, p) ?? []), ...(keptBy(p) ?? [])]) {
            if (installed.has(r)) continue;
            installed.add(r);
            addBack.push(r);
            queue.push(r);
          }
        }
        const edits = [insertAfterWord(afterLeadingFlags(call), "--no-install-recommends")];
        if (addBack.length > 0) edits.push(insertAfterWord(words[words.length - 1], addBack.join(" ")));
        const kept = addBack.length ? `, keeping the needed recommended ${addBack.join(", ")}` : "";
        const same =
          exact &&
          !otherSources &&
          words.every((w) => !/[=/]/.test(w.value!)) &&
          (names as string[]).every((n) => tables[0].exact.has(n) && !own(KEEP_WITH, n));
        const why = same
          ? ` (${label} recommends nothing else: the image gets the same packages)`
          : assumed
            ? ` (${assumed})`
            : "";
        const c = change(
          model,
          at,
          edits,
          `add --no-install-recommends to ${call.tool} install${kept}${why}`,
          RULES,
        );
        if (same) c.applicability = "safe";
        changes.push(c);
      }
    }
    return { changes, refusals };
  },
};
