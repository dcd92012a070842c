import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { structuralProblems } from "../src/engine/check.ts";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { DEFAULT_OPTIONS } from "../src/engine/types.ts";
import { folderContext, memoryContext } from "../src/io/context.ts";
import { sdkImage } from "../transforms/split-stages/dotnet.ts";
import { splitStages } from "../transforms/split-stages/index.ts";
import { jdkMajor } from "../transforms/split-stages/java.ts";
import { binNames, runtimeLibraries, rustCodename } from "../transforms/split-stages/rust.ts";
import { fixtureCases } from "./fixture-cases.ts";
import { APPS_DIR } from "../scripts/split-apps-table.ts";

beforeAll(loadParsers);

const run = (
  text: string,
  c: { context: Parameters<typeof optimizeFile>[1]; options?: typeof DEFAULT_OPTIONS },
) => optimizeFile(text, c.context, { transforms: [splitStages], options: c.options ?? DEFAULT_OPTIONS });

// Cases that run split-stages alone (fixtures.test.ts runs the others with their transforms).
const cases = fixtureCases().filter(
  (c) =>
    c.transform === "split-stages" &&
    /^(go|java|rust|dotnet)-/.test(c.name) &&
    c.transforms.join() === "split-stages",
);

test("each compiled ecosystem has at least 4 rewrites and 4 refusals", () => {
  for (const eco of ["go", "java", "rust", "dotnet"]) {
    const mine = cases.filter((c) => c.name.startsWith(`${eco}-`));
    expect(mine.filter((c) => c.expected !== c.input).length, eco).toBeGreaterThanOrEqual(4);
    expect(mine.filter((c) => c.refusal).length, eco).toBeGreaterThanOrEqual(4);
  }
});

describe.each(cases.map((c) => [c.name, c] as const))("split-stages/%s", (_n, c) => {
  test("produces the expected output or refusal", () => {
    const result = run(c.input, c);
    expect(result.error).toBeNull();
    expect(result.output).toBe(c.expected);
    if (c.refusal) {
      expect(result.changed).toBe(false);
      expect(result.refusals.map((r) => r.reason).join("\n")).toContain(c.refusal);
    } else {
      expect(result.changes.length).toBe(1);
    }
  });

  test("is stable on its own output", () => {
    const again = run(c.expected, c);
    expect(again.output).toBe(c.expected);
    expect(again.changes).toEqual([]);
  });

  test("rewrite is two stages, parses, and adds no --link or heredoc", () => {
    if (c.expected === c.input) return;
    const model = parseDockerfile(c.expected);
    expect(model.stages.length).toBe(2);
    expect(model.stages[0].name).toMatch(/^build(er)?$/i);
    expect(structuralProblems(model)).toEqual(structuralProblems(parseDockerfile(c.input)));
    expect(c.expected).not.toMatch(/--link|<<-?\w/);
    // Every line of the original survives byte for byte somewhere (comments included), except the
    // build command when it is edited and the runtime lines rewritten to exec form.
    const out = new Set(c.expected.split("\n"));
    const lost = c.input
      .split("\n")
      .filter((l) => !out.has(l) && !/^(RUN|CMD|ENTRYPOINT|FROM)\b/i.test(l.trim()));
    expect(lost).toEqual([]);
    // Every COPY --from names the build stage.
    for (const i of model.stages[1].instructions) {
      const from = i.flags.find((f) => f.name === "from");
      if (from) expect(from.value).toBe(model.stages[0].name);
    }
  });
});

