#!/usr/bin/env bash
# leash.sh CMD [ARGS...]: runs CMD and stops it when our standard input reaches end of file.
# The harness starts every control-plane process through this with a pipe as stdin. The
# kernel closes that pipe however the harness ends (clean stop, uncaught error, SIGKILL), so
# no etcd or apiserver outlives the run that started it. SIGTERM/SIGINT stop CMD as well.
set -u
"$@" </dev/null &
child=$!
# LEASH_PIDFILE: where to tell the harness CMD's own pid (to signal it directly in tests).
if [ -n "${LEASH_PIDFILE:-}" ]; then echo "$child" >"$LEASH_PIDFILE"; fi
cat >/dev/null <&0 &
watcher=$!

stop() {
  kill -TERM "$child" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$child" 2>/dev/null
}
trap 'stop; kill "$watcher" 2>/dev/null; exit 143' TERM INT

wait -n "$child" "$watcher"
if kill -0 "$child" 2>/dev/null; then # stdin closed: the harness is gone
  stop
  exit 143
fi
kill "$watcher" 2>/dev/null
wait "$child"
