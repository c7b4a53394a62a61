#!/usr/bin/env bash
# Short, bounded fuzzing of the parsers in fuzz/ (cargo-fuzz + libFuzzer; needs nightly).
#
#   scripts/fuzz.sh                  # every target, FUZZ_SECONDS (default 30) each
#   FUZZ_SECONDS=300 scripts/fuzz.sh client_frame
#   FUZZ_SANITIZER=none scripts/fuzz.sh   # no AddressSanitizer: ~4x the executions per second
#                                         # (the fuzzed code is safe Rust; ASan guards the
#                                         # unsafe code inside dependencies)
#
#   CHATTERBOX_SKIP_FUZZ=1 scripts/fuzz.sh   # skip fuzzing on purpose (exits 0, says so)
#
# Without a nightly toolchain it fails (exit 1): a test run must not pass without fuzzing unless
# the user opted out explicitly with CHATTERBOX_SKIP_FUZZ=1 (the normal tests still cover part of
# the same code: moderation's proptest suite, ClientFrame/MessageBody and wire.rs unit tests).
# Exits non-zero if any target crashes, panics, times out or runs out of memory; the input is
# saved under fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run <target> <file>).
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [[ "${CHATTERBOX_SKIP_FUZZ:-0}" == 1 ]]; then
    echo "fuzz: SKIPPED on request (CHATTERBOX_SKIP_FUZZ=1): no libFuzzer target was run."
    exit 0
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: FAILED: no nightly toolchain (cargo +nightly), so no fuzz target can run." >&2
    echo "fuzz: install one (rustup toolchain install nightly), or skip fuzzing explicitly with" >&2
    echo "fuzz: CHATTERBOX_SKIP_FUZZ=1 (the run then says it was skipped)." >&2
    exit 1
fi

if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io..."
    cargo +nightly install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

if (( $# > 0 )); then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

start=$SECONDS
# One build for all targets (release, debug assertions, sanitizer), in fuzz/target.
cargo +nightly fuzz build --fuzz-dir fuzz -s "$FUZZ_SANITIZER"
echo "fuzz: built in $(( SECONDS - start )) s"

failed=()
for t in "${targets[@]}"; do
    # New inputs go to the first (git-ignored) directory; the tracked seeds are read only.
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    echo "fuzz: $t for ${FUZZ_SECONDS} s (sanitizer: $FUZZ_SANITIZER)"
    log="fuzz/target/logs/$t.log"
    mkdir -p "$(dirname "$log")"
    if cargo +nightly fuzz run --fuzz-dir fuzz -s "$FUZZ_SANITIZER" "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^#[0-9]+ +DONE|^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" \
            | sed 's/^/    /' || true
        echo "fuzz: $t ok (log: $log)"
    else
        {
            grep -E "panicked at|==[0-9]+== ?ERROR|^SUMMARY|Test unit written|^Error: " "$log" | head -n 20
            sed -n '/^Failing input:/,/^Minimize test case/p' "$log" | head -n 30
        } >&2 || true
        echo "fuzz: $t FAILED (log: $log; input saved under fuzz/artifacts/$t/)" >&2
        failed+=("$t")
    fi
done

echo "fuzz: finished in $(( SECONDS - start )) s"
if (( ${#failed[@]} > 0 )); then
    echo "fuzz: failing targets: ${failed[*]}" >&2
    exit 1
fi
