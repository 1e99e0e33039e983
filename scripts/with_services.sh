#!/usr/bin/env bash
# Run a command with the services the test suite talks to, starting private ones when needed.
#
#   scripts/with_services.sh PYTHON COMMAND...
#
# Redis: the suite uses $TEST_REDIS_URL (default redis://127.0.0.1:6379/0). When nothing
# answers there and redis-server is installed, a private server is started on a free
# loopback port for the duration of COMMAND, and TEST_REDIS_URL points at it.
set -euo pipefail
py=$1
shift

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

redis_answers() {
  "$py" - "$1" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
if ! redis_answers "$TEST_REDIS_URL"; then
  if command -v redis-server >/dev/null; then
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --daemonize no --logfile "" >/dev/null &
    pids+=($!)
    export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    for _ in $(seq 1 100); do redis_answers "$TEST_REDIS_URL" && break; sleep 0.05; done
    echo "with_services: no Redis answered; started a private redis-server at $TEST_REDIS_URL"
  else
    echo "with_services: no Redis at $TEST_REDIS_URL and redis-server is not installed;" \
      "the Redis tests will fail (install redis-server or set TEST_REDIS_URL)" >&2
  fi
fi

"$@"
