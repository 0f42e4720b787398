//! Namespaces and the container's root file system.
//!
//! Order (see mount_namespaces(7) and pivot_root(2)):
//!
//! 1. unshare (or `setns` into) the namespaces the spec lists, pid excepted
//!    (the runtime created it); a new network namespace gets `lo` up;
//! 2. make `/` recursively private, so nothing mounted here propagates to
//!    the host and `pivot_root` accepts the new root;
//! 3. mount the root: the overlay given as the mount on `/`, or a bind of
//!    `root.path` on itself (pivot_root needs a mount point);
//! 4. the other mounts in spec order. Each destination is resolved inside
//!    the root with `openat2(RESOLVE_IN_ROOT)` and mounted through
//!    `/proc/self/fd/N`, so a symlink in the image cannot redirect a mount
//!    onto the host; missing destinations are created inside the root;
//! 5. device nodes, the `/dev` symlinks, sysctls, masked paths (`/dev/null`
//!    over files, an empty read-only tmpfs over directories) and read-only
//!    paths (bind-remounted read-only);
//! 6. `pivot_root(".", ".")`, then detach the old root stacked on top;
//! 7. remount `/` read-only if `root.readonly`.
//!
//! Steps 2–7 are first decided from the spec alone ([`plan`], pure and
//! unit-tested without root: order, flags, merged device list, errors),
//! then performed ([`apply`]); a spec the shim cannot follow fails before
//! anything has changed.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag, fstat, makedev, mkdirat, mknodat};
use nix::sys::statvfs::{FsFlags, fstatvfs};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Mount, Spec};
use wrun_sys::fs::open_in_root;

use crate::Error;

/// What the namespace step did that later steps need to know.
#[derive(Debug, Default)]
pub struct Namespaces {
    /// A UTS namespace is ours, so the hostname may be set.
    pub uts: bool,
}

/// Unshare or join every namespace of the spec except pid.
pub fn namespaces(spec: &Spec) -> Result<Namespaces, Error> {
    let mut out = Namespaces::default();
    let Some(list) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return Ok(out);
    };
    let mut unshare = CloneFlags::empty();
    let mut new_net = false;
    for ns in list {
        let flag = match ns.typ() {
            LinuxNamespaceType::Pid => continue,
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            t => return Err(Error::Spec(format!("namespace {t:?} is not supported"))),
        };
        if ns.typ() == LinuxNamespaceType::Uts {
            out.uts = true;
        }
        match ns.path() {
            Some(p) => {
                let fd = nix::fcntl::open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| Error::step(format!("open namespace {}", p.display()), e))?;
                nix::sched::setns(fd, flag)
                    .map_err(|e| Error::step(format!("setns {}", p.display()), e))?;
            }
            None => {
                unshare |= flag;
                new_net |= flag == CloneFlags::CLONE_NEWNET;
            }
        }
    }
    if !unshare.is_empty() {
        nix::sched::unshare(unshare).map_err(|e| Error::step(format!("unshare {unshare:?}"), e))?;
    }
    if new_net {
        wrun_sys::net::set_link_up("lo")?;
    }
    Ok(out)
}

/// The spec's root directory, relative to the bundle if not absolute.
pub fn root_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, Error> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Spec("root is missing".into()))?;
    Ok(bundle.join(root.path()))
}

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Where, inside the root.
    pub path: PathBuf,
    /// Character, block or FIFO.
    pub kind: SFlag,
    /// Permission bits.
    pub mode: u32,
    /// Major and minor, as `makedev` gives them.
    pub dev: u64,
    /// Owner, when not root.
    pub owner: Option<(u32, u32)>,
}

