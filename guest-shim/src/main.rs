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
//! It runs on every container start, so it stays lean: one thread, no
//! async runtime, the spec parsed once, and few system calls.
#![forbid(unsafe_code)]

mod error;
mod init;
mod rootfs;
mod status;
mod user;
mod workload;

use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, umask};

pub use error::Error;
use status::Status;

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
fn inherited(var: &str) -> Result<Option<UnixStream>, Error> {
    let Ok(v) = std::env::var(var) else {
        return Ok(None);
    };
    let raw = v
        .parse()
        .map_err(|_| Error::Usage(format!("{var}={v}: not a number")))?;
    Ok(Some(UnixStream::from(wrun_sys::fd::take_inherited(raw)?)))
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

    let bundle = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage("usage: wrun-shim <bundle-dir>".into()))?;
    let cfg = bundle.join("config.json");
    let text = std::fs::read(&cfg).map_err(|source| Error::ReadConfig {
        path: cfg.display().to_string(),
        source,
    })?;
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&text).map_err(|source| Error::ParseConfig {
            path: cfg.display().to_string(),
            source,
        })?;
    drop(text);
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let console = if terminal {
        Some(inherited("WRUN_CONSOLE_FD")?.ok_or_else(|| {
            Error::Usage("process.terminal is set but WRUN_CONSOLE_FD is not".into())
        })?)
    } else {
        None
    };
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
            let pty = wrun_sys::pty::open_pty("/dev/pts".as_ref())?;
            if let Some(size) = spec.process().as_ref().and_then(|p| p.console_size()) {
                let ws = wrun_sys::pty::WinSize {
                    ws_row: size.height().min(u16::MAX as u64) as u16,
                    ws_col: size.width().min(u16::MAX as u64) as u16,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                wrun_sys::pty::set_window_size(std::os::fd::AsFd::as_fd(&pty.master), &ws)?;
            }
            wrun_sys::fd::send_fd(sock, std::os::fd::AsFd::as_fd(&pty.master), b"pty")?;
            rootfs::bind_console(pty.number)?;
            Some(pty.slave)
        }
    };
    drop(console);
    let plan = workload::plan(&spec, tty, listener_sock, old_mask)?;
    drop(spec);
    let pid = workload::start(plan)?;
    status.started(pid.as_raw());
    Ok(init::supervise(pid, &all))
}
