//! The isolation comparison behind `wrun bench`: the same workloads run
//! under every isolation level of wrun and under the peers a user would pick
//! instead, side by side, on one machine, in one run.
//!
//! Subjects (`SUBJECTS`): a plain process (the baseline every ratio is
//! taken to), bare namespaces (`unshare` + `chroot`), wrun's levels
//! `process`, `namespaces`, `wasm` with the `audit` policy and with the
//! restrictive `no-network` one, runc, crun, gVisor's runsc, podman, and a
//! QEMU `-M microvm` virtual machine (KVM when a test boot proves it works,
//! TCG emulation otherwise; the label says which).
//!
//! Workloads (`Workload`): start → exit of a program that exits at once;
//! a syscall mix timed *inside* the isolation by the static program of
//! `benches/workload/workload.c` (shipped inside this crate); HTTP requests
//! per second through a published port, driven by `wrk`; and the memory the
//! isolation adds, as the peak of a memory cgroup holding everything the
//! run started, minus that of the plain process.
//!
//! Every round runs every subject once, in an order rotated from round to
//! round (`stats::round_order`); a subject whose untimed probe run fails is
//! reported with its error, and the others go on. A peer that is not
//! installed is listed as such with the package to install.

pub mod report;
pub mod stats;
pub mod svg;

mod cpio;
mod memory;
mod microvm;
mod subjects;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub use subjects::SUBJECTS;
use subjects::{Prepared, Subject};

/// The workload program, built static by `build.rs` from
/// `workload/workload.c`.
pub const WORKLOAD_PROGRAM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wrun-bench-workload"));

/// Where the workload program sits inside every rootfs.
pub const WORKLOAD_PATH: &str = "/wrun-bench-workload";

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    StartExit,
    Syscalls,
    Http,
    Memory,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::StartExit,
        Workload::Syscalls,
        Workload::Http,
        Workload::Memory,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::StartExit => "start-exit",
            Workload::Syscalls => "syscalls",
            Workload::Http => "http",
            Workload::Memory => "memory",
        }
    }

    pub fn from_name(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// The metrics this workload yields, in display order.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Workload::StartExit => &[Metric {
                name: "start-exit",
                unit: "ms",
                higher_is_better: false,
                about: "start to exit of `wrun-bench-workload true`",
            }],
            Workload::Syscalls => &[
                Metric {
                    name: "getpid",
                    unit: "ns",
                    higher_is_better: false,
                    about: "one getpid(2)",
                },
                Metric {
                    name: "openat_close",
                    unit: "ns",
                    higher_is_better: false,
                    about: "openat(2) + close(2) of the workload program",
                },
                Metric {
                    name: "stat",
                    unit: "ns",
                    higher_is_better: false,
                    about: "stat(2) of the workload program",
                },
                Metric {
                    name: "tcp_connect",
                    unit: "ns",
                    higher_is_better: false,
                    about: "socket + connect + accept + 2 closes on 127.0.0.1",
                },
                Metric {
                    name: "write_read_64mib",
                    unit: "ms",
                    higher_is_better: false,
                    about: "write 64 MiB to a file in /tmp, read it back",
                },
            ],
            Workload::Http => &[Metric {
                name: "http",
                unit: "req/s",
                higher_is_better: true,
                about: "requests per second through a published port (wrk, keep-alive)",
            }],
            Workload::Memory => &[Metric {
                name: "memory",
                unit: "MiB",
                higher_is_better: false,
                about: "peak memory added beyond the plain process",
            }],
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measured quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub about: &'static str,
}

/// Errors that stop the whole comparison (a single failing subject or
/// workload does not: it is reported in its cell).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "unknown name '{name}' in {flag}; known subjects: {subjects}; known workloads: {workloads}"
    )]
    UnknownName {
        flag: &'static str,
        name: String,
        subjects: String,
        workloads: String,
    },
    #[error("--rounds must be at least 1")]
    NoRounds,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Few rounds and short loops: under a minute for a class.
    pub quick: bool,
    /// Rounds of the start-exit workload (the others scale from it); the
    /// default depends on `quick`.
    pub rounds: Option<usize>,
    /// Subject or workload names to keep (empty: all).
    pub only: Vec<String>,
    /// Subject or workload names to leave out.
    pub skip: Vec<String>,
    /// The wrun binary for wrun's levels.
    pub wrun: Option<PathBuf>,
    /// The busybox rootfs tarball every subject runs from.
    pub rootfs_tar: PathBuf,
    /// The `.changes` file beside it (ENV, CMD for the imports).
    pub changes: Vec<String>,
    /// Parent of the temporary working directory.
    pub workdir_parent: PathBuf,
    /// Where the microVM's kernel and initramfs are cached.
    pub cache_dir: PathBuf,
}

