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

/** Packages whose recommends are what they are used for: left alone, with why. */
const REFUSE: Readonly<Record<string, string>> = {
  "python3-pip":
    "python3-pip recommends build-essential and python3-dev, which pip needs to build packages that have no wheel",
  "python-pip":
    "python-pip recommends build-essential and python-dev, which pip needs to build packages that have no wheel",
  "software-properties-common":
    "software-properties-common recommends gnupg and dirmngr, which add-apt-repository uses to fetch repository keys",
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
    "git) are added to the install explicitly. Packages outside the table (not in Debian 12, or seen in no " +
    "real Dockerfile), packages named through variables, and pip / add-apt-repository (whose recommends are " +
    "their purpose) are left alone with the reason. Off by default: the table is Debian 12's, and an Ubuntu " +
    "or older Debian package may recommend differently; turn it on with `--only` or " +
    '`"transforms": {"apt-get-no-install-recommends": true}`. Installs that ask for recommends explicitly ' +
    "(--install-recommends, APT::Install-Recommends) are left alone.",
  safety: "opinionated",
  defaultOff: true,
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
        const refused = (names as string[]).find((n) => own(REFUSE, n));
        if (refused) {
          refusals.push(refusal(model, at, own(REFUSE, refused)!, RULES));
          continue;
        }
        const unknown = (names as string[]).filter((n) => !APT_RECOMMENDS.has(n));
        if (unknown.length > 0) {
          const shown = unknown.slice(0, 3).join(", ") + (unknown.length > 3 ? ", ..." : "");
          const reason = `no Debian 12 Recommends known for ${shown}: which recommended packages the image needs is unproven`;
          refusals.push(refusal(model, at, reason, RULES));
          continue;
        }
        const installed = new Set(names as string[]);
        const addBack = [
          ...new Set(
            (names as string[]).flatMap((n) => APT_RECOMMENDS.get(n)!.filter((r) => !installed.has(r))),
          ),
        ];
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
