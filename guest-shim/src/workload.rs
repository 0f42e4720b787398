//! Starting the workload: everything between `fork` and `execve`.
//!
//! The child becomes a session leader (and takes the pty as controlling
//! terminal), sets rlimits, enters `cwd` (created if missing, as Docker does
//! for WORKDIR), drops the bounding set, switches user and groups while
//! keeping capabilities (`PR_SET_KEEPCAPS`), sets the effective,
//! inheritable, permitted and ambient sets, sets `no_new_privs`, installs
//! the seccomp filter last and execs `args[0]` found in the *spec's* PATH.
//! Without `no_new_privs`, the filter must be installed while
//! `CAP_SYS_ADMIN` is still held (seccomp(2)), so it goes in before the
//! privileges are dropped, as runc does.
//!
//! A failure is written to a close-on-exec pipe as one code byte and
//! Docker's message; end-of-file on the pipe means the exec happened.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{
    Gid, Pid, Uid, dup2_stderr, dup2_stdin, dup2_stdout, setgroups, setresgid, setresuid,
};
use oci_spec::runtime::{PosixRlimitType, Spec};
use wrun_sys::process::{Forked, TaskDir, fork_checked};

use crate::Error;
use crate::error::exec_code;
use crate::user::{self, ExecUser};

/// Docker's PATH when the spec's environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The annotation carrying Docker's unresolved `--user` value.
pub const USER_ANNOTATION: &str = "run.wrun.user";

/// The annotation listing the system calls a policy traps (comma-separated).
pub const TRAP_ANNOTATION: &str = "run.wrun.trap";

/// The annotation carrying the policy's Landlock ruleset (JSON, see
/// `wrun_sys::landlock::RulesetSpec`).
pub const LANDLOCK_ANNOTATION: &str = "run.wrun.landlock";

/// Capability sets to apply.
#[derive(Debug, Default)]
struct Caps {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

/// Everything the child needs, prepared in the shim so the child only makes
/// system calls.
#[derive(Debug)]
pub struct Plan {
    argv: Vec<CString>,
    env: Vec<CString>,
    arg0: String,
    path_env: String,
    cwd: PathBuf,
    user: ExecUser,
    caps: Option<Caps>,
    rlimits: Vec<(Resource, u64, u64)>,
    oom_score_adj: Option<i32>,
    no_new_privs: bool,
    seccomp: Option<(Vec<libc::sock_filter>, u32)>,
    /// The policy layer's trap filter (annotation `run.wrun.trap`),
    /// installed after `seccomp`; its listener goes to `listener_sock`.
    trap: Option<Vec<libc::sock_filter>>,
    /// The policy's Landlock ruleset (annotation `run.wrun.landlock`),
    /// built here with the container's paths and applied just before the
    /// seccomp filters.
    landlock: Option<wrun_sys::landlock::Ruleset>,
    /// Where the seccomp listener goes (`WRUN_SECCOMP_FD`), if the filter has one.
    listener_sock: Option<UnixStream>,
    /// The pty slave, with `process.terminal`.
    pub tty: Option<OwnedFd>,
    /// The shim's signal mask before setup, restored for the workload.
    sigmask: SigSet,
    /// `process.user.umask`, or 022 as runc and Docker give.
    umask: Mode,
}

fn cstr(s: &str, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} contains a NUL byte: {s:?}")))
}

