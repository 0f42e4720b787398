//! `wrun-shim exec <bundle-dir> <request>`: one more process in a running
//! container (`wrun exec`, docs/contracts.md).
//!
//! The runtime starts this mode with `wrun_sys::spawn` *without* a new PID
//! namespace, already inside the container's cgroups, with a pidfd of the
//! container's shim on `WRUN_TARGET_PIDFD`. Here, in order:
//!
//! 1. the container's `config.json` is read from the bundle (a host path,
//!    so before anything is joined) and the request is applied to its
//!    `process` ([`apply`]: args, Docker's env merge, cwd, user, terminal),
//!    so the new process gets exactly the container's capabilities,
//!    `no_new_privs`, rlimits and seccomp filter;
//! 2. one `setns(pidfd, flags)` joins every namespace the spec lists plus
//!    the PID namespace (setns(2): several types at once through a pidfd,
//!    Linux 5.8). The mount namespace sets our root to the container's, so
//!    `/etc/passwd` and `/dev/pts` are the container's from here on. The
//!    PID namespace applies to children only, hence the fork that follows;
//! 3. with a terminal, the pty comes from the container's devpts and its
//!    master goes back over `WRUN_CONSOLE_FD`, as for the first process;
//! 4. the rest is the first process's code path ([`crate::workload`]):
//!    fork, credentials, capabilities, seccomp, exec, a `started` or
//!    `error` line on `WRUN_STATUS_FD`, then signals are forwarded and the
//!    process's status becomes ours (`128+signal` when killed).
//!
//! This process stays outside the container's PID namespace (it is the
//! parent of the exec'd one, as runc's is): `/proc/self` of the container's
//! `/proc` names nothing for it, which is why the thread count for the
//! fork check is opened before step 2.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use oci_spec::runtime::{BoxBuilder, LinuxNamespaceType, Spec};
use serde::Deserialize;
use wrun_sys::process::TaskDir;

use crate::Error;
use crate::status::Status;
use crate::workload::USER_ANNOTATION;

/// What `wrun exec` asks for, as JSON (the third argument).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// The command and its arguments (required, non-empty).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries replacing or extending the container's env.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory; the container's `process.cwd` when absent.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Docker's `--user` (`name|uid[:group|gid]`); the container's user
    /// when absent.
    #[serde(default)]
    pub user: Option<String>,
    /// Allocate a pty (`-t`); needs `WRUN_CONSOLE_FD`.
    #[serde(default)]
    pub terminal: bool,
    /// Initial window size of the pty.
    #[serde(default)]
    pub console_size: Option<ConsoleSize>,
}

/// A terminal size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u64,
    /// Columns.
    pub width: u64,
}

/// The variable name of a `KEY=VALUE` entry.
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Docker's `ReplaceOrAppendEnvValues`: each override replaces the entry
/// with the same key, or is appended.
fn merge_env(base: &mut Vec<String>, overrides: &[String]) {
    for o in overrides {
        let key = env_key(o);
        match base.iter_mut().find(|e| env_key(e) == key) {
            Some(e) => e.clone_from(o),
            None => base.push(o.clone()),
        }
    }
}

/// Turns the container's spec into the exec'd process's: everything but
/// the fields the request names stays the container's.
pub fn apply(spec: &mut Spec, req: Request) -> Result<(), Error> {
    if req.args.is_empty() {
        return Err(Error::Usage("exec: no command given".into()));
    }
    if let Some(cwd) = &req.cwd
        && !cwd.is_absolute()
    {
        return Err(Error::Usage(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            cwd.display()
        )));
    }
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| Error::Spec("process is missing".into()))?;
    let mut env = process.env().clone().unwrap_or_default();
    // Docker sets TERM for a tty unless the container's env has one.
    if req.terminal && !env.iter().any(|e| env_key(e) == "TERM") {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, &req.env);
    process.set_env(Some(env));
    process.set_args(Some(req.args));
    if let Some(cwd) = req.cwd {
        process.set_cwd(cwd);
    }
    process.set_terminal(Some(req.terminal));
    let size = match req.console_size {
        None => None,
        Some(s) => Some(
            BoxBuilder::default()
                .height(s.height)
                .width(s.width)
                .build()
                .map_err(|e| Error::Spec(format!("console size: {e}")))?,
        ),
    };
    process.set_console_size(size);
    spec.set_process(Some(process));
    if let Some(user) = req.user {
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(USER_ANNOTATION.into(), user);
        spec.set_annotations(Some(annotations));
    }
    Ok(())
}

