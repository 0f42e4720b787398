//! What the supervisor needs to know about a trapped thread, read from the
//! host's `/proc/<tid>/status` at the time of the call: the credentials the
//! kernel would check (fsuid, fsgid, groups, effective capabilities), its
//! umask, and its ids as the container sees them (for `/proc/self`).

use std::collections::HashMap;
use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{BorrowedFd, OwnedFd};

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

/// The last whitespace-separated number of a status value.
fn last_number(v: &[u8]) -> Option<u32> {
    number(
        v.split(|b| b.is_ascii_whitespace())
            .rfind(|w| !w.is_empty())?,
    )
}

/// The `n`th whitespace-separated number of a status value.
fn nth_number(v: &[u8], n: usize) -> Option<u32> {
    number(
        v.split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .nth(n)?,
    )
}

fn number(w: &[u8]) -> Option<u32> {
    std::str::from_utf8(w).ok()?.parse().ok()
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// Parses the text of `/proc/<tid>/status` into `info`, reusing its group
/// list. Works on bytes: the `Name:` line is the thread's name, which need
/// not be UTF-8. False when a line the supervisor needs is missing or bad.
pub fn parse_status_into(text: &[u8], info: &mut ThreadInfo) -> bool {
    info.umask = 0o022;
    info.creds.groups.clear();
    let mut seen = 0u8;
    // Umask, NStgid, NSpid, Groups: once these and the four required lines
    // are in, the rest of the file (signals, cpus, switches) is skipped.
    let mut optional = 0u8;
    for line in text.split(|&b| b == b'\n') {
        if seen == 15 && optional == 15 {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        let ok = match key {
            b"Umask" => std::str::from_utf8(trim(value))
                .ok()
                .and_then(|v| u32::from_str_radix(v, 8).ok())
                .map(|v| {
                    info.umask = v;
                    optional |= 1;
                })
                .is_some(),
            b"Tgid" => number(trim(value))
                .map(|v| {
                    info.tgid = v;
                    seen |= 1;
                })
                .is_some(),
            b"NStgid" => last_number(value)
                .map(|v| {
                    info.ns_tgid = v;
                    optional |= 2;
                })
                .is_some(),
            b"NSpid" => last_number(value)
                .map(|v| {
                    info.ns_tid = v;
                    optional |= 4;
                })
                .is_some(),
            b"Uid" => match (nth_number(value, 1), nth_number(value, 3)) {
                (Some(euid), Some(fsuid)) => {
                    info.euid = euid;
                    info.creds.uid = fsuid;
                    seen |= 2;
                    true
                }
                _ => false,
            },
            b"Gid" => match (nth_number(value, 1), nth_number(value, 3)) {
                (Some(egid), Some(fsgid)) => {
                    info.egid = egid;
                    info.creds.gid = fsgid;
                    seen |= 4;
                    true
                }
                _ => false,
            },
            b"Groups" => {
                optional |= 8;
                value
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|w| !w.is_empty())
                    .try_for_each(|w| number(w).map(|g| info.creds.groups.push(g)))
                    .is_some()
            }
            b"CapEff" => std::str::from_utf8(trim(value))
                .ok()
                .and_then(|v| u64::from_str_radix(v, 16).ok())
                .map(|v| {
                    info.creds.effective = v;
                    seen |= 8;
                })
                .is_some(),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    seen == 15
}

/// Parses the text of `/proc/<tid>/status`.
pub fn parse_status(text: &str) -> Option<ThreadInfo> {
    let mut info = ThreadInfo::default();
    parse_status_into(text.as_bytes(), &mut info).then_some(info)
}

/// Reads thread `tid`'s status through the host's `/proc` (`proc_dir`),
/// opening the file each time (tools and tests; the supervisor keeps its
/// files open with [`StatusFiles`]).
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
    let mut info = ThreadInfo::default();
    parse_status_into(buf, &mut info).then_some(info)
}

/// Threads' status files kept open, one set per supervisor worker.
///
/// Opening `/proc/<tid>/status` walks procfs and allocates a file each
/// time; a kept descriptor is read again from offset 0 with `pread`, which
/// makes the kernel generate the text anew, so the credentials read are
/// those of the moment. A kept descriptor is bound to its thread, not to
/// the number: once that thread is gone it reads `ESRCH` even if the
/// number was reused, and the file is opened again for the new thread.
#[derive(Debug)]
pub struct StatusFiles {
    files: HashMap<u32, OwnedFd>,
    buf: Vec<u8>,
    /// The last thread read.
    pub info: ThreadInfo,
}

/// Most status files a worker keeps open before it closes them all.
const KEPT_MAX: usize = 256;

impl Default for StatusFiles {
    fn default() -> Self {
        StatusFiles {
            files: HashMap::new(),
            buf: vec![0; 4096],
            info: ThreadInfo::default(),
        }
    }
}

impl StatusFiles {
    /// Reads thread `tid`'s status into [`StatusFiles::info`]. False if the
    /// thread is gone or its status unreadable.
    pub fn read(&mut self, proc_dir: BorrowedFd<'_>, tid: u32) -> bool {
        for fresh in [false, true] {
            if fresh {
                self.files.remove(&tid);
            }
            if !self.files.contains_key(&tid) {
                if self.files.len() >= KEPT_MAX {
                    self.files.clear();
                }
                let mut name = PathBuffer::new();
                name.push_u32(tid);
                name.push(b"/status");
                let Ok(fd) = rustix::fs::openat(
                    proc_dir,
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) else {
                    return false;
                };
                self.files.insert(tid, fd);
            }
            let Some(fd) = self.files.get(&tid) else {
                return false;
            };
            let Some(len) = read_whole(fd, &mut self.buf) else {
                // The thread behind the kept file is gone: try its number
                // afresh once.
                continue;
            };
            return parse_status_into(&self.buf[..len], &mut self.info);
        }
        false
    }
}

/// Reads a whole procfs file from offset 0 into `buf`, growing it when the
/// text does not fit. `None` on an error or an empty file.
fn read_whole(fd: &OwnedFd, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        let n = rustix::io::pread(fd, &mut buf[..], 0).ok()?;
        if n == 0 {
            return None;
        }
        if n < buf.len() {
            return Some(n);
        }
        // A full buffer may be a cut text (long group lists).
        if buf.len() >= 1 << 20 {
            return None;
        }
        let grown = buf.len() * 2;
        buf.resize(grown, 0);
    }
}

/// A NUL-terminated path built on the stack: `/proc` names on the hot
/// path without `format!`.
#[derive(Debug)]
pub(crate) struct PathBuffer {
    bytes: [u8; 64],
    len: usize,
}

impl PathBuffer {
    pub fn new() -> PathBuffer {
        PathBuffer {
            bytes: [0; 64],
            len: 0,
        }
    }

    /// Appends `s` (the caller keeps names short: at most 63 bytes in all).
    pub fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - 1 - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    pub fn push_u32(&mut self, mut v: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    pub fn as_c_str(&self) -> &CStr {
        // The buffer is zeroed past `len` and `len` < its size, and no
        // pushed part holds a NUL (digits and fixed names).
        CStr::from_bytes_until_nul(&self.bytes[..=self.len]).unwrap_or(c"")
    }
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
        // A thread's name need not be UTF-8.
        let mut raw = b"Name:\t\xff\xfe\n".to_vec();
        raw.extend_from_slice(text.as_bytes());
        let mut info = ThreadInfo::default();
        info.creds.groups = vec![99, 98, 97];
        assert!(parse_status_into(&raw, &mut info));
        assert_eq!(info.creds.groups, [4, 24]);
        assert!(!parse_status_into(b"Tgid:\tx\n", &mut info));
    }

    #[test]
    fn kept_status_files_follow_their_thread() {
        let proc_dir =
            rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut files = StatusFiles::default();
        let me = nix::unistd::gettid().as_raw() as u32;
        assert!(files.read(std::os::fd::AsFd::as_fd(&proc_dir), me));
        assert_eq!(files.info.tgid, std::process::id());
        // A thread that ends: its kept file reads ESRCH, and the number is
        // then looked up afresh (here: gone, so false).
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
        });
        let tid = rx.recv().unwrap();
        let _ = files.read(std::os::fd::AsFd::as_fd(&proc_dir), tid);
        t.join().unwrap();
        assert!(!files.read(std::os::fd::AsFd::as_fd(&proc_dir), tid));
        assert!(files.read(std::os::fd::AsFd::as_fd(&proc_dir), me));
    }

    #[test]
    fn path_buffers_spell_proc_names() {
        let mut p = PathBuffer::new();
        p.push_u32(4_294_967_295);
        p.push(b"/fd/");
        p.push_u32(0);
        assert_eq!(p.as_c_str(), c"4294967295/fd/0");
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
