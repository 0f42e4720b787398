//! Emulation of each trapped call: read the arguments once, resolve, ask the
//! policy about what will really be touched, perform the call with the
//! caller's credentials, and say what to answer.
//!
//! Path resolution happens in the worker thread, which is chrooted into the
//! container's root (see `worker.rs`), relative to an `O_PATH` handle on
//! the caller's cwd or dirfd (opened through the host's `/proc/<tid>/`).
//! The kernel itself walks the path — mounts of the container's namespace,
//! symlinks, `..` clamped at the root, magic links — so the result is what
//! the process would have got. The canonical path given to the policy is
//! read back from the descriptor that was opened
//! (`/proc/thread-self/fd/N`), and the call is then performed on that very
//! descriptor (or on its parent directory and a single name component), so
//! the container cannot swap the file between the check and the use.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, ResolveFlags};
use wrun_policy::{Decision, Op, Request};
use wrun_sys::notify::{self, Notification};

use crate::Mode as SupervisorMode;
use crate::procinfo::{PathBuffer, ThreadInfo};
use crate::worker::Worker;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// Symlinks followed by hand (dangling `O_CREAT` targets) before `ELOOP`,
/// as the kernel's own limit.
const MAX_SYMLINKS: usize = 40;
/// Largest socket address a call may pass (`sizeof(struct sockaddr_storage)`).
const SOCKADDR_MAX: usize = 128;
/// Largest `sendto` payload copied for emulation.
const SENDTO_MAX: usize = 16 << 20;

/// What to answer the kernel.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Errno(i32),
    /// Install this descriptor in the caller and return its number.
    Fd {
        /// Our copy.
        fd: OwnedFd,
        /// `O_CLOEXEC` on the caller's copy.
        cloexec: bool,
    },
    /// Let the kernel run the call.
    Continue,
}

/// What goes into the audit record, when the decision asked for one.
#[derive(Debug)]
pub(crate) struct AuditInfo {
    pub pid: u32,
    pub op: Op,
    pub path: Option<String>,
    pub path2: Option<String>,
    pub address: Option<String>,
    pub flags: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub allowed: bool,
    pub reason: Option<String>,
}

/// A handled notification.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub reply: Reply,
    pub audit: Option<AuditInfo>,
}

impl Outcome {
    pub fn reply(reply: Reply) -> Outcome {
        Outcome { reply, audit: None }
    }
}

/// An errno from a rustix error.
fn errno(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

/// The name of a system call number, for the audit log.
pub(crate) fn syscall_name(nr: i32) -> &'static str {
    match i64::from(nr) {
        libc::SYS_open => "open",
        libc::SYS_openat => "openat",
        libc::SYS_openat2 => "openat2",
        libc::SYS_creat => "creat",
        libc::SYS_mkdir => "mkdir",
        libc::SYS_mkdirat => "mkdirat",
        libc::SYS_unlink => "unlink",
        libc::SYS_unlinkat => "unlinkat",
        libc::SYS_rmdir => "rmdir",
        libc::SYS_rename => "rename",
        libc::SYS_renameat => "renameat",
        libc::SYS_renameat2 => "renameat2",
        libc::SYS_link => "link",
        libc::SYS_linkat => "linkat",
        libc::SYS_symlink => "symlink",
        libc::SYS_symlinkat => "symlinkat",
        libc::SYS_chmod => "chmod",
        libc::SYS_fchmodat => "fchmodat",
        libc::SYS_fchmodat2 => "fchmodat2",
        libc::SYS_chown => "chown",
        libc::SYS_lchown => "lchown",
        libc::SYS_fchownat => "fchownat",
        libc::SYS_truncate => "truncate",
        libc::SYS_mknod => "mknod",
        libc::SYS_mknodat => "mknodat",
        libc::SYS_execve => "execve",
        libc::SYS_execveat => "execveat",
        libc::SYS_socket => "socket",
        libc::SYS_connect => "connect",
        libc::SYS_bind => "bind",
        libc::SYS_listen => "listen",
        libc::SYS_sendto => "sendto",
        _ => "unknown",
    }
}

/// Handles one notification.
pub(crate) fn handle(w: &mut Worker<'_>, n: &Notification) -> Outcome {
    if n.arch != AUDIT_ARCH_X86_64 {
        return Outcome::reply(Reply::Errno(libc::ENOSYS));
    }
    if !w.status.read(w.shared.proc_dir.as_fd(), n.pid) {
        // The thread is gone (or its status unreadable): nothing to emulate.
        return Outcome::reply(Reply::Errno(libc::ESRCH));
    }
    // Borrowed from the worker for the call (its group list is reused).
    let info = std::mem::take(&mut w.status.info);
    let mut call = Call { w, n, info };
    let outcome = call.dispatch();
    call.w.status.info = call.info;
    outcome
}

