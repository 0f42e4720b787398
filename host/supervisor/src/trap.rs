//! Which system calls carry which policy operation, so the trap filter
//! holds exactly the calls a policy asked to see (the others never leave
//! the kernel).
//!
//! `sendto` is trapped only when it names a destination (its fifth
//! argument is not NULL): the filter tests that register inside the
//! `sendto` branch only, so every other call keeps the kernel's per-syscall
//! cache. `sendmsg` carries its address in memory a filter cannot read and
//! is not trapped (see docs/policy.md). The stat/access/readlink family is
//! not trapped yet.

use wrun_policy::{Op, OpSet};

/// The x86-64 system calls that carry `op`.
pub fn syscalls_of(op: Op) -> &'static [&'static str] {
    match op {
        Op::Open | Op::Create => &["open", "openat", "openat2", "creat"],
        Op::Unlink => &["unlink", "unlinkat"],
        Op::Rmdir => &["rmdir", "unlinkat"],
        Op::Rename => &["rename", "renameat", "renameat2"],
        Op::Mkdir => &["mkdir", "mkdirat"],
        Op::Link => &["link", "linkat"],
        Op::Symlink => &["symlink", "symlinkat"],
        Op::Chmod => &["chmod", "fchmodat", "fchmodat2"],
        Op::Chown => &["chown", "lchown", "fchownat"],
        Op::Truncate => &["truncate"],
        Op::Mknod => &["mknod", "mknodat"],
        Op::Exec => &["execve", "execveat"],
        Op::Socket => &["socket"],
        Op::Connect => &["connect"],
        Op::Bind => &["bind"],
        Op::Listen => &["listen"],
        Op::Sendto => &["sendto"],
        // Not trapped yet: answering them needs the result written back
        // into the process's memory.
        Op::Stat | Op::Access | Op::Readlink => &[],
    }
}

/// The sorted, deduplicated system calls to trap for `ops`.
pub fn syscalls_for(ops: OpSet) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ops
        .iter()
        .flat_map(|op| syscalls_of(op).iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The operations this supervisor can enforce.
pub fn supported() -> OpSet {
    OpSet::all()
        .iter()
        .filter(|op| !syscalls_of(*op).is_empty())
        .fold(OpSet::empty(), OpSet::with)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_create_share_their_calls_and_the_list_is_sorted() {
        let only_open = OpSet::empty().with(Op::Open);
        assert_eq!(
            syscalls_for(only_open),
            ["creat", "open", "openat", "openat2"]
        );
        let both = only_open.with(Op::Create).with(Op::Connect);
        assert_eq!(
            syscalls_for(both),
            ["connect", "creat", "open", "openat", "openat2"]
        );
        assert!(syscalls_for(OpSet::empty()).is_empty());
        assert!(!supported().contains(Op::Stat));
        assert!(supported().contains(Op::Mknod));
    }
}
