#!/usr/bin/env bash
# Runs every test: unit, integration (real HTTP and WebSocket against the app on 127.0.0.1:0) and
# end-to-end in real Chromium. Installs what is missing first. Debug builds throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "format: cargo fmt --check (rustfmt.toml)"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

step "supply chain: cargo deny (advisories, licences, bans, sources)"
scripts/audit.sh

# Lints fail the run. One package at a time, `app` once per side (never ssr and hydrate together).
step "lints: clippy -D warnings"
cargo clippy -p moderation --all-targets --all-features -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
cargo clippy -p server --all-targets -- -D warnings
cargo clippy -p loadgen --all-targets -- -D warnings
cargo clippy -p testkit --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p xtask --all-targets -- -D warnings

# Test one package at a time: `app` must never be built with ssr and hydrate together.
step "unit tests: moderation"
cargo test -p moderation --all-features
step "moderation measured: word filter and classifier on the insults test set and the chat set (scripts/moderation-eval.sh)"
scripts/moderation-eval.sh
step "unit tests: app (ssr)"
cargo test -p app --features ssr
step "test harness: throwaway PostgreSQL, Redis and S3 (testkit)"
cargo test -p testkit
# Both server runs record every answer of every route (`METHOD PATH STATUS`) into one fresh file;
# the step after them fails for a status /openapi.json documents that no test produced.
statuses="${CARGO_TARGET_DIR:-$PWD/target}/documented-statuses.txt"
rm -f "$statuses"
step "unit + integration tests: server (SQLite; the store conformance suite and the cluster tests on PostgreSQL and Redis, files on S3)"
CHATTERBOX_RECORD_STATUSES="$statuses" cargo test -p server
step "integration tests again, every TestApp on a fresh PostgreSQL database (CHATTERBOX_TEST_DATABASE=postgres)"
CHATTERBOX_RECORD_STATUSES="$statuses" CHATTERBOX_TEST_DATABASE=postgres cargo test -p server --tests
step "every status /openapi.json documents was produced by a test of the two runs (tests/documented_statuses.rs)"
CHATTERBOX_CHECK_STATUSES="$statuses" cargo test -p server --test documented_statuses
step "unit tests: loadgen"
cargo test -p loadgen
step "unit tests: xtask (the site build without cargo-leptos)"
cargo test -p xtask

# Debug builds go to target/site-debug (Cargo.toml `site-root`), never the release site target/site;
# Playwright precompresses it and tests/assets.spec.ts checks the hashed, compressed, cached files.
# Built by `cargo xtask build` on every machine (scripts/build.sh would take cargo-leptos where it is
# installed): the tests prove the build a fresh machine runs; the container test proves its release.
step "end-to-end: build (debug, cargo xtask build) and run Playwright in Chromium"
CHATTERBOX_BUILD_WITH=xtask scripts/build.sh
(cd end2end && npx playwright test)

step "container image: release build, then podman: build, run, chat, restart on the same volume, not root (scripts/container-test.sh; CHATTERBOX_SKIP_CONTAINER=1 skips it on purpose)"
scripts/container-test.sh

step "fuzzing: WebSocket frames and handshake, client frames, the moderation normaliser (bounded; nightly, or CHATTERBOX_SKIP_FUZZ=1)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
