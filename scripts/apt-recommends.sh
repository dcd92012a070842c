#!/usr/bin/env bash
# scripts/apt-recommends.sh — regenerates transforms/pkg/apt-recommends.ts from Debian's package
# metadata: the Packages indexes (Depends, Pre-Depends, Recommends, Provides, Priority of every
# package; main, -updates and -security, amd64) of each supported release, downloaded from
# deb.debian.org, as `apt-get update` reads them in a debian:<release>-slim image.
# Releases no longer on deb.debian.org (buster and older live on archive.debian.org) are not
# covered: set DFOPT_DEBIAN_MIRROR to a mirror that has them and add them to RELEASES.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIRROR=${DFOPT_DEBIAN_MIRROR:-http://deb.debian.org}
RELEASES=${RELEASES:-bullseye bookworm trixie}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for r in $RELEASES; do
  files=()
  for suite in "debian-security/dists/$r-security" "debian/dists/$r-updates" "debian/dists/$r"; do
    out="$tmp/${suite//\//_}"
    curl -fsSL --retry 3 "$MIRROR/$suite/main/binary-amd64/Packages.xz" | xz -d >"$out"
    files+=("$out")
  done
  args+=("$r=$(IFS=,; echo "${files[*]}")")
done
cd "$ROOT"
# the generator imports the transform, which imports the table: write it aside first
npx tsx scripts/apt-recommends-table.ts "${args[@]}" >"$tmp/apt-recommends.ts"
mv "$tmp/apt-recommends.ts" transforms/pkg/apt-recommends.ts
npx prettier --write transforms/pkg/apt-recommends.ts >/dev/null
