/**
 * `.dockerignore` as Docker reads it, not as git reads a `.gitignore`: moby's
 * ignorefile.ReadAll and patternmatcher (github.com/moby/patternmatcher, used
 * by BuildKit and the docker CLI), written out. Where the two differ:
 * - a pattern is matched against the path from the context root, with
 *   filepath.Match's `*`, `?` and `[...]` plus `**`: `secret.txt` and `*.log`
 *   match at the root only (git: at any depth);
 * - a pattern matching a folder matches everything under it, and a later
 *   `!` pattern re-includes a path under an excluded folder (git cannot);
 * - patterns are cleaned (`./a/../b/` is `b`), a leading `/` is ignored,
 *   a trailing `/` does not restrict the pattern to folders.
 */
import { linearMatcher, type PathMatcher } from "./glob.ts";

interface Pattern {
  exclusion: boolean;
  /** The cleaned pattern, without its `!`. */
  text: string;
  test: (path: string) => boolean;
}

/** Go's filepath.Clean for `/`-separated paths. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (part === ".." && rooted) continue;
    else out.push(part);
  }
  const joined = out.join("/");
  return rooted ? "/" + joined : joined || ".";
}

/**
 * The patterns of a .dockerignore text (moby's ignorefile.ReadAll): BOM and
 * `#` comment lines dropped, each line trimmed and cleaned, a leading `/`
 * removed, `!` kept in front.
 */
export function dockerignorePatterns(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern.startsWith("!");
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}

/** Regex characters that are not filepath.Match syntax, escaped as moby's shouldEscape does. */
const ESCAPE = new Set([...".+()|{}$"]);
/** A character escaped with a backslash in a pattern, as a literal in a JS regex (u mode rejects `\\a`). */
const literal = (ch: string) => (/[\^$\\.*+?()[\]{}|/]/.test(ch) ? "\\" + ch : ch);

/** patternmatcher's Pattern.compile: a test for one cleaned pattern, or null when it is malformed. */
function compile(pattern: string): ((path: string) => boolean) | null {
  let re = "^";
  let type: "exact" | "prefix" | "suffix" | "regexp" = "exact";
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        const first = i === 0;
        i++;
        if (chars[i + 1] === "/") i++; // `**/` is `**`
        if (i + 1 >= chars.length) {
          if (type === "exact") type = "prefix";
          else {
            re += ".*";
            type = "regexp";
          }
        } else {
          re += "(.*/)?";
          type = "regexp";
        }
        if (first) type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      type = "regexp";
    } else if (ESCAPE.has(ch)) {
      re += "\\" + ch;
    } else if (ch === "\\") {
      if (i + 1 < chars.length) {
        re += literal(chars[++i]);
        type = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      type = "regexp";
    } else re += ch; // `^` included: Go's regexp reads it as JS does
  }
  switch (type) {
    case "exact":
      return (path) => path === pattern;
    case "prefix": {
      const prefix = pattern.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case "suffix": {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
    }
    case "regexp": {
      // linear in the path: a backtracking RegExp takes exponential time on `a*a*a*b` (Go's does not)
      let matcher: PathMatcher;
      try {
        matcher = linearMatcher(re.slice(1), "u");
      } catch {
        return null;
      }
      return (path) => matcher.test(path);
    }
  }
}

export interface DockerignoreMatcher {
  /**
   * Whether Docker leaves `path` (relative to the context root,
   * `/`-separated) out of the build context. A path outside the context or
   * the root itself is never ignored.
   */
  ignores(path: string): boolean;
  /** Whether a pattern was malformed (Docker refuses to build with such a file); it is skipped. */
  readonly malformed: boolean;
}

function build(patterns: readonly string[]): DockerignoreMatcher {
  const compiled: Pattern[] = [];
  let malformed = false;
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === "") continue;
    p = cleanPath(p);
    const exclusion = p.startsWith("!");
    if (exclusion) p = p.slice(1);
    const test = p === "" ? null : compile(p);
    if (test === null) malformed = true;
    else compiled.push({ exclusion, text: p, test });
  }
  return {
    malformed,
    ignores(path: string): boolean {
      const file = cleanPath(path.replace(/^(?:\.\/)+/, ""));
      if (file === "." || file === ".." || file.startsWith("../") || file.startsWith("/")) return false;
      // the folders above it, nearest the root first (made once, not once per pattern)
      let parents: string[] | null = null;
      const folders = () => {
        if (parents === null) {
          parents = [];
          for (let at = file.indexOf("/"); at !== -1; at = file.indexOf("/", at + 1))
            parents.push(file.slice(0, at));
        }
        return parents;
      };
      // patternmatcher's MatchesOrParentMatches: the last pattern matching the path or a folder above it wins.
      let matched = false;
      for (const pattern of compiled) {
        if (pattern.exclusion !== matched) continue;
        const match = pattern.test(file) || folders().some((p) => pattern.test(p));
        if (match) matched = !pattern.exclusion;
      }
      return matched;
    },
  };
}

// Most files ask about the same few pattern lists; compiling one costs far more than a lookup.
const matchers = new Map<string, DockerignoreMatcher>();

/** A matcher for patterns as dockerignorePatterns gives them (cached). */
export function dockerignoreMatcher(patterns: readonly string[]): DockerignoreMatcher {
  const key = patterns.join("\n");
  let matcher = matchers.get(key);
  if (!matcher) {
    if (matchers.size >= 256) matchers.delete(matchers.keys().next().value!);
    matchers.set(key, (matcher = build(patterns)));
  }
  return matcher;
}

/** A matcher for a .dockerignore text. */
export function parseDockerignore(text: string): DockerignoreMatcher {
  return dockerignoreMatcher(dockerignorePatterns(text));
}
