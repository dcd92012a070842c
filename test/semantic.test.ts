import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers } from "../src/engine/engine.ts";
import { parseSource } from "../src/engine/parse.ts";
import { shellOf, visit, type ShellNode } from "../src/engine/shell.ts";
import { decodeSource } from "../src/engine/source.ts";
import { dryRunSettings, processFile, type FileReport } from "../src/io/process.ts";
import { tree } from "./cli-run.ts";
import { behaviourDifference, simulateBuild } from "./shell-sim.ts";

/**
 * The semantic suite (issue 18): Dockerfiles where a careless rewrite would
 * change what the build or the image does. Each goes through the entry the
 * CLI uses (processFile, every default transform, `--write`), and the test
 * checks that the risky construct means what it meant, or that dfopt left it
 * alone and said why. Where the meaning is which commands run and whether the
 * build fails, test/shell-sim.ts runs the original and the rewrite for every
 * choice of failing commands and compares.
 */

beforeAll(loadParsers);

function rewrite(
  dockerfile: string,
  files: Record<string, string> = {},
): { output: string; report: FileReport } {
  const dir = tree({ Dockerfile: dockerfile, ...files });
  const file = path.join(dir, "Dockerfile");
  // the whole rewrite, unsafe changes too (--unsafe): the semantics of every change are checked
  const report = processFile(file, dryRunSettings(dir, { mode: "write", safe: false }));
  expect(report.error).toBeNull();
  return { output: fs.readFileSync(file, "utf8"), report };
}

/** The shell-form RUN scripts of a Dockerfile, continuations joined. */
function runs(dockerfile: string): string[] {
  const model = parseSource(decodeSource(dockerfile));
  return model.instructions
    .filter((i) => i.keyword === "RUN")
    .map((i) => i.text.replace(/^RUN\s+/i, "").replace(/\s*\\\r?\n\s*/g, " "));
}

function refusalOf(report: FileReport, transform: string): string {
  const found = report.refusals.filter((r) => r.transform === transform).map((r) => r.reason);
  expect(found, `a refusal from ${transform}`).not.toEqual([]);
  return found.join("\n");
}

function changed(report: FileReport, transform: string): boolean {
  return report.changes.some((c) => c.transform === transform);
}

/** The rewrite runs the same commands and fails exactly when the original does. */
function expectSameBehaviour(original: string, output: string, movable: string[] = []): void {
  expect(behaviourDifference(original, output, movable)).toBeNull();
}

/** Commands named `name` in RUNs of the output that are followed (in the same RUN) by more commands outside a subshell. */
function leakingCommands(dockerfile: string, name: string): string[] {
  const model = parseSource(decodeSource(dockerfile));
  const out: string[] = [];
  for (const instr of model.instructions.filter((i) => i.keyword === "RUN")) {
    const script = shellOf(instr, model.text, model.escapeChar);
    if (!script) continue;
    for (const cmd of script.commands) {
      if (cmd.name?.value !== name) continue;
      let isolated = false;
      for (let p: ShellNode | null = cmd.node.parent; p; p = p.parent)
        if (p.type === "subshell") isolated = true;
      const later = script.commands.some((c) => c.start > cmd.end);
      if (!isolated && later) out.push(instr.text);
    }
  }
  return out;
}

describe("the simulator itself", () => {
  // The suite's verdicts rest on it: it must see the defects the issue reports.
  test("sees the swallowed failure of `make && true || echo x > /f`", () => {
    const before = 'FROM alpine:3.20\nRUN make\nRUN true || echo x > /f\nCMD ["sh"]\n';
    const careless = 'FROM alpine:3.20\nRUN make \\\n    && true || echo x > /f\nCMD ["sh"]\n';
    expect(simulateBuild(before, new Set(["make"])).failed).toBe(true);
    expect(simulateBuild(careless, new Set(["make"])).failed).toBe(false);
    expect(behaviourDifference(before, careless)).toMatch(/with make failing: original fails/);
  });

  test("models set -e left of && and in a subshell", () => {
    const f = (script: string) => simulateBuild(`FROM a\nRUN ${script}\n`, new Set(["b"])).failed;
    expect(f("set -e; b; c")).toBe(true);
    expect(f("set -e; b && c; d")).toBe(false);
    expect(f("set -e; ( b; c ) && d; e")).toBe(false);
    expect(f("b; c")).toBe(false);
    expect(f("! b")).toBe(false);
  });
});

