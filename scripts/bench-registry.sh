#!/usr/bin/env bash
# Registry benchmark: pull and push of python:3.11-slim against a local
# docker-registry, wrun vs podman (pull) and skopeo (push), one after the
# other in one hyperfine session. As root; needs a release build of wrun.
#
#   scripts/bench-registry.sh [RUNS]     (default 5)
#
# WRUN_BASELINE=/path/to/an/older/wrun adds that build as a third command
# in both comparisons (an A/B of two revisions in the same session).
# The load average is printed before and after each comparison: the
# machine is shared, so quote it with the numbers.
#
# Pull: from the registry into a fresh, empty store until the image is
# runnable (wrun: layers unpacked; podman: in its overlay store), each run
# into a new, empty store (see below why not an emptied one). Push: the image stored uncompressed (as
# `wrun import`/`load` keep it) to a new repository each run, so every blob
# is compressed and uploaded: wrun from its store (its digest cache
# cleared), skopeo from the same image saved as a docker-archive (its blob
# info cache empty).
set -euo pipefail

runs="${1:-5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
wrun="${WRUN:-${CARGO_TARGET_DIR:-$repo/target}/release/wrun}"
baseline="${WRUN_BASELINE:-}"
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

# Every run pulls into a store of its own, never into a just-emptied one:
# this disk's ext4 has no journal, and without one the inode allocator
# skips (reading each one's inode table block) every inode freed in the
# last 30–300 s, so an `rm -rf` of the previous run's 8,621 files made the
# next run's creates cost seconds of system time (`recently_deleted` in
# `perf`), for wrun and podman alike. The stores are removed at the end.
for tool in wrun baseline podman; do
    case $tool in
    wrun) cmd="$wrun --root $work/pull/\$n pull -q $name" ;;
    baseline) cmd="$baseline --root $work/pull/\$n pull -q $name" ;;
    podman) cmd="podman --root $work/pull/\$n --runroot $work/pull/\$n-run pull -q --tls-verify=false $name" ;;
    esac
    cat >"$work/pull-$tool.sh" <<SH
n=\$(cat $work/n); echo \$((n+1)) >$work/n
mkdir -p $work/pull/\$n
$cmd
SH
done
pull_baseline=() push_baseline=()
if [[ -n $baseline ]]; then
    pull_baseline=(-n "wrun pull (baseline)" "bash $work/pull-baseline.sh")
    push_baseline=(-n "wrun push (baseline)" "bash $work/push-baseline.sh")
fi

echo "== pull $name into a fresh store, until runnable; load: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --runs "$runs" --export-markdown "$work/pull.md" --export-json "$work/pull.json" \
    --prepare sync \
    -n "wrun pull" "bash $work/pull-wrun.sh" \
    "${pull_baseline[@]}" \
    -n "podman pull" "bash $work/pull-podman.sh"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The first runs were wrun's: stores 0 .. RUNS-1.
"$wrun" --root "$work/pull/0" run --rm "$name" python3 -c 'print("runnable")'
rm -rf "$work/pull"

echo "== push python:3.11-slim (uncompressed in the store) to a new repository; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for which in wrun baseline; do
    bin=$wrun
    [[ $which == baseline ]] && bin=$baseline
    cat >"$work/push-$which.sh" <<SH
n=\$(cat $work/n); echo \$((n+1)) >$work/n
rm -rf $src/images/distribution
$bin --root $src tag python:3.11-slim 127.0.0.1:$port/w\$n:1
$bin --root $src push -q 127.0.0.1:$port/w\$n:1 >/dev/null
SH
done
# skopeo remembers compressed digests in /var/lib/containers/cache and would
# mount instead of compressing: each run gets an empty cache of its own.
cat >"$work/push-skopeo.sh" <<SH
n=\$(cat $work/n); echo \$((n+1)) >$work/n
mount -t tmpfs none /var/lib/containers/cache
skopeo copy -q --dest-tls-verify=false docker-archive:$work/python.tar docker://127.0.0.1:$port/s\$n:1
SH
mkdir -p /var/lib/containers/cache
hyperfine --runs "$runs" --export-markdown "$work/push.md" --export-json "$work/push.json" --prepare sync \
    -n "wrun push" "bash $work/push-wrun.sh" \
    "${push_baseline[@]}" \
    -n "skopeo copy" "unshare -m bash $work/push-skopeo.sh"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Blob sizes of the last pushes: what the compression speed was bought with.
blob_size() {
    curl -s -H "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" \
        "http://127.0.0.1:$port/v2/$1/manifests/1" | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}
n=$(cat "$work/n")
for ((i = n; i > 0 && i > n - 3; i--)); do
    for r in w s; do
        size=$(blob_size "$r$i" 2>/dev/null) && echo "layer bytes in $r$i: $size"
    done
done
cat "$work/pull.md" "$work/push.md"
# Medians and minimums, which the shared machine's noise moves least.
python3 - "$work/pull.json" "$work/push.json" <<'PY'
import json, statistics, sys
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        t = r["times"]
        print(f"{r['command']}: median {statistics.median(t):.2f} s, min {min(t):.2f} s, "
              f"user {r['user']:.2f} s, system {r['system']:.2f} s ({len(t)} runs)")
PY
