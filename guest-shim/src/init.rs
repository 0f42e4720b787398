//! PID 1 duties: forward signals to the workload, reap every child, exit
//! with the workload's status.
//!
//! All signals stay blocked in the shim from its first instruction and are
//! taken with `sigwaitinfo` (real-time ones included), so none is lost between setup and this loop. A
//! blocked signal is queued even for a PID 1 without a handler (the kernel
//! drops only *unblocked* default-action signals sent to a namespace's init),
//! so `kill` from inside the container or from the host reaches the
//! workload. Orphans re-parented to PID 1 are reaped here too; when the
//! workload itself ends, the shim exits and the kernel kills what is left
//! of the PID namespace.

use nix::sys::signal::SigSet;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Run until the workload exits; returns its exit code (`128+signal` if
/// it was killed by a signal).
pub fn supervise(workload: Pid, mask: &SigSet) -> i32 {
    loop {
        let Ok(sig) = wrun_sys::process::wait_signal(mask) else {
            continue;
        };
        if sig == libc::SIGCHLD {
            if let Some(code) = reap(workload) {
                return code;
            }
        } else {
            // ESRCH: it is already gone; its SIGCHLD is on the way.
            let _ = wrun_sys::process::send_signal(workload, sig);
        }
    }
}

/// Reap every child that has exited; the workload's code if it was one.
fn reap(workload: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p == workload => return Some(c),
            Ok(WaitStatus::Signaled(p, s, _)) if p == workload => return Some(128 + s as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
