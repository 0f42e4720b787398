//! From an image and `docker run` options to an OCI runtime spec.
//!
//! Docker's defaults are reproduced here, each with where it comes from:
//! the capability set and masked/read-only paths (moby's
//! `oci/defaults.go`), the mounts of `/proc`, `/dev`, `/sys` (runc's
//! default spec), the environment (`PATH` default, `HOSTNAME`, `TERM` with
//! `-t`), and the way ENTRYPOINT and CMD combine with `--entrypoint` and
//! command-line arguments.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{Capability, Spec};
use serde_json::{Value, json};

use crate::{Error, Result};

/// The `PATH` Docker gives a container whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Paths Docker hides from containers (`/dev/null` over files, an empty
/// read-only tmpfs over directories): they leak host details or allow
/// attacks on the host kernel.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only: writing them would change the host kernel.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where a container's network comes from (`--network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new, empty network namespace with only `lo`.
    None,
    /// The host's network namespace.
    Host,
    /// A namespace of its own on a bridge network: `bridge` (the default
    /// network, as in Docker) or a user-defined one by name.
    Bridge(String),
}

/// The fd number at which the runtime hands a prepared network namespace
/// to the shim (the spec names it as `/proc/self/fd/5`).
pub const NETNS_FD: i32 = 5;

impl FromStr for NetworkMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "bridge" | "default" | "" => Ok(NetworkMode::Bridge("bridge".into())),
            other if other.starts_with("container:") => Err(Error::InvalidFlag {
                flag: "--network",
                value: other.to_string(),
                reason: "joining another container's network is not supported yet".into(),
            }),
            other => Ok(NetworkMode::Bridge(other.to_string())),
        }
    }
}

impl NetworkMode {
    /// The name `inspect` and the state file use: `none`, `host`, or the
    /// network's name.
    pub fn name(&self) -> &str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Bridge(n) => n,
        }
    }
}

/// One volume or mount from `-v`, `--mount` or `--tmpfs`.
#[derive(Debug, Clone, PartialEq)]
pub enum MountSpec {
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    Tmpfs {
        target: String,
        options: Vec<String>,
    },
}