describe("merge-runs keeps the meaning of lists (defect 2)", () => {
  const cases: Array<[string, string[]]> = [
    ["an || list with a redirect on its last command", ["make", "true || echo x > /f"]],
    ["an || list", ["make", "test -f /a || touch /a"]],
    ["a ; list", ["make", "make install; echo done"]],
    ["a list ending with ;", ["make", "make install;"]],
    ["a negation", ["make", "! grep -q bad /log"]],
    ["an || list first", ["test -f /a || touch /a", "make"]],
    ["three RUNs with lists in the middle", ["make", "make check || echo failed; echo next", "make install"]],
    ["a redirect on an && list", ["make", "make install > /log && echo ok"]],
    ["a { } group", ["make", "{ make install; echo ok; } > /log"]],
    ["set -e in the last RUN", ["make", "set -e; make install; echo done"]],
    ["set +e in the last RUN", ["make", "set +e; make install; echo done"]],
  ];
  for (const [name, scripts] of cases) {
    test(name, () => {
      const input = `FROM alpine:3.20\n${scripts.map((s) => `RUN ${s}\n`).join("")}CMD ["sh"]\n`;
      const { output } = rewrite(input);
      expectSameBehaviour(input, output);
    });
  }

  test("`RUN make` + `RUN true || echo x > /f` groups the list", () => {
    const input = 'FROM alpine:3.20\nRUN make\nRUN true || echo x > /f\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(changed(report, "merge-runs")).toBe(true);
    expect(runs(output)).toEqual(["make && ( true || echo x > /f )"]);
  });

  test("a SHELL with -e: a first RUN with ; is joined as it stands, a middle one is refused", () => {
    const input = [
      "FROM debian:12",
      'SHELL ["/bin/sh", "-ec"]',
      "RUN make; make check",
      "RUN make install || echo failed; echo next",
      "RUN make clean",
      'CMD ["sh"]',
      "",
    ].join("\n");
    const { output, report } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(refusalOf(report, "merge-runs")).toMatch(/set -e/);
  });

  test("SHELL bash -c: lists are grouped as for sh", () => {
    const input =
      'FROM debian:12\nSHELL ["/bin/bash", "-c"]\nRUN make\nRUN make install; echo done\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(runs(output)).toEqual(["make && ( make install; echo done )"]);
  });

  test("set -e in a RUN that is not last is not merged (it would be ignored left of &&)", () => {
    const input = 'FROM alpine:3.20\nRUN set -e; make; make check\nRUN make install\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(runs(output)).toEqual(runs(input));
    expect(refusalOf(report, "merge-runs")).toMatch(/set -e/);
  });

  test("exit in a RUN is not merged", () => {
    const input = 'FROM alpine:3.20\nRUN test -f /a && exit 0; make\nRUN make install\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(runs(output)).toEqual(runs(input));
    expect(refusalOf(report, "merge-runs")).toMatch(/uses exit/);
  });

  test("a background job is not merged", () => {
    for (const input of [
      'FROM alpine:3.20\nRUN make &\nRUN make install\nCMD ["sh"]\n',
      'FROM alpine:3.20\nRUN make\nRUN sleep 1 & make install\nCMD ["sh"]\n',
    ]) {
      const { output, report } = rewrite(input);
      expect(runs(output)).toEqual(runs(input));
      expect(refusalOf(report, "merge-runs")).toMatch(/background job/);
    }
  });

  test("a function defined in a RUN does not reach the next one", () => {
    const input = 'FROM alpine:3.20\nRUN f() { make; }; f\nRUN f\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(runs(output)).toEqual(["( f() { make; }; f ) && f"]);
  });

  test("cd and export do not leak into the next RUN", () => {
    const input = [
      "FROM alpine:3.20",
      "RUN cd /tmp; make",
      "RUN export CC=clang; make",
      "RUN make install",
      'CMD ["sh"]',
      "",
    ].join("\n");
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(leakingCommands(output, "cd")).toEqual([]);
    expect(leakingCommands(output, "export")).toEqual([]);
  });

  test("a shell comment in a RUN that would need grouping or would come first is not merged", () => {
    const input = 'FROM alpine:3.20\nRUN make # build\nRUN make install\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(runs(output)).toEqual(runs(input));
    expect(refusalOf(report, "merge-runs")).toMatch(/shell comment/);
  });

  test("a Dockerfile comment inside a RUN's continuation stays a comment line", () => {
    const input =
      'FROM alpine:3.20\nRUN make \\\n# the tests\n    && make check\nRUN make install || true\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(output).toContain("\n# the tests\n");
  });

  test("the escape directive: backtick continuations are kept and lists grouped", () => {
    const input =
      '# escape=`\nFROM alpine:3.20\nRUN make `\n    && make check\nRUN make install || true\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    expect(output.startsWith("# escape=`\n")).toBe(true);
    expect(output).not.toMatch(/\\\n/);
  });

  test("RUNs with different --mount or --network flags are not merged", () => {
    for (const flags of ["--network=none", "--mount=type=cache,target=/root/.cache"]) {
      const input = `FROM alpine:3.20\nRUN make\nRUN ${flags} make install\nCMD ["sh"]\n`;
      const { output, report } = rewrite(input);
      expect(runs(output)).toEqual(runs(input));
      expect(refusalOf(report, "merge-runs")).toMatch(/different flags/);
    }
  });

  test("heredoc RUNs are not merged", () => {
    const input = 'FROM alpine:3.20\nRUN <<EOF\nmake || true\nEOF\nRUN make install\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expect(output).toContain("RUN <<EOF\nmake || true\nEOF\nRUN make install\n");
  });

  test("non-POSIX shells: powershell SHELL and Windows images are left alone", () => {
    const pwsh =
      'FROM debian:12\nSHELL ["pwsh", "-Command"]\nRUN make\nRUN make install; echo done\nCMD ["sh"]\n';
    const a = rewrite(pwsh);
    expect(runs(a.output)).toEqual(runs(pwsh));
    expect(refusalOf(a.report, "merge-runs")).toMatch(/uses pwsh/);
    const win =
      'FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN mkdir C:\\app\nRUN echo done\nCMD ["cmd"]\n';
    const b = rewrite(win);
    expect(runs(b.output)).toEqual(runs(win));
    expect(changed(b.report, "non-root-user")).toBe(false);
  });

  // From the corpus: Windows images named by their tag or by a Windows-only repository, whose RUNs
  // run in cmd or in the PowerShell their image sets as SHELL. Windows PowerShell 5.1 rejects `&&`,
  // and cmd expands %VAR% for the whole line before any command of a joined RUN runs.
  test.each([
    [
      "a windowsservercore tag (microsoft/aspnet sets SHELL powershell)",
      "FROM microsoft/aspnet:4.7.1-windowsservercore-1709\nWORKDIR /\nRUN $ProgressPreference = 'SilentlyContinue'; \\\n    Invoke-WebRequest https://dist.nuget.org/nuget.exe -OutFile \\Windows\\nuget.exe\n\nRUN md c:\\aspnet-startup\nCOPY . c:/aspnet-startup\n",
    ],
    [
      "an ARG-named .NET Framework image",
      'ARG REPO=mcr.microsoft.com/dotnet/framework/runtime\nFROM $REPO:4.7.2-windowsservercore-ltsc2016\nRUN setx /M PATH "%PATH%;C:\\tools"\nRUN tool --version\n',
    ],
    ["a nanoserver tag", "FROM golang:1.9-nanoserver\nRUN mkdir C:\\app\nRUN go version\n"],
    [
      "microsoft/iis",
      "FROM microsoft/iis\nRUN md c:\\build\nRUN powershell remove-item C:\\inetpub\\wwwroot\\iisstart.*\n",
    ],
  ])("Windows images named by tag or repository: RUNs are not merged (%s)", (_, input) => {
    const { output, report } = rewrite(input);
    expect(runs(output)).toEqual(runs(input));
    expect(changed(report, "merge-runs")).toBe(false);
  });

  test("no transform appends `&&` commands to a RUN under a PowerShell SHELL", () => {
    // StefanScherer/dockerfiles-windows fossa: npm-cache-clean added `&& npm cache clean --force`.
    const input =
      "FROM mcr.microsoft.com/dotnet/framework/sdk:4.8\n" +
      'SHELL ["powershell", "-Command", "$ErrorActionPreference = \'Stop\';"]\n' +
      "RUN choco install -y nodejs\nRUN npm install -g yarn\nRUN pip install requests\n";
    const { output } = rewrite(input);
    expect(runs(output)).toEqual(runs(input));
    const linux =
      'FROM mcr.microsoft.com/powershell:7.4-ubuntu-22.04\nSHELL ["pwsh", "-Command"]\nRUN apt-get update; apt-get install curl\nRUN npm install -g yarn\n';
    expect(runs(rewrite(linux).output)).toEqual(runs(linux));
  });

  test("ONBUILD RUNs are not merged (they run in child images)", () => {
    const input = 'FROM alpine:3.20\nONBUILD RUN make\nONBUILD RUN make install || true\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expect(output).toContain("ONBUILD RUN make\nONBUILD RUN make install || true\n");
  });
});

