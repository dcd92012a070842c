import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers, optimizeFile } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { memoryContext } from "../src/io/context.ts";
import { transformById } from "../transforms/index.ts";
import { lowPort } from "../transforms/lib/ports.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import { fixtureCases } from "./fixture-cases.ts";

beforeAll(loadParsers);

/** `lowPort` of the only stage of `lines`. */
const low = (...lines: string[]) => {
  const model = parseDockerfile(["FROM debian:bookworm", ...lines, ""].join("\n"));
  return lowPort(model, model.stages[0].instructions);
};

describe("lowPort: where a file names a port below 1024", () => {
  test.each([
    [["EXPOSE 443/tcp"], 443, "EXPOSE 443"],
    [["ENV PORT=80"], 80, "ENV PORT=80"],
    [["ENV PORT 80"], 80, "ENV PORT=80"],
    [['ENV HTTP_PORT="443"'], 443, "ENV HTTP_PORT=443"],
    [["ENV LISTEN_ADDR=0.0.0.0:80"], 80, "ENV LISTEN_ADDR=0.0.0.0:80"],
    [["ARG PORT=80"], 80, "ARG PORT=80"],
    [["ARG APP_PORT=80", "ENV PORT=$APP_PORT"], 80, "ARG APP_PORT=80"],
    [["ARG P=80", "ENV PORT=${P}"], 80, "ENV PORT=80"],
    [["ENV PORT=${PORT:-80}"], 80, "ENV PORT=80"],
    [['CMD ["./app", "-addr", ":80"]'], 80, "`-addr :80` in the start command"],
    [['CMD ["./app", "--listen-addr=:80"]'], 80, "`--listen-addr=:80` in the start command"],
    [['CMD ["java", "-Dserver.port=80", "-jar", "app.jar"]'], 80, "`-Dserver.port=80` in the start command"],
    [['CMD ["java", "-jar", "app.jar", "--server.port=80"]'], 80, "`--server.port=80` in the start command"],
    [['CMD ["server", "-p", "80"]'], 80, "`-p 80` in the start command"],
    [["CMD ./server --port 25"], 25, "`--port 25` in the start command"],
    [
      ['CMD ["sh", "-c", "migrate && exec ./app --bind [::]:80"]'],
      80,
      "`--bind [::]:80` in the start command",
    ],
    [['ENTRYPOINT ["./app"]', 'CMD ["0.0.0.0:80"]'], 80, "`0.0.0.0:80` in the start command"],
  ])("%j → %i (%s)", (lines, port, where) => {
    expect(low(...lines)).toEqual({ port, where });
  });

  test.each([
    [["EXPOSE 8080", "ENV PORT=8080"]],
    [['CMD ["./app", "-addr", ":8080"]']],
    [["ENV TIMEOUT=80", "ENV PORTS_FILE=/etc/80"]],
    // a global ARG is not seen inside the stage unless declared there
    [["ENV PORT=$PORT", 'CMD ["./app"]']],
    // a port the shell expands at run time is not known
    [["CMD ./app --port $PORT"]],
    [['CMD ["./app", "--workers", "4", "-v", "2"]']],
  ])("%j → none", (lines) => {
    expect(low(...lines)).toBeNull();
  });
});

