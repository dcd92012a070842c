import { describe, expect, test } from "vitest";
import { memoryContext, emptyContext } from "../src/io/context.ts";
import { IMAGES } from "../transforms/catalog/images.ts";
import {
  declaredVersions,
  nodeLineFor,
  npmRange,
  pep440Range,
  pythonLineFor,
} from "../transforms/lib/declared-versions.ts";

const pkg = (engines: string) => JSON.stringify({ name: "app", engines: { node: engines } });
const declared = (files: Record<string, string>) => declaredVersions(memoryContext(files));

describe("npm ranges", () => {
  test.each([
    [">=18", [18, 0, 0], true],
    [">=18", [17, 9, 1], false],
    ["^20.1", [20, 19, 5], true],
    ["^20.1", [20, 0, 5], false],
    ["^20.1", [21, 0, 0], false],
    ["~20.1.0", [20, 1, 9], true],
    ["~20.1.0", [20, 2, 0], false],
    ["20.x", [20, 5, 0], true],
    ["20.x", [22, 0, 0], false],
    ["18 - 20", [20, 19, 0], true],
    ["18 - 20", [21, 0, 0], false],
    [">= 16 < 19", [18, 20, 8], true],
    ["16 || 20", [20, 1, 0], true],
    ["16 || 20", [18, 1, 0], false],
    ["<20", [20, 0, 0], false],
    ["<=20", [20, 9, 0], true],
    [">20", [20, 9, 0], false],
    ["^0.2.3", [0, 3, 0], false],
  ] as const)("%s matches %j: %s", (range, v, ok) => {
    expect(npmRange(range)!([...v])).toBe(ok);
  });

  test("unreadable ranges give null", () => {
    expect(npmRange(">=banana")).toBeNull();
  });

  test("a range maps to the newest satisfying LTS major not newer than the catalog", () => {
    const current = IMAGES.node.tag!;
    expect(nodeLineFor(">=18")).toBe(current);
    expect(nodeLineFor("^20.1")).toBe("20");
    expect(nodeLineFor(">=16 <19")).toBe("18");
    expect(nodeLineFor("21.x")).toBe("21");
    expect(nodeLineFor("~20.1.0")).toBeNull();
  });
});

describe("PEP 440 specifiers", () => {
  test.each([
    [">=3.9,<3.12", [3, 11, 99], true],
    [">=3.9,<3.12", [3, 12, 99], false],
    ["~=3.10", [3, 14, 0], true],
    ["~=3.10.2", [3, 11, 0], false],
    ["==3.11.*", [3, 11, 4], true],
    ["==3.11.*", [3, 12, 0], false],
    ["!=3.12.*,>=3.10", [3, 12, 1], false],
    ["^3.10", [3, 13, 0], true],
    ["^3.10", [4, 0, 0], false],
  ] as const)("%s matches %j: %s", (spec, v, ok) => {
    expect(pep440Range(spec)!([...v])).toBe(ok);
  });

  test("maps to a python 3.N line", () => {
    expect(pythonLineFor(">=3.8,<3.12")).toBe("3.11");
    expect(pythonLineFor(">=3.10")).toBe(IMAGES.python.tag);
    expect(pythonLineFor("==3.9.*")).toBe("3.9");
    expect(pythonLineFor(">=4")).toBeNull();
    expect(pythonLineFor("==3.11.5")).toBe("3.11.5");
    expect(pythonLineFor("3.11.5")).toBe("3.11.5"); // Poetry: a bare version is exact
  });
});