describe("apt-get-update-alone keeps a failing update fatal (defect 3)", () => {
  const cases: Array<[string, string]> = [
    ["an install followed by ;", "apt-get install -y curl; echo installed"],
    ["an install after ||", "false || apt-get install -y curl"],
    ["an install followed by ||", "apt-get install -y curl || echo failed"],
    ["an install in the middle of a ; list", "echo start; apt-get install -y curl; echo installed"],
    ["set -e before the install", "set -e; apt-get install -y curl; echo installed"],
    ["an install after &&", "echo start && apt-get install -y curl"],
    ["an install last in a ; list", "echo start; apt-get install -y curl"],
  ];
  for (const [name, script] of cases) {
    test(name, () => {
      const input = `FROM debian:12\nRUN apt-get update\nRUN ${script}\nCMD ["sh"]\n`;
      const { output, report } = rewrite(input);
      expect(changed(report, "apt-get-update-alone")).toBe(true);
      // The update moves next to the first install on purpose; whether it fails the build must not change.
      expectSameBehaviour(input, output, ["apt-get update"]);
      const trace = simulateBuild(output, new Set()).trace;
      expect(trace.indexOf("apt-get update")).toBeGreaterThanOrEqual(0);
      expect(trace.indexOf("apt-get update")).toBeLessThan(trace.indexOf("apt-get install"));
    });
  }

  test("`apt-get update` + `apt-get install -y curl; echo installed` groups the script", () => {
    const input =
      'FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl; echo installed\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expect(runs(output)).toEqual([
      "apt-get update && ( apt-get install -y --no-install-recommends curl ca-certificates; echo installed ) && rm -rf /var/lib/apt/lists/*",
    ]);
  });

  test("an install in a plain && chain takes the prefix in place", () => {
    const input =
      'FROM debian:12\nRUN apt-get update\nRUN echo start && apt-get install -y curl\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expect(runs(output)).toEqual([
      "echo start && apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*",
    ]);
  });

  test("a later RUN ending in a background job is refused", () => {
    const input = 'FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl &\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(output).toContain("RUN apt-get update\n");
    expect(refusalOf(report, "apt-get-update-alone")).toMatch(/background job/);
  });

  test("under a powershell SHELL the update stays alone", () => {
    const input =
      'FROM debian:12\nRUN apt-get update\nSHELL ["pwsh", "-Command"]\nRUN apt-get install -y curl\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(output).toContain("RUN apt-get update\n");
    expect(refusalOf(report, "apt-get-update-alone")).toMatch(/pwsh/);
  });

  test("an ONBUILD that uses apt keeps the update (merge-runs may still join it to the next RUN)", () => {
    const input =
      'FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\nONBUILD RUN apt-get install -y git\nCMD ["sh"]\n';
    const { output, report } = rewrite(input);
    expect(changed(report, "apt-get-update-alone")).toBe(false);
    expect(refusalOf(report, "apt-get-update-alone")).toMatch(/ONBUILD/);
    expect(runs(output)).toEqual([
      "apt-get update && apt-get install -y --no-install-recommends curl ca-certificates",
    ]);
    expectSameBehaviour(input, output);
  });

  test("a clean-up is not appended after a group that runs with set -e", () => {
    const input =
      'FROM debian:12\nRUN apt-get update\nRUN set -e; apt-get install -y curl; echo installed\nCMD ["sh"]\n';
    const { output } = rewrite(input);
    expect(runs(output)).toEqual([
      "apt-get update && ( set -e; apt-get install -y --no-install-recommends curl ca-certificates; echo installed )",
    ]);
  });
});

