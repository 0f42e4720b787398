//! One worker of the pool: its own file-system context, chrooted into the
//! container's root; a loop of receive, handle, answer, audit.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rustix::fs::{Mode as FileMode, OFlags};
use wrun_policy::{Decision, PolicyInstance, Request};
use wrun_sys::notify::{self, Notification};
use wrun_sys::thread_creds::ThreadCreds;

use crate::audit::{AuditLog, Record};
use crate::emulate::{self, Outcome, Reply};
use crate::procinfo::StatusFiles;
use crate::{Config, Error, Mode};

thread_local! {
    /// Each worker's buffer for the decision cache's key.
    static KEY_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most cached decisions kept before the cache is cleared.
const CACHE_MAX: usize = 4096;

/// What the workers share.
pub(crate) struct Shared {
    pub listener: OwnedFd,
    /// The host's `/proc`, opened before any worker chroots.
    pub proc_dir: OwnedFd,
    instance: Mutex<PolicyInstance>,
    cache: Option<Mutex<HashMap<Box<[u8]>, Decision>>>,
    audit: AuditLog,
    policy_name: String,
    module: String,
    pub mode: Mode,
}

impl Shared {
    pub fn new(listener: OwnedFd, config: &Config, audit: AuditLog) -> Result<Shared, Error> {
        let proc_dir = rustix::fs::open(
            "/proc",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .map_err(|e| Error::Sys {
            what: "open /proc",
            source: Errno::from_raw(e.raw_os_error()),
        })?;
        Ok(Shared {
            listener,
            proc_dir,
            instance: Mutex::new(config.policy.instantiate()?),
            cache: config
                .policy
                .interest()
                .cacheable
                .then(|| Mutex::new(HashMap::new())),
            audit,
            policy_name: config.policy_name.clone(),
            module: format!("sha256:{}", config.policy.hash()),
            mode: config.mode,
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Asks the policy (or the cache) about `req`.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let Some(cache) = &self.cache else {
            return self.lock_instance().decide(req);
        };
        KEY_BUF.with_borrow_mut(|key| self.decide_cached(cache, req, key))
    }

    /// The cached path of [`Shared::decide`]; `key` is the worker thread's
    /// buffer for the encoded request (the cache's key), so a hit
    /// allocates nothing.
    fn decide_cached(
        &self,
        cache: &Mutex<HashMap<Box<[u8]>, Decision>>,
        req: &Request<'_>,
        key: &mut Vec<u8>,
    ) -> Decision {
        key.clear();
        key.resize(req.encoded_len(), 0);
        if req.encode_into(key).is_err() {
            return self.lock_instance().decide(req);
        }
        if let Some(d) = cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key[..])
        {
            return d.clone();
        }
        let d = self.lock_instance().decide(req);
        // A failed call is not the policy's answer: never cache it.
        if !matches!(
            d,
            Decision::Deny {
                reason: Some(_),
                ..
            }
        ) {
            let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(key[..].into(), d.clone());
        }
        d
    }

    fn lock_instance(&self) -> std::sync::MutexGuard<'_, PolicyInstance> {
        // A panic while holding it cannot leave the instance half-used: the
        // engine replaces an instance after any failed call.
        self.instance.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Per-thread state.
pub(crate) struct Worker<'a> {
    pub shared: &'a Shared,
    /// This thread's credentials: its own, or (after the first emulated
    /// call) the last caller's, kept until a caller with others comes.
    pub creds: ThreadCreds,
    /// The umask this thread holds (the last caller's).
    pub umask: Option<u32>,
    /// Whether this thread has entered the container's root yet.
    rooted: bool,
    /// Reused buffers: the hot path allocates as little as it can.
    pub path_buf: Vec<u8>,
    pub path2_buf: Vec<u8>,
    /// The callers' status files, kept open.
    pub status: StatusFiles,
}

/// The worker thread's body.
pub(crate) fn run(shared: &Shared) {
    // Our own root, cwd and umask, so chroot and umask touch only us.
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS) {
        tracing::error!("supervisor worker: unshare(CLONE_FS): {e}");
        return;
    }
    let creds = match ThreadCreds::current() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("supervisor worker: reading credentials: {e}");
            return;
        }
    };
    let mut w = Worker {
        shared,
        creds,
        umask: None,
        rooted: false,
        path_buf: vec![0; wrun_policy::abi::PATH_MAX + 1],
        path2_buf: vec![0; wrun_policy::abi::PATH_MAX + 1],
        status: StatusFiles::default(),
    };
    // Each worker sleeps in RECV itself: the kernel wakes the sleepers when
    // a call is trapped and one of them takes it. A poll() first would cost
    // a system call and a return to user space per wake-up.
    loop {
        let n = match notify::receive(shared.listener()) {
            Ok(n) => n,
            // ENOENT: another worker took it, its task vanished, or (6.6+)
            // every process under the filter is gone — which poll tells.
            Err(Errno::ENOENT) if hung_up(shared.listener()) => return,
            Err(Errno::ENOENT | Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => {
                tracing::error!("supervisor worker: receive: {e}");
                return;
            }
        };
        w.handle(n);
    }
}

/// Whether every process under the filter has exited (the listener reports
/// a hang-up and holds no pending call).
fn hung_up(listener: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(listener, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => {
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            !revents.contains(PollFlags::POLLIN)
                && revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)
        }
        Err(_) => false,
    }
}

