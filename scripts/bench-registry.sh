#!/usr/bin/env bash
# Registry benchmark: pull and push of python:3.11-slim against a local
# docker-registry, wrun vs podman (pull) and skopeo (push), interleaved by
# hyperfine in one run. As root; needs a release build of wrun.
#
#   scripts/bench-registry.sh [RUNS]     (default 5)
#
# Pull: from the registry into a fresh, empty store until the image is
# runnable (wrun: layers unpacked; podman: in its overlay store), each run
# with its store removed first. Push: the image stored uncompressed (as
# `wrun import`/`load` keep it) to a new repository each run, so every blob
# is compressed and uploaded: wrun from its store (its digest cache
# cleared), skopeo from the same image saved as a docker-archive (its blob
# info cache empty).
set -euo pipefail

runs="${1:-5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
wrun="${WRUN:-${CARGO_TARGET_DIR:-$repo/target}/release/wrun}"
images="${WRUN_TEST_IMAGES:-/var/cache/wrun}"
port="${BENCH_REGISTRY_PORT:-18620}"
work="$(mktemp -d /var/tmp/wrun-bench-registry.XXXXXX)"
trap '"$here/test-registry.sh" stop "$work/reg"; rm -rf "$work"' EXIT

[[ -x $wrun ]] || { echo "build wrun first: cargo build --release -p wrun -p wrun-shim" >&2; exit 1; }
"$here/test-registry.sh" start "$work/reg" "$port"
src="$work/src"
mkdir -p "$src"
changes=()
while IFS= read -r line; do [[ -n $line ]] && changes+=(--change "$line"); done <"$images/python-3.11-slim.changes"
"$wrun" --root "$src" import "${changes[@]}" "$images/python-3.11-slim.tar" python:3.11-slim >/dev/null
name="127.0.0.1:$port/python:3.11-slim"
"$wrun" --root "$src" tag python:3.11-slim "$name"
"$wrun" --root "$src" push -q "$name" >/dev/null
"$wrun" --root "$src" save -o "$work/python.tar" python:3.11-slim
echo 0 >"$work/n"

echo "== pull $name into a fresh store, until runnable"
hyperfine --runs "$runs" --export-markdown "$work/pull.md" \
    --prepare "rm -rf $work/w $work/p $work/prun; mkdir -p $work/w; sync" \
    -n "wrun pull" "$wrun --root $work/w pull -q $name" \
    -n "podman pull" "podman --root $work/p --runroot $work/prun pull -q --tls-verify=false $name"
"$wrun" --root "$work/w" run --rm "$name" python3 -c 'print("runnable")'

echo "== push python:3.11-slim (uncompressed in the store) to a new repository"
cat >"$work/push-wrun.sh" <<SH
n=\$(cat $work/n); echo \$((n+1)) >$work/n
rm -rf $src/images/distribution
$wrun --root $src tag python:3.11-slim 127.0.0.1:$port/w\$n:1
$wrun --root $src push -q 127.0.0.1:$port/w\$n:1 >/dev/null
SH
# skopeo remembers compressed digests in /var/lib/containers/cache and would
# mount instead of compressing: each run gets an empty cache of its own.
cat >"$work/push-skopeo.sh" <<SH
n=\$(cat $work/n); echo \$((n+1)) >$work/n
mount -t tmpfs none /var/lib/containers/cache
skopeo copy -q --dest-tls-verify=false docker-archive:$work/python.tar docker://127.0.0.1:$port/s\$n:1
SH
mkdir -p /var/lib/containers/cache
hyperfine --runs "$runs" --export-markdown "$work/push.md" --prepare sync \
    -n "wrun push" "bash $work/push-wrun.sh" \
    -n "skopeo copy" "unshare -m bash $work/push-skopeo.sh"
cat "$work/pull.md" "$work/push.md"
