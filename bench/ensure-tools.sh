#!/usr/bin/env bash
# The load generator and the reference proxy for gateway-warm: Debian's wrk and nginx.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts a system nginx on port 80; the benchmark runs its own. Only that one is
  # stopped (by its pid file): another benchmark's nginx may be running beside it.
  systemctl stop nginx 2>/dev/null || service nginx stop 2>/dev/null ||
    { [ -f /run/nginx.pid ] && kill "$(cat /run/nginx.pid)"; } || true
fi
