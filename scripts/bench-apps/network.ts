/**
 * Why an original did not build when the cause is the network: builds here reach only the npm
 * registry and Debian's mirror. Reads the build log's tail for the hosts a step tried to reach.
 */

import { buildErrorLine } from "../../src/verify/report.ts";

/** Package indexes named by the errors their clients print when the index cannot be reached. */
const CLIENT_HINTS: [RegExp, string][] = [
  [/Could not find a version that satisfies the requirement|No matching distribution found/, "pypi.org"],
  [/Could not resolve dependencies for project|Could not transfer artifact/, "repo.maven.apache.org"],
  [/Blocking waiting for file lock on package cache|failed to get `[\w-]+` as a dependency/, "crates.io"],
  [/Unable to load the service index for source|NU1301/, "api.nuget.org"],
  [
    /Could not (?:GET|HEAD|resolve) .https?:\/\/services\.gradle\.org|org\.gradle\.wrapper\.Download/,
    "services.gradle.org",
  ],
];

const HOST_AFTER =
  /(?:dial tcp: lookup|UnknownHostException:?|Couldn't connect to|Could not resolve host:?|resolve host|getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|Failed to connect to|Temporary failure in name resolution[^\n]*?host=['"]?|Failed to establish a new connection[^\n]*?host=['"]?)\s*['"]?([a-z0-9-]+(?:\.[a-z0-9-]+)+)/gi;

const RESOLUTION_FAILED =
  /no such host|Could not resolve|ENOTFOUND|EAI_AGAIN|Temporary failure in name resolution|Name or service not known|NewConnectionError|Network is unreachable|i\/o timeout|UnknownHostException|Couldn't connect to/i;

/** Hosts reachable from builds here; their names in a log are not the cause. */
const REACHABLE = /(^|\.)(?:npmjs\.org|npmjs\.com|yarnpkg\.com|debian\.org)$/;

/**
 * The hosts the failing build tried and could not reach, or null when the failure does not look
 * like a network one.
 */
export function unreachableHosts(buildLog: string): string[] | null {
  const hosts = new Set<string>();
  const networkFailure = RESOLUTION_FAILED.test(buildLog);
  if (networkFailure)
    for (const m of buildLog.matchAll(HOST_AFTER)) {
      const host = m[1].toLowerCase().replace(/\.$/, "");
      if (!REACHABLE.test(host) && /[a-z]/.test(host.split(".").pop()!)) hosts.add(host);
    }
  for (const [re, host] of CLIENT_HINTS) if (re.test(buildLog)) hosts.add(host);
  if (hosts.size === 0) return networkFailure ? ["(a host the log does not name)"] : null;
  return [...hosts].sort();
}

/**
 * Why an original failed on its stand-in base image rather than on its own: the stand-in is not the
 * image it asks for (Debian for alpine, a JDK without Maven or Gradle, a newer Node, an older Go). Null when the
 * log shows none of these, or when every image was itself present.
 */
export function standInGap(
  buildLog: string,
  served: { wanted: string; standIn: string | null }[],
): string | null {
  const swapped = served.filter((s) => s.standIn && s.standIn !== s.wanted);
  if (swapped.length === 0) return null;
  const on = swapped.map((s) => `${s.wanted} → ${s.standIn}`).join(", ");
  const alpine = swapped.some((s) => /alpine/.test(s.wanted) && !/alpine/.test(s.standIn!));
  if (
    /apk: not found|"apk": executable file not found/.test(buildLog) ||
    (alpine &&
      /Option \w is ambiguous|adduser: unrecognized option|addgroup: unrecognized option/.test(buildLog))
  )
    return `the stand-in is Debian-based where the original is alpine (apk/busybox tools missing; ${on})`;
  if (
    /\b(?:mvn|gradle)\b[^\n]*(?:not found|executable file not found)|unknown user[^\n]*gradle/.test(buildLog)
  )
    return `the stand-in has no Maven/Gradle (${on})`;
  if (/go\.mod file not found/.test(buildLog))
    return `the stand-in's Go builds in module mode, the original's GOPATH layout has no go.mod (${on})`;
  if (
    /invalid go version '[\d.]+': must match format|unknown directive: toolchain|note: module requires Go /.test(
      buildLog,
    )
  )
    return `the stand-in's Go is older than the one the go.mod asks for (${on})`;
  if (/ERESOLVE|eresolve-report/.test(buildLog))
    return `the stand-in's npm (7+) refuses peer dependencies the original's older npm accepted (${on})`;
  if (/node-pre-gyp ERR!/.test(buildLog))
    return `a native module's prebuilt binary (node-pre-gyp) is not fetched here and it does not compile on the stand-in either (${on})`;
  if (/gyp ERR!/.test(buildLog)) return `a native module does not compile on the stand-in (${on})`;
  return null;
}

/** The failing step and the line that says why, from a build log's tail; null when neither is found. */
export function failureSummary(buildLog: string): string | null {
  const stepLine = /Error: building at STEP "([^"]+)": ([^\n]*)/.exec(buildLog);
  const step = stepLine?.[1].replace(/\s+/g, " ");
  // "exit status 1", "while running runtime: exit status 1": buildah's words, not the build's
  const stepCause = stepLine && !/exit status \d+$/.test(stepLine[2]) ? stepLine[2] : null;
  const cause = stepCause ?? buildErrorLine(buildLog.replace(/^the original does not build: /, ""));
  if (!step && !cause) return null;
  // the scratch copy's name changes from run to run
  return [step, cause]
    .filter(Boolean)
    .join(": ")
    .replace(/\/tmp\/dfopt-verify-[\w-]+\/context/g, "the build context");
}
