import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { emptyContext, memoryContext } from "../src/io/context.ts";
import { CATALOG_CHECKED, IMAGES } from "../transforms/catalog/images.ts";
import { shortImageName } from "../src/engine/image-ref.ts";
import { chooseTag, pinTags } from "../transforms/pin-tags.ts";

beforeAll(loadParsers);

const run = (text: string, files: Record<string, string> = {}) => {
  const context = Object.keys(files).length > 0 ? memoryContext(files) : emptyContext;
  const result = optimizeFile(text, context, { transforms: [pinTags] });
  const again = optimizeFile(result.output, context, { transforms: [pinTags] });
  expect(again.output).toBe(result.output);
  expect(again.changes).toEqual([]);
  return result;
};
const reasons = (r: ReturnType<typeof run>) => r.refusals.map((x) => x.reason).join("\n");

describe("chooseTag", () => {
  test("docker.io and library prefixes name the same image", () => {
    expect(shortImageName("docker.io/library/Node")).toBe("node");
    expect(shortImageName("library/python")).toBe("python");
    expect(shortImageName("localhost:5000/node")).toBe("localhost:5000/node");
  });

  test("the project's declared version beats the catalog, only for its own ecosystem", () => {
    const declared = { python: { version: "3.11", source: ".python-version 3.11" } };
    expect(chooseTag("python", declared)).toEqual({ tag: "3.11", source: ".python-version 3.11" });
    expect(chooseTag("node", declared)).toEqual({
      tag: IMAGES.node.tag,
      source: `catalog, checked ${CATALOG_CHECKED}`,
    });
  });

  test("java images map the release to their own tag scheme, or refuse", () => {
    const java = (v: string) => ({ java: { version: v, source: "pom.xml" } });
    expect(chooseTag("gradle", java("17"))).toMatchObject({ tag: "jdk17" });
    expect(chooseTag("maven", java("21"))).toMatchObject({ tag: "3.9-eclipse-temurin-21" });
    expect(chooseTag("openjdk", java("11"))).toMatchObject({ tag: "11" });
    expect(chooseTag("openjdk", java("21"))).toMatchObject({
      refuse: expect.stringContaining("publishes no tag for java 21"),
    });
    expect(chooseTag("openjdk", {})).toMatchObject({ refuse: expect.stringContaining("deprecated") });
  });
});

describe("pin-tags", () => {
  test("untagged gets DL3006, :latest gets DL3007", () => {
    const r = run("FROM alpine\nFROM alpine:latest AS b\n");
    expect(r.output).toBe(`FROM alpine:${IMAGES.alpine.tag}\nFROM alpine:${IMAGES.alpine.tag} AS b\n`);
    expect(r.changes.map((c) => c.rules)).toEqual([
      ["DL3006", "DS-0001"],
      ["DL3007", "DS-0001"],
    ]);
    expect(r.changes[0].message).toBe(
      `pin alpine to ${IMAGES.alpine.tag} (catalog, checked ${CATALOG_CHECKED})`,
    );
  });

  test("a variable registry prefix keeps the variable and gains a tag", () => {
    const r = run("ARG REGISTRY=docker.io\nFROM ${REGISTRY}/library/golang\n", {
      "go.mod": "module x\ngo 1.21\n",
    });
    expect(r.output).toBe("ARG REGISTRY=docker.io\nFROM ${REGISTRY}/library/golang:1.21\n");
  });

  test("a quoted ARG default keeps its quotes", () => {
    const r = run('ARG PY="latest"\nFROM python:${PY}\n', { "runtime.txt": "python-3.10.4\n" });
    expect(r.output).toBe('ARG PY="3.10"\nFROM python:${PY}\n');
    expect(r.changes[0].message).toBe('pin python to 3.10 (runtime.txt "python-3.10.4") via ARG PY');
  });

  test("an image name that is also an earlier stage name is a stage reference", () => {
    const r = run("FROM node:20 AS node\nFROM node\n");
    expect(r.changed).toBe(false);
    expect(r.refusals).toEqual([]);
  });

  test("a later stage name does not hide the image", () => {
    const r = run("FROM node AS x\nFROM x AS node\n");
    expect(r.output).toBe(`FROM node:${IMAGES.node.tag} AS x\nFROM x AS node\n`);
  });

  test("variable expressions it cannot edit are refused", () => {
    const r = run("ARG V\nFROM node:${V:-latest}\n");
    expect(r.changed).toBe(false);
    expect(reasons(r)).toContain("comes from a variable expression pin-tags cannot edit");
  });

  test("an ARG another ARG reads is left alone", () => {
    const r = run("ARG V=latest\nARG IMG=node:${V}\nFROM node:${V}\n");
    expect(r.changed).toBe(false);
    expect(reasons(r)).toContain("ARG V is also used by another ARG (line 2)");
  });

  test("a literal :latest after an image ARG is edited in the FROM", () => {
    expect(run("ARG IMG=node\nFROM ${IMG}:latest\n").output).toBe("ARG IMG=node\nFROM ${IMG}:24\n");
  });

  test("an ARG redeclared inside a stage is left alone", () => {
    const r = run("ARG V=latest\nFROM node:${V}\nARG V\nRUN echo $V\n");
    expect(r.changed).toBe(false);
    expect(reasons(r)).toContain("ARG V is also used by another ARG");
  });

  test("a tagged image that is not latest, digests and scratch are untouched without refusal", () => {
    const r = run("FROM node:lts-alpine\nFROM node@sha256:0123456789abcdef\nFROM scratch\n");
    expect(r.changed).toBe(false);
    expect(r.refusals).toEqual([]);
  });

  test("centos and unknown images are refused with the reason", () => {
    const r = run("FROM centos\nFROM myorg/tool:latest\n");
    expect(r.changed).toBe(false);
    expect(reasons(r)).toContain("centos is end-of-life");
    expect(reasons(r)).toContain("no known current tag for image myorg/tool; pin it by hand");
  });

  test("dfopt ignore comments are honoured", () => {
    const r = run("# dfopt ignore=pin-tags\nFROM ubuntu\nFROM ubuntu AS second\n");
    expect(r.output).toBe(
      `# dfopt ignore=pin-tags\nFROM ubuntu\nFROM ubuntu:${IMAGES.ubuntu.tag} AS second\n`,
    );
  });

  test("untouched bytes are kept: tabs, trailing spaces, no final newline", () => {
    const text = "FROM\tnode   AS  web \t\nRUN  echo hi  \\\n\t&& true";
    const r = run(text, { ".nvmrc": "20\n" });
    expect(r.output).toBe("FROM\tnode:20   AS  web \t\nRUN  echo hi  \\\n\t&& true");
  });
});