impl SuiteConfig {
    /// Defaults: busybox from `WRUN_TEST_IMAGES` (or /var/cache/wrun), work
    /// under `WRUN_BENCH_WORKDIR` (or /var/tmp), VM cache under
    /// `WRUN_BENCH_CACHE` (or /var/cache/wrun/bench).
    pub fn new(wrun: Option<PathBuf>) -> Self {
        let images = std::env::var_os("WRUN_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/wrun"));
        let rootfs_tar = images.join("busybox.tar");
        let changes = crate::image_changes(&rootfs_tar);
        SuiteConfig {
            quick: false,
            rounds: None,
            only: Vec::new(),
            skip: Vec::new(),
            wrun,
            rootfs_tar,
            changes,
            workdir_parent: std::env::var_os("WRUN_BENCH_WORKDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/tmp")),
            cache_dir: std::env::var_os("WRUN_BENCH_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/wrun/bench")),
        }
    }

    /// Rounds per workload.
    pub fn rounds_for(&self, w: Workload) -> usize {
        let base = self.rounds.unwrap_or(if self.quick { 5 } else { 20 });
        match w {
            Workload::StartExit => base,
            Workload::Syscalls | Workload::Memory => (base / 4).max(1),
            Workload::Http => (base / 7).max(1),
        }
    }

    /// Check `only`/`skip` against the known names; returns the subjects
    /// and workloads selected. The native process is always measured (every
    /// ratio is taken to it) unless it is named in `skip`.
    pub fn selection(&self) -> Result<(Vec<&'static str>, Vec<Workload>), BenchError> {
        for (flag, names) in [("--only", &self.only), ("--skip", &self.skip)] {
            for n in names {
                let known =
                    SUBJECTS.iter().any(|s| s.name == n) || Workload::from_name(n).is_some();
                if !known {
                    return Err(BenchError::UnknownName {
                        flag,
                        name: n.clone(),
                        subjects: SUBJECTS
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                        workloads: Workload::ALL.map(Workload::name).join(", "),
                    });
                }
            }
        }
        let only_subjects: Vec<&String> = self
            .only
            .iter()
            .filter(|n| Workload::from_name(n).is_none())
            .collect();
        let only_workloads: Vec<Workload> = self
            .only
            .iter()
            .filter_map(|n| Workload::from_name(n))
            .collect();
        let subjects = SUBJECTS
            .iter()
            .map(|s| s.name)
            .filter(|name| {
                (only_subjects.is_empty()
                    || *name == "native"
                    || only_subjects.iter().any(|o| o.as_str() == *name))
                    && !self.skip.iter().any(|s| s == name)
            })
            .collect();
        let workloads = Workload::ALL
            .into_iter()
            .filter(|w| only_workloads.is_empty() || only_workloads.contains(w))
            .filter(|w| !self.skip.iter().any(|s| s == w.name()))
            .collect();
        Ok((subjects, workloads))
    }
}

/// A subject as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectInfo {
    /// The name used by `--only`/`--skip`.
    pub name: String,
    /// The name shown in tables and charts.
    pub label: String,
    /// How it was run (command line).
    pub how: String,
    /// Why it was not measured at all, if so ("not installed (apt install
    /// runc)", or the preparation's error).
    pub unavailable: Option<String>,
}

/// The samples of one subject for one metric, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub subject: String,
    pub workload: Workload,
    pub metric: &'static str,
    pub unit: &'static str,
    pub samples: Vec<f64>,
    pub error: Option<String>,
}

/// The harness's own cost, measured with an empty workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overhead {
    /// Median time the harness's timing path takes around a workload that
    /// does nothing, in nanoseconds.
    pub empty_ns: f64,
    /// That, as a percentage of the smallest median measured from the host
    /// (the native start-exit), if measured.
    pub percent_of_smallest: Option<f64>,
}

