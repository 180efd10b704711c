#!/usr/bin/env bash
# images/atrium/stage.sh REPO OUT: lays out what Atrium's image holds under OUT/app (the
# workspaces' TypeScript sources, .nvmrc, the `atrium` command and the run-time node_modules)
# from a repository whose dependencies are installed and Prisma clients generated (`make deps`).
# Shared by images/build.sh (umoci, offline) and images/atrium/Dockerfile.
set -euo pipefail
repo=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
app="$out/app"
mkdir -p "$app/bin"
cp "$here/atrium.mjs" "$app/bin/atrium.mjs"
chmod 0755 "$app/bin/atrium.mjs"
# .nvmrc: the gateway checks it runs on the Node version it was tested with.
cp "$repo/package.json" "$repo/.nvmrc" "$app/"
for ws in crds kube operator gateway api; do
  mkdir -p "$app/$ws"
  cp "$repo/$ws/package.json" "$app/$ws/"
  (cd "$repo/$ws" && tar --exclude='*.test.ts' -cf - src) | tar -xf - -C "$app/$ws"
done
# The API applies its committed migrations at start (api/src/db/migrate.ts reads the SQL files).
for db in sqlite postgresql; do
  mkdir -p "$app/api/prisma/$db"
  cp -r "$repo/api/prisma/$db/migrations" "$app/api/prisma/$db/"
done
# Run-time dependencies only (closure.mjs), workspace links kept as links.
(cd "$repo" && node "$here/closure.mjs" "$repo") | while read -r dir; do
  mkdir -p "$app/$(dirname "$dir")"
  [ -e "$app/$dir" ] || cp -a "$repo/$dir" "$app/$dir"
done
# What no program loads: type declarations, source maps, docs, native build inputs, and
# Prisma's engines for databases Atrium does not use.
find "$app" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \
  -o -name '*.markdown' -o -name 'CHANGELOG*' \) -type f -delete
rm -rf "$app"/node_modules/better-sqlite3/{deps,src,build/Release/obj,build/Release/.deps,build/deps} \
  "$app"/node_modules/@prisma/client/runtime/*{mysql,sqlserver,cockroachdb}* \
  "$app"/node_modules/@prisma/client/runtime/{react-native,edge,edge-esm,wasm-engine-edge,wasm-compiler-edge}.*
find "$app" -path '*/node_modules/*' -name test -type d -prune -exec rm -rf {} +
