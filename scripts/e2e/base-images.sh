#!/usr/bin/env bash
# base-images.sh — local stand-ins for the Docker Hub / gcr.io base images dfopt's e2e apps use,
# built with buildah + debootstrap only (no Docker engine, no image registry needed).
#
# Every image is stored as localhost/dfopt-standin/<name>:<tag> (the honest name), tagged with the
# public name (docker.io/library/node:20, gcr.io/distroless/static-debian12, ...) so an unmodified
# `FROM node:20` resolves with --pull=never, and labelled dfopt.standin=true.
#
# usage: scripts/e2e/base-images.sh CMD
#   ensure     load the images from the cache ($CACHE_ROOT/<recipe hash>) when it exists, otherwise
#              build them all and save the cache; does nothing when they are already in storage
#   build      build every image from scratch (debootstrap + derived images)
#   add NAME   build one image family on the stand-ins already in storage, leaving the others alone
#              (NAME: distroless-node); after it the storage holds what `ensure` of this recipe
#              would give, and `add` stamps the recipe so `ensure` does not rebuild the rest
#   save-cache | load-cache   OCI layout in $CACHE_DIR  <->  buildah storage
#   hash       print the recipe hash (this file + host node version + ISO week)
#   env        print the exports that point plain `buildah` at the same storage
#   list       the images and their sizes
#   clean      remove the rootfs work folders
# env: WORK (default /tmp/dfopt-e2e): storage root, rootfs, logs. Never inside a git checkout.
#      CACHE_ROOT (default /var/cache/dfopt-e2e), CACHE_DIR (default $CACHE_ROOT/<hash>)
#      DRIVER overlay|vfs (default overlay), MIRROR, SECURITY_MIRROR (default deb.debian.org)
#      EXTRA_CA: PEM files of a TLS-intercepting proxy to trust inside the images
#                (default: /usr/local/share/ca-certificates/*.crt when present; EXTRA_CA= disables)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-/tmp/dfopt-e2e}
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
GRAPHROOT=${GRAPHROOT:-$WORK/storage/graph}
RUNROOT=${RUNROOT:-$WORK/storage/run}
DRIVER=${DRIVER:-overlay}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
EXTRA_CA=${EXTRA_CA-$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null | tr '\n' ' ' || true)}
CACHE_ROOT=${CACHE_ROOT:-/var/cache/dfopt-e2e}
LOG=$WORK/logs
BASE=$WORK/base-images
mkdir -p "$LOG" "$BASE"

export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export BUILDAH_ISOLATION=chroot
PATH_STD=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DESC="LOCAL STAND-IN built by dfopt scripts/e2e/base-images.sh from Debian bookworm packages; NOT the registry image"
YARN_VERSION=1.22.22
RUST_VERSION_DEB=1.85.0+dfsg3-1~deb12u3

# short name -> public names (first one is the main public tag)
declare -A NAMES=(
  [debian:bookworm]="docker.io/library/debian:bookworm docker.io/library/debian:12"
  [debian:bookworm-slim]="docker.io/library/debian:bookworm-slim docker.io/library/debian:12-slim"
  [node:20]="docker.io/library/node:20 docker.io/library/node:20-bookworm"
  [node:20-slim]="docker.io/library/node:20-slim docker.io/library/node:20-bookworm-slim"
  [golang:1.19]="docker.io/library/golang:1.19 docker.io/library/golang:1.19-bookworm"
  [eclipse-temurin:17-jdk]="docker.io/library/eclipse-temurin:17-jdk docker.io/library/eclipse-temurin:17"
  [eclipse-temurin:17-jre]="docker.io/library/eclipse-temurin:17-jre"
  [python:3.11]="docker.io/library/python:3.11 docker.io/library/python:3.11-bookworm"
  [python:3.11-slim]="docker.io/library/python:3.11-slim docker.io/library/python:3.11-slim-bookworm"
  [rust:1.85]="docker.io/library/rust:1.85 docker.io/library/rust:1.85-bookworm docker.io/library/rust:1.85.0"
  [rust:1.85-slim]="docker.io/library/rust:1.85-slim docker.io/library/rust:1.85-slim-bookworm"
  [distroless/static-debian12:latest]="gcr.io/distroless/static-debian12:latest"
  [distroless/static-debian12:nonroot]="gcr.io/distroless/static-debian12:nonroot"
  [distroless/cc-debian12:latest]="gcr.io/distroless/cc-debian12:latest"
  [distroless/cc-debian12:nonroot]="gcr.io/distroless/cc-debian12:nonroot"
  [distroless/nodejs20-debian12:latest]="gcr.io/distroless/nodejs20-debian12:latest"
  [distroless/nodejs20-debian12:nonroot]="gcr.io/distroless/nodejs20-debian12:nonroot"
)
ORDER=(debian:bookworm debian:bookworm-slim node:20 node:20-slim golang:1.19
  eclipse-temurin:17-jdk eclipse-temurin:17-jre python:3.11 python:3.11-slim rust:1.85 rust:1.85-slim
  distroless/static-debian12:latest distroless/static-debian12:nonroot
  distroless/cc-debian12:latest distroless/cc-debian12:nonroot
  distroless/nodejs20-debian12:latest distroless/nodejs20-debian12:nonroot)

