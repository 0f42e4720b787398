//! The supervisor's side of seccomp user notification (seccomp_unotify(2)),
//! and the calls it needs to act on a trapped process: `process_vm_readv`
//! (reading the call's arguments), `pidfd_open` and `pidfd_getfd`
//! (borrowing the process's socket to connect it).
//!
//! A trapped task sleeps in the kernel until the supervisor answers its
//! notification: with a return value or an errno ([`respond`]), with a new
//! descriptor installed and returned in one step ([`add_fd_and_send`],
//! `SECCOMP_ADDFD_FLAG_SEND`), or by letting the kernel run the call after
//! all ([`continue_call`], only where nothing the process controls can
//! change between the check and the call). A notification's id can go
//! stale (the task was killed or interrupted by a signal), so everything
//! read from the task is re-validated with [`id_valid`] before it is used.
//!
//! Facts this module relies on (measured, see NOTES-kernel.md): the RECV
//! buffer must be zeroed on every call; `SET_FLAGS` takes its flag by
//! value; the structure sizes are checked against `SECCOMP_GET_NOTIF_SIZES`
//! once ([`check_sizes`]); on 6.6+ a RECV whose task went away fails with
//! `ENOENT`, which is not fatal.
#![allow(
    unsafe_code,
    reason = "seccomp notification ioctls, process_vm_readv and pidfd_getfd have no safe wrapper"
)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
const FLAG_CONTINUE: u32 = 1;
/// `SECCOMP_ADDFD_FLAG_SEND`: install the fd and answer with its number.
const ADDFD_FLAG_SEND: u32 = 1 << 1;
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6; missing from Debian 12's
/// headers and from `libc`).
const FD_SYNC_WAKE_UP: u64 = 1;
/// `SECCOMP_GET_NOTIF_SIZES`.
const GET_NOTIF_SIZES: libc::c_uint = 3;

/// One trapped system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The cookie to answer with.
    pub id: u64,
    /// The calling thread's id, in the supervisor's PID namespace.
    pub pid: u32,
    /// The system call number (x86-64).
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The six arguments, as the registers held them.
    pub args: [u64; 6],
}

/// Checks that the kernel's notification structures have the sizes this
/// module was compiled with (80, 24, 64 on x86-64).
pub fn check_sizes() -> Result<(), Errno> {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: the kernel writes one `struct seccomp_notif_sizes` (three
    // u16) into `sizes`, which lives for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            GET_NOTIF_SIZES,
            0 as libc::c_ulong,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    let ours = (
        size_of::<libc::seccomp_notif>(),
        size_of::<libc::seccomp_notif_resp>(),
        size_of::<libc::seccomp_data>(),
    );
    let kernel = (
        sizes.seccomp_notif as usize,
        sizes.seccomp_notif_resp as usize,
        sizes.seccomp_data as usize,
    );
    // The kernel may only grow these structures; a bigger one than ours
    // would be written past our buffer.
    if kernel.0 > ours.0 || kernel.1 > ours.1 || kernel.2 > ours.2 {
        return Err(Errno::EOVERFLOW);
    }
    Ok(())
}

/// Asks the kernel to wake the trapped task on the CPU that answers it
/// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`); harmless where unsupported.
pub fn set_sync_wake_up(listener: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: SET_FLAGS takes the flag by value (not a pointer) and touches
    // no memory of ours.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS as _,
            FD_SYNC_WAKE_UP,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Waits for the next notification. `ENOENT`: the task went away before it
/// could be delivered (try again); `EINTR`: a signal.
pub fn receive(listener: BorrowedFd<'_>) -> Result<Notification, Errno> {
    // SAFETY: an all-zero `seccomp_notif` is a valid value (plain integers);
    // the kernel requires the buffer zeroed on every call.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV writes one `struct seccomp_notif` into `n`, whose size
    // was checked against the kernel's by `check_sizes`.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV as _,
            &mut n as *mut libc::seccomp_notif,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// Whether notification `id` is still pending (its task has not been
/// killed or interrupted, and its pid not reused).
pub fn id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: ID_VALID reads one u64 through the pointer, which lives for
    // the call.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
            &id as *const u64,
        )
    };
    rc == 0
}

fn send(listener: BorrowedFd<'_>, resp: &libc::seccomp_notif_resp) -> Result<(), Errno> {
    // SAFETY: SEND reads one `struct seccomp_notif_resp` from `resp`, which
    // lives for the call.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            resp as *const libc::seccomp_notif_resp,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Answers notification `id`: the call returns `value`, or fails with
/// `errno` when it is non-zero. `ENOENT`: the task is gone or was
/// interrupted (the answer is lost, as it should be).
pub fn respond(listener: BorrowedFd<'_>, id: u64, value: i64, errno: i32) -> Result<(), Errno> {
    send(
        listener,
        &libc::seccomp_notif_resp {
            id,
            val: if errno != 0 { 0 } else { value },
            // The kernel wants the negated errno.
            error: -errno,
            flags: 0,
        },
    )
}

/// Lets the kernel perform the call as if it had not been trapped. Only
/// safe when the decision cannot depend on memory the task controls.
pub fn continue_call(listener: BorrowedFd<'_>, id: u64) -> Result<(), Errno> {
    send(
        listener,
        &libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: FLAG_CONTINUE,
        },
    )
}

