#!/usr/bin/env bash
# Page weight and Lighthouse (issue 15): builds in release (site in target/site, precompressed),
# starts the release server on a fresh temporary database and a random loopback port, registers
# the first account (the admin), and runs Lighthouse (mobile, default simulated throttling, Debian
# Chromium) on /login, / and /admin (signed in with the session cookie). Prints per page the four
# category scores, LCP, FCP, TBT, CLS and the bytes a first visit transfers, and exits 1 if a
# target of docs/performance.md is missed.
#
#   scripts/lighthouse.sh [--no-build] [--runs N] [--json-dir DIR]
#
# --no-build: use target/release/server and target/site as they are (after scripts/run.sh or
# `LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress`). --runs: Lighthouse
# runs per page (default 3); the run with the median performance score is reported. --json-dir:
# keep every Lighthouse report there. Lighthouse is installed from npm into
# target/lighthouse-tools (pinned below); Chromium is CHROME_PATH (default /usr/bin/chromium, which
# scripts/install-tools.sh --test installs). Each Lighthouse run is bounded (3 minutes); everything this script
# started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

LIGHTHOUSE_VERSION=12.8.2
TOOLS="$ROOT/target/lighthouse-tools"
SITE_ROOT=target/site
BUILD=1
RUNS=3
JSON_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --runs) RUNS=$2; shift ;;
        --json-dir) JSON_DIR=$2; shift ;;
        *) echo "usage: scripts/lighthouse.sh [--no-build] [--runs N] [--json-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done

# The build tools, and Debian's Chromium (as for the end-to-end tests).
scripts/install-tools.sh --test
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
[ -x "$CHROME_PATH" ] || { echo "no Chromium at $CHROME_PATH (apt-get install chromium, or set CHROME_PATH)" >&2; exit 1; }
command -v node >/dev/null || { echo "Node.js/npm are needed for Lighthouse" >&2; exit 1; }

installed=$(node -p "try { require('$TOOLS/node_modules/lighthouse/package.json').version } catch { '' }")
if [ "$installed" != "$LIGHTHOUSE_VERSION" ]; then
    mkdir -p "$TOOLS"
    [ -f "$TOOLS/package.json" ] || echo '{ "private": true }' > "$TOOLS/package.json"
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent "lighthouse@$LIGHTHOUSE_VERSION"
fi
LIGHTHOUSE="$TOOLS/node_modules/.bin/lighthouse"

export PATH="$HOME/.cargo/bin:$PATH"
if [ "$BUILD" = 1 ]; then
    LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress   # = $SITE_ROOT
fi
SERVER="$ROOT/target/release/server"
[ -x "$SERVER" ] || { echo "missing $SERVER (run without --no-build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/chatterbox-lighthouse.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((20000 + RANDOM % 10000))
for _ in $(seq 50); do port_in_use "$PORT" || break; PORT=$((PORT + 1)); done
BASE="http://127.0.0.1:$PORT"

env LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_SITE_ROOT="$SITE_ROOT" DATABASE_URL="sqlite://$WORK/lighthouse.db" \
    CHATTERBOX_CONFIG=/dev/null JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" RUST_LOG=warn \
    "$SERVER" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    port_in_use "$PORT" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
port_in_use "$PORT" || { echo "the server did not listen on $PORT" >&2; exit 1; }

# The first account becomes the admin; its token is the session cookie's value.
curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d '{"username":"admin","email":"admin@example.com","password":"lighthouse-password"}' "$BASE/register"
TOKEN=$(curl -fsS -H 'content-type: application/json' \
    -d '{"username":"admin","password":"lighthouse-password"}' "$BASE/login" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).access_token))')
printf '{"Cookie": "chatterbox_session=%s"}' "$TOKEN" > "$WORK/signed-in.json"

run_lighthouse() { # PAGE RUN [EXTRA ARGS...]
    local page=$1 run=$2; shift 2
    local name=${page//\//_}
    timeout -k 10 180 "$LIGHTHOUSE" "$BASE$page" --quiet \
        --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
        --only-categories=performance,accessibility,best-practices,seo \
        --output=json --output-path="$WORK/lh${name}.$run.json" "$@"
}

for page in /login / /admin; do
    extra=()
    [ "$page" = /login ] || extra=(--extra-headers="$WORK/signed-in.json")
    for run in $(seq "$RUNS"); do
        echo "lighthouse $page (run $run of $RUNS)" >&2
        run_lighthouse "$page" "$run" "${extra[@]}"
    done
done
[ -z "$JSON_DIR" ] || { mkdir -p "$JSON_DIR"; cp "$WORK"/lh*.json "$JSON_DIR"/; }

node - "$WORK" "$RUNS" <<'EOF'
const fs = require("fs");
const [work, runs] = process.argv.slice(2);
const pages = ["/login", "/", "/admin"];
const rows = [];
let missed = [];
for (const page of pages) {
  const name = page.replaceAll("/", "_");
  const reports = [];
  for (let run = 1; run <= Number(runs); run++) {
    reports.push(JSON.parse(fs.readFileSync(`${work}/lh${name}.${run}.json`, "utf8")));
  }
  reports.sort((a, b) => a.categories.performance.score - b.categories.performance.score);
  const r = reports[Math.floor(reports.length / 2)];
  if (r.runtimeError) missed.push(`${page}: ${r.runtimeError.code}`);
  const score = (id) => Math.round(r.categories[id].score * 100);
  const audit = (id) => r.audits[id].numericValue;
  const row = {
    page,
    performance: score("performance"),
    accessibility: score("accessibility"),
    "best-practices": score("best-practices"),
    seo: score("seo"),
    "LCP s": (audit("largest-contentful-paint") / 1000).toFixed(2),
    "FCP s": (audit("first-contentful-paint") / 1000).toFixed(2),
    "TBT ms": Math.round(audit("total-blocking-time")),
    CLS: audit("cumulative-layout-shift").toFixed(3),
    "transferred kB": (audit("total-byte-weight") / 1000).toFixed(1),
    "performance runs": reports.map((x) => Math.round(x.categories.performance.score * 100)).join(" "),
  };
  rows.push(row);
  if (row.performance < 95) missed.push(`${page}: performance ${row.performance} < 95`);
  if (Number(row["LCP s"]) > 2.5) missed.push(`${page}: LCP ${row["LCP s"]} s > 2.5 s`);
  for (const id of ["accessibility", "best-practices", "seo"]) {
    if (row[id] < 100) {
      const failing = Object.values(r.audits)
        .filter((a) => a.score !== null && a.score < 1 && r.categories[id].auditRefs.some((ref) => ref.id === a.id && ref.weight > 0))
        .map((a) => a.id);
      missed.push(`${page}: ${id} ${row[id]} < 100 (${failing.join(", ")})`);
    }
  }
  if (page === "/" && audit("total-byte-weight") >= 400_000) missed.push(`/: ${row["transferred kB"]} kB transferred >= 400 kB`);
}
const columns = Object.keys(rows[0]);
console.log(`| ${columns.join(" | ")} |`);
console.log(`|${columns.map(() => "---").join("|")}|`);
for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(" | ")} |`);
if (missed.length) {
  console.log(`\ntargets missed:\n- ${missed.join("\n- ")}`);
  process.exit(1);
}
console.log("\nevery target met (performance >= 95, LCP <= 2.5 s, the other categories 100, / under 400 kB)");
EOF
