//! Start-to-exit benchmark: `wrun run --rm busybox true` measured in the
//! same run, interleaved, against the peers a user would pick instead:
//! `crun run` and `runc run` on an OCI bundle of the same busybox rootfs,
//! `podman run --rm` on an image imported from the same rootfs tarball, bare
//! `unshare` + `chroot`, and a plain process as the floor.
//!
//! Each round runs every peer once, in an order rotated from round to round,
//! so that drift of a noisy machine falls on all peers alike. A peer that is
//! not installed, or that fails its untimed probe run, is skipped with the
//! reason. Everything the benchmark creates lives in one temporary directory,
//! removed at the end.
//!
//! This crate only spawns the tools; it has no `unsafe` and no dependency on
//! wrun's own crates, so it measures the installed binaries as a user runs
//! them.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub mod suite;

/// The cgroup2 mount that makes crun 1.8 refuse a hybrid-cgroup host.
pub(crate) const HYBRID_CGROUP2: &str = "/sys/fs/cgroup/unified";

/// What to measure and where the inputs are.
#[derive(Debug, Clone)]
pub struct Config {
    /// Timed rounds (every peer runs once per round).
    pub runs: usize,
    /// Untimed rounds before the timed ones.
    pub warmup: usize,
    /// The busybox rootfs tarball made by `scripts/make-base-images.sh`.
    pub rootfs_tar: PathBuf,
    /// The `wrun` binary, if one was found.
    pub wrun: Option<PathBuf>,
    /// Another `wrun` binary (an earlier build, with its own `wrun-shim`
    /// beside it), measured in the same rounds as a row of its own: an A/B
    /// of two builds under the same load.
    pub wrun_baseline: Option<PathBuf>,
    /// Where the temporary directory is made.
    pub workdir_parent: PathBuf,
    /// Only these peers (by name), if set.
    pub only: Option<Vec<String>>,
}

impl Config {
    /// Defaults from the environment: `WRUN_BENCH_RUNS`, `WRUN_BENCH_WARMUP`,
    /// `WRUN_TEST_IMAGES` (directory holding `busybox.tar`, default
    /// `/var/cache/wrun`), `WRUN` (the wrun binary; else `wrun` beside this
    /// executable or in the target directory above it, else on `PATH`),
    /// `WRUN_BENCH_ONLY` (comma-separated peer names).
    pub fn from_env(default_runs: usize) -> Self {
        let runs = env_usize("WRUN_BENCH_RUNS").unwrap_or(default_runs);
        let warmup = env_usize("WRUN_BENCH_WARMUP").unwrap_or(3);
        let images = env::var_os("WRUN_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/wrun"));
        let only = env::var("WRUN_BENCH_ONLY")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(|p| p.trim().to_string()).collect());
        Config {
            runs,
            warmup,
            rootfs_tar: images.join("busybox.tar"),
            wrun: find_wrun(),
            wrun_baseline: None,
            workdir_parent: PathBuf::from("/var/tmp"),
            only,
        }
    }
}

fn env_usize(name: &str) -> Option<usize> {
    env::var(name).ok().and_then(|v| v.parse().ok())
}

