//! `wrun exec`: one more process in a running container.
//!
//! The container is found and reconciled like for every other command; it
//! must be running, and its shim must still be the process recorded in
//! `state.json` (pid *and* start time; the pidfd is opened first and the
//! start time checked after, so the pidfd cannot name a later process that
//! reused the pid). Then `wrun-shim exec <bundle> <request>` is spawned with
//! `wrun_sys::spawn`: no new PID namespace, the child writes itself into
//! each of the container's v1 cgroups (`tasks`) before exec, or is created
//! in its v2 cgroup (`cgroup::open_join`), and it gets the
//! pidfd (`WRUN_TARGET_PIDFD`), the status pipe and, with `-t`, the console
//! socket. The shim joins the namespaces and starts the process exactly as
//! the container's first one (docs/contracts.md, "exec").
//!
//! Without `-t` the process writes straight to our stdout and stderr (and
//! reads our stdin with `-i`), so nothing is copied. With `-t` the pty
//! master comes back over the console socket and is relayed here: our
//! terminal in raw mode with `-i`, its size copied (and kept so on
//! SIGWINCH by the [`SignalProxy`]). With `-d` the shim gets its own
//! session and `/dev/null` for stdio, and we return once the process has
//! started.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;
use serde::Serialize;
use wrun_sys::spawn::{InitCommand, spawn};

use crate::launch::await_started;
use crate::launch::{RELAY_MASTER, Runtime, SignalProxy, wait_code};
use crate::state::Status;
use crate::terminal::RawMode;
use crate::{Error, Result};

/// Fd numbers the exec shim finds its channels on.
const STATUS_FD: i32 = 3;
const CONSOLE_FD: i32 = 4;
const TARGET_FD: i32 = 5;

/// What to run and how, from `wrun exec`'s flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries that replace or extend the container's env.
    pub env: Vec<String>,
    /// `-w`: absolute path; the container's cwd when absent.
    pub workdir: Option<String>,
    /// `-u`: `name|uid[:group|gid]`, resolved in the container.
    pub user: Option<String>,
    /// `-t`: a pty from the container's devpts.
    pub tty: bool,
    /// `-i`: our stdin goes to the process.
    pub interactive: bool,
    /// `-d`: start it and return.
    pub detach: bool,
    /// `--isolation`: must be the container's (an exec cannot leave it).
    pub isolation: Option<crate::isolation::Isolation>,
    /// `--policy`: must be the container's policy (same module).
    pub policy: Option<String>,
}

/// The request the shim's exec mode reads (docs/contracts.md).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    args: &'a [String],
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    terminal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    console_size: Option<ConsoleSize>,
}

#[derive(Debug, Serialize)]
struct ConsoleSize {
    height: u64,
    width: u64,
}

impl ExecOptions {
    /// Checks the options the way Docker does before anything starts.
    pub fn validate(&self) -> Result<()> {
        if self.args.is_empty() {
            return Err(Error::NoCommand);
        }
        if let Some(w) = &self.workdir
            && !w.starts_with('/')
        {
            return Err(Error::InvalidFlag {
                flag: "--workdir",
                value: w.clone(),
                reason: "the working directory needs to be an absolute path".into(),
            });
        }
        if let Some(u) = &self.user
            && (u.is_empty() || u.starts_with(':'))
        {
            return Err(Error::InvalidFlag {
                flag: "--user",
                value: u.clone(),
                reason: "expected <name|uid>[:<group|gid>]".into(),
            });
        }
        Ok(())
    }

    /// The JSON request for the shim.
    fn request(&self, console: Option<(u16, u16)>) -> String {
        let r = Request {
            args: &self.args,
            env: &self.env,
            cwd: self.workdir.as_deref(),
            user: self.user.as_deref(),
            terminal: self.tty,
            console_size: console.map(|(rows, cols)| ConsoleSize {
                height: rows.into(),
                width: cols.into(),
            }),
        };
        serde_json::to_string(&r).expect("request serializes")
    }

    /// A pty only when someone reads it: `-d` runs without one.
    fn uses_tty(&self) -> bool {
        self.tty && !self.detach
    }
}

