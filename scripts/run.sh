#!/usr/bin/env bash
# Runs ChatterBox: installs what is missing, builds in release and serves http://127.0.0.1:3000
# on ./chatterbox.db (created and migrated on first start). Settings: Leptos.toml and env.
# The release site (hashed JS/WASM/CSS with .br/.gz beside them) goes to target/site, apart from
# the debug builds' target/site-debug: cargo-leptos empties the site root it builds into.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
export PATH="$HOME/.cargo/bin:$PATH"
export LEPTOS_SITE_ROOT=target/site
exec cargo leptos serve --release --precompress