/// `$WRUN`, else `wrun` next to this executable (target/release/ holds both
/// when built together) or one directory up (bench executables live in
/// target/release/deps/), else `wrun` on `PATH`.
fn find_wrun() -> Option<PathBuf> {
    if let Some(p) = env::var_os("WRUN") {
        return Some(PathBuf::from(p));
    }
    if let Ok(exe) = env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("wrun");
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    which("wrun")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The first executable called `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// One command that is timed from spawn to exit.
#[derive(Debug, Clone)]
struct Peer {
    name: &'static str,
    /// Program and arguments; `{n}` in an argument is replaced by a counter
    /// unique to the invocation (container names).
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Shown under the table: how the peer was run.
    how: String,
}

impl Peer {
    fn command(&self, n: usize) -> Command {
        let mut args = self.argv.iter().map(|a| {
            let s = a.to_string_lossy();
            if s.contains("{n}") {
                OsString::from(s.replace("{n}", &n.to_string()))
            } else {
                a.clone()
            }
        });
        let program = args.next().expect("a peer has a program");
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// A timed run: output discarded, wall time from spawn to reaped exit.
    fn time_once(&self, n: usize) -> io::Result<(f64, ExitStatus)> {
        let mut cmd = self.command(n);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        let status = cmd.status()?;
        Ok((start.elapsed().as_secs_f64() * 1e3, status))
    }

    /// An untimed run with output captured; the error says why it failed.
    fn probe(&self, n: usize) -> Result<(), String> {
        let out = self
            .command(n)
            .output()
            .map_err(|e| format!("cannot spawn {:?}: {e}", self.argv[0]))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "probe run failed ({}): {}",
                out.status,
                last_lines(&out.stderr, 3)
            ))
        }
    }
}

pub(crate) fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let tail = lines[start..].join(" / ");
    if tail.is_empty() {
        "no error output".to_string()
    } else {
        tail
    }
}

/// Median and spread of one peer's timed runs, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub runs: usize,
}

/// Percentile `q` (0..=1) of sorted samples, interpolated linearly.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summarize samples (any order).
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Some(Summary {
        median: percentile(&s, 0.5),
        p10: percentile(&s, 0.1),
        p90: percentile(&s, 0.9),
        runs: s.len(),
    })
}

/// The results of one benchmark run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in display order: (name, summary).
    pub rows: Vec<(String, Summary)>,
    /// Peers not measured, with the reason.
    pub skipped: Vec<(String, String)>,
    /// How each measured peer was run.
    pub how: Vec<(String, String)>,
    pub machine: String,
    pub runs: usize,
    pub warmup: usize,
}

impl Report {
    fn median_of(&self, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.median)
    }

    /// The markdown table, the machine, how each peer ran and what was
    /// skipped.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let crun = self
            .median_of(CRUN_NET)
            .or_else(|| self.median_of(CRUN_DIRECT));
        let _ = writeln!(
            out,
            "Start to exit of `true` in the busybox rootfs; {} interleaved rounds after {} warm-up rounds.\n",
            self.runs, self.warmup
        );
        let _ = writeln!(out, "Machine: {}\n", self.machine);
        out.push_str("| runtime | median | p10 | p90 | × crun |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
        for (name, s) in &self.rows {
            let ratio = match crun {
                Some(c) if c > 0.0 => format!("{:.2}", s.median / c),
                _ => "—".to_string(),
            };
            let _ = writeln!(
                out,
                "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {ratio} |",
                s.median, s.p10, s.p90
            );
        }
        for (name, _) in &self.skipped {
            let _ = writeln!(out, "| {name} | not measured (below) | | | |");
        }
        if !self.how.is_empty() {
            out.push_str("\nHow each was run:\n\n");
            for (name, how) in &self.how {
                let _ = writeln!(out, "- {name}: {how}");
            }
        }
        if !self.skipped.is_empty() {
            out.push_str("\nNot measured:\n\n");
            for (name, why) in &self.skipped {
                let _ = writeln!(out, "- {name}: {why}");
            }
        }
        out
    }
}

/// Row name of crun with the wrapper's cost subtracted (hybrid cgroups).
pub const CRUN_NET: &str = "crun (wrapper subtracted)";
/// Row name of crun run directly (hosts without the hybrid cgroup2 mount).
pub const CRUN_DIRECT: &str = "crun";
const CRUN_WRAPPED: &str = "crun, through the wrapper";
const CRUN_WRAPPER: &str = "crun's wrapper alone (`exec true`)";

/// The temporary directory and everything in it; removed on drop.
#[derive(Debug)]
pub(crate) struct Workdir {
    pub(crate) path: PathBuf,
    pub(crate) podman: Option<Vec<OsString>>,
    /// wrun binaries and their state roots under `path`: their default
    /// network's bridge and NAT rules (kept between containers) are
    /// removed on drop.
    pub(crate) wrun_roots: Vec<(PathBuf, PathBuf)>,
}

impl Workdir {
    pub(crate) fn new(parent: &Path) -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!("wrun-bench.{}.{nanos}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(Workdir {
            path,
            podman: None,
            wrun_roots: Vec::new(),
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Some(base) = &self.podman {
            // Removes podman's images, containers and storage mounts.
            let _ = Command::new(&base[0])
                .args(&base[1..])
                .args(["system", "reset", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for (wrun, root) in &self.wrun_roots {
            let _ = Command::new(wrun)
                .arg("--root")
                .arg(root)
                .args(["network", "teardown-default"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let mounts = mounts_under(&self.path);
        for m in mounts.iter().rev() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(m)
                .stderr(Stdio::null())
                .status();
        }
        let left = mounts_under(&self.path);
        if left.is_empty() {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                eprintln!("warning: cannot remove {}: {e}", self.path.display());
            }
        } else {
            eprintln!(
                "warning: {} still has mounts ({}); not removing it",
                self.path.display(),
                left.len()
            );
        }
    }
}

/// Mount points at or below `dir`, in mount order (from /proc/self/mountinfo,
/// octal escapes decoded).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn is_mountpoint(p: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|info| {
            info.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .any(|m| m == p)
        })
        .unwrap_or(false)
}

pub(crate) fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot spawn: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            last_lines(&out.stderr, 3)
        ))
    }
}

pub(crate) fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// The machine line: CPUs, model, kernel, distribution, date.
pub fn machine_description() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let debian = fs::read_to_string("/etc/debian_version")
        .map(|s| format!("Debian {}", s.trim()))
        .unwrap_or_else(|_| "unknown distribution".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into());
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{cpus} CPUs ({model}), kernel {kernel}, {debian}, {date}, 1-minute load average {load} at the start"
    )
}

/// The image changes written by make-base-images.sh beside the tarball
/// (`busybox.changes`), or busybox's defaults.
pub(crate) fn image_changes(tar: &Path) -> Vec<String> {
    let changes = tar.with_extension("changes");
    match fs::read_to_string(&changes) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        Err(_) => vec![
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            r#"CMD ["sh"]"#.into(),
        ],
    }
}

/// Prepare every peer that is installed; the rest go to `skipped`.
fn prepare(
    cfg: &Config,
    work: &mut Workdir,
    skipped: &mut Vec<(String, String)>,
) -> Result<Vec<Peer>, String> {
    let dir = work.path.clone();
    let tar = &cfg.rootfs_tar;
    if !tar.exists() {
        return Err(format!(
            "{} does not exist: run scripts/make-base-images.sh --no-import busybox (or set WRUN_TEST_IMAGES)",
            tar.display()
        ));
    }
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    fs::create_dir_all(&rootfs).map_err(|e| format!("mkdir {}: {e}", rootfs.display()))?;
    run_checked(
        Command::new("tar")
            .arg("--extract")
            .arg("--numeric-owner")
            .arg("--file")
            .arg(tar)
            .arg("--directory")
            .arg(&rootfs),
        "unpacking the busybox rootfs",
    )?;

    let mut peers = Vec::new();
    let wanted = |name: &str| {
        cfg.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|w| name.starts_with(w.as_str())))
    };

    if wanted("native") {
        peers.push(Peer {
            name: "native process",
            argv: vec![os(rootfs.join("bin/busybox")), os("true")],
            env: vec![],
            how: "the rootfs's `busybox true`, spawned directly on the host".into(),
        });
    }

    if wanted("unshare") {
        match which("unshare").zip(which("chroot")) {
            Some((unshare, _)) => peers.push(Peer {
                name: "unshare + chroot",
                argv: vec![
                    os(unshare),
                    os("--fork"),
                    os("--pid"),
                    os("--mount"),
                    os("--uts"),
                    os("--ipc"),
                    os("--net"),
                    os("chroot"),
                    os(&rootfs),
                    os("/bin/true"),
                ],
                env: vec![],
                how: "`unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true`"
                    .into(),
            }),
            None => skipped.push((
                "unshare + chroot".into(),
                "unshare or chroot not installed".into(),
            )),
        }
    }

    // The OCI bundle for runc and crun: `runc spec` (or `crun spec`), then
    // no terminal and `true` as the process.
    let runc = which("runc");
    let crun = which("crun");
    let want_oci = wanted("runc") || wanted("crun");
    if want_oci && (runc.is_some() || crun.is_some()) {
        let spec_tool = runc.clone().or(crun.clone()).expect("one of them");
        run_checked(
            Command::new(&spec_tool).arg("spec").current_dir(&bundle),
            "generating config.json with `spec`",
        )?;
        let path = bundle.join("config.json");
        let text = fs::read_to_string(&path).map_err(|e| format!("read config.json: {e}"))?;
        let mut spec: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("parse config.json: {e}"))?;
        spec["process"]["terminal"] = serde_json::Value::Bool(false);
        spec["process"]["args"] = serde_json::json!(["true"]);
        spec["root"]["path"] = serde_json::json!("rootfs");
        let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
        fs::write(&path, text).map_err(|e| format!("write config.json: {e}"))?;
    }

    if wanted("runc") {
        match &runc {
            Some(runc) => peers.push(Peer {
                name: "runc",
                argv: vec![
                    os(runc),
                    os("--root"),
                    os(dir.join("runc-state")),
                    os("run"),
                    os("--bundle"),
                    os(&bundle),
                    os("bench-runc-{n}"),
                ],
                env: vec![],
                how: "`runc run` on an OCI bundle (`runc spec`, terminal off, args `true`)".into(),
            }),
            None => skipped.push(("runc".into(), "runc not installed".into())),
        }
    }

    if wanted("crun") {
        match &crun {
            Some(crun) => {
                let crun_argv = vec![
                    os(crun),
                    os("--root"),
                    os(dir.join("crun-state")),
                    os("run"),
                    os("--bundle"),
                    os(&bundle),
                    os("bench-crun-{n}"),
                ];
                if is_mountpoint(HYBRID_CGROUP2) {
                    // crun 1.8 refuses hybrid cgroups: run it in a private
                    // mount namespace without the cgroup2 mount, and
                    // measure that wrapper alone to subtract it.
                    let script = format!("umount -l {HYBRID_CGROUP2} && exec \"$@\"");
                    let wrap = |inner: Vec<OsString>| {
                        let mut v = vec![
                            os("unshare"),
                            os("--mount"),
                            os("--propagation"),
                            os("private"),
                            os("sh"),
                            os("-c"),
                            os(&script),
                            os("wrapper"),
                        ];
                        v.extend(inner);
                        v
                    };
                    peers.push(Peer {
                        name: CRUN_WRAPPED,
                        argv: wrap(crun_argv),
                        env: vec![],
                        how: format!(
                            "`unshare --mount --propagation private sh -c 'umount -l {HYBRID_CGROUP2} && exec \"$@\"' wrapper crun run …` on the same bundle (crun 1.8 refuses hybrid cgroups)"
                        ),
                    });
                    peers.push(Peer {
                        name: CRUN_WRAPPER,
                        argv: wrap(vec![os("true")]),
                        env: vec![],
                        how: "the same wrapper running `exec true`; subtracted from crun's times round by round".into(),
                    });
                } else {
                    peers.push(Peer {
                        name: CRUN_DIRECT,
                        argv: crun_argv,
                        env: vec![],
                        how: "`crun run` on the same bundle".into(),
                    });
                }
            }
            None => skipped.push(("crun".into(), "crun not installed".into())),
        }
    }

    if wanted("podman") {
        match prepare_podman(cfg, work, &dir) {
            Ok(Some(p)) => peers.push(p),
            Ok(None) => skipped.push(("podman run --rm".into(), "podman not installed".into())),
            Err(e) => skipped.push(("podman run --rm".into(), e)),
        }
    }

    if wanted("wrun") {
        match prepare_wrun(cfg.wrun.clone(), WRUN, cfg, &dir.join("wrun-root"), work) {
            Ok(p) => {
                peers.push(with_default_bridge(&p));
                peers.push(p);
            }
            Err(e) => skipped.push((WRUN.into(), e)),
        }
        if let Some(base) = &cfg.wrun_baseline {
            let root = dir.join("wrun-baseline-root");
            match prepare_wrun(Some(base.clone()), WRUN_BASELINE, cfg, &root, work) {
                Ok(p) => peers.push(p),
                Err(e) => skipped.push((WRUN_BASELINE.into(), e)),
            }
        }
    }
    Ok(peers)
}

/// podman's command prefix for the benchmarks (a private store under
/// `dir`, runc when installed, cgroupfs, no journald) and its environment
/// (`CONTAINERS_CONF` raising nofile: this host's hard `RLIMIT_NOFILE` is
/// below podman's default 1048576).
pub(crate) fn podman_invocation(podman: &Path, dir: &Path) -> Result<PodmanInvocation, String> {
    let conf = dir.join("containers.conf");
    fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\",\"nproc=32768:32768\"]\n",
    )
    .map_err(|e| format!("write containers.conf: {e}"))?;
    let runtime = if which("runc").is_some() {
        "runc"
    } else {
        "crun"
    };
    let base = vec![
        os(podman),
        os("--root"),
        os(dir.join("podman-root")),
        os("--runroot"),
        os(dir.join("podman-runroot")),
        os("--tmpdir"),
        os(dir.join("podman-tmp")),
        os("--runtime"),
        os(runtime),
        os("--cgroup-manager"),
        os("cgroupfs"),
        os("--events-backend"),
        os("file"),
    ];
    Ok(PodmanInvocation {
        base,
        env: vec![(os("CONTAINERS_CONF"), os(&conf))],
        runtime,
    })
}

/// What [`podman_invocation`] gives: the command prefix, its environment
/// and the OCI runtime chosen.
pub(crate) struct PodmanInvocation {
    pub base: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub runtime: &'static str,
}

fn prepare_podman(cfg: &Config, work: &mut Workdir, dir: &Path) -> Result<Option<Peer>, String> {
    let Some(podman) = which("podman") else {
        return Ok(None);
    };
    let PodmanInvocation { base, env, runtime } = podman_invocation(&podman, dir)?;
    work.podman = Some(base.clone());
    let image = "localhost/wrun-bench/busybox:latest";
    let mut import = Command::new(&base[0]);
    import
        .args(&base[1..])
        .envs(env.iter().cloned())
        .arg("import");
    for change in image_changes(&cfg.rootfs_tar) {
        import.arg("--change").arg(change);
    }
    import.arg(&cfg.rootfs_tar).arg(image);
    run_checked(&mut import, "podman import")?;
    let mut argv = base;
    argv.extend(
        ["run", "--rm", "--network", "none", image, "true"]
            .into_iter()
            .map(os),
    );
    Ok(Some(Peer {
        name: "podman run --rm",
        argv,
        env,
        how: format!(
            "`podman run --rm --network none` with `--runtime {runtime}`, private `--root/--runroot`, `CONTAINERS_CONF` with nofile=20000, image `podman import`ed from the same tarball"
        ),
    }))
}

const WRUN: &str = "wrun run --rm";
const WRUN_BASELINE: &str = "wrun run --rm (baseline build)";
const WRUN_BRIDGE: &str = "wrun run --rm, default bridge network";

/// `peer` (wrun with `--network none`) on the default bridge network
/// instead: a veth pair and a leased address more (the bridge and its NAT
/// rules are made by the probe run and then kept). Not a row to compare
/// with crun, whose bundle gets an empty network namespace.
fn with_default_bridge(peer: &Peer) -> Peer {
    let mut argv = peer.argv.clone();
    if let Some(i) = argv.iter().position(|a| a == "--network") {
        argv.drain(i..i + 2);
    }
    Peer {
        name: WRUN_BRIDGE,
        argv,
        env: peer.env.clone(),
        how: peer.how.replace(" --network none", "").replace(
            "`, image",
            "` (its default bridge network, kept between containers), image",
        ),
    }
}