impl Call<'_, '_> {
    /// Runs the emulation of the trapped call.
    fn dispatch(&mut self) -> Outcome {
        let n = self.n;
        let a = n.args;
        let at_fdcwd = libc::AT_FDCWD;
        let call = self;
        match i64::from(n.nr) {
            libc::SYS_open => call.open(at_fdcwd, a[0], a[1] as u32, a[2] as u32, 0),
            libc::SYS_openat => call.open(a[0] as i32, a[1], a[2] as u32, a[3] as u32, 0),
            libc::SYS_creat => call.open(
                at_fdcwd,
                a[0],
                (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32,
                a[1] as u32,
                0,
            ),
            libc::SYS_openat2 => call.openat2(a[0] as i32, a[1], a[2], a[3]),
            libc::SYS_mkdir => call.mkdir(at_fdcwd, a[0], a[1] as u32),
            libc::SYS_mkdirat => call.mkdir(a[0] as i32, a[1], a[2] as u32),
            libc::SYS_unlink => call.unlink(at_fdcwd, a[0], 0),
            libc::SYS_rmdir => call.unlink(at_fdcwd, a[0], libc::AT_REMOVEDIR as u32),
            libc::SYS_unlinkat => call.unlink(a[0] as i32, a[1], a[2] as u32),
            libc::SYS_rename => call.rename(at_fdcwd, a[0], at_fdcwd, a[1], 0),
            libc::SYS_renameat => call.rename(a[0] as i32, a[1], a[2] as i32, a[3], 0),
            libc::SYS_renameat2 => call.rename(a[0] as i32, a[1], a[2] as i32, a[3], a[4] as u32),
            libc::SYS_link => call.link(at_fdcwd, a[0], at_fdcwd, a[1], 0),
            libc::SYS_linkat => call.link(a[0] as i32, a[1], a[2] as i32, a[3], a[4] as u32),
            libc::SYS_symlink => call.symlink(a[0], at_fdcwd, a[1]),
            libc::SYS_symlinkat => call.symlink(a[0], a[1] as i32, a[2]),
            libc::SYS_chmod => call.chmod(at_fdcwd, a[0], a[1] as u32, 0),
            libc::SYS_fchmodat => call.chmod(a[0] as i32, a[1], a[2] as u32, 0),
            libc::SYS_fchmodat2 => call.chmod(a[0] as i32, a[1], a[2] as u32, a[3] as u32),
            libc::SYS_chown => call.chown(at_fdcwd, a[0], a[1] as u32, a[2] as u32, 0),
            libc::SYS_lchown => call.chown(
                at_fdcwd,
                a[0],
                a[1] as u32,
                a[2] as u32,
                libc::AT_SYMLINK_NOFOLLOW as u32,
            ),
            libc::SYS_fchownat => {
                call.chown(a[0] as i32, a[1], a[2] as u32, a[3] as u32, a[4] as u32)
            }
            libc::SYS_truncate => call.truncate(a[0], a[1] as i64),
            libc::SYS_mknod => call.mknod(at_fdcwd, a[0], a[1] as u32, a[2]),
            libc::SYS_mknodat => call.mknod(a[0] as i32, a[1], a[2] as u32, a[3]),
            libc::SYS_execve => call.exec(at_fdcwd, a[0], 0),
            libc::SYS_execveat => call.exec(a[0] as i32, a[1], a[4] as u32),
            libc::SYS_socket => call.socket(a[0] as u32, a[1] as u32, a[2] as u32),
            libc::SYS_listen => call.listen(a[0] as i32),
            libc::SYS_connect => {
                call.sockaddr_call(Op::Connect, a[0] as i32, a[1], a[2] as u32, None)
            }
            libc::SYS_bind => call.sockaddr_call(Op::Bind, a[0] as i32, a[1], a[2] as u32, None),
            libc::SYS_sendto => call.sockaddr_call(
                Op::Sendto,
                a[0] as i32,
                a[4],
                a[5] as u32,
                Some((a[1], a[2], a[3] as i32)),
            ),
            // A trapped call this supervisor does not know: fail closed.
            _ => Outcome::reply(Reply::Errno(libc::ENOSYS)),
        }
    }
}

/// Which buffer a path is read into.
#[derive(Clone, Copy)]
enum Slot {
    First,
    Second,
}

/// A path argument: its resolved entry (`None` for `.`, `..`, `/`), the
/// path as given, and the handle it is relative to.
/// A path argument whose last component a call creates or removes.
struct Named {
    /// The resolved parent and last component; `None` when the last
    /// component is `.`, `..` or empty (the call is then made on `path`
    /// from `base`, and the kernel gives its own error).
    entry: Option<Entry>,
    path: Vec<u8>,
    base: Option<OwnedFd>,
}

impl Named {
    /// The directory and name the call is made at.
    fn at(&self) -> (BorrowedFd<'_>, &[u8]) {
        match &self.entry {
            Some(e) => (e.parent.as_fd(), &e.name),
            None => (
                self.base.as_ref().map(|b| b.as_fd()).unwrap_or(CWD),
                &self.path,
            ),
        }
    }

    /// The canonical path, when the entry was resolved.
    fn canonical(&self) -> Option<&[u8]> {
        self.entry.as_ref().map(|e| &e.canonical[..])
    }
}

/// One notification being handled.
struct Call<'w, 'a> {
    w: &'w mut Worker<'a>,
    n: &'w Notification,
    info: ThreadInfo,
}

/// A resolved name: its parent directory, the last component (with a
/// trailing slash if the caller wrote one) and the canonical path.
struct Entry {
    parent: OwnedFd,
    name: Vec<u8>,
    canonical: Vec<u8>,
}

impl Call<'_, '_> {
    fn listener(&self) -> BorrowedFd<'_> {
        self.w.shared.listener()
    }

