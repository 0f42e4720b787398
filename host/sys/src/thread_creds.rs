//! Per-thread file-system credentials, for a supervisor thread that performs
//! file calls on behalf of a container process.
//!
//! On Linux, credentials belong to threads; the C library hides this by
//! broadcasting `setuid`/`setgroups` to every thread of a process (the
//! `SIGSETXID` dance). A supervisor thread must change only itself, so these
//! wrappers make the raw system calls: `setfsuid`, `setfsgid`, `setgroups`
//! and `capset` on the calling thread. The file-system uid and gid are the
//! ids the kernel checks file permissions against; with the caller's
//! supplementary groups and effective capabilities they make permission
//! checks exactly those the container process would meet.
#![allow(
    unsafe_code,
    reason = "thread-scoped credential system calls that libc and nix only offer process-wide"
)]

use nix::errno::Errno;

const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The credentials file calls are checked against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsCreds {
    /// File-system uid.
    pub uid: u32,
    /// File-system gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Effective capabilities (bit n = capability n).
    pub effective: u64,
}

/// The calling thread's capability sets: (effective, permitted, inheritable).
fn capget() -> Result<(u64, u64, u64), Errno> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two `CapData` (the version-3 layout) into
    // `data` and may update `hdr.version`; both live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if rc < 0 {
        return Err(Errno::last());
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    Ok((
        join(|d| d.effective),
        join(|d| d.permitted),
        join(|d| d.inheritable),
    ))
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), Errno> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: capset reads the header and two `CapData`; pid 0 is the
    // calling thread only.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn set_groups(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: the raw setgroups system call (not glibc's process-wide
    // wrapper) reads `groups.len()` gids from the pointer and changes only
    // the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn set_fsuid(uid: u32) -> Result<(), Errno> {
    // SAFETY: setfsuid takes an integer and changes only the calling
    // thread; it reports no error, so the result is read back.
    let now = unsafe {
        libc::syscall(libc::SYS_setfsuid, uid);
        libc::syscall(libc::SYS_setfsuid, u32::MAX)
    };
    if now as u32 == uid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

fn set_fsgid(gid: u32) -> Result<(), Errno> {
    // SAFETY: as for setfsuid.
    let now = unsafe {
        libc::syscall(libc::SYS_setfsgid, gid);
        libc::syscall(libc::SYS_setfsgid, u32::MAX)
    };
    if now as u32 == gid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// The credentials a supervisor thread started with, to return to after
/// each emulated call.
#[derive(Debug, Clone)]
pub struct ThreadCreds {
    own: FsCreds,
    permitted: u64,
    inheritable: u64,
}

impl ThreadCreds {
    /// Records the calling thread's current credentials.
    pub fn current() -> Result<ThreadCreds, Errno> {
        let (effective, permitted, inheritable) = capget()?;
        // SAFETY: getfsuid is spelled setfsuid(-1): it changes nothing.
        let uid = unsafe { libc::syscall(libc::SYS_setfsuid, u32::MAX) } as u32;
        // SAFETY: as above, for the gid.
        let gid = unsafe { libc::syscall(libc::SYS_setfsgid, u32::MAX) } as u32;
        let groups = nix::unistd::getgroups()?
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        Ok(ThreadCreds {
            own: FsCreds {
                uid,
                gid,
                groups,
                effective,
            },
            permitted,
            inheritable,
        })
    }

    /// Takes on `creds` for file calls on this thread (its effective
    /// capabilities are capped by what this thread is permitted).
    pub fn assume(&self, creds: &FsCreds) -> Result<(), Errno> {
        set_groups(&creds.groups)?;
        set_fsgid(creds.gid)?;
        set_fsuid(creds.uid)?;
        capset(
            creds.effective & self.permitted,
            self.permitted,
            self.inheritable,
        )
    }

    /// Returns to this thread's own credentials.
    pub fn restore(&self) -> Result<(), Errno> {
        capset(self.own.effective, self.permitted, self.inheritable)?;
        set_fsuid(self.own.uid)?;
        set_fsgid(self.own.gid)?;
        set_groups(&self.own.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_credentials_apply_to_this_thread_only() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("wrun-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let s2 = secret.clone();
        let t = std::thread::spawn(move || {
            let own = ThreadCreds::current().unwrap();
            own.assume(&FsCreds {
                uid: 1000,
                gid: 1000,
                groups: vec![],
                effective: 0,
            })
            .unwrap();
            let denied = std::fs::File::open(&s2).unwrap_err().raw_os_error();
            own.restore().unwrap();
            let after = std::fs::File::open(&s2).is_ok();
            (denied, after)
        });
        // Meanwhile this thread is still root.
        assert!(std::fs::File::open(&secret).is_ok());
        let (denied, after) = t.join().unwrap();
        assert_eq!(denied, Some(libc::EACCES));
        assert!(after);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
