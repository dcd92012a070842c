/** Which file names are Dockerfiles: shared by discovery and by transforms that look at a context's files. */

/** `Dockerfile.<ext>` files that are backups, patches, ignore files or templates, not Dockerfiles. */
const NOT_DOCKERFILE_EXT = new Set([
  "orig",
  "bak",
  "rej",
  "swp",
  "swo",
  "tmp",
  "old",
  "patch",
  "diff",
  "dockerignore",
  "md",
  "txt",
  "j2",
  "jinja",
  "jinja2",
  "tmpl",
  "tpl",
  "template",
  "in",
  "erb",
  "m4",
]);
/**
 * `Dockerfile`, `Containerfile`, `*.Dockerfile`, `*.dockerfile`, `Dockerfile.*`
 * (case-insensitive), except `.dockerignore` files, editor backups, patch
 * leftovers and templates (`Dockerfile.j2`, `Dockerfile.in`, ...).
 */
export function isDockerfileName(name: string): boolean {
  if (isNeverDockerfile(name)) return false;
  const lower = name.toLowerCase();
  if (lower === "dockerfile" || lower === "containerfile") return true;
  if (lower.endsWith(".dockerfile") || lower.endsWith(".containerfile")) {
    return !lower.startsWith(".") || lower.length > ".dockerfile".length;
  }
  return /^(?:dockerfile|containerfile)\../.test(lower);
}

/** Editor backups, patch leftovers, ignore files and templates: not taken even when a glob matches them. */
export function isNeverDockerfile(name: string): boolean {
  if (name.endsWith("~") || name.startsWith(".#")) return true;
  const lower = name.toLowerCase();
  if (lower === ".dockerignore" || lower.endsWith(".dockerignore")) return true;
  const m = /^(?:dockerfile|containerfile)\.(.+)$/.exec(lower);
  if (!m) return /\.(?:orig|bak|rej|swp|swo)$/.test(lower);
  const ext = m[1].slice(m[1].lastIndexOf(".") + 1);
  return NOT_DOCKERFILE_EXT.has(ext) || NOT_DOCKERFILE_EXT.has(m[1]);
}