fn cap_set(names: Option<&oci_spec::runtime::Capabilities>) -> Result<CapsHashSet, Error> {
    let mut out = CapsHashSet::new();
    for c in names.into_iter().flatten() {
        let name = format!("CAP_{c}");
        out.insert(
            name.parse()
                .map_err(|_| Error::Spec(format!("unknown capability {name}")))?,
        );
    }
    Ok(out)
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Build the plan, after `pivot_root` (the user is resolved in the image).
pub fn plan(
    spec: &Spec,
    tty: Option<OwnedFd>,
    listener_sock: Option<UnixStream>,
    sigmask: SigSet,
) -> Result<Plan, Error> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process is missing".into()))?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let arg0 = args
        .first()
        .ok_or_else(|| Error::Spec("process.args is empty".into()))?
        .clone();
    let argv = args
        .iter()
        .map(|a| cstr(a, "argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let env_list = process.env().as_deref().unwrap_or(&[]);

    let annotation = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(USER_ANNOTATION));
    let u = process.user();
    let user = match annotation {
        Some(v) => user::resolve(v)?,
        None if u.uid() == 0 && u.gid() == 0 && u.additional_gids().is_none() => user::resolve("")?,
        None => {
            let mut r = user::resolve(&u.uid().to_string())?;
            r.gid = u.gid();
            r.groups = u.additional_gids().clone().unwrap_or_default();
            r
        }
    };
    let mut env = Vec::with_capacity(env_list.len() + 1);
    let mut path_env = None;
    let mut has_home = false;
    for e in env_list {
        if let Some(p) = e.strip_prefix("PATH=") {
            path_env = Some(p.to_owned());
        }
        has_home |= e.starts_with("HOME=");
        env.push(cstr(e, "environment variable")?);
    }
    if !has_home {
        env.push(cstr(&format!("HOME={}", user.home), "HOME")?);
    }

    let caps = match process.capabilities() {
        None => None,
        Some(c) => Some(Caps {
            bounding: cap_set(c.bounding().as_ref())?,
            effective: cap_set(c.effective().as_ref())?,
            permitted: cap_set(c.permitted().as_ref())?,
            inheritable: cap_set(c.inheritable().as_ref())?,
            ambient: cap_set(c.ambient().as_ref())?,
        }),
    };
    let rlimits = process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| (rlimit_resource(r.typ()), r.soft(), r.hard()))
        .collect();
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        None => None,
        Some(s) => {
            let mut flags = wrun_sys::seccomp::filter_flags(s);
            if wrun_sys::seccomp::uses_notify(s) {
                if listener_sock.is_none() {
                    return Err(Error::Spec(
                        "seccomp SCMP_ACT_NOTIFY needs WRUN_SECCOMP_FD to pass the listener on"
                            .into(),
                    ));
                }
                flags |= wrun_sys::seccomp::flags::NEW_LISTENER;
            }
            Some((wrun_sys::seccomp::compile(s)?, flags))
        }
    };
    let trap = match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(TRAP_ANNOTATION))
    {
        Some(list) if !list.is_empty() => {
            if listener_sock.is_none() {
                return Err(Error::Spec(
                    "a policy's trap filter needs WRUN_SECCOMP_FD to pass the listener on".into(),
                ));
            }
            let names: Vec<&str> = list.split(',').collect();
            Some(wrun_sys::seccomp::compile(&wrun_sys::seccomp::trap_table(
                &names,
            ))?)
        }
        _ => None,
    };
    let landlock = match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(LANDLOCK_ANNOTATION))
    {
        Some(json) => {
            let rules: wrun_sys::landlock::RulesetSpec = serde_json::from_str(json)
                .map_err(|e| Error::Spec(format!("annotation {LANDLOCK_ANNOTATION}: {e}")))?;
            Some(rules.build()?)
        }
        None => None,
    };
    Ok(Plan {
        argv,
        env,
        arg0,
        path_env: path_env.unwrap_or_else(|| DEFAULT_PATH.to_owned()),
        cwd: process.cwd().clone(),
        user,
        caps,
        rlimits,
        oom_score_adj: process.oom_score_adj(),
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        seccomp,
        trap,
        landlock,
        listener_sock,
        tty,
        sigmask,
        umask: Mode::from_bits_truncate(process.user().umask().unwrap_or(0o022)),
    })
}

