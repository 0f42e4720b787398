//! Resource usage of a running container, read from its cgroup, for
//! `wrun stats` and `wrun top`.
//!
//! Docker computes every column from two samples a moment apart; so does
//! wrun. A [`Sample`] is one reading:
//!
//! * CPU: the cgroup's total CPU time (`cpuacct.usage` in ns on v1,
//!   `usage_usec` of `cpu.stat` on v2) and the host's total CPU time from
//!   `/proc/stat`, so that [`cpu_percent`] is Docker's
//!   `cpu_delta / system_delta * online_cpus * 100`.
//! * Memory: usage without the inactive file cache (Docker's
//!   `usage - total_inactive_file` on v1, `memory.current - inactive_file`
//!   on v2), and the limit (the host's memory when there is none, as
//!   Docker reports it).
//! * PIDs: `pids.current`.
//! * Network: bytes of the container's interfaces other than `lo`, from
//!   `/proc/<shim pid>/net/dev` (the file shows the reader's view of that
//!   process's network namespace).
//! * Block I/O: `io.stat` (v2) or `blkio.throttle.io_service_bytes` (v1)
//!   when the cgroup has that controller; zero otherwise.
//!
//! See the kernel's `admin-guide/cgroup-v1/{cpuacct,memory}.rst` and
//! `cgroup-v2.rst`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::state::{ContainerState, Status};
use crate::{Error, Result};

/// Clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

/// One reading of a container's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Total CPU time of the container, in nanoseconds.
    pub cpu_ns: u64,
    /// Total CPU time of the host (all CPUs), in nanoseconds.
    pub system_ns: u64,
    /// CPUs online on the host.
    pub online_cpus: u32,
    /// Memory in use, without inactive page cache, in bytes.
    pub mem_usage: u64,
    /// Memory limit in bytes (the host's total when unlimited).
    pub mem_limit: u64,
    pub pids: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
}

impl Sample {
    /// Memory use as a percentage of the limit.
    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            0.0
        } else {
            self.mem_usage as f64 / self.mem_limit as f64 * 100.0
        }
    }
}

/// Docker's CPU percentage between two samples.
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    let cpu = after.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let system = after.system_ns.saturating_sub(before.system_ns) as f64;
    if cpu > 0.0 && system > 0.0 {
        cpu / system * f64::from(after.online_cpus.max(1)) * 100.0
    } else {
        0.0
    }
}

impl crate::launch::Runtime {
    /// Reads the counters of `state`'s container. A container that is not
    /// running has an all-zero sample, as Docker shows it.
    pub fn sample(&self, state: &ContainerState) -> Result<Sample> {
        if state.status != Status::Running || state.cgroups.is_empty() {
            return Ok(Sample::default());
        }
        let mut s = sample_cgroup(&state.cgroups)?;
        (s.system_ns, s.online_cpus) = host_cpu()?;
        if let Some(pid) = state.pid {
            let path = format!("/proc/{pid}/net/dev");
            // The container may exit between our read of its state and now.
            if let Ok(text) = fs::read_to_string(&path) {
                (s.net_rx, s.net_tx) = parse_net_dev(&text);
            }
        }
        Ok(s)
    }

    /// Host pids of every process in the container's cgroup (and its
    /// sub-cgroups), sorted. Fails with [`Error::NotRunning`] for a
    /// container that does not run.
    pub fn container_pids(&self, key: &str) -> Result<Vec<i32>> {
        let state = self.get(key)?;
        if state.status != Status::Running || state.cgroups.is_empty() {
            return Err(Error::NotRunning(key.to_string()));
        }
        let mut pids = Vec::new();
        for dir in &state.cgroups {
            collect_procs(dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}

/// Reads `cgroup.procs` of `dir` and of every cgroup below it.
fn collect_procs(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match fs::read_to_string(&procs) {
        Ok(text) => pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        // Removed since the state was read: the container just exited.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(procs)(e)),
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&entry.path(), pids)?;
        }
    }
    Ok(())
}

/// The first of the cgroup's directories holding `file` (v1 keeps each
/// controller's files in its own hierarchy).
fn find(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(file)).find(|p| p.exists())
}

