#!/usr/bin/env bash
# Builds the site and the server: `cargo leptos build "$@"` where cargo-leptos and the matching
# wasm-bindgen CLI are installed (the conventional command), else `cargo xtask build "$@"`, the
# workspace's own build step (xtask/), which makes the same site, hash.txt and compressed files
# without them and takes minutes instead of half an hour to set up. Options: --release, --precompress.
#   CHATTERBOX_BUILD_WITH=xtask | cargo-leptos   forces one (the tests use xtask, on every machine)
# The site goes to LEPTOS_SITE_ROOT, else Cargo.toml's site-root (target/site-debug).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The versions scripts/install-tools.sh --cargo-leptos installs, read from it (defined once).
eval "$(grep -E '^(CARGO_LEPTOS|WASM_BINDGEN)_VERSION=[0-9.]+$' scripts/install-tools.sh)"
: "${CARGO_LEPTOS_VERSION:?not found in scripts/install-tools.sh}" "${WASM_BINDGEN_VERSION:?not found in scripts/install-tools.sh}"

with="${CHATTERBOX_BUILD_WITH:-}"
if [ -z "$with" ]; then
  if cargo-leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}\$" \
    && wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
    with=cargo-leptos
  else
    with=xtask
  fi
fi
case "$with" in
  cargo-leptos) exec cargo leptos build "$@" ;;
  xtask) exec cargo xtask build "$@" ;;
  *) echo "CHATTERBOX_BUILD_WITH must be xtask or cargo-leptos, not '$with'" >&2; exit 2 ;;
esac
