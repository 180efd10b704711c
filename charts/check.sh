#!/usr/bin/env bash
# The charts' static checks, each on the default values and on every ci/*.yaml of atrium (and
# lint and kubeconform on atrium-catalog):
#   helm lint --strict, helm-unittest (charts/atrium/tests), kubeconform (strict, schemas made
#   offline from Kubernetes' OpenAPI and Atrium's CRDs; also Atrium's examples and catalog),
#   checkov (skips justified in charts/checkov.yaml); shellcheck on charts/e2e/kind.sh.
# Tools come from charts/tools.sh. Run by test/integration/chart-static.test.ts (make test).
# Exits non-zero on the first failing check, naming it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
chart=${ATRIUM_CHART:-$here/atrium} # another copy: the test that a broken chart fails
tools=$(bash "$here/tools.sh" | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$("$root/scripts/ensure-node.sh"):$PATH"

KUBE_VERSION=1.34.4
# Kinds of other projects' CRDs the chart may render; no offline schema exists for them.
OTHER_KINDS=ServiceMonitor,HTTPRoute

step() { printf '[chart-check] %s\n' "$*" >&2; }

values_sets=("")
for f in "$chart"/ci/*.yaml; do values_sets+=("$f"); done

step "schemas for kubeconform"
node "$root/charts/src/kubeconform-schemas.ts" "$tools/swagger.json" "$work/schemas" >/dev/null
location="$work/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json"

for values in "${values_sets[@]}"; do
  name=${values:+$(basename "$values" .yaml)}
  name=${name:-default}
  args=(${values:+-f "$values"})
  step "helm lint --strict ($name)"
  "$tools/helm" lint --strict --kube-version "$KUBE_VERSION" "$chart" "${args[@]}" >"$work/lint.txt" 2>&1 ||
    { cat "$work/lint.txt" >&2; exit 1; }
  out="$work/$name.yaml"
  "$tools/helm" template atrium "$chart" --namespace atrium-system --kube-version "$KUBE_VERSION" \
    --api-versions monitoring.coreos.com/v1 --api-versions gateway.networking.k8s.io/v1/HTTPRoute \
    "${args[@]}" >"$out"
  step "kubeconform ($name)"
  "$tools/kubeconform" -strict -summary -skip "$OTHER_KINDS" -schema-location "$location" "$out"
  step "checkov ($name)"
  (cd "$work" && "$tools/checkov/bin/checkov" --config-file "$here/checkov.yaml" -f "$out")
done

catalog="$here/atrium-catalog"
step "helm lint --strict (atrium-catalog)"
"$tools/helm" lint --strict --kube-version "$KUBE_VERSION" "$catalog" >"$work/lint.txt" 2>&1 ||
  { cat "$work/lint.txt" >&2; exit 1; }
step "kubeconform (atrium-catalog)"
"$tools/helm" template atrium-catalog "$catalog" --kube-version "$KUBE_VERSION" >"$work/catalog.yaml"
"$tools/kubeconform" -strict -summary -schema-location "$location" "$work/catalog.yaml"

step "kubeconform (Atrium's examples and sample catalog against the converted CRDs)"
"$tools/kubeconform" -strict -summary -schema-location "$location" "$root/crds/examples" "$root/crds/catalog"

step "helm-unittest"
"$tools/helm-unittest" "$chart"

step "shellcheck (the kind end-to-end script, which cannot run here)"
command -v shellcheck >/dev/null || { step "shellcheck is required (apt-get install shellcheck)"; exit 1; }
shellcheck "$here/e2e/kind.sh"
step "all chart checks passed"
