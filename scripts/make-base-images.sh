#!/usr/bin/env bash
# Make wrun's base images offline, from Debian's packages only:
#
#   debian:bookworm-slim   debootstrap minbase, apt caches and docs trimmed
#   python:3.11-slim       minbase + python3, pip, python-is-python3, Flask,
#                          psycopg2, redis (the lecture compose app),
#                          ca-certificates; no EXTERNALLY-MANAGED marker
#   busybox:latest         /bin/busybox from busybox-static, applets as symlinks
#
# The rootfs tarballs are cached under $WRUN_IMAGE_CACHE (default
# /var/cache/wrun) as NAME-KEY.tar, where KEY hashes everything that goes into
# the image (recipe, suite, mirror, architecture, packages, busybox binary).
# A stable symlink NAME.tar points at the current one, with NAME.changes
# beside it (one `--change` instruction a line, as passed to `wrun import`).
# Tarballs are written to a temporary name and renamed, so a half-written one
# is never used. Then each is imported with `wrun import FILE REPO:TAG
# --change ...` into the state root (--root DIR, else $WRUN_ROOT, else
# wrun's default /var/lib/wrun), unless an image of that name already has the
# same layer and config.
#
# Usage: scripts/make-base-images.sh [--root DIR] [--cache DIR] [--no-import]
#                                    [--force] [IMAGE...]
#   IMAGE is one of: busybox debian python   (default: all three)
#   --no-import   only make the tarballs (no wrun needed)
#   --force       rebuild the tarballs even if the cache is valid
# Environment: WRUN (the wrun binary; default: `wrun` on PATH, else
#   target/release/wrun of this checkout), WRUN_ROOT, WRUN_IMAGE_CACHE,
#   WRUN_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Needs root (debootstrap, chroot).
set -euo pipefail

readonly SUITE=bookworm
readonly ARCH=amd64
MIRROR="${WRUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${WRUN_IMAGE_CACHE:-/var/cache/wrun}"
readonly DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly PYTHON_PACKAGES=python3,python3-pip,python-is-python3,python3-flask,python3-psycopg2,python3-redis,ca-certificates
readonly BUSYBOX_BIN=/bin/busybox

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

log() { printf 'make-base-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

do_import=1
force=0
images=()
while (($#)); do
    case "$1" in
        --root) [[ $# -ge 2 ]] || die "--root needs a directory"; export WRUN_ROOT="$2"; shift 2 ;;
        --root=*) export WRUN_ROOT="${1#--root=}"; shift ;;
        --cache) [[ $# -ge 2 ]] || die "--cache needs a directory"; CACHE="$2"; shift 2 ;;
        --cache=*) CACHE="${1#--cache=}"; shift ;;
        --no-import) do_import=0; shift ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        busybox|debian|python) images+=("$1"); shift ;;
        *) die "unknown argument '$1' (images are: busybox debian python)" ;;
    esac
