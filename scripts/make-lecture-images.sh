#!/usr/bin/env bash
# Make the lecture's service images offline, with `wrun build`, from
# Debian's packages on debian:bookworm-slim:
#
#   postgres:15   examples/product-stack/db     (postgresql-15; POSTGRES_USER,
#                 POSTGRES_PASSWORD, POSTGRES_DB; initdb on first start into
#                 the /var/lib/postgresql/data volume; listens on 0.0.0.0:5432)
#   redis:7       examples/product-stack/cache  (redis-server on 0.0.0.0:6379,
#                 protected mode off)
#
# Building runs apt-get, so each built image is kept, `wrun save`d, in the
# cache ($WRUN_IMAGE_CACHE, default /var/cache/wrun) as built-KEY.tar, where
# KEY hashes every file of the build context and the name of the cached
# debian-bookworm-slim tarball (the tests compute the same key:
# built_image_key in host/cli/tests/common/mod.rs). A cached image is loaded
# with `wrun load` instead of being built again.
#
# Usage: scripts/make-lecture-images.sh [--root DIR] [--force] [IMAGE...]
#   IMAGE is postgres or redis (default: both)
#   --root DIR   the wrun state root (else $WRUN_ROOT, else wrun's default)
#   --force      build again even if the cache holds the image
# Environment: WRUN (the wrun binary; default `wrun` on PATH, else
#   target/release/wrun of this checkout), WRUN_ROOT, WRUN_IMAGE_CACHE.
# Needs root; makes debian:bookworm-slim with scripts/make-base-images.sh
# when the state root lacks it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
CACHE="${WRUN_IMAGE_CACHE:-/var/cache/wrun}"

log() { printf 'make-lecture-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
images=()
while (($#)); do
    case "$1" in
        --root) [[ $# -ge 2 ]] || die "--root needs a directory"; export WRUN_ROOT="$2"; shift 2 ;;
        --root=*) export WRUN_ROOT="${1#--root=}"; shift ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        postgres|redis) images+=("$1"); shift ;;
        *) die "unknown argument '$1' (images are: postgres redis)" ;;
    esac
done
((${#images[@]})) || images=(postgres redis)
[[ $EUID -eq 0 ]] || die "must run as root (wrun build runs containers)"

WRUN="${WRUN:-$(command -v wrun || echo "$repo/target/release/wrun")}"
[[ -x $WRUN ]] || die "no wrun binary at '$WRUN' (set WRUN or build it)"
wrun() { if [[ -n ${WRUN_ROOT:-} ]]; then "$WRUN" --root "$WRUN_ROOT" "$@"; else "$WRUN" "$@"; fi; }

context_of() {
    case "$1" in
        postgres) echo "$repo/examples/product-stack/db" ;;
        redis) echo "$repo/examples/product-stack/cache" ;;
    esac
}
tag_of() {
    case "$1" in
        postgres) echo postgres:15 ;;
        redis) echo redis:7 ;;
    esac
}

# The cache key: see built_image_key in host/cli/tests/common/mod.rs.
key_of() {
    local ctx="$1" base
    base="$(basename "$(readlink -f "$CACHE/debian-bookworm-slim.tar")")"
    {
        (cd "$ctx" && find . -type f -print | LC_ALL=C sort | while IFS= read -r f; do
            printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
        done)
        printf 'base %s\n' "$base"
    } | sha256sum | cut -c1-16
}

mkdir -p "$CACHE"
for image in "${images[@]}"; do
    ctx="$(context_of "$image")" tag="$(tag_of "$image")"
    [[ -e $CACHE/debian-bookworm-slim.tar ]] || "$here/make-base-images.sh" --no-import debian
    cached="$CACHE/built-$(key_of "$ctx").tar"
    if [[ $force -eq 0 && -s $cached ]]; then
        log "$tag: loading $cached"
        name="$(wrun load -i "$cached" | sed -n 's/^Loaded image: //p' | head -n1)"
        [[ -n $name ]] || die "$cached holds no named image"
        [[ $name == "$tag" ]] || wrun tag "$name" "$tag"
        continue
    fi
    if ! wrun image inspect debian:bookworm-slim >/dev/null 2>&1; then
        "$here/make-base-images.sh" debian
    fi
    log "$tag: building $ctx"
    start=$SECONDS
    wrun build -t "$tag" "$ctx"
    tmp="$CACHE/.built-$$.tar"
    trap 'rm -f "$tmp"' EXIT
    wrun save -o "$tmp" "$tag"
    mv "$tmp" "$cached"
    log "$tag: built in $((SECONDS - start)) s, saved as $cached"
done