fn prepare_wrun(
    wrun: Option<PathBuf>,
    name: &'static str,
    cfg: &Config,
    root: &Path,
    work: &mut Workdir,
) -> Result<Peer, String> {
    let Some(wrun) = wrun else {
        return Err("no wrun binary (build it with `cargo build --release`, or set WRUN)".into());
    };
    if !is_executable(&wrun) {
        return Err(format!("{} is not an executable", wrun.display()));
    }
    let root = root.to_path_buf();
    let mut import = Command::new(&wrun);
    import.arg("--root").arg(&root).arg("import");
    for change in image_changes(&cfg.rootfs_tar) {
        import.arg("--change").arg(change);
    }
    import.arg(&cfg.rootfs_tar).arg("busybox:latest");
    work.wrun_roots.push((wrun.clone(), root.clone()));
    run_checked(&mut import, "wrun import")?;
    Ok(Peer {
        name,
        argv: vec![
            os(&wrun),
            os("--root"),
            os(&root),
            os("run"),
            os("--rm"),
            // The peers' bundles get an empty network namespace; so does
            // this (the default bridge network adds a veth and NAT).
            os("--network"),
            os("none"),
            os("busybox"),
            os("true"),
        ],
        env: vec![],
        how: format!(
            "`{} run --rm --network none busybox true`, image `wrun import`ed from the same tarball into a private `--root`",
            wrun.display()
        ),
    })
}

