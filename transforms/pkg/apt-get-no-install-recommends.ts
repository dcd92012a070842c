import type { Change, Refusal, Transform } from "../../src/engine/types.ts";
import { own } from "../lib/own.ts";
import { APT_RECOMMENDS, APT_RECOMMENDS_SOURCE } from "./apt-recommends.ts";
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

export const aptGetNoInstallRecommends: Transform = {
  id: "apt-get-no-install-recommends",
  description:
    "Add --no-install-recommends to apt-get install, adding back the recommended packages known to be needed",
  rationale:
    "apt-get installs 'Recommends' packages by default, often tens of megabytes nobody uses in a " +
    "container. hadolint (DL3015) and Trivy (DS-0029) ask for --no-install-recommends. Some recommended " +
    "packages are needed, though: curl, wget and git recommend ca-certificates, without which HTTPS fails; " +
    "gcc recommends libc6-dev, without which it builds nothing. This repair reads a table built from " +
    `Debian's metadata (${APT_RECOMMENDS_SOURCE}) for the packages real Dockerfiles install: for each, what ` +
    "apt installs only because of Recommends (its own or those of what it installs). Those known to be needed " +
    "at run time (ca-certificates, libc6-dev, netbase, the compiler and make cmake drives, openssh-client for " +
    "git), and the recommends that are a tool's purpose (build-essential and python3-dev for pip, gnupg and " +
    "dirmngr for add-apt-repository), are added to the install explicitly. Packages outside the table (not in " +
    "Debian 12, or seen in no real Dockerfile) and packages named through variables are left alone with the reason. The table is Debian 12's: an Ubuntu or older " +
    "Debian package of the same name may recommend differently, so it is unsafe (turn it off with " +
    '`"transforms": {"apt-get-no-install-recommends": false}` or `# hadolint ignore=DL3015`). Installs that ask for recommends explicitly ' +
    "(--install-recommends, APT::Install-Recommends) are left alone.",
  applicability: "unsafe",
  applicabilityNote:
    "Recommended packages are no longer installed; those known to be needed at run time are added back from Debian 12's metadata, but an Ubuntu or older Debian package may recommend others an app needs.",
  rules: RULES,
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
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
        const unknown = (names as string[]).filter((n) => !APT_RECOMMENDS.has(n));
        if (unknown.length > 0) {
          const shown = unknown.slice(0, 3).join(", ") + (unknown.length > 3 ? ", ..." : "");
          const reason = `no Debian 12 Recommends known for ${shown}: which recommended packages the image needs is unproven`;
          refusals.push(refusal(model, at, reason, RULES));
          continue;
        }
        // What the named packages need, and what those need in turn.
        const installed = new Set(names as string[]);
        const addBack: string[] = [];
        const queue = [...installed];
        while (queue.length > 0) {
          const p = queue.shift()!;
          for (const r of [...(own(KEEP_WITH, p) ?? []), ...(APT_RECOMMENDS.get(p) ?? [])]) {
            if (installed.has(r)) continue;
            installed.add(r);
            addBack.push(r);
            queue.push(r);
          }
        }
        const edits = [insertAfterWord(afterLeadingFlags(call), "--no-install-recommends")];
        if (addBack.length > 0) edits.push(insertAfterWord(words[words.length - 1], addBack.join(" ")));
        const kept = addBack.length ? `, keeping the needed recommended ${addBack.join(", ")}` : "";
        changes.push(
          change(model, at, edits, `add --no-install-recommends to ${call.tool} install${kept}`, RULES),
        );
      }
    }
    return { changes, refusals };
  },
};
