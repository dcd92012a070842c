import { beforeAll, describe, expect, test } from "vitest";
import { loadParsers } from "../src/engine/engine.ts";
import { parseDockerfile } from "../src/engine/parse.ts";
import { devLibraries } from "../transforms/split-stages/toolkit/dev-packages.ts";
import { PER_RELEASE, SAME_IN_EVERY_RELEASE } from "../transforms/split-stages/toolkit/dev-libraries.ts";
import {
  followOutside,
  outsidePaths,
  placedOutside,
  placement,
} from "../transforms/split-stages/toolkit/placed-files.ts";
import { runCommands } from "../transforms/split-stages/toolkit/shell.ts";

beforeAll(loadParsers);

describe("runtime libraries of -dev packages", () => {
  test("names the same in every Debian release need no release", () => {
    expect(devLibraries("apt", "libpq-dev", "python:3.12")).toEqual({ libraries: ["libpq5"] });
    expect(devLibraries("apt", "libjpeg62-turbo-dev", "node:20")).toEqual({ libraries: ["libjpeg62-turbo"] });
    // libjpeg-dev is a dummy package standing for libjpeg62-turbo-dev
    expect(devLibraries("apt", "libjpeg-dev", "node:20")).toEqual({ libraries: ["libjpeg62-turbo"] });
    // a metapackage of another source: default-libmysqlclient-dev → libmariadb-dev-compat → libmariadb-dev
    expect(devLibraries("apt", "default-libmysqlclient-dev", "python:3")).toEqual({
      libraries: ["libmariadb3"],
    });
    // headers only: nothing at run time
    expect(devLibraries("apt", "libeigen3-dev", "python:3")).toEqual({ libraries: [] });
  });

  test("names that differ by release follow the release the tag names, and refuse without one", () => {
    expect(devLibraries("apt", "libcurl4-openssl-dev", "python:3.12-bookworm")).toEqual({
      libraries: ["libcurl4"],
    });
    expect(devLibraries("apt", "libcurl4-openssl-dev", "python:3.13-slim-trixie")).toEqual({
      libraries: ["libcurl4t64"],
    });
    expect(devLibraries("apt", "libssl-dev", "debian:bullseye", "bullseye")).toEqual({
      libraries: ["libssl1.1"],
    });
    const unsure = devLibraries("apt", "libcurl4-openssl-dev", "python:3.12");
    expect(unsure).toEqual({
      why: "the runtime library of libcurl4-openssl-dev differs between Debian releases (bullseye: libcurl4, bookworm: libcurl4, trixie: libcurl4t64) and python:3.12 does not name its release",
    });
  });

  test("packages outside the metadata table and unknown Alpine names give a reason", () => {
    expect(devLibraries("apt", "libopencv-dev", "python:3.12-bookworm")).toEqual({
      why: "Debian's metadata does not name the runtime library of libopencv-dev",
    });
    expect(devLibraries("apk", "postgresql-dev", "node:20-alpine")).toEqual({ libraries: ["libpq"] });
    expect(devLibraries("apk", "jpeg-dev", "node:20-alpine")).toEqual({ libraries: ["libjpeg-turbo"] });
    expect(devLibraries("apk", "vips-dev", "node:20-alpine")).toEqual({
      why: "the Alpine library vips-dev builds against is not known",
    });
  });

  test("the generated table names runtime packages, never -dev ones, and keeps every release's entry", () => {
    const all = [
      ...Object.values(SAME_IN_EVERY_RELEASE),
      ...Object.values(PER_RELEASE).flatMap((v) => v.filter((x): x is string => x !== null)),
    ].flatMap((v) => (v ? v.split(" ") : []));
    expect(all.length).toBeGreaterThan(200);
    expect(all.filter((p) => /-dev$/.test(p))).toEqual([]);
    for (const [dev, per] of Object.entries(PER_RELEASE)) expect(per, dev).toHaveLength(3);
  });
});

