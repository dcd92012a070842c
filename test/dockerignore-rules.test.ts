import ignore from "ignore";
import { describe, expect, test } from "vitest";
import {
  cleanPath,
  dockerignoreMatcher,
  dockerignorePatterns,
  parseDockerignore,
} from "../src/engine/dockerignore-rules.ts";
import { compileCopyGlob, copyGlobRegExp, linearMatcher } from "../src/engine/glob.ts";

/** moby/patternmatcher patternmatcher_test.go TestMatches (MatchesOrParentMatches): pattern, path, ignored. */
const MOBY_SINGLE: [string, string, boolean][] = [
  ["**", "file", true],
  ["**", "file/", true],
  ["**/", "file", true],
  ["**/", "file/", true],
  // moby also has ["**", "/", true] and ["**/", "/", true]: a context path is never absolute, and
  // dfopt answers false for one (see "paths outside the context" below).
  ["**", "dir/file", true],
  ["**/", "dir/file", true],
  ["**", "dir/file/", true],
  ["**/", "dir/file/", true],
  ["**/**", "dir/file", true],
  ["**/**", "dir/file/", true],
  ["dir/**", "dir/file", true],
  ["dir/**", "dir/file/", true],
  ["dir/**", "dir/dir2/file", true],
  ["dir/**", "dir/dir2/file/", true],
  ["**/dir", "dir", true],
  ["**/dir", "dir/file", true],
  ["**/dir2/*", "dir/dir2/file", true],
  ["**/dir2/*", "dir/dir2/file/", true],
  ["**/dir2/**", "dir/dir2/dir3/file", true],
  ["**/dir2/**", "dir/dir2/dir3/file/", true],
  ["**file", "file", true],
  ["**file", "dir/file", true],
  ["**/file", "dir/file", true],
  ["**file", "dir/dir/file", true],
  ["**/file", "dir/dir/file", true],
  ["**/file*", "dir/dir/file", true],
  ["**/file*", "dir/dir/file.txt", true],
  ["**/file*txt", "dir/dir/file.txt", true],
  ["**/file*.txt", "dir/dir/file.txt", true],
  ["**/file*.txt*", "dir/dir/file.txt", true],
  ["**/**/*.txt", "dir/dir/file.txt", true],
  ["**/**/*.txt2", "dir/dir/file.txt", false],
  ["**/*.txt", "file.txt", true],
  ["**/**/*.txt", "file.txt", true],
  ["a**/*.txt", "a/file.txt", true],
  ["a**/*.txt", "a/dir/file.txt", true],
  ["a**/*.txt", "a/dir/dir/file.txt", true],
  ["a/*.txt", "a/dir/file.txt", false],
  ["a/*.txt", "a/file.txt", true],
  ["a/*.txt**", "a/file.txt", true],
  ["a[b-d]e", "ae", false],
  ["a[b-d]e", "ace", true],
  ["a[b-d]e", "aae", false],
  ["a[^b-d]e", "aze", true],
  [".*", ".foo", true],
  [".*", "foo", false],
  ["abc.def", "abcdef", false],
  ["abc.def", "abc.def", true],
  ["abc.def", "abcZdef", false],
  ["abc?def", "abcZdef", true],
  ["abc?def", "abcdef", false],
  ["a\\\\", "a\\", true],
  ["**/foo/bar", "foo/bar", true],
  ["**/foo/bar", "dir/foo/bar", true],
  ["**/foo/bar", "dir/dir2/foo/bar", true],
  ["abc/**", "abc", false],
  ["abc/**", "abc/def", true],
  ["abc/**", "abc/def/ghi", true],
  ["**/.foo", ".foo", true],
  ["**/.foo", "bar.foo", false],
  ["a(b)c/def", "a(b)c/def", true],
  ["a(b)c/def", "a(b)c/xyz", false],
  ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
  [
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    true,
  ],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["a\\*b", "a*b", true],
];

/** moby's multi-pattern cases, and its folder-exclusion tests (TestPatternMatchesFolder*). */
const MOBY_MULTI: [string[], string, boolean][] = [
  [["**", "!util/docker/web"], "util/docker/web/foo", false],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
  [
    ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    false,
  ],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["docs", "!docs/README.md"], "docs/README.md", false],
  [["docs/", "!docs/README.md"], "docs/README.md", false],
  [["docs/*", "!docs/README.md"], "docs/README.md", false],
  [["!fileutils.go", "*.go"], "fileutils.go", true],
  [["*.go", "!fileutils.go"], "fileutils.go", false],
  [["*.go"], ".", false],
  [["*"], "fileutils.go", true],
];

describe("Docker's .dockerignore rules (moby/patternmatcher)", () => {
  test.each(MOBY_SINGLE)("%s against %s: %s", (pattern, path, ignored) => {
    expect(dockerignoreMatcher(dockerignorePatterns(pattern)).ignores(path)).toBe(ignored);
  });
  test.each(MOBY_MULTI)("%j against %s: %s", (patterns, path, ignored) => {
    expect(dockerignoreMatcher(patterns).ignores(path)).toBe(ignored);
  });

  test("a malformed pattern is reported and skipped", () => {
    const m = dockerignoreMatcher(["[", "a"]);
    expect(m.malformed).toBe(true);
    expect(m.ignores("a")).toBe(true);
    expect(dockerignoreMatcher(["!"]).malformed).toBe(true);
  });

  test("reading a file: BOM, comments, trimming, cleaning and a leading / (moby's ignorefile.ReadAll)", () => {
    expect(
      dockerignorePatterns("\uFEFF# comment\r\n  /a/b/../c/  \n\n ! /d\n  # not a comment\n/\n!./e/\n"),
    ).toEqual(["a/c", "!d", "# not a comment", "/", "!e"]);
    expect(cleanPath("./a//b/./c/..")).toBe("a/b");
    expect(cleanPath("../a")).toBe("../a");
    expect(cleanPath("/../a")).toBe("/a");
  });
});

