//! seccomp filters as data: Docker's default profile, a BPF generator and the
//! installer.
//!
//! A filter is described by an OCI [`LinuxSeccomp`](oci_spec::runtime::LinuxSeccomp) (a table of syscall
//! names, actions and argument conditions). [`docker_default`] produces the
//! table Docker applies for a given capability set; [`compile`] turns any
//! table into a classic-BPF program for x86_64 (see seccomp(2)); [`install()`]
//! loads it with the seccomp(2) system call and, for
//! [`flags::NEW_LISTENER`], returns the user-notification listener fd
//! (seccomp_unotify(2)) that the policy layer reads.
//!
//! wrun writes its own generator instead of linking libseccomp so that the
//! table stays plain Rust data, the generated program is unit-tested by an
//! interpreter, and `SCMP_ACT_NOTIFY` needs no particular library version.
//! The program only supports the native x86_64 ABI: calls made through the
//! i386 or x32 ABIs kill the process (libseccomp's "bad architecture"
//! behaviour for a filter with a single architecture).

mod bpf;
mod install;
mod profile;
mod syscalls_x86_64;

#[cfg(test)]
mod interp;
#[cfg(test)]
mod tests;

pub use bpf::{MAX_INSNS, compile, filter_flags, uses_notify};
pub use install::{flags, install};
pub use profile::docker_default;

/// The policy layer's trap filter: every call in `names` goes to the
/// supervisor (`SCMP_ACT_NOTIFY`), everything else is allowed (the
/// container's own filter, installed before, still applies: the kernel
/// takes the strictest answer of all filters). `sendto` is trapped only
/// when it names a destination (argument 4 is not NULL): the only argument
/// this filter ever loads, inside `sendto`'s own branch, so every other
/// call keeps the kernel's per-syscall cache. Unknown names are skipped.
pub fn trap_table<S: AsRef<str>>(names: &[S]) -> oci_spec::runtime::LinuxSeccomp {
    use oci_spec::runtime::{
        Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSyscall,
    };
    let mut rules = Vec::new();
    for name in names {
        let name = name.as_ref();
        let mut s = LinuxSyscall::default();
        s.set_names(vec![name.to_owned()]);
        s.set_action(LinuxSeccompAction::ScmpActNotify);
        if name == "sendto" {
            let with_address = LinuxSeccompArgBuilder::default()
                .index(4usize)
                .op(LinuxSeccompOperator::ScmpCmpNe)
                .value(0u64)
                .build()
                .expect("all fields of the argument rule are set");
            s.set_args(Some(vec![with_address]));
        }
        rules.push(s);
    }
    let mut t = LinuxSeccomp::default();
    t.set_default_action(LinuxSeccompAction::ScmpActAllow);
    t.set_architectures(Some(vec![Arch::ScmpArchX86_64]));
    t.set_syscalls(Some(rules));
    t
}

use oci_spec::runtime::LinuxSeccompOperator;

/// The `AUDIT_ARCH_X86_64` value seccomp reports in `seccomp_data.arch`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The bit set in the syscall number of x32-ABI calls.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Return values of a filter (`SECCOMP_RET_*` in `linux/seccomp.h`).
pub mod ret {
    /// Kill the whole process.
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// Kill the calling thread.
    pub const KILL_THREAD: u32 = 0x0000_0000;
    /// Send SIGSYS.
    pub const TRAP: u32 = 0x0003_0000;
    /// Fail the call with the errno in the low 16 bits.
    pub const ERRNO: u32 = 0x0005_0000;
    /// Hand the call to the user-space supervisor (seccomp_unotify(2)).
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    /// Notify a ptrace tracer, data in the low 16 bits.
    pub const TRACE: u32 = 0x7ff0_0000;
    /// Allow after logging.
    pub const LOG: u32 = 0x7ffc_0000;
    /// Allow.
    pub const ALLOW: u32 = 0x7fff_0000;
    /// Mask of the action part of a return value.
    pub const ACTION_FULL: u32 = 0xffff_0000;
    /// Mask of the data part of a return value.
    pub const DATA: u32 = 0x0000_ffff;
}

/// Errors building or installing a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument condition names an argument that does not exist.
    #[error("seccomp rule for {syscall}: argument index {index} out of range (0..=5)")]
    ArgIndex {
        /// The syscall the rule is for.
        syscall: String,
        /// The index given.
        index: usize,
    },
    /// An errno return value that the kernel cannot pass through.
    #[error("seccomp rule for {syscall}: errno {value} out of range (1..=4095)")]
    Errno {
        /// The syscall the rule is for (or `default action`).
        syscall: String,
        /// The value given.
        value: u32,
    },
    /// The program would exceed the kernel's `BPF_MAXINSNS`.
    #[error("seccomp program too long: {len} instructions (max {MAX_INSNS})")]
    TooLong {
        /// The generated length.
        len: usize,
    },
    /// The seccomp(2) call failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER): {0}")]
    Install(#[source] crate::OsError),
}

/// The x86_64 number of a syscall, or `None` if the name does not exist on
/// x86_64 (such names are skipped by [`compile`], as libseccomp does).
pub fn syscall_number(name: &str) -> Option<u32> {
    syscalls_x86_64::SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| syscalls_x86_64::SYSCALLS[i].1)
}

/// The libseccomp spelling of an operator, for messages.
pub fn operator_name(op: LinuxSeccompOperator) -> &'static str {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => "SCMP_CMP_NE",
        LinuxSeccompOperator::ScmpCmpLt => "SCMP_CMP_LT",
        LinuxSeccompOperator::ScmpCmpLe => "SCMP_CMP_LE",
        LinuxSeccompOperator::ScmpCmpEq => "SCMP_CMP_EQ",
        LinuxSeccompOperator::ScmpCmpGe => "SCMP_CMP_GE",
        LinuxSeccompOperator::ScmpCmpGt => "SCMP_CMP_GT",
        LinuxSeccompOperator::ScmpCmpMaskedEq => "SCMP_CMP_MASKED_EQ",
    }
}
