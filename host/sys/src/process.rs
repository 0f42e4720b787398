//! `fork` for single-threaded processes.
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

/// Fork, after checking that the calling process has a single thread.
///
/// The check reads the link count of `/proc/self/task` (2 + threads), so
/// `/proc` must be mounted; otherwise, or with several threads, it fails
/// with `EDEADLK` rather than fork unsafely.
pub fn fork_single_threaded() -> Result<Forked, SysError> {
    let task = std::path::Path::new("/proc/self/task");
    let nlink = std::fs::metadata(task)
        .map_err(|e| {
            SysError::with_path(
                "fork: count threads",
                task,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?
        .nlink();
    if nlink != 3 {
        return Err(SysError::with_path(
            "fork: process has several threads",
            task,
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
