#!/usr/bin/env bash
# Runs the race twice: against a naive check-then-CONTINUE supervisor, then
# against wrun's emulation. Needs root and the python:3.11-slim image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrun=${WRUN:-wrun}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/race.py" "$work/"
run() {
    "$wrun" run --rm --network none -v "$work:/lab" \
        --policy "$here/deny-secret.yaml" "$@" \
        python:3.11-slim python3 /lab/race.py "${SECONDS_TO_RACE:-5}"
}
echo "== naive: check, then let the kernel open (--policy-naive)"
run --policy-naive
echo "== wrun: open what was checked"
run
