//! wrun-sys: the kernel interfaces wrun needs that safe crates lack.
//!
//! This is the only crate of the workspace allowed `unsafe` code, and only in
//! the small modules that say so at their top (`#![allow(unsafe_code)]`),
//! each block with a `// SAFETY:` comment. Everything exported is safe.
//!
//! * [`seccomp`]: Docker's default profile as data, a BPF generator written
//!   for wrun (no libseccomp), and the installer (with the user-notification
//!   listener for the policy layer).
//! * [`landlock`]: Landlock rulesets (file and TCP allow-lists enforced by
//!   the kernel), for policies made only of static path rules.
//! * [`fd`]: passing file descriptors over unix sockets (`SCM_RIGHTS`).
//! * [`pty`]: pseudo-terminals in a given devpts instance.
//! * [`fs`]: path resolution that cannot leave a root (`openat2`), and
//!   `close_range`.
//! * [`memory`]: dropping start-up code pages from a long-lived process's
//!   resident set (the container monitor).
//! * [`net`]: bringing an interface up (`SIOCSIFFLAGS`).
//! * [`process`]: `fork` that checks the caller is single-threaded.
//! * [`spawn`]: spawning the container's init (the runtime's part).
//! * [`notify`]: the supervisor's side of seccomp user notification
//!   (RECV/SEND/ID_VALID/ADDFD), `process_vm_readv`, `pidfd_getfd`.
//! * [`thread_creds`]: per-thread fsuid/fsgid/groups/capabilities, so a
//!   supervisor thread performs a call with the container's credentials.

pub mod fd;
pub mod fs;
pub mod landlock;
pub mod memory;
pub mod net;
pub mod notify;
pub mod process;
pub mod pty;
pub mod seccomp;
pub mod spawn;
pub mod thread_creds;

use nix::errno::Errno;

/// An errno shown the way Go and Docker print it: `invalid argument`,
/// `no such file or directory` (lower case, no number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsError(pub Errno);

impl OsError {
    /// The errno of the last failed call.
    pub fn last() -> Self {
        Self(Errno::last())
    }
}

impl From<Errno> for OsError {
    fn from(e: Errno) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for OsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.desc().chars() {
            write!(f, "{}", c.to_ascii_lowercase())?;
        }
        Ok(())
    }
}

impl std::error::Error for OsError {}

/// A failed system call in one of the small wrappers: the call, the path or
/// name it was about (if any) and the errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}{}: {errno}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct SysError {
    /// The operation, e.g. `openat2` or `ioctl TIOCSCTTY`.
    pub op: &'static str,
    /// The path or name involved.
    pub path: Option<std::path::PathBuf>,
    /// What the kernel said.
    pub errno: OsError,
}

impl SysError {
    /// An error without a path.
    pub fn new(op: &'static str, e: Errno) -> Self {
        Self {
            op,
            path: None,
            errno: OsError(e),
        }
    }

    /// An error about `path`.
    pub fn with_path(op: &'static str, path: &std::path::Path, e: Errno) -> Self {
        Self {
            op,
            path: Some(path.to_owned()),
            errno: OsError(e),
        }
    }

    /// The raw errno.
    pub fn errno(&self) -> Errno {
        self.errno.0
    }
}
