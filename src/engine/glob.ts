/**
 * Wildcards, in the two dialects dfopt meets: COPY/ADD sources (Go's
 * filepath.Match, which BuildKit applies one path segment at a time) and the
 * path arguments of the CLI (shell-style, with `**` and `{a,b}`).
 * `.dockerignore` patterns are not globbed here: they follow Docker's own rules.
 */
import type { BuildContext } from "./types.ts";

const GLOB_CHARS = /[*?[]/;

/** True when a path holds a wildcard character. */
export const hasGlob = (p: string): boolean => GLOB_CHARS.test(p);

const NEVER = /(?!)/;

/**
 * A COPY/ADD wildcard as a regular expression over one path (`*` and `?` stop
 * at `/`; `[a-z]`, `[^a]` classes; `\` escapes). A malformed pattern, which
 * BuildKit rejects, matches nothing.
 */
export function copyGlobRegExp(pattern: string): PathMatcher {
  const compiled = compileCopyGlob(pattern);
  if (compiled === null) return NEVER;
  return compiled.parts ? starMatcher(compiled.parts) : linearMatcher(compiled.source);
}

/**
 * The regular expression source (between `^` and `$`) of a COPY/ADD wildcard, null when it is
 * malformed; and when it is only literals and `*` with no `/` in it, its literal parts between the
 * stars, which `starMatcher` tests with string compares.
 */
export function compileCopyGlob(pattern: string): { source: string; parts: string[] | null } | null {
  let re = "";
  let starsOnly = true;
  const parts: string[] = [];
  let part = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      re += "[^/]*";
      parts.push(part);
      part = "";
    } else if (c === "?") {
      re += "[^/]";
      starsOnly = false;
    } else if (c === "\\") {
      if (i + 1 >= pattern.length) return null;
      part += pattern[i + 1];
      re += escapeChar(pattern[++i]);
    } else if (c === "[") {
      starsOnly = false;
      let body = "";
      let j = i + 1;
      if (pattern[j] === "^") {
        body += "^";
        j++;
      }
      const first = j;
      for (; j < pattern.length && !(pattern[j] === "]" && j > first); j++) {
        const d = pattern[j];
        if (d === "\\") {
          if (j + 1 >= pattern.length) return null;
          body += escapeChar(pattern[++j]);
        } else body += d === "-" ? "-" : escapeChar(d);
      }
      if (j >= pattern.length || j === first) return null;
      re += `[${body}]`;
      i = j;
    } else {
      part += c;
      re += escapeChar(c);
    }
  }
  parts.push(part);
  return { source: re, parts: starsOnly && !parts.some((p) => p.includes("/")) ? parts : null };
}

/**
 * A wildcard of literal parts joined by `*` (each matching any run of characters but `/`; no
 * part holds a `/`), tested by string compares: the first part is a prefix, the last a suffix,
 * and each part between is taken at its first place after the one before. That first place is
 * as good as any later one, so no choice is ever undone: time linear in the path (times the
 * pattern's length), with no automaton to step per character.
 */
function starMatcher(parts: readonly string[]): PathMatcher {
  const first = parts[0];
  const last = parts[parts.length - 1];
  let least = 0;
  for (const p of parts) least += p.length;
  if (parts.length === 1) return { test: (path) => path === first };
  return {
    test(path: string): boolean {
      if (path.length < least || !path.startsWith(first) || !path.endsWith(last)) return false;
      if (path.includes("/")) return false;
      const end = path.length - last.length;
      let at = first.length;
      for (let k = 1; k < parts.length - 1; k++) {
        const found = path.indexOf(parts[k], at);
        if (found === -1) return false;
        at = found + parts[k].length;
      }
      return at <= end;
    },
  };
}

function escapeChar(c: string): string {
  return /[.+*?^${}()|[\]\\/-]/.test(c) ? "\\" + c : c;
}

