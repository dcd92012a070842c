import { copyGlobRegExp } from "../../src/engine/glob.ts";
import type { Instr } from "../../src/engine/parse.ts";
import type { BuildContext, Change, Refusal, Transform } from "../../src/engine/types.ts";
import { contextMemo } from "../lib/context-memo.ts";
import { matchCase } from "./util.ts";

const RULES = ["DL3020", "DS-0005", "CKV_DOCKER_4"];

/** Names ADD would auto-extract when the file is a local archive. */
const ARCHIVE_NAME =
  /\.(?:tar|tgz|taz|tb2|tbz|tbz2|tz2|txz|tlz|tzst|gz|bz2|xz|lz|lzma|zst|z)$|\.tar\.[a-z0-9]+$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\/|^git@|\.git(?:#.*)?$/i;
const GLOB = /[*?[\]]/;
const FLAGS_KEPT = new Set(["chown", "chmod", "link"]);

/** Bytes that hold every magic number below (a tar header is one 512-byte block). */
const ARCHIVE_MAGIC_BYTES = 512;

/**
 * Whether ADD might extract a file starting with `start` (one character per
 * byte): tar (`ustar` magic), gzip, bzip2, xz, zstd. Contexts that hold text
 * rather than bytes give U+FFFD for high bytes, so those are matched loosely.
 */
function looksLikeArchive(start: string): boolean {
  if (start.length >= 262 && start.slice(257, 262) === "ustar") return true;
  // eslint-disable-next-line no-control-regex -- 0x1f 0x8b is gzip's magic number
  if (/^\x1f(?:\x8b|\uFFFD)/.test(start)) return true;
  if (start.startsWith("BZh")) return true;
  if (/^(?:\xFD|\uFFFD)7zXZ/.test(start)) return true;
  if (/^\x28(?:\xB5|\uFFFD)\x2F/.test(start)) return true;
  return false;
}

/** Exec-form sources and destination, or shell-form words. */
function addWords(instr: Instr, text: string): string[] | null {
  if (!instr.execForm) return instr.args.map((a) => a.value);
  if (!instr.argsSpan) return null;
  try {
    const parsed: unknown = JSON.parse(text.slice(instr.argsSpan.start, instr.argsSpan.end));
    return Array.isArray(parsed) && parsed.every((p) => typeof p === "string") ? parsed : null;
  } catch {
    return null;
  }
}

/** `unchecked`: the source is not in the build context, so its content could not rule out an archive. */
type Verdict = { ok: true; unchecked?: boolean } | { ok: false; refuse: string | null };

// A verdict depends only on the source and the build context: a wildcard
// over a large folder reads its files once, not once per look at the file.
const verdicts = contextMemo<Verdict>(4096);

function judgeSource(src: string, context: BuildContext): Verdict {
  if (URL_LIKE.test(src)) return { ok: false, refuse: null }; // remote ADD: not this smell
  if (src.includes("$")) {
    return { ok: false, refuse: `source '${src}' uses a variable that could name a URL or an archive` };
  }
  if (src.includes("\\") && !/^[A-Za-z0-9_./\\-]+$/.test(src)) {
    return { ok: false, refuse: `source '${src}' has escapes dfopt does not read` };
  }
  const rel = src.replace(/^\.\//, "").replace(/^\/+/, "");
  if (GLOB.test(src)) {
    const slash = rel.lastIndexOf("/");
    const dir = slash === -1 ? "" : rel.slice(0, slash);
    const pattern = rel.slice(slash + 1);
    if (GLOB.test(dir))
      return { ok: false, refuse: `source '${src}' is a wildcard that could match an archive` };
    const re = copyGlobRegExp(pattern);
    const matches = context.list(dir).filter((n) => re.test(n));
    if (matches.length === 0) {
      if (/[*?\]]$/.test(pattern) || ARCHIVE_NAME.test(pattern.replace(/[*?]/g, "x"))) {
        return { ok: false, refuse: `source '${src}' is a wildcard that could match an archive` };
      }
      return { ok: true, unchecked: true };
    }
    for (const m of matches) {
      const v = judgeSource(dir ? `${dir}/${m}` : m, context);
      if (!v.ok) return { ok: false, refuse: v.refuse ?? `source '${src}' matches an archive` };
    }
    return { ok: true };
  }
  if (ARCHIVE_NAME.test(rel)) return { ok: false, refuse: null }; // ADD extracts it: legitimate use
  if (rel !== "" && !context.exists(rel)) return { ok: true, unchecked: true };
  if (rel !== "" && !context.isDirectory(rel)) {
    const start = context.readStart(rel, ARCHIVE_MAGIC_BYTES);
    if (start === undefined)
      return { ok: false, refuse: `source '${src}' could not be read to rule out an archive` };
    if (looksLikeArchive(start)) return { ok: false, refuse: null };
  }
  return { ok: true };
}

export const addToCopy: Transform = {
  id: "add-to-copy",
  description: "Use COPY instead of ADD for local files and folders",
  rationale:
    "ADD also fetches URLs and unpacks local archives, so a reader (and a scanner) cannot tell what an ADD of a " +
    "local path does without looking at the file. For sources that are neither URLs nor archives COPY does exactly " +
    "the same. Sources with variables, wildcards that could match an archive, files whose content is an archive, " +
    "ADD-only flags (--checksum, --keep-git-dir, --unpack) and git URLs are left alone. When the build context is " +
    "not available, archives are recognised by their name, as hadolint does.",
  applicability: "safe",
  reads: ["ADD", "COPY"],
  applicabilityNote:
    "COPY does what ADD does for files that are neither URLs nor archives. A change whose source is not in the build context (so its content could not be checked for an archive) is unsafe.",
  rules: RULES,
  run({ model, context }) {
    const changes: Change[] = [];
    const refusals: Refusal[] = [];
    for (const instr of model.instructions) {
      if (instr.keyword !== "ADD" || instr.stage < 0 || instr.hasHeredoc) continue;
      const other = instr.flags.find((f) => !FLAGS_KEPT.has(f.name));
      if (other) {
        if (other.name !== "checksum" && other.name !== "keep-git-dir") {
          refusals.push({
            line: instr.line,
            reason: `ADD --${other.name} has no COPY equivalent dfopt knows`,
            rules: RULES,
          });
        }
        continue;
      }
      const words = addWords(instr, model.text);
      if (!words || words.length < 2) continue;
      let verdict: Verdict = { ok: true };
      let unchecked = false;
      for (const src of words.slice(0, -1)) {
        verdict = verdicts(context, src, () => judgeSource(src, context));
        if (!verdict.ok) break;
        unchecked ||= verdict.unchecked === true;
      }
      if (!verdict.ok) {
        if (verdict.refuse)
          refusals.push({ line: instr.line, reason: `ADD kept: ${verdict.refuse}`, rules: RULES });
        continue;
      }
      changes.push({
        edits: [{ ...instr.keywordSpan, text: matchCase(instr.keywordText, "COPY") }],
        line: instr.line,
        message: unchecked
          ? "ADD of local files → COPY (a source is not in the build context: not checked for an archive)"
          : "ADD of local files → COPY",
        rules: RULES,
        ...(unchecked ? { applicability: "unsafe" as const } : {}),
      });
    }
    return { changes, refusals };
  },
};