/// One step of building the container's root, decided from the spec alone,
/// so that order, flags and data are unit-tested without root; [`apply`]
/// performs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make `/` recursively private.
    MakePrivate,
    /// Mount the overlay on the root path.
    Overlay {
        /// Mount flags.
        flags: MsFlags,
        /// `lowerdir=…,upperdir=…,workdir=…`.
        data: String,
    },
    /// Bind the plain root directory on itself.
    BindRoot,
    /// A file system mount inside the root.
    Mount {
        /// Destination inside the root.
        dest: PathBuf,
        /// File system type.
        fstype: String,
        /// Source (the type when the spec gives none).
        source: String,
        /// Mount flags.
        flags: MsFlags,
        /// File-system options.
        data: String,
        /// Propagation changes applied afterwards.
        propagation: Vec<MsFlags>,
    },
    /// A bind mount of a host path inside the root.
    Bind {
        /// Destination inside the root.
        dest: PathBuf,
        /// Host path.
        source: PathBuf,
        /// `MS_REC` for rbind.
        recursive: bool,
        /// Flags set by a remount after the bind (`ro`, `nosuid`, …).
        remount: MsFlags,
        /// Propagation changes applied afterwards.
        propagation: Vec<MsFlags>,
    },
    /// `/sys/fs/cgroup` (see [`mount_cgroup`]).
    Cgroup {
        /// Destination inside the root.
        dest: PathBuf,
        /// Mount flags.
        flags: MsFlags,
    },
    /// Device nodes (defaults merged with `linux.devices`).
    Devices(Vec<Device>),
    /// `/dev/fd`, `/dev/std*`, `/dev/ptmx`, `/dev/core`.
    DevSymlinks,
    /// Write one sysctl.
    Sysctl {
        /// Dotted name.
        key: String,
        /// Value.
        value: String,
    },
    /// Hide a path.
    Mask(PathBuf),
    /// Make a path read-only.
    ReadOnly(PathBuf),
    /// pivot_root into the root and detach the old one.
    Pivot,
    /// Remount `/` read-only.
    RootReadOnly,
    /// Propagation of `/` after the pivot.
    RootPropagation(MsFlags),
}

/// The steps for a spec, in order (module docs). Fails on what the shim
/// cannot do before anything is changed.
pub fn plan(spec: &Spec) -> Result<Vec<Step>, Error> {
    let linux = spec.linux().as_ref();
    let new_mount_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none());
    if !new_mount_ns {
        // Every step would otherwise change the host's mount table.
        return Err(Error::Spec(
            "linux.namespaces must include a new mount namespace".into(),
        ));
    }
    let mut steps = vec![Step::MakePrivate];
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let is_root = |m: &&Mount| m.destination() == Path::new("/");
    steps.push(match mounts.iter().find(is_root) {
        Some(m) if m.typ().as_deref() == Some("overlay") => {
            let o = Options::parse(m.options().as_deref().unwrap_or(&[]));
            Step::Overlay {
                flags: o.flags,
                data: o.data,
            }
        }
        Some(m) => {
            return Err(Error::Spec(format!(
                "mount on / of type {:?}: only overlay is supported",
                m.typ()
            )));
        }
        None => Step::BindRoot,
    });
    for m in mounts.iter().filter(|m| !is_root(m)) {
        steps.push(mount_step(m)?);
    }
    steps.push(Step::Devices(device_list(
        linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]),
    )));
    steps.push(Step::DevSymlinks);
    // Before the read-only paths: /proc/sys is one of them.
    let mut sysctls: Vec<(&String, &String)> = linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
        .collect();
    sysctls.sort();
    for (k, v) in sysctls {
        steps.push(Step::Sysctl {
            key: k.clone(),
            value: v.clone(),
        });
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        steps.push(Step::Mask(p.into()));
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        steps.push(Step::ReadOnly(p.into()));
    }
    steps.push(Step::Pivot);
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        steps.push(Step::RootReadOnly);
    }
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let flags = match p {
            "shared" | "rshared" => MsFlags::MS_SHARED,
            "slave" | "rslave" => MsFlags::MS_SLAVE,
            "private" | "rprivate" => MsFlags::MS_PRIVATE,
            "unbindable" | "runbindable" => MsFlags::MS_UNBINDABLE,
            other => return Err(Error::Spec(format!("rootfsPropagation {other:?}"))),
        };
        steps.push(Step::RootPropagation(flags | MsFlags::MS_REC));
    }
    Ok(steps)
}

