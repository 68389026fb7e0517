#!/usr/bin/env bash
# Make sure the referral service's browser tests can run: Debian's headless Chromium at
# /usr/bin/chromium (never a browser build downloaded by Playwright) and axe-core from npm
# in services/referral/tests/browser/node_modules. Idempotent: does nothing when both are there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tests="$here/services/referral/tests/browser"

if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing chromium and chromium-driver (Debian packages)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "The browser tests need /usr/bin/chromium: install the Debian packages chromium and chromium-driver (as root) and try again." >&2
    exit 1
  fi
fi

if [ ! -f "$tests/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "The browser tests need axe-core from npm, and npm is not installed: install the Debian package npm and try again." >&2
    exit 1
  fi
  echo "Installing axe-core for the browser tests..." >&2
  if [ -f "$tests/package-lock.json" ]; then
    (cd "$tests" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$tests" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
