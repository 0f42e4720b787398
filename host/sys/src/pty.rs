//! Pseudo-terminals in a given devpts instance (pty(7), ioctl_tty(2)).
//!
//! A container mounts its own devpts (`newinstance`), and its terminal must
//! come from that instance, or `/dev/pts/N` inside the container would not
//! name it. So the pty is opened through `<devpts>/ptmx`, unlocked, and the
//! slave is opened from the master with `TIOCGPTPEER` (Linux 4.13), which
//! avoids looking up `/dev/pts/N` by path (a path the container could
//! replace). The master goes to the monitor; the slave becomes the
//! workload's controlling terminal (`TIOCSCTTY`, after `setsid`).
#![allow(unsafe_code, reason = "terminal ioctls have no safe wrapper in nix")]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::SysError;

pub use libc::winsize as WinSize;

/// A pty pair and its number in its devpts.
#[derive(Debug)]
pub struct Pty {
    /// The master side, close-on-exec.
    pub master: OwnedFd,
    /// The slave side, close-on-exec and not yet anyone's controlling tty.
    pub slave: OwnedFd,
    /// `N` in `/dev/pts/N` of that devpts.
    pub number: u32,
}

/// Open a new pty in the devpts mounted at `devpts` (its `ptmx` is used).
pub fn open_pty(devpts: &Path) -> Result<Pty, SysError> {
    let ptmx = devpts.join("ptmx");
    let master = open(
        &ptmx,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SysError::with_path("open", &ptmx, e))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, valid for the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(rc).map_err(|e| SysError::new("ioctl TIOCSPTLCK", e))?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    Errno::result(rc).map_err(|e| SysError::new("ioctl TIOCGPTN", e))?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let slave = match Errno::result(rc) {
        // SAFETY: a non-negative return is a new fd that only we own.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        // Kernels before 4.13: look the slave up by name in the same devpts.
        Err(Errno::EINVAL | Errno::ENOTTY) => {
            let p = devpts.join(number.to_string());
            open(
                &p,
                OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| SysError::with_path("open", &p, e))?
        }
        Err(e) => return Err(SysError::new("ioctl TIOCGPTPEER", e)),
    };
    Ok(Pty {
        master,
        slave,
        number,
    })
}

/// Make `tty` the controlling terminal of the calling session leader.
pub fn set_controlling_terminal(tty: BorrowedFd<'_>) -> Result<(), SysError> {
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal).
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(rc).map_err(|e| SysError::new("ioctl TIOCSCTTY", e))?;
    Ok(())
}

/// The window size of a terminal.
pub fn window_size(tty: BorrowedFd<'_>) -> Result<WinSize, SysError> {
    let mut ws = WinSize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(rc).map_err(|e| SysError::new("ioctl TIOCGWINSZ", e))?;
    Ok(ws)
}

/// Set the window size of a terminal (the foreground group gets SIGWINCH).
pub fn set_window_size(tty: BorrowedFd<'_>, ws: &WinSize) -> Result<(), SysError> {
    // SAFETY: TIOCSWINSZ reads one `struct winsize` through the pointer.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, ws) };
    Errno::result(rc).map_err(|e| SysError::new("ioctl TIOCSWINSZ", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn host_pty_round_trip() {
        let pty = match open_pty(Path::new("/dev/pts")) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("skipping: no usable /dev/pts here: {e}");
                return;
            }
        };
        let ws = WinSize {
            ws_row: 24,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        set_window_size(pty.master.as_fd(), &ws).unwrap();
        let got = window_size(pty.slave.as_fd()).unwrap();
        assert_eq!((got.ws_row, got.ws_col), (24, 100));
        let mut m = std::fs::File::from(pty.master);
        let mut s = std::fs::File::from(pty.slave);
        s.write_all(b"hi\n").unwrap();
        let mut buf = [0u8; 8];
        let n = m.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"hi"));
    }
}
