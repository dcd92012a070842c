import { stageReferences } from "../src/engine/check.ts";
import type { DockerfileModel, Instr, Stage } from "../src/engine/parse.ts";
import type { ShellCommand } from "../src/engine/shell.ts";
import type { Change, Refusal, Transform } from "../src/engine/types.ts";
import { parentStage, stageByReference } from "./lib/stages.ts";
import { finalImageStages, runScripts, toolCall } from "./pkg/shell-edits.ts";

/**
 * A stage that runs the project's tests, which the final stage does not
 * depend on, is skipped by BuildKit (and by buildah): only the stages the
 * target needs are built, so a failing test ships. The repair bases the build
 * stage on the test stage (`FROM test AS build`), which is what the author of
 * such a file meant: tests pass before anything is built.
 */

/** Instructions of a test stage that a stage built FROM it would inherit and behave differently under. */
const INHERITED = new Set(["ENV", "USER", "SHELL", "ONBUILD", "VOLUME"]);

const NODE_RUNNERS = new Set(["npm", "yarn", "pnpm", "bun"]);

/** The test command a shell command runs (`npm test`, `go test ./...`), or null. */
export function testCommand(cmd: ShellCommand, rs: Parameters<typeof toolCall>[0]): string | null {
  const call = toolCall(rs, cmd);
  if (!call) return null;
  const words = call.words.map((w) => w.value);
  const sub = call.sub?.value ?? null;
  const tool = call.tool;
  if (NODE_RUNNERS.has(tool)) {
    if (sub === "test" || sub === "t" || sub === "tst") return `${tool} test`;
    if (sub === "run" || sub === "run-script") {
      const script = words[call.subIndex + 1];
      if (script && /^test(?::|$)/.test(script)) return `${tool} run ${script}`;
    }
    return null;
  }
  if (tool === "go" && sub === "test") return "go test";
  if (tool === "cargo" && sub === "test") return "cargo test";
  if (tool === "dotnet" && sub === "test") return "dotnet test";
  if (tool === "pytest" || tool === "py.test") return "pytest";
  if (/^python[0-9.]*$/.test(tool) && words[1] === "-m" && (words[2] === "pytest" || words[2] === "unittest"))
    return `python -m ${words[2]}`;
  if (tool === "mvn" || tool === "mvnw") {
    const goal = words.slice(1).find((w) => w === "test" || w === "verify");
    return goal ? `mvn ${goal}` : null;
  }
  if (tool === "gradle" || tool === "gradlew") {
    const task = words.slice(1).find((w) => w === "test" || w === "check");
    return task ? `gradle ${task}` : null;
  }
  return null;
}

/** The first test command a stage's RUNs run, with its line. */
function stageTest(model: DockerfileModel, stage: Stage): { command: string; line: number } | null {
  for (const rs of runScripts(model, stage.instructions)) {
    for (const cmd of rs.script.commands) {
      const command = testCommand(cmd, rs);
      if (command) return { command, line: rs.instr.line };
    }
  }
  return null;
}

/** The stages `target` needs to be built: its FROM chain and every `--from` stage, transitively. */
function neededStages(model: DockerfileModel, target: Stage): Set<number> {
  const needed = new Set<number>();
  const queue = [target];
  while (queue.length > 0) {
    const stage = queue.pop()!;
    if (needed.has(stage.index)) continue;
    needed.add(stage.index);
    const parent = parentStage(model, stage);
    if (parent) queue.push(parent);
    for (const instr of stage.instructions) {
      for (const ref of stageReferences(instr)) {
        const s = stageByReference(model, ref, stage.index);
        if (s) queue.push(s);
      }
    }
  }
  return needed;
}

/** What a stage starts from: an earlier stage of this file, or a base image known statically. */
function baseKey(model: DockerfileModel, stage: Stage): string | null {
  const parent = parentStage(model, stage);
  if (parent) return `stage ${parent.index}`;
  const img = stage.image;
  if (!img || /\$/.test(img.expanded)) return null;
  return img.expanded.toLowerCase();
}

function flagsText(model: DockerfileModel, from: Instr): string {
  return from.flags.map((f) => model.text.slice(f.start, f.end)).join(" ");
}

