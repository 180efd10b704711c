#!/usr/bin/env bash
# charts/e2e/kind.sh: the chart end to end on kind, for machines with Docker (and CI:
# .github/workflows/kind-e2e.yaml). Needs docker, kind, kubectl, helm 3.
#
# NOT RUN where it was written (no Docker there): test/integration/chart-real-node.test.ts makes
# the same checks on the harness's real node, and that one is verified.
#
# Builds Atrium's image and the demo app's with Docker (the Dockerfiles beside images/build.sh),
# loads them into a two-node kind cluster, installs charts/atrium and charts/atrium-catalog, then:
# every component Ready (and `helm test`); an organization Ready; the demo app installed, answering
# through the gateway Service, stopping when idle, and woken with what was written by a request
# held across a `helm upgrade` that rolls the gateway (it and the requests sent during the
# rollout all 200); the app uninstalled; `helm uninstall` keeping the CRDs,
# the organization and the database claim. Not here: the OIDC login (the development provider
# runs on the harness's host; see the chart's README).
#
# Atrium runs on the control-plane node and the apps on the worker, so cordoning the worker holds
# a wake back (the woken pod stays Pending) for as long as the check needs.
#   KIND_CLUSTER=atrium-e2e  the cluster's name; KEEP_CLUSTER=1 leaves it running afterwards;
#   KIND_NODE_IMAGE          another kindest/node image (one built for the kind release used).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cluster=${KIND_CLUSTER:-atrium-e2e}
# Kubernetes 1.34, what the chart is checked against; the digest kind v0.33.0's release names.
node_image=${KIND_NODE_IMAGE:-kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d}
ns=atrium-system
org=e2e
orgns=org-$org
atrium_image=docker.io/atrium/atrium:0.1.0
demo_image=docker.io/atrium/demo-notes:0.1.0
work=$(mktemp -d)

log() { printf '[kind-e2e] %s\n' "$*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}
# eventually WHAT SECONDS COMMAND...: COMMAND until it succeeds, once a second.
eventually() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  fail "$what (not after ${seconds} s)"
}
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    kubectl get pods -A -o wide >&2 || true
    kubectl -n "$ns" logs deployment/atrium-gateway --tail=50 >&2 || true
  fi
  [ -n "${KEEP_CLUSTER:-}" ] || kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

log "building the images"
docker build -q -f "$root/images/atrium/Dockerfile" -t "$atrium_image" "$root" >/dev/null
docker build -q -t "$demo_image" "$root/images/demo-app" >/dev/null

log "making the kind cluster $cluster"
kind create cluster --name "$cluster" --image "$node_image" --wait 120s --config - <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
EOF
kind load docker-image --name "$cluster" "$atrium_image" "$demo_image"
worker=$cluster-worker

# Atrium on the control-plane node (apps go to the worker: they do not tolerate its taint).
cat >"$work/values.yaml" <<EOF
image: { repository: ${atrium_image%:*}, tag: "${atrium_image##*:}", pullPolicy: Never }
EOF
for component in operator gateway api; do
  cat >>"$work/values.yaml" <<EOF
$component:
  replicas: 1
  nodeSelector: { node-role.kubernetes.io/control-plane: "" }
  tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }]
EOF
done
# The wake below is held for a whole rollout on purpose: as long as a drain lasts (75 s).
sed -i '/^gateway:/a\  extraEnv: [{ name: ATRIUM_GATEWAY_WAKE_TIMEOUT_MS, value: "75000" }]' "$work/values.yaml"

log "helm install"
helm install atrium "$root/charts/atrium" -n "$ns" --create-namespace -f "$work/values.yaml" --wait --timeout 5m
helm install atrium-catalog "$root/charts/atrium-catalog" -n "$ns" --wait
for component in operator gateway api; do
  kubectl -n "$ns" rollout status "deployment/atrium-$component" --timeout=60s
done
helm test atrium -n "$ns" --timeout 2m

# A client inside the cluster (the gateway Service has a ClusterIP only).
kubectl run client -n "$ns" --image=curlimages/curl:8.11.1 --restart=Never --command -- sleep infinity
kubectl wait -n "$ns" --for=condition=Ready pod/client --timeout=120s
app=http://atrium-gateway.$ns/apps/$org/notes
# status URL: the HTTP status of one GET from inside the cluster (000 when it failed).
status() { kubectl exec -n "$ns" client -- curl -s -o /dev/null -w '%{http_code}' --max-time 120 "$1" || true; }
answers_200() { [ "$(status "$1")" = 200 ]; }
phase_is() { [ "$(kubectl get appinstance notes -n "$orgns" -o 'jsonpath={.status.phase}')" = "$1" ]; }