/// Fork the workload; returns its pid (in the caller's PID namespace) once
/// it has exec'd. `task` is the caller's `/proc/self/task`, opened while
/// `/proc` still named the caller.
pub fn start(mut plan: Plan, task: &TaskDir) -> Result<Pid, Error> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::step("pipe", e))?;
    match fork_checked(task)? {
        Forked::Child => {
            drop(r);
            let e = match child(&mut plan) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            let mut msg = vec![e.code() as u8];
            msg.extend_from_slice(e.to_string().as_bytes());
            let _ = nix::unistd::write(&w, &msg);
            wrun_sys::process::exit_now(e.code());
        }
        Forked::Parent(pid) => {
            drop(w);
            drop(plan.tty.take());
            let mut buf = Vec::new();
            let _ = std::fs::File::from(r).read_to_end(&mut buf);
            if let Some((&code, msg)) = buf.split_first() {
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(Error::Exec {
                    code: code as i32,
                    message: String::from_utf8_lossy(msg).into_owned(),
                });
            }
            Ok(pid)
        }
    }
}

fn child(plan: &mut Plan) -> Result<Infallible, Error> {
    nix::unistd::setsid().map_err(|e| Error::step("setsid", e))?;
    // The shim runs with umask 0; the workload (and a cwd made for it) not.
    umask(plan.umask);
    if let Some(tty) = plan.tty.take() {
        wrun_sys::pty::set_controlling_terminal(tty.as_fd())?;
        for f in [dup2_stdin, dup2_stdout, dup2_stderr] {
            f(&tty).map_err(|e| Error::step("dup2 pty slave", e))?;
        }
    }
    for &(res, soft, hard) in &plan.rlimits {
        set_rlimit(res, soft, hard)?;
    }
    if let Some(adj) = plan.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            Error::step(
                format!("write oom_score_adj {adj}"),
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })?;
    }
    match nix::unistd::chdir(&plan.cwd) {
        Ok(()) => {}
        Err(Errno::ENOENT) => {
            std::fs::create_dir_all(&plan.cwd).map_err(|e| {
                Error::step(
                    format!("mkdir {}", plan.cwd.display()),
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                )
            })?;
            nix::unistd::chdir(&plan.cwd)
                .map_err(|e| Error::step(format!("chdir to cwd ({})", plan.cwd.display()), e))?;
        }
        Err(e) => {
            return Err(Error::step(
                format!("chdir to cwd ({})", plan.cwd.display()),
                e,
            ));
        }
    }
    if !plan.no_new_privs {
        install_seccomp(plan)?;
    }
    if let Some(c) = &plan.caps {
        for cap in caps::all() {
            if !c.bounding.contains(&cap) {
                // EINVAL: the running kernel does not know this capability.
                match caps::drop(None, CapSet::Bounding, cap) {
                    Ok(()) => {}
                    Err(_) if !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) => {}
                    Err(e) => {
                        return Err(Error::Caps(format!("drop {cap} from bounding set: {e}")));
                    }
                }
            }
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| Error::step("prctl PR_SET_KEEPCAPS", e))?;
    let u = &plan.user;
    let groups: Vec<Gid> = u.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| Error::step(format!("setgroups {:?}", u.groups), e))?;
    let gid = Gid::from_raw(u.gid);
    setresgid(gid, gid, gid).map_err(|e| Error::step(format!("setgid {}", u.gid), e))?;
    let uid = Uid::from_raw(u.uid);
    setresuid(uid, uid, uid).map_err(|e| Error::step(format!("setuid {}", u.uid), e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| Error::step("prctl PR_SET_KEEPCAPS", e))?;
    if let Some(c) = &plan.caps {
        for (set, value, name) in [
            (CapSet::Effective, &c.effective, "effective"),
            (CapSet::Inheritable, &c.inheritable, "inheritable"),
            (CapSet::Permitted, &c.permitted, "permitted"),
            (CapSet::Ambient, &c.ambient, "ambient"),
        ] {
            caps::set(None, set, value).map_err(|e| Error::Caps(format!("set {name}: {e}")))?;
        }
    }
    if plan.no_new_privs {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| Error::step("prctl PR_SET_NO_NEW_PRIVS", e))?;
        install_seccomp(plan)?;
    }
    let exe = lookup(&plan.arg0, &plan.path_env)?;
    wrun_sys::fs::close_range(3, u32::MAX, wrun_sys::fs::close_range_flags::CLOEXEC)?;
    wrun_sys::process::reset_signal_dispositions()?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&plan.sigmask), None)
        .map_err(|e| Error::step("sigprocmask", e))?;
    let Err(e) = nix::unistd::execve(&exe, &plan.argv, &plan.env);
    let message = format!("exec {}: {}", exe.to_string_lossy(), wrun_sys::OsError(e));
    Err(Error::Exec {
        code: exec_code(&message),
        message,
    })
}