/// Everything `docker run` decides about a container, already validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub image_ref: String,
    pub command: Vec<String>,
    /// `--entrypoint`: `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// `-e`/`--env-file` entries in order, each `KEY=VALUE`.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub mounts: Vec<MountSpec>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    pub network: NetworkMode,
    pub resources: crate::cgroup::Resources,
    pub name: Option<String>,
    pub auto_remove: bool,
    pub restart: crate::policy::RestartPolicy,
    pub log: crate::logs::LogOptions,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `-p`/`-P`, parsed (host port 0: any free port).
    pub publish: Vec<crate::network::ports::PortMapping>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<(String, String)>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--isolation`.
    pub isolation: crate::isolation::Isolation,
    /// `--policy NAME|FILE` (with `--isolation wasm`).
    pub policy: Option<String>,
    /// Check-then-continue supervision (the teaching lab's naive design).
    pub policy_naive: bool,
    /// `--policy-enforcement trap|landlock|auto`.
    pub policy_enforcement: crate::isolation::Enforcement,
}

/// The finished bundle content for one container.
#[derive(Debug)]
pub struct Bundle {
    pub spec: Spec,
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
    pub command: Vec<String>,
}

/// Where a container's files live, as the spec must name them.
#[derive(Debug)]
pub struct Paths<'a> {
    pub container_dir: &'a Path,
    pub layers: &'a [PathBuf],
}

/// Resolves capability names as Docker accepts them (`NET_ADMIN`,
/// `cap_net_admin`, `ALL`) against the default set.
pub fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    let parse = |flag: &'static str, name: &str| -> Result<Option<Capability>> {
        let upper = name.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if bare == "ALL" {
            return Ok(None);
        }
        Capability::from_str(bare)
            .map(Some)
            .map_err(|_| Error::InvalidFlag {
                flag,
                value: name.to_string(),
                reason: "unknown capability".into(),
            })
    };
    let mut set: BTreeSet<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let all: Vec<String> = all_capabilities().iter().map(|c| c.to_string()).collect();
    for name in drop {
        match parse("--cap-drop", name)? {
            None => set.clear(),
            Some(c) => {
                set.remove(&c.to_string());
            }
        }
    }
    for name in add {
        match parse("--cap-add", name)? {
            None => set.extend(all.iter().cloned()),
            Some(c) => {
                set.insert(c.to_string());
            }
        }
    }
    Ok(set
        .iter()
        .filter_map(|c| Capability::from_str(c).ok())
        .collect())
}

fn all_capabilities() -> Vec<Capability> {
    // Every capability this kernel knows (CAP_LAST_CAP from /proc), by
    // number, mapped through the oci-spec names.
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    NAMES
        .iter()
        .take(last as usize + 1)
        .filter_map(|n| Capability::from_str(n).ok())
        .collect()
}

/// Docker's combination of ENTRYPOINT and CMD with the run options.
pub fn command(cfg: &RunConfig, image: &ImageConfiguration) -> Result<Vec<String>> {
    let ic = image.config().as_ref();
    let (entrypoint, cmd): (Vec<String>, Vec<String>) = match &cfg.entrypoint {
        // `--entrypoint` replaces the image's and drops the image's CMD.
        Some(ep) => {
            let ep = if ep.is_empty() {
                vec![]
            } else {
                vec![ep.clone()]
            };
            (ep, cfg.command.clone())
        }
        None => {
            let ep = ic.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
            let cmd = if cfg.command.is_empty() {
                ic.and_then(|c| c.cmd().clone()).unwrap_or_default()
            } else {
                cfg.command.clone()
            };
            (ep, cmd)
        }
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(argv)
}

/// The container's environment: `PATH` (image's or Docker's default),
/// `HOSTNAME`, `TERM` with a tty, the image's `Env`, then `-e` entries,
/// later keys replacing earlier ones in place.
pub fn environment(cfg: &RunConfig, image: &ImageConfiguration, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |entry: &str| {
        let key = entry.split('=').next().unwrap_or(entry);
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = entry.to_string(),
            None => env.push(entry.to_string()),
        }
    };
    set(&format!("PATH={DEFAULT_PATH}"));
    set(&format!("HOSTNAME={hostname}"));
    if cfg.tty {
        set("TERM=xterm");
    }
    if let Some(image_env) = image.config().as_ref().and_then(|c| c.env().as_ref()) {
        for e in image_env {
            set(e);
        }
    }
    for e in &cfg.env {
        set(e);
    }
    env
}

/// The pty size a `-t` container starts with: our terminal's when we have
/// one (the monitor keeps it in step on SIGWINCH), else 24x80 so programs
/// that ask do not get 0x0.
fn console_size(tty: bool) -> Value {
    if !tty {
        return Value::Null;
    }
    let (height, width) = [rustix::stdio::stdout(), rustix::stdio::stdin()]
        .into_iter()
        .find_map(|fd| rustix::termios::tcgetwinsize(fd).ok())
        .filter(|w| w.ws_row > 0 && w.ws_col > 0)
        .map_or((24, 80), |w| (w.ws_row, w.ws_col));
    json!({"height": height, "width": width})
}

/// Builds the container's bundle: the spec and its generated `/etc` files.
pub fn build(
    id: &str,
    cfg: &RunConfig,
    image: &ImageConfiguration,
    paths: &Paths<'_>,
    host_nofile: u64,
) -> Result<Bundle> {
    let dir = paths.container_dir;
    let hostname = match (&cfg.hostname, &cfg.network) {
        (Some(h), _) => h.clone(),
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| id[..12].to_string()),
        (None, _) => id[..12].to_string(),
    };
    let argv = command(cfg, image)?;
    let env = environment(cfg, image, &hostname);
    let ic = image.config().as_ref();
    let cwd = cfg
        .workdir
        .clone()
        .or_else(|| ic.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(Error::InvalidFlag {
            flag: "--workdir",
            value: cwd,
            reason: "the working directory must be an absolute path".into(),
        });
    }
    let user = cfg
        .user
        .clone()
        .or_else(|| ic.and_then(|c| c.user().clone()))
        .unwrap_or_default();

    let caps = capabilities(&cfg.cap_add, &cfg.cap_drop)?;
    let cap_names: Vec<Value> = caps.iter().map(|c| json!(format!("CAP_{c}"))).collect();
    let seccomp = serde_json::to_value(wrun_sys::seccomp::docker_default(&caps))
        .expect("seccomp profile serializes");

    let lowerdir = paths
        .layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut overlay_options = vec![
        format!("lowerdir={lowerdir}"),
        format!("upperdir={}", dir.join("upper").display()),
        format!("workdir={}", dir.join("work").display()),
    ];
    if cfg.auto_remove {
        // Unmounting an overlay syncs its whole upper file system (the
        // host's, with everything other processes wrote): the shim's exit
        // blocked in `ovl_sync_fs` → `sync_filesystem` on writeback and a
        // disk cache flush (`blkdev_issue_flush`), every run. A `--rm`
        // container's upper dir is deleted right after, and it is started
        // only once (`--rm` excludes `--restart`), so it is mounted
        // `volatile`: no sync (and a later mount of the same work dir would
        // be refused, which cannot happen here).
        overlay_options.push("volatile".to_string());
    }
    let mut mounts = vec![json!({
        "destination": "/",
        "type": "overlay",
        "source": "overlay",
        "options": overlay_options,
    })];
    mounts.extend([
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ]);
    for (file, target) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        mounts.push(json!({
            "destination": target, "type": "bind", "source": dir.join(file),
            "options": ["rbind", "rprivate"],
        }));
    }
    for m in &cfg.mounts {
        mounts.push(match m {
            MountSpec::Bind {
                source,
                target,
                read_only,
            } => json!({
                "destination": target, "type": "bind", "source": source,
                "options": ["rbind", "rprivate", if *read_only { "ro" } else { "rw" }],
            }),
            MountSpec::Tmpfs { target, options } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".into()];
                opts.extend(options.iter().cloned());
                json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
        });
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "uts"}),
        json!({"type": "ipc"}),
        json!({"type": "cgroup"}),
    ];
    match &cfg.network {
        NetworkMode::None => namespaces.push(json!({"type": "network"})),
        // Made and configured by the runtime before the shim starts.
        NetworkMode::Bridge(_) => {
            namespaces.push(json!({"type": "network", "path": format!("/proc/self/fd/{NETNS_FD}")}))
        }
        NetworkMode::Host => {}
    }

    let devices: Vec<Value> = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .iter()
    .map(|(path, major, minor)| {
        json!({"path": path, "type": "c", "major": major, "minor": minor,
               "fileMode": 0o666, "uid": 0, "gid": 0})
    })
    .collect();

    // Docker asks for nofile 1048576; clamp to what this host allows root
    // (the hard limit), since raising it needs CAP_SYS_RESOURCE.
    let nofile = host_nofile.min(1_048_576);

    let mut annotations = serde_json::Map::new();
    annotations.insert("run.wrun.user".into(), json!(user));
    annotations.insert("run.wrun.image".into(), json!(cfg.image_ref));

    let value = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": cfg.tty,
            "consoleSize": console_size(cfg.tty),
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": env,
            "cwd": cwd,
            "capabilities": {
                "bounding": cap_names, "effective": cap_names, "permitted": cap_names,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": true,
        },
        "root": {"path": dir.join("rootfs"), "readonly": cfg.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "namespaces": namespaces,
            "devices": devices,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp,
        },
    });
    let spec: Spec = serde_json::from_value(value).map_err(|e| Error::State {
        path: dir.join("config.json"),
        reason: format!("generated spec does not parse: {e}"),
    })?;

    // On a bridge network the runtime rewrites /etc/hosts in place once the
    // address is leased; this first version is what a container without one
    // sees.
    let mut hosts = match cfg.network {
        NetworkMode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        _ => format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n127.0.0.1\t{hostname}\n"
        ),
    };
    for (name, ip) in &cfg.add_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut resolv_conf = match cfg.network {
        // A container with a network of its own cannot reach the host's
        // loopback resolvers.
        NetworkMode::Bridge(_) => crate::network::NetworkManager::resolv_conf(&host_resolv),
        _ => host_resolv,
    };
    if !cfg.dns.is_empty() {
        let kept: Vec<&str> = resolv_conf
            .lines()
            .filter(|l| !l.trim_start().starts_with("nameserver"))
            .collect();
        resolv_conf = cfg
            .dns
            .iter()
            .map(|d| format!("nameserver {d}"))
            .chain(kept.iter().map(|l| l.to_string()))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
    }
    Ok(Bundle {
        spec,
        hostname: format!("{hostname}\n"),
        hosts,
        resolv_conf,
        command: argv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(json: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": json,
        }))
        .unwrap()
    }

    fn cfg() -> RunConfig {
        RunConfig {
            image_ref: "busybox".into(),
            command: vec![],
            entrypoint: None,
            env: vec![],
            workdir: None,
            user: None,
            hostname: None,
            mounts: vec![],
            read_only: false,
            cap_add: vec![],
            cap_drop: vec![],
            tty: false,
            interactive: false,
            network: NetworkMode::None,
            resources: Default::default(),
            name: None,
            auto_remove: false,
            restart: Default::default(),
            log: Default::default(),
            labels: Default::default(),
            publish: vec![],
            aliases: vec![],
            add_hosts: vec![],
            dns: vec![],
            isolation: Default::default(),
            policy: None,
            policy_naive: false,
            policy_enforcement: Default::default(),
        }
    }

    #[test]
    fn entrypoint_and_cmd_combine_like_docker() {
        let img = image(json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]}));
        let mut c = cfg();
        assert_eq!(command(&c, &img).unwrap(), ["/ep", "a", "b"]);
        c.command = vec!["x".into()];
        assert_eq!(command(&c, &img).unwrap(), ["/ep", "x"]);
        c.entrypoint = Some("/other".into());
        assert_eq!(command(&c, &img).unwrap(), ["/other", "x"]);
        c.command.clear();
        // --entrypoint drops the image's CMD.
        assert_eq!(command(&c, &img).unwrap(), ["/other"]);
        c.entrypoint = Some(String::new());
        assert!(matches!(command(&c, &img), Err(Error::NoCommand)));
        let shell = image(json!({"Cmd": ["/bin/sh", "-c", "python app.py"]}));
        assert_eq!(
            command(&cfg(), &shell).unwrap(),
            ["/bin/sh", "-c", "python app.py"]
        );
    }

    #[test]
    fn environment_order_and_overrides() {
        let img = image(json!({"Env": ["PATH=/img/bin", "A=1", "B=2"]}));
        let mut c = cfg();
        c.env = vec!["A=override".into(), "C=3".into()];
        c.tty = true;
        assert_eq!(
            environment(&c, &img, "h1"),
            [
                "PATH=/img/bin",
                "HOSTNAME=h1",
                "TERM=xterm",
                "A=override",
                "B=2",
                "C=3"
            ]
        );
        let bare = image(json!({}));
        assert_eq!(
            environment(&cfg(), &bare, "h")[0],
            format!("PATH={DEFAULT_PATH}")
        );
    }

    #[test]
    fn capability_arithmetic() {
        let names = |v: Vec<Capability>| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let default = names(capabilities(&[], &[]).unwrap());
        assert_eq!(default.len(), DEFAULT_CAPS.len());
        let added = names(capabilities(&["net_admin".into()], &["CAP_MKNOD".into()]).unwrap());
        assert!(added.contains(&"NET_ADMIN".to_string()));
        assert!(!added.contains(&"MKNOD".to_string()));
        let only = names(capabilities(&["CHOWN".into()], &["ALL".into()]).unwrap());
        assert_eq!(only, ["CHOWN"]);
        assert!(capabilities(&["ALL".into()], &[]).unwrap().len() > 30);
        let err = capabilities(&["FLY".into()], &[]).unwrap_err().to_string();
        assert!(err.contains("--cap-add") && err.contains("FLY"), "{err}");
    }

    #[test]
    fn spec_is_complete_and_parses() {
        let img = image(json!({"Cmd": ["sh"], "WorkingDir": "/app", "User": "nobody"}));
        let dir = Path::new("/var/lib/wrun/containers/abc");
        let layers = [PathBuf::from("/l/1"), PathBuf::from("/l/2")];
        let id = "0123456789abcdef".repeat(4);
        let b = build(
            &id,
            &cfg(),
            &img,
            &Paths {
                container_dir: dir,
                layers: &layers,
            },
            20000,
        )
        .unwrap();
        let v = serde_json::to_value(&b.spec).unwrap();
        assert_eq!(v["hostname"], "0123456789ab");
        assert_eq!(v["process"]["cwd"], "/app");
        assert_eq!(v["annotations"]["run.wrun.user"], "nobody");
        // Upper layers come first in lowerdir.
        assert_eq!(v["mounts"][0]["options"][0], "lowerdir=/l/2:/l/1");
        assert_eq!(v["process"]["rlimits"][0]["hard"], 20000);
        assert!(v["linux"]["seccomp"]["syscalls"].as_array().unwrap().len() > 1);
        let ns: Vec<_> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        assert!(ns.contains(&"network".to_string()) && ns.contains(&"pid".to_string()));
        assert!(b.hosts.contains("0123456789ab"));
    }

    #[test]
    fn only_rm_containers_get_a_volatile_overlay() {
        let img = image(json!({"Cmd": ["sh"]}));
        let layers = [PathBuf::from("/l/1")];
        let paths = Paths {
            container_dir: Path::new("/c"),
            layers: &layers,
        };
        let id = "0123456789abcdef".repeat(4);
        let overlay_options = |c: &RunConfig| {
            let b = build(&id, c, &img, &paths, 1024).unwrap();
            let v = serde_json::to_value(&b.spec).unwrap();
            v["mounts"][0]["options"].as_array().unwrap().clone()
        };
        assert!(!overlay_options(&cfg()).contains(&json!("volatile")));
        let mut rm = cfg();
        rm.auto_remove = true;
        assert!(overlay_options(&rm).contains(&json!("volatile")));
    }

    #[test]
    fn relative_workdir_is_refused() {
        let mut c = cfg();
        c.workdir = Some("app".into());
        let img = image(json!({"Cmd": ["sh"]}));
        let err = build(
            &"a".repeat(64),
            &c,
            &img,
            &Paths {
                container_dir: Path::new("/x"),
                layers: &[],
            },
            1024,
        )
        .unwrap_err();
        assert!(err.to_string().contains("--workdir"));
    }

    #[test]
    fn network_modes() {
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!(
            "bridge".parse::<NetworkMode>().unwrap(),
            NetworkMode::Bridge("bridge".into())
        );
        assert_eq!(
            "backend".parse::<NetworkMode>().unwrap(),
            NetworkMode::Bridge("backend".into())
        );
        let err = "container:web"
            .parse::<NetworkMode>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--network") && err.contains("container:web"),
            "{err}"
        );
    }
}