function unusedStageName(model: DockerfileModel, wanted: string): string {
  const taken = new Set(model.stages.map((s) => s.name?.toLowerCase()));
  if (!taken.has(wanted)) return wanted;
  for (let n = 2; ; n++) if (!taken.has(`${wanted}-${n}`)) return `${wanted}-${n}`;
}

export const testStage: Transform = {
  id: "test-stage",
  description:
    "Make the build depend on a test stage that BuildKit would otherwise skip (FROM test AS build)",
  rationale:
    "BuildKit (and buildah) build only the stages the target depends on, so a stage that runs `npm test`, " +
    "`go test`, `pytest`, `mvn verify` ... but that nothing copies from is never run, and a failing test ships. " +
    "The repair bases the first build stage the image needs on the test stage (`FROM test AS build`): tests " +
    "run before the build, and the build stage gets the test stage's WORKDIR and installed dependencies. It is " +
    "made only when both stages start from the same base image or stage, the build stage's files reach the image only " +
    "through COPY --from, and the test stage sets nothing a stage built from it would inherit and behave " +
    "differently under (ENV, USER, SHELL, ONBUILD, VOLUME); otherwise it is refused with the reason. Files the " +
    "tests leave behind stay in the build stage and never reach the image. A build that picks another stage " +
    "with `--target` is not seen from the Dockerfile.",
  applicability: "unsafe",
  applicabilityNote:
    "The build now runs the tests first, so a failing test fails the build, and the build stage starts from the " +
    "test stage's files and WORKDIR instead of the bare base image.",
  run({ model }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    if (model.stages.length < 2) return { changes, refusals };
    const final = model.stages[model.stages.length - 1];
    const needed = neededStages(model, final);
    const chain = finalImageStages(model);
    for (const test of model.stages) {
      if (needed.has(test.index)) continue;
      const found = stageTest(model, test);
      if (!found) continue;
      const label = test.name ?? `stage ${test.index}`;
      const refuse = (why: string) =>
        refusals.push({
          line: test.from.line,
          reason: `test stage ${label} (${found.command}, line ${found.line}) is never built: ${why}`,
        });
      const base = baseKey(model, test);
      if (base === null) {
        refuse("its base image is not known statically");
        continue;
      }
      const inherited = test.instructions.find((i) => INHERITED.has(i.keyword));
      if (inherited) {
        refuse(`a stage built FROM it would inherit its ${inherited.keyword} (line ${inherited.line})`);
        continue;
      }
      const builds = model.stages.filter(
        (s) =>
          s.index > test.index && needed.has(s.index) && !chain.has(s.index) && baseKey(model, s) === base,
      );
      if (builds.length === 0) {
        const parent = parentStage(model, test);
        if (parent && needed.has(parent.index)) {
          refuse(
            `it is built FROM stage ${parent.name ?? parent.index}, which the image uses; copying from the ` +
              "test stage instead would carry the files the tests write",
          );
          continue;
        }
        const others = model.stages
          .filter((s) => s.index > test.index && needed.has(s.index) && !chain.has(s.index))
          .map((s) => s.image?.expanded ?? "?");
        refuse(
          `no build stage the image needs starts from ${test.image!.expanded} and reaches the image only ` +
            "through COPY --from" +
            (others.length > 0 ? ` (they start from ${[...new Set(others)].join(", ")})` : ""),
        );
        continue;
      }
      const build = builds[0];
      if (flagsText(model, build.from) !== flagsText(model, test.from)) {
        refuse(`FROM flags of ${build.name ?? `stage ${build.index}`} and ${label} differ`);
        continue;
      }
      const testName = test.name ?? unusedStageName(model, "test");
      const edits = [{ start: build.image!.rawSpan.start, end: build.image!.rawSpan.end, text: testName }];
      if (test.name === null) {
        const end = test.image!.rawSpan.end;
        const as = test.from.keywordText === test.from.keywordText.toLowerCase() ? "as" : "AS";
        edits.push({ start: end, end, text: ` ${as} ${testName}` });
      }
      changes.push({
        edits,
        line: build.from.line,
        message:
          `base ${build.name ?? `stage ${build.index}`} on test stage ${testName} so its tests ` +
          `(${found.command}) run before the build; BuildKit skipped it because nothing used it`,
      });
    }
    return { changes, refusals };
  },
};
