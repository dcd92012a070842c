import fs from "node:fs";
import path from "node:path";

const repositories = new Map<string, string | null>();

/** Forgets the folders looked up so far: a later run must see the tree as it is then. */
export function forgetRepositories(): void {
  repositories.clear();
}

/** The nearest folder at or above `dir` for which `is` holds, or null; `memo` caches folders (one test per memo). */
export function nearestFolder(
  dir: string,
  is: (dir: string) => boolean,
  memo: Map<string, string | null>,
): string | null {
  const known = memo.get(dir);
  if (known !== undefined) return known;
  const up = path.dirname(dir);
  const found = is(dir) ? dir : up === dir ? null : nearestFolder(up, is, memo);
  memo.set(dir, found);
  return found;
}

const holdsGit = (dir: string) => fs.existsSync(path.join(dir, ".git"));

/** The nearest folder at or above `dir` holding `.git` (a repository's root), or null; `memo` caches folders. */
export function repositoryRoot(dir: string, memo: Map<string, string | null> = repositories): string | null {
  return nearestFolder(dir, holdsGit, memo);
}