/// Installs a duplicate of `fd` in the trapped task (lowest free number,
/// `O_CLOEXEC` when `cloexec`) and answers the notification with that
/// number, atomically (`SECCOMP_ADDFD_FLAG_SEND`). Returns the number.
pub fn add_fd_and_send(
    listener: BorrowedFd<'_>,
    id: u64,
    fd: BorrowedFd<'_>,
    cloexec: bool,
) -> Result<i32, Errno> {
    let add = libc::seccomp_notif_addfd {
        id,
        flags: ADDFD_FLAG_SEND,
        srcfd: fd.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: ADDFD reads one `struct seccomp_notif_addfd` from `add`, which
    // lives for the call; `srcfd` is open for the call's duration (borrowed).
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
            &add as *const libc::seccomp_notif_addfd,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(rc) }
}

/// Reads `buf.len()` bytes at `addr` in process `pid`'s memory; returns how
/// many were read (short at an unmapped page).
pub fn read_memory(pid: u32, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    if buf.is_empty() {
        return Ok(0);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, writable for its whole length and
    // alive for the call; `remote` is only dereferenced by the kernel in the
    // other process's address space (faults there give EFAULT/short reads).
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(n as usize)
}

/// Reads a NUL-terminated string at `addr` in `pid`'s memory into `buf`,
/// page by page (a string may end just before an unmapped page). Returns
/// its length without the NUL; `ENAMETOOLONG` if `buf` holds no NUL,
/// `EFAULT` if the memory is unreadable.
pub fn read_c_string(pid: u32, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    const PAGE: u64 = 4096;
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut done = 0usize;
    while done < buf.len() {
        let at = addr + done as u64;
        let to_page_end = (PAGE - at % PAGE) as usize;
        let want = to_page_end.min(buf.len() - done);
        let n = read_memory(pid, at, &mut buf[done..done + want])?;
        if n == 0 {
            return Err(Errno::EFAULT);
        }
        if let Some(nul) = buf[done..done + n].iter().position(|&b| b == 0) {
            return Ok(done + nul);
        }
        done += n;
        if n < want {
            return Err(Errno::EFAULT);
        }
    }
    Err(Errno::ENAMETOOLONG)
}

/// A pidfd for process `pid` (`pidfd_open`).
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0 as libc::c_uint) };
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a non-negative return is a fresh fd only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// A duplicate of descriptor `fd` of the process behind `pidfd`
/// (`pidfd_getfd`, close-on-exec). Needs ptrace access to it.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, fd: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_getfd takes three integers and returns a new fd or -1.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd.as_raw_fd(),
            fd,
            0 as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a non-negative return is a fresh fd only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// `connect(2)` on `fd` with a raw socket address (as copied from the
/// trapped process).
pub fn connect_raw(fd: BorrowedFd<'_>, addr: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `addr.len()` bytes of socket address from a
    // live slice.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `bind(2)` on `fd` with a raw socket address.
pub fn bind_raw(fd: BorrowedFd<'_>, addr: &[u8]) -> Result<(), Errno> {
    // SAFETY: as for connect_raw.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `sendto(2)` on `fd` of `data` to a raw socket address; returns the bytes
/// sent.
pub fn sendto_raw(
    fd: BorrowedFd<'_>,
    data: &[u8],
    flags: i32,
    addr: &[u8],
) -> Result<usize, Errno> {
    // SAFETY: the kernel reads `data.len()` bytes and `addr.len()` bytes
    // from two live slices.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags,
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_sizes_match_the_kernel() {
        check_sizes().unwrap();
    }

    #[test]
    fn reads_own_memory_and_strings_across_pages() {
        let pid = std::process::id();
        let data = b"hello\0world".to_vec();
        let mut buf = [0u8; 32];
        let n = read_c_string(pid, data.as_ptr() as u64, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let mut small = [0u8; 3];
        assert_eq!(
            read_c_string(pid, data.as_ptr() as u64, &mut small),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(read_c_string(pid, 0, &mut buf), Err(Errno::EFAULT));
        // A string that crosses a page boundary.
        let mut page = vec![b'x'; 8192];
        let start = 4096 - (page.as_ptr() as usize % 4096) + 4090;
        page[start + 10] = 0;
        let n = read_c_string(pid, page[start..].as_ptr() as u64, &mut buf).unwrap();
        assert_eq!(n, 10);
    }

    #[test]
    fn pidfd_getfd_duplicates_our_own_fd() {
        let me = pidfd_open(std::process::id()).unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let dup = pidfd_getfd(std::os::fd::AsFd::as_fd(&me), f.as_raw_fd()).unwrap();
        assert_ne!(dup.as_raw_fd(), f.as_raw_fd());
    }
}
