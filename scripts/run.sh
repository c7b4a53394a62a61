#!/usr/bin/env bash
# Runs ChatterBox: installs what is missing, builds in release and serves http://127.0.0.1:3000
# on ./chatterbox.db (created and migrated on first start). Settings: Leptos.toml and env.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo leptos serve --release
