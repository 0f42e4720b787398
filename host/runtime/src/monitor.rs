//! The per-container monitor: the process that owns a container for its
//! whole life, as conmon does for Podman (there is no daemon).
//!
//! For `wrun run -d` it is `wrun container-monitor ID` in a session of its
//! own; for a foreground `wrun run` it is the `wrun` process itself, which
//! also copies the output to the terminal. Either way it: starts the shim,
//! reports "started" (or the error) to whoever waits, writes the output to
//! the json-file log, forwards signals when attached, records the exit
//! status and time, removes the cgroup, restarts per `--restart`, and with
//! `--rm` removes the container. Its pid and start time are in the state
//! file, so `ps` can tell a live monitor from a dead one.
//!
//! No async runtime: one `poll(2)` loop over the output pipes (or the pty
//! master) and the shim's pidfd keeps the monitor small (its RSS is in
//! docs/benchmarks.md).

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::attach::Clients;
use crate::launch::{Io, Running, Runtime, SignalProxy, StdinMode, copy_window_size, wait_code};
use crate::logs::{LogWriter, Stream, log_path};
use crate::state::ContainerState;
use crate::terminal::RawMode;
use crate::{Error, Result};

/// Marker file: the user stopped the container, so no restart policy
/// applies until `wrun start`.
pub const STOP_MARKER: &str = "stop-requested";

/// A terminal attached to the container (foreground `wrun run`).
#[derive(Debug)]
pub struct Attached<'a> {
    /// Pass our stdin (`-i`).
    pub stdin: bool,
    pub signals: &'a SignalProxy,
}

impl Runtime {
    /// Runs container `id` to the end of its life (restarts included) in the
    /// calling process. `ready` receives one status line after the first
    /// start: `{"type":"started",…}` or `{"type":"error",…}`. Returns the
    /// last exit code.
    pub fn monitor(
        &self,
        id: &str,
        attached: Option<Attached<'_>>,
        mut ready: Option<fs::File>,
    ) -> Result<i32> {
        let containers = self.containers();
        let dir = containers.dir(id);
        let mut state = containers.load(id)?;
        state.monitor_pid = Some(std::process::id() as i32);
        state.monitor_start = crate::process::start_time(std::process::id() as i32);
        let _ = fs::remove_file(dir.join(STOP_MARKER));
        let log_file = log_path(&dir);
        let mut log =
            LogWriter::open(&log_file, state.host.log).map_err(Error::io(log_file.clone()))?;
        let io = Io {
            tty: state.host.tty,
            stdin: match &attached {
                Some(a) if a.stdin => StdinMode::Inherit,
                Some(_) => StdinMode::Null,
                None if state.host.interactive => StdinMode::Pipe,
                None => StdinMode::Null,
            },
        };
        // A detached container can be attached to later (`wrun attach`).
        let mut clients = match &attached {
            Some(_) => None,
            None => Some(Clients::new(
                crate::attach::listen(&dir).map_err(Error::io(dir.join("attach.sock")))?,
            )),
        };
        let terminal = match (&attached, io.tty) {
            (Some(a), true) => Some(TerminalMode::enter(a.stdin)),
            _ => None,
        };

        let mut first = true;
        let mut backoff = Duration::from_millis(100);
        let code = loop {
            let started_at = Instant::now();
            let running = match self.start_once(&mut state, io) {
                Ok(r) => r,
                Err(e) => {
                    let code = match &e {
                        Error::Start { code, .. } => *code,
                        _ => 125,
                    };
                    if first {
                        if let Some(r) = ready.as_mut() {
                            let line = serde_json::json!({"type": "error", "code": code,
                                                          "message": e.to_string()});
                            let _ = writeln!(r, "{line}");
                        }
                        if clients.take().is_some() {
                            crate::attach::remove_socket(&dir);
                        }
                        self.end(&mut state, code)?;
                        drop(terminal);
                        return Err(e);
                    }
                    // A restart that fails ends the container's life.
                    self.after_exit(&mut state, code)?;
                    break code;
                }
            };
            containers.save_merged(&mut state)?;
            if let Some(a) = &attached {
                a.signals.forward_to(running.pid);
            }
            if first {
                if let Some(mut r) = ready.take() {
                    let line = serde_json::json!({"type": "started", "pid": running.pid.as_raw()});
                    let _ = writeln!(r, "{line}");
                    // A detached monitor lives as long as its container: give
                    // back the code and constants that starting it touched.
                    let released = wrun_sys::memory::release_code_pages();
                    tracing::debug!(released, "released start-up pages");
                }
                first = false;
            }
            if let (Some(t), Some(master)) = (&terminal, &running.master) {
                t.relay_input(master);
            }
            let forward_input = state.host.interactive;
            // Probes the container while it runs; stops when dropped.
            let _health = crate::health::Checker::start(self.root(), &state.id, &dir);
            let code = pump(
                running,
                &mut log,
                attached.is_some(),
                clients.as_mut(),
                forward_input,
            )?;
            self.after_exit(&mut state, code)?;
            let stopped = dir.join(STOP_MARKER).exists();
            if !state
                .host
                .restart
                .should_restart(code, state.restart_count, stopped)
            {
                break code;
            }
            // Docker's back-off: doubling from 100 ms, reset by a run that
            // lasted 10 s.
            if started_at.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            state.restart_count += 1;
            containers.save_merged(&mut state)?;
            tracing::debug!(restarts = state.restart_count, code, ?backoff, "restarting");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(60));
        };
        drop(terminal);
        if clients.take().is_some() {
            crate::attach::remove_socket(&dir);
        }
        self.end(&mut state, code)?;
        Ok(code)
    }

    /// The last step of a container's run: with `--rm` it goes, otherwise
    /// its exited state is saved.
    fn end(&self, state: &mut ContainerState, code: i32) -> Result<()> {
        if state.status == crate::state::Status::Running {
            self.after_exit(state, code)?;
        }
        state.monitor_pid = None;
        state.monitor_start = None;
        if let Ok(current) = self.containers().load(&state.id) {
            state.name = current.name;
        }
        if state.auto_remove {
            crate::cgroup::remove_dirs(&state.cgroups)?;
            crate::volume::remove_anonymous(self.root(), &self.containers().dir(&state.id));
            return self.containers().remove(state);
        }
        if state.exit_code.is_none() {
            state.exit_code = Some(code);
        }
        self.containers().save(state)
    }
}

