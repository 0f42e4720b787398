//! Landlock (landlock(7)): an unprivileged, stackable allow-list of file
//! and TCP rights that the kernel enforces on a process and everything it
//! starts. wrun uses it to enforce policies made only of static path rules
//! without trapping a single call (`--policy-enforcement landlock|auto`).
//!
//! The three system calls have no wrapper in nix or rustix's feature set
//! here, so they are made raw: `landlock_create_ruleset`,
//! `landlock_add_rule` (`LANDLOCK_RULE_PATH_BENEATH`,
//! `LANDLOCK_RULE_NET_PORT`) and `landlock_restrict_self`. Restricting
//! needs `no_new_privs` or `CAP_SYS_ADMIN`; the shim applies it at the same
//! point as the seccomp filter, after `pivot_root`, so the paths are the
//! container's.
#![allow(unsafe_code, reason = "the landlock system calls have no safe wrapper")]

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};
use serde::{Deserialize, Serialize};

/// `LANDLOCK_CREATE_RULESET_VERSION`.
const CREATE_RULESET_VERSION: u32 = 1 << 0;
/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: libc::c_int = 1;
/// `LANDLOCK_RULE_NET_PORT`.
const RULE_NET_PORT: libc::c_int = 2;
/// Rights that apply to a non-directory (`LANDLOCK_ACCESS_FS_EXECUTE`,
/// `WRITE_FILE`, `READ_FILE`, `TRUNCATE`, `IOCTL_DEV`).
const FILE_RIGHTS: u64 = 1 | 2 | 4 | (1 << 14) | (1 << 15);
/// `LANDLOCK_ACCESS_FS_REFER` (ABI v2).
const REFER: u64 = 1 << 13;
/// `LANDLOCK_ACCESS_FS_TRUNCATE` (ABI v3).
const TRUNCATE: u64 = 1 << 14;

/// `struct landlock_ruleset_attr` up to ABI v5 (`handled_access_net` since
/// v4; the kernel accepts a shorter size from older callers).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
}

/// `struct landlock_path_beneath_attr` (packed in the UAPI).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `struct landlock_net_port_attr`.
#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// What went wrong, with the path or step at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The kernel has no Landlock, or it is disabled (`lsm=` boot option).
    #[error("landlock is not available on this kernel: {0}")]
    Unavailable(crate::OsError),
    /// The ruleset needs a newer ABI than the kernel's.
    #[error("landlock ABI v{need} is needed, the kernel has v{have}")]
    TooOld { need: u32, have: u32 },
    /// A rule's path could not be opened in the container.
    #[error("landlock rule {}: {errno}", path.display())]
    Path {
        path: PathBuf,
        errno: crate::OsError,
    },
    /// A system call failed.
    #[error("{0}")]
    Sys(#[from] crate::SysError),
}

/// The kernel's Landlock ABI version (1 for 5.13, 4 for 6.7, 6 for 6.12 …).
pub fn abi_version() -> Result<u32, Error> {
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call
    // reads no memory and returns the ABI version or an error.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        return Err(Error::Unavailable(crate::OsError::last()));
    }
    Ok(v as u32)
}

/// The ruleset wrun asks for, as the runtime writes it in the
/// `run.wrun.landlock` annotation (JSON) for the shim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesetSpec {
    /// `handled_access_fs` (`LANDLOCK_ACCESS_FS_*` bits): what is restricted.
    pub handled_fs: u64,
    /// `handled_access_net` (`LANDLOCK_ACCESS_NET_*` bits).
    #[serde(default)]
    pub handled_net: u64,
    /// Rights granted beneath each directory (or on each file).
    #[serde(default)]
    pub paths: Vec<PathRule>,
    /// Rights granted on each TCP port.
    #[serde(default)]
    pub ports: Vec<PortRule>,
}

/// Rights beneath one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRule {
    pub path: PathBuf,
    pub access: u64,
}

/// Rights on one TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRule {
    pub port: u16,
    pub access: u64,
}

impl RulesetSpec {
    /// The lowest ABI that has every right this spec restricts.
    pub fn min_abi(&self) -> u32 {
        if self.handled_net != 0 {
            4
        } else if self.handled_fs & TRUNCATE != 0 {
            3
        } else if self.handled_fs & REFER != 0 {
            2
        } else {
            1
        }
    }

    /// Builds the ruleset: checks the kernel's ABI and opens every path
    /// (`O_PATH`, following symlinks as the container would). Done where
    /// the paths are the container's (after `pivot_root`) and while they
    /// can still be opened (before the user switch); restricting comes
    /// later, with [`Ruleset::restrict_self`].
    pub fn build(&self) -> Result<Ruleset, Error> {
        let have = abi_version()?;
        let need = self.min_abi();
        if have < need {
            return Err(Error::TooOld { need, have });
        }
        let ruleset = Ruleset::new(self.handled_fs, self.handled_net)?;
        for rule in &self.paths {
            let fd = open(
                rule.path.as_path(),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::Path {
                path: rule.path.clone(),
                errno: crate::OsError(e),
            })?;
            let is_dir = fstat(&fd)
                .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
                .map_err(|e| Error::Path {
                    path: rule.path.clone(),
                    errno: crate::OsError(e),
                })?;
            // A file can only carry the rights that apply to files.
            let access = if is_dir {
                rule.access
            } else {
                rule.access & FILE_RIGHTS
            };
            ruleset.allow_beneath(fd.as_fd(), access & self.handled_fs, &rule.path)?;
        }
        for rule in &self.ports {
            ruleset.allow_port(rule.port, rule.access & self.handled_net)?;
        }
        Ok(ruleset)
    }
}

