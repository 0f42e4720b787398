//! wrun-shim: PID 1 of a wrun container.
//!
//! `wrun-shim <bundle-dir>` reads `<bundle-dir>/config.json` (an OCI
//! runtime spec) and implements the shim contract of docs/contracts.md: the
//! runtime started it as PID 1 of a new PID namespace, already in the
//! container's cgroups; the shim makes the other namespaces and the root
//! file system ([`rootfs`]), resolves the user ([`user`]), starts the
//! workload with its credentials, capabilities and seccomp filter
//! ([`workload`]), reports on `WRUN_STATUS_FD` ([`status`]) and then stays
//! as init ([`init`]).
//!
//! `wrun-shim exec <bundle-dir> <request>` runs one more process in a
//! running container ([`exec`]): it joins the container's namespaces and
//! starts the process the same way as the first one.
//!
//! It runs on every container start, so it stays lean: one thread, no
//! async runtime, the spec parsed once, and few system calls.
#![forbid(unsafe_code)]

mod error;
mod exec;
mod init;
mod rootfs;
mod status;
mod user;
mod workload;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, umask};
use oci_spec::runtime::Spec;
use wrun_sys::process::TaskDir;

pub use error::Error;
use status::Status;

const USAGE: &str = "usage: wrun-shim <bundle-dir> | wrun-shim exec <bundle-dir> <request-json>";

fn main() {
    let mut status = match Status::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wrun-shim: {e}");
            std::process::exit(125);
        }
    };
    let code = match run(&mut status) {
        Ok(code) => code,
        Err(e) => {
            status.error(e.code(), &e.to_string());
            e.code()
        }
    };
    std::process::exit(code);
}

/// A descriptor named by an environment variable, if set.
fn inherited_fd(var: &str) -> Result<Option<OwnedFd>, Error> {
    let Ok(v) = std::env::var(var) else {
        return Ok(None);
    };
    let raw = v
        .parse()
        .map_err(|_| Error::Usage(format!("{var}={v}: not a number")))?;
    Ok(Some(wrun_sys::fd::take_inherited(raw)?))
}

/// A unix socket named by an environment variable, if set.
fn inherited(var: &str) -> Result<Option<UnixStream>, Error> {
    Ok(inherited_fd(var)?.map(UnixStream::from))
}

/// The console socket, required exactly when `process.terminal` is set.
fn console_socket(spec: &Spec) -> Result<Option<UnixStream>, Error> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if !terminal {
        return Ok(None);
    }
    Ok(Some(inherited("WRUN_CONSOLE_FD")?.ok_or_else(|| {
        Error::Usage("process.terminal is set but WRUN_CONSOLE_FD is not".into())
    })?))
}

/// Reads `<bundle>/config.json`.
fn load_spec(bundle: &Path) -> Result<Spec, Error> {
    let cfg = bundle.join("config.json");
    let text = std::fs::read(&cfg).map_err(|source| Error::ReadConfig {
        path: cfg.display().to_string(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| Error::ParseConfig {
        path: cfg.display().to_string(),
        source,
    })
}

/// Allocates the workload's terminal in the devpts at `/dev/pts` of the
/// current mount namespace (the container's), sizes it from
/// `process.consoleSize` and sends the master over `sock`.
fn open_console(spec: &Spec, sock: &UnixStream) -> Result<wrun_sys::pty::Pty, Error> {
    let pty = wrun_sys::pty::open_pty("/dev/pts".as_ref())?;
    if let Some(size) = spec.process().as_ref().and_then(|p| p.console_size()) {
        let ws = wrun_sys::pty::WinSize {
            ws_row: size.height().min(u16::MAX as u64) as u16,
            ws_col: size.width().min(u16::MAX as u64) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        wrun_sys::pty::set_window_size(pty.master.as_fd(), &ws)?;
    }
    wrun_sys::fd::send_fd(sock, pty.master.as_fd(), b"pty")?;
    Ok(pty)
}

/// Starts the workload of `spec` (built by [`workload::plan`] in the
/// current root), reports it and supervises it until it exits: the part
/// the container's first process and `exec` share.
fn start_and_supervise(
    spec: Spec,
    tty: Option<OwnedFd>,
    listener_sock: Option<UnixStream>,
    task: &TaskDir,
    masks: (&SigSet, SigSet),
    status: &mut Status,
) -> Result<i32, Error> {
    let (all, old_mask) = masks;
    let plan = workload::plan(&spec, tty, listener_sock, old_mask)?;
    drop(spec);
    let pid = workload::start(plan, task)?;
    status.started(pid.as_raw());
    Ok(init::supervise(pid, all))
}

fn run(status: &mut Status) -> Result<i32, Error> {
    // Block everything first: signals wait in the queue until the workload
    // exists and init::supervise forwards them.
    let all = SigSet::all();
    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), Some(&mut old_mask))
        .map_err(|e| Error::step("sigprocmask", e))?;
    // Modes of created nodes and directories are exactly as asked.
    umask(Mode::empty());

    let mut args = std::env::args_os().skip(1);
    let first = args.next().ok_or_else(|| Error::Usage(USAGE.into()))?;
    if first == "exec" {
        let (Some(bundle), Some(request), None) = (args.next(), args.next(), args.next()) else {
            return Err(Error::Usage(USAGE.into()));
        };
        let request = request
            .into_string()
            .map_err(|_| Error::Usage("exec request is not UTF-8".into()))?;
        return exec::run(
            PathBuf::from(bundle).as_path(),
            &request,
            (&all, old_mask),
            status,
        );
    }
    let bundle = PathBuf::from(first);
    let spec = load_spec(&bundle)?;
    let console = console_socket(&spec)?;
    let listener_sock = inherited("WRUN_SECCOMP_FD")?;

    // Decided before anything changes: a spec the shim cannot follow fails here.
    let steps = rootfs::plan(&spec)?;
    let ns = rootfs::namespaces(&spec)?;
    if let Some(h) = spec.hostname() {
        if !ns.uts {
            return Err(Error::Spec("hostname needs a UTS namespace".into()));
        }
        nix::unistd::sethostname(h).map_err(|e| Error::step(format!("sethostname {h}"), e))?;
    }
    let root = rootfs::root_path(&spec, &bundle)?;
    rootfs::apply(&steps, &root)?;

    let tty = match &console {
        None => None,
        Some(sock) => {
            let pty = open_console(&spec, sock)?;
            rootfs::bind_console(pty.number)?;
            Some(pty.slave)
        }
    };
    drop(console);
    // The container's /proc, where the shim is PID 1.
    let task = TaskDir::open()?;
    start_and_supervise(spec, tty, listener_sock, &task, (&all, old_mask), status)
}
