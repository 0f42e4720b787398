//! `fork` for single-threaded processes, pidfds, signals.
//!
//! After `fork(2)` in a multi-threaded process the child may only make
//! async-signal-safe calls until it execs (another thread may have held the
//! allocator's lock). The shim is single-threaded and wants an ordinary
//! child that can allocate while it drops privileges, so this wrapper
//! checks that the caller has exactly one thread before forking, which
//! makes the call sound to expose as safe.
#![allow(unsafe_code, reason = "fork(2) is unsafe in nix")]

use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid, fork};

use crate::SysError;

/// Which side of the fork we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the new child.
    Child,
    /// In the parent; the child's pid.
    Parent(Pid),
}

/// `/proc/self/task` held open, to count the caller's threads even after
/// it has joined a mount namespace whose `/proc` belongs to a PID namespace
/// the caller is not in (there `/proc/self` names nothing: `wrun-shim exec`
/// opens this before `setns`).
#[derive(Debug)]
pub struct TaskDir(std::fs::File);

impl TaskDir {
    /// Opens `/proc/self/task` of the current `/proc`.
    pub fn open() -> Result<Self, SysError> {
        let task = std::path::Path::new("/proc/self/task");
        std::fs::File::open(task).map(TaskDir).map_err(|e| {
            SysError::with_path(
                "fork: count threads",
                task,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
    }

    /// The number of threads of the process (the directory's link count
    /// is 2 + threads, computed by procfs at each `fstat`).
    pub fn threads(&self) -> Result<u64, SysError> {
        let md = self.0.metadata().map_err(|e| {
            SysError::new(
                "fork: count threads",
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?;
        Ok(md.nlink().saturating_sub(2))
    }
}

/// Fork, after checking that the calling process has a single thread.
///
/// The check reads the link count of `/proc/self/task` (2 + threads), so
/// `/proc` must be mounted; otherwise, or with several threads, it fails
/// with `EDEADLK` rather than fork unsafely.
pub fn fork_single_threaded() -> Result<Forked, SysError> {
    fork_checked(&TaskDir::open()?)
}

/// [`fork_single_threaded`] with the thread count read from `task`, the
/// caller's own `/proc/self/task` opened earlier.
pub fn fork_checked(task: &TaskDir) -> Result<Forked, SysError> {
    if task.threads()? != 1 {
        return Err(SysError::with_path(
            "fork: process has several threads",
            std::path::Path::new("/proc/self/task"),
            Errno::EDEADLK,
        ));
    }
    // SAFETY: the process has exactly one thread (checked just above; only
    // this thread could start another), so the child inherits consistent
    // allocator and library state and may run ordinary Rust code.
    match unsafe { fork() }.map_err(|e| SysError::new("fork", e))? {
        ForkResult::Child => Ok(Forked::Child),
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
    }
}

/// `pidfd_open(2)`: a descriptor that refers to process `pid` for as long
/// as it is held, even after the pid is reused. It can be polled for the
/// process's exit and passed to `setns(2)` to join several of its
/// namespaces at once (Linux 5.8).
pub fn pidfd_open(pid: Pid) -> Result<std::os::fd::OwnedFd, SysError> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new
    // descriptor or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(rc).map_err(|e| SysError::new("pidfd_open", e))?;
    // SAFETY: a non-negative return is a new close-on-exec descriptor that
    // nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) })
}

/// `_exit(2)`: end the process now, without running exit handlers or
/// flushing buffers inherited from the parent (for a forked child that
/// failed before exec).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an int and never returns; skipping destructors
    // and atexit handlers is the point and leaks nothing the kernel does
    // not reclaim.
    unsafe { libc::_exit(code) }
}

/// Wait for any signal of `set` (which must be blocked) with
/// `sigwaitinfo(2)`, returning its number. Unlike nix's `SigSet::wait`,
/// real-time signals are returned too, so an init can forward them.
pub fn wait_signal(set: &nix::sys::signal::SigSet) -> Result<i32, SysError> {
    let raw: &libc::sigset_t = set.as_ref();
    loop {
        // SAFETY: `raw` points to a valid sigset_t for the call; a null
        // siginfo pointer is allowed.
        let rc = unsafe { libc::sigwaitinfo(raw, std::ptr::null_mut()) };
        match Errno::result(rc) {
            Ok(sig) => return Ok(sig),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(SysError::new("sigwaitinfo", e)),
        }
    }
}

/// `kill(2)` with a raw signal number (real-time signals included).
pub fn send_signal(pid: Pid, signo: i32) -> Result<(), SysError> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid.as_raw(), signo) };
    Errno::result(rc).map_err(|e| SysError::new("kill", e))?;
    Ok(())
}

/// Reset every catchable signal to its default disposition.
///
/// An ignored disposition survives `execve` (signal(7)). Rust's runtime
/// ignores SIGPIPE at start-up and a runtime may ignore others, so a
/// process about to exec a workload calls this so the workload starts with
/// the defaults a shell or `docker run` would give it.
pub fn reset_signal_dispositions() -> Result<(), SysError> {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask), all
    // zero: SIG_DFL. The raw system call is used because the C library
    // refuses to touch the two signals it reserves (32 and 33), which a
    // parent may still have left ignored.
    let dfl = [0u64; 4];
    for signo in 1..=64 {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `dfl` is a valid kernel sigaction for the call (32
        // bytes, sigsetsize 8); SIG_DFL runs no code of ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
        Errno::result(rc).map_err(|e| SysError::new("rt_sigaction SIG_DFL", e))?;
    }
    Ok(())
}

/// Restores the default disposition of SIGPIPE (terminate), which Rust's
/// runtime sets to "ignore" before `main`.
///
/// For commands that only print (`ps`, `images`, `inspect`, …): with the
/// default, `wrun inspect x | head -1` ends quietly when `head` exits, as C
/// tools do, instead of `println!` panicking on EPIPE. Never for a process
/// that writes to sockets or pipes it must survive (the monitor).
pub fn default_sigpipe() {
    // SAFETY: setting a standard disposition for one signal; no handler
    // function is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_dir_counts_threads_live() {
        // Other tests of this crate start and join threads concurrently, so a
        // single before/after comparison is racy. Look for a round in which
        // nothing else changed (the count before equals the count after the
        // join); in that round the count while our thread lives must be one
        // more. A count that ignored threads would never satisfy it.
        let task = TaskDir::open().unwrap();
        for _ in 0..200 {
            let before = task.threads().unwrap();
            assert!(before >= 1);
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || rx.recv().ok());
            let during = task.threads().unwrap();
            tx.send(()).unwrap();
            t.join().unwrap();
            let after = task.threads().unwrap();
            if before == after && during == before + 1 {
                return;
            }
        }
        panic!("no round in 200 saw exactly one more thread while ours was alive");
    }

    #[test]
    fn pidfd_of_self_and_of_nobody() {
        let me = Pid::from_raw(std::process::id() as i32);
        assert!(pidfd_open(me).is_ok());
        let e = pidfd_open(Pid::from_raw(i32::MAX)).unwrap_err();
        assert_eq!(e.errno(), Errno::ESRCH);
    }
}
