#!/usr/bin/env bash
# Starts a private Redis for the `redis` tests and for trying out the Redis job store: installs
# redis-server if missing, starts it daemonized on 127.0.0.1:PORT (default 6391,
# EVOSEARCH_REDIS_PORT to change) with the append-only file on and its own folder
# /var/tmp/evosearch-redis-PORT, and waits until it answers PING. Idempotent: when it already
# answers, nothing changes.
#
#   bash cluster/redis-local.sh                        # then: ctest -L redis
#   EVOSEARCH_REDIS_PORT=6400 bash cluster/redis-local.sh
#   EVOSEARCH_TEST_REDIS=redis://127.0.0.1:6400/0 ctest -L redis
#
# Stop it with `redis-cli -p PORT shutdown`; its data and log stay in the folder.
set -euo pipefail

log() { printf '\033[1m[redis-local]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

PORT="${EVOSEARCH_REDIS_PORT:-6391}"
[[ "$PORT" =~ ^[1-9][0-9]*$ ]] && [ "$PORT" -le 65535 ] || die "EVOSEARCH_REDIS_PORT must be a port number, got '$PORT'"
DIR="/var/tmp/evosearch-redis-$PORT"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "redis-server is not installed; run as root to install it (apt-get install redis-server)"
  log "installing redis-server"
  # Keep the package from starting the system-wide service on 6379: this script starts its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends redis-server redis-tools
  if [ -n "$(trap -p EXIT)" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

answers() { [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = "PONG" ]; }

if answers; then
  log "Redis already answers on 127.0.0.1:$PORT"
  exit 0
fi

mkdir -p "$DIR"
log "starting redis-server on 127.0.0.1:$PORT (data and log in $DIR)"
# No RDB snapshots: the append-only file alone keeps the jobs across restarts.
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --appendonly yes --save "" \
  --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
  || die "redis-server did not start; see $DIR/redis.log"
for _ in $(seq 100); do
  if answers; then
    log "Redis answers on 127.0.0.1:$PORT (EVOSEARCH_TEST_REDIS=redis://127.0.0.1:$PORT/0)"
    exit 0
  fi
  sleep 0.1
done
tail -n 20 "$DIR/redis.log" >&2 || true
die "redis-server on port $PORT did not answer PING within 10 s"