describe("declaredVersions", () => {
  test("an empty context declares nothing", () => {
    expect(declaredVersions(emptyContext)).toEqual({});
  });

  test("node: .nvmrc wins over engines; v prefix and lts aliases", () => {
    expect(declared({ ".nvmrc": "v20.11.0\n", "package.json": pkg(">=18") }).node).toEqual({
      version: "20.11.0",
      source: '.nvmrc "v20.11.0"',
    });
    expect(declared({ ".nvmrc": "lts/hydrogen" }).node?.version).toBe("18");
    expect(declared({ ".nvmrc": "lts/constructor" }).node?.version ?? null).toBeNull();
    expect(declared({ ".nvmrc": "lts/*" }).node?.version).toBe(IMAGES.node.tag);
    expect(declared({ ".node-version": "22\n" }).node).toEqual({
      version: "22",
      source: '.node-version "22"',
    });
  });

  test("node: .nvmrc saying `node` declares nothing, so engines decides", () => {
    expect(declared({ ".nvmrc": "node\n", "package.json": pkg("^20.1") }).node).toEqual({
      version: "20",
      source: 'package.json engines.node "^20.1"',
    });
  });

  test("node: volta pin, unmappable range, broken package.json", () => {
    expect(declared({ "package.json": JSON.stringify({ volta: { node: "20.10.0" } }) }).node?.version).toBe(
      "20.10.0",
    );
    expect(declared({ "package.json": pkg("~20.1.0") }).node).toEqual({
      version: null,
      source: 'package.json engines.node "~20.1.0"',
    });
    expect(declared({ "package.json": "{ not json" }).node).toBeUndefined();
  });

  test("go: toolchain line wins, reduced to major.minor", () => {
    expect(declared({ "go.mod": "module x\n\ngo 1.21.6\n" }).go).toEqual({
      version: "1.21",
      source: "go.mod go 1.21.6",
    });
    expect(declared({ "go.mod": "module x\n\ngo 1.22\n\ntoolchain go1.23.4\n" }).go).toEqual({
      version: "1.23",
      source: "go.mod toolchain go1.23.4",
    });
    expect(declared({ "go.mod": "module x\n// go 1.19\n" }).go).toBeUndefined();
  });

  test("python: .python-version, runtime.txt, pyproject, poetry", () => {
    expect(declared({ ".python-version": "3.11.7\n" }).python?.version).toBe("3.11");
    expect(declared({ ".python-version": "pypy3.10-7.3.12\n" }).python).toBeUndefined();
    expect(declared({ "runtime.txt": "python-3.10.13\n" }).python?.version).toBe("3.10");
    const pyproject =
      '[project]\nname = "x"\nrequires-python = ">=3.8,<3.12"\n\n[tool.ruff]\nline-length = 100\n';
    expect(declared({ "pyproject.toml": pyproject }).python).toEqual({
      version: "3.11",
      source: 'pyproject.toml requires-python ">=3.8,<3.12"',
    });
    const poetry =
      '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "~3.9"\nrequests = "^2"\n';
    expect(declared({ "pyproject.toml": poetry }).python?.version).toBe("3.9");
  });

  test("java: pom properties (resolved), 1.8 style, compiler plugin, gradle", () => {
    const pom = (props: string, extra = "") => `<project><properties>${props}</properties>${extra}</project>`;
    expect(declared({ "pom.xml": pom("<java.version>1.8</java.version>") }).java).toEqual({
      version: "8",
      source: "pom.xml java.version 1.8",
    });
    expect(
      declared({
        "pom.xml": pom("<maven.compiler.release>${jdk}</maven.compiler.release><jdk>21</jdk>"),
      }).java?.version,
    ).toBe("21");
    expect(declared({ "pom.xml": pom("<!-- <java.version>11</java.version> -->") }).java).toBeUndefined();
    const plugin =
      "<build><plugins><plugin><artifactId>maven-compiler-plugin</artifactId><configuration><release>17</release></configuration></plugin></plugins></build>";
    expect(declared({ "pom.xml": pom("", plugin) }).java?.version).toBe("17");
    expect(
      declared({
        "build.gradle.kts":
          "java {\n  toolchain {\n    languageVersion = JavaLanguageVersion.of(21)\n  }\n}\n",
      }).java?.version,
    ).toBe("21");
    expect(declared({ "build.gradle": "sourceCompatibility = JavaVersion.VERSION_11\n" }).java?.version).toBe(
      "11",
    );
    expect(declared({ "build.gradle": "sourceCompatibility = '1.8'\n" }).java?.version).toBe("8");
    expect(declared({ "build.gradle.kts": "kotlin {\n  jvmToolchain(17)\n}\n" }).java).toEqual({
      version: "17",
      source: "build.gradle.kts jvmToolchain(17)",
    });
  });

  test("rust: numeric channels only", () => {
    expect(declared({ "rust-toolchain": "1.75\n" }).rust).toEqual({
      version: "1.75",
      source: "rust-toolchain channel 1.75",
    });
    expect(declared({ "rust-toolchain.toml": '[toolchain]\nchannel = "1.79.0"\n' }).rust?.version).toBe(
      "1.79.0",
    );
    expect(declared({ "rust-toolchain.toml": '[toolchain]\nchannel = "stable"\n' }).rust).toBeUndefined();
    expect(declared({ "rust-toolchain": "nightly-2024-05-01\n" }).rust).toBeUndefined();
  });

  test("dotnet: global.json, else the highest TargetFramework of the projects", () => {
    expect(declared({ "global.json": JSON.stringify({ sdk: { version: "8.0.404" } }) }).dotnet).toEqual({
      version: "8.0",
      source: "global.json sdk.version 8.0.404",
    });
    const csproj = (tfm: string) =>
      `<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup>${tfm}</PropertyGroup></Project>`;
    expect(
      declared({
        "src/Api/Api.csproj": csproj("<TargetFramework>net8.0</TargetFramework>"),
        "Api.sln": "",
      }).dotnet,
    ).toBeUndefined(); // two levels down: not scanned
    expect(
      declared({ "Api/Api.csproj": csproj("<TargetFrameworks>net6.0;net8.0</TargetFrameworks>") }).dotnet,
    ).toEqual({
      version: "8.0",
      source: "Api/Api.csproj TargetFramework net8.0",
    });
    expect(
      declared({ "App.csproj": csproj("<TargetFramework>net48</TargetFramework>") }).dotnet,
    ).toBeUndefined();
    expect(
      declared({ "App.csproj": csproj("<TargetFramework>netcoreapp3.1</TargetFramework>") }).dotnet?.version,
    ).toBe("3.1");
  });

  test(".tool-versions is a fallback for node, go, python and rust", () => {
    const tv = "nodejs 20.11.1\ngolang 1.22.1\npython 3.12.2 3.11.8\nrust 1.77.0\n";
    const d = declared({ ".tool-versions": tv });
    expect([d.node?.version, d.go?.version, d.python?.version, d.rust?.version]).toEqual([
      "20.11.1",
      "1.22",
      "3.12",
      "1.77.0",
    ]);
    expect(declared({ ".tool-versions": tv, ".nvmrc": "18" }).node?.version).toBe("18");
  });
});
