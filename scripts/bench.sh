#!/usr/bin/env bash
# Runs the standard ChatterBox benchmark set against a release build and writes the results
# section of docs/performance.md (method and analysis: see that file).
#
#   scripts/bench.sh            # full set (about 21 minutes after the build), updates docs/performance.md
#   scripts/bench.sh --quick    # small numbers (about 3 minutes), to check the harness; writes
#                               # its report into the temp directory unless --out is given
#   options: --no-build  --out FILE  --keep (keep the temp directory)
#
# Every scenario gets a fresh server on a fresh temp database (loopback only, random port).
# Benchmarks are never part of scripts/test.sh. Settings that differ from the defaults, and why:
#   CHATTERBOX_FLOOD_BURST/PER_SEC = 1000000  flood control is per account and senders are few
#                                             accounts sending thousands of msgs/s
#   CHATTERBOX_LOGIN_IP_*, _REGISTER_IP_*     every bench client comes from 127.0.0.1: the login
#     (burst and per minute) = 1000000        burst is 50 logins at once, each run registers a few
#                                             accounts, and rooms one per connection (1000)
#   CHATTERBOX_BCRYPT_COST = 4                registering/logging in the bench accounts is not what
#                                             is measured; the login scenario keeps the default 12
#   CHATTERBOX_LOGIN_ACCOUNT_BURST/PER_MIN    login scenario only: its 50 logins at once share 4
#     = 1000000                               accounts, and an account takes 5 attempts at a time
#                                             (the rest are refused with 429 before any bcrypt)
#   JWT_SECRET set                            no secret generated and stored at first start
#   CHATTERBOX_MAX_SOCKETS_PER_ACCOUNT        connections share a few accounts' tokens (15,000 idle
#     = 1000000                               sockets on 8 accounts); the storm keeps the default 20
#   CHATTERBOX_UPLOADS_BURST/PER_SEC          files scenario (5d.) only: its one account uploads
#     = 1000000                               dozens of files within seconds (default 20, then 0.5/s)
#   CHATTERBOX_FILES_URL                      files scenario only: a directory named here, so that
#                                             loadgen's disk comparison writes into the same one
# Everything else (synchronous=FULL, outbound queue 4096, ...) is the default. The catch-up storm
# (6.) keeps the default flood control (its seeding stays within 10 at once / 5 per s per account)
# and the default socket caps: each account tries one socket more than the per-account cap of 20.
# 7. PostgreSQL + Redis (skipped, with a message, when either is not installed): a throwaway
# PostgreSQL (the newest /usr/lib/postgresql/*/bin; as root it runs as `postgres`) and Redis,
# their files in the temp directory, loopback only, random ports. Each scenario gets a fresh
# database (CREATE DATABASE), each two-node run an emptied Redis (FLUSHALL). Besides the above:
#   PostgreSQL initdb -A trust            loopback only, no passwords
#   PostgreSQL max_connections = 200      (100 by default) two nodes' pools; durability keeps the
#                                         defaults: fsync on, synchronous_commit on
#   Redis --save '' --appendonly no       the cluster bus and budgets need no persistence
#   CHATTERBOX_REDIS_URL                  the two-node fanout only (ingest-postgres is one node)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0 BUILD=1 KEEP=0 OUT="" ONLY_METRICS=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only-metrics) ONLY_METRICS=1 ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

export PATH="$HOME/.cargo/bin:$PATH"
if [ "$BUILD" = 1 ]; then
    # The server exactly as scripts/run.sh builds and deploys it (scripts/build.sh: the release
    # site, and the server with `--cfg erase_components`, see Cargo.toml), then the load
    # generator with the same RUSTFLAGS, so the two builds share dependencies instead of
    # rebuilding each other's (building both at once would also unify their features).
    "$ROOT/scripts/install-tools.sh"
    LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress
    RUSTFLAGS="--cfg erase_components" cargo build --release -p loadgen
