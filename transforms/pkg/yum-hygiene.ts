import type { Transform } from "../../src/engine/types.ts";
import {
  appendCommand,
  cacheMountTargets,
  change,
  hasOption,
  insertAfterWord,
  prefixText,
  runScripts,
  toolCalls,
  type ToolCall,
} from "./shell-edits.ts";

interface Manager {
  yesRules: string[];
  cleanRules: string[];
  prompting: Set<string>;
  installs: Set<string>;
  clean: string;
  /** Text in the RUN that shows the cache is already removed (besides a `<tool> clean` call). */
  cleaned: RegExp;
}

const YUM_PROMPTING = [
  "install",
  "groupinstall",
  "localinstall",
  "reinstall",
  "update",
  "upgrade",
  "downgrade",
  "remove",
  "erase",
  "autoremove",
  "swap",
];

/** yum and dnf subcommands that install packages. */
const YUM_INSTALLS = [
  "install",
  "groupinstall",
  "localinstall",
  "reinstall",
  "update",
  "upgrade",
  "downgrade",
];

const MANAGERS: Record<string, Manager> = {
  yum: {
    yesRules: ["DL3030"],
    cleanRules: ["DL3032", "DS-0015"],
    prompting: new Set(YUM_PROMPTING),
    installs: new Set(YUM_INSTALLS),
    clean: "yum clean all",
    cleaned: /\/var\/cache\/yum/,
  },
  dnf: {
    yesRules: ["DL3038"],
    cleanRules: ["DL3040", "DS-0019"],
    prompting: new Set(YUM_PROMPTING),
    installs: new Set(YUM_INSTALLS),
    clean: "dnf clean all",
    cleaned: /\/var\/cache\/dnf/,
  },
  zypper: {
    yesRules: ["DL3034"],
    cleanRules: ["DL3036", "DS-0020"],
    prompting: new Set([
      "install",
      "in",
      "remove",
      "rm",
      "update",
      "up",
      "dist-upgrade",
      "dup",
      "patch",
      "source-install",
      "si",
    ]),
    installs: new Set([
      "install",
      "in",
      "update",
      "up",
      "dist-upgrade",
      "dup",
      "patch",
      "source-install",
      "si",
    ]),
    clean: "zypper clean",
    cleaned: /\/var\/cache\/zypp/,
  },
};

/** zypper's global -n / --non-interactive, or install's -y / --no-confirm. */
function nonInteractive(call: ToolCall): boolean {
  if (call.tool === "zypper") return hasOption(call, "ny", ["--non-interactive", "--no-confirm"], "RcDCpr");
  return (
    hasOption(call, "y", ["--assumeyes", "--assume-yes", "--yes"], "cdexR") ||
    call.words.some((w) => /assumeyes\s*=\s*(1|true)/i.test(w.value ?? ""))
  );
}

export const yumHygiene: Transform = {
  id: "yum-hygiene",
  description: "yum/dnf/zypper: add -y, and clean the package cache in the RUN that installs",
  rationale:
    "Without -y (zypper: -y/--no-confirm) the package manager waits for an answer the build cannot give " +
    "and aborts. Installs leave downloaded metadata and packages in /var/cache/{yum,dnf,zypp}; " +
    "`yum clean all` / `dnf clean all` / `zypper clean` appended at the end of the same RUN removes them " +
    "from the layer. A later install simply downloads fresh metadata, so the clean-up never breaks a " +
    "later RUN. RUNs with a cache mount on the package cache are left alone. microdnf is not touched.",
  applicability: "safe",
  reads: ["RUN", "SHELL"],
  applicabilityNote:
    "-y answers only the prompt the build would abort on; the cache removed at the end of the RUN is downloaded again by any later install.",
  rules: ["DL3030", "DL3032", "DL3034", "DL3036", "DL3038", "DL3040", "DS-0015", "DS-0019", "DS-0020"],
  // In `RUN yum update`, -y and the appended clean-up edit the same spot: the clean-up waits a pass.
  multiPass: true,
  run({ model }) {
    const changes = [];
    for (const rs of runScripts(model)) {
      const calls = toolCalls(rs, Object.keys(MANAGERS));
      for (const call of calls) {
        const m = MANAGERS[call.tool];
        if (!call.sub?.value || !m.prompting.has(call.sub.value) || nonInteractive(call)) continue;
        changes.push(
          change(
            model,
            call.sub.start,
            [insertAfterWord(call.sub, "-y")],
            `add -y to ${call.tool} ${call.sub.value}`,
            m.yesRules,
          ),
        );
      }
      if (cacheMountTargets(rs.instr).some((t) => /\/var\/cache\/(yum|dnf|zypp)/.test(t))) continue;
      const seen = new Set<string>();
      const cleanups: string[] = [];
      const rules: string[] = [];
      let first: ToolCall | null = null;
      for (const call of calls) {
        const m = MANAGERS[call.tool];
        if (seen.has(call.tool) || !call.sub?.value || !m.installs.has(call.sub.value)) continue;
        seen.add(call.tool);
        const cleans = calls.some(
          (c) => c.tool === call.tool && (c.sub?.value === "clean" || c.sub?.value === "cc"),
        );
        if (cleans || m.cleaned.test(rs.instr.text)) continue;
        first ??= call;
        cleanups.push(prefixText(call) + m.clean);
        rules.push(...m.cleanRules);
      }
      if (!first || cleanups.length === 0) continue;
      const edit = appendCommand(model, rs, cleanups.join(" && "));
      if (edit)
        changes.push(
          change(model, first.sub!.start, [edit], `clean the package cache (${cleanups.join(", ")})`, rules),
        );
    }
    return { changes, refusals: [] };
  },
};
