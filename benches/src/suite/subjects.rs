//! The subjects of the comparison and how each one runs a command: wrun's
//! isolation levels, the peer runtimes, bare namespaces, a microVM and the
//! plain process they are all compared to.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::microvm::MicroVm;
use super::{BenchError, SuiteConfig, WORKLOAD_PATH, WORKLOAD_PROGRAM};
use crate::{HYBRID_CGROUP2, Workdir, is_mountpoint, os, run_checked, which};

/// A subject's name (for `--only`/`--skip`), its label, and the Debian
/// package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct SubjectSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub package: &'static str,
}

/// Every subject, in display order.
pub const SUBJECTS: &[SubjectSpec] = &[
    SubjectSpec {
        name: "native",
        label: "native process",
        package: "",
    },
    SubjectSpec {
        name: "unshare",
        label: "unshare + chroot",
        package: "util-linux",
    },
    SubjectSpec {
        name: "process",
        label: "wrun process",
        package: "",
    },
    SubjectSpec {
        name: "namespaces",
        label: "wrun namespaces",
        package: "",
    },
    SubjectSpec {
        name: "wasm-audit",
        label: "wrun wasm (audit)",
        package: "",
    },
    SubjectSpec {
        name: "wasm-restrictive",
        label: "wrun wasm (no-network)",
        package: "",
    },
    SubjectSpec {
        name: "runc",
        label: "runc",
        package: "runc",
    },
    SubjectSpec {
        name: "crun",
        label: "crun",
        package: "crun",
    },
    SubjectSpec {
        name: "runsc",
        label: "runsc (gVisor, ptrace)",
        package: "runsc",
    },
    SubjectSpec {
        name: "podman",
        label: "podman",
        package: "podman",
    },
    SubjectSpec {
        name: "microvm",
        label: "microVM (QEMU)",
        package: "qemu-system-x86",
    },
];

/// The label of a subject by name.
pub fn label_of(name: &str) -> String {
    SUBJECTS
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.label.to_string())
        .unwrap_or_else(|| name.to_string())
}

fn not_installed(name: &str) -> String {
    let pkg = SUBJECTS
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.package)
        .unwrap_or(name);
    format!("not installed (apt install {pkg})")
}

/// The name of crun's wrapper, measured alongside crun and subtracted.
pub const CRUN_WRAPPER: &str = "crun-wrapper";

#[derive(Debug, Clone)]
enum Kind {
    /// The workload program run directly from the unpacked rootfs.
    Native {
        rootfs: PathBuf,
    },
    /// A fixed prefix, then the command inside the rootfs.
    Prefix {
        argv: Vec<OsString>,
    },
    /// A fixed command whatever the workload (crun's wrapper alone).
    Fixed {
        argv: Vec<OsString>,
    },
    Wrun {
        wrun: PathBuf,
        root: PathBuf,
        isolation: &'static str,
        policy: Option<&'static str>,
        image: String,
    },
    /// An OCI runtime: `ARGV run --bundle B ID`, one bundle per command.
    Oci {
        argv: Vec<OsString>,
        bundles: BTreeMap<String, PathBuf>,
        id_prefix: String,
    },
    Podman {
        base: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
        image: String,
    },
    Vm(Box<MicroVm>),
}

/// A subject ready to run.
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub label: String,
    pub how: String,
    /// A helper subject measured in the same rounds whose start-exit time
    /// is subtracted pairwise from this one's.
    pub subtract: Option<String>,
    kind: Kind,
}

/// A server started for the HTTP workload.
#[derive(Debug)]
pub struct Server {
    child: Child,
    stop: Option<Command>,
    log: PathBuf,
}

