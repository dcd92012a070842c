import { beforeAll, describe, expect, test } from "vitest";
import { optimizeFile, loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { emptyContext } from "../src/io/context.ts";
import { addArgs, argNameFor, splitTag } from "../transforms/add-args.ts";

beforeAll(loadParsers);

const run = (text: string) => {
  const result = optimizeFile(text, emptyContext, { transforms: [addArgs] });
  const again = optimizeFile(result.output, emptyContext, { transforms: [addArgs] });
  expect(again.output).toBe(result.output);
  expect(again.changes).toEqual([]);
  return result;
};

/** Every FROM's image after ARG expansion: what docker would pull. */
const pulled = (text: string) => parseDockerfile(text).stages.map((s) => s.image?.expanded);

describe("naming", () => {
  test.each([
    ["node", "NODE_VERSION"],
    ["docker.io/library/golang", "GO_VERSION"],
    ["python", "PYTHON_VERSION"],
    ["eclipse-temurin", "TEMURIN_VERSION"],
    ["mcr.microsoft.com/dotnet/sdk", "DOTNET_SDK_VERSION"],
    ["mcr.microsoft.com/dotnet/aspnet", "DOTNET_ASPNET_VERSION"],
    ["localhost:5000/team/my-api", "MY_API_VERSION"],
    ["bitnami/kubectl", "KUBECTL_VERSION"],
    ["example.com/3proxy", "IMAGE_3PROXY_VERSION"],
    ["constructor", "CONSTRUCTOR_VERSION"],
    ["team/__proto__", "PROTO_VERSION"],
  ])("%s → %s", (image, name) => {
    expect(argNameFor(image)).toBe(name);
  });

  test.each([
    ["20-alpine", ["20", "-alpine"]],
    ["3.12.4-slim-bookworm", ["3.12.4", "-slim-bookworm"]],
    ["v3.1", ["v3.1", ""]],
    ["3.9-eclipse-temurin-21", ["3.9", "-eclipse-temurin-21"]],
    ["bookworm-slim", null],
    ["8u312-jdk", null],
    ["nonroot", null],
  ] as const)("splitTag(%s)", (tag, expected) => {
    expect(splitTag(tag)).toEqual(expected);
  });
});

describe("add-args", () => {
  test("the rewritten file pulls exactly the same images", () => {
    const text =
      "FROM golang:1.22-alpine AS build\nFROM node:20 AS web\nFROM golang:1.22 AS test\nFROM build AS final\nFROM scratch\n";
    const r = run(text);
    expect(r.changed).toBe(true);
    expect(pulled(r.output)).toEqual(pulled(text));
    expect(r.output).toBe(
      "ARG GO_VERSION=1.22\nARG NODE_VERSION=20\n" +
        "FROM golang:${GO_VERSION}-alpine AS build\nFROM node:${NODE_VERSION} AS web\n" +
        "FROM golang:${GO_VERSION} AS test\nFROM build AS final\nFROM scratch\n",
    );
  });

  test("a name already declared or read in a FROM/ARG is never reused", () => {
    const text = "ARG NODE_VERSION\nARG X=${NODE_IMAGE_VERSION}\nFROM node:20\n";
    const r = run(text);
    expect(r.output).toBe(
      "ARG NODE_VERSION\nARG X=${NODE_IMAGE_VERSION}\nARG NODE_IMAGE_TAG=20\nFROM node:${NODE_IMAGE_TAG}\n",
    );
  });

  test("variables only RUN reads (the image's own ENV) do not block a name", () => {
    const r = run("FROM node:20\nRUN echo $NODE_VERSION\n");
    expect(r.output).toBe("ARG NODE_VERSION=20\nFROM node:${NODE_VERSION}\nRUN echo $NODE_VERSION\n");
  });

  test("two repositories with the same last segment get distinct names", () => {
    const r = run("FROM node:20 AS a\nFROM registry.example.com/node:7 AS b\n");
    expect(r.output).toBe(
      "ARG NODE_VERSION=20\nARG NODE_IMAGE_VERSION=7\n" +
        "FROM node:${NODE_VERSION} AS a\nFROM registry.example.com/node:${NODE_IMAGE_VERSION} AS b\n",
    );
  });

  test("an image at two versions is left alone with a refusal; others still move", () => {
    const r = run("FROM python:3.11 AS old\nFROM python:3.12\nFROM nginx:1.27\n");
    expect(r.output).toBe(
      "ARG NGINX_VERSION=1.27\nFROM python:3.11 AS old\nFROM python:3.12\nFROM nginx:${NGINX_VERSION}\n",
    );
    expect(r.refusals.map((x) => x.reason)).toEqual([
      "python is used at versions 3.11, 3.12; one ARG cannot hold both, so add-args leaves them alone",
    ]);
  });

  test("a suppressed FROM keeps its literal version", () => {
    const r = run("FROM node:20 AS a\n# dfopt ignore=add-args\nFROM node:20\n");
    expect(r.output).toBe(
      "ARG NODE_VERSION=20\nFROM node:${NODE_VERSION} AS a\n# dfopt ignore=add-args\nFROM node:20\n",
    );
  });

  test("the ARGs go after parser directives, before the comment attached to the first FROM", () => {
    const text = "# syntax=docker/dockerfile:1\n# escape=\\\n# Build stage\nFROM rust:1.79 AS build\n";
    const r = run(text);
    expect(r.output).toBe(
      "# syntax=docker/dockerfile:1\n# escape=\\\nARG RUST_VERSION=1.79\n# Build stage\nFROM rust:${RUST_VERSION} AS build\n",
    );
  });

  test("nothing to do: variables, digests, latest, untagged, codename tags", () => {
    const text =
      "ARG B=node:20\nFROM ${B}\nFROM node:20@sha256:00ff\nFROM ubuntu:latest\nFROM debian\nFROM debian:bookworm-slim\n";
    const r = run(text);
    expect(r.changed).toBe(false);
    expect(r.refusals).toEqual([]);
  });
});