done
((${#images[@]})) || images=(busybox debian python)

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap and chroot need it)"
arch="$(dpkg --print-architecture 2>/dev/null || echo unknown)"
[[ $arch == "$ARCH" ]] || die "only $ARCH hosts are supported (this one is $arch)"
for tool in debootstrap tar sha256sum chroot findmnt flock; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (run scripts/install.sh, or apt-get install debootstrap)"
done

mkdir -p "$CACHE" "$CACHE/debs"
# One run at a time per cache: concurrent runs (install.sh and test.sh) wait.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    log "another make-base-images run holds $CACHE/.lock; waiting"
    flock 9
fi

# ---------------------------------------------------------------- clean-up --
# Every temporary directory lives under $work. On any exit, unmount whatever
# is still mounted below it (a failed debootstrap leaves proc, sys, dev/pts
# mounted inside its target), deepest first, then delete it without crossing
# into another file system.
mounts_below() { findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d "/") == 1' || true; }
remove_tree() {
    local dir="$1" m left
    # findmnt lists parents before children; unmount in reverse order.
    while read -r m; do
        [[ -n $m ]] || continue
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
    done < <(mounts_below "$dir" | sort -r)
    left="$(mounts_below "$dir")"
    if [[ -n $left ]]; then
        log "warning: still mounted, not deleting $dir: $left"
        return 1
    fi
    rm -rf --one-file-system "$dir"
}
work=""
cleanup() {
    local rc=$?
    if [[ -n $work && -d $work ]]; then
        remove_tree "$work" || true
    fi
    if ((rc != 0)); then
        log "failed (exit $rc); the cache is as it was"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Leftovers of a run that was killed outright (we hold the lock: no other
# run is using them).
for stale in "$CACHE"/.work.*; do
    if [[ -d $stale ]]; then
        log "removing the leftovers of an interrupted run: $stale"
        remove_tree "$stale" || true
    fi
done
rm -f "$CACHE"/*.tmp "$CACHE"/.*.link
work="$(mktemp -d "$CACHE/.work.XXXXXX")"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ----------------------------------------------------------------- recipes --
# Each recipe fills the directory $1 with a root file system. The cache key
# includes the text of the recipe (via `declare -f`), so editing a recipe
# invalidates its tarball, and nothing else does.

# Trim a debootstrapped tree the way Debian's official slim images are
# trimmed, and leave runtime-provided files empty.
slim_down() {
    local r="$1"
    mkdir -p "$r/etc/dpkg/dpkg.cfg.d" "$r/etc/apt/apt.conf.d"
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As in Debian's official -slim images: no docs, man pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/groff/* \
        "$r"/usr/share/locale/* "$r"/usr/share/lintian/* "$r"/usr/share/linda/*
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/* \
        "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old \
        "$r"/var/lib/dpkg/*-old "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/var/tmp/* \
        "$r"/root/.cache "$r"/debootstrap
    mkdir -p "$r/var/lib/apt/lists/partial"
    # The runtime provides these: /dev, /proc and /sys are mounted, and
    # /etc/hostname, /etc/hosts and /etc/resolv.conf are bind-mounted.
    find "$r/dev" "$r/proc" "$r/sys" "$r/run" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + 2>/dev/null || true
    : >"$r/etc/resolv.conf"
    : >"$r/etc/hostname"
    chmod 0644 "$r/etc/resolv.conf" "$r/etc/hostname"
    if [[ -e $r/etc/machine-id ]]; then : >"$r/etc/machine-id"; fi
    # The sources debootstrap wrote name the mirror we built from; make them
    # the public mirror, as the official image has.
    printf 'deb http://deb.debian.org/debian %s main\ndeb http://deb.debian.org/debian %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
        "$SUITE" "$SUITE" "$SUITE" >"$r/etc/apt/sources.list"
}

# debootstrap into $1 with extra packages $2 (comma separated, may be empty).
# On failure, print the tail of debootstrap's own log.
run_debootstrap() {
    local target="$1" include="$2" args
    args=(--variant=minbase --arch="$ARCH" --cache-dir="$CACHE/debs")
    if [[ -n $include ]]; then args+=(--include="$include"); fi
    if ! debootstrap "${args[@]}" "$SUITE" "$target" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
        log "debootstrap failed; last lines of its output:"
        tail -n 25 "$work/debootstrap.log" >&2
        if [[ -f $target/debootstrap/debootstrap.log ]]; then tail -n 25 "$target/debootstrap/debootstrap.log" >&2; fi
        return 1
    fi
    if findmnt -rn -o TARGET | awk -v t="$target" 'index($0, t "/") == 1 || $0 == t' | grep -q .; then
        die "debootstrap left file systems mounted under $target"
    fi
}

recipe_debian() {
    local r="$1"
    run_debootstrap "$r" ""
    slim_down "$r"
}

recipe_python() {
    local r="$1"
    run_debootstrap "$r" "$PYTHON_PACKAGES"
    # The official python image has no such marker; without it the lecture's
    # `RUN pip install -r requirements.txt` works as it does there.
    rm -f "$r"/usr/lib/python3*/EXTERNALLY-MANAGED
    slim_down "$r"
}

recipe_busybox() {
    local r="$1"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/spool/mail,var/www,home,dev,proc,sys}
    chmod 1777 "$r/tmp"
    chmod 700 "$r/root"
    cp "$BUSYBOX_BIN" "$r/bin/busybox"
    chroot "$r" /bin/busybox --install -s
    cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat >"$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
EOF
    : >"$r/etc/hostname"
    : >"$r/etc/resolv.conf"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
}

# The --change instructions for each image, one a line. The python image's
# PYTHON_VERSION is read from the built tree (file $2 of recipe output).
changes_debian() {
    printf 'ENV PATH=%s\n' "$DEFAULT_PATH"
    printf 'CMD ["bash"]\n'
}
changes_busybox() {
    printf 'ENV PATH=%s\n' "$DEFAULT_PATH"
    printf 'CMD ["sh"]\n'
}
changes_python() {
    local rootfs="$1" version
    version="$(chroot "$rootfs" /usr/bin/python3 -c 'import platform; print(platform.python_version())')" \
        || die "python3 does not run in the built tree"
    [[ $version == 3.11.* ]] || die "expected Debian's python 3.11, found $version"
    printf 'ENV PATH=%s\n' "$DEFAULT_PATH"
    printf 'ENV LANG=C.UTF-8\n'
    printf 'ENV PYTHON_VERSION=%s\n' "$version"
    printf 'CMD ["python3"]\n'
}

file_name() { case "$1" in busybox) echo busybox ;; debian) echo debian-bookworm-slim ;; python) echo python-3.11-slim ;; esac; }
image_ref() { case "$1" in busybox) echo busybox:latest ;; debian) echo debian:bookworm-slim ;; python) echo python:3.11-slim ;; esac; }

