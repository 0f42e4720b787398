#!/usr/bin/env bash
# Compiles a wrun policy written in C (policies/example-deny-shadow.c) into a
# wasm module next to it: clang's wasm32 target, no libc, no imports, only
# the ABI's exports (docs/policy-abi.md). Needs clang and lld (install.sh).
set -euo pipefail

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 POLICY.c [OUT.wasm]" >&2; exit 2; }
src=$1
out=${2:-${src%.c}.wasm}
command -v clang >/dev/null || { echo "$0: clang is missing (scripts/install.sh --deps)" >&2; exit 1; }
command -v wasm-ld >/dev/null || { echo "$0: wasm-ld is missing (package lld)" >&2; exit 1; }

# wasm-ld exports the memory as `memory` by default (the host writes requests there);
# --no-entry: a policy has no main; exports come from export_name attributes.
clang --target=wasm32 -O2 -nostdlib -ffreestanding -Wall -Wextra -Werror \
    -Wl,--no-entry -Wl,--strip-all \
    -o "$out" "$src"
echo "$out"