/// One entry of `mounts`, with OCI semantics: a bind when the type is
/// `bind` or the options say `bind`/`rbind`.
fn mount_step(m: &Mount) -> Result<Step, Error> {
    let o = Options::parse(m.options().as_deref().unwrap_or(&[]));
    let dest = m.destination().clone();
    if !dest.is_absolute() {
        return Err(Error::Spec(format!(
            "mount destination {} is not absolute",
            dest.display()
        )));
    }
    let typ = m.typ().as_deref().unwrap_or("bind");
    if o.flags.contains(MsFlags::MS_BIND) || typ == "bind" {
        let source = m.source().clone().ok_or_else(|| {
            Error::Spec(format!("bind mount on {} has no source", dest.display()))
        })?;
        return Ok(Step::Bind {
            dest,
            source,
            recursive: o.flags.contains(MsFlags::MS_REC),
            remount: o.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT),
            propagation: o.propagation,
        });
    }
    if typ == "cgroup" {
        return Ok(Step::Cgroup {
            dest,
            flags: o.flags,
        });
    }
    Ok(Step::Mount {
        dest,
        fstype: typ.to_owned(),
        source: m
            .source()
            .as_ref()
            .map_or_else(|| typ.to_owned(), |s| s.display().to_string()),
        flags: o.flags,
        data: o.data,
        propagation: o.propagation,
    })
}

/// Docker's default nodes, then `linux.devices` (which may replace them).
fn device_list(extra: &[oci_spec::runtime::LinuxDevice]) -> Vec<Device> {
    let mut out: Vec<Device> = DEFAULT_DEVICES
        .iter()
        .map(|&(name, major, minor)| Device {
            path: Path::new("/dev").join(name),
            kind: SFlag::S_IFCHR,
            mode: 0o666,
            dev: makedev(major, minor),
            owner: None,
        })
        .filter(|d| !extra.iter().any(|e| e.path() == &d.path))
        .collect();
    for d in extra {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => continue,
        };
        let owner = (d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        out.push(Device {
            path: d.path().clone(),
            kind,
            mode: d.file_mode().unwrap_or(0o666),
            dev: makedev(d.major() as u64, d.minor() as u64),
            owner: (owner != (0, 0)).then_some(owner),
        });
    }
    out
}

/// Perform the steps of [`plan`] for the root at `root`.
pub fn apply(steps: &[Step], root: &Path) -> Result<(), Error> {
    let mut rootfd: Option<OwnedFd> = None;
    let open_root = || {
        nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::step(format!("open root {}", root.display()), e))
    };
    for step in steps {
        let fd = || {
            rootfd
                .as_ref()
                .map(|f| f.as_fd())
                .ok_or_else(|| Error::Spec(format!("{step:?} comes before the root is mounted")))
        };
        match step {
            Step::MakePrivate => mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| Error::step("make / rprivate", e))?,
            Step::Overlay { flags, data } => {
                let mut data = data.clone();
                if data.len() >= MAX_MOUNT_DATA
                    && let Some((dir, short)) = relative_overlay_data(&data)
                {
                    nix::unistd::chdir(&dir)
                        .map_err(|e| Error::step(format!("chdir {}", dir.display()), e))?;
                    data = short;
                }
                mount(
                    Some("overlay"),
                    root,
                    Some("overlay"),
                    *flags,
                    Some(data.as_str()),
                )
                .map_err(|e| Error::step(format!("mount overlay on {}", root.display()), e))?;
                rootfd = Some(open_root()?);
            }
            Step::BindRoot => {
                mount(
                    Some(root),
                    root,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| Error::step(format!("bind {} on itself", root.display()), e))?;
                rootfd = Some(open_root()?);
            }
            Step::Mount {
                dest,
                fstype,
                source,
                flags,
                data,
                propagation,
            } => {
                let target = ensure(fd()?, dest, false)?;
                mount(
                    Some(source.as_str()),
                    fd_path(target.as_fd()).as_str(),
                    Some(fstype.as_str()),
                    *flags,
                    Some(data.as_str()),
                )
                .map_err(|e| Error::step(format!("mount {fstype} on {}", dest.display()), e))?;
                set_propagation(fd()?, dest, propagation)?;
            }
            Step::Bind {
                dest,
                source,
                recursive,
                remount,
                propagation,
            } => {
                bind(fd()?, dest, source, *recursive, *remount)?;
                set_propagation(fd()?, dest, propagation)?;
            }
            Step::Cgroup { dest, flags } => mount_cgroup(fd()?, dest, *flags)?,
            Step::Devices(list) => devices(fd()?, list)?,
            Step::DevSymlinks => dev_symlinks(fd()?)?,
            Step::Sysctl { key, value } => write_sysctl(fd()?, key, value)?,
            Step::Mask(p) => mask(fd()?, p)?,
            Step::ReadOnly(p) => readonly(fd()?, p)?,
            Step::Pivot => {
                pivot(root)?;
                rootfd = None;
            }
            Step::RootReadOnly => {
                let st =
                    nix::sys::statvfs::statvfs("/").map_err(|e| Error::step("statvfs /", e))?;
                let flags = MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | kept_flags(st.flags());
                mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
                    .map_err(|e| Error::step("remount / read-only", e))?;
            }
            Step::RootPropagation(flags) => {
                mount(None::<&str>, "/", None::<&str>, *flags, None::<&str>)
                    .map_err(|e| Error::step(format!("set propagation of / ({flags:?})"), e))?;
            }
        }
    }
    Ok(())
}

