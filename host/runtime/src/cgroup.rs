//! The container's cgroup: where it is, its limits, and its removal.
//!
//! Hosts come in three layouts and wrun handles all of them:
//!
//! * **v2 (unified)**: one tree at `/sys/fs/cgroup`. Containers go to
//!   `/sys/fs/cgroup/wrun/<id>`. Not beneath wrun's own cgroup, because v2's
//!   "no internal processes" rule forbids enabling controllers for children
//!   of a cgroup that itself holds processes (wrun is in it), while the root
//!   may always delegate.
//! * **v1**: one tree per controller (`/sys/fs/cgroup/memory`, …). The
//!   container gets `<own cgroup>/wrun/<id>` in every hierarchy wrun uses, so
//!   it also stays under whatever limit the caller itself runs in.
//! * **hybrid** (this project's CI machine): v1 controllers plus a v2 tree at
//!   `/sys/fs/cgroup/unified` that holds no controllers. Treated as v1.
//!
//! On v1 the `devices` controller enforces Docker's device allow-list:
//! the default capability set includes `CAP_MKNOD`, so without it a container
//! could create `/dev/sda` and read the host's disk. On v2 that needs an eBPF
//! device program, which wrun does not install yet.
//!
//! See cgroups(7) and the kernel's `admin-guide/cgroup-v2.rst`.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

const V1_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids", "devices", "freezer"];
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Docker's default device allow-list (v1 `devices.allow` syntax).
const DEVICE_ALLOW: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",    // null
    "c 1:5 rwm",    // zero
    "c 1:7 rwm",    // full
    "c 1:8 rwm",    // random
    "c 1:9 rwm",    // urandom
    "c 5:0 rwm",    // tty
    "c 5:1 rwm",    // console
    "c 5:2 rwm",    // ptmx
    "c 136:* rwm",  // pts
    "c 10:200 rwm", // tun
];

/// Limits from `--memory`, `--cpus`, `--pids-limit`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub memory: Option<u64>,
    pub nano_cpus: Option<u64>,
    pub pids_limit: Option<i64>,
}

/// The layout of this host's cgroups.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// A v2 tree mounted at this path.
    Unified(PathBuf),
    /// v1 hierarchies: (controllers of the hierarchy, directory of wrun's
    /// own cgroup in it).
    V1(Vec<(Vec<String>, PathBuf)>),
}

impl Layout {
    /// Reads the layout from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Self> {
        let root = Path::new("/sys/fs/cgroup");
        if let Ok(st) = nix::sys::statfs::statfs(root)
            && st.filesystem_type().0 == CGROUP2_SUPER_MAGIC
        {
            return Ok(Layout::Unified(root.to_path_buf()));
        }
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        Ok(Layout::V1(v1_hierarchies(&mountinfo, &own)))
    }

    pub fn is_unified(&self) -> bool {
        matches!(self, Layout::Unified(_))
    }
}

fn read(path: &str) -> Result<String> {
    fs::read_to_string(path).map_err(Error::io(path))
}

/// Pairs each v1 hierarchy wrun uses with the directory of our own cgroup
/// in it.
fn v1_hierarchies(mountinfo: &str, own: &str) -> Vec<(Vec<String>, PathBuf)> {
    let mut out: Vec<(Vec<String>, PathBuf)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let superopts = r.nth(1).unwrap_or("");
        let controllers: Vec<String> = superopts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o))
            .map(str::to_string)
            .collect();
        if controllers.is_empty() {
            continue;
        }
        let l: Vec<&str> = left.split(' ').collect();
        let (mount_root, mountpoint) = (l.get(3).copied(), l.get(4).copied());
        let (Some(mount_root), Some(mountpoint)) = (mount_root, mountpoint) else {
            continue;
        };
        // Our path in this hierarchy, from /proc/self/cgroup.
        let Some(path) = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| controllers.iter().any(|x| x == c))
                .then_some(path)
        }) else {
            continue;
        };
        let relative = path
            .strip_prefix(mount_root)
            .unwrap_or(path)
            .trim_start_matches('/');
        let dir = Path::new(mountpoint).join(relative);
        if !out.iter().any(|(_, d)| d == &dir) {
            out.push((controllers, dir));
        }
    }
    out
}

