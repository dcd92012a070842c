// An example dfopt plugin (custom transform): drops `sudo` from RUN commands
// that already run as root. Use it with `dfopt --transform examples/plugins/no-sudo.mjs`
// or list it under "plugins" in dfopt.config.json. See README.md, "Custom transforms".

const RULES = ["DL3004"];
/** `sudo ` (without options) where a command starts: line start, or after &&, ||, ; or |. */
const SUDO = /(^|&&|\|\||;|\|)(\s*)sudo[ \t]+(?=[A-Za-z/])/g;

/** @type {import("dfopt").Transform} */
export default {
  id: "no-sudo",
  description: "Drop sudo from RUN commands that already run as root",
  rationale:
    "sudo in a RUN that runs as root does nothing but needs the sudo package and hides the user a step runs as. " +
    "A RUN after a USER that is not root is left alone: there sudo may be what makes it work. Unsafe, as " +
    "the base image's own user is not known without pulling it (most official images run as root).",
  applicability: "unsafe",
  applicabilityNote: "A RUN that expected sudo's environment handling (HOME, PATH) may behave differently.",
  rules: RULES,
  run({ model }) {
    const changes = [];
    const refusals = [];
    for (const stage of model.stages) {
      let user = "root";
      for (const instr of stage.instructions) {
        if (instr.keyword === "USER") user = instr.args[0]?.value.split(":")[0] ?? user;
        if (instr.keyword !== "RUN" || instr.execForm || instr.hasHeredoc || !instr.argsSpan) continue;
        const script = model.text.slice(instr.argsSpan.start, instr.argsSpan.end);
        const edits = [];
        let quoted = false;
        for (const m of script.matchAll(SUDO)) {
          // A `sudo` inside quotes is text (echo "… && sudo …"), not a command.
          const before = script.slice(0, m.index);
          quoted ||= (before.match(/"/g) ?? []).length % 2 === 1 || (before.match(/'/g) ?? []).length % 2 === 1;
          const start = instr.argsSpan.start + m.index + m[1].length + m[2].length;
          edits.push({ start, end: start + m[0].length - m[1].length - m[2].length, text: "" });
        }
        if (edits.length === 0) continue;
        if (quoted) {
          refusals.push({ line: instr.line, reason: "sudo inside quotes: not sure it is a command", rules: RULES });
          continue;
        }
        if (user !== "root" && user !== "0") {
          refusals.push({ line: instr.line, reason: `runs as ${user}: sudo may be needed`, rules: RULES });
          continue;
        }
        changes.push({ edits, line: instr.line, message: "sudo dropped: the RUN already runs as root", rules: RULES });
      }
    }
    return { changes, refusals };
  },
};
