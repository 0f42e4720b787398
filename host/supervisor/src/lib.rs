//! wrun's seccomp supervisor: the enforcement half of `--isolation wasm`.
//!
//! The container's workload runs under a seccomp filter that hands the
//! system calls its policy asked to see ([`trap`]) to this supervisor,
//! running in the container's monitor. For each notification a worker:
//!
//! 1. reads the call's arguments **once** from the process's memory
//!    (`process_vm_readv`) and checks the notification is still valid
//!    (`SECCOMP_IOCTL_NOTIF_ID_VALID`, against pid reuse);
//! 2. resolves the path **as the kernel would for that process**: the
//!    worker thread has its own file-system context (`unshare(CLONE_FS)`),
//!    chrooted into the container's root (`/proc/PID/root`, which carries
//!    the container's mount namespace, volumes included), and opens the
//!    file relative to the caller's cwd or dirfd with `O_PATH` — symlinks,
//!    `..` and magic links are followed by the kernel itself — then reads
//!    back the canonical path of what it opened;
//! 3. asks the policy ([`wrun_policy`]) about that path;
//! 4. **performs the call itself** on what it resolved, with the caller's
//!    fsuid, fsgid, groups and effective capabilities
//!    ([`wrun_sys::thread_creds`]), and injects the result: a new fd with
//!    `SECCOMP_IOCTL_NOTIF_ADDFD` + `SECCOMP_ADDFD_FLAG_SEND`, or the
//!    return value / errno. `connect`, `bind` and `sendto` run on a
//!    duplicate of the caller's socket (`pidfd_getfd`) with the address the
//!    policy saw. Nothing the container can change after the check
//!    influences what is done.
//!
//! `execve` cannot be emulated: it is decided and audited, then let through
//! with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (the kernel reads the path
//! again). `socket` and `listen` take only integers, which the container
//! cannot change after the check, so they are continued too.
//!
//! A small pool of workers reads the one listener, so a slow call (a
//! blocking connect, an fd injection waiting for the target) never stalls
//! the others. Decisions of cacheable policies are cached. The policy
//! instance is shared (one per container), behind a mutex held only for the
//! ~100 ns of a decision. Every audited decision goes to the
//! [`audit`] log. If the policy fails the call is denied with `EPERM` and
//! the reason is audited; if the supervisor itself goes away, the kernel
//! fails every trapped call (the container never hangs).

#![forbid(unsafe_code)]

pub mod audit;
mod emulate;
pub mod procinfo;
pub mod trap;
mod worker;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use wrun_policy::Policy;

pub use audit::{AUDIT_FILE, AuditLog, Record};

/// Errors starting a supervisor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel's notification structures differ from ours.
    #[error("seccomp notification sizes: {0}")]
    Sizes(#[source] nix::errno::Errno),
    /// The audit log could not be opened.
    #[error("audit log {path}: {source}")]
    Audit {
        /// The log.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The policy could not be instantiated.
    #[error("policy: {0}")]
    Policy(#[from] wrun_policy::Error),
    /// A system call needed to set up failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The errno.
        source: nix::errno::Errno,
    },
}

/// How the supervisor answers an allowed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Perform the call on what was checked (the safe design).
    #[default]
    Emulate,
    /// Check the path, then let the kernel run the call
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): the naive design, racy by
    /// construction — kept for the teaching lab in `examples/labs/`.
    Naive,
}

/// What a supervisor needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The compiled policy.
    pub policy: Policy,
    /// Its name (built-in name or file), for the audit log.
    pub policy_name: String,
    /// The audit log file.
    pub audit_log: PathBuf,
    /// Worker threads reading the listener.
    pub workers: usize,
    /// Emulate or (lab only) continue.
    pub mode: Mode,
}

/// Default size of the worker pool.
pub const DEFAULT_WORKERS: usize = 4;

/// A running supervisor. Its workers end by themselves once every process
/// under the filter has exited (the listener reports a hang-up).
#[derive(Debug)]
pub struct Supervisor {
    threads: Vec<JoinHandle<()>>,
}

impl Supervisor {
    /// Starts the workers on `listener` (the fd the filter's
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER` returned).
    pub fn start(listener: OwnedFd, config: Config) -> Result<Supervisor, Error> {
        wrun_sys::notify::check_sizes().map_err(Error::Sizes)?;
        // Not every kernel has it; without it the wake-up is only slower.
        let _ = wrun_sys::notify::set_sync_wake_up(std::os::fd::AsFd::as_fd(&listener));
        let audit = AuditLog::open(&config.audit_log).map_err(|source| Error::Audit {
            path: config.audit_log.clone(),
            source,
        })?;
        let shared = Arc::new(worker::Shared::new(listener, &config, audit)?);
        let mut threads = Vec::new();
        for i in 0..config.workers.max(1) {
            let s = Arc::clone(&shared);
            let t = std::thread::Builder::new()
                .name(format!("wrun-supervisor-{i}"))
                .spawn(move || worker::run(&s))
                .map_err(|e| Error::Sys {
                    what: "spawning a supervisor thread",
                    source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                })?;
            threads.push(t);
        }
        Ok(Supervisor { threads })
    }

    /// Waits until every worker has ended.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