    fn proc_dir(&self) -> BorrowedFd<'_> {
        self.w.shared.proc_dir.as_fd()
    }

    /// Reads the NUL-terminated path at `addr` into a slot; returns its
    /// length. Re-validates the notification afterwards.
    fn read_path(&mut self, addr: u64, slot: Slot) -> Result<usize, i32> {
        // Reading another process's memory takes our own capabilities.
        self.w.creds.privileged().map_err(|e| e as i32)?;
        let buf = match slot {
            Slot::First => &mut self.w.path_buf,
            Slot::Second => &mut self.w.path2_buf,
        };
        let len = notify::read_c_string(self.n.pid, addr, buf).map_err(|e| e as i32)?;
        if !notify::id_valid(self.w.shared.listener(), self.n.id) {
            return Err(libc::EINTR);
        }
        Ok(len)
    }

    fn path(&self, slot: Slot, len: usize) -> Vec<u8> {
        let buf = match slot {
            Slot::First => &self.w.path_buf,
            Slot::Second => &self.w.path2_buf,
        };
        rewrite_proc_self(&buf[..len], self.info.ns_tgid, self.info.ns_tid)
    }

    /// An `O_PATH` handle on where a relative path starts: the caller's cwd
    /// or its descriptor `dirfd`. `None` for an absolute path (the worker's
    /// root is the container's).
    fn base(&mut self, dirfd: i32, path: &[u8], always: bool) -> Result<Option<OwnedFd>, i32> {
        if path.first() == Some(&b'/') && !always {
            return Ok(None);
        }
        let mut what = PathBuffer::new();
        what.push_u32(self.n.pid);
        if dirfd == libc::AT_FDCWD {
            what.push(b"/cwd");
        } else if dirfd < 0 {
            return Err(libc::EBADF);
        } else {
            what.push(b"/fd/");
            what.push_u32(dirfd as u32);
        }
        // Opening another process's cwd or fd link is a ptrace check.
        self.w.creds.privileged().map_err(|e| e as i32)?;
        match rustix::fs::openat(
            self.proc_dir(),
            what.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(rustix::io::Errno::NOENT) => Err(libc::EBADF),
            Err(e) => Err(errno(e)),
        }
    }

    /// Takes on the caller's credentials and umask for the calls that
    /// follow (given back by the worker after each notification).
    fn assume(&mut self) -> Result<(), i32> {
        self.w
            .creds
            .assume(&self.info.creds)
            .map_err(|e| e as i32)?;
        if self.w.umask != Some(self.info.umask) {
            rustix::process::umask(Mode::from_raw_mode(self.info.umask));
            self.w.umask = Some(self.info.umask);
        }
        Ok(())
    }

    /// The canonical path of one of our descriptors, as the worker (rooted
    /// in the container) sees it.
    fn canonical(&self, fd: BorrowedFd<'_>) -> Result<Vec<u8>, i32> {
        rustix::fs::readlinkat(self.proc_dir(), fd_link(fd).as_c_str(), Vec::new())
            .map(CString::into_bytes)
            .map_err(errno)
    }

    fn request<'p>(&self, op: Op, path: &'p [u8], path2: &'p [u8]) -> Request<'p> {
        Request {
            uid: self.info.euid,
            gid: self.info.egid,
            pid: self.info.ns_tgid,
            path,
            path2,
            ..Request::new(op)
        }
    }

    /// Asks the policy; the audit part of the outcome if it wants one.
    fn decide(&self, req: &Request<'_>) -> (Decision, Option<AuditInfo>) {
        let d = self.w.shared.decide(req);
        let audit = d.audit().then(|| AuditInfo {
            pid: self.info.ns_tgid,
            op: req.op,
            path: (!req.path.is_empty() && req.family == 0)
                .then(|| String::from_utf8_lossy(req.path).into_owned())
                .or_else(|| {
                    (req.family == wrun_policy::abi::AF_UNIX)
                        .then(|| String::from_utf8_lossy(req.path).into_owned())
                }),
            path2: (!req.path2.is_empty()).then(|| String::from_utf8_lossy(req.path2).into_owned()),
            address: req.socket_addr().map(|a| a.to_string()),
            mode: req.mode,
            uid: req.uid,
            gid: req.gid,
            flags: if req.op == Op::Socket {
                req.family as u32
            } else {
                req.flags
            },
            allowed: d.is_allow(),
            reason: match &d {
                Decision::Deny {
                    reason: Some(r), ..
                } => Some(r.to_string()),
                _ => None,
            },
        });
        (d, audit)
    }

    /// Decides `req`; on allow runs `perform`. Audits per the decision.
    fn decide_then(&self, req: &Request<'_>, perform: impl FnOnce() -> Reply) -> Outcome {
        let (d, audit) = self.decide(req);
        let reply = match d {
            Decision::Deny { errno, .. } => Reply::Errno(errno),
            Decision::Allow { .. } if self.w.shared.mode == SupervisorMode::Naive => {
                Reply::Continue
            }
            Decision::Allow { .. } => perform(),
        };
        Outcome { reply, audit }
    }

    // ---- the open family ----

    fn openat2(&mut self, dirfd: i32, path: u64, how: u64, size: u64) -> Outcome {
        // struct open_how { u64 flags; u64 mode; u64 resolve; }
        if !(24..=4096).contains(&size) {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let mut raw = [0u8; 24];
        match notify::read_memory(self.n.pid, how, &mut raw) {
            Ok(24) => {}
            Ok(_) => return Outcome::reply(Reply::Errno(libc::EFAULT)),
            Err(e) => return Outcome::reply(Reply::Errno(e as i32)),
        }
        let word =
            |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let (flags, mode, resolve) = (word(0), word(1), word(2));
        if flags >> 32 != 0 || mode >> 12 != 0 {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        // openat2 refuses a mode without O_CREAT/O_TMPFILE.
        let creating =
            flags as i32 & libc::O_CREAT != 0 || flags as i32 & libc::O_TMPFILE == libc::O_TMPFILE;
        if mode != 0 && !creating {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let Some(resolve) = ResolveFlags::from_bits(resolve) else {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        };
        self.open(dirfd, path, flags as u32, mode as u32, resolve.bits())
    }

    fn open(&mut self, dirfd: i32, addr: u64, flags: u32, mode: u32, resolve: u64) -> Outcome {
        let len = match self.read_path(addr, Slot::First) {
            Ok(l) => l,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let path = self.path(Slot::First, len);
        match self.open_resolved(dirfd, &path, flags, mode, resolve) {
            Ok(o) => o,
            Err(e) => Outcome::reply(Reply::Errno(e)),
        }
    }

    fn open_resolved(
        &mut self,
        dirfd: i32,
        path: &[u8],
        flags: u32,
        mode: u32,
        resolve: u64,
    ) -> Result<Outcome, i32> {
        if path.is_empty() {
            return Err(libc::ENOENT);
        }
        let resolve = ResolveFlags::from_bits_retain(resolve);
        let oflags = OFlags::from_bits_retain(flags);
        let tmpfile = flags as i32 & libc::O_TMPFILE == libc::O_TMPFILE;
        let create = oflags.contains(OFlags::CREATE) && !tmpfile;
        let excl = create && oflags.contains(OFlags::EXCL);
        let op = if create || tmpfile {
            Op::Create
        } else {
            Op::Open
        };
        let cloexec = oflags.contains(OFlags::CLOEXEC);
        let base = self.base(dirfd, path, !resolve.is_empty())?;
        self.assume()?;
        let mut dir: Option<OwnedFd> = base;
        let mut path: Vec<u8> = path.to_vec();
        for _ in 0..MAX_SYMLINKS {
            let start = dir.as_ref().map(|d| d.as_fd()).unwrap_or(CWD);
            // Where the call lands, found by the kernel without opening it.
            let mut locate = OFlags::PATH | OFlags::CLOEXEC;
            locate |= oflags & (OFlags::NOFOLLOW | OFlags::DIRECTORY);
            if excl {
                // O_CREAT|O_EXCL never follows a final symlink.
                locate |= OFlags::NOFOLLOW;
            }
            if tmpfile {
                locate |= OFlags::DIRECTORY;
            }
            match rustix::fs::openat2(start, &path[..], locate, Mode::empty(), resolve) {
                Ok(found) => {
                    // Without O_NOFOLLOW the kernel followed a final symlink,
                    // so only then can `found` be one.
                    let is_symlink = locate.contains(OFlags::NOFOLLOW)
                        && rustix::fs::fstat(&found)
                            .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink)
                            .map_err(errno)?;
                    if is_symlink && !excl && !oflags.contains(OFlags::PATH) {
                        return Err(libc::ELOOP);
                    }
                    let canonical = self.canonical(found.as_fd())?;
                    let mut req = self.request(op, &canonical, b"");
                    req.flags = flags;
                    req.mode = mode;
                    let proc_dir = self.proc_dir();
                    return Ok(self.decide_then(&req, || {
                        if excl {
                            return Reply::Errno(libc::EEXIST);
                        }
                        if oflags.contains(OFlags::PATH) {
                            // ADDFD cannot pass O_PATH descriptors (the
                            // kernel's fget refuses them), and one gives no
                            // access to contents: every later use of it by
                            // path (/proc/self/fd/N, *at calls) is trapped
                            // and checked again.
                            drop(found);
                            return Reply::Continue;
                        }
                        // Re-open what was checked, with the caller's flags:
                        // permission checks happen here, as the caller.
                        let reopen = oflags
                            & !(OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC);
                        match rustix::fs::openat(
                            proc_dir,
                            fd_link(found.as_fd()).as_c_str(),
                            reopen | OFlags::CLOEXEC,
                            Mode::from_raw_mode(mode),
                        ) {
                            Ok(fd) => Reply::Fd { fd, cloexec },
                            Err(e) => Reply::Errno(errno(e)),
                        }
                    }));
                }
                Err(rustix::io::Errno::NOENT) if create => {
                    let start = dir.as_ref().map(|d| d.as_fd()).unwrap_or(CWD);
                    let entry = match self.entry(start, &path, resolve)? {
                        Some(e) => e,
                        None => return Err(libc::EISDIR),
                    };
                    let mut req = self.request(op, &entry.canonical, b"");
                    req.flags = flags;
                    req.mode = mode;
                    let (d, audit) = self.decide(&req);
                    match d {
                        Decision::Deny { errno, .. } => {
                            return Ok(Outcome {
                                reply: Reply::Errno(errno),
                                audit,
                            });
                        }
                        Decision::Allow { .. } if self.w.shared.mode == SupervisorMode::Naive => {
                            return Ok(Outcome {
                                reply: Reply::Continue,
                                audit,
                            });
                        }
                        Decision::Allow { .. } => {}
                    }
                    // Exactly the checked name: O_EXCL, so nothing that
                    // appeared meanwhile is followed or reused.
                    let create_flags = (oflags | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC)
                        & !OFlags::DIRECTORY;
                    match rustix::fs::openat(
                        &entry.parent,
                        &entry.name[..],
                        create_flags,
                        Mode::from_raw_mode(mode & 0o7777),
                    ) {
                        Ok(fd) => {
                            return Ok(Outcome {
                                reply: Reply::Fd { fd, cloexec },
                                audit,
                            });
                        }
                        Err(rustix::io::Errno::EXIST) if !excl => {
                            // Something appeared: a dangling symlink is
                            // followed as the kernel would (it creates the
                            // target), anything else is simply opened.
                            match rustix::fs::readlinkat(&entry.parent, &entry.name[..], Vec::new())
                            {
                                Ok(target) => {
                                    path = target.into_bytes();
                                    if path.first() == Some(&b'/') {
                                        dir = None;
                                    } else {
                                        dir = Some(entry.parent);
                                    }
                                }
                                Err(_) => {
                                    dir = Some(entry.parent);
                                    path = entry.name;
                                }
                            }
                            continue;
                        }
                        Err(e) => {
                            return Ok(Outcome {
                                reply: Reply::Errno(errno(e)),
                                audit,
                            });
                        }
                    }
                }
                Err(e) => return Err(errno(e)),
            }
        }
        Err(libc::ELOOP)
    }

    /// Resolves the parent directory of `path` (following symlinks, as the
    /// kernel does for every component but the last) and splits off the last
    /// component. `None` when the last component is `.`, `..` or empty.
    fn entry(
        &self,
        start: BorrowedFd<'_>,
        path: &[u8],
        resolve: ResolveFlags,
    ) -> Result<Option<Entry>, i32> {
        let trimmed_len = path
            .iter()
            .rposition(|&b| b != b'/')
            .map(|i| i + 1)
            .unwrap_or(0);
        if trimmed_len == 0 {
            return Ok(None);
        }
        let trimmed = &path[..trimmed_len];
        let (parent, last) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(0) => (&b"/"[..], &trimmed[1..]),
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (&b"."[..], trimmed),
        };
        if last == b"." || last == b".." {
            return Ok(None);
        }
        let parent_fd = rustix::fs::openat2(
            start,
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .map_err(errno)?;
        let mut canonical = self.canonical(parent_fd.as_fd())?;
        if canonical.last() != Some(&b'/') {
            canonical.push(b'/');
        }
        canonical.extend_from_slice(last);
        // Keep the trailing slash: the kernel gives it meaning (ENOTDIR for
        // a file, accepted for a directory).
        let mut name = last.to_vec();
        if trimmed_len < path.len() {
            name.push(b'/');
        }
        Ok(Some(Entry {
            parent: parent_fd,
            name,
            canonical,
        }))
    }

    /// Reads the path argument and resolves its parent, as the caller.
    fn entry_arg(&mut self, dirfd: i32, addr: u64, slot: Slot) -> Result<Named, i32> {
        let len = self.read_path(addr, slot)?;
        let path = self.path(slot, len);
        if path.is_empty() {
            return Err(libc::ENOENT);
        }
        let base = self.base(dirfd, &path, false)?;
        self.assume()?;
        let start = base.as_ref().map(|d| d.as_fd()).unwrap_or(CWD);
        let entry = self.entry(start, &path, ResolveFlags::empty())?;
        Ok(Named { entry, path, base })
    }

    /// The file a path names, following the final symlink unless
    /// `nofollow`, as an `O_PATH` descriptor, with its canonical path.
    fn target_arg(
        &mut self,
        dirfd: i32,
        addr: u64,
        nofollow: bool,
        empty_path: bool,
    ) -> Result<(OwnedFd, Vec<u8>), i32> {
        let len = self.read_path(addr, Slot::First)?;
        let path = self.path(Slot::First, len);
        if path.is_empty() && !empty_path {
            return Err(libc::ENOENT);
        }
        let base = self.base(dirfd, &path, path.is_empty())?;
        self.assume()?;
        let start = base.as_ref().map(|d| d.as_fd()).unwrap_or(CWD);
        let fd = if path.is_empty() {
            match base {
                Some(b) => b,
                None => return Err(libc::EBADF),
            }
        } else {
            let mut fl = OFlags::PATH | OFlags::CLOEXEC;
            if nofollow {
                fl |= OFlags::NOFOLLOW;
            }
            rustix::fs::openat(start, &path[..], fl, Mode::empty()).map_err(errno)?
        };
        let canonical = self.canonical(fd.as_fd())?;
        Ok((fd, canonical))
    }

    // ---- other file operations ----

    fn mkdir(&mut self, dirfd: i32, addr: u64, mode: u32) -> Outcome {
        let named = match self.entry_arg(dirfd, addr, Slot::First) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let (dir, name) = named.at();
        let mut req = self.request(Op::Mkdir, named.canonical().unwrap_or_default(), b"");
        req.mode = mode;
        self.decide_then(&req, || {
            result(rustix::fs::mkdirat(
                dir,
                name,
                Mode::from_raw_mode(mode & 0o7777),
            ))
        })
    }

    fn unlink(&mut self, dirfd: i32, addr: u64, flags: u32) -> Outcome {
        if flags & !(libc::AT_REMOVEDIR as u32) != 0 {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let op = if flags != 0 { Op::Rmdir } else { Op::Unlink };
        let named = match self.entry_arg(dirfd, addr, Slot::First) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let (dir, name) = named.at();
        let mut req = self.request(op, named.canonical().unwrap_or_default(), b"");
        req.flags = flags;
        let at = AtFlags::from_bits_retain(flags);
        self.decide_then(&req, || result(rustix::fs::unlinkat(dir, name, at)))
    }

    fn rename(&mut self, olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: u32) -> Outcome {
        let Some(rflags) = RenameFlags::from_bits(flags) else {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        };
        let old = match self.entry_arg(olddirfd, old, Slot::First) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let new = match self.entry_arg(newdirfd, new, Slot::Second) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let p1 = old.canonical().unwrap_or(&old.path);
        let p2 = new.canonical().unwrap_or(&new.path);
        let mut req = self.request(Op::Rename, p1, p2);
        req.flags = flags;
        let (od, on) = old.at();
        let (nd, nn) = new.at();
        self.decide_then(&req, || {
            result(rustix::fs::renameat_with(od, on, nd, nn, rflags))
        })
    }

    fn link(&mut self, olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: u32) -> Outcome {
        if flags & !((libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) as u32) != 0 {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        if flags & libc::AT_EMPTY_PATH as u32 != 0 {
            // Linking an open descriptor needs CAP_DAC_READ_SEARCH and is
            // not emulated: refused rather than let through unchecked.
            return Outcome::reply(Reply::Errno(libc::EPERM));
        }
        let follow = flags & libc::AT_SYMLINK_FOLLOW as u32 != 0;
        // The existing file: its own node (or what it points to with
        // AT_SYMLINK_FOLLOW).
        let (existing, existing_path) = match self.target_arg(olddirfd, old, !follow, false) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let Named {
            entry: new_entry, ..
        } = match self.entry_arg(newdirfd, new, Slot::Second) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let Some(new_entry) = new_entry else {
            return Outcome::reply(Reply::Errno(libc::EEXIST));
        };
        let mut req = self.request(Op::Link, &new_entry.canonical, &existing_path);
        req.flags = flags;
        let proc_dir = self.proc_dir();
        self.decide_then(&req, || {
            // Through the magic link of what was checked: the very inode.
            result(rustix::fs::linkat(
                proc_dir,
                fd_link(existing.as_fd()).as_c_str(),
                &new_entry.parent,
                &new_entry.name[..],
                AtFlags::SYMLINK_FOLLOW,
            ))
        })
    }

    fn symlink(&mut self, target: u64, newdirfd: i32, new: u64) -> Outcome {
        let tlen = match self.read_path(target, Slot::Second) {
            Ok(l) => l,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let target_text = self.w.path2_buf[..tlen].to_vec();
        let Named { entry, .. } = match self.entry_arg(newdirfd, new, Slot::First) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let Some(entry) = entry else {
            return Outcome::reply(Reply::Errno(libc::EEXIST));
        };
        let req = self.request(Op::Symlink, &entry.canonical, &target_text);
        self.decide_then(&req, || {
            result(rustix::fs::symlinkat(
                &target_text[..],
                &entry.parent,
                &entry.name[..],
            ))
        })
    }

    fn chmod(&mut self, dirfd: i32, addr: u64, mode: u32, flags: u32) -> Outcome {
        if flags & !(libc::AT_SYMLINK_NOFOLLOW as u32) != 0 {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let nofollow = flags != 0;
        let (fd, canonical) = match self.target_arg(dirfd, addr, nofollow, false) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let mut req = self.request(Op::Chmod, &canonical, b"");
        req.mode = mode;
        req.flags = flags;
        let proc_dir = self.proc_dir();
        self.decide_then(&req, || {
            if nofollow
                && rustix::fs::fstat(&fd)
                    .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink)
                    .unwrap_or(false)
            {
                return Reply::Errno(libc::EOPNOTSUPP);
            }
            result(rustix::fs::chmodat(
                proc_dir,
                fd_link(fd.as_fd()).as_c_str(),
                Mode::from_raw_mode(mode & 0o7777),
                AtFlags::empty(),
            ))
        })
    }

    fn chown(&mut self, dirfd: i32, addr: u64, uid: u32, gid: u32, flags: u32) -> Outcome {
        if flags & !((libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) as u32) != 0 {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW as u32 != 0;
        let empty = flags & libc::AT_EMPTY_PATH as u32 != 0;
        let (fd, canonical) = match self.target_arg(dirfd, addr, nofollow, empty) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let mut req = self.request(Op::Chown, &canonical, b"");
        req.owner_uid = uid;
        req.owner_gid = gid;
        req.flags = flags;
        self.decide_then(&req, || {
            let owner = (uid != u32::MAX).then(|| rustix::fs::Uid::from_raw(uid));
            let group = (gid != u32::MAX).then(|| rustix::fs::Gid::from_raw(gid));
            result(rustix::fs::chownat(
                &fd,
                "",
                owner,
                group,
                AtFlags::EMPTY_PATH,
            ))
        })
    }

    fn truncate(&mut self, addr: u64, length: i64) -> Outcome {
        let (fd, canonical) = match self.target_arg(libc::AT_FDCWD, addr, false, false) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let mut req = self.request(Op::Truncate, &canonical, b"");
        req.flags = libc::O_WRONLY as u32;
        let proc_dir = self.proc_dir();
        self.decide_then(&req, || {
            if length < 0 {
                return Reply::Errno(libc::EINVAL);
            }
            let is_dir = rustix::fs::fstat(&fd)
                .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                .unwrap_or(false);
            if is_dir {
                return Reply::Errno(libc::EISDIR);
            }
            match rustix::fs::openat(
                proc_dir,
                fd_link(fd.as_fd()).as_c_str(),
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(w) => result(rustix::fs::ftruncate(&w, length as u64)),
                Err(e) => Reply::Errno(errno(e)),
            }
        })
    }

    fn mknod(&mut self, dirfd: i32, addr: u64, mode: u32, dev: u64) -> Outcome {
        let Named { entry, .. } = match self.entry_arg(dirfd, addr, Slot::First) {
            Ok(x) => x,
            Err(e) => return Outcome::reply(Reply::Errno(e)),
        };
        let Some(entry) = entry else {
            return Outcome::reply(Reply::Errno(libc::EEXIST));
        };
        let mut req = self.request(Op::Mknod, &entry.canonical, b"");
        req.mode = mode;
        self.decide_then(&req, || {
            let kind = if mode & libc::S_IFMT == 0 {
                FileType::RegularFile
            } else {
                FileType::from_raw_mode(mode)
            };
            result(rustix::fs::mknodat(
                &entry.parent,
                &entry.name[..],
                kind,
                Mode::from_raw_mode(mode & 0o7777),
                dev as rustix::fs::Dev,
            ))
        })
    }

    /// execve cannot be emulated: decided on the resolved program, audited,
    /// then continued (the kernel reads the path again — documented).
    fn exec(&mut self, dirfd: i32, addr: u64, flags: u32) -> Outcome {
        let empty = flags & libc::AT_EMPTY_PATH as u32 != 0;
        let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW as u32 != 0;
        let resolved = self.target_arg(dirfd, addr, nofollow, empty);
        let path = match resolved {
            Ok((_, canonical)) => canonical,
            // Not found (or not allowed): the kernel will say so itself.
            Err(_) => match self.read_path(addr, Slot::First) {
                Ok(len) => self.w.path_buf[..len].to_vec(),
                Err(e) => return Outcome::reply(Reply::Errno(e)),
            },
        };
        let req = self.request(Op::Exec, &path, b"");
        let (d, audit) = self.decide(&req);
        let reply = match d {
            Decision::Deny { errno, .. } => Reply::Errno(errno),
            Decision::Allow { .. } => Reply::Continue,
        };
        Outcome { reply, audit }
    }

    // ---- sockets ----

    /// socket and listen take only integers: what was checked is what the
    /// kernel will use, so an allowed call is continued.
    fn socket(&mut self, family: u32, sock_type: u32, protocol: u32) -> Outcome {
        let mut req = self.request(Op::Socket, b"", b"");
        req.family = family as u16;
        req.sock_type = sock_type;
        req.protocol = protocol;
        let (d, audit) = self.decide(&req);
        let reply = match d {
            Decision::Deny { errno, .. } => Reply::Errno(errno),
            Decision::Allow { .. } => Reply::Continue,
        };
        Outcome { reply, audit }
    }

    fn listen(&mut self, _fd: i32) -> Outcome {
        let req = self.request(Op::Listen, b"", b"");
        let (d, audit) = self.decide(&req);
        let reply = match d {
            Decision::Deny { errno, .. } => Reply::Errno(errno),
            Decision::Allow { .. } => Reply::Continue,
        };
        Outcome { reply, audit }
    }

    /// connect, bind and sendto: the address is copied once, decided, and
    /// the call made on a duplicate of the caller's socket with that copy.
    fn sockaddr_call(
        &mut self,
        op: Op,
        fd: i32,
        addr: u64,
        addr_len: u32,
        payload: Option<(u64, u64, i32)>,
    ) -> Outcome {
        let addr_len = addr_len as usize;
        if addr_len > SOCKADDR_MAX {
            return Outcome::reply(Reply::Errno(libc::EINVAL));
        }
        let mut raw = [0u8; SOCKADDR_MAX];
        let raw = &mut raw[..addr_len];
        match notify::read_memory(self.n.pid, addr, raw) {
            Ok(n) if n == addr_len => {}
            Ok(_) => return Outcome::reply(Reply::Errno(libc::EFAULT)),
            Err(e) => return Outcome::reply(Reply::Errno(e as i32)),
        }
        let data = match payload {
            Some((buf, len, _)) => {
                let len = (len as usize).min(SENDTO_MAX);
                let mut data = vec![0u8; len];
                match notify::read_memory(self.n.pid, buf, &mut data) {
                    Ok(n) if n == len => {}
                    Ok(_) => return Outcome::reply(Reply::Errno(libc::EFAULT)),
                    Err(e) => return Outcome::reply(Reply::Errno(e as i32)),
                }
                Some(data)
            }
            None => None,
        };
        if !notify::id_valid(self.listener(), self.n.id) {
            return Outcome::reply(Reply::Errno(libc::EINTR));
        }
        let parsed = parse_sockaddr(raw);
        let mut req = self.request(op, b"", b"");
        let unix_path;
        match &parsed {
            SockAddr::Ip(sa) => req = req.with_socket_addr(*sa),
            SockAddr::Unix(p) => {
                unix_path = p.clone();
                req.family = wrun_policy::abi::AF_UNIX;
                req.path = &unix_path;
            }
            SockAddr::Other(family) => req.family = *family,
            SockAddr::Short => return Outcome::reply(Reply::Errno(libc::EINVAL)),
        }
        // The duplicate is taken with our own credentials (pidfd_getfd
        // needs ptrace rights over the caller).
        let dup =
            notify::pidfd_open(self.info.tgid).and_then(|p| notify::pidfd_getfd(p.as_fd(), fd));
        let cwd = match &parsed {
            SockAddr::Unix(p) if p.first().is_some_and(|&b| b != b'/' && b != b'@') => {
                self.base(libc::AT_FDCWD, b"", true).ok().flatten()
            }
            _ => None,
        };
        if let Err(e) = self.assume() {
            return Outcome::reply(Reply::Errno(e));
        }
        self.decide_then(&req, || {
            let sock = match dup {
                Ok(s) => s,
                Err(e) => return Reply::Errno(e as i32),
            };
            // A relative AF_UNIX path is looked up from the caller's cwd.
            if let Some(c) = &cwd {
                if let Err(e) = nix::unistd::fchdir(c) {
                    return Reply::Errno(e as i32);
                }
            }
            let r = match (op, &data, payload) {
                (Op::Connect, _, _) => notify::connect_raw(sock.as_fd(), raw).map(|()| 0),
                (Op::Bind, _, _) => notify::bind_raw(sock.as_fd(), raw).map(|()| 0),
                (_, Some(d), Some((_, _, flags))) => {
                    notify::sendto_raw(sock.as_fd(), d, flags, raw).map(|n| n as i64)
                }
                _ => Err(Errno::EINVAL),
            };
            if cwd.is_some() {
                let _ = nix::unistd::chdir("/");
            }
            match r {
                Ok(v) => Reply::Value(v),
                Err(e) => Reply::Errno(e as i32),
            }
        })
    }
}

/// `thread-self/fd/N` for one of our descriptors, relative to the host's
/// `/proc`.
fn fd_link(fd: BorrowedFd<'_>) -> PathBuffer {
    let mut p = PathBuffer::new();
    p.push(b"thread-self/fd/");
    p.push_u32(std::os::fd::AsRawFd::as_raw_fd(&fd) as u32);
    p
}

fn result(r: rustix::io::Result<()>) -> Reply {
    match r {
        Ok(()) => Reply::Value(0),
        Err(e) => Reply::Errno(errno(e)),
    }
}

/// `/proc/self` and `/proc/thread-self` name the supervisor in the
/// container's procfs, where it does not exist: they are rewritten to the
/// caller's ids as the container sees them.
pub(crate) fn rewrite_proc_self(path: &[u8], ns_tgid: u32, ns_tid: u32) -> Vec<u8> {
    let replace = |prefix: &[u8], with: String| -> Option<Vec<u8>> {
        let rest = path.strip_prefix(prefix)?;
        if !(rest.is_empty() || rest[0] == b'/') {
            return None;
        }
        let mut v = with.into_bytes();
        v.extend_from_slice(rest);
        Some(v)
    };
    replace(b"/proc/self", format!("/proc/{ns_tgid}"))
        .or_else(|| {
            replace(
                b"/proc/thread-self",
                format!("/proc/{ns_tgid}/task/{ns_tid}"),
            )
        })
        .unwrap_or_else(|| path.to_vec())
}

/// A socket address as copied from the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SockAddr {
    Ip(std::net::SocketAddr),
    /// An `AF_UNIX` path; abstract names start with `@`.
    Unix(Vec<u8>),
    Other(u16),
    Short,
}

pub(crate) fn parse_sockaddr(raw: &[u8]) -> SockAddr {
    if raw.len() < 2 {
        return SockAddr::Short;
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    match i32::from(family) {
        libc::AF_INET if raw.len() >= 16 => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let ip = std::net::Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            SockAddr::Ip((ip, port).into())
        }
        libc::AF_INET6 if raw.len() >= 24 => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&raw[8..24]);
            SockAddr::Ip((std::net::Ipv6Addr::from(a), port).into())
        }
        libc::AF_INET | libc::AF_INET6 => SockAddr::Short,
        libc::AF_UNIX => {
            let p = &raw[2..];
            if p.first() == Some(&0) {
                let mut v = b"@".to_vec();
                v.extend_from_slice(&p[1..]);
                SockAddr::Unix(v)
            } else {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                SockAddr::Unix(p[..end].to_vec())
            }
        }
        _ => SockAddr::Other(family),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_becomes_the_callers_pid() {
        assert_eq!(rewrite_proc_self(b"/proc/self/fd/3", 7, 9), b"/proc/7/fd/3");
        assert_eq!(rewrite_proc_self(b"/proc/self", 7, 9), b"/proc/7");
        assert_eq!(
            rewrite_proc_self(b"/proc/thread-self/x", 7, 9),
            b"/proc/7/task/9/x"
        );
        assert_eq!(rewrite_proc_self(b"/proc/selfish", 7, 9), b"/proc/selfish");
        assert_eq!(rewrite_proc_self(b"etc/passwd", 7, 9), b"etc/passwd");
    }

    #[test]
    fn socket_addresses_decode() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&8080u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            parse_sockaddr(&v4),
            SockAddr::Ip("10.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(parse_sockaddr(&v4[..8]), SockAddr::Short);
        let mut un = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        un.extend_from_slice(b"/run/x.sock\0junk");
        assert_eq!(parse_sockaddr(&un), SockAddr::Unix(b"/run/x.sock".to_vec()));
        let mut abs = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0name");
        assert_eq!(parse_sockaddr(&abs), SockAddr::Unix(b"@name".to_vec()));
        assert_eq!(parse_sockaddr(&[1]), SockAddr::Short);
        let other = (libc::AF_NETLINK as u16).to_ne_bytes();
        assert_eq!(
            parse_sockaddr(&other),
            SockAddr::Other(libc::AF_NETLINK as u16)
        );
    }
}