fn read_opt(dirs: &[PathBuf], file: &str) -> Result<Option<String>> {
    match find(dirs, file) {
        Some(p) => fs::read_to_string(&p).map(Some).map_err(Error::io(p)),
        None => Ok(None),
    }
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The counters of a cgroup given by its directories (one on v2, one per
/// hierarchy on v1).
pub fn sample_cgroup(dirs: &[PathBuf]) -> Result<Sample> {
    let mut s = Sample::default();
    let host_mem = host_memory()?;
    if let Some(usage) = read_opt(dirs, "cpuacct.usage")? {
        // v1
        s.cpu_ns = number(&usage).unwrap_or(0);
        let usage = read_opt(dirs, "memory.usage_in_bytes")?
            .and_then(|t| number(&t))
            .unwrap_or(0);
        let stat = read_opt(dirs, "memory.stat")?.unwrap_or_default();
        let inactive = stat_value(&stat, "total_inactive_file").unwrap_or(0);
        s.mem_usage = usage.saturating_sub(inactive);
        let limit = read_opt(dirs, "memory.limit_in_bytes")?
            .and_then(|t| number(&t))
            .unwrap_or(u64::MAX);
        s.mem_limit = limit.min(host_mem);
        if let Some(blkio) = read_opt(dirs, "blkio.throttle.io_service_bytes")? {
            (s.blk_read, s.blk_write) = parse_blkio_v1(&blkio);
        }
    } else {
        // v2
        let stat = read_opt(dirs, "cpu.stat")?.unwrap_or_default();
        s.cpu_ns = stat_value(&stat, "usage_usec").unwrap_or(0) * 1000;
        let current = read_opt(dirs, "memory.current")?
            .and_then(|t| number(&t))
            .unwrap_or(0);
        let mstat = read_opt(dirs, "memory.stat")?.unwrap_or_default();
        let inactive = stat_value(&mstat, "inactive_file").unwrap_or(0);
        s.mem_usage = current.saturating_sub(inactive);
        let limit = read_opt(dirs, "memory.max")?
            .and_then(|t| number(&t))
            .unwrap_or(u64::MAX);
        s.mem_limit = limit.min(host_mem);
        if let Some(io) = read_opt(dirs, "io.stat")? {
            (s.blk_read, s.blk_write) = parse_io_stat_v2(&io);
        }
    }
    s.pids = read_opt(dirs, "pids.current")?
        .and_then(|t| number(&t))
        .unwrap_or(0);
    Ok(s)
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| number(v)).flatten()
    })
}

/// Total host memory (`MemTotal` of `/proc/meminfo`), in bytes.
fn host_memory() -> Result<u64> {
    let text = fs::read_to_string("/proc/meminfo").map_err(Error::io("/proc/meminfo"))?;
    Ok(parse_meminfo_total(&text).unwrap_or(u64::MAX))
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The host's total CPU time in ns and the number of online CPUs, from
/// `/proc/stat`.
fn host_cpu() -> Result<(u64, u32)> {
    let text = fs::read_to_string("/proc/stat").map_err(Error::io("/proc/stat"))?;
    Ok(parse_proc_stat(&text))
}

fn parse_proc_stat(text: &str) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            // The first 7 fields (user … softirq), as Docker sums them.
            Some("cpu") => {
                total = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total * (1_000_000_000 / USER_HZ), cpus)
}

/// Received and transmitted bytes of every interface but `lo`.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    // Two header lines, then `iface: rx_bytes packets … tx_bytes …`.
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// `8:0 Read 4096` lines of v1's `blkio.throttle.io_service_bytes`.
fn parse_blkio_v1(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = f[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => read += n,
                "Write" => write += n,
                _ => {}
            }
        }
    }
    (read, write)
}

