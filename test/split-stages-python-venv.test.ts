/**
 * split-stages for Python apps that create their own virtualenv: the venv is reused
 * (same path, same ENV) in a python:<v>-slim runtime, or the rewrite is refused.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { folderContext, memoryContext } from "../src/io/context.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import { TRANSFORMS } from "../transforms/index.ts";

beforeAll(loadParsers);

const CTX = { "requirements.txt": "requests==2.32.3\n", "app.py": "import requests\n" };
const run = (text: string, files: Record<string, string> = CTX) =>
  optimizeFile(text, memoryContext(files), {
    transforms: [splitStages],
    options: { ...DEFAULT_OPTIONS },
  });
const refusal = (r: ReturnType<typeof run>) => r.refusals.map((x) => x.reason).join("\n");
const lines = (...l: string[]) => l.join("\n") + "\n";
/** The instructions of stage `i` of a rewritten file, as trimmed text. */
const stage = (text: string, i: number) =>
  parseDockerfile(text).stages[i].instructions.map((x) => x.text.trim());

const ownVenv = (
  venvRun: string,
  env: string[],
  install = "RUN pip install --no-cache-dir -r requirements.txt",
) =>
  lines(
    "FROM python:3.11",
    "WORKDIR /app",
    ...env.filter((e) => e.includes("VIRTUAL_ENV=") && !e.includes("PATH")),
    venvRun,
    ...env.filter((e) => !(e.includes("VIRTUAL_ENV=") && !e.includes("PATH"))),
    "COPY requirements.txt .",
    install,
    "COPY . .",
    'CMD ["python", "app.py"]',
  );

describe("own virtualenv: rewritten", () => {
  test("the e2e app: same venv path and ENV in a -slim runtime, all transforms, stable", () => {
    const dir = path.resolve(import.meta.dirname, "../fixtures/e2e/python-venv");
    const ctx = folderContext(dir);
    const text = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
    const r = optimizeFile(text, ctx, { transforms: TRANSFORMS });
    expect(r.error).toBeNull();
    expect(r.changes.map((c) => c.transform)).toContain("split-stages");
    const model = parseDockerfile(r.output);
    expect(model.stages).toHaveLength(2);
    expect(model.stages[1].image?.raw).toMatch(/^python:.*-slim$/);
    const rt = stage(r.output, 1);
    expect(rt).toContain("COPY --from=build /opt/venv /opt/venv");
    expect(rt).toContain('ENV PATH="/opt/venv/bin:$PATH"');
    // the transform's own /opt/venv creation is not added on top of the user's
    expect(r.output.match(/-m venv/g)).toHaveLength(1);
    expect(r.output).not.toMatch(/VIRTUAL_ENV/);
    expect(rt.indexOf("USER app")).toBe(rt.length - 2);
    expect(rt.at(-1)).toBe('CMD ["python", "-m", "wordstats"]');
    expect(r.output).not.toMatch(/--link|<</);
    expect(optimizeFile(r.output, ctx, { transforms: TRANSFORMS }).output).toBe(r.output);
  });

  test("python3 -m venv $VIRTUAL_ENV with PATH=$VIRTUAL_ENV/bin keeps both ENV lines in the runtime", () => {
    const r = run(
      ownVenv("RUN python3 -m venv $VIRTUAL_ENV", [
        "ENV VIRTUAL_ENV=/opt/py",
        'ENV PATH="$VIRTUAL_ENV/bin:$PATH"',
      ]),
    );
    expect(refusal(r)).toBe("");
    const rt = stage(r.output, 1);
    expect(rt).toContain("COPY --from=build /opt/py /opt/py");
    expect(rt.indexOf("ENV VIRTUAL_ENV=/opt/py")).toBeLessThan(
      rt.indexOf('ENV PATH="$VIRTUAL_ENV/bin:$PATH"'),
    );
    expect(stage(r.output, 0)).toContain("RUN python3 -m venv $VIRTUAL_ENV");
  });

  test("virtualenv X after `pip install virtualenv` into the system Python", () => {
    const text = lines(
      "FROM python:3.10-bookworm",
      "RUN pip install --no-cache-dir virtualenv",
      "RUN virtualenv /venv",
      "ENV PATH=/venv/bin:$PATH",
      "WORKDIR /code",
      "COPY . .",
      "RUN pip install -r requirements.txt",
      'CMD ["python", "app.py"]',
    );
    const r = run(text);
    expect(refusal(r)).toBe("");
    expect(parseDockerfile(r.output).stages[1].image?.raw).toBe("python:3.10-slim-bookworm");
    expect(stage(r.output, 1)).toContain("COPY --from=build /venv /venv");
    expect(run(r.output).output).toBe(r.output);
  });

  test("explicit /opt/venv/bin/pip without PATH; CMD uses the venv's python", () => {
    const text = lines(
      "FROM python:3.12",
      "WORKDIR /app",
      "COPY . .",
      "RUN python -m venv /opt/venv && /opt/venv/bin/python -m pip install -r requirements.txt",
      'CMD ["/opt/venv/bin/python", "app.py"]',
    );
    const r = run(text);
    expect(refusal(r)).toBe("");
    const rt = stage(r.output, 1);
    expect(rt).toContain("COPY --from=build /opt/venv /opt/venv");
    expect(rt.some((l) => l.startsWith("ENV"))).toBe(false);
  });

  test("a file without its own venv still gets the transform's /opt/venv", () => {
    const r = run(
      lines(
        "FROM python:3.11",
        "WORKDIR /app",
        "COPY . .",
        "RUN pip install -r requirements.txt",
        'CMD ["python", "app.py"]',
      ),
    );
    expect(r.output).toContain("RUN python -m venv /opt/venv\n");
    expect(stage(r.output, 1)).toContain('ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"');
  });
});

