#!/usr/bin/env bash
# The chart checks' tools, built or installed once and cached under $ATRIUM_CACHE (default
# ~/.cache/atrium) in a folder named after the pins, so a changed pin rebuilds and an
# unchanged one costs nothing. Prints that folder on its last line. Safe to run concurrently.
#
#   helm           the control plane's Helm, built again here WITH the version flags of Helm's
#                  own Makefile, so `helm template` and `helm lint` see Kubernetes 1.34 (a plain
#                  `go install` leaves them at the 1.20 default and deprecation checks go blind)
#   helm-unittest  built from its module's cmd/helm-unittest (`go install` refuses a module
#                  with replace directives)
#   kubeconform    a plain module
#   checkov        PyPI, in its own virtual environment
#   swagger.json   Kubernetes' OpenAPI (v2) from the pinned k8s.io/kubernetes module, for
#                  kubeconform's offline schemas (charts/kubeconform-schemas.ts converts it)
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.19.5}
KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
HELM_UNITTEST_VERSION=${HELM_UNITTEST_VERSION:-v1.1.2}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.8.0}
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}

cache=${ATRIUM_CACHE:-$HOME/.cache/atrium}
dir="$cache/chart-tools-helm-$HELM_VERSION-kube-$KUBE_VERSION-unittest-$HELM_UNITTEST_VERSION-kubeconform-$KUBECONFORM_VERSION-checkov-$CHECKOV_VERSION"
work="$cache/build/chart-tools"
mkdir -p "$dir" "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[chart-tools] %s\n' "$*" >&2; }
have() { [ -e "$dir/$1" ]; }

exec 9>"$dir.lock"
flock 9

# A module's source, writable (the module cache is read-only), in $work/<name>-<version>.
module_source() { # module version -> prints the directory
  local src
  src=$(cd "$work" && go mod download -json "$1@$2" | awk -F'"' '/"Dir":/{print $4}')
  local out="$work/$(basename "$1")-$2"
  if [ ! -d "$out" ]; then
    cp -r "$src" "$out.tmp"
    chmod -R u+w "$out.tmp"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

build_helm() {
  have helm && return
  local src client_go major minor
  src=$(module_source helm.sh/helm/v3 "$HELM_VERSION")
  # Helm's Makefile: the Kubernetes version it reports is client-go's minor, major + 1.
  client_go=$(awk '$1=="k8s.io/client-go"{print $2}' "$src/go.mod")
  major=$(($(echo "${client_go#v}" | cut -d. -f1) + 1))
  minor=$(echo "$client_go" | cut -d. -f2)
  log "building helm $HELM_VERSION (Kubernetes $major.$minor)"
  (
    cd "$src"
    go build -trimpath -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
      -o "$dir/helm.tmp" ./cmd/helm
  )
  mv "$dir/helm.tmp" "$dir/helm"
}

build_helm_unittest() {
  have helm-unittest && return
  local src
  src=$(module_source github.com/helm-unittest/helm-unittest "$HELM_UNITTEST_VERSION")
  log "building helm-unittest $HELM_UNITTEST_VERSION"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$dir/helm-unittest.tmp" ./cmd/helm-unittest)
  mv "$dir/helm-unittest.tmp" "$dir/helm-unittest"
}

build_kubeconform() {
  have kubeconform && return
  log "building kubeconform $KUBECONFORM_VERSION"
  GOBIN="$work/gobin-kubeconform-$KUBECONFORM_VERSION" go install -trimpath -ldflags "-s -w" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  mv "$work/gobin-kubeconform-$KUBECONFORM_VERSION/kubeconform" "$dir/kubeconform"
}

kube_openapi() {
  have swagger.json && return
  local src
  src=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | awk -F'"' '/"Dir":/{print $4}')
  cp "$src/api/openapi-spec/swagger.json" "$dir/swagger.json.tmp"
  mv "$dir/swagger.json.tmp" "$dir/swagger.json"
}

install_checkov() {
  have checkov/.installed && return
  local python
  python=$(command -v python3 || true)
  [ -n "$python" ] || { log "python3 is required"; exit 1; }
  log "installing checkov $CHECKOV_VERSION"
  rm -rf "$dir/checkov"
  if ! "$python" -m venv "$dir/checkov" >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || { log "python3 -m venv failed"; exit 1; }
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    rm -rf "$dir/checkov"
    "$python" -m venv "$dir/checkov"
  fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/checkov/bin/python" -m pip install --quiet --no-input \
    "checkov==$CHECKOV_VERSION" >&2
  "$dir/checkov/bin/checkov" --version >/dev/null
  touch "$dir/checkov/.installed"
}

build_helm
build_helm_unittest
build_kubeconform
kube_openapi
install_checkov
echo "$dir"