/// `8:0 rbytes=4096 wbytes=0 …` lines of v2's `io.stat`.
fn parse_io_stat_v2(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for kv in text.split_whitespace() {
        if let Some(n) = kv.strip_prefix("rbytes=") {
            read += n.parse().unwrap_or(0);
        } else if let Some(n) = kv.strip_prefix("wbytes=") {
            write += n.parse().unwrap_or(0);
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_lo_and_sums_the_rest() {
        let text = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1500      10    0    0    0     0          0         0      648       8    0    0    0     0       0          0
  eth1:       5       1    0    0    0     0          0         0        2       1    0    0    0     0       0          0
";
        assert_eq!(parse_net_dev(text), (1505, 650));
    }

    #[test]
    fn proc_stat_total_and_cpus() {
        let text = "cpu  10 0 20 1000 5 0 3 7 0 0\ncpu0 5 0 10 500 2 0 1 0 0 0\n\
                    cpu1 5 0 10 500 3 0 2 0 0 0\nintr 1 2 3\n";
        let (total, cpus) = parse_proc_stat(text);
        assert_eq!(total, (10 + 20 + 1000 + 5 + 3) * 10_000_000);
        assert_eq!(cpus, 2);
    }

    #[test]
    fn memory_and_io_files() {
        assert_eq!(
            parse_meminfo_total("MemTotal:        2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
        let stat = "cache 10\ntotal_inactive_file 4096\ninactive_file 1\n";
        assert_eq!(stat_value(stat, "total_inactive_file"), Some(4096));
        assert_eq!(stat_value(stat, "inactive_file"), Some(1));
        assert_eq!(stat_value(stat, "nope"), None);
        assert_eq!(
            parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\n8:16 Read 4\nTotal 4613\n"),
            (4100, 512)
        );
        assert_eq!(
            parse_io_stat_v2("8:0 rbytes=100 wbytes=7 rios=1\n8:16 rbytes=1 wbytes=2\n"),
            (101, 9)
        );
    }

    #[test]
    fn cpu_percent_is_dockers_formula() {
        let a = Sample {
            cpu_ns: 0,
            system_ns: 0,
            online_cpus: 2,
            ..Default::default()
        };
        let b = Sample {
            cpu_ns: 500,
            system_ns: 2000,
            online_cpus: 2,
            ..Default::default()
        };
        assert!((cpu_percent(&a, &b) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&b, &b), 0.0);
    }

    #[test]
    fn v2_cgroup_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_path_buf();
        fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        fs::write(d.join("memory.current"), "8192\n").unwrap();
        fs::write(d.join("memory.stat"), "anon 4096\ninactive_file 4096\n").unwrap();
        fs::write(d.join("memory.max"), "max\n").unwrap();
        fs::write(d.join("pids.current"), "1\n").unwrap();
        fs::write(d.join("io.stat"), "8:0 rbytes=10 wbytes=20 rios=1 wios=1\n").unwrap();
        let s = sample_cgroup(&[d]).unwrap();
        assert_eq!(s.cpu_ns, 1_500_000);
        assert_eq!(s.mem_usage, 4096);
        // No limit: the host's memory, as Docker reports it.
        assert_eq!(s.mem_limit, host_memory().unwrap());
        assert_eq!((s.pids, s.blk_read, s.blk_write), (1, 10, 20));
    }

    #[test]
    fn v1_cgroup_files() {
        let tmp = tempfile::tempdir().unwrap();
        let cpu = tmp.path().join("cpu");
        let mem = tmp.path().join("memory");
        fs::create_dir_all(&cpu).unwrap();
        fs::create_dir_all(&mem).unwrap();
        fs::write(cpu.join("cpuacct.usage"), "12345\n").unwrap();
        fs::write(mem.join("memory.usage_in_bytes"), "10000\n").unwrap();
        fs::write(mem.join("memory.stat"), "total_inactive_file 1000\n").unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "67108864\n").unwrap();
        fs::write(mem.join("pids.current"), "3\n").unwrap();
        let s = sample_cgroup(&[cpu, mem]).unwrap();
        assert_eq!(s.cpu_ns, 12345);
        assert_eq!(s.mem_usage, 9000);
        assert_eq!(s.mem_limit, 67108864.min(host_memory().unwrap()));
        assert_eq!(s.pids, 3);
    }
}