/// A Landlock ruleset being built (its fd).
#[derive(Debug)]
pub struct Ruleset(OwnedFd);

impl Ruleset {
    /// A ruleset restricting `handled_fs` and `handled_net`.
    pub fn new(handled_fs: u64, handled_net: u64) -> Result<Self, Error> {
        let attr = RulesetAttr {
            handled_access_fs: handled_fs,
            handled_access_net: handled_net,
        };
        // Kernels before ABI v4 refuse the larger struct when its extra
        // field is non-zero, and accept the v1 size.
        let size = if handled_net == 0 {
            std::mem::size_of::<u64>()
        } else {
            std::mem::size_of::<RulesetAttr>()
        };
        // SAFETY: `attr` is a live, initialised `landlock_ruleset_attr` of
        // at least `size` bytes for the duration of the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                size,
                0u32,
            )
        };
        if fd < 0 {
            return Err(crate::SysError::new("landlock_create_ruleset", Errno::last()).into());
        }
        // SAFETY: the call returned a new file descriptor that nothing else owns.
        Ok(Ruleset(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Grants `access` beneath the directory (or on the file) `dir`.
    /// An empty `access` adds nothing (the kernel would refuse it).
    pub fn allow_beneath(
        &self,
        dir: BorrowedFd<'_>,
        access: u64,
        path: &Path,
    ) -> Result<(), Error> {
        if access == 0 {
            return Ok(());
        }
        let attr = PathBeneathAttr {
            allowed_access: access,
            parent_fd: dir.as_raw_fd(),
        };
        // SAFETY: `attr` is a live `landlock_path_beneath_attr` and `dir` a
        // valid descriptor for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.0.as_raw_fd(),
                RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        if r < 0 {
            return Err(
                crate::SysError::with_path("landlock_add_rule", path, Errno::last()).into(),
            );
        }
        Ok(())
    }

    /// Grants `access` (`BIND_TCP`, `CONNECT_TCP`) on TCP `port`.
    pub fn allow_port(&self, port: u16, access: u64) -> Result<(), Error> {
        if access == 0 {
            return Ok(());
        }
        let attr = NetPortAttr {
            allowed_access: access,
            port: u64::from(port),
        };
        // SAFETY: `attr` is a live `landlock_net_port_attr` for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.0.as_raw_fd(),
                RULE_NET_PORT,
                &attr as *const NetPortAttr,
                0u32,
            )
        };
        if r < 0 {
            return Err(crate::SysError::new("landlock_add_rule (port)", Errno::last()).into());
        }
        Ok(())
    }

    /// Restricts the calling thread (and what it execs or forks) to the
    /// ruleset, for good. Needs `no_new_privs` or `CAP_SYS_ADMIN`; call it
    /// single-threaded (a restriction is per thread).
    pub fn restrict_self(self) -> Result<(), Error> {
        // SAFETY: plain integer arguments; the ruleset fd is ours.
        let r =
            unsafe { libc::syscall(libc::SYS_landlock_restrict_self, self.0.as_raw_fd(), 0u32) };
        if r < 0 {
            return Err(crate::SysError::new("landlock_restrict_self", Errno::last()).into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uapi_struct_sizes() {
        assert_eq!(std::mem::size_of::<PathBeneathAttr>(), 12);
        assert_eq!(std::mem::size_of::<NetPortAttr>(), 16);
        assert_eq!(std::mem::size_of::<RulesetAttr>(), 16);
    }

    #[test]
    fn min_abi_follows_the_rights() {
        let mut s = RulesetSpec {
            handled_fs: 4,
            ..Default::default()
        };
        assert_eq!(s.min_abi(), 1);
        s.handled_fs |= REFER;
        assert_eq!(s.min_abi(), 2);
        s.handled_fs |= TRUNCATE;
        assert_eq!(s.min_abi(), 3);
        s.handled_net = 1;
        assert_eq!(s.min_abi(), 4);
    }

    /// In a forked child (a restriction cannot be undone): reading is
    /// denied outside the granted tree with EACCES and allowed inside.
    #[test]
    fn a_restricted_child_reads_only_beneath_its_grant() {
        if abi_version().is_err() {
            eprintln!("skipped: landlock is not available");
            return;
        }
        let dir = tempfile_dir();
        std::fs::write(dir.join("inside"), b"x").unwrap();
        let spec = RulesetSpec {
            handled_fs: 4 | 8, // READ_FILE | READ_DIR
            paths: vec![PathRule {
                path: dir.clone(),
                access: 4 | 8,
            }],
            ..Default::default()
        };
        let outside = Path::new("/proc/self/status");
        // SAFETY: the child only makes system calls and exits with _exit.
        match unsafe { libc::fork() } {
            0 => {
                let code = (|| {
                    let _ = nix::sys::prctl::set_no_new_privs();
                    spec.build().ok()?.restrict_self().ok()?;
                    let inside_ok = std::fs::read(dir.join("inside")).is_ok();
                    let denied = std::fs::read(outside).err().and_then(|e| e.raw_os_error())
                        == Some(libc::EACCES);
                    Some(if inside_ok && denied { 0 } else { 2 })
                })()
                .unwrap_or(3);
                // SAFETY: ends the forked child without running the parent's
                // destructors or test harness.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for our own child; `status` is a valid out pointer.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                let _ = std::fs::remove_dir_all(&dir);
                assert!(libc::WIFEXITED(status), "status {status}");
                assert_eq!(
                    libc::WEXITSTATUS(status),
                    0,
                    "3: setup failed, 2: wrong answers"
                );
            }
            _ => panic!("fork failed"),
        }
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wrun-landlock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
