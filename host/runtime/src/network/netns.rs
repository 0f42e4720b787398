//! Network namespaces without bind mounts.
//!
//! `unshare(CLONE_NEWNET)` is allowed for one thread of a multi-threaded
//! process (see `unshare(2)`): a short-lived thread makes the namespace,
//! opens `/proc/thread-self/ns/net` and exits. The returned fd keeps the
//! namespace alive; once it is closed and no process lives in it, the
//! kernel destroys it with its veths. Nothing is mounted on the host, so
//! nothing can leak.

use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::sched::{CloneFlags, setns, unshare};

use super::{Error, Result};

/// A new, empty network namespace.
pub fn create() -> Result<OwnedFd> {
    std::thread::spawn(|| -> Result<OwnedFd> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(Error::sys("unshare(CLONE_NEWNET)"))?;
        let path = "/proc/thread-self/ns/net";
        let file = File::open(path).map_err(Error::io(path))?;
        Ok(OwnedFd::from(file))
    })
    .join()
    .map_err(|_| Error::Nft("the namespace thread panicked".into()))?
}

/// Runs `f` on a new thread that has joined `ns` (or stays in the
/// caller's namespace for `None`). The caller's thread never changes
/// namespace.
pub fn run_in<T: Send>(ns: Option<BorrowedFd>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = ns {
                setns(ns, CloneFlags::CLONE_NEWNET).map_err(Error::sys("setns(CLONE_NEWNET)"))?;
            }
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}
