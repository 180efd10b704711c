#!/usr/bin/env bash
# real-node.sh STATE BRIDGE CIDR GATEWAY BINDIR: runs one real Kubernetes node (containerd +
# kubelet) whose config real-node.ts wrote into STATE, until our standard input reaches end of
# file (the harness is gone, however it ended) or SIGTERM/SIGINT; then takes everything down.
# Started with a pipe as stdin, like leash.sh. Kubernetes' own components leave things behind
# when killed (containerd's shims outlive containerd on purpose, and so do the containers
# under them; pods' mounts and network links stay), so the cleanup here is explicit:
#   1. kubelet stops (SIGTERM, then SIGKILL after 10 s): no pod is restarted while we clean;
#   2. every container runc knows under STATE/runc is killed and deleted (runc kill/delete);
#   3. containerd stops, then any shim of ours still running (command line names STATE);
#   4. shim sockets in /run/containerd/s named in the bundles' `address` files are removed;
#   5. every mount under STATE (rootfs overlays, /dev/shm, network namespaces) is unmounted;
#   6. the veths on BRIDGE and BRIDGE itself are deleted (their routes go with them);
#   7. what lives outside STATE by design: the containers' cgroups (/sys/fs/cgroup/*/k8s.io/ID),
#      the CNI result cache (/var/lib/cni/results/*-SANDBOX-*), empty /run/containerd/s;
#   8. containerd's content (images, snapshots: the big part) is removed;
#   9. the kernel settings the kubelet changes at start (it insists on them unless
#      protectKernelDefaults, which only refuses to start) are put back, once no other kubelet runs;
#  10. with kube-proxy (only when STATE/kube-proxy.yaml exists): it stops first of all, and its
#      nftables tables (`ip kube-proxy`, `ip6 kube-proxy`: all it writes) are deleted.
# kube-proxy's tables are the machine's, one set for everyone, so only one node on the machine
# runs it at a time: the node holds PROXY_LOCK (flock) from before kube-proxy starts until its
# tables are gone, and a second node waits for it (ADR 0020). Nothing else adds packet-filter
# rules: the CNI bridge runs with ipMasq off and without portmap. Logs go to STATE/../logs.
set -u
state=$1 bridge=$2 cidr=$3 gateway=$4 bin=$5
logs=$(dirname "$state")/logs
mkdir -p "$logs"
say() { printf '%s real-node: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logs/real-node.log"; }
containerd_pid= kubelet_pid= proxy_pid= proxy_locked=
PROXY_LOCK=/run/atrium-kube-proxy.lock
# What the kubelet will change (pkg/kubelet/cm: setupKernelTunables), to put back afterwards.
TUNABLES="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
# Saved once for the machine, while no kubelet has changed them (nodes may run side by side).
SAVED=/run/atrium-real-node.sysctl

stop_pid() { # pid seconds
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  sleep 0.1
}

cleanup() {
  trap '' TERM INT
  say "cleaning up"
  stop_pid "$proxy_pid" 5
  if [ -n "$proxy_locked" ]; then
    for family in ip ip6; do nft delete table "$family" kube-proxy 2>/dev/null; done
    # Said while the lock is still held, so no other node's tables can be among them.
    if nft list tables 2>/dev/null | grep -q ' kube-proxy$'; then
      say "kube-proxy's tables are still there"
    else
      say "kube-proxy's tables deleted"
    fi
    exec 8>&- # the next node may run its kube-proxy now
  fi
  stop_pid "$kubelet_pid" 10
  local ids=() sandboxes=()
  for root in "$state"/runc/*; do
    [ -d "$root" ] || continue
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      ids+=("$id")
      runc --root "$root" kill --all "$id" KILL 2>/dev/null
      runc --root "$root" delete --force "$id" 2>/dev/null || say "runc delete $id failed"
    done
  done
  stop_pid "$containerd_pid" 5
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [ "$pid" = $$ ] && continue
    if tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "$state/containerd.sock"; then kill -KILL "$pid" 2>/dev/null; fi
  done
  for address in "$state"/containerd/state/io.containerd.runtime.v2.task/*/*/address; do
    [ -f "$address" ] || continue
    socket=$(sed 's|^unix://||' "$address")
    case "$socket" in /run/containerd/s/*) rm -f "$socket" ;; esac
  done
  # Deepest first; lazily, so a mount something still holds goes as soon as it is let go.
  awk -v s="$state/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || say "cannot unmount $m"
  done
  for link in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$link" 2>/dev/null
  done
  ip link del "$bridge" 2>/dev/null
  for d in "$state"/containerd/*/io.containerd.grpc.v1.cri/sandboxes/*; do [ -d "$d" ] && sandboxes+=("${d##*/}"); done
  for id in "${sandboxes[@]}"; do rm -f /var/lib/cni/results/*-"$id"-*; done
  for id in "${ids[@]}"; do rmdir /sys/fs/cgroup/*/k8s.io/"$id" 2>/dev/null; done
  # Shared with other nodes on the machine: removed only once empty.
  rmdir /sys/fs/cgroup/*/k8s.io /run/containerd/s /run/containerd 2>/dev/null
  if awk -v s="$state/" 'index($5, s) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
    say "mounts remain under $state; leaving its files"
  else
    rm -rf "$state/containerd" "$state/kubelet"
  fi
  # Another node's kubelet still wants them; the last one out restores the machine's values.
  if [ -f "$SAVED" ] && ! pgrep -x kubelet >/dev/null; then
    while IFS= read -r setting; do sysctl -q -w "$setting" 2>/dev/null; done <"$SAVED"
    rm -f "$SAVED"
  fi
  say "clean"
}
# From here on, whatever happens to the harness ends in cleanup.
cat >/dev/null <&0 &
watcher=$!
trap 'cleanup; kill "$watcher" 2>/dev/null; exit 143' TERM INT

# The bridge is ours from the start (the node's IP lives on it, and the kubelet checks that
# its node IP is on an interface); the CNI bridge plugin then finds and uses it.
ip link del "$bridge" 2>/dev/null # a leftover of a run killed with the machine
ip link add "$bridge" type bridge && ip addr add "$gateway/${cidr#*/}" dev "$bridge" && ip link set "$bridge" up || {
  say "cannot create bridge $bridge"
  exit 1
}

