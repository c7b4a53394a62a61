#!/usr/bin/env bash
# Re-exports the shipped classifier (moderation/model/) and its parity scores from the pinned
# alt-profanity-check release, in a throwaway virtualenv under target/. Needs python3 (>= 3.11)
# and PyPI. Run once when the pinned version changes; the output is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/classifier-export-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet 'alt-profanity-check==1.9.1' 'scikit-learn==1.9.1' 'joblib==1.6.0'
"$venv/bin/python" scripts/export-classifier.py
