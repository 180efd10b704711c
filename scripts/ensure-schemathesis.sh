#!/usr/bin/env bash
# The API fuzz test (test/integration/api-fuzz.test.ts) drives schemathesis, a Python tool
# from PyPI. Install a pinned version into its own virtual environment, cached, and print
# the path of its `schemathesis` executable. Idempotent, fast when cached, safe to run
# concurrently; runs as root without a terminal.
set -euo pipefail
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
dir=${ATRIUM_CACHE:-$HOME/.cache/atrium}/schemathesis-$SCHEMATHESIS_VERSION
exe=$dir/bin/schemathesis

# The marker is written last, so a half-done install (interrupted pip) is redone.
if [ ! -f "$dir/.installed" ]; then
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if [ ! -f "$dir/.installed" ]; then
    python=$(command -v python3 || true)
    [ -n "$python" ] || { echo "[ensure-schemathesis] python3 is required" >&2; exit 1; }
    echo "[ensure-schemathesis] installing schemathesis $SCHEMATHESIS_VERSION into $dir" >&2
    rm -rf "$dir"
    # Debian's own python3 has no ensurepip until python3-venv is installed.
    if ! "$python" -m venv "$dir" >/dev/null 2>&1; then
      command -v apt-get >/dev/null 2>&1 || { echo "[ensure-schemathesis] python3 -m venv failed" >&2; exit 1; }
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      rm -rf "$dir"
      "$python" -m venv "$dir"
    fi
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/bin/python" -m pip install --quiet --no-input \
      "schemathesis==$SCHEMATHESIS_VERSION" >&2
    "$exe" --version >/dev/null
    touch "$dir/.installed"
  fi
fi
echo "$exe"