/// Run the benchmark; progress goes to stderr.
pub fn run(cfg: &Config) -> Result<Report, String> {
    if cfg.runs == 0 {
        return Err("the number of runs must be at least 1".into());
    }
    let mut work = Workdir::new(&cfg.workdir_parent).map_err(|e| {
        format!(
            "cannot make a temporary directory in {}: {e}",
            cfg.workdir_parent.display()
        )
    })?;
    let machine = machine_description();
    eprintln!("startup: working in {}", work.path.display());
    let mut skipped = Vec::new();
    let candidates = prepare(cfg, &mut work, &mut skipped)?;

    // An untimed probe of each peer, with its errors shown.
    let mut counter = 0usize;
    let mut peers = Vec::new();
    for p in candidates {
        counter += 1;
        match p.probe(counter) {
            Ok(()) => peers.push(p),
            Err(e) => skipped.push((p.name.to_string(), e)),
        }
    }
    // The wrapper is only meaningful alongside crun.
    if !peers.iter().any(|p| p.name == CRUN_WRAPPED) {
        peers.retain(|p| p.name != CRUN_WRAPPER);
    }
    for (name, why) in &skipped {
        eprintln!("startup: skipping {name}: {why}");
    }
    if peers.is_empty() {
        return Err("no peer could run".into());
    }

    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut failed: BTreeMap<&'static str, String> = BTreeMap::new();
    let total = cfg.warmup + cfg.runs;
    for round in 0..total {
        let timed = round >= cfg.warmup;
        let n = peers.len();
        for k in 0..n {
            let p = &peers[(round + k) % n];
            if failed.contains_key(p.name) {
                continue;
            }
            counter += 1;
            match p.time_once(counter) {
                Ok((ms, status)) if status.success() => {
                    if timed {
                        samples.entry(p.name).or_default().push(ms);
                    }
                }
                Ok((_, status)) => {
                    failed.insert(p.name, format!("failed in round {round} ({status})"));
                }
                Err(e) => {
                    failed.insert(p.name, format!("cannot spawn in round {round}: {e}"));
                }
            }
        }
        if timed && (round + 1 - cfg.warmup) % 10 == 0 {
            eprintln!("startup: {} of {} rounds", round + 1 - cfg.warmup, cfg.runs);
        }
    }

    let mut rows = Vec::new();
    let mut how = Vec::new();
    let order = [
        "native process",
        "unshare + chroot",
        CRUN_DIRECT,
        CRUN_NET,
        "runc",
        "podman run --rm",
        WRUN,
        WRUN_BASELINE,
        WRUN_BRIDGE,
        CRUN_WRAPPED,
        CRUN_WRAPPER,
    ];
    let ok = |name: &str| !failed.contains_key(name) && samples.contains_key(name);
    for name in order {
        if name == CRUN_NET {
            // crun net of its wrapper, paired round by round.
            if ok(CRUN_WRAPPED) && ok(CRUN_WRAPPER) {
                let net: Vec<f64> = samples[CRUN_WRAPPED]
                    .iter()
                    .zip(&samples[CRUN_WRAPPER])
                    .map(|(c, w)| c - w)
                    .collect();
                if let Some(s) = summarize(&net) {
                    rows.push((CRUN_NET.to_string(), s));
                }
            }
            continue;
        }
        if ok(name) {
            if let Some(s) = summarize(&samples[name]) {
                rows.push((name.to_string(), s));
            }
        }
    }
    for p in &peers {
        if let Some(why) = failed.get(p.name) {
            skipped.push((p.name.to_string(), why.clone()));
        } else {
            how.push((p.name.to_string(), p.how.clone()));
        }
    }
    Ok(Report {
        rows,
        skipped,
        how,
        machine,
        runs: cfg.runs,
        warmup: cfg.warmup,
    })
}