/** Converts a shell-style glob (`*`, `**`, `?`, `[...]`, `{a,b}`) to a regex over `/`-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        i++;
        if (atStart && glob[i + 1] === "/") {
          i++;
          re += "(?:[^/]*/)*";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, close).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body}]`;
        i = close;
      }
    } else if (c === "{") {
      braces++;
      re += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      re += ")";
    } else if (c === "," && braces > 0) re += "|";
    else re += c.replace(/[.+^$()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * The context paths a COPY/ADD source names, as BuildKit expands it: each
 * segment with a wildcard is matched against the folder's entries. `pattern`
 * is context-relative and normalised (see `contextPath`); `` is the root.
 */
export function globContext(context: BuildContext, pattern: string): string[] {
  let paths = [""];
  for (const seg of pattern.split("/").filter(Boolean)) {
    const next: string[] = [];
    for (const p of paths) {
      if (!hasGlob(seg)) {
        const q = p ? `${p}/${seg}` : seg;
        if (context.exists(q)) next.push(q);
        continue;
      }
      const re = copyGlobRegExp(seg);
      for (const name of context.list(p)) if (re.test(name)) next.push(p ? `${p}/${name}` : name);
    }
    paths = next;
  }
  return paths;
}

/** What a wildcard compiles to: a test over one path (or one name), in time linear in its length. */
export interface PathMatcher {
  test(path: string): boolean;
}

/** One step of a linear matcher: a character test, taken once or any number of times; any folders; `^`. */
type Step =
  { kind: "char"; test: (c: string) => boolean; star: boolean } | { kind: "folders" } | { kind: "start" };

/** JavaScript's `.` without the `s` flag. */
const dot = (c: string) => c !== "\n" && c !== "\r" && c !== "\u2028" && c !== "\u2029";
const notSlash = (c: string) => c !== "/";

/**
 * The steps of the wildcard regular expressions dfopt generates (the source between `^` and `$`):
 * literals and `\`-escapes, `[^/]`, `[^/]*`, `[...]` classes, `.*`, any folders (the group
 * `(.*` `/)?` of `**`) and a `^` anchor;
 * null for anything else.
 */
function steps(chars: readonly string[], flags: string): Step[] | null {
  const out: Step[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (chars.slice(i, i + 6).join("") === "(.*/)?") {
      out.push({ kind: "folders" });
      i += 5;
    } else if (c === "." && chars[i + 1] === "*") {
      out.push({ kind: "char", test: dot, star: true });
      i++;
    } else if (c === "^") out.push({ kind: "start" });
    else if (c === "\\") {
      if (i + 1 >= chars.length) return null;
      const literal = chars[++i];
      out.push({ kind: "char", test: (x) => x === literal, star: false });
    } else if (c === "[") {
      // a class ends at the first unescaped `]` (in JavaScript `[]` is empty, `[^]` is anything)
      let j = i + 1;
      if (chars[j] === "^") j++;
      for (; j < chars.length && chars[j] !== "]"; j++) if (chars[j] === "\\") j++;
      if (j >= chars.length) return null;
      const body = chars.slice(i, j + 1).join("");
      const star = chars[j + 1] === "*";
      const re = new RegExp(`^${body}$`, flags);
      out.push({ kind: "char", test: body === "[^/]" ? notSlash : (x) => re.test(x), star });
      i = star ? j + 1 : j;
    } else if (/[.*+?(){}|$\]]/.test(c)) return null;
    else out.push({ kind: "char", test: (x) => x === c, star: false });
  }
  return out;
}

/**
 * A matcher for `^source$` that takes time linear in the path (times the pattern's length): its
 * steps are followed as a set of states, never by backtracking, so a pattern such as `a*a*a*a*b`
 * cannot take time exponential in its stars against a long name, as a JavaScript RegExp does
 * (Docker's Go matcher is linear too). Throws when `^source$` is not a valid regular expression;
 * a source outside the forms dfopt generates is tested by the RegExp.
 */
export function linearMatcher(source: string, flags = ""): PathMatcher {
  const regexp = new RegExp(`^${source}$`, flags);
  // with `u` the RegExp reads code points, without it UTF-16 code units
  const codePoints = flags.includes("u");
  const plan = steps(codePoints ? [...source] : source.split(""), flags);
  if (plan === null) return regexp;
  const n = plan.length;
  /** Adds the states reachable without reading a character (every step's skip leads forward). */
  const close = (states: Uint8Array, atStart: boolean) => {
    for (let i = 0; i < n; i++) {
      if (!states[i]) continue;
      const s = plan[i];
      if (s.kind === "folders" || (s.kind === "char" && s.star) || (s.kind === "start" && atStart))
        states[i + 1] = 1;
    }
  };
  // at[i]: step i is next; inside[i]: within the `.*` of the folders step i (kept between calls:
  // a test runs to its end before the next starts)
  let at = new Uint8Array(n + 1);
  let inside = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  let nextInside = new Uint8Array(n + 1);
  return {
    test(path: string): boolean {
      at.fill(0);
      inside.fill(0);
      at[0] = 1;
      close(at, true);
      for (let k = 0; k < path.length; k++) {
        let c = path[k];
        if (codePoints && path.codePointAt(k)! > 0xffff) {
          c = path.slice(k, k + 2); // a surrogate pair, one code point
          k++;
        }
        next.fill(0);
        nextInside.fill(0);
        let alive = false;
        for (let i = 0; i < n; i++) {
          const s = plan[i];
          if (s.kind === "char" && at[i] && s.test(c)) {
            next[s.star ? i : i + 1] = 1;
            alive = true;
          } else if (s.kind === "folders" && (at[i] || inside[i])) {
            if (dot(c)) nextInside[i] = 1;
            if (c === "/") next[i + 1] = 1;
            alive ||= dot(c);
          }
        }
        if (!alive) return false;
        close(next, false);
        [at, next] = [next, at];
        [inside, nextInside] = [nextInside, inside];
      }
      return at[n] === 1;
    },
  };
}
