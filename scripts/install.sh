#!/usr/bin/env bash
# Install wrun on a fresh Debian 12 machine and serve the lecture's product
# API from a container. Run as root from the repository:
#
#   scripts/install.sh           packages, Rust, build, install to
#                                /usr/local/bin, base images, product API
#   scripts/install.sh --deps    only the system packages and the Rust toolchain
#   scripts/install.sh --serve   only (re)start the product API with the installed wrun
#   scripts/install.sh --stop    stop the product API started by this script
#
# Idempotent: packages already present, a current build, cached base images,
# images already imported and an API already answering are all left alone,
# so a re-run takes seconds.
#
# Environment: WRUN_ROOT (wrun's state root, default /var/lib/wrun),
# WRUN_IMAGE_CACHE (base image tarballs, default /var/cache/wrun),
# CARGO_TARGET_DIR (default ./target), PREFIX (default /usr/local).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
PREFIX="${PREFIX:-/usr/local}"
readonly API_PORT=5000
readonly API_URL="http://localhost:$API_PORT/products"
readonly MIN_RUST=1.85

# Every system package the project uses, and what for.
readonly PACKAGES=(
    build-essential pkg-config git ca-certificates curl  # building wrun, rustup
    debootstrap busybox-static tar xz-utils              # base images (make-base-images.sh)
    jq                                                   # make-base-images.sh reads `wrun inspect`
    util-linux iproute2 nftables uidmap                  # namespaces, links, NAT, id maps
    crun runc podman skopeo buildah docker-registry      # peers in benches, interop tests
    hyperfine                                            # ad-hoc timing next to benches/
    apache2-utils                                        # htpasswd for the auth registry in tests
    shellcheck                                           # test.sh lints the scripts
    wrk qemu-system-x86 runsc lz4                        # wrun bench: HTTP load, microVM peer (lz4: its kernel), gVisor
    clang lld                                            # policies/*.c to wasm32 (policy examples)
)

if [[ -t 2 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
log() { printf '%s%s:%s %s\n' "$bold" install "$plain" "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (wrun creates namespaces, mounts and cgroups)"
[[ -f /etc/debian_version ]] || die "this script is for Debian 12 (bookworm)"

mode=all
case "${1:-}" in
    "") ;;
    --deps) mode=deps ;;
    --stop) mode=stop ;;
    --serve) mode=serve ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (use --deps, --serve, --stop or nothing)" ;;
esac

ensure_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "system packages: all ${#PACKAGES[@]} present"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages such as docker-registry would start their service on
    # install; wrun's tests start what they need with their own config.
    local policy=/usr/sbin/policy-rc.d added=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# added by wrun scripts/install.sh during apt-get install\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        added=1
    fi
    local rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
    if ((added)); then rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get failed (exit $rc) installing: ${missing[*]}"
}

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

ensure_rust() {
    export PATH="$HOME/.cargo/bin:$PATH"
    local have=""
    if command -v rustc >/dev/null; then
        have="$(rustc --version | awk '{print $2}')"
    fi
    if [[ -z $have ]] || ! version_ge "$have" "$MIN_RUST"; then
        if command -v rustup >/dev/null; then
            log "Rust ${have:-missing}; updating the stable toolchain with rustup"
            rustup toolchain install stable --profile minimal --component rustfmt,clippy
            rustup default stable
        else
            log "Rust ${have:-missing} (need >= $MIN_RUST; Debian's rustc is too old); installing rustup"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
                | sh -s -- -y --no-modify-path --profile minimal --component rustfmt,clippy
        fi
        hash -r
        have="$(rustc --version | awk '{print $2}')"
        version_ge "$have" "$MIN_RUST" || die "rustc $have is older than $MIN_RUST"
    fi
    if command -v rustup >/dev/null; then
        local comp
        for comp in rustfmt clippy; do
            if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
                rustup component add "$comp"
            fi
        done
    fi
    command -v cargo-clippy >/dev/null || die "clippy is missing (rustup component add clippy)"
    command -v rustfmt >/dev/null || die "rustfmt is missing (rustup component add rustfmt)"
    log "Rust $have"
}

