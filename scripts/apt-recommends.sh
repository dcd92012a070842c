#!/usr/bin/env bash
# scripts/apt-recommends.sh — regenerates transforms/pkg/apt-recommends.ts from Debian's package
# metadata: `apt-cache dumpavail` (Depends, Pre-Depends, Recommends, Provides of every package) and
# the packages already installed, both read in a fresh container of the e2e stand-in
# debian:bookworm-slim (scripts/e2e/base-images.sh), after `apt-get update`.
# Run as root after scripts/e2e/ci.sh (or base-images.sh ensure) built the stand-in images.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${DFOPT_E2E_WORK:-/tmp/dfopt-e2e}
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
c=$(buildah from --pull=never docker.io/library/debian:bookworm-slim)
trap 'buildah rm "$c" >/dev/null; rm -rf "$tmp"' EXIT
buildah run "$c" -- apt-get update -qq >&2
buildah run "$c" -- apt-cache dumpavail >"$tmp/dumpavail"
buildah run "$c" -- dpkg-query -W -f '${Package}\n' >"$tmp/installed"
cd "$ROOT"
npx tsx scripts/apt-recommends-table.ts "$tmp/dumpavail" "$tmp/installed" >transforms/pkg/apt-recommends.ts
npx prettier --write transforms/pkg/apt-recommends.ts >/dev/null