cache_key() {
    local name="$1"
    {
        echo "format 1"
        echo "suite $SUITE arch $ARCH mirror $MIRROR"
        declare -f "recipe_$name" "changes_$name" pack
        case "$name" in
            busybox) sha256sum <"$BUSYBOX_BIN" ;;
            debian) declare -f slim_down run_debootstrap ;;
            python) declare -f slim_down run_debootstrap; echo "$PYTHON_PACKAGES" ;;
        esac
    } | sha256sum | cut -c1-16
}

# Pack $1 into $2, deterministically for a given tree: sorted names, numeric
# owners, no ./ prefix, file capabilities kept. With $3 (seconds since the
# epoch), no mtime is later than it, so a rebuilt tree gives the same bytes.
pack() {
    local rootfs="$1" out="$2" clamp="${3:-}"
    (
        cd "$rootfs"
        shopt -s dotglob nullglob
        entries=(*)
        extra=()
        if [[ -n $clamp ]]; then extra=(--mtime="@$clamp" --clamp-mtime); fi
        tar --create --file="$out" --sort=name --numeric-owner --format=pax "${extra[@]}" \
            --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
            --xattrs --xattrs-include=security.capability -- "${entries[@]}"
    )
}

# Write the sha256 of tarball $1 (its layer diff_id) to $2.sha256.
write_digest() {
    printf 'sha256:%s\n' "$(sha256sum <"$1" | cut -d' ' -f1)" >"$2.sha256.tmp"
    mv -f "$2.sha256.tmp" "$2.sha256"
}

# Make (or reuse) the tarball of image $1. Prints nothing; leaves
# $CACHE/NAME.tar -> NAME-KEY.tar and $CACHE/NAME.changes.
make_tarball() {
    local name="$1" file key tar t0 rootfs
    file="$(file_name "$name")"
    key="$(cache_key "$name")"
    tar="$CACHE/$file-$key.tar"
    if ((force == 0)) && [[ -f $tar && -f $tar.changes && "$(readlink "$CACHE/$file.tar" 2>/dev/null)" == "$file-$key.tar" ]]; then
        if [[ ! -f $tar.sha256 ]]; then
            write_digest "$tar" "$tar"
        fi
        log "$file: cached ($tar, $(du -h "$tar" | cut -f1))"
        return 0
    fi
    log "$file: building rootfs (key $key)..."
    t0="$(now)"
    rootfs="$work/$file.rootfs"
    mkdir -p "$rootfs"
    "recipe_$name" "$rootfs"
    "changes_$name" "$rootfs" >"$work/$file.changes"
    log "$file: rootfs made in $(elapsed "$t0") s; packing"
    # busybox's tree is fully determined by its inputs: clamp its times to the
    # binary's so that a rebuild has the same digest (and is not re-imported).
    local clamp=""
    if [[ $name == busybox ]]; then clamp="$(stat -c %Y "$BUSYBOX_BIN")"; fi
    pack "$rootfs" "$work/$file.tar" "$clamp"
    # Publish: the keyed files first (temp name + rename, same file system),
    # then swap the stable names atomically.
    mv -f "$work/$file.changes" "$tar.changes.tmp"
    mv -f "$tar.changes.tmp" "$tar.changes"
    # The layer's diff_id, kept so the import check need not hash it again.
    write_digest "$work/$file.tar" "$tar"
    mv -f "$work/$file.tar" "$tar.tmp"
    mv -f "$tar.tmp" "$tar"
    sync -f "$tar" 2>/dev/null || true
    ln -sfn "$file-$key.tar" "$CACHE/.$file.tar.link"
    mv -Tf "$CACHE/.$file.tar.link" "$CACHE/$file.tar"
    ln -sfn "$file-$key.tar.changes" "$CACHE/.$file.changes.link"
    mv -Tf "$CACHE/.$file.changes.link" "$CACHE/$file.changes"
    # Drop superseded tarballs of this image.
    find "$CACHE" -maxdepth 1 -name "$file-*.tar*" -not -name "$file-$key.tar" -not -name "$file-$key.tar.changes" -not -name "$file-$key.tar.sha256" -delete
    rm -rf --one-file-system "$rootfs"
    log "$file: made $tar ($(du -h "$tar" | cut -f1)) in $(elapsed "$t0") s"
    printf '%s %s build %s s\n' "$(date -u +%FT%TZ)" "$file" "$(elapsed "$t0")" >>"$CACHE/timings.log"
}

