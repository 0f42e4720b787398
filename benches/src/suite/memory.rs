//! Peak memory of everything a run starts, from a memory cgroup made for
//! that run: cgroup v2's `memory.peak` or cgroup v1's
//! `memory.max_usage_in_bytes`. The command joins the cgroup through a
//! `sh` that writes its own pid and then execs the command, so the runtime,
//! its monitor, its supervisor or the VMM and all their children are
//! charged. Processes a runtime moves into cgroups of its own (the
//! container's, or podman's conmon) leave it; that is the workload's side
//! for runc and crun, but it hides conmon for podman — the report says so.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Kind {
    V2,
    V1,
}

/// Where per-run cgroups are made, or why memory cannot be measured.
#[derive(Debug, Clone)]
pub struct Meter {
    place: Result<(PathBuf, Kind), String>,
}

impl Meter {
    pub fn detect() -> Meter {
        let unified = PathBuf::from("/sys/fs/cgroup");
        let v2_memory = fs::read_to_string(unified.join("cgroup.controllers"))
            .map(|c| c.split_whitespace().any(|x| x == "memory"))
            .unwrap_or(false);
        if v2_memory {
            return Meter {
                place: Ok((unified, Kind::V2)),
            };
        }
        let v1 = unified.join("memory");
        if v1.join("memory.max_usage_in_bytes").exists() {
            // Beneath the memory cgroup this process runs in: it may not
            // own the root.
            let own = fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        let mut f = l.splitn(3, ':');
                        let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                        ctrl.split(',')
                            .any(|c| c == "memory")
                            .then(|| path.trim_start_matches('/').to_string())
                    })
                })
                .unwrap_or_default();
            return Meter {
                place: Ok((v1.join(own), Kind::V1)),
            };
        }
        Meter {
            place: Err("no memory cgroup controller found (neither cgroup v2 with memory nor v1 /sys/fs/cgroup/memory)".into()),
        }
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        match &self.place {
            Ok((dir, Kind::V2)) => format!(
                "peak of a cgroup v2 made per run under {} (`memory.peak`), minus the plain process's median",
                dir.display()
            ),
            Ok((dir, Kind::V1)) => format!(
                "peak of a cgroup v1 memory cgroup made per run under {} (`memory.max_usage_in_bytes`, includes page cache first touched by the run), minus the plain process's median",
                dir.display()
            ),
            Err(e) => e.clone(),
        }
    }

    /// Run `cmd` in a fresh memory cgroup; its peak in bytes.
    pub fn peak_of(&self, cmd: Command, n: usize) -> Result<u64, String> {
        let (parent, kind) = self.place.as_ref().map_err(Clone::clone)?;
        let dir = parent.join(format!("wrun-bench-{}-{n}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let result = (|| {
            let script = format!(
                "echo $$ > '{}' && exec \"$@\"",
                dir.join("cgroup.procs").display()
            );
            let mut wrapped = Command::new("sh");
            wrapped
                .arg("-c")
                .arg(script)
                .arg("sh")
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    wrapped.env(k, v);
                }
            }
            let out = wrapped.output().map_err(|e| format!("cannot spawn: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "exited with {}: {}",
                    out.status,
                    crate::last_lines(&out.stderr, 3)
                ));
            }
            let file = match kind {
                Kind::V2 => "memory.peak",
                Kind::V1 => "memory.max_usage_in_bytes",
            };
            let text = fs::read_to_string(dir.join(file))
                .map_err(|e| format!("read {}: {e}", dir.join(file).display()))?;
            text.trim()
                .parse::<u64>()
                .map_err(|e| format!("{file}: '{}': {e}", text.trim()))
        })();
        // A runtime's last process may still be leaving the cgroup.
        for _ in 0..100 {
            if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        result
    }
}
