#!/usr/bin/env bash
# Builds the real Kubernetes control plane used by tests and `make dev` from pinned Go
# modules: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm;
# with the argument `node` also kubelet and kube-proxy (the real-node tier, real-node.ts).
# No Docker and no download sites exist on these machines, so everything comes from the
# Go module proxy. Binaries are cached under $ATRIUM_CACHE (default ~/.cache/atrium) in a
# folder named after the pins, so a changed pin rebuilds and an unchanged one costs nothing.
# Prints the folder holding the binaries on its last line.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
HELM_VERSION=${HELM_VERSION:-v3.19.5}

cache=${ATRIUM_CACHE:-$HOME/.cache/atrium}
bin="$cache/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
work="$cache/build"
mkdir -p "$bin" "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[build-binaries] %s\n' "$*" >&2; }
have() { [ -x "$bin/$1" ]; }

# kube-apiserver & co: k8s.io/kubernetes is not meant to be a dependency; its go.mod points
# every staging module at ./staging, so a wrapper module must replace each of them with the
# published v0.x tag. The list is read from the pinned go.mod, so a new pin needs no edit.
build_kube() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl "$@") missing=()
  for b in "${want[@]}"; do have "$b" || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] && return
  local dir="$work/kube-$KUBE_VERSION" staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
    {
      echo "module atrium.dev/kube-build"
      echo "go $(awk '/^go /{print $2}' "$gomod")"
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      grep -E '=> \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } >go.mod
    printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n)\n' >tools.go
    go mod tidy >/dev/null 2>&1 || true
    local commit ldflags
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    for b in "${missing[@]}"; do
      log "building $b $KUBE_VERSION"
      go build -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b"
      mv "$bin/$b.tmp" "$bin/$b"
    done
  )
}

# etcd 3.6 (kube 1.34 expects 3.5+; Debian ships 3.4): a one-line main around etcdmain.
build_etcd() {
  have etcd && return
  local dir="$work/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  (
    cd "$dir"
    printf 'module atrium.dev/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
    go mod tidy >/dev/null
    log "building etcd $ETCD_VERSION"
    go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" .
    mv "$bin/etcd.tmp" "$bin/etcd"
  )
}

# Helm with the version flags of Helm's own Makefile (as charts/tools.sh builds it): without
# them `helm template` and `helm lint` see Kubernetes v1.20 (.Capabilities.KubeVersion) and its
# version is "v3.19+unreleased". The Kubernetes version it reports is client-go's minor, major + 1.
# The marker file tells a helm built before these flags (the same folder) to be built again.
build_helm() {
  have helm && [ -f "$bin/.helm-version-flags" ] && return
  local gomod client_go major minor
  gomod=$(cd "$work" && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | awk -F'"' '/"GoMod":/{print $4}')
  client_go=$(awk '$1=="k8s.io/client-go"{print $2}' "$gomod")
  major=$(($(echo "${client_go#v}" | cut -d. -f1) + 1))
  minor=$(echo "$client_go" | cut -d. -f2)
  log "building helm $HELM_VERSION (Kubernetes $major.$minor)"
  GOBIN="$work/gobin-helm-$HELM_VERSION" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$work/gobin-helm-$HELM_VERSION/helm" "$bin/helm"
  echo "Kubernetes $major.$minor" >"$bin/.helm-version-flags"
}

# kwok installs cleanly as a plain module.
go_install() { # name module version
  have "$1" && return
  log "building $1 $3"
  GOBIN="$work/gobin-$1-$3" go install -trimpath -ldflags "-s -w" "$2@$3"
  mv "$work/gobin-$1-$3/$1" "$bin/$1"
}

build_etcd
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
build_helm
# Only the real-node tier needs a kubelet: the KWOK-only path builds (and waits for) no more.
if [ "${1:-}" = node ]; then build_kube kubelet kube-proxy; else build_kube; fi
echo "$bin"
