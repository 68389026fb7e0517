#!/usr/bin/env bash
# Make sure a RabbitMQ answers at AMQP_URL (default 127.0.0.1:5672): use it if reachable,
# else start a local rabbitmq-server, else install one where the machine allows (Debian).
set -euo pipefail

url="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$port" = "$host" ] && port=5672

reachable() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 90); do reachable && return 0; sleep 1; done
  return 1
}

reachable && exit 0
if [ "$host" != "127.0.0.1" ] && [ "$host" != "localhost" ]; then
  echo "RabbitMQ at $host:$port is not reachable; start it or point AMQP_URL at a running broker." >&2
  exit 1
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing rabbitmq-server (Debian package)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  else
    echo "No RabbitMQ is reachable at $host:$port and none is installed: install rabbitmq-server (or run 'docker compose up rabbitmq') and try again." >&2
    exit 1
  fi
fi
echo "Starting a local RabbitMQ..." >&2
rabbitmq-server -detached >/dev/null 2>&1 || true
wait_up || { echo "RabbitMQ did not come up on $host:$port within 90 s; see its logs under /var/log/rabbitmq." >&2; exit 1; }
