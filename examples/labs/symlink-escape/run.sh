#!/usr/bin/env bash
# A symlink escape attempt under read-only: links in /tmp (writable) that
# point at /etc. The supervisor resolves every path as the kernel does, so
# the write is judged by where it really lands, and refused.
set -euo pipefail
wrun=${WRUN:-wrun}
name=lab-escape-$$
"$wrun" run --name "$name" --network none --policy read-only busybox sh -c '
    ln -s /etc/passwd /tmp/innocent
    echo "evil::0:0::/:/bin/sh" >> /tmp/innocent; echo "append through a symlink: rc=$?"
    ln -s / /tmp/root
    echo x > /tmp/root/etc/evil; echo "write through a directory symlink: rc=$?"
    cd /tmp && echo x > ../etc/evil; echo "write through ..: rc=$?"
    echo ok > /tmp/fine && echo "write in /tmp: ok"
' || true
echo "== the audit log (denials, with the resolved paths)"
"$wrun" audit "$name"
"$wrun" rm "$name" >/dev/null