local_name() { echo "localhost/dfopt-standin/$1"; }
has_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }
now() { date +%s.%N; }
timed() { # timed LABEL cmd...
  local label=$1 t0 rc=0; shift; t0=$(now)
  "$@" || rc=$?
  printf '%-40s %7.1f s%s\n' "$label" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{print b-a}')" \
    "$([ $rc = 0 ] || echo "  FAILED rc=$rc")" | tee -a "$LOG/timings.txt"
  return $rc
}
tag_all() { buildah tag "$(local_name "$1")" ${NAMES[$1]}; }

recipe_hash() {
  { cat "${BASH_SOURCE[0]}"; node --version 2>/dev/null || true; date -u +%G-W%V; echo "$DRIVER"; } \
    | sha256sum | cut -c1-16
}
CACHE_DIR=${CACHE_DIR:-$CACHE_ROOT/$(recipe_hash)}

write_conf() {
  mkdir -p "$GRAPHROOT" "$RUNROOT"
  printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n' "$DRIVER" "$GRAPHROOT" "$RUNROOT" \
    > "$CONTAINERS_STORAGE_CONF"
  printf 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n' \
    > "$CONTAINERS_REGISTRIES_CONF"
  rm -f "$BASE/extra-ca.crt"
  if [ -n "${EXTRA_CA// /}" ]; then cat $EXTRA_CA > "$BASE/extra-ca.crt"; fi
}