describe("files a cp/mv puts in place", () => {
  const cmd = (line: string) => {
    const m = parseDockerfile(`FROM x\nRUN ${line}\n`);
    return runCommands(m, m.stages[0].instructions[0])[0];
  };
  const vars: Record<string, string> = { CONF: "/etc/app" };
  const expand = (raw: string) =>
    /\$\{?(\w+)\}?/.test(raw)
      ? (vars[/\$\{?(\w+)\}?/.exec(raw)![1]] ?? null) === null
        ? null
        : raw.replace(/\$\{?(\w+)\}?/, (_m, n: string) => vars[n])
      : raw;
  const at = (line: string, cwd = "/app", folders: string[] = ["/app"]) =>
    placement(cmd(line), cwd, expand, (p) => folders.includes(p));

  test("a file into a known folder lands under its own name; a new path is the destination", () => {
    expect(at("cp src/Rocket.toml .")).toEqual({ placed: ["/app/Rocket.toml"], moved: [] });
    expect(at("cp config.prod.json /app/config.json")).toEqual({ placed: ["/app/config.json"], moved: [] });
    expect(at("cp bin/tool /usr/local/bin")).toEqual({ placed: ["/usr/local/bin/tool"], moved: [] });
    expect(at("mv -f a.conf b.conf $CONF/")).toEqual({
      placed: ["/etc/app/a.conf", "/etc/app/b.conf"],
      moved: ["/app/a.conf", "/app/b.conf"],
    });
    expect(at("cp -r -t /srv templates static")).toEqual({
      placed: ["/srv/templates", "/srv/static"],
      moved: [],
    });
    expect(at("cp -a dist/* /var/www/site/")).toEqual({ placed: ["/var/www/site"], moved: [] });
  });

  test("what cannot be told is refused with a reason", () => {
    expect(at("cp x.toml $UNSET/")).toEqual({ why: "`$UNSET/` uses a variable whose value is not fixed" });
    expect(at("cp scripts/*.sh /usr/local/bin/")).toEqual({
      why: "files matched by a pattern go into /usr/local/bin, which holds other files too",
    });
    expect(at("cp -r lib /usr/", "/app")).toEqual({ why: "it would replace the folder /usr/lib" });
    expect(at("cp only-one")).toEqual({ why: "`cp` has no source or no destination" });
    expect(placement(cmd("cp a b"), null, expand, () => false)).toEqual({
      why: "the folder it runs in is not known",
    });
    expect(at("cp --parents src/a.conf /etc/app/")).toEqual({
      why: "`--parents` keeps the source folders under the destination",
    });
    expect(at("cp $(cat name) /etc/")).toEqual({ why: "`$(cat name)` runs a command for its value" });
    expect(at("cp a.conf ~/.config/")).toEqual({ why: "a path starts with `~`" });
  });

  test("grouped short options: -t and -S take the rest of the group or the next word, -T names a file", () => {
    expect(at("cp -rt /srv templates")).toEqual({ placed: ["/srv/templates"], moved: [] });
    expect(at("cp -at/srv templates")).toEqual({ placed: ["/srv/templates"], moved: [] });
    expect(at("mv -bS .old a.conf /etc/app/")).toEqual({
      placed: ["/etc/app/a.conf"],
      moved: ["/app/a.conf"],
    });
    expect(at("cp -rfT dist /app")).toEqual({ why: "it copies a path into itself" });
    expect(at("cp -rT dist /srv/www", "/app", ["/app", "/srv/www"])).toEqual({
      placed: ["/srv/www"],
      moved: [],
    });
  });

  test("`..`, `dir/.` and quoted variables", () => {
    expect(at("mv node_modules ..", "/usr/src/app")).toEqual({
      placed: ["/usr/src/node_modules"],
      moved: ["/usr/src/app/node_modules"],
    });
    // the folder's contents go into the destination, like a pattern
    expect(at("cp -a public/. /srv/site")).toEqual({ placed: ["/srv/site"], moved: [] });
    expect(at("cp -a public/. /srv/")).toEqual({
      why: "files matched by a pattern go into /srv, which holds other files too",
    });
    expect(at('cp x.toml "$CONF"/x.toml')).toEqual({ placed: ["/etc/app/x.toml"], moved: [] });
  });

  test("with the folders the stage makes, a pattern goes only into one of them", () => {
    const made = (d: string) => d === "/srv/www";
    const into = (line: string) => placement(cmd(line), "/app", expand, (p) => p === "/app", made);
    expect(into("cp -r dist/* /srv/www/")).toEqual({ placed: ["/srv/www"], moved: [] });
    expect(into("cp -r dist/* /srv/site/")).toEqual({
      why: "files matched by a pattern go into /srv/site, a folder the stage does not make",
    });
    expect(into("cp -r dist/*.js /srv/site")).toEqual({
      why: "files matched by a pattern go into /srv/site, a folder the stage does not make",
    });
  });
});

