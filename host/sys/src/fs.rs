//! Path resolution confined to a root, and `close_range`.
//!
//! The shim mounts onto paths inside the container's root before it pivots
//! into it. An image may hold symlinks such as `/etc/hosts ->
//! /../../../host/file`; resolved naively from the host, a bind mount would
//! land on the host. `openat2(2)` with `RESOLVE_IN_ROOT` resolves `..` and
//! absolute symlinks as if the root were `/`, so the result is always inside
//! it; the returned `O_PATH` fd is then used as the mount target through
//! `/proc/self/fd/N`, so nothing can be swapped between check and use.
#![allow(unsafe_code, reason = "close_range has no wrapper in nix")]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

use crate::SysError;

/// Open `path` under `root` as if `root` were `/` (`RESOLVE_IN_ROOT`), never
/// following magic links such as `/proc/self/root`.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    mode: Mode,
) -> Result<OwnedFd, SysError> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(if flags.intersects(OFlag::O_CREAT | OFlag::O_TMPFILE) {
            mode
        } else {
            Mode::empty()
        })
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root.as_fd(), path, how).map_err(|e| SysError::with_path("openat2", path, e))
}

/// `close_range(2)` flags.
pub mod close_range_flags {
    /// Mark the range close-on-exec instead of closing it.
    pub const CLOEXEC: u32 = 1 << 2;
    /// Unshare the fd table first.
    pub const UNSHARE: u32 = 1 << 1;
}

/// Close (or, with [`close_range_flags::CLOEXEC`], mark close-on-exec) every
/// descriptor from `first` to `last` inclusive.
pub fn close_range(first: u32, last: u32, flags: u32) -> Result<(), SysError> {
    // SAFETY: close_range takes three integers. Closing descriptors that
    // Rust objects still own would be a use-after-close, so callers use it
    // only with CLOEXEC or right before exec.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    Errno::result(rc).map_err(|e| SysError::new("close_range", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let dir = std::env::temp_dir().join(format!("wrun-sys-fs-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(dir.join("outside"), b"host").unwrap();
        symlink("/../../../outside", root.join("etc/hosts")).unwrap();
        let rootfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let e = open_in_root(
            rootfd.as_fd(),
            Path::new("/etc/hosts"),
            OFlag::O_RDONLY,
            Mode::empty(),
        )
        .unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT);
        // Creating through the symlink creates inside the root.
        open_in_root(
            rootfd.as_fd(),
            Path::new("etc/hosts"),
            OFlag::O_CREAT | OFlag::O_WRONLY,
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        assert!(root.join("outside").exists());
        assert_eq!(std::fs::read(dir.join("outside")).unwrap(), b"host");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