impl Server {
    /// `Err` with the end of its stderr if the server has already exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let text = fs::read(&self.log).unwrap_or_default();
                Err(format!(
                    "the server exited ({status}): {}",
                    crate::last_lines(&text, 3)
                ))
            }
            Ok(None) => Ok(()),
            Err(e) => Err(format!("wait for the server: {e}")),
        }
    }

    /// Stop the server: its runtime's stop command if it has one, then a
    /// kill of the child.
    pub fn stop(mut self) -> Result<(), String> {
        let mut err = None;
        if let Some(mut cmd) = self.stop.take() {
            if let Err(e) = run_checked(cmd.stdout(Stdio::null()), "stopping the server") {
                err = Some(e);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        err.map_or(Ok(()), Err)
    }
}

impl Subject {
    /// The command that runs `inner` (a command inside the rootfs) under
    /// this subject; `n` makes container names unique.
    pub fn command(&self, inner: &[&str], n: usize) -> Result<Command, String> {
        let argv: Vec<OsString> = match &self.kind {
            Kind::Native { rootfs } => return Ok(native_command(rootfs, inner)),
            Kind::Prefix { argv } => argv.iter().cloned().chain(inner.iter().map(os)).collect(),
            Kind::Fixed { argv } => argv.clone(),
            Kind::Wrun {
                wrun,
                root,
                isolation,
                policy,
                image,
            } => {
                let mut v = vec![os(wrun), os("--root"), os(root), os("run"), os("--rm")];
                v.extend(["--network", "none", "--isolation", isolation].map(os));
                if let Some(p) = policy {
                    v.extend([os("--policy"), os(*p)]);
                }
                v.push(os(image));
                v.extend(inner.iter().map(os));
                v
            }
            Kind::Oci {
                argv,
                bundles,
                id_prefix,
            } => {
                let key = inner.join(" ");
                let bundle = bundles
                    .get(&key)
                    .ok_or_else(|| format!("no OCI bundle prepared for `{key}`"))?;
                let mut v = argv.clone();
                v.extend([os("run"), os("--bundle"), os(bundle)]);
                v.push(os(format!("{id_prefix}-{n}")));
                v
            }
            Kind::Podman { base, image, .. } => {
                let mut v = base.clone();
                v.extend(["run", "--rm", "--network", "none", image.as_str()].map(os));
                v.extend(inner.iter().map(os));
                v
            }
            Kind::Vm(vm) => return Ok(vm.command(inner, None)),
        };
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if let Kind::Podman { env, .. } = &self.kind {
            cmd.envs(env.iter().cloned());
        }
        Ok(cmd)
    }

    /// Start the workload's HTTP server, reachable on the host's
    /// 127.0.0.1:`port`; its stderr goes to `log`.
    pub fn serve_http(&self, port: u16, n: usize, log: &Path) -> Result<Server, String> {
        const INNER_PORT: &str = "8080";
        let (mut cmd, stop) = match &self.kind {
            Kind::Native { rootfs } => {
                let port = port.to_string();
                (
                    native_command(rootfs, &[WORKLOAD_PATH, "http", &port]),
                    None,
                )
            }
            Kind::Wrun {
                wrun,
                root,
                isolation,
                policy,
                image,
            } => {
                let name = format!("wrun-bench-http-{}-{n}", std::process::id());
                let mut c = Command::new(wrun);
                c.arg("--root")
                    .arg(root)
                    .args(["run", "--rm", "--name", &name]);
                // `process` shares the host's network: nothing to publish,
                // the server listens on the host's port itself.
                let host_network = *isolation == "process";
                let listen = if host_network {
                    port.to_string()
                } else {
                    c.args(["-p", &format!("127.0.0.1:{port}:{INNER_PORT}")]);
                    INNER_PORT.to_string()
                };
                c.args(["--isolation", isolation]);
                if let Some(p) = policy {
                    c.args(["--policy", p]);
                }
                c.args([image.as_str(), WORKLOAD_PATH, "http", &listen]);
                let mut stop = Command::new(wrun);
                stop.arg("--root").arg(root).args(["rm", "-f", &name]);
                (c, Some(stop))
            }
            Kind::Podman { base, env, image } => {
                let name = format!("wrun-bench-http-{}-{n}", std::process::id());
                let mut c = Command::new(&base[0]);
                c.args(&base[1..]).envs(env.iter().cloned());
                c.args(["run", "--rm", "--name", &name]);
                c.args(["-p", &format!("127.0.0.1:{port}:{INNER_PORT}")]);
                c.args([image.as_str(), WORKLOAD_PATH, "http", INNER_PORT]);
                let mut stop = Command::new(&base[0]);
                stop.args(&base[1..]).envs(env.iter().cloned());
                stop.args(["rm", "-f", "-t", "0", &name]);
                (c, Some(stop))
            }
            Kind::Vm(vm) => (
                vm.command(&[WORKLOAD_PATH, "http", INNER_PORT], Some((port, 8080))),
                None,
            ),
            Kind::Prefix { .. } | Kind::Oci { .. } | Kind::Fixed { .. } => {
                return Err("not applicable: this runtime publishes no ports (the container has only a loopback device)".into());
            }
        };
        let log_file =
            fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot spawn the server: {e}"))?;
        Ok(Server {
            child,
            stop,
            log: log.to_path_buf(),
        })
    }
}

/// The shared inputs of all subjects: one working directory with the
/// rootfs (busybox plus the workload program), an image tarball of it,
/// OCI bundles, wrun's and podman's private stores.
#[derive(Debug)]
pub struct Prepared {
    work: Workdir,
    cfg: SuiteConfig,
    rootfs: PathBuf,
    image_tar: PathBuf,
    bundles: Option<BTreeMap<String, PathBuf>>,
    wrun_root: Option<Result<PathBuf, String>>,
    counter: usize,
}

impl Prepared {
    pub fn new(cfg: &SuiteConfig) -> Result<Prepared, BenchError> {
        if !cfg.rootfs_tar.exists() {
            return Err(BenchError::Setup(format!(
                "{} does not exist: run scripts/make-base-images.sh (or set WRUN_TEST_IMAGES)",
                cfg.rootfs_tar.display()
            )));
        }
        let work = Workdir::new(&cfg.workdir_parent).map_err(|source| BenchError::Io {
            path: cfg.workdir_parent.clone(),
            source,
        })?;
        let rootfs = work.path.join("rootfs");
        fs::create_dir(&rootfs).map_err(|source| BenchError::Io {
            path: rootfs.clone(),
            source,
        })?;
        run_checked(
            Command::new("tar")
                .args(["--extract", "--numeric-owner", "--file"])
                .arg(&cfg.rootfs_tar)
                .arg("--directory")
                .arg(&rootfs),
            "unpacking the rootfs",
        )
        .map_err(BenchError::Setup)?;
        let program = rootfs.join(WORKLOAD_PATH.trim_start_matches('/'));
        fs::write(&program, WORKLOAD_PROGRAM)
            .and_then(|()| fs::set_permissions(&program, fs::Permissions::from_mode(0o755)))
            .map_err(|source| BenchError::Io {
                path: program.clone(),
                source,
            })?;
        let image_tar = work.path.join("image.tar");
        run_checked(
            Command::new("tar")
                .args(["--create", "--numeric-owner", "--file"])
                .arg(&image_tar)
                .arg("--directory")
                .arg(&rootfs)
                .arg("."),
            "packing the rootfs with the workload program",
        )
        .map_err(BenchError::Setup)?;
        Ok(Prepared {
            work,
            cfg: cfg.clone(),
            rootfs,
            image_tar,
            bundles: None,
            wrun_root: None,
            counter: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.work.path
    }

    pub fn next_counter(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    /// Prepare subject `name`; the error says why it cannot run.
    pub fn subject(&mut self, name: &str) -> Result<Subject, String> {
        let dir = self.work.path.clone();
        let subject = |kind: Kind, how: String| Subject {
            name: name.to_string(),
            label: label_of(name),
            how,
            subtract: None,
            kind,
        };
        match name {
            "native" => Ok(subject(
                Kind::Native {
                    rootfs: self.rootfs.clone(),
                },
                "the workload program run directly from the unpacked rootfs".into(),
            )),
            "unshare" => {
                let (unshare, _) = which("unshare")
                    .zip(which("chroot"))
                    .ok_or_else(|| not_installed(name))?;
                let argv = vec![
                    os(unshare),
                    os("--fork"),
                    os("--pid"),
                    os("--mount"),
                    os("--uts"),
                    os("--ipc"),
                    os("--net"),
                    os("chroot"),
                    os(&self.rootfs),
                ];
                Ok(subject(
                    Kind::Prefix { argv },
                    "`unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS CMD`".into(),
                ))
            }
            "process" | "namespaces" | "wasm-audit" | "wasm-restrictive" => {
                let (isolation, policy) = match name {
                    "process" => ("process", None),
                    "namespaces" => ("namespaces", None),
                    "wasm-audit" => ("wasm", Some("audit")),
                    _ => ("wasm", Some("no-network")),
                };
                let wrun = self
                    .cfg
                    .wrun
                    .clone()
                    .ok_or("no wrun binary found (build it, or set WRUN)")?;
                let root = self.wrun_root(&wrun)?;
                let policy_flag = policy.map(|p| format!(" --policy {p}")).unwrap_or_default();
                Ok(subject(
                    Kind::Wrun {
                        wrun: wrun.clone(),
                        root,
                        isolation,
                        policy,
                        image: "wrun-bench:latest".into(),
                    },
                    if isolation == "process" {
                        "`wrun run --rm --network none --isolation process wrun-bench CMD` (`process` keeps the host's network, so HTTP listens on the host port itself, without `-p`)".to_string()
                    } else {
                        format!(
                            "`wrun run --rm --network none --isolation {isolation}{policy_flag} wrun-bench CMD` (HTTP: `-p` instead of `--network none`)"
                        )
                    },
                ))
            }
            "runc" | "runsc" => {
                let tool = which(name).ok_or_else(|| not_installed(name))?;
                let bundles = self.bundles()?;
                let mut argv = vec![
                    os(&tool),
                    os("--root"),
                    os(dir.join(format!("{name}-state"))),
                ];
                let how = if name == "runsc" {
                    // Debian's runsc has no systrap platform and its KVM
                    // platform hangs here; without its own netns it refuses
                    // to run with networking.
                    argv.extend([os("--platform=ptrace"), os("--network=none")]);
                    "`runsc --platform=ptrace --network=none run --bundle B ID` on an OCI bundle of the rootfs"
                } else {
                    "`runc run --bundle B ID` on an OCI bundle of the rootfs"
                };
                Ok(subject(
                    Kind::Oci {
                        argv,
                        bundles,
                        id_prefix: format!("wrun-bench-{name}-{}", std::process::id()),
                    },
                    how.into(),
                ))
            }
            "crun" => {
                let crun = which("crun").ok_or_else(|| not_installed(name))?;
                let bundles = self.bundles()?;
                let mut argv = Vec::new();
                let mut how = "`crun run --bundle B ID` on an OCI bundle of the rootfs".to_string();
                let hybrid = is_mountpoint(HYBRID_CGROUP2);
                if hybrid {
                    argv = crun_wrapper();
                    how = format!(
                        "crun 1.8 refuses hybrid cgroups: `unshare --mount --propagation private sh -c 'umount -l {HYBRID_CGROUP2} && exec \"$@\"' w crun run …`; the wrapper alone (`… exec true`), measured in the same rounds, is subtracted from start-exit"
                    );
                }
                argv.extend([os(crun), os("--root"), os(dir.join("crun-state"))]);
                let mut s = subject(
                    Kind::Oci {
                        argv,
                        bundles,
                        id_prefix: format!("wrun-bench-crun-{}", std::process::id()),
                    },
                    how,
                );
                if hybrid {
                    s.subtract = Some(CRUN_WRAPPER.into());
                }
                Ok(s)
            }
            "podman" => self.podman(),
            "microvm" => {
                let vm =
                    super::microvm::prepare(&self.cfg.cache_dir, &self.rootfs, self.cfg.quick)?;
                let how = vm.describe();
                let mut s = subject(Kind::Vm(Box::new(vm.clone())), how);
                s.label = format!("microVM ({})", vm.accel_label());
                Ok(s)
            }
            other => Err(format!("unknown subject {other}")),
        }
    }

    /// Subjects measured only to be subtracted from others.
    pub fn helpers(&self, subjects: &[Subject]) -> Vec<Subject> {
        if subjects
            .iter()
            .any(|s| s.subtract.as_deref() == Some(CRUN_WRAPPER))
        {
            let mut argv = crun_wrapper();
            argv.push(os("true"));
            vec![Subject {
                name: CRUN_WRAPPER.into(),
                label: "crun's wrapper alone".into(),
                how: "the crun wrapper running `exec true`".into(),
                subtract: None,
                kind: Kind::Fixed { argv },
            }]
        } else {
            Vec::new()
        }
    }

    /// wrun's private state root with the rootfs imported as
    /// `wrun-bench:latest` (once).
    fn wrun_root(&mut self, wrun: &Path) -> Result<PathBuf, String> {
        if let Some(r) = &self.wrun_root {
            return r.clone();
        }
        let root = self.work.path.join("wrun-root");
        let mut import = Command::new(wrun);
        import.arg("--root").arg(&root).arg("import");
        for change in &self.cfg.changes {
            import.arg("--change").arg(change);
        }
        import.arg(&self.image_tar).arg("wrun-bench:latest");
        self.work
            .wrun_roots
            .push((wrun.to_path_buf(), root.clone()));
        let r = run_checked(&mut import, "wrun import").map(|()| root);
        self.wrun_root = Some(r.clone());
        r
    }

    /// OCI bundles (one per command; `root.path` is the shared rootfs).
    fn bundles(&mut self) -> Result<BTreeMap<String, PathBuf>, String> {
        if let Some(b) = &self.bundles {
            return Ok(b.clone());
        }
        let tool = which("runc")
            .or_else(|| which("crun"))
            .or_else(|| which("runsc"))
            .ok_or("no OCI runtime to write a spec with")?;
        let template_dir = self.work.path.join("spec-template");
        fs::create_dir_all(&template_dir).map_err(|e| format!("mkdir: {e}"))?;
        run_checked(
            Command::new(&tool).arg("spec").current_dir(&template_dir),
            "generating config.json with `spec`",
        )?;
        let text = fs::read_to_string(template_dir.join("config.json"))
            .map_err(|e| format!("read config.json: {e}"))?;
        let template: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("parse config.json: {e}"))?;
        let mut bundles = BTreeMap::new();
        let commands: [&[&str]; 3] = [
            &[WORKLOAD_PATH, "true"],
            &[WORKLOAD_PATH, "syscalls"],
            &[WORKLOAD_PATH, "syscalls", "quick"],
        ];
        for (i, inner) in commands.iter().enumerate() {
            let bundle = self.work.path.join(format!("bundle-{i}"));
            fs::create_dir_all(&bundle).map_err(|e| format!("mkdir: {e}"))?;
            let mut spec = template.clone();
            spec["process"]["terminal"] = serde_json::Value::Bool(false);
            spec["process"]["args"] = serde_json::json!(inner);
            spec["root"]["path"] = serde_json::json!(self.rootfs);
            // The syscall mix writes 64 MiB into /tmp.
            spec["root"]["readonly"] = serde_json::Value::Bool(false);
            let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
            fs::write(bundle.join("config.json"), text)
                .map_err(|e| format!("write config.json: {e}"))?;
            bundles.insert(inner.join(" "), bundle);
        }
        self.bundles = Some(bundles.clone());
        Ok(bundles)
    }

    fn podman(&mut self) -> Result<Subject, String> {
        let podman = which("podman").ok_or_else(|| not_installed("podman"))?;
        let dir = self.work.path.clone();
        let crate::PodmanInvocation { base, env, runtime } =
            crate::podman_invocation(&podman, &dir)?;
        self.work.podman = Some(base.clone());
        let image = "localhost/wrun-bench:latest".to_string();
        let mut import = Command::new(&base[0]);
        import
            .args(&base[1..])
            .envs(env.iter().cloned())
            .arg("import");
        for change in &self.cfg.changes {
            import.arg("--change").arg(change);
        }
        import.arg(&self.image_tar).arg(&image);
        run_checked(&mut import, "podman import")?;
        Ok(Subject {
            name: "podman".into(),
            label: label_of("podman"),
            how: format!(
                "`podman run --rm --network none` (`--runtime {runtime}`, `--cgroup-manager cgroupfs`, private `--root`, nofile=20000), image `podman import`ed from the same rootfs; its conmon leaves the measured memory cgroup"
            ),
            subtract: None,
            kind: Kind::Podman { base, env, image },
        })
    }
}

/// The workload run directly, from inside the rootfs: cwd is the rootfs and
/// argv[0] is `./NAME`, so the file the syscall mix opens is one path
/// component away, as `/NAME` is inside a container.
fn native_command(rootfs: &Path, inner: &[&str]) -> Command {
    use std::os::unix::process::CommandExt;
    let rel = inner[0].trim_start_matches('/');
    let mut c = Command::new(rootfs.join(rel));
    c.arg0(format!("./{rel}"))
        .args(&inner[1..])
        .current_dir(rootfs);
    c
}

/// `unshare --mount --propagation private sh -c 'umount -l CG2 && exec "$@"' w`
fn crun_wrapper() -> Vec<OsString> {
    vec![
        os("unshare"),
        os("--mount"),
        os("--propagation"),
        os("private"),
        os("sh"),
        os("-c"),
        os(format!("umount -l {HYBRID_CGROUP2} && exec \"$@\"")),
        os("wrapper"),
    ]
}