/// Applies the policy's Landlock ruleset (if any), then installs the
/// container's filter, then the policy's trap filter last (the kernel runs
/// every filter and takes the strictest answer, so the container's denials
/// stand), and sends the listener on. Landlock, like a filter, needs
/// `no_new_privs` or `CAP_SYS_ADMIN`: this runs at the same point.
fn install_seccomp(plan: &mut Plan) -> Result<(), Error> {
    if let Some(ruleset) = plan.landlock.take() {
        ruleset.restrict_self()?;
    }
    if let Some((prog, flags)) = &plan.seccomp {
        let listener = wrun_sys::seccomp::install(prog, *flags)?;
        if let Some(listener) = &listener
            && let Some(sock) = plan.listener_sock.take()
        {
            wrun_sys::fd::send_fd(&sock, listener.as_fd(), b"seccomp")?;
        }
        // Our copy of the listener closes here: the workload must never
        // hold it.
        drop(listener);
    }
    if let Some(prog) = &plan.trap {
        let listener = wrun_sys::seccomp::install(prog, wrun_sys::seccomp::flags::NEW_LISTENER)?;
        if let (Some(listener), Some(sock)) = (&listener, plan.listener_sock.take()) {
            wrun_sys::fd::send_fd(&sock, listener.as_fd(), b"seccomp")?;
        }
        drop(listener);
    }
    Ok(())
}

/// setrlimit, clamped to the current hard limit when raising it is refused
/// (no CAP_SYS_RESOURCE in the host's bounding set: see NOTES-kernel.md).
fn set_rlimit(res: Resource, soft: u64, hard: u64) -> Result<(), Error> {
    match setrlimit(res, soft, hard) {
        Err(Errno::EPERM) => {
            let (_, max) =
                getrlimit(res).map_err(|e| Error::step(format!("getrlimit {res:?}"), e))?;
            setrlimit(res, soft.min(max), hard.min(max))
                .map_err(|e| Error::step(format!("setrlimit {res:?}"), e))
        }
        r => r.map_err(|e| Error::step(format!("setrlimit {res:?} {soft}:{hard}"), e)),
    }
}

/// Go's `exec.LookPath` (what runc uses), with Docker's wording.
fn lookup(arg0: &str, path_env: &str) -> Result<CString, Error> {
    let fail = |message: String| Error::Exec {
        code: exec_code(&message),
        message,
    };
    let executable = |p: &std::path::Path| -> Result<(), Errno> {
        let md =
            std::fs::metadata(p).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    };
    if arg0.contains('/') {
        return match executable(arg0.as_ref()) {
            Ok(()) => cstr(arg0, "args[0]"),
            Err(Errno::EACCES) => Err(fail(format!("exec: \"{arg0}\": permission denied"))),
            Err(e) => Err(fail(format!(
                "exec: \"{arg0}\": stat {arg0}: {}",
                wrun_sys::OsError(e)
            ))),
        };
    }
    for dir in path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = format!("{dir}/{arg0}");
        if executable(cand.as_ref()).is_ok() {
            return cstr(&cand, "args[0]");
        }
    }
    Err(fail(format!(
        "exec: \"{arg0}\": executable file not found in $PATH"
    )))
}