describe("every planner that changes the user keeps root for a port below 1024 (one decision)", () => {
  const rewrite = (text: string, files: Record<string, string>, id = "split-stages") =>
    optimizeFile(text, memoryContext(files), {
      transforms: [id === "split-stages" ? splitStages : transformById(id)!],
      options: DEFAULT_OPTIONS,
    });
  const goFiles = {
    "go.mod": "module example.com/api\n\ngo 1.22\n",
    "main.go": 'package main\n\nimport "net/http"\n\nfunc main() { _ = http.ListenAndServe(":80", nil) }\n',
  };
  const go = (...tail: string[]) =>
    [
      "FROM golang:1.22",
      "WORKDIR /src",
      "COPY . .",
      "RUN CGO_ENABLED=0 go build -o /bin/api .",
      ...tail,
      "",
    ].join("\n");
  const rustFiles = {
    "Cargo.toml": '[package]\nname = "server"\nversion = "0.1.0"\nedition = "2021"\n',
    "Cargo.lock": "version = 3\n",
    "src/main.rs": "fn main() {}\n",
  };
  const rust = (...tail: string[]) =>
    ["FROM rust:1.85-bookworm", "WORKDIR /src", "COPY . .", "RUN cargo build --release", ...tail, ""].join(
      "\n",
    );

  test.each([
    ["ENV PORT=80, no EXPOSE", ["ENV PORT=80", 'CMD ["/bin/api"]']],
    ["ARG default in ENV", ["ARG PORT=80", "ENV PORT=$PORT", 'CMD ["/bin/api"]']],
    ["-addr :80", ['CMD ["/bin/api", "-addr", ":80"]']],
    ["--port in the CMD after ENTRYPOINT", ['ENTRYPOINT ["/bin/api"]', 'CMD ["--port", "80"]']],
  ])("Go, %s: distroless without :nonroot, and the reason", (_n, tail) => {
    const r = rewrite(go(...tail), goFiles);
    expect(r.changes.map((c) => c.transform)).toEqual(["split-stages"]);
    expect(r.output).toContain("FROM gcr.io/distroless/static-debian12\n");
    expect(r.output).not.toMatch(/nonroot|^USER /m);
    expect(r.changes[0].message).toMatch(/runs as root like the original: .* is a port below 1024/);
  });

  test("Go on a high port still runs as nonroot", () => {
    const r = rewrite(go("ENV PORT=8080", 'CMD ["/bin/api", "-addr", ":8080"]'), goFiles);
    expect(r.output).toContain("FROM gcr.io/distroless/static-debian12:nonroot\n");
    expect(r.changes[0].message).not.toMatch(/runs as root/);
  });

  test.each([
    ["debian", {}],
    ["distroless", { runtimeFlavour: "distroless" as const }],
  ])("Rust (%s), ENV ROCKET_PORT=80: no app user, no :nonroot", (_n, options) => {
    const text = rust("ENV ROCKET_PORT=80", 'CMD ["/src/target/release/server"]');
    const r = optimizeFile(text, memoryContext(rustFiles), {
      transforms: [splitStages],
      options: { ...DEFAULT_OPTIONS, ...options },
    });
    expect(r.changes.map((c) => c.transform)).toEqual(["split-stages"]);
    expect(r.output).not.toMatch(/nonroot|^USER |useradd/m);
    expect(r.changes[0].message).toContain(
      "runs as root like the original: ENV ROCKET_PORT=80 is a port below 1024",
    );
  });

  test("non-root-user: no USER when the start command binds port 80, with the reason", () => {
    const r = rewrite(
      'FROM node:20\nWORKDIR /app\nCOPY . .\nCMD ["node", "server.js", "--port", "80"]\n',
      {},
      "non-root-user",
    );
    expect(r.output).not.toMatch(/^USER /m);
    expect(r.refusals.map((x) => x.reason).join("\n")).toContain(
      "`--port 80` in the start command is a port below 1024, which a non-root user could not bind",
    );
    const high = rewrite(
      'FROM node:20\nWORKDIR /app\nCOPY . .\nCMD ["node", "server.js", "--port", "8080"]\n',
      {},
      "non-root-user",
    );
    expect(high.output).toMatch(/^USER node$/m);
  });

  test("every split-stages fixture without its own USER: root exactly when lowPort names a port", () => {
    const cases = fixtureCases().filter(
      (c) =>
        c.transform === "split-stages" &&
        c.transforms.join() === "split-stages" &&
        c.expected !== c.input &&
        // the planners that choose the user (web-root keeps the web server's own, which starts as root)
        /^(?:go|java|rust|dotnet|node|python)-/.test(c.name),
    );
    expect(cases.length).toBeGreaterThan(50);
    let lowCases = 0;
    for (const c of cases) {
      const before = parseDockerfile(c.input);
      if (before.stages.length !== 1 || before.stages[0].instructions.some((i) => i.keyword === "USER"))
        continue;
      const after = parseDockerfile(c.expected);
      const runtime = after.stages.at(-1)!;
      const nonRoot =
        runtime.instructions.some(
          (i) => i.keyword === "USER" && !/^(?:root|0)(?::|$)/.test(i.args[0]?.value ?? ""),
        ) || /:nonroot$|^cgr\.dev\//.test(runtime.image?.raw ?? "");
      if (after.stages.length < 2) continue;
      const lowAt = lowPort(before, before.stages[0].instructions);
      if (lowAt) lowCases++;
      // .NET also knows the port ASP.NET listens on by default (80 before .NET 8): root there too
      if (c.name.startsWith("dotnet-") && !lowAt) continue;
      // a --verify rung that keeps the original's user (root) whatever the port
      if (c.options.perTransform["split-stages"]?.runtimeUser === "original") continue;
      expect(nonRoot, `${c.name}: ${lowAt?.where ?? "no low port"}`).toBe(lowAt === null);
    }
    expect(lowCases).toBeGreaterThanOrEqual(4);
  });
});