readonly API_NAME=product-api

# True when the product API's container runs.
api_running() {
    [[ "$("$PREFIX/bin/wrun" inspect -f '{{.State.Status}}' "$API_NAME" 2>/dev/null)" == running ]]
}

stop_api() {
    if ! "$PREFIX/bin/wrun" container inspect "$API_NAME" >/dev/null 2>&1; then
        log "the product API is not running (no container named $API_NAME)"
        return 0
    fi
    log "stopping and removing the product API's container ($API_NAME)"
    "$PREFIX/bin/wrun" rm -f "$API_NAME" >/dev/null
}

build_and_install() {
    local target="${CARGO_TARGET_DIR:-$repo/target}" bin
    log "building wrun (cargo build --release --workspace)"
    (cd "$repo" && cargo build --release --workspace)
    for bin in wrun wrun-shim; do
        [[ -x $target/release/$bin ]] || die "the build did not produce $target/release/$bin"
        if cmp -s "$target/release/$bin" "$PREFIX/bin/$bin"; then
            continue
        fi
        # Copy beside, then rename: a running wrun keeps its old file.
        install -D -m 0755 "$target/release/$bin" "$PREFIX/bin/.$bin.new"
        mv -f "$PREFIX/bin/.$bin.new" "$PREFIX/bin/$bin"
        log "installed $PREFIX/bin/$bin"
    done
}

has_subcommand() { "$PREFIX/bin/wrun" "$1" --help >/dev/null 2>&1; }

serve_api() {
    local wrun="$PREFIX/bin/wrun" answer image args cmd
    if api_running && answer="$(curl -fsS "$API_URL" 2>/dev/null)"; then
        log "the product API already runs (container $API_NAME)"
        printf '%s\n' "$answer"
        log "stop it with: $0 --stop   (or: wrun rm -f $API_NAME)"
        return 0
    fi
    stop_api
    if answer="$(curl -fsS "$API_URL" 2>/dev/null)"; then
        die "something else already answers on port $API_PORT: $answer"
    fi
    if has_subcommand build; then
        log "building the product API's image (wrun build -t product-api examples/product-api)"
        "$wrun" build -t product-api "$repo/examples/product-api"
        image=product-api
        args=()
        cmd=()
    else
        # Without `wrun build`: the base image, the app bind-mounted.
        image=python:3.11-slim
        args=(-v "$repo/examples/product-api:/app" -w /app)
        cmd=(python app.py)
    fi
    log "starting: wrun run -d --name $API_NAME -p $API_PORT:5000 ${args[*]} $image ${cmd[*]}"
    "$wrun" run -d --name "$API_NAME" -p "$API_PORT:5000" "${args[@]}" "$image" "${cmd[@]}" >/dev/null
    for _ in $(seq 1 120); do
        if answer="$(curl -fsS "$API_URL" 2>/dev/null)"; then
            log "the product API answers on $API_URL:"
            printf '%s\n' "$answer"
            log "its logs: wrun logs $API_NAME; stop it with: $0 --stop (or: wrun rm -f $API_NAME)"
            return 0
        fi
        if ! api_running; then
            log "the container exited before the API answered; its logs:"
            "$wrun" logs --tail 30 "$API_NAME" >&2 || true
            stop_api
            exit 1
        fi
        sleep 0.5
    done
    log "no answer from $API_URL after 60 s; its logs:"
    "$wrun" logs --tail 30 "$API_NAME" >&2 || true
    stop_api
    exit 1
}

case "$mode" in
    stop) stop_api; exit 0 ;;
    deps) ensure_packages; ensure_rust; exit 0 ;;
    serve) serve_api; exit 0 ;;
esac

t0=$SECONDS
ensure_packages
ensure_rust
build_and_install
if has_subcommand import; then
    WRUN="$PREFIX/bin/wrun" "$here/make-base-images.sh"
else
    log "this wrun has no 'import' command yet: making the base image tarballs only"
    "$here/make-base-images.sh" --no-import
fi
serve_api
log "done in $((SECONDS - t0)) s"