impl Worker<'_> {
    /// Enters the container's root the first time a notification comes.
    fn enter_root(&mut self, pid: u32) -> Result<(), Errno> {
        if self.rooted {
            return Ok(());
        }
        let mut name = crate::procinfo::PathBuffer::new();
        name.push_u32(pid);
        name.push(b"/root");
        let root = rustix::fs::openat(
            &self.shared.proc_dir,
            name.as_c_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .map_err(|e| Errno::from_raw(e.raw_os_error()))?;
        nix::unistd::fchdir(&root)?;
        nix::unistd::chroot(".")?;
        nix::unistd::chdir("/")?;
        self.rooted = true;
        Ok(())
    }

    fn handle(&mut self, n: Notification) {
        let t0 = Instant::now();
        let listener = self.shared.listener();
        // Our own capabilities for reading the caller (one capset when the
        // last caller's are held); its credentials are taken on again just
        // before the call is performed.
        let outcome = match self.creds.privileged() {
            Err(e) => {
                tracing::error!("supervisor worker: taking back its capabilities: {e}");
                Outcome::reply(Reply::Errno(libc::EPERM))
            }
            Ok(()) => match self.enter_root(n.pid) {
                Ok(()) => emulate::handle(self, &n),
                Err(e) => {
                    tracing::warn!("supervisor: cannot enter the root of pid {}: {e}", n.pid);
                    Outcome::reply(Reply::Errno(libc::EPERM))
                }
            },
        };
        let errno = match &outcome.reply {
            Reply::Value(v) => {
                let _ = notify::respond(listener, n.id, *v, 0);
                0
            }
            Reply::Errno(e) => {
                let _ = notify::respond(listener, n.id, 0, *e);
                *e
            }
            Reply::Fd { fd, cloexec } => {
                match notify::add_fd_and_send(listener, n.id, fd.as_fd(), *cloexec) {
                    Ok(_) => 0,
                    // The task was interrupted or killed: nothing to answer.
                    Err(Errno::ENOENT) => libc::EINTR,
                    Err(e) => {
                        let _ = notify::respond(listener, n.id, 0, e as i32);
                        e as i32
                    }
                }
            }
            Reply::Continue => {
                let _ = notify::continue_call(listener, n.id);
                0
            }
        };
        if let Some(audit) = outcome.audit {
            self.shared.audit.write(&Record {
                time: crate::audit::now(),
                pid: audit.pid,
                op: audit.op.name().to_owned(),
                syscall: emulate::syscall_name(n.nr).to_owned(),
                path: audit.path,
                path2: audit.path2,
                address: audit.address,
                flags: audit.flags,
                mode: audit.mode,
                uid: audit.uid,
                gid: audit.gid,
                decision: if audit.allowed { "allow" } else { "deny" }.to_owned(),
                errno,
                reason: audit.reason,
                policy: self.shared.policy_name.clone(),
                module: self.shared.module.clone(),
                latency_us: t0.elapsed().as_micros() as u64,
            });
        }
    }
}
