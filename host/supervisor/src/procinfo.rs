//! What the supervisor needs to know about a trapped thread, read from the
//! host's `/proc/<tid>/status` at the time of the call: the credentials the
//! kernel would check (fsuid, fsgid, groups, effective capabilities), its
//! umask, and its ids as the container sees them (for `/proc/self`).

use std::io::Read;
use std::os::fd::BorrowedFd;

use rustix::fs::{Mode, OFlags};
use wrun_sys::thread_creds::FsCreds;

/// A snapshot of one thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Its process (thread-group) id on the host.
    pub tgid: u32,
    /// Its process id inside the container's PID namespace.
    pub ns_tgid: u32,
    /// Its thread id inside the container's PID namespace.
    pub ns_tid: u32,
    /// Credentials for file calls.
    pub creds: FsCreds,
    /// Effective uid and gid (for the policy request).
    pub euid: u32,
    /// Effective gid.
    pub egid: u32,
    /// The umask.
    pub umask: u32,
}

fn last_number(v: &str) -> Option<u32> {
    v.split_whitespace().last()?.parse().ok()
}

fn nth_number(v: &str, n: usize) -> Option<u32> {
    v.split_whitespace().nth(n)?.parse().ok()
}

/// Parses the text of `/proc/<tid>/status`.
pub fn parse_status(text: &str) -> Option<ThreadInfo> {
    let mut info = ThreadInfo {
        umask: 0o022,
        ..ThreadInfo::default()
    };
    let mut seen = 0u8;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Umask" => info.umask = u32::from_str_radix(value.trim(), 8).ok()?,
            "Tgid" => {
                info.tgid = value.trim().parse().ok()?;
                seen |= 1;
            }
            "NStgid" => info.ns_tgid = last_number(value)?,
            "NSpid" => info.ns_tid = last_number(value)?,
            "Uid" => {
                info.euid = nth_number(value, 1)?;
                info.creds.uid = nth_number(value, 3)?;
                seen |= 2;
            }
            "Gid" => {
                info.egid = nth_number(value, 1)?;
                info.creds.gid = nth_number(value, 3)?;
                seen |= 4;
            }
            "Groups" => {
                info.creds.groups = value
                    .split_whitespace()
                    .map(|g| g.parse())
                    .collect::<Result<_, _>>()
                    .ok()?
            }
            "CapEff" => {
                info.creds.effective = u64::from_str_radix(value.trim(), 16).ok()?;
                seen |= 8;
            }
            _ => {}
        }
    }
    (seen == 15).then_some(info)
}

/// Reads thread `tid`'s status through the host's `/proc` (`proc_dir`).
pub fn read(proc_dir: BorrowedFd<'_>, tid: u32, buf: &mut Vec<u8>) -> Option<ThreadInfo> {
    let fd = rustix::fs::openat(
        proc_dir,
        format!("{tid}/status"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    buf.clear();
    std::fs::File::from(fd).read_to_end(buf).ok()?;
    parse_status(std::str::from_utf8(buf).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_status_file() {
        let text = "Name:\tsh\nUmask:\t0027\nState:\tS\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n\
                    Uid:\t1000\t1001\t1002\t1003\nGid:\t50\t51\t52\t53\nGroups:\t4 24 \n\
                    NStgid:\t4242\t7\nNSpid:\t4243\t8\nCapEff:\t00000000a80425fb\n";
        let i = parse_status(text).unwrap();
        assert_eq!(i.tgid, 4242);
        assert_eq!((i.ns_tgid, i.ns_tid), (7, 8));
        assert_eq!((i.euid, i.egid), (1001, 51));
        assert_eq!(i.creds.uid, 1003);
        assert_eq!(i.creds.gid, 53);
        assert_eq!(i.creds.groups, [4, 24]);
        assert_eq!(i.creds.effective, 0xa804_25fb);
        assert_eq!(i.umask, 0o027);
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn reads_our_own_thread() {
        let proc_dir =
            rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut buf = Vec::new();
        let tid = nix::unistd::gettid().as_raw() as u32;
        let i = read(std::os::fd::AsFd::as_fd(&proc_dir), tid, &mut buf).unwrap();
        assert_eq!(i.tgid, std::process::id());
    }
}
