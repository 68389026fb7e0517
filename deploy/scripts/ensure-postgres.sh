#!/usr/bin/env bash
# Make sure the PostgreSQL the integration tests use answers on 127.0.0.1:5432
# (trust auth, user postgres): start the local cluster, or install one on Debian.
set -euo pipefail

reachable() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 60); do reachable && return 0; sleep 1; done
  return 1
}

reachable && exit 0
installed=0
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing postgresql (Debian package)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    installed=1
  else
    echo "No PostgreSQL answers on 127.0.0.1:5432 and none is installed: install postgresql (trust auth for user postgres on 127.0.0.1) and try again." >&2
    exit 1
  fi
fi
version="$(ls /etc/postgresql | sort -V | tail -n 1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
# A cluster we just installed gets the trust rule the tests expect; an existing one is
# left as its owner configured it.
if [ "$installed" = 1 ] && [ -w "$hba" ] && ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
fi
echo "Starting PostgreSQL $version..." >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
wait_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432 within 60 s." >&2; exit 1; }