/// Everything one comparison produced.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub machine: String,
    pub load_before: String,
    pub load_after: String,
    pub quick: bool,
    pub rounds: BTreeMap<Workload, usize>,
    pub workloads: Vec<Workload>,
    pub subjects: Vec<SubjectInfo>,
    pub cells: Vec<Cell>,
    pub overhead: Overhead,
    /// How memory was measured on this host.
    pub memory_method: String,
    pub seconds: f64,
}

impl SuiteReport {
    /// The cell of `subject` for `metric`, if any.
    pub fn cell(&self, subject: &str, metric: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.subject == subject && c.metric == metric)
    }

    /// Median of `subject`'s samples for `metric`.
    pub fn median(&self, subject: &str, metric: &str) -> Option<f64> {
        self.cell(subject, metric)
            .filter(|c| c.error.is_none())
            .and_then(|c| stats::median(&c.samples))
    }

    /// Ratio of `subject`'s median to the native process's for `metric`.
    pub fn ratio_to_native(&self, subject: &str, metric: &str) -> Option<f64> {
        if metric == "memory" {
            // Memory is already reported as what the isolation adds.
            return None;
        }
        stats::ratio(
            self.median(subject, metric)?,
            self.median("native", metric)?,
        )
    }

    pub fn label(&self, subject: &str) -> String {
        self.subjects
            .iter()
            .find(|s| s.name == subject)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| subject.to_string())
    }
}

/// The 1-minute load average now.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Run the comparison. Progress goes to stderr.
pub fn run(cfg: &SuiteConfig) -> Result<SuiteReport, BenchError> {
    let (names, workloads) = cfg.selection()?;
    if cfg.rounds == Some(0) {
        return Err(BenchError::NoRounds);
    }
    let started = Instant::now();
    let load_before = load_average();
    let machine = crate::machine_description();
    let overhead_ns = measure_empty_workload();
    let mut prepared = Prepared::new(cfg)?;
    eprintln!("bench: working in {}", prepared.dir().display());

    let mut subjects: Vec<Subject> = Vec::new();
    let mut infos: Vec<SubjectInfo> = Vec::new();
    for name in &names {
        eprintln!("bench: preparing {name}");
        match prepared.subject(name) {
            Ok(s) => {
                infos.push(SubjectInfo {
                    name: name.to_string(),
                    label: s.label.clone(),
                    how: s.how.clone(),
                    unavailable: None,
                });
                subjects.push(s);
            }
            Err(why) => {
                eprintln!("bench: {name}: {why}");
                infos.push(SubjectInfo {
                    name: name.to_string(),
                    label: subjects::label_of(name),
                    how: String::new(),
                    unavailable: Some(why),
                })
            }
        }
    }
    // crun's wrapper is measured as a hidden subject and subtracted.
    let helpers = prepared.helpers(&subjects);

    let mut cells = Vec::new();
    let mut rounds = BTreeMap::new();
    let memory = memory::Meter::detect();
    for &w in &workloads {
        let n = cfg.rounds_for(w);
        rounds.insert(w, n);
        eprintln!("bench: {w}: {n} rounds over {} subjects", subjects.len());
        let mut all: Vec<&Subject> = subjects.iter().collect();
        if w == Workload::StartExit {
            all.extend(helpers.iter());
        }
        let results = run_workload(cfg, &mut prepared, &all, w, n, &memory);
        cells.extend(finish_cells(w, results, &subjects));
    }
    for info in &infos {
        if let Some(why) = &info.unavailable {
            for &w in &workloads {
                for m in w.metrics() {
                    cells.push(Cell {
                        subject: info.name.clone(),
                        workload: w,
                        metric: m.name,
                        unit: m.unit,
                        samples: Vec::new(),
                        error: Some(why.clone()),
                    });
                }
            }
        }
    }
    // Memory is reported as what the isolation adds: the plain process's
    // median peak (its `sh` and the workload itself) comes off every sample.
    let mut memory_method = memory.describe();
    let native_peak = cells
        .iter()
        .find(|c| c.subject == "native" && c.metric == "memory" && c.error.is_none())
        .and_then(|c| stats::median(&c.samples));
    if let Some(base) = native_peak {
        for c in cells.iter_mut().filter(|c| c.metric == "memory") {
            for v in &mut c.samples {
                *v -= base;
            }
        }
        memory_method.push_str(&format!(" (the plain process's own peak: {base:.2} MiB)"));
    }
    let mut report = SuiteReport {
        machine,
        load_before,
        load_after: load_average(),
        quick: cfg.quick,
        rounds,
        workloads,
        subjects: infos,
        cells,
        overhead: Overhead {
            empty_ns: overhead_ns,
            percent_of_smallest: None,
        },
        memory_method,
        seconds: 0.0,
    };
    report.overhead.percent_of_smallest = report
        .median("native", "start-exit")
        .map(|ms| overhead_ns / (ms * 1e6) * 100.0);
    report.seconds = started.elapsed().as_secs_f64();
    drop(prepared);
    Ok(report)
}

