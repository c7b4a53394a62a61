#!/usr/bin/env bash
# Runs ChatterBox: installs what is missing, builds in release and serves http://127.0.0.1:3000
# on ./chatterbox.db (created and migrated on first start). Settings: Leptos.toml and env.
# The release site (hashed JS/WASM/CSS with .br/.gz beside them) goes to target/site, apart from
# the debug builds' target/site-debug: the build empties the site root it builds into.
# scripts/build.sh builds with cargo-leptos where it is installed, else with `cargo xtask build`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
export LEPTOS_SITE_ROOT=target/site
scripts/build.sh --release --precompress
exec "${CARGO_TARGET_DIR:-target}/release/server"
