import type { Refusal, Transform } from "../../src/engine/types.ts";
import { shellOf } from "../../src/engine/shell.ts";
import {
  callNode,
  change,
  hasOption,
  refusal,
  runScripts,
  toolCall,
  toolCalls,
  type ToolCall,
} from "./shell-edits.ts";

/** curl short options that take a value (a cluster ends at them). */
const VALUE_LETTERS = "AbcCdDeEFHKmoPQrtTuUwxXyYz";

/** Does this curl call save or hand on what it downloads? */
function isDownload(call: ToolCall): boolean {
  if (
    hasOption(call, "oO", ["--output", "--remote-name", "--remote-name-all", "--output-dir"], VALUE_LETTERS)
  )
    return true;
  const node = callNode(call);
  // `> file`, `2> file`, `>> file`, not `>&2`.
  if (node.redirects.some((r) => r.op.startsWith(">") && !r.op.startsWith(">&"))) return true;
  const commands = node.parent.commands;
  return commands[commands.length - 1] !== node;
}

/** Requests that are not downloads (API calls, uploads, HEAD) must not start failing the build. */
function isRequest(call: ToolCall): boolean {
  return hasOption(
    call,
    "IdFTX",
    [
      "--head",
      "--data",
      "--data-raw",
      "--data-binary",
      "--data-urlencode",
      "--form",
      "--upload-file",
      "--request",
      "--json",
    ],
    VALUE_LETTERS,
  );
}

export const curlFlags: Transform = {
  id: "curl-flags",
  description: "curl downloads in RUN: add -f (fail on HTTP errors) and -L (follow redirects)",
  rationale:
    "Without -f, curl saves a 404/500 error page as if it were the file and exits 0, so the build goes on " +
    "with a broken artifact (or pipes HTML into sh/tar); without -L a moved URL saves the redirect page. " +
    "Only downloads are touched: curl with -o/-O/--output, redirected to a file, or piped into another " +
    "command; requests with -X/-d/-F/-T/-I are not. Unsafe because -f turns a silent bad download " +
    "into a failing build. HEALTHCHECK curl is left alone (reported): adding -f there would start marking " +
    "containers unhealthy whose probed path answers 4xx, which changes how they run.",
  applicability: "unsafe",
  reads: ["RUN", "SHELL", "HEALTHCHECK"],
  applicabilityNote:
    "-f fails a build whose download returned an HTTP error page, and -L saves the redirect's target instead of the redirect page.",
  rules: ["curlUseFlagF", "curlUseFlagL"],
  run({ model }) {
    const changes = [];
    const refusals: Refusal[] = [];
    for (const rs of runScripts(model)) {
      for (const call of toolCalls(rs, ["curl"])) {
        if (call.words.slice(1).some((w) => w.value === null && /^["']?-/.test(w.raw))) continue;
        if (!isDownload(call) || isRequest(call)) continue;
        const fail = hasOption(call, "f", ["--fail", "--fail-with-body"], VALUE_LETTERS);
        const loc = hasOption(call, "L", ["--location", "--location-trusted"], VALUE_LETTERS);
        if (fail && loc) continue;
        const add = (fail ? "" : "f") + (loc ? "" : "L");
        const rules = [...(fail ? [] : ["curlUseFlagF"]), ...(loc ? [] : ["curlUseFlagL"])];
        const name = call.words[0];
        // Join an existing cluster of plain short flags (`-sS` → `-fsSL`), else add `-fL` after curl.
        const cluster = call.words
          .slice(1)
          .find(
            (w) =>
              w.value === w.raw &&
              /^-[A-Za-z]+$/.test(w.raw) &&
              ![...w.raw.slice(1)].some((c) => VALUE_LETTERS.includes(c)),
          );
        const edits = cluster
          ? [
              ...(fail ? [] : [{ start: cluster.start + 1, end: cluster.start + 1, text: "f" }]),
              ...(loc ? [] : [{ start: cluster.end, end: cluster.end, text: "L" }]),
            ]
          : [{ start: name.end, end: name.end, text: ` -${add}` }];
        changes.push(change(model, name.start, edits, `curl: add -${add}`, rules));
      }
    }
    for (const instr of model.instructions) {
      if (instr.keyword !== "HEALTHCHECK") continue;
      const script = shellOf(instr, model.text, model.escapeChar);
      if (!script || script.hasErrors) continue;
      for (const cmd of script.commands) {
        const call = toolCall({ instr, script }, cmd);
        if (call?.tool !== "curl" || hasOption(call, "f", ["--fail", "--fail-with-body"], VALUE_LETTERS))
          continue;
        refusals.push(
          refusal(
            model,
            cmd.start,
            "HEALTHCHECK curl without -f reports HTTP errors as healthy; not changed because it would alter when the container is marked unhealthy",
            ["curlUseFlagF"],
          ),
        );
      }
    }
    return { changes, refusals };
  },
};