/// Make `/dev/console` the container's terminal, as runc does: the pty
/// slave bind-mounted on an empty file (after pivot_root, in the
/// container's own devpts).
pub fn bind_console(number: u32) -> Result<(), Error> {
    let slave = format!("/dev/pts/{number}");
    let console = "/dev/console";
    match nix::fcntl::open(
        console,
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(_) => {}
        Err(e) => return Err(Error::step(format!("create {console}"), e)),
    }
    mount(
        Some(slave.as_str()),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::step(format!("bind {slave} on {console}"), e))
}

/// mount(2) copies at most one page of options.
const MAX_MOUNT_DATA: usize = 4096;

/// Overlay options with many layers can exceed a page. overlayfs resolves
/// relative layer paths against the caller's cwd at mount time, so the
/// directory all paths share becomes the cwd and the paths relative to it
/// (as containerd does). `None` if nothing is shared.
fn relative_overlay_data(data: &str) -> Option<(PathBuf, String)> {
    const KEYS: [&str; 3] = ["lowerdir=", "upperdir=", "workdir="];
    let paths = || {
        data.split(',')
            .filter_map(|o| KEYS.iter().find_map(|k| o.strip_prefix(k)))
            .flat_map(|v| v.split(':'))
    };
    let mut common: Option<PathBuf> = None;
    for p in paths() {
        let dir = Path::new(p).parent()?;
        common = Some(match common {
            None => dir.to_path_buf(),
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    let common = common.filter(|c| c != Path::new("/") && c.is_absolute())?;
    let prefix = format!("{}/", common.display());
    let short = data
        .split(',')
        .map(|o| match KEYS.iter().find(|k| o.starts_with(*k)) {
            Some(k) => {
                let v = &o[k.len()..];
                let rel: Vec<&str> = v
                    .split(':')
                    .map(|p| p.strip_prefix(&prefix).unwrap_or(p))
                    .collect();
                format!("{k}{}", rel.join(":"))
            }
            None => o.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",");
    Some((common, short))
}

/// `pivot_root(".", ".")` in the new root, then lazily detach the old root
/// that is now stacked on `/` (pivot_root(2), "NOTES").
fn pivot(root: &Path) -> Result<(), Error> {
    nix::unistd::chdir(root).map_err(|e| Error::step(format!("chdir {}", root.display()), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| Error::step(format!("pivot_root {}", root.display()), e))?;
    // Slave first, so the detach cannot propagate anywhere.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::step("make old root rslave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::step("detach old root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::step("chdir /", e))?;
    Ok(())
}

/// The `/proc/self/fd/N` name of an fd, a mount source or target that is
/// exactly the object the fd refers to.
fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Flags a bind remount must keep (a remount replaces all of them).
fn kept_flags(f: FsFlags) -> MsFlags {
    let mut m = MsFlags::empty();
    for (s, v) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            m |= v;
        }
    }
    m
}

/// Mount options split into flags, propagation and file-system data.
#[derive(Debug)]
struct Options {
    flags: MsFlags,
    propagation: Vec<MsFlags>,
    data: String,
}

impl Options {
    fn parse(opts: &[String]) -> Self {
        let mut o = Options {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
        };
        for opt in opts {
            let (set, clear) = match opt.as_str() {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
                "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
                "private" => prop(&mut o, MsFlags::MS_PRIVATE),
                "rprivate" => prop(&mut o, MsFlags::MS_PRIVATE | MsFlags::MS_REC),
                "shared" => prop(&mut o, MsFlags::MS_SHARED),
                "rshared" => prop(&mut o, MsFlags::MS_SHARED | MsFlags::MS_REC),
                "slave" => prop(&mut o, MsFlags::MS_SLAVE),
                "rslave" => prop(&mut o, MsFlags::MS_SLAVE | MsFlags::MS_REC),
                "unbindable" => prop(&mut o, MsFlags::MS_UNBINDABLE),
                "runbindable" => prop(&mut o, MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
                // Not kernel options: runc extensions wrun does not need.
                "tmpcopyup" | "idmap" | "ridmap" => continue,
                data => {
                    if !o.data.is_empty() {
                        o.data.push(',');
                    }
                    o.data.push_str(data);
                    continue;
                }
            };
            o.flags = (o.flags | set) & !clear;
        }
        o
    }
}

/// Record a propagation change; it is applied after the mount itself.
fn prop(o: &mut Options, f: MsFlags) -> (MsFlags, MsFlags) {
    o.propagation.push(f);
    (MsFlags::empty(), MsFlags::empty())
}

/// Open `dest` inside the root, creating it (a directory, or an empty file
/// when `file`) and its missing parents inside the root. A dangling
/// symlink is followed, inside the root, to where its target would be, and
/// that is created instead (as runc's securejoin does).
fn ensure(root: BorrowedFd<'_>, dest: &Path, file: bool) -> Result<OwnedFd, Error> {
    let mut dest = lexical(dest);
    // Linux's own limit on symlinks followed in one lookup.
    for _ in 0..40 {
        match open_in_root(root, &dest, OFlag::O_PATH, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.errno() == Errno::ENOENT => {}
            Err(e) => return Err(e.into()),
        }
        let parent = dest.parent().unwrap_or(Path::new("/")).to_path_buf();
        let pfd = mkdir_all(root, &parent)?;
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Spec(format!("mount destination {}", dest.display())))?
            .to_owned();
        if let Ok(target) = nix::fcntl::readlinkat(&pfd, name.as_os_str()) {
            // `parent` is where the link lives; an absolute target starts
            // again at the root (open_in_root treats it so).
            dest = lexical(&parent.join(target));
            continue;
        }
        if file {
            let f = nix::fcntl::openat(
                &pfd,
                name.as_os_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o644),
            );
            match f {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::step(format!("create {}", dest.display()), e)),
            }
        } else {
            match mkdirat(&pfd, name.as_os_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::step(format!("mkdir {}", dest.display()), e)),
            }
        }
        return Ok(open_in_root(root, &dest, OFlag::O_PATH, Mode::empty())?);
    }
    Err(Error::step(
        format!("resolve {}", dest.display()),
        Errno::ELOOP,
    ))
}

