import type { DockerfileModel } from "./parse.ts";

/**
 * Suppression comments users already write for their linters, plus dfopt's own:
 *   # dfopt ignore=merge-runs,pin-tags        (next instruction)
 *   # dfopt ignore-file
 *   # hadolint ignore=DL3008,DL3009           (next instruction)
 *   # hadolint global ignore=DL3003           (whole file)
 *   # check=skip=JSONArgsRecommended          (BuildKit directive, whole file; skip=all)
 *   # trivy:ignore:DS-0029                    (next instruction)
 *   #checkov:skip=CKV_DOCKER_3:reason         (whole file)
 * IDs are compared case-insensitively, with Trivy's `AVD-DS-0029`, `DS029`
 * and `DS-0029` all meaning the same check.
 */
export interface Suppressions {
  ignoreFile: boolean;
  fileWide: Set<string>;
  /** 1-based line of an instruction → IDs suppressed for it. */
  byLine: Map<number, Set<string>>;
  /** Every ID named, with where it was named (for reports). */
  isSuppressed(ids: readonly string[], line: number | null): boolean;
}

export function normaliseRuleId(id: string): string {
  const m = /^(?:AVD-)?DS-?0*(\d+)$/i.exec(id.trim());
  if (m) return `DS-${m[1].padStart(4, "0")}`;
  return id.trim().toLowerCase();
}

const splitIds = (list: string) =>
  list
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map(normaliseRuleId);

const cache = new WeakMap<DockerfileModel, Suppressions>();

/** What every suppression comment has after its `#`: a cheap test that most files fail. */
const MAYBE_SUPPRESSION = /#\s*(?:dfopt|hadolint|check|trivy:)/i;

export function readSuppressions(model: DockerfileModel): Suppressions {
  let found = cache.get(model);
  if (!found) {
    found = scanSuppressions(model);
    cache.set(model, found);
  }
  return found;
}

/** What a file without suppression comments suppresses: nothing. */
export const NO_SUPPRESSIONS: Suppressions = {
  ignoreFile: false,
  fileWide: new Set(),
  byLine: new Map(),
  isSuppressed: () => false,
};

function scanSuppressions(model: DockerfileModel): Suppressions {
  if (!MAYBE_SUPPRESSION.test(model.text)) return NO_SUPPRESSIONS;
  const fileWide = new Set<string>();
  const byLine = new Map<number, Set<string>>();
  let ignoreFile = false;
  let pending: string[] = [];
  const instrByLine = new Map(model.instructions.map((i) => [i.line, i]));
  const lines = model.text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    const lineNo = i + 1;
    if (line.startsWith("#")) {
      const body = line.slice(1).trim();
      let m: RegExpExecArray | null;
      if (/^dfopt\s+ignore-file\b/i.test(body)) ignoreFile = true;
      else if ((m = /^dfopt\s+ignore=(\S+)/i.exec(body))) pending.push(...splitIds(m[1]));
      else if ((m = /^hadolint\s+global\s+ignore=(\S+)/i.exec(body)))
        splitIds(m[1]).forEach((id) => fileWide.add(id));
      else if ((m = /^hadolint\s+ignore=(\S+)/i.exec(body))) pending.push(...splitIds(m[1]));
      else if ((m = /^check\s*=\s*skip\s*=\s*(\S+)/i.exec(body)))
        splitIds(m[1]).forEach((id) => fileWide.add(id));
      else if ((m = /^trivy:ignore:(\S+)/i.exec(body))) pending.push(normaliseRuleId(m[1]));
      else if ((m = /^checkov:skip=([A-Za-z0-9_]+)/i.exec(body))) fileWide.add(normaliseRuleId(m[1]));
      continue;
    }
    if (line === "") continue;
    const instr = instrByLine.get(lineNo);
    if (instr && pending.length > 0) {
      const set = new Set(pending);
      for (let l = instr.line; l <= instr.endLine; l++) byLine.set(l, set);
    }
    pending = [];
    if (instr) i = instr.endLine - 1;
  }
  return {
    ignoreFile,
    fileWide,
    byLine,
    isSuppressed(ids, line) {
      if (ignoreFile) return true;
      if (fileWide.size === 0 && byLine.size === 0) return false;
      const wanted = ids.map(normaliseRuleId);
      if (fileWide.has("all") || wanted.some((id) => fileWide.has(id))) return true;
      if (line === null) return false;
      const local = byLine.get(line);
      return !!local && wanted.some((id) => local.has(id));
    },
  };
}