/**
 * Where gitignore rules (the `ignore` package, which dfopt used before) and
 * Docker's disagree: the answer Docker gives is the one that counts.
 */
const DISAGREEMENTS: { rules: string; path: string; docker: boolean }[] = [
  // A name without a slash matches at the root only.
  { rules: "secret.txt", path: "config/secret.txt", docker: false },
  { rules: "*.log", path: "logs/app.log", docker: false },
  { rules: "node_modules", path: "packages/a/node_modules/x.js", docker: false },
  // A `!` re-include works under an excluded folder.
  { rules: "docs\n!docs/README.md", path: "docs/README.md", docker: false },
  { rules: "build/\n!build/keep.txt", path: "build/keep.txt", docker: false },
  // A trailing slash does not restrict the pattern to folders: the file `out` is ignored.
  { rules: "out/", path: "out", docker: true },
];

describe("Docker's rules where gitignore's differ", () => {
  test.each(DISAGREEMENTS)("$rules against $path: Docker says $docker", ({ rules, path, docker }) => {
    expect(parseDockerignore(rules).ignores(path)).toBe(docker);
    // The case is one where the two disagree: gitignore rules would give the other answer.
    expect(ignore().add(rules).ignores(path)).toBe(!docker);
  });

  test("paths outside the context and the root itself are never ignored", () => {
    const m = parseDockerignore("**");
    expect(m.ignores(".")).toBe(false);
    expect(m.ignores("../x")).toBe(false);
    expect(m.ignores("/")).toBe(false);
    expect(m.ignores("./x")).toBe(true);
  });
});

describe("wildcards built to backtrack take time linear in the path (ReDoS)", () => {
  // A JavaScript RegExp backtracks: `^a[^/]*a[^/]*…b$` against a long name of `a`s takes time
  // exponential in the stars and would never end here. Docker's Go matcher is linear, and so is dfopt's.
  const stars = "a*".repeat(30) + "b";
  const long = "a".repeat(5000);
  test(".dockerignore patterns against a long name and a deep path", () => {
    const m = parseDockerignore(`${stars}\n${"**/".repeat(30)}${stars}\n!${"?*".repeat(20)}b\n`);
    expect(m.malformed).toBe(false);
    expect(m.ignores(long)).toBe(false);
    expect(m.ignores(`${"a/".repeat(2000)}${long}`)).toBe(false);
    expect(m.ignores(`${"a/".repeat(2000)}${long}b`)).toBe(true);
  });
  test("COPY/ADD wildcards and CLI globs against a long name", () => {
    expect(copyGlobRegExp(stars).test(long)).toBe(false);
    expect(copyGlobRegExp(stars).test(long + "b")).toBe(true);
  });

  test("the linear matcher answers as the RegExp does, on every generated form", () => {
    // the pieces compile() and copyGlobRegExp generate, and paths over a small alphabet
    const pieces = ["a", "b", "\\.", "/", "[^/]", "[^/]*", "(.*/)?", ".*", "[ab]", "[^a]", "[]", "^", "\\*"];
    const alphabet = ["a", "b", "/", ".", "*", "\n", "é"];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let compared = 0;
    let matched = 0;
    for (let k = 0; k < 400; k++) {
      const source = Array.from({ length: 1 + rand(6) }, () => pieces[rand(pieces.length)]).join("");
      for (const flags of ["", "u"]) {
        const re = new RegExp(`^${source}$`, flags);
        const linear = linearMatcher(source, flags);
        expect(linear).not.toBeInstanceOf(RegExp);
        for (let j = 0; j < 40; j++) {
          const p = Array.from({ length: rand(7) }, () => alphabet[rand(alphabet.length)]).join("");
          expect(linear.test(p), `/^${source}$/${flags} on ${JSON.stringify(p)}`).toBe(re.test(p));
          compared++;
          if (re.test(p)) matched++;
        }
      }
    }
    expect(compared).toBe(400 * 2 * 40);
    expect(matched).toBeGreaterThan(1000);
  });

  test("a COPY/ADD wildcard answers as the RegExp of its source, with and without the string-compare path", () => {
    // mostly `a`, `b` and stars, so that parts overlap and repeat
    const pieces = ["a", "b", "ab", "a", "b", "*", "*", "*", ".", "/", "?", "[ab]", "[^a]", "\\*", "é", "😀"];
    const alphabet = ["a", "b", "a", "b", "a", "b", "/", ".", "*", "é", "😀", "\ud83d"];
    let seed = 11;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor(seed / 65536) % n; // the high bits: the low ones repeat with a short period
    };
    let starsOnly = 0;
    let matched = 0;
    for (let k = 0; k < 1000; k++) {
      const pattern = Array.from({ length: 1 + rand(6) }, () => pieces[rand(pieces.length)]).join("");
      const compiled = compileCopyGlob(pattern)!;
      if (compiled.parts) starsOnly++;
      const re = new RegExp(`^${compiled.source}$`);
      const glob = copyGlobRegExp(pattern);
      for (let j = 0; j < 40; j++) {
        const p = Array.from({ length: rand(8) }, () => alphabet[rand(alphabet.length)]).join("");
        expect(glob.test(p), `${pattern} on ${JSON.stringify(p)}`).toBe(re.test(p));
        if (re.test(p)) matched++;
      }
    }
    expect(starsOnly).toBeGreaterThan(200);
    expect(matched).toBeGreaterThan(1000);
  });
});