# ------------------------------------------------------------------ debootstrap -> debian images
make_rootfs() {
  local R=$WORK/rootfs S=$WORK/rootfs-slim
  rm -rf "$R" "$S"
  debootstrap --variant=minbase --arch=amd64 bookworm "$R" "$MIRROR" > "$LOG/debootstrap.log" 2>&1 \
    || { tail -20 "$LOG/debootstrap.log"; return 1; }
  rm -f "$R/etc/apt/sources.list"
  cat > "$R/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # the apt/dpkg settings of the official debian images (debuerreotype)
  cat > "$R/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$R/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$R/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$R/etc/apt/apt.conf.d/docker-autoremove-suggests"
  echo 'force-unsafe-io' > "$R/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
  rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin \
    "$R"/var/log/apt/* "$R"/var/log/dpkg.log "$R"/var/log/alternatives.log "$R"/var/log/bootstrap.log
  : > "$R/etc/hostname"; : > "$R/etc/resolv.conf"
  # an intercepting proxy's CA, picked up by update-ca-certificates when an image installs ca-certificates
  if [ -s "$BASE/extra-ca.crt" ]; then
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp "$BASE/extra-ca.crt" "$R/usr/local/share/ca-certificates/dfopt-extra-ca.crt"
  fi
  cp -a "$R" "$S"
  cat > "$S/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$S/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$S/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$S"/usr/share/man/* "$S"/usr/share/groff/* "$S"/usr/share/info/* "$S"/usr/share/lintian/*
  find "$S/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
}

import_rootfs() { # import_rootfs DIR SHORTNAME  (buildah 1.28 has no `import`)
  local c m
  c=$(buildah from --pull=never scratch)
  m=$(buildah mount "$c")
  tar -C "$1" --numeric-owner -cf - . | tar -C "$m" --numeric-owner -xpf -
  buildah umount "$c" >/dev/null
  buildah config --os linux --arch amd64 --env PATH=$PATH_STD --cmd '["bash"]' \
    --label dfopt.standin=true --label "org.opencontainers.image.description=$DESC" "$c"
  buildah commit --rm -q "$c" "$(local_name "$2")" >/dev/null
  tag_all "$2"
}

bud() { # bud SHORTNAME CONTEXT [bud args]
  local n=$1 ctx=$2 log; shift 2; log=$LOG/bud-${n//[\/:]/_}.log
  buildah bud --isolation chroot --pull=never --layers=false -q \
    --label dfopt.standin=true --label "org.opencontainers.image.description=$DESC" \
    -t "$(local_name "$n")" "$@" "$ctx" > "$log" 2>&1 || { tail -30 "$log"; return 1; }
  tag_all "$n"
}

retag_user() { # retag_user SHORTNAME_FROM SHORTNAME_TO USER WORKDIR
  local c; c=$(buildah from --pull=never "$(local_name "$1")")
  buildah config --user "$3" --workingdir "$4" "$c"
  buildah commit --rm -q "$c" "$(local_name "$2")" >/dev/null
  tag_all "$2"
}

# The npm registry reachable here may serve metadata without dist.signatures; corepack then refuses
# to fetch pnpm/yarn. Only in that case the node stand-ins get corepack's documented opt-out.
corepack_env() {
  if npm view pnpm@latest dist.signatures --json 2>/dev/null | grep -q keyid; then return; fi
  printf '\nENV COREPACK_INTEGRITY_KEYS=0'
}

make_node() { # node:20 / node:20-slim with this machine's Node 20 + npm + corepack, yarn 1 from npm
  local ctx=$BASE/node bin prefix t
  bin=$(readlink -f "$(command -v node)"); prefix=$(dirname "$(dirname "$bin")")
  case $("$bin" --version) in v20.*) ;; *) echo "host node must be v20 (found $("$bin" --version))" >&2; return 1 ;; esac
  rm -rf "$ctx"; mkdir -p "$ctx/usr/local/bin" "$ctx/usr/local/lib/node_modules" "$ctx/usr/local/include" "$ctx/opt"
  cp -a "$bin" "$ctx/usr/local/bin/node"
  cp -a "$prefix/lib/node_modules/npm" "$ctx/usr/local/lib/node_modules/"
  [ -d "$prefix/lib/node_modules/corepack" ] && cp -a "$prefix/lib/node_modules/corepack" "$ctx/usr/local/lib/node_modules/"
  [ -d "$prefix/include/node" ] && cp -a "$prefix/include/node" "$ctx/usr/local/include/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  [ -d "$ctx/usr/local/lib/node_modules/corepack" ] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$ctx/usr/local/bin/corepack"
  # yarn 1 like the official images (/opt/yarn-v*, symlinked into /usr/local/bin)
  t=$(mktemp -d); (cd "$t" && npm pack -q --silent "yarn@$YARN_VERSION" >/dev/null)
  mkdir -p "$ctx/opt/yarn-v$YARN_VERSION"
  tar -xzf "$t/yarn-$YARN_VERSION.tgz" -C "$ctx/opt/yarn-v$YARN_VERSION" --strip-components=1 --no-same-owner
  rm -rf "$t"; chmod 755 "$ctx/opt/yarn-v$YARN_VERSION/bin/"*
  ln -s "/opt/yarn-v$YARN_VERSION/bin/yarn" "$ctx/usr/local/bin/yarn"
  ln -s "/opt/yarn-v$YARN_VERSION/bin/yarnpkg" "$ctx/usr/local/bin/yarnpkg"
  cat > "$ctx/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 755 "$ctx/usr/local/bin/docker-entrypoint.sh"
  local v env=""; v=$("$bin" --version); v=${v#v}
  [ -s "$BASE/extra-ca.crt" ] && env=$'\nENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/dfopt-extra-ca.crt'
  env="$env$(corepack_env)"
  local common="RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY usr/local/ /usr/local/
COPY opt/ /opt/
ENV NODE_VERSION=$v YARN_VERSION=$YARN_VERSION$env
RUN node --version && npm --version && yarn --version
ENTRYPOINT [\"docker-entrypoint.sh\"]
CMD [\"node\"]"
  cat > "$ctx/Dockerfile.full" <<EOF
FROM docker.io/library/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \\
      build-essential python3 git curl ca-certificates procps xz-utils \\
 && rm -rf /var/lib/apt/lists/*
$common
EOF
  printf 'FROM docker.io/library/debian:bookworm-slim\n%s\n' "$common" > "$ctx/Dockerfile.slim"
  timed "bud node:20" bud node:20 "$ctx" -f "$ctx/Dockerfile.full"
  timed "bud node:20-slim" bud node:20-slim "$ctx" -f "$ctx/Dockerfile.slim"
}

make_golang() {
  local ctx=$BASE/golang; mkdir -p "$ctx"
  cat > "$ctx/Dockerfile" <<EOF
FROM docker.io/library/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \\
      golang-1.19-go gcc libc6-dev make pkg-config git ca-certificates curl \\
 && rm -rf /var/lib/apt/lists/* \\
 && ln -s /usr/lib/go-1.19 /usr/local/go
ENV GOLANG_VERSION=1.19.8 GOPATH=/go PATH=/go/bin:/usr/local/go/bin:$PATH_STD
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go && go version
WORKDIR /go
EOF
  timed "bud golang:1.19" bud golang:1.19 "$ctx"
}

make_temurin() { # Debian OpenJDK 17 at the official image's paths and env
  local ctx=$BASE/temurin kind; mkdir -p "$ctx"
  for kind in jdk jre; do
    cat > "$ctx/Dockerfile.$kind" <<EOF
FROM docker.io/library/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-$kind-headless ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /opt/java && ln -s /usr/lib/jvm/java-17-openjdk-amd64 /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk LANG=en_US.UTF-8 LANGUAGE=en_US:en LC_ALL=C.UTF-8 PATH=/opt/java/openjdk/bin:$PATH_STD
RUN java -version
EOF
  done
  echo 'CMD ["jshell"]' >> "$ctx/Dockerfile.jdk"
  timed "bud eclipse-temurin:17-jdk" bud eclipse-temurin:17-jdk "$ctx" -f "$ctx/Dockerfile.jdk"
  timed "bud eclipse-temurin:17-jre" bud eclipse-temurin:17-jre "$ctx" -f "$ctx/Dockerfile.jre"
}

make_python() { # Debian's python3 3.11 laid out like the official image
  local ctx=$BASE/python kind extra from n; mkdir -p "$ctx"
  for kind in full slim; do
    if [ $kind = full ]; then
      extra="python3-dev build-essential git curl procps xz-utils"; from=docker.io/library/debian:bookworm; n=python:3.11
    else
      extra=""; from=docker.io/library/debian:bookworm-slim; n=python:3.11-slim
    fi
    cat > "$ctx/Dockerfile.$kind" <<EOF
FROM $from
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates $extra \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
 && ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/pip3 /usr/local/bin/pip \\
 && python --version
ENV LANG=C.UTF-8 PYTHON_VERSION=3.11.2
CMD ["python3"]
EOF
    timed "bud $n" bud "$n" "$ctx" -f "$ctx/Dockerfile.$kind"
  done
}

make_rust() { # Debian's rustc-web/cargo-web 1.85.0 (pinned), CARGO_HOME like the official image
  local ctx=$BASE/rust kind from n v=$RUST_VERSION_DEB; mkdir -p "$ctx"
  local pkgs="rustc-web=$v cargo-web=$v libstd-rust-web-dev=$v libstd-rust-web-1.85=$v"
  for kind in full slim; do
    if [ $kind = full ]; then
      from=docker.io/library/debian:bookworm; n=rust:1.85; extra="build-essential git curl procps xz-utils"
    else
      from=docker.io/library/debian:bookworm-slim; n=rust:1.85-slim; extra=""
    fi
    cat > "$ctx/Dockerfile.$kind" <<EOF
FROM $from
RUN apt-get update && apt-get install -y --no-install-recommends $pkgs gcc libc6-dev ca-certificates $extra \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /usr/local/cargo/bin /usr/local/rustup && chmod -R a+w /usr/local/cargo /usr/local/rustup
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION=1.85.0 PATH=/usr/local/cargo/bin:$PATH_STD
RUN rustc --version && cargo --version
EOF
    timed "bud $n" bud "$n" "$ctx" -f "$ctx/Dockerfile.$kind"
  done
}

make_distroless() { # static: CA bundle, tzdata, passwd/group, /tmp; cc: + libc6 libssl3 libgcc-s1 libstdc++6 libgomp1
  local ctx=$BASE/distroless v; mkdir -p "$ctx"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim AS src
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && mkdir -p /debs && cd /debs && apt-get download libc6 libssl3 libgcc-s1 libstdc++6 libgomp1 gcc-12-base \
 && rm -rf /var/lib/apt/lists/*
RUN set -e; o=/out; mkdir -p $o/etc/ssl/certs $o/usr/share $o/tmp $o/root $o/home/nonroot $o/var/lib/dpkg; \
    cp /etc/ssl/certs/ca-certificates.crt $o/etc/ssl/certs/; \
    cp -a /usr/share/zoneinfo $o/usr/share/; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > $o/etc/passwd; \
    printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' > $o/etc/group; \
    printf 'PRETTY_NAME="Distroless (local stand-in)"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\n' > $o/etc/os-release; \
    echo "Etc/UTC" > $o/etc/timezone; ln -s /usr/share/zoneinfo/Etc/UTC $o/etc/localtime; \
    chmod 1777 $o/tmp; chmod 700 $o/root; chown 65532:65532 $o/home/nonroot; chmod 700 $o/home/nonroot; \
    mkdir -p /cc; for p in libc6 libssl3 libgcc-s1 libstdc++6 libgomp1 gcc-12-base; do dpkg-deb -x /debs/${p}_*.deb /cc; done; \
    find /cc/usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete; \
    rm -rf /cc/usr/share/man /cc/usr/share/lintian /cc/usr/share/info /cc/usr/share/locale /cc/usr/share/gcc /cc/usr/share/gdb
FROM scratch AS static
COPY --from=src /out/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
FROM static AS cc
COPY --from=src /cc/ /
EOF
  for v in static cc; do
    timed "bud distroless $v" bud "distroless/$v-debian12:latest" "$ctx" --target "$v"
    retag_user "distroless/$v-debian12:latest" "distroless/$v-debian12:nonroot" 65532:65532 /home/nonroot
  done
}

make_distroless_node() { # the cc stand-in + this machine's Node 20 binary, laid out like the real image:
  # /nodejs/bin/node as ENTRYPOINT, no npm, no shell; :latest runs as root with no WORKDIR, :nonroot
  # as 65532 in /home/nonroot (like the cc pair above)
  local ctx=$BASE/distroless-node bin
  bin=$(readlink -f "$(command -v node)")
  case $("$bin" --version) in v20.*) ;; *) echo "host node must be v20 (found $("$bin" --version))" >&2; return 1 ;; esac
  rm -rf "$ctx"; mkdir -p "$ctx/nodejs/bin"
  cp -a "$bin" "$ctx/nodejs/bin/node"
  printf '%s\n' 'FROM gcr.io/distroless/cc-debian12:latest' 'COPY nodejs/ /nodejs/' \
    'ENTRYPOINT ["/nodejs/bin/node"]' > "$ctx/Dockerfile"
  timed "bud distroless nodejs20" bud distroless/nodejs20-debian12:latest "$ctx"
  retag_user distroless/nodejs20-debian12:latest distroless/nodejs20-debian12:nonroot 65532:65532 /home/nonroot
  rm -rf "$ctx/nodejs"
}

build_all() {
  timed "debootstrap + config" make_rootfs
  timed "import debian:bookworm" import_rootfs "$WORK/rootfs" debian:bookworm
  timed "import debian:bookworm-slim" import_rootfs "$WORK/rootfs-slim" debian:bookworm-slim
  make_node; make_golang; make_temurin; make_python; make_rust; make_distroless; make_distroless_node
  rm -rf "$WORK/rootfs" "$WORK/rootfs-slim" "$BASE/node/usr" "$BASE/node/opt"
}

all_present() { local n; for n in "${ORDER[@]}"; do has_image "$(local_name "$n")" || return 1; done; }

save_cache() { # one OCI layout: shared layers are stored once
  local n tmp=$CACHE_DIR.partial
  rm -rf "$tmp"; mkdir -p "$tmp"
  for n in "${ORDER[@]}"; do
    buildah push -q --compression-format zstd "$(local_name "$n")" "oci:$tmp:${n//\//_}" >/dev/null
  done
  rm -rf "$CACHE_DIR"; mv "$tmp" "$CACHE_DIR"
  du -sh "$CACHE_DIR"
  # older recipes' caches are dead weight (only folders named like a recipe hash are touched)
  find "$(dirname "$CACHE_DIR")" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
    -regex '.*/[0-9a-f]{16}(\.partial)?' ! -path "$CACHE_DIR" -exec rm -rf {} + 2>/dev/null || true
}

