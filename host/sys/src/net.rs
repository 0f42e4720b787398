//! Bringing a network interface up (netdevice(7), `SIOCSIFFLAGS`).
//!
//! A new network namespace has only `lo`, and it is down; Docker brings it
//! up so that `127.0.0.1` works with `--network none`. One ioctl pair on a
//! throwaway datagram socket is far cheaper than a netlink exchange.
#![allow(unsafe_code, reason = "SIOCGIFFLAGS/SIOCSIFFLAGS take a struct ifreq")]

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::SysError;

/// Set `IFF_UP` on the interface `name` of the current network namespace.
pub fn set_link_up(name: &str) -> Result<(), SysError> {
    let what = |e| SysError {
        op: "set link up",
        path: Some(name.into()),
        errno: crate::OsError(e),
    };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() || name.as_bytes().contains(&0) {
        return Err(what(Errno::EINVAL));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(what)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifr_flags of `req`,
    // which lives for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    Errno::result(rc).map_err(what)?;
    // SAFETY: the kernel just filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags from `req`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    Errno::result(rc).map_err(what)?;
    Ok(())
}
