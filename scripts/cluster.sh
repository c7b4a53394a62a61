#!/usr/bin/env bash
# A local ChatterBox cluster to try: PostgreSQL and Redis from Debian's packages, and N release
# nodes (default 2) on 127.0.0.1:3000, :3001, ... sharing them, as docs/deployment.md describes.
# Everything lives under ./.cluster (data, logs, pids); nothing is installed as a service.
#
#   scripts/cluster.sh start [N]   build (release), start PostgreSQL, Redis and N nodes
#   scripts/cluster.sh status      what runs, and where
#   scripts/cluster.sh stop        stop the nodes, Redis and PostgreSQL (data is kept)
#   scripts/cluster.sh clean       stop, then delete ./.cluster
#
# Put nginx in front with the snippet `start` prints (docs/deployment.md has the whole file).
# PostgreSQL refuses to run as root: as root it runs as the `postgres` user (runuser).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="$PWD/.cluster"
PG_PORT="${CHATTERBOX_CLUSTER_PG_PORT:-55432}"
REDIS_PORT="${CHATTERBOX_CLUSTER_REDIS_PORT:-56379}"
FIRST_PORT="${CHATTERBOX_CLUSTER_FIRST_PORT:-3000}"

log() { printf '\033[1;34m[cluster]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Runs a PostgreSQL binary as the `postgres` user when we are root, else as ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() {
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$initdb" ] && dirname "$initdb"
}

install_services() {
  if [ -z "$(pg_bin)" ] || ! command -v redis-server >/dev/null 2>&1; then
    log "installing Debian PostgreSQL and Redis (their system services are not started)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql-15 redis-server >/dev/null
  fi
}

start_postgres() {
  local bin
  bin="$(pg_bin)"
  mkdir -p "$DIR/pg" "$DIR/pg-socket" "$DIR/logs"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR/pg" "$DIR/pg-socket"; chmod 755 "$DIR"; fi
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    log "initialising PostgreSQL in $DIR/pg"
    as_pg "$bin/initdb" -D "$DIR/pg" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    log "PostgreSQL already running"
  else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (synchronous_commit on, fsync on)"
    touch "$DIR/logs/postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/logs/postgres.log"
    as_pg "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/logs/postgres.log" -w \
      -o "-p $PG_PORT -k $DIR/pg-socket -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  fi
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'chatterbox'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE chatterbox"
  fi
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "Redis already running"
    return
  fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$DIR/redis.pid" --logfile "$DIR/logs/redis.log" >/dev/null
}

start_nodes() {
  local count="$1" secret
  [ -f "$DIR/jwt_secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/jwt_secret"
  secret="$(cat "$DIR/jwt_secret")"
  for ((i = 0; i < count; i++)); do
    local port=$((FIRST_PORT + i)) pidfile="$DIR/node$i.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "node $i already running on 127.0.0.1:$port"
      continue
    fi
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/chatterbox" \
      CHATTERBOX_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
      CHATTERBOX_FILES_URL="file://$DIR/files" CHATTERBOX_FILES_SHARED=true \
      JWT_SECRET="$secret" \
      LEPTOS_SITE_ADDR="127.0.0.1:$port" \
      LEPTOS_SITE_ROOT=target/site \
      CHATTERBOX_TRUSTED_PROXIES=127.0.0.1 \
      nohup target/release/server >"$DIR/logs/node$i.log" 2>&1 &
    echo $! >"$pidfile"
    log "node $i on http://127.0.0.1:$port (log: .cluster/logs/node$i.log)"
  done
  for ((i = 0; i < count; i++)); do
    for _ in $(seq 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$((FIRST_PORT + i))/login" 2>/dev/null && break
      sleep 0.1
    done
  done
}

print_nginx() {
  local count="$1"
  echo
  echo "# nginx: every node behind one address (no sticky sessions needed; see docs/deployment.md)"
  echo "upstream chatterbox {"
  for ((i = 0; i < count; i++)); do echo "    server 127.0.0.1:$((FIRST_PORT + i));"; done
  echo "}"
}

stop_all() {
  for pidfile in "$DIR"/node*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ -f "$DIR/redis.pid" ]; then kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true; rm -f "$DIR/redis.pid"; fi
  local bin
  bin="$(pg_bin || true)"
  if [ -n "$bin" ] && [ -f "$DIR/pg/PG_VERSION" ]; then as_pg "$bin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; fi
  log "stopped"
}

status() {
  for pidfile in "$DIR"/node*.pid; do
    [ -f "$pidfile" ] || continue
    local name
    name="$(basename "$pidfile" .pid)"
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: dead"; fi
  done
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && echo "redis: running on $REDIS_PORT" || echo "redis: down"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 'postgres: running on $PG_PORT'" 2>/dev/null || echo "postgres: down"
}

case "${1:-}" in
  start)
    count="${2:-2}"
    install_services
    scripts/install-tools.sh
    export PATH="$HOME/.cargo/bin:$PATH"
    log "building the release (scripts/build.sh --release --precompress)"
    LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress
    start_postgres
    start_redis
    start_nodes "$count"
    print_nginx "$count"
    ;;
  status) status ;;
  stop) stop_all ;;
  clean) stop_all; rm -rf "$DIR"; log "removed $DIR" ;;
  *) sed -n '2,12p' "$0"; exit 1 ;;
esac