load_cache() {
  local n id
  [ -f "$CACHE_DIR/index.json" ] || { echo "no cache at $CACHE_DIR" >&2; return 1; }
  for n in "${ORDER[@]}"; do
    id=$(buildah pull -q "oci:$CACHE_DIR:${n//\//_}")   # the pull names it after the cache path: retag by ID
    buildah tag "$id" "$(local_name "$n")"
    tag_all "$n"
  done
  buildah rmi "localhost${CACHE_DIR}:latest" >/dev/null 2>&1 || true
}

list_images() {
  local n
  for n in "${ORDER[@]}"; do
    has_image "$(local_name "$n")" || { printf '%-48s (missing)\n' "${NAMES[$n]%% *}"; continue; }
    printf '%-48s %s\n' "${NAMES[$n]%% *}" "$(buildah images --format '{{.Size}}' "$(local_name "$n")" | head -1)"
  done
}

ensure() { # $WORK/recipe.hash records which recipe the images in storage come from
  local stamp=$WORK/recipe.hash h; h=$(recipe_hash)
  if all_present && [ "$(cat "$stamp" 2>/dev/null)" = "$h" ]; then echo "base images: present in $GRAPHROOT"; return; fi
  if [ -f "$CACHE_DIR/index.json" ]; then
    if timed "load-cache $CACHE_DIR" load_cache && all_present; then echo "$h" > "$stamp"; return; fi
    echo "cache at $CACHE_DIR incomplete; building" >&2
  fi
  timed "build base images (all)" build_all
  echo "$h" > "$stamp"
  timed "save-cache $CACHE_DIR" save_cache || echo "warning: could not save the cache" >&2
}

write_conf
case ${1:-} in
  ensure) ensure ;;
  build) timed "build base images (all)" build_all ;;
  add)
    case ${2:-} in
      distroless-node) has_image "$(local_name distroless/cc-debian12:latest)" || { echo "add: the cc stand-in is missing; run ensure" >&2; exit 1; }
        make_distroless_node ;;
      *) echo "add: unknown image family '${2:-}' (known: distroless-node)" >&2; exit 2 ;;
    esac
    all_present && recipe_hash > "$WORK/recipe.hash" ;;
  save-cache) timed "save-cache" save_cache ;;
  load-cache) timed "load-cache" load_cache ;;
  hash) recipe_hash ;;
  list) list_images ;;
  env) echo "export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF BUILDAH_ISOLATION=chroot" ;;
  clean) rm -rf "$WORK/rootfs" "$WORK/rootfs-slim" "$BASE/node/usr" "$BASE/node/opt" ;;
  *) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