describe("non-root-user never switches the user of an image meant to be extended (defect 1)", () => {
  const noUser = (input: string, why: RegExp) => {
    const { output, report } = rewrite(input);
    expect(output).not.toMatch(/^USER /m);
    expect(refusalOf(report, "non-root-user")).toMatch(why);
  };

  test("FROM node:20 + RUN apt-get install, no CMD", () => {
    noUser("FROM node:20\nRUN apt-get update && apt-get install -y git\n", /meant to be extended/);
  });

  test("ONBUILD triggers", () => {
    noUser(
      'FROM node:20\nWORKDIR /app\nONBUILD COPY package.json ./\nONBUILD RUN npm install\nCMD ["node", "index.js"]\n',
      /ONBUILD triggers \(line 3\)/,
    );
  });

  test("a CMD only in another, unrelated stage does not count", () => {
    noUser(
      'FROM node:20 AS app\nCMD ["node", "index.js"]\n\nFROM node:20\nRUN npm install -g serve\n',
      /extended/,
    );
  });

  test("an entrypoint script", () => {
    noUser(
      'FROM node:20\nCOPY . /app\nCOPY docker-entrypoint.sh /\nENTRYPOINT ["/docker-entrypoint.sh"]\nCMD ["node", "/app/index.js"]\n',
      /entrypoint runs the script/,
    );
  });

  test("a Windows image", () => {
    noUser(
      'FROM node:20-windowsservercore-ltsc2022\nCOPY . /app\nCMD ["node", "/app/index.js"]\n',
      /Windows/,
    );
  });

  test("a final stage that already ends with USER is left as it is", () => {
    const input = 'FROM node:20\nCOPY . /app\nUSER node\nCMD ["node", "/app/index.js"]\n';
    const { report } = rewrite(input);
    expect(changed(report, "non-root-user")).toBe(false);
  });

  test("an app image with a CMD still gets USER after the last file write", () => {
    const input = 'FROM node:20\nWORKDIR /app\nCOPY . .\nCMD ["node", "index.js"]\n';
    const { output, report } = rewrite(input);
    expect(changed(report, "non-root-user")).toBe(true);
    expect(output).toMatch(/COPY \. \.\nUSER node\nCMD/);
  });
});