fi
SERVER="$ROOT/target/release/server"
LOADGEN="$ROOT/target/release/loadgen"
for bin in "$SERVER" "$LOADGEN"; do
    [ -x "$bin" ] || { echo "missing $bin (run without --no-build)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed to seed the history database (apt-get install sqlite3)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/chatterbox-bench.XXXXXX)
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
[ -n "$OUT" ] || { if [ "$QUICK" = 1 ] || [ "$ONLY_METRICS" = 1 ]; then OUT="$WORK/performance.md"; else OUT="$ROOT/docs/performance.md"; fi; }
SERVER_PID=""
NODE_PIDS=()
PG_BIN="" PG_STARTED=0 REDIS_PID=""

# Runs a PostgreSQL binary as the `postgres` user when we are root (PostgreSQL refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Stops the throwaway PostgreSQL and Redis of section 7, if they run.
stop_cluster_services() {
    if [ -n "$REDIS_PID" ]; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    if [ "$PG_STARTED" = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
        PG_STARTED=0
    fi
}

cleanup() {
    stop_server
    stop_cluster_services
    if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server holds one socket per connection: allow it (and the load generator) the hard limit.
ulimit -n "$(ulimit -Hn)"

# A free loopback port: the first of a random run of 50 that nothing listens on and that is not
# among the arguments (ports already handed out to something not started yet).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local port=$((20000 + RANDOM % 10000)) taken=" $* "
    for _ in $(seq 50); do
        port_in_use "$port" || [[ $taken == *" $port "* ]] || break
        port=$((port + 1))
    done
    echo "$port"
}
PORT=$(free_port)
ADDR="127.0.0.1:$PORT"
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# start_server NAME [VAR=value...]: a fresh server on $WORK/NAME/bench.db, in the background.
start_server() {
    local name=$1; shift
    mkdir -p "$WORK/$name"
    start_server_on "$WORK/$name/bench.db" "$@"
}

# start_server_on DB [VAR=value...]: the server on the SQLite file DB, on $ADDR.
start_server_on() {
    local db=$1; shift
    start_node "$PORT" DATABASE_URL="sqlite://$db" "$@"
}

# start_node PORT [VAR=value...]: a server with the bench settings on 127.0.0.1:PORT, in the
# background, once it listens. VAR=value (DATABASE_URL among them) come last, so they override
# the settings here. Its pid is NODE_PID; the first node started since stop_server is
# SERVER_PID, the one loadgen meters with --server-pid.
start_node() {
    local port=$1; shift
    env LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_OUTPUT_NAME=chatterbox LEPTOS_SITE_ROOT="$WORK/site" \
        CHATTERBOX_CONFIG=/dev/null JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        CHATTERBOX_BCRYPT_COST=4 CHATTERBOX_FLOOD_BURST=1000000 CHATTERBOX_FLOOD_PER_SEC=1000000 \
        CHATTERBOX_LOGIN_IP_BURST=1000000 CHATTERBOX_LOGIN_IP_PER_MIN=1000000 \
        CHATTERBOX_REGISTER_IP_BURST=1000000 CHATTERBOX_REGISTER_IP_PER_MIN=1000000 \
        CHATTERBOX_MAX_SOCKETS_PER_ACCOUNT=1000000 \
        "$@" "$SERVER" >>"$WORK/server.log" 2>&1 &
    NODE_PID=$!
    NODE_PIDS+=("$NODE_PID")
    [ -n "$SERVER_PID" ] || SERVER_PID=$NODE_PID
    # START_WAIT: tenths of a second to wait (a server indexing seeded messages takes longer).
    for _ in $(seq "${START_WAIT:-300}"); do
        if port_in_use "$port"; then return 0; fi
        kill -0 "$NODE_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "server did not start listening on port $port within $(( ${START_WAIT:-300} / 10 )) s" >&2
    exit 1
}

# Stops every server started (one node, or both of a cluster).
stop_server() {
    [ "${#NODE_PIDS[@]}" -gt 0 ] || return 0
    local pid
    for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    NODE_PIDS=() SERVER_PID=""
    # Let the sockets of the previous scenario wind down before the next measurement.
    sleep 2
}

# loadgen COMMAND LABEL [options...]: one scenario against the running server.
loadgen() {
    local command=$1 label=$2; shift 2
    echo
    echo "== $label"
    "$LOADGEN" "$command" --addr "$ADDR" --server-pid "$SERVER_PID" --label "$label" --json "$RESULTS" "$@" >/dev/null
}

# fanout LABEL LISTENERS RATE: $REPEAT fanouts, each on a fresh server (the report takes the
# median: single runs on a shared VM vary by several milliseconds).
fanout() {
    local run
    for run in $(seq "$REPEAT"); do
        start_server "$1-$run"
        loadgen fanout "$1" --listeners "$2" --rate "$3" --senders 4 --duration "$DURATION"
        stop_server
    done
}

# rooms LABEL ROOMS SIZE RATE: $REPEAT runs of ROOMS public rooms of SIZE (one account and
# connection per member, every one sending) at RATE msgs/s in total, each on a fresh server.
rooms() {
    local run
    for run in $(seq "$REPEAT"); do
        start_server "$1-$run"
        loadgen rooms "$1" --rooms "$2" --room-size "$3" --rate "$4" --duration "$DURATION"
        stop_server
    done
}

# Inserts COUNT messages straight into the (stopped) server's database.
seed_messages() {
    local db=$1 count=$2
    sqlite3 "$db" <<SQL
.timeout 5000
BEGIN;
INSERT INTO users (username, email, password_hash, created_at)
    VALUES ('seed', 'seed@loadgen.example.com', '!', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $count)
INSERT INTO messages (sender_id, room, content, client_id, created_at)
    SELECT (SELECT id FROM users WHERE username = 'seed'), 'general',
           'seeded history message number ' || x, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM n;
COMMIT;
SQL
}

# The seeded search vocabulary (loadgen's scenario/search.rs spells the same): word i is three
# syllables of this string; a message is 8 words, word i drawn with a skew to the small i (the
# product of two uniform draws), so a few words are common and most are rare.
SYLLABLES=kalominerusativozupedagohijakulemonuripo
# search_word_sql I: the SQL of word I (a column holding the word's index).
search_word_sql() {
    local at="CAST($1 % 20 * 2 + 1 AS INTEGER)" at2="CAST($1 / 20 % 20 * 2 + 1 AS INTEGER)"
    local at3="CAST($1 / 400 % 20 * 2 + 1 AS INTEGER)"
    echo "substr('$SYLLABLES', $at, 2) || substr('$SYLLABLES', $at2, 2) || substr('$SYLLABLES', $at3, 2)"
}
# search_text_sql: 8 words (the columns i1 .. i8), separated by spaces.
search_text_sql() {
    local text="" k
    for k in 1 2 3 4 5 6 7 8; do text+="${text:+ || ' ' || }$(search_word_sql "i$k")"; done
    echo "$text"
}
# search_indexes_sql DRAW: the columns i1 .. i8, each a word index: the product of two uniform
# draws (DRAW gives one, 0 to 1999) over 2000, so small indexes are common and large ones rare.
search_indexes_sql() {
    local columns="" k
    for k in 1 2 3 4 5 6 7 8; do columns+="${columns:+, }($1) * ($1) / 2000 AS i$k"; done
    echo "$columns"
}

# seed_search_sqlite DB COUNT: COUNT messages of the search vocabulary in `general`, sent by `seed`
# (written directly, as a database from before search: the server indexes them when it starts).
seed_search_sqlite() {
    local db=$1 count=$2
    sqlite3 "$db" <<SQL
.timeout 5000
.bail on
BEGIN;
INSERT INTO users (username, email, password_hash, created_at)
    VALUES ('seed', 'seed@loadgen.example.com', '!', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $count),
    drawn AS MATERIALIZED (SELECT x, $(search_indexes_sql 'abs(random()) % 2000') FROM n)
INSERT INTO messages (sender_id, room, content, client_id, created_at)
    SELECT (SELECT id FROM users WHERE username = 'seed'), 'general', $(search_text_sql), NULL,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM drawn;
COMMIT;
SQL
}

# seed_search_postgres URL COUNT: the same on PostgreSQL (ids from the messages counter).
seed_search_postgres() {
    local url=$1 count=$2
    "$PSQL" -q -v ON_ERROR_STOP=1 "$url" <<SQL
BEGIN;
INSERT INTO users (username, email, password_hash, created_at)
    VALUES ('seed', 'seed@loadgen.example.com', '!', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
WITH drawn AS MATERIALIZED (
    SELECT g, $(search_indexes_sql 'floor(random() * 2000)::bigint') FROM generate_series(1, $count) AS g
)
INSERT INTO messages (id, sender_id, room_id, content, created_at)
    SELECT (SELECT value FROM counters WHERE name = 'messages') + g, (SELECT id FROM users WHERE username = 'seed'), 1,
           $(search_text_sql), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    FROM drawn;
UPDATE counters SET value = value + $count WHERE name = 'messages';
COMMIT;
SQL
}

# timed_start COMMAND...: runs it (a server start) and says how long it took.
timed_start() {
    local started=$SECONDS
    "$@"
    echo "  started (indexing the seeded messages for search) in $((SECONDS - started)) s"
}

describe_machine() {
    local cpu mem commit dirty
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
    cat <<EOF
Measured $(date -u '+%Y-%m-%d %H:%M UTC') on commit \`$commit\`$dirty by \`scripts/bench.sh$([ "$QUICK" = 1 ] && echo " --quick")\`.

| machine | |
|---|---|
| CPU | $(nproc) x $cpu (server and load generator share it) |
| memory | $mem |
| kernel | $(uname -sr) |
| database file system | $(df -T "$WORK" | awk 'NR==2 {print $2 " on " $1}') |
| toolchain | $(rustc --version 2>/dev/null || echo unknown) |
| load average before the run | $(cut -d' ' -f1-3 /proc/loadavg) |
| server settings | defaults (\`synchronous=FULL\`), except: flood control and the per-IP login and registration throttles raised to 1000000 (and the per-account login throttle in the login scenario), bcrypt cost 4 outside the login scenario, the upload throttle raised to 1000000 in the files scenario |
EOF
}
describe_machine > "$WORK/machine.md"

if [ "$QUICK" = 1 ]; then
    DURATION=3 IDLE=500 HOLD=3 BIG=100 SMALL=20 SEED=100000 SAMPLES=100 BURST=5 QUIET=3 HISTORY_LABEL=history-100k REPEAT=1
    STORM_ACCOUNTS=10 STORM_SEED=300 ROOMS=10 ROOMS_RATE=100 IDLE_MANY=500 IDLE_ACCOUNTS=50
    FILES_SAMPLES=2 FILES_CLIENTS=20 FILES_DOWNLOADS=5 METRICS_REPEAT=1
else
    DURATION=20 IDLE=15000 HOLD=25 BIG=1000 SMALL=100 SEED=1000000 SAMPLES=1000 BURST=50 QUIET=10 HISTORY_LABEL=history-1m REPEAT=3
    STORM_ACCOUNTS=50 STORM_SEED=2000 ROOMS=100 ROOMS_RATE=1000 IDLE_MANY=10000 IDLE_ACCOUNTS=1000
    FILES_SAMPLES=5 FILES_CLIENTS=100 FILES_DOWNLOADS=20 METRICS_REPEAT=5
fi

# 8. (first, so that --only-metrics can stop after it) The cost of recording metrics (issue 26):
#    the fanout of 2. at ${BIG} listeners x 400 msgs/s, alternately without metrics (the default)
#    and with them (CHATTERBOX_METRICS_TOKEN set: recorded, and scraped once a second as
#    Prometheus would, every 15 s by default), $METRICS_REPEAT times each, on a fresh server each.
METRICS_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
for run in $(seq "$METRICS_REPEAT"); do
    start_server "metrics-off-$run"
    loadgen fanout "metrics-off-${BIG}x400" --listeners "$BIG" --rate 400 --senders 4 --duration "$DURATION"
    stop_server
    start_server "metrics-on-$run" CHATTERBOX_METRICS_TOKEN="$METRICS_TOKEN"
    ( while curl -sf -o /dev/null -H "Authorization: Bearer $METRICS_TOKEN" "http://$ADDR/metrics"; do sleep 1; done ) &
    scraper=$!
    loadgen fanout "metrics-on-${BIG}x400" --listeners "$BIG" --rate 400 --senders 4 --duration "$DURATION"
    kill "$scraper" 2>/dev/null || true
    wait "$scraper" 2>/dev/null || true
    stop_server
done
# What the recording calls themselves cost (ns per call), for the verdict: the fan-outs' noise
# is larger than 2%.
RUSTFLAGS="--cfg erase_components" cargo run --quiet --release -p server --example metrics_cost -- --json "$RESULTS"
if [ "$ONLY_METRICS" = 1 ]; then
    "$LOADGEN" report --results "$RESULTS" --machine "$WORK/machine.md" --out "$OUT"
    grep -E "recording metrics|metrics-(on|off)" "$OUT" || true
    echo "results: $OUT"
    exit 0
fi

# 1. Memory at start, then idle connections (same fresh server).
start_server startup
sleep 1
loadgen rss startup-rss
loadgen idle idle --connections "$IDLE" --hold "$HOLD"
stop_server

# 1b. Idle sockets of many accounts (issue 22): 10,000 over 1,000 accounts, a fresh server each
#     time; memory per socket and the time to connect them all (presence of 1,000 users online).
for run in $(seq "$REPEAT"); do
    start_server "idle-accounts-$run"
    loadgen idle "idle-${IDLE_MANY}of${IDLE_ACCOUNTS}" --connections "$IDLE_MANY" --users "$IDLE_ACCOUNTS" --hold "$HOLD"
    stop_server
done

# 2. Fanouts, each run on a fresh server.
fanout "fanout-${BIG}x20" "$BIG" 20
fanout "fanout-${SMALL}x500" "$SMALL" 500
fanout "fanout-${BIG}x100" "$BIG" 100
fanout "fanout-${BIG}x200" "$BIG" 200
fanout "fanout-${BIG}x400" "$BIG" 400

# 2b. Many small rooms: ROOMS public rooms of 10, every member sending into its own room,
#     ROOMS_RATE msgs/s in total (each on a fresh server, like the fanouts).
rooms "rooms-${ROOMS}x10" "$ROOMS" 10 "$ROOMS_RATE"

# 3. Ingest: group commit with the default synchronous=FULL.
start_server ingest
loadgen ingest ingest --senders 4 --window 256 --duration "$((DURATION / 2))"
stop_server

# 3b. Ingest of issue 22's shape: 10 senders with 64 in flight each, every message to all 10.
for run in $(seq "$REPEAT"); do
    start_server "ingest-10x64-$run"
    loadgen ingest ingest-10x64 --senders 10 --window 64 --duration "$((DURATION / 2))"
    stop_server
done

# 4. Login burst during a fanout, at the default bcrypt cost (12).
start_server login CHATTERBOX_BCRYPT_COST=12 CHATTERBOX_LOGIN_ACCOUNT_BURST=1000000 CHATTERBOX_LOGIN_ACCOUNT_PER_MIN=1000000
loadgen login login-burst --listeners "$BIG" --rate 20 --senders 4 --quiet "$QUIET" --burst "$BURST" --users 4
stop_server

# 5. History with many stored messages: migrate, stop, seed, restart, measure.
start_server history
stop_server
echo
echo "== seeding $SEED messages"
time seed_messages "$WORK/history/bench.db" "$SEED"
START_WAIT=6000 timed_start start_server_on "$WORK/history/bench.db"
loadgen history "$HISTORY_LABEL" --samples "$SAMPLES" --warmup 20
stop_server

# 5b. Search over SEED stored messages (1M; 100k with --quick): seeded as a database from before
#     search, so the server indexes them when it starts (its start is timed), then K searches.
start_server search
stop_server
echo
echo "== seeding $SEED messages for search"
time seed_search_sqlite "$WORK/search/bench.db" "$SEED"
START_WAIT=6000 timed_start start_server_on "$WORK/search/bench.db"
loadgen search "search-${HISTORY_LABEL#history-}" --samples "$SAMPLES" --warmup 20
stop_server

# 5c. An edit and a reaction to BIG listeners, next to a new message.
start_server actions
loadgen actions "actions-${BIG}" --listeners "$BIG" --rounds 20
stop_server

# 5d. Files (issue 25), $REPEAT runs each on a fresh server: 25 MiB uploads one after the other
#     against the disk's write speed into the server's files directory, the server's memory with 4
#     of them at once, a 12-megapixel JPEG's processing (decode, orientation, re-encode,
#     thumbnail), and FILES_CLIENTS clients downloading a 1 MiB file FILES_DOWNLOADS times each.
for run in $(seq "$REPEAT"); do
    start_server "files-$run" CHATTERBOX_UPLOADS_BURST=1000000 CHATTERBOX_UPLOADS_PER_SEC=1000000 \
        CHATTERBOX_FILES_URL="file://$WORK/files-$run/store"
    loadgen files files --files-dir "$WORK/files-$run/store" --samples "$FILES_SAMPLES" --concurrent 4 \
        --clients "$FILES_CLIENTS" --downloads "$FILES_DOWNLOADS"
    stop_server
done

# 6. Catch-up storm: STORM_SEED messages of ~7.5 KB sent within the default flood limit, then
#    STORM_ACCOUNTS x 21 sockets (one over the per-account cap) ask for since=0 and never read.
start_server storm CHATTERBOX_FLOOD_BURST=10 CHATTERBOX_FLOOD_PER_SEC=5 CHATTERBOX_MAX_SOCKETS_PER_ACCOUNT=20
loadgen storm "storm-${STORM_ACCOUNTS}x20" --accounts "$STORM_ACCOUNTS" --sockets-per-account 21 \
    --seed "$STORM_SEED" --message-chars 4000 --seeders 20 --hold 10 --settle 5
stop_server

# 7. PostgreSQL + Redis: ingest on PostgreSQL (one node), and a fanout across two nodes sharing
#    one database and one Redis (listeners and senders alternate between them), each run on a
#    fresh database and an emptied Redis. Its single-node counterpart is fanout-${BIG}x100 (2.).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
missing=""
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || missing="PostgreSQL (/usr/lib/postgresql/*/bin)"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing="${missing:+$missing and }redis-server"
PSQL="$PG_BIN/psql"
[ -x "$PSQL" ] || PSQL=psql
command -v "$PSQL" >/dev/null || missing="${missing:+$missing and }psql"

# Starts PostgreSQL (default durability: fsync and synchronous_commit on) and Redis on free
# loopback ports, their files under $WORK; cleanup stops them.
start_cluster_services() {
    PG_PORT=$(free_port "$PORT" "$PORT2")
    REDIS_PORT=$(free_port "$PORT" "$PORT2" "$PG_PORT")
    mkdir -p "$WORK/pg/data" "$WORK/pg/socket"
    touch "$WORK/pg/postgres.log"
    if [ "$(id -u)" = 0 ]; then
        chmod 711 "$WORK"  # mktemp made it 700: the postgres user must reach its directories
        chown -R postgres: "$WORK/pg"
    fi
    echo
    echo "== starting PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT and Redis on 127.0.0.1:$REDIS_PORT"
    as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
        || { tail -20 "$WORK/initdb.log" >&2; exit 1; }
    PG_STARTED=1
    local options="-p $PG_PORT -k $WORK/pg/socket -c listen_addresses=127.0.0.1 -c max_connections=200"
    options+=" -c fsync=on -c synchronous_commit=on"  # the defaults, spelled out
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 -o "$options" start >/dev/null \
        || { tail -20 "$WORK/pg/postgres.log" >&2; exit 1; }
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || { tail -20 "$WORK/redis.log" >&2; exit 1; }
    echo "| cluster scenarios | PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') (\`fsync\` and \`synchronous_commit\` on, \`max_connections=200\`), Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') without persistence, both on loopback on the same machine |" \
        >>"$WORK/machine.md"
}

# A fresh, empty database on the throwaway PostgreSQL; prints its DATABASE_URL (use it as
# `url=$(create_database NAME)`, so that a failure stops the script).
create_database() {
    "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $1" >/dev/null || return 1
    echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

# fanout_2nodes LABEL LISTENERS RATE: $REPEAT fanouts across two fresh nodes sharing a fresh
# database and an emptied Redis; loadgen meters both nodes' CPU.
fanout_2nodes() {
    local run url
    for run in $(seq "$REPEAT"); do
        url=$(create_database "fanout_2nodes_$run")
        redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
        # Both nodes on this machine share one files directory.
        local cluster=(DATABASE_URL="$url" CHATTERBOX_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
            CHATTERBOX_FILES_URL="file://$WORK/files-2nodes" CHATTERBOX_FILES_SHARED=true)
        start_node "$PORT" "${cluster[@]}"
        start_node "$PORT2" "${cluster[@]}"
        loadgen fanout "$1" --addr2 "$ADDR2" --server-pid2 "$NODE_PID" \
            --listeners "$2" --rate "$3" --senders 4 --duration "$DURATION"
        stop_server
    done
}

if [ -n "$missing" ]; then
    echo
    echo "== skipping the PostgreSQL + Redis scenarios (ingest-postgres, fanout-2nodes-*): $missing not installed"
    echo "   (apt-get install postgresql redis-server); their rows stay \"not measured\""
else
    PORT2=$(free_port "$PORT")
    ADDR2="127.0.0.1:$PORT2"
    start_cluster_services
    url=$(create_database ingest_postgres)
    start_node "$PORT" DATABASE_URL="$url"
    loadgen ingest ingest-postgres --senders 4 --window 256 --duration "$((DURATION / 2))"
    stop_server
    fanout_2nodes "fanout-2nodes-${BIG}x100" "$BIG" 100
    # Search on PostgreSQL: the same seeded messages, ANALYZEd as autovacuum would soon do.
    url=$(create_database search_postgres)
    start_node "$PORT" DATABASE_URL="$url"
    stop_server
    echo
    echo "== seeding $SEED messages for search on PostgreSQL"
    time seed_search_postgres "$url" "$SEED"
    START_WAIT=6000 timed_start start_node "$PORT" DATABASE_URL="$url"
    "$PSQL" -q "$url" -c "ANALYZE messages"
    loadgen search "search-postgres-${HISTORY_LABEL#history-}" --samples "$SAMPLES" --warmup 20
    stop_server
    stop_cluster_services
fi

"$LOADGEN" report --results "$RESULTS" --machine "$WORK/machine.md" --out "$OUT"
[ "$QUICK" = 1 ] && cat "$OUT"
echo "results: $OUT"
