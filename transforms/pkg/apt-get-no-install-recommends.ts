import type { Transform } from "../../src/engine/types.ts";
import { afterLeadingFlags, change, insertAfterWord, runScripts, toolCalls } from "./shell-edits.ts";

export const aptGetNoInstallRecommends: Transform = {
  id: "apt-get-no-install-recommends",
  description: "Add --no-install-recommends to apt-get install",
  rationale:
    "apt-get installs 'Recommends' packages by default, often tens of megabytes nobody uses in a " +
    "container. hadolint (DL3015) and Trivy (DS-0029) ask for --no-install-recommends and most teams " +
    "expect it. It is unsafe: it changes which packages get installed, and an app may " +
    "rely on a recommended package (e.g. ca-certificates via curl, or fonts). Check the image after " +
    "applying it, or suppress it with `# hadolint ignore=DL3015`. Because dfopt must not break a " +
    "working image by default, this repair is off unless enabled (`--only`, or " +
    '`"transforms": {"apt-get-no-install-recommends": true}` in dfopt.config.json). ' +
    "Installs that ask for recommends " +
    "explicitly (--install-recommends, APT::Install-Recommends) are left alone.",
  applicability: "unsafe",
  applicabilityNote:
    "Recommended packages (ca-certificates, fonts, ...) are no longer installed, and an app may need one.",
  defaultOff: true,
  rules: ["DL3015", "DS-0029"],
  run({ model }) {
    const changes = [];
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["apt-get", "apt"])) {
        if (call.sub?.value !== "install") continue;
        if (call.words.some((w) => /install-recommends/i.test(w.value ?? w.raw))) continue;
        changes.push(
          change(
            model,
            call.sub.start,
            [insertAfterWord(afterLeadingFlags(call), "--no-install-recommends")],
            `add --no-install-recommends to ${call.tool} install`,
            ["DL3015", "DS-0029"],
          ),
        );
      }
    }
    return { changes, refusals: [] };
  },
};
