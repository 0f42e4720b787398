#!/usr/bin/env bash
# Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 with its
# own config and storage, for tests and benchmarks; the packaged config
# wants an htpasswd file that is not there, so it is not used.
#
#   scripts/test-registry.sh start DIR PORT [USER PASSWORD]
#       config, storage and log in DIR; basic auth (htpasswd, bcrypt) when
#       USER and PASSWORD are given; waits until /v2/ answers; pid in DIR/pid
#   scripts/test-registry.sh stop DIR
#
# The Rust tests (host/cli/tests/registry.rs) start their registries the same
# way, from the test code.
set -euo pipefail

die() { printf 'test-registry: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
start)
    dir="${2:?DIR}" port="${3:?PORT}" user="${4:-}" pass="${5:-}"
    command -v docker-registry >/dev/null || die "docker-registry is not installed (scripts/install.sh --deps)"
    mkdir -p "$dir/storage"
    auth=""
    if [[ -n $user ]]; then
        command -v htpasswd >/dev/null || die "htpasswd is not installed (apache2-utils)"
        htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd"
        auth=$'auth:\n  htpasswd:\n    realm: wrun-test\n    path: '"$dir/htpasswd"
    fi
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
YAML
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then exit 0; fi
        sleep 0.1
    done
    die "registry on port $port did not start; see $dir/log"
    ;;
stop)
    dir="${2:?DIR}"
    if [[ -f $dir/pid ]]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
    ;;
*) die "usage: $0 start DIR PORT [USER PASSWORD] | stop DIR" ;;
esac
