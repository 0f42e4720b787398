//! Acting on containers started earlier: keeping their state true, and
//! `stop`, `kill`, `rm`, `wait`, `start`.
//!
//! The state file can lie only one way: it says "running" while the
//! monitor that would have recorded the exit is gone (killed with SIGKILL,
//! or the machine's processes all died). [`Runtime::reconcile`] detects that
//! by the monitor's pid *and* start time, kills what is left of the
//! container, removes its cgroup and records it as exited, so every
//! command that reads state sees the truth.

use std::fs;
use std::time::{Duration, Instant};

use crate::monitor::STOP_MARKER;
use crate::process::{is_alive, parse_signal, signal_if_same};
use crate::state::{ContainerState, Status};
use crate::{Error, Result};

/// Exit code recorded when the monitor died and wrun had to kill the
/// container itself (SIGKILL, as Docker reports it).
const KILLED_ORPHAN: i32 = 137;
/// Exit code recorded when the monitor died and the container with it, so
/// its real status is unknown (Docker uses 255 for this).
const UNKNOWN_EXIT: i32 = 255;

impl crate::launch::Runtime {
    /// Loads container `id` and makes its state true (see the module doc).
    /// Returns `None` when the container was auto-removed in the process.
    pub fn reconcile(&self, id: &str) -> Result<Option<ContainerState>> {
        let containers = self.containers();
        let mut state = containers.load(id)?;
        if state.status != Status::Running || is_alive(state.monitor_pid, state.monitor_start) {
            return Ok(Some(state));
        }
        // The monitor may have finished between our read and its check.
        let fresh = containers.load(id)?;
        if fresh.status != Status::Running {
            return Ok(Some(fresh));
        }
        let code = if signal_if_same(state.pid, state.pid_start, libc::SIGKILL) {
            wait_gone(state.pid, state.pid_start, Duration::from_secs(5));
            KILLED_ORPHAN
        } else {
            UNKNOWN_EXIT
        };
        tracing::debug!(
            id,
            code,
            "monitor is gone: recording the container as exited"
        );
        self.after_exit(&mut state, code)?;
        state.monitor_pid = None;
        state.monitor_start = None;
        if state.auto_remove {
            containers.remove(&state)?;
            return Ok(None);
        }
        containers.save(&state)?;
        Ok(Some(state))
    }

    /// Every container, reconciled, newest first.
    pub fn list(&self) -> Result<Vec<ContainerState>> {
        let mut all = Vec::new();
        for id in self.containers().ids()? {
            match self.reconcile(&id) {
                Ok(Some(s)) => all.push(s),
                Ok(None) => {}
                // Removed while we looked, or a directory still being
                // created: not a container (yet).
                Err(Error::Io { .. }) | Err(Error::State { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        all.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(all)
    }

    /// Looks a container up by id, id prefix or name and reconciles it.
    pub fn get(&self, key: &str) -> Result<ContainerState> {
        let id = self.containers().find(key)?;
        self.reconcile(&id)?
            .ok_or_else(|| Error::NoSuchContainer(key.to_string()))
    }

    /// `docker stop`: the image's STOPSIGNAL (or SIGTERM), then SIGKILL
    /// after `timeout`. Stopping an exited container is not an error. The
    /// restart policy no longer applies until the next `start`.
    pub fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        let state = self.get(key)?;
        if state.status != Status::Running {
            return Ok(());
        }
        let dir = self.containers().dir(&state.id);
        fs::write(dir.join(STOP_MARKER), b"").map_err(Error::io(dir.join(STOP_MARKER)))?;
        let signo = state
            .host
            .stop_signal
            .as_deref()
            .map(parse_signal)
            .transpose()
            .map_err(|reason| Error::InvalidFlag {
                flag: "STOPSIGNAL",
                value: state.host.stop_signal.clone().unwrap_or_default(),
                reason,
            })?
            .unwrap_or(libc::SIGTERM);
        signal_if_same(state.pid, state.pid_start, signo);
        if !wait_gone(state.pid, state.pid_start, timeout) {
            tracing::debug!(id = %state.id, "stop timeout: SIGKILL");
            signal_if_same(state.pid, state.pid_start, libc::SIGKILL);
            wait_gone(state.pid, state.pid_start, Duration::from_secs(10));
        }
        self.wait_recorded(&state, Duration::from_secs(10))
    }

    /// `docker kill`: sends `signal` to the container's main process.
    pub fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let signo = parse_signal(signal).map_err(|reason| Error::InvalidFlag {
            flag: "--signal",
            value: signal.to_string(),
            reason,
        })?;
        let state = self.get(key)?;
        if state.status != Status::Running || !signal_if_same(state.pid, state.pid_start, signo) {
            return Err(Error::NotRunning(key.to_string()));
        }
        if signo == libc::SIGKILL {
            wait_gone(state.pid, state.pid_start, Duration::from_secs(10));
            self.wait_recorded(&state, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// `docker rm [-f]`: a running container is refused without `force`,
    /// and killed with it.
    pub fn remove(&self, key: &str, force: bool) -> Result<String> {
        let state = self.get(key)?;
        if state.status == Status::Running {
            if !force {
                return Err(Error::RemoveRunning(state.id));
            }
            let dir = self.containers().dir(&state.id);
            let _ = fs::write(dir.join(STOP_MARKER), b"");
            signal_if_same(state.pid, state.pid_start, libc::SIGKILL);
            wait_gone(state.pid, state.pid_start, Duration::from_secs(10));
            self.wait_recorded(&state, Duration::from_secs(10))?;
        }
        // It may have been auto-removed meanwhile.
        let Ok(state) = self.containers().load(&state.id) else {
            return Ok(state.id);
        };
        let mut state = state;
        self.release_network(&mut state);
        crate::cgroup::remove_dirs(&state.cgroups)?;
        self.containers().remove(&state)?;
        Ok(state.id)
    }

    /// `docker wait`: blocks until the container exits; returns its code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let id = self.containers().find(key)?;
        let mut delay = Duration::from_millis(5);
        loop {
            match self.reconcile(&id) {
                Ok(Some(s)) if s.status != Status::Running => return Ok(s.exit_code.unwrap_or(0)),
                Ok(Some(_)) => {}
                // Gone with --rm: its code went with it.
                Ok(None) | Err(Error::Io { .. }) => return Ok(0),
                Err(e) => return Err(e),
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Waits until the monitor has recorded the exit of `state`'s run (or
    /// removed the container), reconciling if the monitor is gone.
    fn wait_recorded(&self, state: &ContainerState, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            match self.reconcile(&state.id) {
                Ok(Some(s))
                    if s.status != Status::Running || s.restart_count > state.restart_count =>
                {
                    return Ok(());
                }
                Ok(None) | Err(Error::Io { .. }) => return Ok(()),
                Ok(Some(_)) if Instant::now() > deadline => {
                    return Err(Error::State {
                        path: self.containers().dir(&state.id),
                        reason: "the monitor did not record the container's exit in time".into(),
                    });
                }
                Ok(Some(_)) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Waits until the process `pid` that started at `start` is gone; false
/// on timeout.
fn wait_gone(pid: Option<i32>, start: Option<u64>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut delay = Duration::from_millis(1);
    while is_alive(pid, start) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
    true
}
