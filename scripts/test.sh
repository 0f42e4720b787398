#!/usr/bin/env bash
# The whole test suite, as CI runs it (`bash .ci/run`, as root, in a fresh
# clone). On a fresh Debian 12 machine it first installs what it needs:
# system packages and Rust (scripts/install.sh --deps) and the base image
# tarballs (scripts/make-base-images.sh --no-import, cached).
#
# Steps: shellcheck, cargo fmt --check, cargo clippy -D warnings,
# cargo build --release, cargo test --workspace --no-fail-fast (every failure shown), cargo bench --no-run.
# Every step runs even if an earlier one failed; the summary lists each with
# its time, and the exit status is non-zero if any failed.
#
# What the tests get (exported here; set them yourself to run
# `cargo test` by hand):
#   WRUN_TEST_IMAGES       directory of base image tarballs: busybox.tar,
#                          debian-bookworm-slim.tar, python-3.11-slim.tar,
#                          each with NAME.changes (the `--change` lines for
#                          `wrun import`, one a line). Default /var/cache/wrun.
#   WRUN_OFFLINE=1         wrun contacts only loopback registries
#   WRUN_TEST_TARGET_DIR   cargo's target directory (absolute); release
#                          binaries are in $WRUN_TEST_TARGET_DIR/release.
# Integration tests of the `wrun` package use CARGO_BIN_EXE_wrun; `wrun`
# finds `wrun-shim` beside itself.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"

if [[ -t 2 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
log() { printf '%s%s:%s %s\n' "$bold" test "$plain" "$*" >&2; }
[[ $EUID -eq 0 ]] || { log "error: run as root (the integration tests create containers)"; exit 1; }

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export WRUN_TEST_IMAGES="${WRUN_TEST_IMAGES:-${WRUN_IMAGE_CACHE:-/var/cache/wrun}}"
export WRUN_IMAGE_CACHE="$WRUN_TEST_IMAGES"
# Only loopback registries: a test that names a missing image must not reach Docker Hub.
export WRUN_OFFLINE=1
target="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$target"
WRUN_TEST_TARGET_DIR="$(cd "$target" && pwd)"
export WRUN_TEST_TARGET_DIR

names=()
results=()
times=()
failed=0
step() {
    local name="$1" t0=$SECONDS rc=0
    shift
    log "── $name: $*"
    "$@" || rc=$?
    names+=("$name")
    times+=("$((SECONDS - t0))")
    if ((rc == 0)); then
        results+=(ok)
    else
        results+=("FAILED (exit $rc)")
        failed=1
        log "$name failed (exit $rc)"
    fi
    return 0
}

summary() {
    local i
    printf '\n%-14s %-18s %s\n' step result seconds >&2
    for i in "${!names[@]}"; do
        printf '%-14s %-18s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" >&2
    done
}

t0=$SECONDS
# Prerequisites: without them nothing below means anything, so stop here.
bash "$here/install.sh" --deps
export PATH="$HOME/.cargo/bin:$PATH"
"$here/make-base-images.sh" --no-import

step shellcheck shellcheck -x scripts/*.sh .ci/run
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step build cargo build --release --workspace
step test cargo test --workspace --no-fail-fast
step bench-build cargo bench --workspace --no-run
summary
log "finished in $((SECONDS - t0)) s"
if ((failed)); then
    log "FAILED"
    exit 1
fi
log "all steps passed"
