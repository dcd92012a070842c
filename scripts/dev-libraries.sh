#!/usr/bin/env bash
# scripts/dev-libraries.sh — regenerates transforms/split-stages/toolkit/dev-libraries.ts from
# Debian's package metadata: `apt-cache show` of the -dev packages real Dockerfiles install
# (scripts/dev-libraries-table.ts names) and of what they depend on, for Debian 11, 12 and 13,
# read in a fresh container of the e2e stand-in debian:bookworm-slim (scripts/e2e/base-images.sh)
# after `apt-get update` against each release's main archive.
# Run as root after scripts/e2e/ci.sh (or base-images.sh ensure) built the stand-in images.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${DFOPT_E2E_WORK:-/tmp/dfopt-e2e}
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
c=$(buildah from --pull=never docker.io/library/debian:bookworm-slim)
trap 'buildah rm "$c" >/dev/null; rm -rf "$tmp"' EXIT
cd "$ROOT"
npx tsx scripts/dev-libraries-table.ts names >"$tmp/names"
buildah copy "$c" "$tmp/names" /tmp/names >/dev/null
for r in bullseye bookworm trixie; do
  # three rounds: the -dev packages, what they depend on, and what those depend on
  buildah run "$c" -- sh -euc '
    r=$1
    echo "deb http://deb.debian.org/debian $r main" >/etc/apt/$r.list
    mkdir -p /var/lib/apt/lists-$r/partial
    set -- -o Dir::Etc::SourceList=/etc/apt/$r.list -o Dir::Etc::SourceParts=- \
      -o Dir::State::Lists=/var/lib/apt/lists-$r -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    apt-get -qq "$@" update >&2
    names=$(cat /tmp/names)
    for round in 1 2 3; do
      out=$(apt-cache "$@" show --no-all-versions $names 2>/dev/null || true)
      printf "%s\n\n" "$out"
      names=$(printf "%s\n" "$out" | sed -n "s/^\(Pre-\)\{0,1\}Depends: //p" | tr ",|" "\n\n" |
        sed "s/(.*//; s/:any//; s/ //g" | sort -u)
    done' sh "$r" >"$tmp/$r.txt"
done
npx tsx scripts/dev-libraries-table.ts table "$tmp" >transforms/split-stages/toolkit/dev-libraries.ts
npx prettier --write transforms/split-stages/toolkit/dev-libraries.ts >/dev/null
