#!/usr/bin/env bash
# The Gateway API CRDs (standard channel: Gateway, HTTPRoute & co.) for a test cluster, taken
# from the Go module sigs.k8s.io/gateway-api at the version Envoy Gateway pins in its go.mod
# (ENVOY_GATEWAY_VERSION, default v1.9.1), so the CRDs match the implementation that serves
# them. Nothing is written by hand: the module proxy is the only source. The CRDs are
# concatenated into one file, cached under $ATRIUM_CACHE (default ~/.cache/atrium) by version;
# the path of that file is printed on the last line. GATEWAY_API_VERSION overrides the version.
set -euo pipefail

ENVOY_GATEWAY_VERSION=${ENVOY_GATEWAY_VERSION:-v1.9.1}
cache=${ATRIUM_CACHE:-$HOME/.cache/atrium}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

# A field of `go mod download -json` / `go list -m -json` output.
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"; }

version=${GATEWAY_API_VERSION:-}
if [ -z "$version" ]; then
  # Envoy Gateway's go.mod only (go list -m fetches no module zip).
  gomod=$(go list -m -json "github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION" | field GoMod)
  version=$(awk '$1 == "sigs.k8s.io/gateway-api" { print $2; exit }' "$gomod")
  [ -n "$version" ] || { echo "no sigs.k8s.io/gateway-api in $gomod" >&2; exit 1; }
fi
out="$cache/gateway-api/$version/standard-crds.yaml"
if [ ! -s "$out" ]; then
  dir=$(go mod download -json "sigs.k8s.io/gateway-api@$version" | field Dir)
  mkdir -p "$(dirname "$out")"
  # CRDs only: the standard folder also holds a ValidatingAdmissionPolicy (safe upgrades).
  for f in "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    case "$f" in *_vap_*) continue ;; esac
    printf -- '---\n'
    cat "$f"
  done >"$out.tmp"
  mv "$out.tmp" "$out"
fi
echo "$out"