/// Replace the text between `<!-- startup:begin -->` and
/// `<!-- startup:end -->` in `doc` with `table`.
pub fn splice_into_doc(doc: &str, table: &str) -> Result<String, String> {
    const BEGIN: &str = "<!-- startup:begin -->";
    const END: &str = "<!-- startup:end -->";
    let b = doc
        .find(BEGIN)
        .ok_or_else(|| format!("no {BEGIN} marker in the document"))?;
    let e = doc
        .find(END)
        .filter(|&e| e > b)
        .ok_or_else(|| format!("no {END} marker after {BEGIN}"))?;
    Ok(format!(
        "{}{BEGIN}\n{}\n{}",
        &doc[..b],
        table.trim_end(),
        &doc[e..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&s, 0.5), 3.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 1.0), 5.0);
        assert!((percentile(&s, 0.1) - 1.4).abs() < 1e-9);
        let two = [10.0, 20.0];
        assert_eq!(percentile(&two, 0.5), 15.0);
    }

    #[test]
    fn summary_of_unsorted_samples() {
        let s = summarize(&[5.0, 1.0, 3.0]).expect("samples");
        assert_eq!(s.median, 3.0);
        assert_eq!(s.runs, 3);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn splice_replaces_between_markers() {
        let doc = "a\n<!-- startup:begin -->\nold\n<!-- startup:end -->\nb\n";
        let out = splice_into_doc(doc, "new\n").expect("markers");
        assert_eq!(
            out,
            "a\n<!-- startup:begin -->\nnew\n<!-- startup:end -->\nb\n"
        );
        assert!(splice_into_doc("no markers", "x").is_err());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }
}
