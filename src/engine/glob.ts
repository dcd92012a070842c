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
export function copyGlobRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      if (i + 1 >= pattern.length) return NEVER;
      re += escapeChar(pattern[++i]);
    } else if (c === "[") {
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
          if (j + 1 >= pattern.length) return NEVER;
          body += escapeChar(pattern[++j]);
        } else body += d === "-" ? "-" : escapeChar(d);
      }
      if (j >= pattern.length || j === first) return NEVER;
      re += `[${body}]`;
      i = j;
    } else re += escapeChar(c);
  }
  return new RegExp(`^${re}$`);
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
