//! Spawning a container's first process (the shim) in fresh namespaces.
//!
//! Why not `std::process::Command`: the shim must be PID 1 of a new PID
//! namespace, and only the process that *creates* a child can put that child
//! into a new PID namespace (`unshare(CLONE_NEWPID)` affects the caller's
//! future children, never the caller). So we create the child with
//! `clone3(2)` and `CLONE_NEWPID`, which also hands back a pidfd
//! (`CLONE_PIDFD`) that the caller can poll and signal without pid-reuse races.
//!
//! Between `clone3` and `execve` the child runs in a copy of a possibly
//! multi-threaded parent, so it may only make async-signal-safe system calls
//! and must not allocate: everything it needs (argument vectors, fd table,
//! cgroup files) is prepared in [`InitCommand`] before the clone.
//!
//! The child, in order: joins the cgroups (writes `0` to each pre-opened
//! v1 `tasks` or v2 `cgroup.procs` file), unblocks all signals and resets SIGPIPE (Rust's runtime
//! ignores it, and an ignored disposition survives exec), installs the fd
//! table, and execs. Any failure is reported as an errno on a close-on-exec
//! pipe, so the caller learns whether the exec happened.
#![allow(
    unsafe_code,
    reason = "clone3 and the pre-exec child need raw system calls"
)]

use std::ffi::{CString, NulError};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::Pid;

/// What went wrong while spawning.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("argument or environment string contains a NUL byte: {0}")]
    Nul(#[from] NulError),
    #[error("creating the status pipe: {0}")]
    Pipe(Errno),
    #[error("clone3 with flags {flags:#x}: {errno}")]
    Clone { flags: u64, errno: Errno },
    #[error("joining the container's cgroup: {0}")]
    JoinCgroup(Errno),
    #[error("starting a new session in the child: {0}")]
    Session(Errno),
    #[error("asking for SIGKILL on the parent's death: {0}")]
    ParentDeathSignal(Errno),
    #[error("setting up file descriptors in the child: {0}")]
    Fds(Errno),
    #[error("executing {program}: {errno}")]
    Exec { program: String, errno: Errno },
}

/// A fully prepared command: nothing is allocated after the clone.
#[derive(Debug)]
pub struct InitCommand {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// `(source, target)` pairs: `source` becomes fd `target` in the child.
    fds: Vec<(RawFd, RawFd)>,
    cgroup_procs: Vec<OwnedFd>,
    cgroup_dir: Option<OwnedFd>,
    flags: u64,
    new_session: bool,
    die_with_parent: bool,
    wait_for_exec: bool,
}

/// Namespace flags the init can be created with.
pub mod flags {
    pub const NEW_PID: u64 = libc::CLONE_NEWPID as u64;
    pub const NEW_NS: u64 = libc::CLONE_NEWNS as u64;
    pub const NEW_UTS: u64 = libc::CLONE_NEWUTS as u64;
    pub const NEW_IPC: u64 = libc::CLONE_NEWIPC as u64;
    pub const NEW_NET: u64 = libc::CLONE_NEWNET as u64;
}

impl InitCommand {
    /// A command running `program` with `argv` (including argv\[0\]) and
    /// exactly the environment `env`.
    pub fn new<S: AsRef<str>>(program: &Path, argv: &[S], env: &[S]) -> Result<Self, SpawnError> {
        Ok(Self {
            program: CString::new(program.as_os_str().as_bytes())?,
            argv: argv
                .iter()
                .map(|a| CString::new(a.as_ref()))
                .collect::<Result<_, _>>()?,
            envp: env
                .iter()
                .map(|e| CString::new(e.as_ref()))
                .collect::<Result<_, _>>()?,
            fds: Vec::new(),
            cgroup_procs: Vec::new(),
            cgroup_dir: None,
            flags: 0,
            new_session: false,
            die_with_parent: false,
            wait_for_exec: true,
        })
    }

    /// Makes `source` (owned by the caller, kept open until `spawn` returns)
    /// appear as fd `target` in the child. Every fd not mapped here and
    /// marked close-on-exec is closed by the exec.
    pub fn map_fd(&mut self, source: &impl AsRawFd, target: RawFd) -> &mut Self {
        self.fds.push((source.as_raw_fd(), target));
        self
    }

    /// The child writes `0` into this open `cgroup.procs` (v2) or `tasks`
    /// (v1) file before exec, which moves it into that cgroup. The child has
    /// a single thread, so moving that thread (`tasks`) moves the process.
    pub fn join_cgroup(&mut self, procs: OwnedFd) -> &mut Self {
        self.cgroup_procs.push(procs);
        self
    }

    /// Creates the child directly in the cgroup v2 directory `dir`, an
    /// open (not `O_PATH`) directory fd: `clone3` with `CLONE_INTO_CGROUP`
    /// (Linux 5.7). Nothing is migrated afterwards, so the child does not
    /// take the kernel's global threadgroup lock and wait for its RCU grace
    /// period, as a write to `cgroup.procs` does.
    pub fn into_cgroup(&mut self, dir: OwnedFd) -> &mut Self {
        self.cgroup_dir = Some(dir);
        self
    }

