/**
 * The runtime libraries split-stages installs in place of `-dev` packages hold what those `-dev`
 * packages link against: a build installs a set of `-dev` packages on the stand-in
 * debian:bookworm-slim and lists the files their `.so` links resolve to; a second stage installs
 * only the libraries `devLibraries` names for bookworm and fails when one of those files is
 * missing. apt reaches Debian's mirror. (bullseye and trixie have no stand-in image here.)
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, expect, test } from "vitest";
import type { Builder } from "../../src/verify/builder.ts";
import { devLibraries } from "../../transforms/split-stages/toolkit/dev-packages.ts";
import { setUpBuildah, WORK } from "./buildah-env.ts";

let builder: Builder;
beforeAll(() => {
  builder = setUpBuildah().builder;
});

/** -dev packages real Python/Node/Rust Dockerfiles install most (see the corpus counts). */
const DEVS = [
  "libpq-dev",
  "libjpeg-dev",
  "libjpeg62-turbo-dev",
  "libcurl4-openssl-dev",
  "libxml2-dev",
  "libxslt1-dev",
  "default-libmysqlclient-dev",
  "libssl-dev",
  "libffi-dev",
  "libyaml-dev",
  "libmagic-dev",
  "libsqlite3-dev",
  "libpng-dev",
  "libfreetype6-dev",
  "libwebp-dev",
  "libzmq3-dev",
];

test("every shared object the -dev packages link to is in the runtime libraries named for bookworm", async () => {
  const libs = DEVS.flatMap((dev) => {
    const found = devLibraries("apt", dev, "debian:bookworm-slim");
    if ("why" in found) throw new Error(`${dev}: ${found.why}`);
    return found.libraries;
  });
  expect(libs).toContain("libpq5");
  const apt = "apt-get update && apt-get install -y --no-install-recommends";
  const dockerfile = [
    "FROM debian:bookworm-slim AS dev",
    `RUN ${apt} ${DEVS.join(" ")} && dpkg -L ${DEVS.join(" ")} | grep '\\.so$' | xargs -r readlink -f | sort -u > /targets`,
    "",
    "FROM debian:bookworm-slim",
    `RUN ${apt} ${[...new Set(libs)].join(" ")}`,
    "COPY --from=dev /targets /targets",
    `RUN test -s /targets && missing=0 && while read -r f; do [ -e "$f" ] || { echo "missing $f"; missing=1; }; done < /targets && exit $missing`,
    "",
  ].join("\n");
  const dir = path.join(WORK, "dev-libraries");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  const tag = "localhost/dfopt-e2e/dev-libraries:bookworm";
  try {
    const built = await builder.build(path.join(dir, "Dockerfile"), dir, tag, { noCache: true });
    expect(built.error).toBeNull();
  } finally {
    await builder.remove([tag]);
  }
});
