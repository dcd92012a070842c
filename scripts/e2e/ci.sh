#!/usr/bin/env bash
# ci.sh RESULTS_JSON — the dfopt e2e suite on a clean Debian machine, as root (called by .ci/run).
# Installs buildah/debootstrap/jq/docker-registry (the registry the --resolve tests push to), builds the stand-in base images or restores them from the cache
# (/var/cache/dfopt-e2e/<recipe hash>; keep that folder between CI runs to save ~5 minutes), then runs
# the e2e tests with vitest's JSON reporter writing to RESULTS_JSON. Exit code: vitest's.
# env: DFOPT_E2E_WORK (default /tmp/dfopt-e2e), CACHE_ROOT (default /var/cache/dfopt-e2e),
#      EXTRA_CA (CA files of a TLS-intercepting proxy; default /usr/local/share/ca-certificates/*.crt)
set -euo pipefail
OUT=${1:?usage: scripts/e2e/ci.sh RESULTS_JSON}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "ci.sh: must run as root (buildah with its own storage, debootstrap)" >&2; exit 2; }
t0=$(date +%s)

missing=()
for c in buildah debootstrap jq curl docker-registry; do command -v "$c" >/dev/null || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends buildah debootstrap jq curl docker-registry ca-certificates >/dev/null
fi
command -v node >/dev/null || { echo "ci.sh: node (v20) is required" >&2; exit 2; }
buildah --version

cd "$ROOT"
[ -d node_modules ] || npm ci --no-audit --no-fund
export WORK=${DFOPT_E2E_WORK:-/tmp/dfopt-e2e}
export DFOPT_E2E_WORK=$WORK
df -h "$(dirname "$WORK")" | tail -1
scripts/e2e/base-images.sh ensure
echo "ci.sh: base images ready after $(( $(date +%s) - t0 )) s"

mkdir -p "$(dirname "$OUT")"
rc=0
DFOPT_E2E_SKIP_BASE=1 npx vitest run -c vitest.e2e.config.ts \
  --reporter=default --reporter=json --outputFile.json="$OUT" || rc=$?
echo "ci.sh: done in $(( $(date +%s) - t0 )) s (vitest exit $rc); results in $OUT, table in docs/e2e-results.md"
# keep the base images (they make the next local run fast) but drop the app layer cache
CONTAINERS_STORAGE_CONF=$WORK/storage.conf buildah rmi --prune >/dev/null 2>&1 || true
exit $rc