/// A container's cgroup, created and configured.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    /// Creates the cgroup of container `id` and applies `res`. On error,
    /// whatever was created is removed again.
    pub fn create(layout: &Layout, id: &str, res: &Resources) -> Result<Cgroup> {
        let mut cg = Cgroup { dirs: Vec::new() };
        let result = cg.create_inner(layout, id, res);
        if let Err(e) = result {
            let _ = remove_dirs(&cg.dirs);
            return Err(e);
        }
        Ok(cg)
    }

    fn create_inner(&mut self, layout: &Layout, id: &str, res: &Resources) -> Result<()> {
        match layout {
            Layout::Unified(mount) => {
                let parent = mount.join("wrun");
                mkdir(&parent)?;
                let available = fs::read_to_string(mount.join("cgroup.controllers"))
                    .map_err(Error::io(mount.join("cgroup.controllers")))?;
                let wanted: Vec<&str> = ["cpu", "memory", "pids"]
                    .into_iter()
                    .filter(|c| available.split_whitespace().any(|a| a == *c))
                    .collect();
                for dir in [mount.as_path(), parent.as_path()] {
                    for c in &wanted {
                        write(&dir.join("cgroup.subtree_control"), &format!("+{c}"))?;
                    }
                }
                let dir = parent.join(id);
                mkdir(&dir)?;
                self.dirs.push(dir.clone());
                if let Some(m) = res.memory {
                    write(&dir.join("memory.max"), &m.to_string())?;
                    // Like Docker with no --memory-swap: no extra swap.
                    let swap = dir.join("memory.swap.max");
                    if swap.exists() {
                        write(&swap, "0")?;
                    }
                }
                if let Some(n) = res.nano_cpus {
                    write(&dir.join("cpu.max"), &format!("{} 100000", n / 10_000))?;
                }
                if let Some(p) = res.pids_limit {
                    write(&dir.join("pids.max"), &pids_value(p))?;
                }
            }
            Layout::V1(hierarchies) => {
                for (controllers, own) in hierarchies {
                    let parent = own.join("wrun");
                    mkdir(&parent)?;
                    let dir = parent.join(id);
                    mkdir(&dir)?;
                    self.dirs.push(dir.clone());
                    let has = |c: &str| controllers.iter().any(|x| x == c);
                    if has("memory")
                        && let Some(m) = res.memory
                    {
                        write(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                    }
                    if has("cpu")
                        && let Some(n) = res.nano_cpus
                    {
                        write(&dir.join("cpu.cfs_period_us"), "100000")?;
                        write(&dir.join("cpu.cfs_quota_us"), &(n / 10_000).to_string())?;
                    }
                    if has("pids")
                        && let Some(p) = res.pids_limit
                    {
                        write(&dir.join("pids.max"), &pids_value(p))?;
                    }
                    if has("devices") {
                        write(&dir.join("devices.deny"), "a")?;
                        for rule in DEVICE_ALLOW {
                            write(&dir.join("devices.allow"), rule)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Directories of this cgroup (one per v1 hierarchy, or one on v2).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// How a new process joins this cgroup (see [`open_join`]).
    pub fn join(&self) -> Result<Join> {
        open_join(&self.dirs)
    }
}

/// How a new process gets into a container's cgroups.
#[derive(Debug)]
pub enum Join {
    /// Created in this cgroup v2 directory (`clone3(CLONE_INTO_CGROUP)`):
    /// no migration at all.
    Clone(OwnedFd),
    /// The child writes `0` into each file before exec ([`open_join_files`]).
    Write(Vec<OwnedFd>),
}

impl Join {
    /// Sets up `cmd` accordingly.
    pub fn apply(self, cmd: &mut wrun_sys::spawn::InitCommand) {
        match self {
            Join::Clone(dir) => {
                cmd.into_cgroup(dir);
            }
            Join::Write(files) => {
                for f in files {
                    cmd.join_cgroup(f);
                }
            }
        }
    }
}

/// A single v2 directory (no `tasks` file) is joined at `clone3` time;
/// v1 hierarchies by writing `tasks`.
pub fn open_join(dirs: &[PathBuf]) -> Result<Join> {
    if let [dir] = dirs
        && !dir.join("tasks").exists()
    {
        let f = fs::File::open(dir).map_err(Error::io(dir))?;
        return Ok(Join::Clone(OwnedFd::from(f)));
    }
    open_join_files(dirs).map(Join::Write)
}

/// Opens, for each cgroup directory, the file that a new process writes
/// `0` into to move itself in: `tasks` on a v1 hierarchy, `cgroup.procs`
/// on v2 (where [`open_join`] prefers `CLONE_INTO_CGROUP`).
///
/// Why `tasks` on v1: writing a pid, or anything to `cgroup.procs`, takes
/// the kernel's global `cgroup_threadgroup_rwsem` for writing, and a writer
/// that finds the lock's `rcu_sync` idle waits a whole RCU grace period
/// while holding `cgroup_mutex` (9–22 ms on this project's machines, the
/// largest single cost of a container start, which crun and runc pay too).
/// Moving the calling thread itself (`0` into `tasks`) skips that lock
/// (`cgroup_procs_write_start`: "if we migrate a single thread … we can
/// skip the global lock"), and the child that `wrun_sys::spawn` forks has
/// exactly one thread, so moving it is moving the process: 20–40 µs.
pub fn open_join_files(dirs: &[PathBuf]) -> Result<Vec<OwnedFd>> {
    dirs.iter()
        .map(|d| {
            let open = |p: &Path| fs::OpenOptions::new().write(true).open(p);
            let tasks = d.join("tasks");
            match open(&tasks) {
                Ok(f) => Ok(OwnedFd::from(f)),
                // v2 has no `tasks` file.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let procs = d.join("cgroup.procs");
                    open(&procs).map(OwnedFd::from).map_err(Error::io(procs))
                }
                Err(e) => Err(Error::io(tasks)(e)),
            }
        })
        .collect()
}

fn pids_value(limit: i64) -> String {
    if limit <= 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Cgroup {
            path: dir.to_path_buf(),
            reason: format!("cannot create: {e}"),
        }),
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::Cgroup {
        path: path.to_path_buf(),
        reason: format!("writing {value:?}: {e}"),
    })
}

/// Removes cgroup directories, killing anything still inside. Missing
/// directories are fine (already removed).
pub fn remove_dirs(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs.iter().rev() {
        let mut tries = 0;
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                    tries += 1;
                    kill_members(dir);
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(Error::Cgroup {
                        path: dir.clone(),
                        reason: format!("cannot remove: {e}"),
                    });
                }
            }
        }
    }
    Ok(())
}