/// The timing path of `run_workload` around a workload that does nothing:
/// the clock reads and the sample bookkeeping, in nanoseconds (median of
/// 1000).
fn measure_empty_workload() -> f64 {
    let mut samples = Vec::with_capacity(1000);
    let mut sink: Vec<f64> = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let outer = Instant::now();
        let start = Instant::now();
        std::hint::black_box(());
        sink.push(start.elapsed().as_secs_f64() * 1e3);
        samples.push(outer.elapsed().as_nanos() as f64);
    }
    std::hint::black_box(&sink);
    stats::median(&samples).unwrap_or(0.0)
}

/// What one subject produced for one workload.
#[derive(Debug, Default)]
struct SubjectResult {
    samples: BTreeMap<&'static str, Vec<f64>>,
    /// A metric the isolation refused (a restrictive policy denying
    /// connect): a result, not a failure of the run.
    metric_errors: BTreeMap<&'static str, String>,
    /// What stopped the subject for this workload.
    error: Option<String>,
}

type Results = BTreeMap<String, SubjectResult>;

/// One measurement: values, and metrics that reported an error.
#[derive(Debug, Default)]
struct Measured {
    values: Vec<(&'static str, f64)>,
    metric_errors: Vec<(&'static str, String)>,
}

impl Measured {
    fn one(metric: &'static str, v: f64) -> Self {
        Measured {
            values: vec![(metric, v)],
            metric_errors: Vec::new(),
        }
    }
}

fn run_workload(
    cfg: &SuiteConfig,
    prepared: &mut Prepared,
    subjects: &[&Subject],
    w: Workload,
    rounds: usize,
    memory: &memory::Meter,
) -> Results {
    let mut results: Results = BTreeMap::new();
    // An untimed probe: its error (with the subject's own stderr) is what
    // the report shows for this workload.
    let mut live: Vec<&Subject> = Vec::new();
    for s in subjects {
        let entry = results.entry(s.name.clone()).or_default();
        match measure(cfg, prepared, s, w, memory) {
            Ok(_) => live.push(s),
            Err(e) => {
                eprintln!("bench: {w}: {}: {e}", s.name);
                entry.error = Some(e);
            }
        }
    }
    for round in 0..rounds {
        if rounds > 1 {
            eprintln!("bench: {w}: round {} of {rounds}", round + 1);
        }
        for i in stats::round_order(live.len(), round) {
            let s = live[i];
            if results[&s.name].error.is_some() {
                continue;
            }
            let outcome = measure(cfg, prepared, s, w, memory);
            let entry = results.entry(s.name.clone()).or_default();
            match outcome {
                Ok(m) => {
                    for (metric, v) in m.values {
                        entry.samples.entry(metric).or_default().push(v);
                    }
                    for (metric, e) in m.metric_errors {
                        entry.metric_errors.insert(metric, e);
                    }
                }
                Err(e) => {
                    eprintln!("bench: {w}: {} failed in round {round}: {e}", s.name);
                    entry.error = Some(format!("round {round}: {e}"));
                }
            }
        }
    }
    results
}

/// One measurement of one subject: metric name → value.
fn measure(
    cfg: &SuiteConfig,
    prepared: &mut Prepared,
    s: &Subject,
    w: Workload,
    memory: &memory::Meter,
) -> Result<Measured, String> {
    let n = prepared.next_counter();
    match w {
        Workload::StartExit => {
            let mut cmd = s.command(&[WORKLOAD_PATH, "true"], n)?;
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let start = Instant::now();
            let child = cmd.spawn().map_err(|e| format!("cannot spawn: {e}"))?;
            let out = child.wait_with_output().map_err(|e| format!("wait: {e}"))?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if !out.status.success() {
                return Err(format!(
                    "exited with {}: {}",
                    out.status,
                    crate::last_lines(&out.stderr, 3)
                ));
            }
            Ok(Measured::one("start-exit", ms))
        }
        Workload::Syscalls => {
            let args: &[&str] = if cfg.quick {
                &[WORKLOAD_PATH, "syscalls", "quick"]
            } else {
                &[WORKLOAD_PATH, "syscalls"]
            };
            let mut cmd = s.command(args, n)?;
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot spawn: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let parsed = parse_workload_output(&text);
            if parsed.is_empty() {
                return Err(format!(
                    "no measurements printed ({}): {}",
                    out.status,
                    crate::last_lines(&out.stderr, 3)
                ));
            }
            let mut m = Measured::default();
            for (name, v) in parsed {
                let Some(metric) = Workload::Syscalls.metrics().iter().find(|m| m.name == name)
                else {
                    continue;
                };
                match v {
                    Ok(v) => m.values.push((metric.name, v)),
                    Err(e) => m.metric_errors.push((metric.name, e)),
                }
            }
            Ok(m)
        }
        Workload::Http => http_once(cfg, s, n),
        Workload::Memory => {
            let cmd = s.command(&[WORKLOAD_PATH, "true"], n)?;
            let peak = memory.peak_of(cmd, n)?;
            Ok(Measured::one("memory", peak as f64 / (1024.0 * 1024.0)))
        }
    }
}

/// Parse `WRUNBENCH name value unit` and `WRUNBENCH name error text` lines.
pub fn parse_workload_output(text: &str) -> Vec<(String, Result<f64, String>)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("WRUNBENCH "))
        .filter_map(|rest| {
            let mut it = rest.splitn(3, ' ');
            let name = it.next()?.to_string();
            let value = it.next()?;
            let tail = it.next().unwrap_or("");
            if value == "error" {
                Some((name, Err(tail.to_string())))
            } else {
                value.parse::<f64>().ok().map(|v| (name, Ok(v)))
            }
        })
        .collect()
}