/// The namespaces to join: every one the spec lists, and always the PID
/// namespace (the shim is PID 1 of its own).
pub fn join_flags(spec: &Spec) -> Result<CloneFlags, Error> {
    let mut flags = CloneFlags::CLONE_NEWPID;
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in list.into_iter().flatten() {
        flags |= match ns.typ() {
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            t => return Err(Error::Spec(format!("namespace {t:?} is not supported"))),
        };
    }
    Ok(flags)
}

/// The exec mode, from the bundle and the request's JSON to the exec'd
/// process's exit code.
pub fn run(
    bundle: &Path,
    request: &str,
    masks: (&SigSet, SigSet),
    status: &mut Status,
) -> Result<i32, Error> {
    let req: Request = serde_json::from_str(request)
        .map_err(|e| Error::Usage(format!("exec request {request:?}: {e}")))?;
    let mut spec = crate::load_spec(bundle)?;
    apply(&mut spec, req)?;
    let flags = join_flags(&spec)?;
    let target = crate::inherited_fd("WRUN_TARGET_PIDFD")?
        .ok_or_else(|| Error::Usage("exec needs WRUN_TARGET_PIDFD".into()))?;
    let console: Option<UnixStream> = crate::console_socket(&spec)?;
    let listener_sock = crate::inherited("WRUN_SECCOMP_FD")?;
    // Still the host's /proc: see the module doc.
    let task = TaskDir::open()?;

    nix::sched::setns(&target, flags)
        .map_err(|e| Error::step(format!("setns into the container ({flags:?})"), e))?;
    drop(target);

    let tty = match &console {
        None => None,
        Some(sock) => Some(crate::open_console(&spec, sock)?.slave),
    };
    drop(console);
    crate::start_and_supervise(spec, tty, listener_sock, &task, masks, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "args": ["sleep", "60"],
                "env": ["PATH=/usr/bin:/bin", "HOSTNAME=abc", "A=container"],
                "cwd": "/srv",
                "user": {"uid": 0, "gid": 0},
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs"},
            "annotations": {"run.wrun.user": "app"},
            "linux": {"namespaces": [
                {"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                {"type": "ipc"}, {"type": "network"}, {"type": "cgroup"}
            ]}
        }))
        .unwrap()
    }

    fn req(json: serde_json::Value) -> Request {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn request_replaces_only_what_it_names() {
        let mut s = spec();
        apply(&mut s, req(serde_json::json!({"args": ["id", "-u"]}))).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["id", "-u"]);
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["PATH=/usr/bin:/bin", "HOSTNAME=abc", "A=container"]
        );
        assert_eq!(p.cwd(), Path::new("/srv"));
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(s.annotations().as_ref().unwrap()[USER_ANNOTATION], "app");
    }

    #[test]
    fn env_is_merged_the_docker_way_and_user_and_cwd_override() {
        let mut s = spec();
        apply(
            &mut s,
            req(serde_json::json!({
                "args": ["env"], "env": ["A=exec", "B=new", "PATH=/x"],
                "cwd": "/tmp", "user": "nobody", "terminal": true,
                "consoleSize": {"height": 24, "width": 100}
            })),
        )
        .unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["PATH=/x", "HOSTNAME=abc", "A=exec", "TERM=xterm", "B=new"]
        );
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(p.terminal(), Some(true));
        let size = p.console_size().unwrap();
        assert_eq!((size.height(), size.width()), (24, 100));
        assert_eq!(s.annotations().as_ref().unwrap()[USER_ANNOTATION], "nobody");
    }

    #[test]
    fn bad_requests_fail_before_anything_changes() {
        let mut s = spec();
        assert!(apply(&mut s, req(serde_json::json!({"args": []}))).is_err());
        let e = apply(
            &mut s,
            req(serde_json::json!({"args": ["x"], "cwd": "relative"})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        assert!(serde_json::from_str::<Request>(r#"{"args":["x"],"bogus":1}"#).is_err());
    }

    #[test]
    fn every_listed_namespace_and_pid_are_joined() {
        let all = CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWCGROUP;
        assert_eq!(join_flags(&spec()).unwrap(), all);
        let mut s = spec();
        s.set_linux(None);
        assert_eq!(join_flags(&s).unwrap(), CloneFlags::CLONE_NEWPID);
    }
}
