import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile, setCheckDeclaredReads } from "../src/engine/engine.ts";
import type { Transform } from "../src/engine/types.ts";
import { emptyContext, folderContext } from "../src/io/context.ts";
import { TRANSFORMS, transformById } from "../transforms/index.ts";
import { CORPUS, corpusAvailable, corpusFiles } from "./corpus-check.ts";

beforeAll(loadParsers);
afterEach(() => setCheckDeclaredReads(false));

/** `transform`, counting its runs; `reads` replaced when given (null: drop the declaration). */
function counted(transform: Transform, reads?: readonly string[] | null) {
  const counter = { runs: 0 };
  const wrapped: Transform = {
    ...transform,
    reads: reads === null ? undefined : (reads ?? transform.reads),
    run: (input) => {
      counter.runs++;
      return transform.run(input);
    },
  };
  return { transform: wrapped, counter };
}

const byId = (id: string) => transformById(id)!;

const NODE_APP =
  'FROM node:20.11.1\nRUN apt-get update && apt-get install -y curl\nCMD ["node", "server.js"]\n';

describe("a transform that declares what it reads", () => {
  test("is not run again after add-args rewrites a FROM it reads only expanded", () => {
    const declared = counted(byId("apt-get-yes"));
    const undeclared = counted(byId("apt-get-yes"), null);
    expect(declared.transform.reads).toEqual(["RUN", "SHELL"]);
    const withReads = optimizeFile(NODE_APP, emptyContext, {
      transforms: [declared.transform, byId("add-args")],
    });
    const without = optimizeFile(NODE_APP, emptyContext, {
      transforms: [undeclared.transform, byId("add-args")],
    });
    expect(withReads.output).toContain("ARG NODE_VERSION=20.11.1\nFROM node:${NODE_VERSION}\n");
    expect(withReads.output).toBe(without.output);
    // run 1 finds nothing to change; add-args then edits the FROM, which a second run confirms or not
    expect(undeclared.counter.runs).toBe(2);
    expect(declared.counter.runs).toBe(1);
  });

  test("runs again when an instruction it reads changed", () => {
    // curl-flags edits the RUN after apt-get-yes saw it: apt-get-yes must look again
    const declared = counted(byId("apt-get-yes"));
    const text = "FROM debian:12\nRUN apt-get install -y curl && curl -o /x https://example.com/x\n";
    optimizeFile(text, emptyContext, { transforms: [declared.transform, byId("curl-flags")] });
    expect(declared.counter.runs).toBe(2);
  });

  test("a declaration that leaves out what the transform reads is caught by the check", () => {
    // Appends --prod to the RUN once `ENV MODE=prod` is set, but declares that it reads RUN only.
    const reader: Transform = {
      id: "reads-env-undeclared",
      description: "test transform",
      applicability: "safe",
      reads: ["RUN"],
      run({ model }) {
        const prod = model.instructions.some((i) => i.keyword === "ENV" && i.text.includes("MODE=prod"));
        const run = model.instructions.find((i) => i.keyword === "RUN");
        if (!prod || !run || run.text.endsWith("--prod")) return { changes: [], refusals: [] };
        return {
          changes: [
            { line: run.line, message: "prod", edits: [{ start: run.end, end: run.end, text: " --prod" }] },
          ],
          refusals: [],
        };
      },
    };
    const setsProd: Transform = {
      id: "sets-prod",
      description: "test transform",
      applicability: "safe",
      run({ model }) {
        const env = model.instructions.find((i) => i.keyword === "ENV" && i.text.includes("MODE=dev"));
        if (!env) return { changes: [], refusals: [] };
        const at = env.start + env.text.indexOf("dev");
        return {
          changes: [{ line: env.line, message: "prod", edits: [{ start: at, end: at + 3, text: "prod" }] }],
          refusals: [],
        };
      },
    };
    const text = "FROM debian:12\nENV MODE=dev\nRUN ./build.sh\n";
    const settings = { transforms: [reader, setsProd] };
    // trusted, the declaration makes the engine skip the run that would have added --prod
    expect(optimizeFile(text, emptyContext, settings).output).toBe(
      "FROM debian:12\nENV MODE=prod\nRUN ./build.sh\n",
    );
    setCheckDeclaredReads(true);
    expect(() => optimizeFile(text, emptyContext, settings)).toThrow(
      /reads-env-undeclared declares reads \[RUN\] but changed/,
    );
  });

  test("a file with suppression comments is always read again (a suppression names lines)", () => {
    const declared = counted(byId("apt-get-yes"));
    const text = `# hadolint ignore=DL3008\n${NODE_APP}`;
    const result = optimizeFile(text, emptyContext, { transforms: [declared.transform, byId("add-args")] });
    expect(result.output).toContain("FROM node:${NODE_VERSION}");
    expect(declared.counter.runs).toBe(2);
  });
});

describe.runIf(corpusAvailable)("declared reads on the corpus", () => {
  test("every 8th file: the same output and reports with and without the declarations, and fewer runs", () => {
    const files = corpusFiles().filter((_, i) => i % 8 === 0);
    // (test/corpus-check.ts runs every file with the check on)
    const context = folderContext(CORPUS);
    for (const safeOnly of [false, true]) {
      const runs = { declared: 0, undeclared: 0 };
      const wrap = (reads: boolean) =>
        TRANSFORMS.map((t) => {
          const c = counted(t, reads ? undefined : null);
          return {
            ...c.transform,
            run: (i: Parameters<Transform["run"]>[0]) => (
              runs[reads ? "declared" : "undeclared"]++,
              t.run(i)
            ),
          };
        });
      const declared = wrap(true);
      const undeclared = wrap(false);
      const differ: string[] = [];
      for (const f of files) {
        const raw = fs.readFileSync(path.join(CORPUS, f), "utf8");
        const a = optimizeFile(raw, context, { transforms: declared, safeOnly });
        const b = optimizeFile(raw, context, { transforms: undeclared, safeOnly });
        if (JSON.stringify(a) !== JSON.stringify(b)) differ.push(f);
        expect(a.error?.kind).not.toBe("internal");
      }
      expect(differ).toEqual([]);
      expect(runs.declared).toBeLessThan(runs.undeclared);
    }
  });
});
