#!/usr/bin/env bash
# Supply-chain audit: `cargo deny check` (advisories, licenses, bans, sources) against deny.toml.
#
# Installs cargo-deny $DENY_VERSION if it is missing or at another version.
# Advisory database:
#   * if ../shared/advisory-db exists beside the repository (an offline snapshot of
#     rustsec/advisory-db), it is turned into the git repository cargo-deny expects and the
#     check runs with --offline (no network for the database; crates come from cargo's cache);
#   * otherwise cargo-deny fetches the live database from GitHub (network); if that fails and a
#     copy of the database is already on this machine, the check runs --offline against it
#     (with a warning), so a machine without the network still gets a real check.
# Usage: scripts/audit.sh [extra `cargo deny check` args, e.g. `licenses` or `advisories`]
set -euo pipefail

DENY_VERSION="${DENY_VERSION:-0.20.2}"
# Directory name cargo-deny derives from the default database URL
# (https://github.com/RustSec/advisory-db); see TOOLCHAIN.md.
DB_DIR_NAME="advisory-db-3157b0e258782691"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$SECONDS

# 1. cargo-deny at the pinned version.
if [[ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $DENY_VERSION" ]]; then
    echo "audit: installing cargo-deny $DENY_VERSION (about 6 min on 2 cores)..."
    cargo install --locked "cargo-deny@$DENY_VERSION"
fi

# 2. Advisory database: offline snapshot if there is one, else the network.
snapshot="$(cd "$repo/.." && pwd)/shared/advisory-db"
deny_args=()
if [[ -f "$snapshot/SNAPSHOT.txt" ]]; then
    # Must match [advisories] db-path in deny.toml (unset there: cargo-deny's default).
    db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
    db="$db_root/$DB_DIR_NAME"
    marker="$db/.git/chatterbox-snapshot"
    if [[ -f "$marker" ]] && cmp -s "$snapshot/SNAPSHOT.txt" "$marker" \
        && git -C "$db" rev-parse -q --verify HEAD >/dev/null 2>&1; then
        echo "audit: advisory database up to date with the snapshot ($db)"
    else
        echo "audit: installing the advisory-db snapshot into $db"
        # "... commit <sha> (YYYY-MM-DD) ..." in SNAPSHOT.txt; the date becomes the commit date.
        snap_date="$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/SNAPSHOT.txt" | head -n1 || true)"
        mkdir -p "$db_root"
        tmp="$(mktemp -d "$db_root/.snapshot.XXXXXX")"
        trap 'rm -rf "$tmp"' EXIT
        cp -R "$snapshot/." "$tmp/"
        rm -rf "$tmp/.git"
        git -C "$tmp" init -q -b main
        # Same remote and branch as a real clone, so a later online run can fetch into it.
        git -C "$tmp" remote add origin https://github.com/RustSec/advisory-db
        git -C "$tmp" config user.name "chatterbox audit"
        git -C "$tmp" config user.email "audit@chatterbox.invalid"
        git -C "$tmp" add -A
        dates=()
        if [[ -n "$snap_date" ]]; then
            dates=(GIT_AUTHOR_DATE="${snap_date}T00:00:00Z" GIT_COMMITTER_DATE="${snap_date}T00:00:00Z")
        fi
        env "${dates[@]}" git -C "$tmp" -c commit.gpgsign=false commit -q --no-verify \
            -m "$(head -n1 "$snapshot/SNAPSHOT.txt")"
        cp "$snapshot/SNAPSHOT.txt" "$tmp/.git/chatterbox-snapshot"
        rm -rf "$db"
        mv "$tmp" "$db"
        trap - EXIT
    fi
    # cargo-deny judges staleness by the local repository's mtime, which is always fresh here,
    # so report the snapshot's real age instead.
    snap_date="$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/SNAPSHOT.txt" | head -n1 || true)"
    if [[ -n "$snap_date" ]]; then
        age_days=$(( ( $(date -u +%s) - $(date -u -d "$snap_date" +%s) ) / 86400 ))
        echo "audit: advisory snapshot dated $snap_date ($age_days days old)"
        if (( age_days > 90 )); then
            echo "audit: WARNING: the advisory snapshot is over 90 days old; advisories published" \
                 "since then are not checked. Refresh ../shared/advisory-db or run with network." >&2
        fi
    fi
    # Metadata for every target platform must be in cargo's cache for --offline.
    cargo fetch --quiet
    deny_args+=(--offline)
else
    echo "audit: no advisory snapshot at $snapshot; cargo-deny fetches the live database"
fi

if ! cargo deny "${deny_args[@]}" check "$@"; then
    cached="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/$DB_DIR_NAME"
    # Only the network case gets a second chance: the offline re-run sees the same crates,
    # licences and sources, and every advisory in the local copy, so a real finding fails again.
    if [[ ${#deny_args[@]} -gt 0 ]] || ! git -C "$cached" rev-parse -q --verify HEAD >/dev/null 2>&1; then
        exit 1
    fi
    echo "audit: WARNING: the live advisory database could not be used; checking against the" \
         "local copy in $cached (last updated $(git -C "$cached" log -1 --format=%cs))" >&2
    cargo fetch --quiet
    cargo deny --offline check "$@"
fi
echo "audit: passed in $(( SECONDS - start )) s"