describe("cp/mv followed across the RUNs of a whole-folder planner", () => {
  /** Follows each RUN command of `lines` (run in /app) with /app and /opt/venv kept; the paths, or the first reason. */
  const follow = (...lines: string[]) => {
    const m = parseDockerfile(`FROM x\n${lines.map((l) => `RUN ${l}`).join("\n")}\n`);
    const pl = placedOutside(["/app", "/opt/venv"], ["/app"]);
    const vars = new Map<string, string | null>([
      ["CONF", "/etc/app"],
      ["FROM_ARG", null],
    ]);
    for (const instr of m.stages[0].instructions)
      for (const c of runCommands(m, instr)) {
        const why = followOutside(pl, instr, c, "/app", vars, "outside");
        if (why) return why;
      }
    try {
      return { paths: outsidePaths(pl), movedOut: pl.movedOut.map((x) => `${x.from} -> ${x.to}`) };
    } catch (e) {
      return String(e);
    }
  };

  test("placed paths: outermost only, a mv of one follows it, kept folders need no copy", () => {
    expect(follow("cp a.conf /etc/app.conf", "mv /etc/app.conf /etc/app2.conf")).toEqual({
      paths: ["/etc/app2.conf"],
      movedOut: [],
    });
    expect(follow("mkdir -p $CONF && cp a.conf $CONF/", "cp -r conf.d /etc/app/")).toEqual({
      paths: ["/etc/app/a.conf", "/etc/app/conf.d"],
      movedOut: [],
    });
    expect(follow("mv node_modules /node_modules", "cp /node_modules/.bin/x /tmp/x")).toEqual({
      paths: ["/node_modules"],
      movedOut: ["/app/node_modules -> /node_modules"],
    });
    expect(follow("cp /etc/hosts.sample ./hosts", "mv /tmp/x /opt/venv/x")).toEqual({
      paths: [],
      movedOut: [],
    });
    expect(follow("cp tool /usr/local/bin/ && chmod +x /usr/local/bin/tool")).toEqual({
      paths: ["/usr/local/bin/tool"],
      movedOut: [],
    });
  });

  test("what the runtime stage could not reproduce is refused", () => {
    expect(follow("mv /opt/venv /opt/v2")).toContain(
      "moves /opt/venv, and the runtime stage copies /opt/venv",
    );
    expect(follow("cp -r lib /usr/")).toContain("would replace the folder /usr/lib");
    expect(follow("mv /etc/nginx/nginx.conf /app/")).toContain(
      "moves /etc/nginx/nginx.conf away, which the runtime image would still have",
    );
    expect(follow("cp a.conf $FROM_ARG/")).toContain("uses a variable whose value is not fixed");
    expect(follow("mkdir -p /var/log/app")).toBe("outside");
    expect(follow("chown -R node /etc")).toBe("outside");
    expect(follow("chmod +x /usr/local/bin/tool", "cp tool /usr/local/bin/")).toBe("outside");
  });
});