describe("ARG scope across FROM", () => {
  test("an ARG before FROM that a stage also reads is not moved or shadowed", () => {
    const input =
      'ARG NODE_VERSION=18\nFROM node:${NODE_VERSION}\nARG NODE_VERSION\nRUN echo "$NODE_VERSION" > /v\nCMD ["node"]\n';
    const { output } = rewrite(input);
    const model = parseSource(decodeSource(output));
    expect(model.stages[0].image?.expanded).toBe("node:18");
    expect(output).toMatch(/^ARG NODE_VERSION$/m);
    expect(runs(output)).toContain('echo "$NODE_VERSION" > /v');
  });

  test("add-args does not give a stage an ARG value it did not see before", () => {
    const input = 'FROM node:20\nRUN echo "v=$NODE_VERSION" > /v\nCMD ["node"]\n';
    const { output } = rewrite(input);
    const model = parseSource(decodeSource(output));
    // An ARG before FROM is only visible in a stage that declares it again.
    const stageArgs = model.stages[0].instructions.filter((i) => i.keyword === "ARG").map((i) => i.text);
    expect(stageArgs.filter((t) => /NODE_VERSION/.test(t))).toEqual([]);
    expect(model.stages[0].image?.expanded).toBe("node:20");
  });
});

describe("every shell tree in a rewrite reads cleanly", () => {
  test("no merged RUN puts && right after a list operator or inside a comment", () => {
    const input = [
      "FROM alpine:3.20",
      "RUN make || true",
      "RUN make check; echo checked",
      "RUN ! grep -q x /log",
      "RUN make install > /log 2>&1 || cat /log",
      'CMD ["sh"]',
      "",
    ].join("\n");
    const { output } = rewrite(input);
    expectSameBehaviour(input, output);
    const model = parseSource(decodeSource(output));
    for (const instr of model.instructions.filter((i) => i.keyword === "RUN")) {
      const script = shellOf(instr, model.text, model.escapeChar)!;
      expect(script.hasErrors).toBe(false);
      visit(script.root, (n) => {
        expect(n.type).not.toBe("comment");
      });
    }
  });
});

describe("names from the Dockerfile are text, never regular expressions", () => {
  test("an apt package named with regex characters neither crashes the file nor backtracks", () => {
    // split-stages built a RegExp from each package name: "a(b" threw (the whole file became an
    // internal error, its safe changes lost) and a name like "(a|a)*c" could backtrack.
    const input =
      'FROM node:20\nWORKDIR /app\nRUN apt-get update && apt-get install -y "a(b" "(a|aa)*c" curl\n' +
      'COPY package.json ./\nRUN npm install\nCOPY . .\nCMD ["node", "index.js"]\n';
    const { output } = rewrite(input, {
      "package.json": '{"name":"x","scripts":{"start":"node index.js"},"dependencies":{"express":"4"}}',
      "index.js": "console.log(1)\n",
    });
    expect(output).toContain('"a(b" "(a|aa)*c"');
  });
});