find_wrun() {
    if [[ -n ${WRUN:-} ]]; then
        [[ -x $WRUN ]] || die "WRUN=$WRUN is not an executable"
        echo "$WRUN"
    elif command -v wrun >/dev/null; then
        command -v wrun
    elif [[ -x $repo/target/release/wrun ]]; then
        echo "$repo/target/release/wrun"
    else
        die "no wrun binary (set WRUN, put wrun on PATH or build target/release/wrun), or pass --no-import"
    fi
}

# Does image $2 exist in wrun's store with the layer of tarball $3 and the
# config given by changes file $4?
already_imported() {
    local wrun="$1" ref="$2" tar="$3" changes="$4" digest json want_env want_cmd
    json="$("$wrun" inspect --type image "$ref" 2>/dev/null || "$wrun" inspect "$ref" 2>/dev/null)" || return 1
    digest="$(cat "$(readlink -f "$tar").sha256" 2>/dev/null || true)"
    [[ $digest == sha256:* ]] || digest="sha256:$(sha256sum <"$tar" | cut -d' ' -f1)"
    want_env="$(sed -n 's/^ENV //p' "$changes" | jq -R . | jq -sc .)"
    want_cmd="$(sed -n 's/^CMD //p' "$changes" | tail -n1)"
    jq -e --arg d "$digest" --argjson env "$want_env" --argjson cmd "$want_cmd" '
        .[0] as $i
        | ($i.RootFS.Layers == [$d])
          and ($i.Config.Cmd == $cmd)
          and ([$env[] | IN($i.Config.Env[]?)] | all)' <<<"$json" >/dev/null 2>&1
}

import_image() {
    local name="$1" wrun="$2" file ref tar changes t0 args=()
    file="$(file_name "$name")"
    ref="$(image_ref "$name")"
    tar="$CACHE/$file.tar"
    changes="$CACHE/$file.changes"
    if already_imported "$wrun" "$ref" "$tar" "$changes"; then
        log "$ref: already in the store with the same layer and config; not re-importing"
        return 0
    fi
    while IFS= read -r line; do
        if [[ -n $line ]]; then args+=(--change "$line"); fi
    done <"$changes"
    t0="$(now)"
    log "$ref: importing $tar"
    "$wrun" import "${args[@]}" "$tar" "$ref" >/dev/null \
        || die "'wrun import $tar $ref' failed (state root ${WRUN_ROOT:-/var/lib/wrun})"
    log "$ref: imported in $(elapsed "$t0") s"
    printf '%s %s import %s s\n' "$(date -u +%FT%TZ)" "$file" "$(elapsed "$t0")" >>"$CACHE/timings.log"
}

total0="$(now)"
for name in "${images[@]}"; do
    make_tarball "$name"
done
if ((do_import)); then
    command -v jq >/dev/null || die "'jq' is not installed (apt-get install jq)"
    wrun="$(find_wrun)"
    for name in "${images[@]}"; do
        import_image "$name" "$wrun"
    done
fi
log "done in $(elapsed "$total0") s; tarballs in $CACHE"