fn http_once(cfg: &SuiteConfig, s: &Subject, n: usize) -> Result<Measured, String> {
    let wrk = crate::which("wrk").ok_or("wrk not installed (apt install wrk)")?;
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let log = cfg
        .workdir_parent
        .join(format!("wrun-bench-http-{}.log", std::process::id()));
    let mut server = s.serve_http(port, n, &log)?;
    let result = (|| {
        wait_http(&mut server, port, Duration::from_secs(60))?;
        let secs = if cfg.quick { 1 } else { 3 };
        let out = std::process::Command::new(&wrk)
            .args(["-t1", "-c8", &format!("-d{secs}s")])
            .arg(format!("http://127.0.0.1:{port}/"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot spawn wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_wrk(&text).ok_or_else(|| {
            format!(
                "wrk printed no Requests/sec ({}): {}",
                out.status,
                crate::last_lines(&out.stderr, 2)
            )
        })
    })();
    let stop = server.stop();
    let _ = fs::remove_file(&log);
    let rps = result?;
    stop?;
    Ok(Measured::one("http", rps))
}

/// `Requests/sec: 1234.56` from wrk's output; `None` when errors dominate
/// (wrk counts non-2xx and socket errors; a run with errors but no
/// successful request is not a measurement).
pub fn parse_wrk(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
}

fn free_port() -> io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Wait until `GET /` on the port answers 200 (a port forwarder may accept
/// connections before the server behind it listens).
fn wait_http(server: &mut subjects::Server, port: u16, limit: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + limit;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        let attempt = (|| -> io::Result<bool> {
            let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
            c.set_read_timeout(Some(Duration::from_millis(1000)))?;
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut buf = [0u8; 64];
            let got = c.read(&mut buf)?;
            Ok(buf[..got].starts_with(b"HTTP/1.1 200"))
        })();
        if let Ok(true) = attempt {
            return Ok(());
        }
        server.check_alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "the server behind port {port} did not answer within {}s",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Turn raw results into cells, one per (subject, metric), taking a
/// helper's paired cost out of the subject that declared it.
fn finish_cells(w: Workload, mut results: Results, subjects: &[Subject]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for s in subjects {
        let mut r = results.remove(&s.name).unwrap_or_default();
        if let (Some(helper), Workload::StartExit, None) = (&s.subtract, w, &r.error) {
            match results.get(helper.as_str()) {
                Some(h) if h.error.is_none() => {
                    let own = r.samples.remove("start-exit").unwrap_or_default();
                    let theirs = h.samples.get("start-exit").cloned().unwrap_or_default();
                    r.samples
                        .insert("start-exit", stats::paired_difference(&own, &theirs));
                }
                Some(h) => {
                    r.error = Some(format!(
                        "its wrapper, measured to be subtracted, failed: {}",
                        h.error.clone().unwrap_or_default()
                    ))
                }
                None => r.error = Some("its wrapper was not measured".into()),
            }
        }
        for m in w.metrics() {
            let vals = r.samples.get(m.name).cloned().unwrap_or_default();
            let err = r
                .error
                .clone()
                .or_else(|| r.metric_errors.get(m.name).cloned())
                .or_else(|| vals.is_empty().then(|| "no samples".to_string()));
            cells.push(Cell {
                subject: s.name.clone(),
                workload: w,
                metric: m.name,
                unit: m.unit,
                samples: if err.is_some() { Vec::new() } else { vals },
                error: err,
            });
        }
    }
    cells
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    let tmp = path.with_extension("tmp-wrun-bench");
    fs::write(&tmp, bytes).map_err(|source| BenchError::Io {
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, path).map_err(|source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_output_parses_values_and_errors() {
        let text = "noise\nWRUNBENCH getpid 90.5 ns\nWRUNBENCH tcp_connect error connect to 127.0.0.1: Permission denied\nWRUNBENCH bad\n";
        let p = parse_workload_output(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], ("getpid".to_string(), Ok(90.5)));
        assert_eq!(
            p[1],
            (
                "tcp_connect".to_string(),
                Err("connect to 127.0.0.1: Permission denied".to_string())
            )
        );
    }

    #[test]
    fn wrk_requests_per_second() {
        let text = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 8 connections\nRequests/sec:  12345.67\nTransfer/sec:      1.2MB\n";
        assert_eq!(parse_wrk(text), Some(12345.67));
        assert_eq!(parse_wrk("Requests/sec: 0.00"), None);
        assert_eq!(parse_wrk("nothing"), None);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let mut cfg = SuiteConfig::new(None);
        cfg.only = vec!["procss".into()];
        let err = cfg.selection().expect_err("unknown name").to_string();
        assert!(err.contains("'procss'"), "{err}");
        assert!(
            err.contains("namespaces") && err.contains("microvm"),
            "{err}"
        );
        assert!(err.contains("start-exit"), "{err}");
    }

    #[test]
    fn selection_keeps_native_and_filters_workloads() {
        let mut cfg = SuiteConfig::new(None);
        cfg.only = vec!["process".into(), "namespaces".into()];
        let (subjects, workloads) = cfg.selection().expect("known names");
        assert_eq!(subjects, vec!["native", "process", "namespaces"]);
        assert_eq!(workloads, Workload::ALL.to_vec());
        cfg.only = vec!["crun".into(), "start-exit".into()];
        cfg.skip = vec!["native".into()];
        let (subjects, workloads) = cfg.selection().expect("known names");
        assert_eq!(subjects, vec!["crun"]);
        assert_eq!(workloads, vec![Workload::StartExit]);
    }

    #[test]
    fn rounds_scale_per_workload() {
        let mut cfg = SuiteConfig::new(None);
        cfg.quick = true;
        assert_eq!(cfg.rounds_for(Workload::StartExit), 5);
        assert_eq!(cfg.rounds_for(Workload::Http), 1);
        cfg.rounds = Some(40);
        assert_eq!(cfg.rounds_for(Workload::Syscalls), 10);
    }
}
