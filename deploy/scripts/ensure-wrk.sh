#!/usr/bin/env bash
# Make sure the HTTP benches (bench/http_bench.py, bench/memory_bench.py) have their load
# generator: Debian's wrk at /usr/bin/wrk, installed with apt-get when missing and we may.
# Never fails: without wrk the benches fall back to a threaded Python client (slower, so
# it can saturate less) and say so in their tables.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing wrk (Debian package) for the HTTP benches..." >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then
    exit 0
  fi
fi
echo "wrk is not installed and could not be installed here (install the Debian package wrk as root);" \
     "the HTTP benches use their slower Python load generator instead." >&2
