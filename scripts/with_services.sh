#!/usr/bin/env bash
# Run a command with the services the test suite talks to, starting private ones when needed.
#
#   scripts/with_services.sh PYTHON COMMAND...
#
# Redis: the suite uses $TEST_REDIS_URL (default redis://127.0.0.1:6379/0). When nothing
# answers there and redis-server is installed, a private server is started on a free
# loopback port for the duration of COMMAND, and TEST_REDIS_URL points at it.
#
# PostgreSQL: the suite uses $TEST_POSTGRES_DSN (default
# postgresql://postgres@127.0.0.1:5432/postgres; tests create and drop their own
# databases there). When nothing answers and the machine has a Debian cluster, it is
# started with pg_ctlcluster (and left running: it is the machine's service).
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

pg_answers() {
  "$py" - "$1" <<'PY' >/dev/null 2>&1
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=2)
    await conn.close()
asyncio.run(main())
PY
}

export TEST_POSTGRES_DSN=${TEST_POSTGRES_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}
if ! pg_answers "$TEST_POSTGRES_DSN"; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "with_services: no PostgreSQL answered at $TEST_POSTGRES_DSN;" \
      "starting cluster $version/main with pg_ctlcluster"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 100); do pg_answers "$TEST_POSTGRES_DSN" && break; sleep 0.1; done
  fi
  if ! pg_answers "$TEST_POSTGRES_DSN"; then
    echo "with_services: no PostgreSQL at $TEST_POSTGRES_DSN and none could be started;" \
      "the PostgreSQL tests will fail (start one, or set TEST_POSTGRES_DSN)" >&2
  fi
fi

"$@"