describe("own virtualenv: refused", () => {
  const cases: Array<[string, string, string]> = [
    [
      "relative path",
      ownVenv("RUN python -m venv venv", ['ENV PATH="/app/venv/bin:$PATH"']),
      "relative path venv",
    ],
    [
      "--system-site-packages",
      ownVenv("RUN python -m venv --system-site-packages /opt/venv", ["ENV PATH=/opt/venv/bin:$PATH"]),
      "--system-site-packages",
    ],
    [
      "Debian's interpreter",
      ownVenv("RUN /usr/bin/python3 -m venv /opt/venv", ["ENV PATH=/opt/venv/bin:$PATH"]),
      "/usr/bin/python3, an interpreter",
    ],
    [
      "another interpreter",
      ownVenv("RUN virtualenv -p python3.9 /opt/venv", ["ENV PATH=/opt/venv/bin:$PATH"]),
      "another interpreter",
    ],
    [
      "without pip",
      ownVenv("RUN python -m venv --without-pip /opt/venv", ["ENV PATH=/opt/venv/bin:$PATH"]),
      "without pip",
    ],
    ["not activated", ownVenv("RUN python -m venv /opt/venv", []), "installs into the image's own Python"],
    [
      "PATH reset after activation",
      ownVenv("RUN python -m venv /opt/venv", [
        "ENV PATH=/opt/venv/bin:$PATH",
        "ENV PATH=/usr/local/bin:$PATH",
      ]),
      "installs into the image's own Python",
    ],
    [
      "VIRTUAL_ENV elsewhere",
      ownVenv("RUN python -m venv /opt/venv", ["ENV VIRTUAL_ENV=/venv PATH=/opt/venv/bin:$PATH"]),
      "sets VIRTUAL_ENV to another folder",
    ],
    [
      "two venvs",
      ownVenv("RUN python -m venv /opt/a && python -m venv /opt/b", ["ENV PATH=/opt/a/bin:$PATH"]),
      "second virtualenv",
    ],
    [
      "venv inside the app folder",
      ownVenv("RUN python -m venv /app/.venv", ["ENV PATH=/app/.venv/bin:$PATH"]),
      "overlaps the virtualenv /app/.venv",
    ],
    [
      "pipenv with its own venv",
      ownVenv(
        "RUN python -m venv /opt/venv",
        ["ENV PATH=/opt/venv/bin:$PATH"],
        "RUN pip install pipenv && pipenv install --system",
      ),
      "pipenv together with",
    ],
    [
      "unknown venv path variable",
      ownVenv("RUN python -m venv $VENV", []),
      "variable the transform cannot resolve",
    ],
  ];
  test.each(cases)("%s", (_name, text, reason) => {
    const r = run(text);
    expect(r.changed).toBe(false);
    expect(r.output).toBe(text);
    expect(refusal(r)).toContain(reason);
  });

  test("the distribution's python3-venv installed on a python image", () => {
    const text = lines(
      "FROM python:3.11",
      "RUN apt-get update && apt-get install -y python3-venv",
      "RUN python3 -m venv /opt/venv",
      "ENV PATH=/opt/venv/bin:$PATH",
      "WORKDIR /app",
      "COPY . .",
      "RUN pip install -r requirements.txt",
      'CMD ["python", "app.py"]',
    );
    const r = run(text);
    expect(r.changed).toBe(false);
    expect(refusal(r)).toContain("installs the distribution's python3-venv");
  });

  test("a non-python base image with Debian's venv", () => {
    const text = lines(
      "FROM debian:bookworm",
      "RUN apt-get update && apt-get install -y python3-venv",
      "RUN python3 -m venv /opt/venv",
      "ENV PATH=/opt/venv/bin:$PATH",
      "WORKDIR /app",
      "COPY . .",
      "RUN pip install -r requirements.txt",
      'CMD ["python3", "app.py"]',
    );
    const r = run(text);
    expect(r.changed).toBe(false);
    expect(refusal(r)).toContain("unknown base image debian:bookworm for a Python app");
  });
});
