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

/// The credentials a supervisor thread started with, and the ones it holds
/// now.
///
/// Switching costs system calls that each replace the thread's `struct
/// cred` (a few hundred nanoseconds apiece), so the thread keeps what it
/// switched to and changes only what differs: a worker serving one
/// container mostly moves between its own capabilities (to read the
/// caller's memory) and the caller's (to perform the call), one `capset`
/// each way, while the file-system ids and groups stay those of the
/// container.
#[derive(Debug, Clone)]
pub struct ThreadCreds {
    own: FsCreds,
    permitted: u64,
    inheritable: u64,
    /// What the thread holds now; `None` after a failed switch left it
    /// unknown (the next switch then sets everything).
    now: Option<FsCreds>,
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
        let own = FsCreds {
            uid,
            gid,
            groups,
            effective,
        };
        Ok(ThreadCreds {
            now: Some(own.clone()),
            own,
            permitted,
            inheritable,
        })
    }

    /// Takes on `creds` for file calls on this thread (its effective
    /// capabilities are capped by what this thread is permitted). Only what
    /// differs from what the thread holds is changed.
    pub fn assume(&mut self, creds: &FsCreds) -> Result<(), Errno> {
        let effective = creds.effective & self.permitted;
        self.switch(creds.uid, creds.gid, &creds.groups, effective)
    }

    /// Gives this thread back its own effective capabilities, keeping the
    /// file-system ids and groups it holds: what reading another process's
    /// memory or `/proc/PID/…` links needs (ptrace checks use the real ids
    /// and the effective capabilities). Follow with [`ThreadCreds::assume`]
    /// before any file call made on the caller's behalf.
    pub fn privileged(&mut self) -> Result<(), Errno> {
        match &self.now {
            Some(now) if now.effective == self.own.effective => Ok(()),
            _ => self.set_effective(self.own.effective),
        }
    }

    /// Returns to this thread's own credentials.
    pub fn restore(&mut self) -> Result<(), Errno> {
        // A copy: switching reads `self.own` for the capabilities it needs.
        let own = self.own.clone();
        self.switch(own.uid, own.gid, &own.groups, own.effective)
    }

    /// Whether the thread holds its own credentials (nothing assumed).
    pub fn is_own(&self) -> bool {
        self.now.as_ref() == Some(&self.own)
    }

    fn set_effective(&mut self, effective: u64) -> Result<(), Errno> {
        match capset(effective, self.permitted, self.inheritable) {
            Ok(()) => {
                if let Some(now) = &mut self.now {
                    now.effective = effective;
                }
                Ok(())
            }
            Err(e) => {
                self.now = None;
                Err(e)
            }
        }
    }

    fn switch(&mut self, uid: u32, gid: u32, groups: &[u32], effective: u64) -> Result<(), Errno> {
        let r = self.switch_inner(uid, gid, groups, effective);
        if r.is_err() {
            // Part of it may have happened: trust nothing next time.
            self.now = None;
        }
        r
    }

    fn switch_inner(
        &mut self,
        uid: u32,
        gid: u32,
        groups: &[u32],
        effective: u64,
    ) -> Result<(), Errno> {
        let Some(mut now) = self.now.take() else {
            // Unknown state: set everything, with our own capabilities
            // (CAP_SETUID, CAP_SETGID) for the ids.
            capset(self.own.effective, self.permitted, self.inheritable)?;
            set_groups(groups)?;
            set_fsgid(gid)?;
            set_fsuid(uid)?;
            capset(effective, self.permitted, self.inheritable)?;
            self.now = Some(FsCreds {
                uid,
                gid,
                groups: groups.to_vec(),
                effective,
            });
            return Ok(());
        };
        let ids_differ = now.uid != uid || now.gid != gid || now.groups != groups;
        if ids_differ && now.effective != self.own.effective {
            capset(self.own.effective, self.permitted, self.inheritable)?;
            now.effective = self.own.effective;
        }
        if now.groups != groups {
            set_groups(groups)?;
            now.groups.clear();
            now.groups.extend_from_slice(groups);
        }
        if now.gid != gid {
            set_fsgid(gid)?;
            now.gid = gid;
        }
        // The kernel moves the file-system capabilities with the fsuid
        // (capabilities(7), "Effect of user ID changes"): after a change the
        // effective set is set again rather than predicted.
        let mut caps_moved = false;
        if now.uid != uid {
            set_fsuid(uid)?;
            now.uid = uid;
            caps_moved = true;
        }
        if caps_moved || now.effective != effective {
            capset(effective, self.permitted, self.inheritable)?;
            now.effective = effective;
        }
        self.now = Some(now);
        Ok(())
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
            let mut own = ThreadCreds::current().unwrap();
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

    #[test]
    fn switches_change_only_what_differs_and_always_land_where_asked() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("wrun-creds-lazy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let t = std::thread::spawn(move || {
            let opens = || std::fs::File::open(&secret).is_ok();
            let mut own = ThreadCreds::current().unwrap();
            let user = FsCreds {
                uid: 1000,
                gid: 1000,
                groups: vec![1000],
                effective: 0,
            };
            // Root without capabilities, as a container's root may be.
            let weak_root = FsCreds {
                uid: 0,
                gid: 0,
                groups: vec![],
                effective: 0,
            };
            let mut seen = Vec::new();
            own.assume(&user).unwrap();
            seen.push(opens());
            // Our capabilities back, the user's ids kept: DAC_OVERRIDE opens it.
            own.privileged().unwrap();
            seen.push(opens());
            own.assume(&user).unwrap();
            seen.push(opens());
            // To uid 0 without capabilities: still the owner of the file.
            own.assume(&weak_root).unwrap();
            seen.push(opens());
            own.assume(&user).unwrap();
            seen.push(opens());
            own.restore().unwrap();
            seen.push(opens() && own.is_own());
            seen
        });
        assert_eq!(t.join().unwrap(), [false, true, false, true, false, true]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