    /// Makes the child the leader of a new session (`setsid`), detached from
    /// our controlling terminal: for processes that outlive the caller.
    pub fn new_session(&mut self) -> &mut Self {
        self.new_session = true;
        self
    }

    /// [`spawn`] returns as soon as the child exists, without waiting to
    /// learn whether its exec succeeded (a failed child just exits). For a
    /// best-effort helper the caller could not act on anyway: waiting means
    /// waiting until the child has been scheduled and exec'd, 1–14 ms on a
    /// busy machine.
    pub fn dont_wait_for_exec(&mut self) -> &mut Self {
        self.wait_for_exec = false;
        self
    }

    /// The child gets SIGKILL when the thread that spawned it exits
    /// (`PR_SET_PDEATHSIG`): a container whose monitor dies goes with it,
    /// instead of running on with nobody to log, restart or reap it.
    pub fn die_with_parent(&mut self) -> &mut Self {
        self.die_with_parent = true;
        self
    }

    /// Namespaces to create with the child (see [`flags`]).
    pub fn namespaces(&mut self, ns_flags: u64) -> &mut Self {
        self.flags = ns_flags;
        self
    }
}

/// A spawned init: its pid in our namespace and a pidfd for it.
#[derive(Debug)]
pub struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

/// The kernel's `struct clone_args` (linux/sched.h), version 2 layout.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3's flag (include/uapi/linux/sched.h); libc declares it as `c_int`
/// on glibc targets, which cannot hold it.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Error codes the child reports: the stage in the high byte, errno below.
const STAGE_CGROUP: i32 = 1 << 24;
const STAGE_FDS: i32 = 2 << 24;
const STAGE_EXEC: i32 = 3 << 24;
const STAGE_SESSION: i32 = 4 << 24;
const STAGE_PDEATHSIG: i32 = 5 << 24;

/// Creates the child and runs `cmd.program` in it.
///
/// Returns once the child has exec'd (or failed to).
pub fn spawn(cmd: &InitCommand) -> Result<Spawned, SpawnError> {
    let argv: Vec<*const libc::c_char> = cmd
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = cmd
        .envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // Fds are first duplicated above every source and target, so that the
    // second pass of dup2 never clobbers a source still to be moved.
    let high_water = cmd
        .fds
        .iter()
        .flat_map(|&(s, t)| [s, t])
        .chain(cmd.cgroup_procs.iter().map(|f| f.as_raw_fd()))
        .max()
        .unwrap_or(2)
        + 1;
    let mut scratch: Vec<RawFd> = vec![-1; cmd.fds.len()];

    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;

    let mut pidfd: RawFd = -1;
    let (into_cgroup, cgroup) = match &cmd.cgroup_dir {
        Some(dir) => (CLONE_INTO_CGROUP, dir.as_raw_fd() as u64),
        None => (0, 0),
    };
    let args = CloneArgs {
        flags: cmd.flags | libc::CLONE_PIDFD as u64 | into_cgroup,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; without
    // CLONE_VM the child gets a copy of our address space (fork semantics),
    // so no stack needs to be supplied. `pidfd` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 {
        return Err(SpawnError::Clone {
            flags: args.flags,
            errno: Errno::last(),
        });
    }
    if ret == 0 {
        // In the child: only async-signal-safe calls, no allocation.
        let code = child_after_clone(cmd, &argv, &envp, high_water, &mut scratch);
        let bytes = code.to_ne_bytes();
        // SAFETY: writing 4 bytes from a live stack buffer to our own pipe
        // end, then exiting without running the parent's destructors.
        unsafe {
            libc::write(report_write.as_raw_fd(), bytes.as_ptr().cast(), 4);
            libc::_exit(125);
        }
    }

    drop(report_write);
    // SAFETY: with CLONE_PIDFD the kernel stored a new fd that we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let pid = Pid::from_raw(ret as i32);

    if !cmd.wait_for_exec {
        return Ok(Spawned { pid, pidfd });
    }
    let mut buf = [0u8; 4];
    let n = read_full(&report_read, &mut buf);
    if n == 4 {
        let code = i32::from_ne_bytes(buf);
        let errno = Errno::from_raw(code & 0x00ff_ffff);
        // Reap the failed child so it leaves no zombie behind.
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(match code & !0x00ff_ffff {
            STAGE_CGROUP => SpawnError::JoinCgroup(errno),
            STAGE_FDS => SpawnError::Fds(errno),
            STAGE_SESSION => SpawnError::Session(errno),
            STAGE_PDEATHSIG => SpawnError::ParentDeathSignal(errno),
            _ => SpawnError::Exec {
                program: cmd.program.to_string_lossy().into_owned(),
                errno,
            },
        });
    }
    Ok(Spawned { pid, pidfd })
}

fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}

