//! Passing file descriptors over unix sockets (`SCM_RIGHTS`, unix(7)).
//!
//! The shim sends the pty master (and, later, the seccomp listener) to the
//! monitor this way. Received descriptors are close-on-exec
//! (`MSG_CMSG_CLOEXEC`), so they never leak into a later exec by accident.
#![allow(
    unsafe_code,
    reason = "taking ownership of descriptors the kernel just installed"
)]

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::SysError;

/// Send `fd` with `payload` (at least one byte is sent: an empty payload
/// becomes a single NUL, since a message without data carries no
/// ancillary data on a stream socket).
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<(), SysError> {
    let payload = if payload.is_empty() {
        &[0u8][..]
    } else {
        payload
    };
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(payload)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| SysError::new("sendmsg SCM_RIGHTS", e))?;
    Ok(())
}

/// Receive one message into `buf`; returns the bytes read and the first
/// descriptor that came with it (any extra descriptors are closed).
pub fn recv_fd(sock: &UnixStream, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), SysError> {
    let mut cmsg_space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg_space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| SysError::new("recvmsg SCM_RIGHTS", e))?;
    let n = msg.bytes;
    let mut first = None;
    for c in msg
        .cmsgs()
        .map_err(|e| SysError::new("recvmsg SCM_RIGHTS", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS just installed `raw` in our fd table;
                // nothing else refers to it, so we are its only owner.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if first.is_none() {
                    first = Some(owned);
                }
            }
        }
    }
    Ok((n, first))
}

/// Take ownership of a descriptor inherited at start-up and named by the
/// parent (for example in `WRUN_STATUS_FD`), marking it close-on-exec so
/// it does not leak into what this process execs.
///
/// Call it once per inherited descriptor, before anything else in the
/// process could have opened or closed that number: it checks that the
/// descriptor is open, not that nothing else owns it.
pub fn take_inherited(raw: std::os::fd::RawFd) -> Result<OwnedFd, SysError> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    if raw < 3 {
        return Err(SysError::new(
            "take inherited fd (stdio)",
            nix::errno::Errno::EBADF,
        ));
    }
    // SAFETY: the parent passed `raw` to this process for it alone; it is
    // checked to be open below, before any use. The borrow is temporary.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| SysError::new("take inherited fd", e))?;
    // SAFETY: `raw` is open (F_SETFD succeeded) and, per this function's
    // contract, owned by no other object of this process.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    #[test]
    fn passes_a_file_both_ways() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut f = std::fs::File::from(
            nix::sys::memfd::memfd_create(c"t", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap(),
        );
        f.write_all(b"hello").unwrap();
        send_fd(&a, f.as_fd(), b"x").unwrap();
        let mut buf = [0u8; 8];
        let (n, fd) = recv_fd(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"x");
        let mut g = std::fs::File::from(fd.unwrap());
        g.rewind().unwrap();
        let mut s = String::new();
        g.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }
}