describe("version and name helpers", () => {
  test("JDK major from build images", () => {
    expect(jdkMajor("maven", "3.9-eclipse-temurin-17")).toBe(17);
    expect(jdkMajor("maven", "3.6.1-jdk-8")).toBe(8);
    expect(jdkMajor("maven", "3-amazoncorretto-21")).toBe(21);
    expect(jdkMajor("openjdk", "17-jdk-slim")).toBe(17);
    expect(jdkMajor("openjdk", "8u342-jdk")).toBe(8);
    expect(jdkMajor("gradle", "jdk17")).toBe(17);
    expect(jdkMajor("gradle", "8.5-jdk21-alpine")).toBe(21);
    expect(jdkMajor("eclipse-temurin", "21-jdk-jammy")).toBe(21);
    expect(jdkMajor("adoptopenjdk/openjdk11", "jdk-11.0.6_10-slim")).toBe(11);
    expect(jdkMajor("maven", null)).toBeNull();
    expect(jdkMajor("openjdk", "alpine")).toBeNull();
  });

  test("Debian release of rust images", () => {
    expect(rustCodename("rust", "1.85-slim-bookworm")).toBe("bookworm");
    expect(rustCodename("rust", "1.85")).toBe("bookworm");
    expect(rustCodename("rust", "1.63")).toBe("bullseye");
    expect(rustCodename("rust", "1.90")).toBe("trixie");
    expect(rustCodename("rust", "latest")).toBe("trixie");
    expect(rustCodename("rust", "1.85-alpine")).toBeNull();
    expect(rustCodename("pitkley/rust", "nightly")).toBeNull();
  });

  test(".NET runtime images follow the SDK repository and tag", () => {
    expect(sdkImage("mcr.microsoft.com/dotnet/sdk", "8.0")!.runtime("aspnet")).toBe(
      "mcr.microsoft.com/dotnet/aspnet:8.0",
    );
    expect(sdkImage("mcr.microsoft.com/dotnet/sdk", "8.0.204-bookworm")!.runtime("runtime")).toBe(
      "mcr.microsoft.com/dotnet/runtime:8.0-bookworm-slim",
    );
    expect(sdkImage("mcr.microsoft.com/dotnet/core/sdk", "2.2")!.runtime("aspnet")).toBe(
      "mcr.microsoft.com/dotnet/core/aspnet:2.2",
    );
    expect(sdkImage("microsoft/dotnet", "2.1-sdk")!.runtime("aspnet")).toBe(
      "microsoft/dotnet:2.1-aspnetcore-runtime",
    );
    expect(sdkImage("mcr.microsoft.com/dotnet/sdk", "latest")).toBeNull();
  });

  test("deprecated .NET image names map only to runtime images that were published", () => {
    const rt = (name: string, tag: string | null, kind: "aspnet" | "runtime" = "aspnet") =>
      sdkImage(name, tag)?.runtime(kind) ?? null;
    expect(rt("microsoft/aspnetcore-build", "1.1")).toBe("microsoft/aspnetcore:1.1");
    expect(rt("microsoft/aspnetcore-build", null)).toBe("microsoft/aspnetcore");
    expect(sdkImage("microsoft/aspnetcore-build", null)!.version).toBe("2.0");
    expect(rt("microsoft/aspnetcore-build", "1.0-2.0")).toBeNull();
    expect(rt("microsoft/aspnetcore-build", "2.1")).toBeNull();
    expect(rt("microsoft/dotnet", "2.0-sdk")).toBe("microsoft/aspnetcore:2.0");
    expect(rt("microsoft/dotnet", "1.1-sdk", "runtime")).toBe("microsoft/dotnet:1.1-runtime");
    expect(rt("microsoft/dotnet", "2.1-sdk-alpine")).toBe("microsoft/dotnet:2.1-aspnetcore-runtime-alpine");
    expect(rt("microsoft/dotnet", "2.2-sdk-stretch", "runtime")).toBe(
      "microsoft/dotnet:2.2-runtime-stretch-slim",
    );
    expect(rt("microsoft/dotnet", "2.0-sdk-stretch")).toBeNull();
    expect(rt("microsoft/dotnet", "2.2-sdk-buster")).toBeNull();
    expect(rt("microsoft/dotnet", "3.0-sdk")).toBeNull();
    expect(rt("mcr.microsoft.com/dotnet/core/sdk", "3.1-buster")).toBe(
      "mcr.microsoft.com/dotnet/core/aspnet:3.1-buster-slim",
    );
    expect(rt("mcr.microsoft.com/dotnet/core/sdk", "5.0")).toBeNull();
    expect(rt("mcr.microsoft.com/dotnet/core/sdk", "2.0")).toBeNull();
  });

  test("Cargo binaries and runtime libraries", () => {
    expect(binNames('[package]\nname = "a-b"\n')).toEqual({ names: ["a-b"], workspace: false });
    expect(
      binNames('[package]\nname = "x"\n\n[[bin]]\nname = "srv" # server\n[[bin]]\nname = "cli"\n').names,
    ).toEqual(["srv", "cli"]);
    expect(binNames('[workspace]\nmembers = ["a"]\n').workspace).toBe(true);
    const lock = '[[package]]\nname = "openssl-sys"\n[[package]]\nname = "pq-sys"\n';
    expect(runtimeLibraries("", lock, "bookworm")).toEqual(["ca-certificates", "libssl3", "libpq5"]);
    expect(runtimeLibraries("", lock, "trixie")).toContain("libssl3t64");
    expect(
      runtimeLibraries(
        '[dependencies]\nreqwest = { version = "0.12", default-features = false, features = ["rustls-tls"] }\n',
        undefined,
        "bookworm",
      ),
    ).toEqual(["ca-certificates"]);
    expect(runtimeLibraries('[dependencies]\nserde = "1"\n', undefined, "bookworm")).toEqual([]);
  });
});