/// The child's side between clone and exec. Returns an error code (stage |
/// errno) only on failure; on success it never returns.
fn child_after_clone(
    cmd: &InitCommand,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    high_water: RawFd,
    scratch: &mut [RawFd],
) -> i32 {
    // SAFETY (whole function): only raw system calls on fds and buffers that
    // were prepared before the clone and stay valid in this copy of the
    // address space; nothing allocates or takes a lock.
    for procs in &cmd.cgroup_procs {
        // SAFETY: see above; a 1-byte write from a static buffer.
        let n = unsafe { libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) };
        if n != 1 {
            return STAGE_CGROUP | Errno::last_raw();
        }
    }
    // SAFETY: setsid takes no arguments; we are a fresh child, so never a
    // process group leader and it cannot fail with EPERM.
    if cmd.new_session && unsafe { libc::setsid() } < 0 {
        return STAGE_SESSION | Errno::last_raw();
    }
    if cmd.die_with_parent {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
        if rc < 0 {
            return STAGE_PDEATHSIG | Errno::last_raw();
        }
    }
    // SAFETY: an empty set built on the stack; resetting dispositions we
    // own in this child.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    for (i, &(source, _)) in cmd.fds.iter().enumerate() {
        // SAFETY: duplicating an fd the parent keeps open for us.
        let fd = unsafe { libc::fcntl(source, libc::F_DUPFD_CLOEXEC, high_water) };
        if fd < 0 {
            return STAGE_FDS | Errno::last_raw();
        }
        scratch[i] = fd;
    }
    for (i, &(_, target)) in cmd.fds.iter().enumerate() {
        // SAFETY: dup2 onto the requested number; the result is not
        // close-on-exec, which is what we want for mapped fds.
        if unsafe { libc::dup2(scratch[i], target) } < 0 {
            return STAGE_FDS | Errno::last_raw();
        }
    }
    // SAFETY: argv and envp are NUL-terminated arrays of pointers to live
    // C strings owned by `cmd`.
    unsafe { libc::execve(cmd.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    STAGE_EXEC | Errno::last_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_reports_exec_failure() {
        let cmd = InitCommand::new(Path::new("/nonexistent/program"), &["x"], &[]).unwrap();
        match spawn(&cmd) {
            Err(SpawnError::Exec { errno, .. }) => assert_eq!(errno, Errno::ENOENT),
            other => panic!("expected exec error, got {other:?}"),
        }
    }

    #[test]
    fn spawn_without_waiting_for_exec_still_runs_the_program() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd =
            InitCommand::new(Path::new("/bin/sh"), &["sh", "-c", "echo ok >&7"], &[]).unwrap();
        cmd.map_fd(&w, 7).dont_wait_for_exec();
        let child = spawn(&cmd).unwrap();
        drop(w);
        let status = nix::sys::wait::waitpid(child.pid, None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child.pid, 0));
        let mut buf = [0u8; 3];
        assert_eq!(read_full(&r, &mut buf), 3);
        assert_eq!(&buf, b"ok\n");
    }

    /// Needs root and a cgroup2 mount (`/sys/fs/cgroup` on v2 hosts,
    /// `/sys/fs/cgroup/unified` on hybrid ones); skipped without them.
    #[test]
    fn spawn_into_a_v2_cgroup() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let Some(mount) = mountinfo.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4))?
        }) else {
            eprintln!("skipped: no cgroup2 mount");
            return;
        };
        let name = format!("wrun-sys-spawn-test-{}", std::process::id());
        let dir = Path::new(mount).join(&name);
        std::fs::create_dir(&dir).unwrap();
        let dir_fd = OwnedFd::from(std::fs::File::open(&dir).unwrap());
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd = InitCommand::new(
            Path::new("/bin/sh"),
            &["sh", "-c", "cat /proc/self/cgroup >&7"],
            &[],
        )
        .unwrap();
        cmd.map_fd(&w, 7).into_cgroup(dir_fd);
        let spawned = spawn(&cmd);
        drop(cmd);
        drop(w);
        let out = spawned.map(|child| {
            let status = nix::sys::wait::waitpid(child.pid, None).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut text).unwrap();
            (status, child.pid, text)
        });
        std::fs::remove_dir(&dir).unwrap();
        let (status, pid, text) = out.unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
        assert!(
            text.lines()
                .any(|l| l.starts_with("0::/") && l.ends_with(&name)),
            "{text}"
        );
    }

    #[test]
    fn spawn_runs_program_and_maps_fds() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd =
            InitCommand::new(Path::new("/bin/sh"), &["sh", "-c", "echo hi >&7"], &[]).unwrap();
        cmd.map_fd(&w, 7);
        let child = spawn(&cmd).unwrap();
        drop(w);
        let status = nix::sys::wait::waitpid(child.pid, None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child.pid, 0));
        let mut buf = [0u8; 3];
        assert_eq!(read_full(&r, &mut buf), 3);
        assert_eq!(&buf, b"hi\n");
    }
}