# shellcheck disable=SC2086
if [ ! -f "$SAVED" ] && ! pgrep -x kubelet >/dev/null; then sysctl -e $TUNABLES 2>/dev/null | sed 's/ = /=/' >"$SAVED"; fi

containerd --config "$state/containerd.toml" </dev/null >>"$logs/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 1 100); do [ -S "$state/containerd.sock" ] && break; sleep 0.1; done
echo "$containerd_pid" >"$state/containerd.pid"

start_kubelet() {
  # shellcheck disable=SC2046 # the flags file holds one flag a line, without spaces
  "$bin/kubelet" $(cat "$state/kubelet.flags") </dev/null >>"$logs/kubelet.log" 2>&1 &
  kubelet_pid=$!
  echo "$kubelet_pid" >"$state/kubelet.pid"
}
# The harness imports images first (the sandbox image must be there before any pod), then
# touches this file.
for _ in $(seq 1 600); do
  [ -e "$state/start-kubelet" ] && break
  kill -0 "$watcher" 2>/dev/null || break # the harness went while importing
  sleep 0.1
done
[ -e "$state/start-kubelet" ] && start_kubelet

start_proxy() {
  exec 8>"$PROXY_LOCK"
  if ! flock -n 8; then
    say "waiting for another node's kube-proxy to stop ($PROXY_LOCK)"
    while ! flock -w 1 8; do kill -0 "$watcher" 2>/dev/null || return 0; done
  fi
  proxy_locked=1
  # A node killed with the machine (no cleanup) may have left its tables.
  for family in ip ip6; do nft delete table "$family" kube-proxy 2>/dev/null; done
  "$bin/kube-proxy" --config="$state/kube-proxy.yaml" </dev/null 8>&- >>"$logs/kube-proxy.log" 2>&1 &
  proxy_pid=$!
  echo "$proxy_pid" >"$state/kube-proxy.pid"
}
[ -e "$state/start-kubelet" ] && [ -e "$state/kube-proxy.yaml" ] && start_proxy

# Either the harness goes (EOF) or containerd dies on its own; the kubelet restarting is
# Kubernetes' business, but without containerd there is no node.
wait -n "$watcher" "$containerd_pid"
kill "$watcher" 2>/dev/null
cleanup
exit 0