describe("Go: the standard library is compiled before the sources are copied", () => {
  const context = memoryContext({
    "go.mod": "module example.com/api\n\ngo 1.22\n",
    "main.go": 'package main\n\nimport "net/http"\n\nfunc main() { _ = http.ListenAndServe(":8080", nil) }\n',
  });
  const rewrite = (...lines: string[]) => {
    const result = run([...lines, 'CMD ["/bin/api"]', ""].join("\n"), { context });
    expect(result.changes.map((c) => c.transform)).toEqual(["split-stages"]);
    return result.output;
  };
  const warmLine = (out: string) => out.split("\n").find((l) => / std$/.test(l)) ?? null;

  test("with the build's environment and compile flags, above the comments of the source COPY", () => {
    const out = rewrite(
      "FROM golang:1.22",
      "WORKDIR /src",
      "# the sources",
      "COPY . .",
      "ENV GOOS=linux",
      'RUN export GOARCH=amd64 && GOAMD64=v2 go build -tags netgo -trimpath -gcflags=-N -ldflags="-s -X main.v=$V" -o /bin/api .',
    );
    expect(out).toContain(
      "WORKDIR /src\nRUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v2 go build -tags netgo -trimpath std\n# the sources\nCOPY . .\n",
    );
    expect(out.split("\n").filter((l) => l.startsWith("RUN ")).length).toBe(2);
  });

  test("after the manifests' layer, before the COPY of the sources", () => {
    const out = rewrite(
      "FROM golang:1.21-alpine",
      "WORKDIR /src",
      "COPY go.mod ./",
      "RUN go mod download",
      "COPY . .",
      "RUN CGO_ENABLED=0 go build -gcflags=all=-l -o /bin/api .",
    );
    expect(out).toContain("RUN go mod download\nRUN CGO_ENABLED=0 go build -gcflags=all=-l std\nCOPY . .\n");
  });

  test.each([
    ["`-a` compiles everything anyway", "RUN CGO_ENABLED=0 go build -a -installsuffix cgo -o /bin/api ."],
    ["GOARCH from a build ARG", "ARG TARGETARCH", "RUN GOARCH=$TARGETARCH go build -o /bin/api ."],
    ["a build ARG the go command reads", "ARG GOARCH=arm64", "RUN go build -o /bin/api ."],
    ["GOFLAGS", "ENV GOFLAGS=-mod=mod", "RUN go build -o /bin/api ."],
    ["`go env -w`", "RUN go env -w GOAMD64=v3", "RUN go build -o /bin/api ."],
    [
      "a variable exported in the build RUN",
      "ARG TARGETARCH",
      "RUN export GOARCH=$TARGETARCH && go build -o /bin/api .",
    ],
    ["another user builds", "USER nobody", "RUN go build -o /bin/api ."],
    ["the race detector", "RUN go build -race -o /bin/api ."],
    ["a cgo build (its standard library is shipped compiled)", "RUN CGO_ENABLED=1 go build -o /bin/api ."],
  ])("not when the build's cache cannot be told from the file: %s", (_why, ...build) => {
    const text = ["FROM golang:1.22", "WORKDIR /src", "COPY . .", ...build, 'CMD ["/bin/api"]', ""].join(
      "\n",
    );
    const result = run(text, { context });
    expect(result.refusals).toEqual([]);
    expect(result.output).toContain("FROM gcr.io/distroless/");
    expect(warmLine(result.output)).toBeNull();
  });

  test("not before Go 1.10, which has no build cache", () => {
    expect(
      warmLine(rewrite("FROM golang:1.9", "WORKDIR /src", "COPY . .", "RUN go build -o /bin/api .")),
    ).toBeNull();
    expect(
      warmLine(rewrite("FROM golang:1.10", "WORKDIR /src", "COPY . .", "RUN go build -o /bin/api .")),
    ).toBe("RUN CGO_ENABLED=0 go build std");
  });
});

