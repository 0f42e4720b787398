//! Containers on disk.
//!
//! ```text
//! <root>/containers/<id>/config.json   OCI runtime spec (the bundle)
//!                        state.json    this module's [`ContainerState`]
//!                        rootfs/       mountpoint of the overlay root
//!                        upper/ work/  overlayfs upper and work dirs
//!                        hosts hostname resolv.conf
//! <root>/containers/names/<name>       the id owning <name> (O_EXCL claim)
//! ```
//!
//! Every file is replaced atomically (write to a temp file in the same
//! directory, then rename), so a reader never sees half a state file and a
//! crash leaves either the old or the new one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What `ps` and `inspect` need to know about a container, and what the
/// runtime needs to clean it up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerState {
    pub id: String,
    pub name: String,
    /// The image reference as the user typed it.
    pub image: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// The command actually run (entrypoint + cmd).
    pub command: Vec<String>,
    /// RFC 3339 timestamps.
    pub created: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    pub status: Status,
    /// The shim's pid in the host's PID namespace, while running.
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Cgroup directories made for the container, to remove on exit.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    #[serde(default)]
    pub auto_remove: bool,
    /// The monitor owning the container while it runs, and its start time
    /// (clock ticks since boot, from `/proc/PID/stat`) to tell it from a
    /// later process that reuses the pid.
    #[serde(default)]
    pub monitor_pid: Option<i32>,
    #[serde(default)]
    pub monitor_start: Option<u64>,
    /// Start time of the shim (`pid`), for the same reason.
    #[serde(default)]
    pub pid_start: Option<u64>,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default)]
    pub host: HostConfig,
    /// The container's addresses while it runs on bridge networks.
    #[serde(default)]
    pub endpoints: Vec<NetworkEndpoint>,
}

