import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimize } from "../src/api.ts";
import { loadParsers } from "../src/engine/engine.ts";
import { dfopt, tree } from "./cli-run.ts";

beforeAll(loadParsers);

// The example plugin shipped in examples/plugins/ (README: "Custom transforms").
const NO_SUDO = path.resolve(import.meta.dirname, "../examples/plugins/no-sudo.mjs");
const SUDO =
  "FROM debian:12\nRUN sudo apt-get update && sudo apt-get install -y curl\nUSER app\nRUN sudo ls /root\n";
const DROPPED = "RUN apt-get update && apt-get install -y curl\n";

/** A plugin module's source: `run` is the body of run({ model }). */
const plugin = (id: string, run: string) =>
  `export default { id: ${JSON.stringify(id)}, description: "test plugin", applicability: "safe", run({ model }) { ${run} } };\n`;

describe("the example plugin (examples/plugins/no-sudo.mjs)", () => {
  test("drops sudo where the RUN runs as root and refuses after USER app, through the CLI", async () => {
    const dir = tree({ Dockerfile: SUDO });
    const r = await dfopt(["--transform", NO_SUDO, "--unsafe", "--only", "no-sudo", "."], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("-RUN sudo apt-get update && sudo apt-get install -y curl\n+" + DROPPED);
    expect(r.stdout).not.toContain("-RUN sudo ls /root");
    expect(r.stderr).toContain("Dockerfile:4: left alone [no-sudo]: runs as app: sudo may be needed");
    const w = await dfopt(["--transform", NO_SUDO, "--unsafe", "--only", "no-sudo", "--write", "."], dir);
    expect(w.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "Dockerfile"), "utf8")).toBe(
      `FROM debian:12\n${DROPPED}USER app\nRUN sudo ls /root\n`,
    );
    // A second run changes nothing.
    expect(
      (await dfopt(["--transform", NO_SUDO, "--unsafe", "--only", "no-sudo", "--check", "."], dir)).code,
    ).toBe(0);
  });

  test("through the API, with the JSON report's change shape", async () => {
    const r = await optimize(SUDO, { plugins: [NO_SUDO], only: ["no-sudo"], safe: false });
    expect(r.output).toBe(`FROM debian:12\n${DROPPED}USER app\nRUN sudo ls /root\n`);
    expect(r.changes).toEqual([
      {
        transform: "no-sudo",
        line: 2,
        message: "sudo dropped: the RUN already runs as root",
        rules: ["DL3004"],
        applicability: "unsafe",
      },
    ]);
    expect(r.refusals.map((x) => [x.transform, x.line])).toEqual([["no-sudo", 4]]);
    const quoted = 'FROM debian:12\nRUN echo "run: && sudo make" && sudo make\n';
    const left = await optimize(quoted, { plugins: [NO_SUDO], only: ["no-sudo"], safe: false });
    expect(left.output).toBe(quoted);
    expect(left.refusals[0].reason).toBe("sudo inside quotes: not sure it is a command");
  });

  test("is listed by --list-transforms, and --skip and suppression comments turn it off", async () => {
    const list = await dfopt(["--transform", NO_SUDO, "--list-transforms"], tree({}));
    expect(list.stdout).toMatch(/^no-sudo\s+unsafe\s+on\s+\[DL3004\] Drop sudo/m);
    const dir = tree({
      "a/Dockerfile": SUDO,
      "b/Dockerfile": SUDO.replace("RUN sudo apt", "# dfopt ignore=no-sudo\nRUN sudo apt"),
      "c/Dockerfile": SUDO.replace("RUN sudo apt", "# hadolint ignore=DL3004\nRUN sudo apt"),
    });
    const r = await dfopt(["--transform", NO_SUDO, "--unsafe", "--only", "no-sudo", "--check", "."], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("a/Dockerfile\n");
    const skipped = await dfopt(
      ["--transform", NO_SUDO, "--only", "no-sudo,instruction-case", "--skip", "no-sudo", "--check", "."],
      dir,
    );
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toBe("");
  });

  test("runs in every worker thread of a bulk run", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`svc${i}/Dockerfile`] = SUDO;
    const dir = tree(files);
    const r = await dfopt(
      ["--transform", NO_SUDO, "--unsafe", "--only", "no-sudo", "--check", "--jobs", "2", "."],
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split("\n")).toHaveLength(30);
  });
});

