import type { DockerfileModel, Instr } from "../../src/engine/parse.ts";
import type { Applicability, Transform } from "../../src/engine/types.ts";
import { OFFICIAL_DEBIAN_FAMILY, rootImage } from "../instr/util.ts";
import { change, refusal, runScripts, toolCalls } from "./shell-edits.ts";

/** Safe where the base image already deletes what apt-get keeps; unsafe where it is not known to. */
function applicabilityOn(model: DockerfileModel, instr: Instr): Applicability {
  const stage = model.stages[instr.stage];
  const img = stage ? rootImage(model, stage) : null;
  const known = img !== null && OFFICIAL_DEBIAN_FAMILY.has(img.name) && !/alpine|windows/.test(img.tag ?? "");
  return known ? "safe" : "unsafe";
}

/** `apt` subcommands that mean the same with `apt-get`. */
const SAME = new Set([
  "install",
  "update",
  "remove",
  "purge",
  "autoremove",
  "clean",
  "autoclean",
  "dist-upgrade",
  "build-dep",
  "source",
]);

export const aptToAptGet: Transform = {
  id: "apt-to-apt-get",
  description: "Use apt-get instead of apt in RUN (apt has no stable command-line interface)",
  rationale:
    "apt is meant for people at a terminal: its output and options may change between releases and it " +
    "warns so on every call. apt-get has the same install/update/remove/purge/autoremove semantics with " +
    "a stable interface. `apt upgrade` is not rewritten (it also installs new dependencies, unlike " +
    "`apt-get upgrade`), nor apt-only subcommands (list, search, show). Unsafe because apt deletes " +
    "downloaded .deb files after installing while apt-get keeps them unless the image cleans them " +
    "(the official Debian and Ubuntu images do, with docker-clean).",
  applicability: "unsafe",
  reads: ["RUN", "SHELL"],
  applicabilityNote:
    "apt deletes the downloaded .deb files after installing and apt-get keeps them, so on a base image that does not clean them the image grows. Safe on the official Debian and Ubuntu images and the official images built on them, which clean them (docker-clean).",
  rules: ["DL3027"],
  run({ model }) {
    const changes = [];
    const refusals = [];
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["apt"])) {
        const name = call.words[0];
        if (!call.sub?.value || name.value === null || !/(^|\/)apt$/.test(name.raw)) continue;
        if (!SAME.has(call.sub.value)) {
          if (call.sub.value === "upgrade" || call.sub.value === "full-upgrade") {
            refusals.push(
              refusal(
                model,
                name.start,
                `\`apt ${call.sub.value}\` also installs new dependencies; \`apt-get ${call.sub.value === "upgrade" ? "upgrade" : "dist-upgrade"}\` would not behave the same`,
                ["DL3027"],
              ),
            );
          }
          continue;
        }
        changes.push({
          ...change(
            model,
            name.start,
            [{ start: name.end, end: name.end, text: "-get" }],
            `apt ${call.sub.value} → apt-get ${call.sub.value}`,
            ["DL3027"],
          ),
          applicability: applicabilityOn(model, rs.instr),
        });
      }
    }
    return { changes, refusals };
  },
};