/// Copies the container's output to the log (to our terminal when
/// attached, and to `wrun attach` clients) until the shim has exited and its
/// streams are drained; passes clients' input to the container's stdin or
/// pty; then reaps the shim. Returns its exit code.
fn pump(
    running: Running,
    log: &mut LogWriter,
    attached: bool,
    mut clients: Option<&mut Clients>,
    forward_input: bool,
) -> Result<i32> {
    let Running {
        pid,
        pidfd,
        // Serves the published ports until the container has exited.
        proxy: _proxy,
        stdin,
        stdout,
        stderr,
        master,
    } = running;
    // Where attach clients' keystrokes go: the pty, or the stdin pipe.
    let mut input_sink: Option<fs::File> = match &master {
        Some(m) if forward_input => m.try_clone().ok(),
        Some(_) => None,
        None => stdin,
    };
    let mut streams: Vec<(fs::File, Stream)> = Vec::new();
    streams.extend(stdout.map(|f| (f, Stream::Stdout)));
    streams.extend(stderr.map(|f| (f, Stream::Stderr)));
    streams.extend(master.map(|f| (f, Stream::Stdout)));
    let mut exited = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if exited && streams.is_empty() {
            break;
        }
        let n_streams = streams.len();
        let n_clients = clients.as_ref().map_or(0, |c| c.streams().len());
        let (ready, pid_ready, accept, inputs) = {
            let mut fds: Vec<PollFd<'_>> = streams
                .iter()
                .map(|(f, _)| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            if let Some(c) = clients.as_deref() {
                fds.push(PollFd::new(c.listener().as_fd(), PollFlags::POLLIN));
                fds.extend(
                    c.streams()
                        .iter()
                        .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)),
                );
            }
            if !exited {
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            }
            // After the exit, the streams get a grace period to drain: the
            // kernel closes them as the namespace's processes die.
            let timeout = if exited {
                PollTimeout::from(1000u16)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll")(e)),
            }
            let is_ready = |p: &PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
            let ready: Vec<bool> = fds[..n_streams].iter().map(is_ready).collect();
            let (accept, inputs) = if clients.is_some() {
                (
                    is_ready(&fds[n_streams]),
                    fds[n_streams + 1..n_streams + 1 + n_clients]
                        .iter()
                        .map(is_ready)
                        .collect(),
                )
            } else {
                (false, Vec::new())
            };
            let pid_ready = !exited && fds.last().is_some_and(is_ready);
            (ready, pid_ready, accept, inputs)
        };
        let mut closed = Vec::new();
        for (i, is_ready) in ready.into_iter().enumerate() {
            if !is_ready {
                continue;
            }
            let (file, stream) = &mut streams[i];
            match file.read(&mut buf) {
                // EIO on a pty master: the last slave holder exited.
                Ok(0) | Err(_) => closed.push(i),
                Ok(n) => {
                    let chunk = &buf[..n];
                    if let Err(e) = log.write(*stream, chunk) {
                        tracing::warn!("writing the container log: {e}");
                    }
                    if let Some(c) = clients.as_deref_mut() {
                        c.broadcast(*stream, chunk);
                    }
                    if attached {
                        let _ = match stream {
                            Stream::Stdout => {
                                let mut out = std::io::stdout().lock();
                                out.write_all(chunk).and_then(|_| out.flush())
                            }
                            Stream::Stderr => std::io::stderr().write_all(chunk),
                        };
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
        if let Some(c) = clients.as_deref_mut() {
            // Highest index first: reading may remove a client.
            for i in (0..inputs.len()).rev() {
                if !inputs[i] {
                    continue;
                }
                if let Some(n) = c.read_input(i, &mut buf)
                    && let Some(sink) = input_sink.as_mut()
                    && sink.write_all(&buf[..n]).is_err()
                {
                    input_sink = None;
                }
            }
            if accept {
                c.accept();
            }
        }
        if pid_ready {
            exited = true;
        }
    }
    if let Err(e) = log.flush() {
        tracing::warn!("writing the container log: {e}");
    }
    if let Some(c) = clients {
        c.close_all();
    }
    wait_code(pid)
}

/// Our terminal while a `-t` container is attached: raw (see
/// [`crate::terminal`]), our keys copied to the pty when `-i`.
struct TerminalMode {
    _raw: RawMode,
    stdin: bool,
}

impl TerminalMode {
    fn enter(stdin: bool) -> Self {
        Self {
            _raw: if stdin {
                RawMode::enter()
            } else {
                RawMode::none()
            },
            stdin,
        }
    }

    /// Starts copying our stdin to the pty `master` and sizes the pty like
    /// our terminal (SIGWINCH keeps it so).
    fn relay_input(&self, master: &fs::File) {
        if let Ok(dup) = master.try_clone() {
            let _ = crate::launch::RELAY_MASTER.set(dup.into());
            copy_window_size();
        }
        if !self.stdin {
            return;
        }
        let Ok(mut to_pty) = master.try_clone() else {
            return;
        };
        // Not joined: it blocks reading our stdin, and the process ends
        // after the container does.
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
}