describe("a plugin that misbehaves", () => {
  test("one that throws is an error of that file (exit 2); the other files are processed", async () => {
    const dir = tree({
      "throws.mjs": plugin(
        "boom",
        'if (model.text.includes("boom")) throw new Error("kaput"); return { changes: [], refusals: [] };',
      ),
      "a/Dockerfile": "FROM debian:12\nRUN echo boom\n",
      "b/Dockerfile": SUDO,
    });
    const r = await dfopt(
      ["--transform", "throws.mjs", "--transform", NO_SUDO, "--unsafe", "--format", "json", "."],
      dir,
    );
    expect(r.code).toBe(2);
    const [a, b] = JSON.parse(r.stdout).files;
    expect(a.error).toEqual({
      kind: "plugin",
      message: `plugin boom (${path.join(dir, "throws.mjs")}) threw: kaput`,
      line: null,
    });
    expect(b.error).toBeNull();
    expect(b.changes.some((c: { transform: string }) => c.transform === "no-sudo")).toBe(true);
  });

  test("edits outside the text are reported as a bad result; edits that break the Dockerfile are undone", async () => {
    const past = plugin(
      "past-end",
      "return { changes: [{ line: 1, message: 'm', edits: [{ start: 0, end: model.text.length + 5, text: '' }] }], refusals: [] };",
    );
    const breaks = plugin(
      "breaks",
      "return { changes: [{ line: 1, message: 'm', edits: [{ start: 0, end: 4, text: 'FORM' }] }], refusals: [] };",
    );
    const dir = tree({ "past.mjs": past, "breaks.mjs": breaks, Dockerfile: "FROM debian:12\n" });
    const bad = await dfopt(["--transform", "past.mjs", "--only", "past-end", "."], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("plugin past-end");
    expect(bad.stderr).toContain(
      "returned a bad result: changes[0].edits[0] ends at 20, past the end of the text (15)",
    );
    const undone = await optimize("FROM debian:12\n", {
      plugins: [path.join(dir, "breaks.mjs")],
      only: ["breaks"],
    });
    expect(undone.output).toBe("FROM debian:12\n");
    expect(undone.error).toBeNull();
    expect(undone.refusals[0].transform).toBe("breaks");
    expect(undone.refusals[0].reason).toMatch(/^rewrite dropped: its result failed the check/);
  });

  test("a plugin's declared reads are not trusted: it runs again after any change", async () => {
    // Declares that it reads RUN only, but appends --prod to the RUN once ENV MODE=prod is set.
    const readsEnv = `export default { id: "reads-env", description: "test plugin", applicability: "safe", reads: ["RUN"],
      run({ model }) {
        const prod = model.instructions.some((i) => i.keyword === "ENV" && i.text.includes("MODE=prod"));
        const run = model.instructions.find((i) => i.keyword === "RUN");
        if (!prod || !run || run.text.endsWith("--prod")) return { changes: [], refusals: [] };
        return { changes: [{ line: run.line, message: "prod", edits: [{ start: run.end, end: run.end, text: " --prod" }] }], refusals: [] };
      } };\n`;
    const setsProd = plugin(
      "sets-prod",
      "const env = model.instructions.find((i) => i.keyword === 'ENV' && i.text.includes('MODE=dev')); if (!env) return { changes: [], refusals: [] }; const at = env.start + env.text.indexOf('dev'); return { changes: [{ line: env.line, message: 'prod', edits: [{ start: at, end: at + 3, text: 'prod' }] }], refusals: [] };",
    );
    const dir = tree({ "reads-env.mjs": readsEnv, "sets-prod.mjs": setsProd });
    const result = await optimize("FROM debian:12\nENV MODE=dev\nRUN ./build.sh\n", {
      plugins: [path.join(dir, "reads-env.mjs"), path.join(dir, "sets-prod.mjs")],
      only: ["reads-env", "sets-prod"],
    });
    expect(result.error).toBeNull();
    expect(result.output).toBe("FROM debian:12\nENV MODE=prod\nRUN ./build.sh --prod\n");
  });

  test("a file that is not a transform, or reuses a built-in id, is a usage error naming it", async () => {
    const dir = tree({
      "shape.mjs": "export default { id: 'x', description: 'd', applicability: 'very' , run() {} };\n",
      "dup.mjs": plugin("pin-tags", "return { changes: [], refusals: [] };"),
      "syntax.mjs": "export default {\n",
      Dockerfile: "FROM debian:12\n",
    });
    const shape = await dfopt(["--transform", "shape.mjs", "."], dir);
    expect(shape.code).toBe(2);
    expect(shape.stderr).toContain(
      `shape.mjs: not a dfopt transform: 'applicability' must be "safe" or "unsafe"`,
    );
    const dup = await dfopt(["--transform", "dup.mjs", "."], dir);
    expect(dup.stderr).toContain("plugin id 'pin-tags' is already used by a built-in transform");
    const syntax = await dfopt(["--transform", "syntax.mjs", "."], dir);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain("syntax.mjs: plugin failed to load");
    const missing = await dfopt(["--transform", "nope.mjs", "."], dir);
    expect(missing.stderr).toContain("nope.mjs: no such plugin file");
  });
});

describe("plugins listed in a config file", () => {
  const repo = () =>
    tree({
      ".git/HEAD": "",
      "dfopt/no-sudo.mjs": fs.readFileSync(NO_SUDO, "utf8"),
      "dfopt.config.json": JSON.stringify({
        plugins: ["./dfopt/no-sudo.mjs"],
        transforms: { "pin-tags": false },
      }),
      "svc/Dockerfile": SUDO,
    });

  test("a config found in the scanned repository loads them only with --allow-config-plugins", async () => {
    const dir = repo();
    const refused = await dfopt(["--unsafe", "--check", "svc"], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `svc/Dockerfile: error: ${path.join(dir, "dfopt.config.json")}: lists plugins (./dfopt/no-sudo.mjs), code from the repository; dfopt loads them only with --allow-config-plugins`,
    );
    const allowed = await dfopt(["--allow-config-plugins", "--unsafe", "--explain", "--check", "svc"], dir);
    expect(allowed.code).toBe(1);
    expect(allowed.stdout).toContain("[no-sudo, unsafe] (DL3004) sudo dropped: the RUN already runs as root");
  });

  test("a config named with --config is the user's choice: its plugins load, and it can turn them off", async () => {
    const dir = repo();
    const named = await dfopt(
      ["--config", "dfopt.config.json", "--unsafe", "--explain", "--check", "svc"],
      dir,
    );
    expect(named.code).toBe(1);
    expect(named.stdout).toContain("[no-sudo, unsafe]");
    fs.writeFileSync(
      path.join(dir, "dfopt.config.json"),
      JSON.stringify({
        plugins: ["./dfopt/no-sudo.mjs"],
        transforms: { "no-sudo": false, "pin-tags": false },
      }),
    );
    const off = await dfopt(
      ["--config", "dfopt.config.json", "--unsafe", "--explain", "--check", "svc"],
      dir,
    );
    expect(off.stdout).not.toContain("[no-sudo");
    // Its plugins' ids are known to --only and --list-transforms.
    const only = await dfopt(
      ["--config", "dfopt.config.json", "--unsafe", "--only", "no-sudo", "--check", "svc"],
      dir,
    );
    expect(only).toMatchObject({ code: 1, stdout: "svc/Dockerfile\n" });
    const list = await dfopt(["--config", "dfopt.config.json", "--list-transforms"], dir);
    expect(list.stdout).toMatch(/^no-sudo\s+unsafe/m);
  });
});