/// `path` made absolute with `.` and `..` applied lexically, never above
/// `/` (as RESOLVE_IN_ROOT treats `..` at the root).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `mkdir -p` inside the root; returns the directory opened `O_PATH`.
fn mkdir_all(root: BorrowedFd<'_>, dir: &Path) -> Result<OwnedFd, Error> {
    let dflags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, dir, dflags, Mode::empty()) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.errno() == Errno::ENOENT => {}
        Err(e) => return Err(e.into()),
    }
    let mut cur = root.try_clone_to_owned().map_err(|e| {
        Error::step(
            "dup root fd",
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    })?;
    let mut prefix = PathBuf::from("/");
    for c in dir.components() {
        let Component::Normal(name) = c else { continue };
        prefix.push(name);
        cur = match open_in_root(root, &prefix, dflags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) if e.errno() == Errno::ENOENT => {
                match mkdirat(&cur, name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(Error::step(format!("mkdir {}", prefix.display()), e)),
                }
                open_in_root(root, &prefix, dflags, Mode::empty())?
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(cur)
}

/// Bind a host path inside the root, then remount it with the extra flags
/// (a bind ignores all flags but `MS_REC`).
fn bind(
    root: BorrowedFd<'_>,
    dest: &Path,
    src: &Path,
    recursive: bool,
    remount: MsFlags,
) -> Result<(), Error> {
    let is_file = std::fs::metadata(src).map(|md| !md.is_dir()).map_err(|e| {
        Error::step(
            format!("stat bind source {}", src.display()),
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    })?;
    let target = ensure(root, dest, is_file)?;
    let what = || format!("mount bind {} on {}", src.display(), dest.display());
    let flags = if recursive {
        MsFlags::MS_BIND | MsFlags::MS_REC
    } else {
        MsFlags::MS_BIND
    };
    mount(
        Some(src),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| Error::step(what(), e))?;
    if !remount.is_empty() {
        // Re-open: the old fd names the directory under the new mount.
        let top = open_in_root(root, dest, OFlag::O_PATH, Mode::empty())?;
        let st = fstatvfs(&top).map_err(|e| Error::step(what(), e))?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount | kept_flags(st.flags());
        mount(
            None::<&str>,
            fd_path(top.as_fd()).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| Error::step(format!("remount {} {:?}", dest.display(), remount), e))?;
    }
    Ok(())
}

/// Apply propagation changes to the mount now on `dest`.
fn set_propagation(root: BorrowedFd<'_>, dest: &Path, props: &[MsFlags]) -> Result<(), Error> {
    if props.is_empty() {
        return Ok(());
    }
    let top = open_in_root(root, dest, OFlag::O_PATH, Mode::empty())?;
    for p in props {
        mount(
            None::<&str>,
            fd_path(top.as_fd()).as_str(),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .map_err(|e| Error::step(format!("set propagation of {}", dest.display()), e))?;
    }
    Ok(())
}

/// A `cgroup` mount, as Docker shows it: on a unified (v2) host the
/// cgroup2 file system; on a v1 or hybrid host a tmpfs holding one mount
/// per hierarchy the host has (so `/sys/fs/cgroup/memory` etc. exist).
/// Inside the new cgroup namespace each shows the container's own cgroup
/// as its root (cgroup_namespaces(7)).
fn mount_cgroup(root: BorrowedFd<'_>, dest: &Path, flags: MsFlags) -> Result<(), Error> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let target = ensure(root, dest, false)?;
    let what = |fs: &str, at: &Path| format!("mount {fs} on {}", at.display());
    if matches!(nix::sys::statfs::statfs("/sys/fs/cgroup"), Ok(s) if s.filesystem_type().0 == CGROUP2_SUPER_MAGIC)
    {
        return mount(
            Some("cgroup"),
            fd_path(target.as_fd()).as_str(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .map_err(|e| Error::step(what("cgroup2", dest), e));
    }
    let ro = flags & MsFlags::MS_RDONLY;
    mount(
        Some("tmpfs"),
        fd_path(target.as_fd()).as_str(),
        Some("tmpfs"),
        (flags & !MsFlags::MS_RDONLY) | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .map_err(|e| Error::step(what("tmpfs", dest), e))?;
    // The host's hierarchies, from the mount table we still share (before
    // pivot_root, /proc is the host's).
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in table.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        let Some(name) = point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        let mut r = right.split(' ');
        let (fstype, super_opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        let data: Vec<&str> = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && fstype == "cgroup")
            .collect();
        if (fstype != "cgroup" && fstype != "cgroup2") || name.contains('/') {
            continue;
        }
        let sub = dest.join(name);
        let fd = ensure(root, &sub, false)?;
        mount(
            Some("cgroup"),
            fd_path(fd.as_fd()).as_str(),
            Some(fstype),
            flags,
            Some(data.join(",").as_str()),
        )
        .map_err(|e| Error::step(what(fstype, &sub), e))?;
    }
    if !ro.is_empty() {
        let top = open_in_root(root, dest, OFlag::O_PATH, Mode::empty())?;
        let flags = MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(
            None::<&str>,
            fd_path(top.as_fd()).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| Error::step(format!("remount {} read-only", dest.display()), e))?;
    }
    Ok(())
}

/// The device nodes every container gets (runc's and Docker's defaults).
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn devices(root: BorrowedFd<'_>, list: &[Device]) -> Result<(), Error> {
    // O_PATH directory fds serve as dirfd for the *at calls (open(2), O_PATH).
    let dev = mkdir_all(root, Path::new("/dev"))?;
    for d in list {
        let parent = d.path.parent().unwrap_or(Path::new("/dev"));
        let pfd = if parent == Path::new("/dev") {
            None
        } else {
            Some(mkdir_all(root, parent)?)
        };
        let dir = pfd.as_ref().map_or(dev.as_fd(), |f| f.as_fd());
        let name = d.path.file_name().map(Path::new).unwrap_or(&d.path);
        node(dir, name, &d.path, d.kind, d.mode, d.dev, d.owner)?;
    }
    Ok(())
}

/// Create one node; where mknod is refused, bind the host's node instead.
fn node(
    dir: BorrowedFd<'_>,
    name: &Path,
    path: &Path,
    kind: SFlag,
    mode: u32,
    dev: u64,
    owner: Option<(u32, u32)>,
) -> Result<(), Error> {
    match mknodat(dir, name, kind, Mode::from_bits_truncate(mode), dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) if kind != SFlag::S_IFIFO => {
            // The host's node, under the same name (host /dev is still
            // visible before pivot_root).
            let f = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map_err(|e| Error::step(format!("create {}", path.display()), e))?;
            mount(
                Some(path),
                fd_path(f.as_fd()).as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::step(format!("bind device {}", path.display()), e))?;
            return Ok(());
        }
        Err(e) => return Err(Error::step(format!("mknod {}", path.display()), e)),
    }
    if let Some((uid, gid)) = owner {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::step(format!("chown {}", path.display()), e))?;
    }
    Ok(())
}

fn dev_symlinks(root: BorrowedFd<'_>) -> Result<(), Error> {
    let dev = mkdir_all(root, Path::new("/dev"))?;
    for (target, name) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
        ("/proc/kcore", "core"),
    ] {
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::step(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

fn write_sysctl(root: BorrowedFd<'_>, key: &str, value: &str) -> Result<(), Error> {
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let fd = open_in_root(root, &path, OFlag::O_WRONLY | OFlag::O_TRUNC, Mode::empty())
        .map_err(|e| Error::step(format!("sysctl {key}"), e.errno()))?;
    nix::unistd::write(&fd, value.as_bytes())
        .map_err(|e| Error::step(format!("sysctl {key}={value}"), e))?;
    Ok(())
}

fn mask(root: BorrowedFd<'_>, p: &Path) -> Result<(), Error> {
    let shown = p.display();
    let fd = match open_in_root(root, p, OFlag::O_PATH, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) if e.errno() == Errno::ENOENT => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = fstat(&fd).map_err(|e| Error::step(format!("stat masked path {shown}"), e))?;
    let target = fd_path(fd.as_fd());
    let r = if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        mount(
            Some("tmpfs"),
            target.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0"),
        )
    } else {
        mount(
            Some("/dev/null"),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    r.map_err(|e| Error::step(format!("mask {shown}"), e))
}

fn readonly(root: BorrowedFd<'_>, p: &Path) -> Result<(), Error> {
    let shown = p.display();
    let fd = match open_in_root(root, p, OFlag::O_PATH, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) if e.errno() == Errno::ENOENT => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let target = fd_path(fd.as_fd());
    mount(
        Some(target.as_str()),
        target.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::step(format!("bind {shown} read-only"), e))?;
    let top = open_in_root(root, p, OFlag::O_PATH, Mode::empty())?;
    let st = fstatvfs(&top).map_err(|e| Error::step(format!("statvfs {shown}"), e))?;
    let flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(st.flags());
    mount(
        None::<&str>,
        fd_path(top.as_fd()).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| Error::step(format!("remount {shown} read-only"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_overlay_options_become_relative() {
        let lower: Vec<String> = (0..3)
            .map(|i| format!("/var/lib/wrun/layers/{i:064}/diff"))
            .collect();
        let data = format!(
            "lowerdir={},upperdir=/var/lib/wrun/containers/c/upper,workdir=/var/lib/wrun/containers/c/work,index=off",
            lower.join(":")
        );
        let (dir, short) = relative_overlay_data(&data).unwrap();
        assert_eq!(dir, Path::new("/var/lib/wrun"));
        assert!(short.starts_with(&format!("lowerdir=layers/{:064}/diff:", 0)));
        assert!(
            short.ends_with(",upperdir=containers/c/upper,workdir=containers/c/work,index=off")
        );
        assert_eq!(relative_overlay_data("lowerdir=/a/x:/b/y"), None);
    }

    fn spec(v: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        });
        for (k, val) in v.as_object().unwrap() {
            if k == "linux" {
                for (lk, lv) in val.as_object().unwrap() {
                    base["linux"][lk] = lv.clone();
                }
            } else {
                base[k] = val.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn plan_follows_the_spec_in_a_safe_order() {
        let s = spec(serde_json::json!({
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
                {"destination": "/", "type": "overlay", "source": "overlay",
                 "options": ["lowerdir=/l", "upperdir=/u", "workdir=/w"]},
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]},
                {"destination": "/data", "type": "bind", "source": "/host/data", "options": ["rbind", "ro", "rprivate"]},
                {"destination": "/etc/hosts", "source": "/b/hosts", "options": ["bind"]}
            ],
            "linux": {
                "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 432},
                            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "uid": 7}],
                "sysctl": {"net.ipv4.ip_forward": "1"},
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "rootfsPropagation": "rslave"
            }
        }));
        let steps = plan(&s).unwrap();
        let kinds: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::MakePrivate => "private",
                Step::Overlay { .. } => "overlay",
                Step::BindRoot => "bindroot",
                Step::Mount { .. } => "mount",
                Step::Bind { .. } => "bind",
                Step::Cgroup { .. } => "cgroup",
                Step::Devices(_) => "devices",
                Step::DevSymlinks => "symlinks",
                Step::Sysctl { .. } => "sysctl",
                Step::Mask(_) => "mask",
                Step::ReadOnly(_) => "readonly",
                Step::Pivot => "pivot",
                Step::RootReadOnly => "rootro",
                Step::RootPropagation(_) => "propagation",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "private",
                "overlay",
                "mount",
                "cgroup",
                "bind",
                "bind",
                "devices",
                "symlinks",
                "sysctl",
                "mask",
                "readonly",
                "pivot",
                "rootro",
                "propagation"
            ]
        );
        assert_eq!(
            steps[1],
            Step::Overlay {
                flags: MsFlags::empty(),
                data: "lowerdir=/l,upperdir=/u,workdir=/w".into()
            }
        );
        assert_eq!(
            steps[4],
            Step::Bind {
                dest: "/data".into(),
                source: "/host/data".into(),
                recursive: true,
                remount: MsFlags::MS_RDONLY,
                propagation: vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC],
            }
        );
        assert!(
            matches!(&steps[5], Step::Bind { recursive: false, remount, .. } if remount.is_empty())
        );
        let Step::Devices(devs) = &steps[6] else {
            panic!()
        };
        let null: Vec<_> = devs
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(null.len(), 1, "linux.devices replaces the default node");
        assert_eq!(null[0].mode, 0o660);
        assert_eq!(devs.len(), 7);
        assert_eq!(devs[6].owner, Some((7, 0)));
        assert_eq!(
            steps[13],
            Step::RootPropagation(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
    }

    #[test]
    fn plain_rootfs_binds_the_root() {
        let steps = plan(&spec(serde_json::json!({}))).unwrap();
        assert_eq!(steps[..2], [Step::MakePrivate, Step::BindRoot]);
        assert_eq!(steps.last(), Some(&Step::Pivot));
    }

    #[test]
    fn specs_the_shim_cannot_follow_fail_before_any_change() {
        let err = |v| plan(&spec(v)).unwrap_err().to_string();
        assert_eq!(
            err(serde_json::json!({"linux": {"namespaces": [{"type": "pid"}]}})),
            "invalid spec: linux.namespaces must include a new mount namespace"
        );
        assert_eq!(
            err(serde_json::json!({"mounts": [{"destination": "/", "type": "tmpfs"}]})),
            "invalid spec: mount on / of type Some(\"tmpfs\"): only overlay is supported"
        );
        assert_eq!(
            err(
                serde_json::json!({"mounts": [{"destination": "/x", "type": "bind", "options": ["rbind"]}]})
            ),
            "invalid spec: bind mount on /x has no source"
        );
        assert_eq!(
            err(serde_json::json!({"linux": {"rootfsPropagation": "sideways"}})),
            "invalid spec: rootfsPropagation \"sideways\""
        );
    }

    #[test]
    fn lexical_paths_stay_under_the_root() {
        assert_eq!(lexical(Path::new("/etc/../../../x/./y")), Path::new("/x/y"));
        assert_eq!(lexical(Path::new("etc/hosts")), Path::new("/etc/hosts"));
        assert_eq!(lexical(Path::new("/a/b/../c")), Path::new("/a/c"));
    }

    #[test]
    fn options_split_flags_propagation_and_data() {
        let o = Options::parse(
            &[
                "nosuid",
                "strictatime",
                "mode=755",
                "size=65536k",
                "rprivate",
                "ro",
                "slave",
            ]
            .map(String::from),
        );
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SLAVE]
        );
        let o = Options::parse(&["rbind", "rw", "rshared", "shared"].map(String::from));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_SHARED | MsFlags::MS_REC, MsFlags::MS_SHARED]
        );
    }
}
