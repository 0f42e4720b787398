//! Healthchecks, as Docker runs them.
//!
//! The configuration (from `--health-*` flags over the image's
//! `HEALTHCHECK`) is kept in the container's directory
//! ([`CONFIG_FILE`], Docker's `Healthcheck` shape, durations in
//! nanoseconds). While the container runs, its monitor runs a [`Checker`]:
//! a thread that, every interval, runs the test in the container with
//! `wrun exec` (a child process, so a hung probe can be killed at its
//! timeout), and keeps Docker's `State.Health` in [`STATE_FILE`]:
//! `starting` until the first success, `healthy`, or `unhealthy` after
//! `retries` failures in a row (failures during the start period do not
//! count). `ps` shows it as `Up 3 seconds (healthy)`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The healthcheck configuration, in the container's directory.
pub const CONFIG_FILE: &str = "healthcheck.json";
/// `State.Health`, in the container's directory.
pub const STATE_FILE: &str = "health.json";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// Docker keeps the last five probes and 4 KiB of each one's output.
const LOG_ENTRIES: usize = 5;
const OUTPUT_LIMIT: usize = 4096;

/// Docker's `Config.Healthcheck`: `Test` is `["NONE"]`, `["CMD", …]` or
/// `["CMD-SHELL", "cmd"]`; durations in nanoseconds, 0 meaning the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl HealthConfig {
    /// Whether there is anything to run (`NONE` and an empty test disable).
    pub fn is_enabled(&self) -> bool {
        matches!(
            self.test.first().map(String::as_str),
            Some("CMD" | "CMD-SHELL")
        )
    }

    /// The command to exec in the container.
    fn command(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            _ => self.test[1..].to_vec(),
        }
    }

    fn interval(&self) -> Duration {
        nanos_or(self.interval, DEFAULT_INTERVAL)
    }

    fn timeout(&self) -> Duration {
        nanos_or(self.timeout, DEFAULT_TIMEOUT)
    }

    fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The flags' values over `base` (the image's), as Docker merges them:
    /// each flag given replaces that field.
    pub fn overlay(base: Option<HealthConfig>, flags: &HealthConfig) -> Option<HealthConfig> {
        let mut out = base.unwrap_or_default();
        if !flags.test.is_empty() {
            out.test = flags.test.clone();
        }
        if flags.interval != 0 {
            out.interval = flags.interval;
        }
        if flags.timeout != 0 {
            out.timeout = flags.timeout;
        }
        if flags.start_period != 0 {
            out.start_period = flags.start_period;
        }
        if flags.retries != 0 {
            out.retries = flags.retries;
        }
        (!out.test.is_empty()).then_some(out)
    }
}

fn nanos_or(n: u64, default: Duration) -> Duration {
    if n == 0 {
        default
    } else {
        Duration::from_nanos(n)
    }
}

/// The image's `HEALTHCHECK`, from its raw config JSON
/// (`config.Healthcheck`; the OCI types do not carry it).
pub fn from_image_config(raw: &[u8]) -> Option<HealthConfig> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let h = v.get("config")?.get("Healthcheck")?;
    serde_json::from_value(h.clone()).ok()
}

/// Saves the configuration for the container in `dir` (nothing when
/// disabled, so no checker runs).
pub fn save_config(dir: &Path, config: &HealthConfig) -> std::io::Result<()> {
    fs::write(dir.join(CONFIG_FILE), serde_json::to_vec(config)?)
}