impl Runtime {
    /// `docker exec`: runs `opts.args` in the running container `key`.
    /// Returns the process's exit code (`128+signal` if killed), or `0`
    /// with `-d` once it has started. A process that cannot start is
    /// [`Error::Start`] with Docker's code (126 cannot invoke, 127 not
    /// found, 125 otherwise).
    pub fn exec(
        &self,
        key: &str,
        opts: &ExecOptions,
        signals: Option<&SignalProxy>,
    ) -> Result<i32> {
        let t0 = std::time::Instant::now();
        opts.validate()?;
        let state = self.get(key)?;
        let not_running = || Error::NotRunning(state.id.clone());
        let shim_pid = match (state.status, state.pid) {
            (Status::Running, Some(pid)) => Pid::from_raw(pid),
            _ => return Err(not_running()),
        };
        let pidfd = wrun_sys::process::pidfd_open(shim_pid).map_err(|_| not_running())?;
        if !crate::process::is_alive(state.pid, state.pid_start) {
            return Err(not_running());
        }
        let join = crate::cgroup::open_join(&state.cgroups)?;
        let dir = self.containers().dir(&state.id);
        crate::isolation::check_exec(&state, opts.isolation, opts.policy.as_deref())?;
        tracing::debug!(elapsed = ?t0.elapsed(), id = %state.id, "exec: container found");

        let tty = opts.uses_tty();
        // Docker's 24x80 when we have no terminal to copy the size from.
        let size = tty.then(|| our_window_size().unwrap_or((24, 80)));
        // Raw before the process starts, so nothing typed ahead is echoed
        // by our terminal's line discipline.
        let _raw = (tty && opts.interactive).then(RawMode::enter);
        let request = opts.request(size);
        let (status_read, status_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
        let devnull = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(Error::io("/dev/null"))?;
        let (console_ours, console_theirs) = if tty {
            let (a, b) = UnixStream::pair().map_err(Error::io("console socket"))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };

        let mut env = vec![
            format!("WRUN_STATUS_FD={STATUS_FD}"),
            format!("WRUN_TARGET_PIDFD={TARGET_FD}"),
        ];
        if console_theirs.is_some() {
            env.push(format!("WRUN_CONSOLE_FD={CONSOLE_FD}"));
        }
        // Under a policy, the new process's listener goes to the
        // container's monitor, which supervises it like the first one.
        // (Under Landlock the exec shim applies the container's ruleset.)
        let supervisor_conn = match &state.host.policy {
            Some(p) if p.enforced_by == crate::isolation::Enforcement::Trap => {
                env.push(format!("WRUN_SECCOMP_FD={}", crate::isolation::SECCOMP_FD));
                Some(crate::isolation::connect(&dir)?)
            }
            _ => None,
        };
        let shim = self.shim();
        let spawn_err = |source| Error::Spawn {
            shim: shim.to_path_buf(),
            source,
        };
        let argv = [
            "wrun-shim".to_string(),
            "exec".to_string(),
            dir.display().to_string(),
            request,
        ];
        let mut cmd = InitCommand::new(shim, &argv, &env).map_err(spawn_err)?;
        let stdin = std::io::stdin();
        let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
        if opts.detach {
            cmd.new_session();
            cmd.map_fd(&devnull, 0)
                .map_fd(&devnull, 1)
                .map_fd(&devnull, 2);
        } else {
            if opts.interactive && !tty {
                cmd.map_fd(&stdin, 0);
            } else {
                cmd.map_fd(&devnull, 0);
            }
            cmd.map_fd(&stdout, 1).map_fd(&stderr, 2);
        }
        cmd.map_fd(&status_write, STATUS_FD);
        cmd.map_fd(&pidfd, TARGET_FD);
        if let Some(sock) = &console_theirs {
            cmd.map_fd(sock, CONSOLE_FD);
        }
        join.apply(&mut cmd);
        if let Some(sock) = &supervisor_conn {
            cmd.map_fd(sock, crate::isolation::SECCOMP_FD);
        }
        let child = spawn(&cmd).map_err(spawn_err)?;
        drop(cmd);
        drop((status_write, console_theirs, pidfd, supervisor_conn));
        tracing::debug!(elapsed = ?t0.elapsed(), pid = child.pid.as_raw(), "exec: shim spawned");
        if let Some(s) = signals {
            s.forward_to(child.pid);
        }

        await_started(status_read, child.pid, "the exec shim", "the process")?;
        tracing::debug!(elapsed = ?t0.elapsed(), "exec: shim reported");
        if opts.detach {
            return Ok(0);
        }
        if let Some(sock) = console_ours {
            let master = receive_master(&sock)?;
            relay_tty(master, &child.pidfd, opts.interactive)?;
        }
        wait_code(child.pid)
    }
}

/// Our terminal's size (rows, columns), if stdout is a terminal.
fn our_window_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

fn receive_master(sock: &UnixStream) -> Result<fs::File> {
    let mut buf = [0u8; 16];
    match wrun_sys::fd::recv_fd(sock, &mut buf) {
        Ok((_, Some(fd))) => Ok(fs::File::from(fd)),
        Ok((_, None)) => Err(Error::Start {
            code: 125,
            message: "the exec shim closed the console socket without sending the pty master"
                .into(),
        }),
        Err(e) => Err(Error::Start {
            code: 125,
            message: format!("receiving the pty master from the exec shim: {e}"),
        }),
    }
}

/// Copies the pty's output to our stdout (and with `-i` our stdin to the
/// pty) until the process's side of the pty is closed, or the shim has
/// exited and the output has drained.
fn relay_tty(master: fs::File, shim: &OwnedFd, interactive: bool) -> Result<()> {
    if let Ok(dup) = master.try_clone() {
        // SIGWINCH keeps the pty's size ours (SignalProxy); one per process.
        let _ = RELAY_MASTER.set(dup.into());
    }
    if interactive && let Ok(mut to_pty) = master.try_clone() {
        // Not joined: it blocks reading our stdin, and the process ends
        // soon after the exec'd one does.
        std::thread::spawn(move || {
            let mut input = std::io::stdin();
            let mut buf = [0u8; 1024];
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    let mut master = master;
    let mut buf = vec![0u8; 32 * 1024];
    let mut exited = false;
    loop {
        let (data, shim_done) = {
            let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            if !exited {
                fds.push(PollFd::new(shim.as_fd(), PollFlags::POLLIN));
            }
            // After the shim exits, what is left in the pty drains briefly
            // (a background process may hold the slave open forever).
            let timeout = if exited {
                PollTimeout::from(100u16)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll")(e)),
            }
            let ready = |p: &PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if data {
            match master.read(&mut buf) {
                // EIO: the last holder of the slave closed it.
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
                }
            }
        }
        exited |= shim_done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> ExecOptions {
        ExecOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn request_carries_only_what_was_asked() {
        let o = opts(&["sh", "-c", "echo \"hi\""]);
        assert_eq!(
            o.request(None),
            r#"{"args":["sh","-c","echo \"hi\""],"env":[],"terminal":false}"#
        );
        let o = ExecOptions {
            env: vec!["A=1".into()],
            workdir: Some("/tmp".into()),
            user: Some("nobody:nogroup".into()),
            tty: true,
            ..opts(&["id"])
        };
        let v: serde_json::Value = serde_json::from_str(&o.request(Some((24, 80)))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"args": ["id"], "env": ["A=1"], "cwd": "/tmp",
                "user": "nobody:nogroup", "terminal": true,
                "consoleSize": {"height": 24, "width": 80}})
        );
    }

    #[test]
    fn docker_refusals_before_anything_runs() {
        assert!(matches!(opts(&[]).validate(), Err(Error::NoCommand)));
        let bad_w = ExecOptions {
            workdir: Some("tmp".into()),
            ..opts(&["true"])
        };
        assert!(matches!(
            bad_w.validate(),
            Err(Error::InvalidFlag {
                flag: "--workdir",
                ..
            })
        ));
        let bad_u = ExecOptions {
            user: Some(":0".into()),
            ..opts(&["true"])
        };
        assert!(bad_u.validate().unwrap_err().to_string().contains("--user"));
        assert!(opts(&["true"]).validate().is_ok());
    }

    #[test]
    fn detached_exec_has_no_tty() {
        let o = ExecOptions {
            tty: true,
            detach: true,
            ..opts(&["top"])
        };
        assert!(!o.uses_tty());
    }
}