/// SIGKILLs every process left in a cgroup (`cgroup.kill` where the kernel
/// has it).
fn kill_members(dir: &Path) {
    let kill = dir.join("cgroup.kill");
    if kill.exists() && fs::write(&kill, "1").is_ok() {
        return;
    }
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
40 35 0:35 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory
41 35 0:36 / /sys/fs/cgroup/cpu,cpuacct rw shared:16 - cgroup cgroup rw,cpu,cpuacct
42 35 0:37 / /sys/fs/cgroup/pids rw shared:17 - cgroup cgroup rw,pids
43 35 0:38 / /sys/fs/cgroup/systemd rw shared:18 - cgroup cgroup rw,xattr,name=systemd
44 35 0:39 /nested /sys/fs/cgroup/devices rw shared:19 - cgroup cgroup rw,devices
";
    const OWN: &str = "\
9:name=systemd:/
7:devices:/nested/box
4:memory:/process_api/abc
2:cpu,cpuacct:/
8:pids:/
0::/
";

    #[test]
    fn finds_v1_hierarchies_and_own_paths() {
        let h = v1_hierarchies(MOUNTINFO, OWN);
        let dirs: Vec<_> = h.iter().map(|(_, d)| d.to_str().unwrap()).collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/memory/process_api/abc",
                "/sys/fs/cgroup/cpu,cpuacct/",
                "/sys/fs/cgroup/pids/",
                "/sys/fs/cgroup/devices/box",
            ]
        );
        assert_eq!(h[1].0, ["cpu", "cpuacct"]);
    }

    #[test]
    fn pids_zero_or_negative_is_unlimited() {
        assert_eq!(pids_value(-1), "max");
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(10), "10");
    }
}