// Real apps (Dockerfile + manifests) of the compiled ecosystems: outcome per app.
const APPS = APPS_DIR;
const EXPECTED_APPS: Record<string, "converted" | "refused"> = {
  "206081__Trello": "refused",
  "Capstone-Kelompok-11__local-art-and-culture-be": "converted",
  "ElizavetaRachkova2002__Controller-Docker": "converted",
  "Wjatscheslav__docker-counter": "converted",
  aherve__giflichess: "converted",
  "alanedwardes__Estranged.Automation": "refused",
  "atomist-seeds__dotnet-core-service": "converted",
  brndnmtthws__labhub: "converted",
  "common-workflow-language__cwlviewer": "refused",
  creack__sink: "converted",
  "dev-fritz__crabmanager": "converted",
  devmattrick__emotesbot: "refused",
  "dunnock__poloniex-api-rs": "refused",
  "endofcake__go-todo-rest-api-example": "refused",
  guccialex__singlegame: "refused",
  "ivanpaulovich__dotnet-new-on-the-web": "converted",
  lanwen__juseppe: "converted",
  n3phtys__krese: "converted",
  "overture-stack__ego": "refused",
  "paddycarey__go-echo": "converted",
  "paq1__sutom-api": "converted",
  "pceric__kafka-offset-lag-for-prometheus": "refused",
  "quentinadam__bitcoin-indexer": "refused",
  "raiesbo__url-minifier": "converted",
  "umutozer__tech-retail-hub": "refused",
  zero71st__myweb: "refused",
};

describe.skipIf(!fs.existsSync(path.join(APPS, "SOURCES.tsv")))("corpus apps", () => {
  const rows = fs.existsSync(path.join(APPS, "SOURCES.tsv"))
    ? fs
        .readFileSync(path.join(APPS, "SOURCES.tsv"), "utf8")
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split("\t"))
        .filter((r) => /^(go|java|rust|dotnet)/.test(r[5]))
    : [];
  test.each(rows.map((r) => [r[0], r] as const))("%s", (dir, r) => {
    const dockerfile = path.join(APPS, dir, r[3]);
    const context = folderContext(path.join(APPS, dir, r[4]));
    const input = fs.readFileSync(dockerfile, "utf8");
    const result = run(input, { context });
    expect(result.error).toBeNull();
    expect(result.changed ? "converted" : "refused").toBe(EXPECTED_APPS[dir]);
    if (!result.changed) {
      expect(result.refusals.length).toBeGreaterThan(0);
      if (Number(r[7]) > 1) expect(result.refusals[0].reason).toMatch(/already multi-stage/);
      return;
    }
    const model = parseDockerfile(result.output);
    expect(model.stages.length).toBe(2);
    expect(structuralProblems(model)).toEqual([]);
    expect(run(result.output, { context }).output).toBe(result.output);
  });
});
