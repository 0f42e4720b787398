//! Loading a filter with seccomp(2).
//!
//! `SECCOMP_SET_MODE_FILTER` needs either `no_new_privs` or `CAP_SYS_ADMIN`
//! in the caller's user namespace. With [`flags::NEW_LISTENER`] the call
//! returns a listener fd on which the supervisor receives the notifications
//! of `SECCOMP_RET_USER_NOTIF` rules (seccomp_unotify(2)); the caller must
//! hand it over and close its own copy before it execs, or the workload
//! could answer its own notifications.
#![allow(unsafe_code, reason = "the seccomp(2) system call has no safe wrapper")]

use std::os::fd::{FromRawFd, OwnedFd};

use libc::{sock_filter, sock_fprog};
use nix::errno::Errno;

use super::{Error, MAX_INSNS};

/// `SECCOMP_FILTER_FLAG_*` values for [`install`].
pub mod flags {
    /// Synchronize all threads to the same filter.
    pub const TSYNC: u32 = 1 << 0;
    /// Log every action but `SECCOMP_RET_ALLOW`.
    pub const LOG: u32 = 1 << 1;
    /// Disable speculative store bypass mitigation.
    pub const SPEC_ALLOW: u32 = 1 << 2;
    /// Return a user-notification listener fd.
    pub const NEW_LISTENER: u32 = 1 << 3;
    /// With TSYNC, report ESRCH instead of a thread id.
    pub const TSYNC_ESRCH: u32 = 1 << 4;
    /// Make the notified task wait killably once the notification is received.
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// Install `prog` as a seccomp filter of the calling thread.
///
/// Returns the listener fd when `flags` holds [`flags::NEW_LISTENER`]. The
/// listener is close-on-exec (the kernel always sets `O_CLOEXEC` on it).
pub fn install(prog: &[sock_filter], flags: u32) -> Result<Option<OwnedFd>, Error> {
    if prog.len() > MAX_INSNS {
        return Err(Error::TooLong { len: prog.len() });
    }
    let fprog = sock_fprog {
        len: prog.len() as u16,
        // The kernel copies the program and never writes through the pointer.
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points to `prog`, which outlives the call; the kernel
    // only reads `len` instructions from it (copy_from_user) and keeps no
    // reference after returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &fprog as *const sock_fprog,
        )
    };
    if rc < 0 {
        return Err(Error::Install(Errno::last().into()));
    }
    if flags & flags::NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER, a non-negative return value is a fresh
        // fd that the kernel just installed and nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::{compile, ret};
    use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

    /// Runs `f` in a forked child and returns its exit code.
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the test harness may have other threads; the child only
        // makes system calls and exits with `_exit`, never returning into
        // the harness.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(99);
                // SAFETY: `_exit` ends the child without running the parent's
                // atexit handlers or destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                match nix::sys::wait::waitpid(child, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, c) => c,
                    s => panic!("child ended with {s:?}"),
                }
            }
        }
    }

    fn uname_denied(action: LinuxSeccompAction) -> Vec<libc::sock_filter> {
        let mut s = LinuxSyscall::default();
        s.set_names(vec!["uname".into()]);
        s.set_action(action);
        s.set_errno_ret(Some(libc::EXDEV as u32));
        let mut t = LinuxSeccomp::default();
        t.set_default_action(LinuxSeccompAction::ScmpActAllow);
        t.set_syscalls(Some(vec![s]));
        compile(&t).unwrap()
    }

    #[test]
    fn installed_filter_is_enforced() {
        let prog = uname_denied(LinuxSeccompAction::ScmpActErrno);
        let code = in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            assert!(install(&prog, 0).unwrap().is_none());
            match nix::sys::utsname::uname() {
                Err(nix::errno::Errno::EXDEV) => 0,
                _ => 1,
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn kernel_accepts_far_jumps() {
        use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompOperator};
        // One argument rule for each of 300 syscalls: most jumps need a
        // trampoline. Values no real call uses, so the child is unaffected,
        // except `close(12345)`, which the filter answers with EXDEV.
        let names: Vec<&str> = crate::seccomp::syscalls_x86_64::SYSCALLS
            .iter()
            .map(|s| s.0)
            .filter(|n| *n != "close")
            .take(299)
            .chain(["close"])
            .collect();
        let rules = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut s = LinuxSyscall::default();
                s.set_names(vec![n.to_string()]);
                s.set_action(LinuxSeccompAction::ScmpActErrno);
                s.set_errno_ret(Some(libc::EXDEV as u32));
                let arg = LinuxSeccompArgBuilder::default()
                    .index(0usize)
                    .op(LinuxSeccompOperator::ScmpCmpEq)
                    .value(if *n == "close" {
                        12345u64
                    } else {
                        20000 + i as u64
                    })
                    .build()
                    .unwrap();
                s.set_args(Some(vec![arg]));
                s
            })
            .collect();
        let mut t = LinuxSeccomp::default();
        t.set_default_action(LinuxSeccompAction::ScmpActAllow);
        t.set_syscalls(Some(rules));
        let prog = compile(&t).unwrap();
        assert!(prog.len() > 1000);
        let code = in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            install(&prog, 0).unwrap();
            // SAFETY: closing a descriptor number nothing uses.
            let rc = unsafe { libc::close(12345) };
            if rc == -1 && nix::errno::Errno::last() == nix::errno::Errno::EXDEV {
                0
            } else {
                1
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn new_listener_returns_an_fd() {
        let prog = uname_denied(LinuxSeccompAction::ScmpActNotify);
        assert!(
            prog.iter()
                .any(|i| i.code == 0x06 && i.k == ret::USER_NOTIF)
        );
        let code = in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            match install(&prog, flags::NEW_LISTENER) {
                Ok(Some(fd)) => {
                    let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
                    if fl & libc::FD_CLOEXEC != 0 { 0 } else { 2 }
                }
                _ => 1,
            }
        });
        assert_eq!(code, 0);
    }
}