pub fn load_config(dir: &Path) -> Option<HealthConfig> {
    let bytes = fs::read(dir.join(CONFIG_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

/// One probe's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// The container's health now, if it has a healthcheck that has started.
pub fn read_state(dir: &Path) -> Option<HealthState> {
    let bytes = fs::read(dir.join(STATE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_state(dir: &Path, state: &HealthState) {
    let bytes = serde_json::to_vec(state).expect("health state serializes");
    if let Err(e) = crate::state::write_atomic(&dir.join(STATE_FILE), &bytes) {
        tracing::warn!("writing the health state: {e}");
    }
}

/// Runs the healthcheck of one running container until dropped.
#[derive(Debug)]
pub struct Checker {
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Checker {
    /// Starts checking container `id` (state root `root`) if it has an
    /// enabled healthcheck; its state starts as `starting`.
    pub fn start(root: &Path, id: &str, dir: &Path) -> Option<Checker> {
        let config = load_config(dir).filter(HealthConfig::is_enabled)?;
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("healthcheck disabled: cannot find the wrun executable: {e}");
                return None;
            }
        };
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let job = Job {
            exe,
            root: root.to_path_buf(),
            id: id.to_string(),
            dir: dir.to_path_buf(),
            config,
            stop: Arc::clone(&stop),
        };
        write_state(
            dir,
            &HealthState {
                status: "starting".into(),
                ..HealthState::default()
            },
        );
        // Not joined: a probe in flight ends at its timeout, and the state
        // file is replaced atomically.
        std::thread::Builder::new()
            .name("healthcheck".into())
            .spawn(move || job.run())
            .ok()?;
        Some(Checker { stop })
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }
}

struct Job {
    exe: PathBuf,
    root: PathBuf,
    id: String,
    dir: PathBuf,
    config: HealthConfig,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Job {
    /// Sleeps `d` unless stopped first; false once stopped.
    fn sleep(&self, d: Duration) -> bool {
        let (lock, cvar) = &*self.stop;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) = cvar
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        !*stopped
    }

    fn run(self) {
        let started = Instant::now();
        let start_period = Duration::from_nanos(self.config.start_period);
        let mut state = HealthState {
            status: "starting".into(),
            ..HealthState::default()
        };
        while self.sleep(self.config.interval()) {
            let probe = self.probe();
            let ok = probe.exit_code == 0;
            state.log.push(probe);
            if state.log.len() > LOG_ENTRIES {
                state.log.remove(0);
            }
            if ok {
                state.status = "healthy".into();
                state.failing_streak = 0;
            } else if started.elapsed() >= start_period || state.status != "starting" {
                state.failing_streak += 1;
                if state.failing_streak >= self.config.retries() {
                    state.status = "unhealthy".into();
                }
            }
            // The container may have ended while the probe ran.
            if !*self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) {
                write_state(&self.dir, &state);
            }
        }
    }

    /// Runs the test once with `wrun exec`, killed at the timeout.
    fn probe(&self) -> Probe {
        let start = crate::state::now_rfc3339();
        let timeout = self.config.timeout();
        let child = Command::new(&self.exe)
            .arg("--root")
            .arg(&self.root)
            .arg("exec")
            .arg(&self.id)
            .args(self.config.command())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                return Probe {
                    start,
                    end: crate::state::now_rfc3339(),
                    exit_code: -1,
                    output: format!("cannot run the healthcheck: {e}"),
                };
            }
        };
        // Output is read on threads so a chatty probe cannot fill a pipe
        // and stall.
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|mut r| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        })
        .collect();
        let deadline = Instant::now() + timeout;
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code().unwrap_or(-1),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break -2;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break -1,
            }
        };
        let mut output: Vec<u8> = Vec::new();
        for r in readers {
            output.extend(r.join().unwrap_or_default());
        }
        let output = if code == -2 {
            format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64())
        } else {
            output.truncate(OUTPUT_LIMIT);
            String::from_utf8_lossy(&output).into_owned()
        };
        Probe {
            start,
            end: crate::state::now_rfc3339(),
            exit_code: if code == -2 { -1 } else { code },
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_config_and_flags() {
        let raw = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","pg_isready"],"Interval":2000000000,"Retries":5}}}"#;
        let image = from_image_config(raw).unwrap();
        assert_eq!(image.test, ["CMD-SHELL", "pg_isready"]);
        assert_eq!(image.interval(), Duration::from_secs(2));
        assert_eq!(image.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(image.command(), ["/bin/sh", "-c", "pg_isready"]);
        let flags = HealthConfig {
            retries: 2,
            ..HealthConfig::default()
        };
        let merged = HealthConfig::overlay(Some(image.clone()), &flags).unwrap();
        assert_eq!((merged.retries, merged.interval), (2, 2_000_000_000));
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        };
        assert!(
            !HealthConfig::overlay(Some(image), &none)
                .unwrap()
                .is_enabled()
        );
        assert!(HealthConfig::overlay(None, &HealthConfig::default()).is_none());
        assert!(from_image_config(br#"{"config":{}}"#).is_none());
    }
}