log "an organization and the demo app"
kubectl apply -f - <<EOF
apiVersion: atrium.dev/v1alpha1
kind: Organization
metadata: { name: $org }
spec: { displayName: E2E }
EOF
kubectl wait "organization/$org" --for=condition=Ready --timeout=120s
kubectl apply -f - <<EOF
apiVersion: atrium.dev/v1alpha1
kind: AppInstance
metadata: { name: notes, namespace: $orgns }
spec: { template: demo-notes, access: { policy: Public }, idle: { policy: AlwaysOn } }
EOF
eventually "the app Running" 180 phase_is Running
eventually "the app through the gateway" 60 answers_200 "$app/"
note="written through the chart's gateway $(date +%s)"
kubectl exec -n "$ns" client -- curl -sf -o /dev/null --data-urlencode "note=$note" "$app/"
kubectl exec -n "$ns" client -- curl -sf "$app/notes" | grep -qF "$note" || fail "the note is not listed"

app_pods() { kubectl get pods -n "$orgns" -l app.kubernetes.io/instance=notes -o name "$@"; }
no_app_pod() { [ -z "$(app_pods)" ]; }
app_pod_pending() { [ -n "$(app_pods --field-selector=status.phase=Pending)" ]; }
stopped() {
  eventually "the app Stopped" 120 phase_is Stopped
  eventually "the app's pod gone" 60 no_app_pod
}
log "idle stop"
kubectl patch appinstance notes -n "$orgns" --type=merge -p '{"spec":{"idle":{"policy":"Auto","timeout":"5s"}}}'
stopped

# The wake (after which the app runs 5 minutes at least, so it is the only one): a request held
# across a helm upgrade that rolls the gateway, its app kept from starting meanwhile.
log "helm upgrade while a request is held for a wake"
kubectl cordon "$worker"
old_gateway=$(kubectl get pods -n "$ns" -l app.kubernetes.io/component=gateway -o name)
kubectl exec -n "$ns" client -- curl -s --max-time 150 -w '\n%{http_code}' "$app/notes" >"$work/held" 2>&1 &
held=$!
eventually "the woken pod Pending" 60 app_pod_pending
helm upgrade atrium "$root/charts/atrium" -n "$ns" -f "$work/values.yaml" \
  --set-string 'gateway.podAnnotations.atrium\.dev/rollout=1' --wait --timeout 5m &
upgrade=$!
during=()
i=0
while kill -0 "$upgrade" 2>/dev/null; do
  status "$app/notes" >"$work/during-$i" &
  during+=($!)
  i=$((i + 1))
  sleep 1
done
wait "$upgrade" || fail "helm upgrade"
# The rollout is complete, so the old gateway pod was told to stop; it is still draining (the
# held request keeps it). Past its 5 s of not-ready and 10 s into its drain, the app may start.
[ -n "$(kubectl get "$old_gateway" -n "$ns" -o 'jsonpath={.metadata.deletionTimestamp}')" ] ||
  fail "the old gateway pod is not stopping"
sleep 17
kill -0 "$held" 2>/dev/null || fail "the held request ended before its app could start: $(cat "$work/held")"
kubectl uncordon "$worker"
wait "$held" || true
[ "$(tail -n 1 "$work/held")" = 200 ] || fail "the held request got: $(cat "$work/held")"
grep -qF "$note" "$work/held" || fail "the wake lost the note: $(cat "$work/held")"
for pid in "${during[@]}"; do wait "$pid" || true; done
for f in "$work"/during-*; do [ "$(cat "$f")" = 200 ] || fail "a request during the rollout got $(cat "$f")"; done
log "held request and $i requests during the rollout: all 200"

log "uninstall the app, then Atrium"
kubectl delete appinstance notes -n "$orgns" --wait=true --timeout=60s
no_deployment() { [ -z "$(kubectl get deployments -n "$orgns" -o name)" ]; }
eventually "the app's Deployment gone" 60 no_deployment
kubectl delete pod client -n "$ns" --wait=false
helm uninstall atrium -n "$ns" --wait --timeout 2m
[ -z "$(kubectl get deployments -n "$ns" -o name)" ] || fail "Atrium's Deployments outlived helm uninstall"
kubectl get crd organizations.atrium.dev >/dev/null || fail "the CRDs went with the release"
kubectl get "organization/$org" >/dev/null || fail "the organization went with the release"
kubectl get pvc atrium-api-data -n "$ns" >/dev/null || fail "the database claim went with the release"
log "passed"