/// What the monitor needs to run (and re-run) the container, from the flags
/// of `wrun run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostConfig {
    #[serde(default)]
    pub resources: crate::cgroup::Resources,
    #[serde(default)]
    pub restart: crate::policy::RestartPolicy,
    #[serde(default)]
    pub log: crate::logs::LogOptions,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub interactive: bool,
    /// The image's STOPSIGNAL, as written there.
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `none`, `host`, or the name of the bridge network.
    #[serde(default = "default_network")]
    pub network: String,
    /// Requested published ports (host port 0: any free one).
    #[serde(default)]
    pub publish: Vec<crate::network::ports::PortMapping>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--isolation`.
    #[serde(default)]
    pub isolation: crate::isolation::Isolation,
    /// `--policy`, checked and kept in the container's directory.
    #[serde(default)]
    pub policy: Option<crate::isolation::PolicyChoice>,
}

fn default_network() -> String {
    "none".into()
}

/// Where a running container is on a network (for `inspect`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkEndpoint {
    pub network: String,
    pub ip: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: std::net::Ipv4Addr,
    pub mac: String,
}

/// Docker's container states that exist in wrun so far.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// The containers directory of a state root.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
    /// Deletes `.removed/` in a process of its own (see
    /// [`Containers::remove`]); without one, `remove` deletes at once.
    reaper: Option<Reaper>,
}

/// How to start the process that deletes removed containers' files:
/// `<exe> --root <root> container-reap`.
#[derive(Debug, Clone)]
pub struct Reaper {
    pub exe: PathBuf,
    pub root: PathBuf,
}

/// Where removed containers wait for their files to be deleted.
const REMOVED: &str = ".removed";

impl Containers {
    /// Opens (creating if needed) `<root>/containers`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("containers");
        fs::create_dir_all(dir.join("names")).map_err(Error::io(dir.join("names")))?;
        Ok(Self { dir, reaper: None })
    }

    /// Removed containers' files are deleted by `reaper`, after the
    /// removal has returned.
    pub fn with_reaper(mut self, reaper: Reaper) -> Self {
        self.reaper = Some(reaper);
        self
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Claims `name` for `id`. Fails with [`Error::NameInUse`] when another
    /// container holds it; exactly one of two racing claims wins.
    pub fn claim_name(&self, name: &str, id: &str) -> Result<()> {
        let path = self.dir.join("names").join(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => f.write_all(id.as_bytes()).map_err(Error::io(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(&path).unwrap_or_default();
                // A claim whose container directory is gone is stale (its
                // owner died between claiming and creating): take it over.
                if !owner.is_empty() && !self.dir(&owner).exists() {
                    fs::remove_file(&path).map_err(Error::io(&path))?;
                    return self.claim_name(name, id);
                }
                Err(Error::NameInUse {
                    name: name.to_string(),
                    id: owner,
                })
            }
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    /// Gives `name` up, if `id` holds it.
    pub fn release_name(&self, name: &str, id: &str) -> Result<()> {
        let path = self.dir.join("names").join(name);
        match fs::read_to_string(&path) {
            Ok(owner) if owner == id => fs::remove_file(&path).map_err(Error::io(&path)),
            _ => Ok(()),
        }
    }

    pub fn is_name_taken(&self, name: &str) -> bool {
        self.dir.join("names").join(name).exists()
    }

    pub fn load(&self, id: &str) -> Result<ContainerState> {
        let path = self.dir(id).join("state.json");
        let bytes = fs::read(&path).map_err(Error::io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path,
            reason: e.to_string(),
        })
    }

    /// Saves a state the caller has held for a while (the monitor, for the
    /// container's whole life), keeping what other commands may have changed
    /// on disk meanwhile: the name (`wrun rename`).
    pub fn save_merged(&self, state: &mut ContainerState) -> Result<()> {
        if let Ok(current) = self.load(&state.id) {
            state.name = current.name;
        }
        self.save(state)
    }

    pub fn save(&self, state: &ContainerState) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        write_atomic(&self.dir(&state.id).join("state.json"), &bytes)
    }

    /// Every container id, in no particular order.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Finds a container by full id, unique id prefix or name.
    pub fn find(&self, key: &str) -> Result<String> {
        let by_name = self.dir.join("names").join(key);
        if let Ok(id) = fs::read_to_string(&by_name)
            && self.dir(&id).exists()
        {
            return Ok(id);
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|id| id.starts_with(key))
                .collect();
            if matches.len() == 1 {
                return Ok(matches.into_iter().next().unwrap());
            }
        }
        Err(Error::NoSuchContainer(key.to_string()))
    }

    /// Removes a container's directory and name claim.
    ///
    /// With a [`Reaper`], both are renamed into `.removed/` (the container
    /// is gone for every command from then on: not listed, its name free)
    /// and the reaper process deletes the files after this returns. Why:
    /// deleting is the slow part of removing a container. Every file and
    /// directory freed gives back a block, and on a file system mounted
    /// with `discard` (common on cloud disks, and this project's machines)
    /// ext4 discards each one synchronously: `--rm` spent 10–80 ms in
    /// `unlinkat` here (`blkdev_issue_discard` under `ext4_free_blocks`).
    pub fn remove(&self, state: &ContainerState) -> Result<()> {
        let dir = self.dir(&state.id);
        if let Some(reaper) = &self.reaper
            && self.move_to_removed(&dir, &state.id)?
        {
            self.move_name_to_removed(&state.name, &state.id)?;
            if let Err(e) = reaper.start() {
                tracing::warn!("starting the reaper of removed containers: {e}; deleting here");
                self.reap_removed();
            }
            return Ok(());
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dir)(e)),
        }
        self.release_name(&state.name, &state.id)
    }

    /// Renames `dir` into `.removed/`; false when it cannot be (then the
    /// caller deletes it in place).
    fn move_to_removed(&self, dir: &Path, id: &str) -> Result<bool> {
        let removed = self.dir.join(REMOVED);
        let target = removed.join(id);
        match fs::rename(dir, &target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !dir.exists() {
                    return Ok(false);
                }
                match fs::create_dir(&removed) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io(&removed)(e)),
                }
                fs::rename(dir, &target).map_err(Error::io(dir))?;
                Ok(true)
            }
            // A leftover of the same id in `.removed/`: delete in place.
            Err(_) => Ok(false),
        }
    }

    /// [`Containers::release_name`], by a rename into `.removed/`.
    fn move_name_to_removed(&self, name: &str, id: &str) -> Result<()> {
        let path = self.dir.join("names").join(name);
        match fs::read_to_string(&path) {
            Ok(owner) if owner == id => {
                let target = self.dir.join(REMOVED).join(format!("{id}.name"));
                fs::rename(&path, &target).map_err(Error::io(&path))
            }
            _ => Ok(()),
        }
    }

    /// Deletes everything in `.removed/`. Several reapers may run at once:
    /// what another one deleted first is skipped.
    pub fn reap_removed(&self) {
        let removed = self.dir.join(REMOVED);
        let Ok(entries) = fs::read_dir(&removed) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let result = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("deleting {}: {e}", path.display()),
            }
        }
    }
}

impl Reaper {
    /// Starts `<exe> --root <root> container-reap` in a session of its own,
    /// stdio on `/dev/null`, and does not wait for it.
    fn start(&self) -> std::result::Result<(), String> {
        use wrun_sys::spawn::{InitCommand, spawn};
        let devnull = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| format!("/dev/null: {e}"))?;
        let argv = [
            "wrun".to_string(),
            "--root".to_string(),
            self.root.display().to_string(),
            "container-reap".to_string(),
        ];
        let env: Vec<String> = ["PATH", "RUST_BACKTRACE"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
            .collect();
        let mut cmd = InitCommand::new(&self.exe, &argv, &env).map_err(|e| e.to_string())?;
        cmd.new_session();
        cmd.map_fd(&devnull, 0);
        cmd.map_fd(&devnull, 1);
        cmd.map_fd(&devnull, 2);
        // Removal has already happened for every other command; the next
        // reaper deletes what this one could not.
        cmd.dont_wait_for_exec();
        spawn(&cmd).map(drop).map_err(|e| e.to_string())
    }
}

/// Replaces `path` with `bytes` atomically: a temp file in the same
/// directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(Error::io(path))
}

/// The current time as RFC 3339 with nanoseconds, as Docker writes it.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, name: &str) -> ContainerState {
        ContainerState {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            command: vec!["true".into()],
            created: now_rfc3339(),
            started_at: None,
            finished_at: None,
            status: Status::Created,
            pid: None,
            exit_code: None,
            cgroups: vec![],
            auto_remove: false,
            monitor_pid: None,
            monitor_start: None,
            pid_start: None,
            restart_count: 0,
            host: HostConfig::default(),
            endpoints: vec![],
        }
    }

    #[test]
    fn names_are_exclusive_and_findable() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Containers::open(tmp.path()).unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        fs::create_dir_all(c.dir(&a)).unwrap();
        c.claim_name("web", &a).unwrap();
        assert!(matches!(
            c.claim_name("web", &b),
            Err(Error::NameInUse { .. })
        ));
        c.save(&sample(&a, "web")).unwrap();
        assert_eq!(c.find("web").unwrap(), a);
        assert_eq!(c.find("aaa").unwrap(), a);
        assert!(matches!(c.find("zzz"), Err(Error::NoSuchContainer(_))));
        assert_eq!(c.load(&a).unwrap().name, "web");
        c.remove(&c.load(&a).unwrap()).unwrap();
        assert!(!c.is_name_taken("web"));
    }

    #[test]
    fn stale_claims_are_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Containers::open(tmp.path()).unwrap();
        c.claim_name("x1", &"d".repeat(64)).unwrap();
        // No directory for the first owner: its claim is stale.
        c.claim_name("x1", &"e".repeat(64)).unwrap();
    }
}
