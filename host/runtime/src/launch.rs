//! Creating, starting, waiting for and cleaning up a container.
//!
//! `create` writes the bundle (spec, `/etc` files, overlay dirs) and claims
//! the name; `start_once` creates the cgroup, spawns the shim as PID 1 of a
//! new PID namespace inside it and learns from the shim's status channel
//! whether the workload started; `start_detached` runs the monitor
//! (`monitor.rs`) as a process of its own. Each resource is undone on every
//! path: a failed create removes the directory and name, a failed start
//! removes the cgroup too.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::Deserialize;
use wrun_images::{Image, Store};
use wrun_sys::spawn::{InitCommand, spawn};

use crate::cgroup::{self, Cgroup, Layout};
use crate::ids;
use crate::network::ports::{PortProxy, ProxyHandle};
use crate::network::{Attachment, NetworkManager};
use crate::spec::{self, Paths, RunConfig};
use crate::state::{
    ContainerState, Containers, HostConfig, NetworkEndpoint, Status, now_rfc3339, write_atomic,
};
use crate::{Error, Result};

/// Fd numbers the shim finds its channels on (see docs/contracts.md).
const STATUS_FD: i32 = 3;
const CONSOLE_FD: i32 = 4;

/// The runtime rooted at one state directory.
#[derive(Debug)]
pub struct Runtime {
    root: PathBuf,
    shim: PathBuf,
    /// The `wrun` executable, re-run as a container's monitor.
    monitor_exe: PathBuf,
    containers: Containers,
}

/// A line on the shim's status channel (see docs/contracts.md).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum StatusLine {
    Started {
        #[allow(dead_code, reason = "part of the protocol, kept for logs")]
        pid: i32,
    },
    Error {
        code: i32,
        message: String,
    },
}

impl Runtime {
    /// A runtime whose state lives under `root`, starting containers with
    /// the shim at `shim`.
    pub fn new(root: &Path, shim: PathBuf, monitor_exe: PathBuf) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            containers: Containers::open(root)?.with_reaper(crate::state::Reaper {
                exe: monitor_exe.clone(),
                root: root.to_path_buf(),
            }),
            shim,
            monitor_exe,
        })
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shim executable containers (and `exec`) are started with.
    pub fn shim(&self) -> &Path {
        &self.shim
    }

    /// Creates a container from `image`: claims its name, writes its
    /// bundle. Nothing runs yet.
    pub fn create(&self, cfg: &RunConfig, store: &Store, image: &Image) -> Result<ContainerState> {
        let t0 = std::time::Instant::now();
        let id = ids::new_id().map_err(Error::io("/dev/urandom"))?;
        if let crate::spec::NetworkMode::Bridge(net) = &cfg.network {
            // An unknown network fails before anything is made.
            let nets = NetworkManager::open(&self.root)?;
            if net == "bridge" {
                nets.ensure_default()?;
            } else {
                nets.get(net)?;
            }
        }
        let dir = self.containers.dir(&id);
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let name = match self.claim(cfg, &id) {
            Ok(name) => name,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let state = ContainerState {
            id: id.clone(),
            name: name.clone(),
            image: cfg.image_ref.clone(),
            image_id: image.id.clone(),
            command: Vec::new(),
            created: now_rfc3339(),
            started_at: None,
            finished_at: None,
            status: Status::Created,
            pid: None,
            exit_code: None,
            cgroups: Vec::new(),
            auto_remove: cfg.auto_remove,
            monitor_pid: None,
            monitor_start: None,
            pid_start: None,
            restart_count: 0,
            host: HostConfig {
                resources: cfg.resources.clone(),
                restart: cfg.restart,
                log: cfg.log,
                tty: cfg.tty,
                interactive: cfg.interactive,
                stop_signal: image
                    .config
                    .config()
                    .as_ref()
                    .and_then(|c| c.stop_signal().clone()),
                labels: cfg.labels.clone(),
                network: cfg.network.name().to_string(),
                publish: cfg.publish.clone(),
                aliases: cfg.aliases.clone(),
                isolation: cfg.isolation,
                policy: None,
            },
            endpoints: Vec::new(),
        };
        match self.write_bundle(state, cfg, store, image) {
            Ok(state) => {
                tracing::debug!(elapsed = ?t0.elapsed(), id = %state.id, "bundle written");
                Ok(state)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                let _ = self.containers.release_name(&name, &id);
                Err(e)
            }
        }
    }

    fn claim(&self, cfg: &RunConfig, id: &str) -> Result<String> {
        if let Some(name) = &cfg.name {
            self.containers.claim_name(name, id)?;
            return Ok(name.clone());
        }
        let mut attempt = 0;
        loop {
            let name = ids::generated_name(id, attempt);
            match self.containers.claim_name(&name, id) {
                Ok(()) => return Ok(name),
                Err(Error::NameInUse { .. }) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    fn write_bundle(
        &self,
        mut state: ContainerState,
        cfg: &RunConfig,
        store: &Store,
        image: &Image,
    ) -> Result<ContainerState> {
        let dir = self.containers.dir(&state.id);
        let layers = store.layer_dirs(image)?;
        for sub in ["rootfs", "upper", "work"] {
            fs::create_dir(dir.join(sub)).map_err(Error::io(dir.join(sub)))?;
        }
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(_, hard)| hard)
            .unwrap_or(1024);
        let mut bundle = spec::build(
            &state.id,
            cfg,
            &image.config,
            &Paths {
                container_dir: &dir,
                layers: &layers,
            },
            nofile,
        )?;
        // The policy is checked here, so a bad one fails before anything runs.
        let (trap, landlock) = match &cfg.policy {
            Some(p) => {
                let ctx = self.policy_context(cfg, image, &bundle)?;
                let prepared = crate::isolation::prepare(
                    p,
                    cfg.policy_naive,
                    cfg.policy_enforcement,
                    &dir,
                    &ctx,
                )?;
                state.host.policy = Some(prepared.choice);
                (prepared.trap, prepared.landlock)
            }
            None => (Vec::new(), None),
        };
        crate::isolation::annotate(
            &mut bundle.spec,
            cfg.isolation,
            state.host.policy.as_ref(),
            &trap,
            landlock.as_ref(),
        );
        write_atomic(&dir.join("hostname"), bundle.hostname.as_bytes())?;
        write_atomic(&dir.join("hosts"), bundle.hosts.as_bytes())?;
        if !cfg.add_hosts.is_empty() {
            // Kept apart so the network layer's rewrites of /etc/hosts keep them.
            let extra: String = cfg
                .add_hosts
                .iter()
                .map(|(name, ip)| format!("{ip}\t{name}\n"))
                .collect();
            write_atomic(&dir.join("hosts.extra"), extra.as_bytes())?;
        }
        write_atomic(&dir.join("resolv.conf"), bundle.resolv_conf.as_bytes())?;
        let spec_json = serde_json::to_vec(&bundle.spec).expect("spec serializes");
        write_atomic(&dir.join("config.json"), &spec_json)?;
        state.command = bundle.command;
        self.containers.save(&state)?;
        Ok(state)
    }

    /// What `--policy web-app` is made from: the working directory, the
    /// exposed and published ports, the network's subnet, the DNS servers.
    fn policy_context(
        &self,
        cfg: &RunConfig,
        image: &Image,
        bundle: &spec::Bundle,
    ) -> Result<crate::isolation::PolicyContext> {
        let mut ports: Vec<u16> = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.split('/').next()?.parse().ok())
            .collect();
        ports.extend(cfg.publish.iter().map(|p| p.container_port));
        ports.sort_unstable();
        ports.dedup();
        let networks = match &cfg.network {
            crate::spec::NetworkMode::Bridge(net) => {
                let n = NetworkManager::open(&self.root)?.get(net)?;
                vec![n.subnet.to_string()]
            }
            _ => Vec::new(),
        };
        let dns = bundle
            .resolv_conf
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
            .collect();
        Ok(crate::isolation::PolicyContext {
            workdir: bundle
                .spec
                .process()
                .as_ref()
                .map(|p| p.cwd().display().to_string())
                .unwrap_or_default(),
            ports,
            networks,
            dns,
        })
    }

    /// Starts the container's shim once: cgroup, `clone3` into a new PID
    /// namespace, and the shim's first status line. The caller owns the
    /// returned streams and must call [`Runtime::after_exit`].
    pub(crate) fn start_once(&self, state: &mut ContainerState, io: Io) -> Result<Running> {
        let t0 = std::time::Instant::now();
        let layout = Layout::detect()?;
        let cgroup = Cgroup::create(&layout, &state.id, &state.host.resources)?;
        state.cgroups = cgroup.dirs().to_vec();
        tracing::debug!(elapsed = ?t0.elapsed(), dirs = ?state.cgroups, "cgroup created");
        let result = self
            .setup_network(state)
            .and_then(|net| self.spawn_shim(state, &cgroup, io, net, t0));
        match result {
            Ok(running) => Ok(running),
            Err(e) => {
                self.release_network(state);
                let _ = cgroup::remove_dirs(&state.cgroups);
                state.cgroups.clear();
                Err(e)
            }
        }
    }

    /// On a bridge network: the container's network namespace, made and
    /// configured before the shim starts, and its published ports bound (so
    /// a taken port fails before anything runs).
    fn setup_network(&self, state: &mut ContainerState) -> Result<Option<PreparedNetwork>> {
        let network = state.host.network.clone();
        if network == "none" || network == "host" || network.is_empty() {
            return Ok(None);
        }
        let t0 = std::time::Instant::now();
        let dir = self.containers.dir(&state.id);
        let hostname = fs::read_to_string(dir.join("hostname"))
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| state.id[..12].to_string());
        let nets = NetworkManager::open(&self.root)?;
        if network == "bridge" {
            // The default network's bridge goes with its last container.
            nets.ensure_default()?;
        }
        let (netns, endpoints) = nets.setup_container(
            &state.id,
            &hostname,
            &[Attachment {
                network,
                aliases: state.host.aliases.clone(),
                container_name: state.name.clone(),
            }],
        )?;
        state.endpoints = endpoints
            .iter()
            .map(|e| NetworkEndpoint {
                network: e.network.clone(),
                ip: e.ip,
                prefix: e.prefix,
                gateway: e.gateway,
                mac: e.mac.clone(),
            })
            .collect();
        // In place: the file is bind-mounted into the container by inode.
        let hosts = nets.hosts_file(&state.id)?;
        let hosts_path = dir.join("hosts");
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&hosts_path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, hosts.as_bytes()))
            .map_err(Error::io(hosts_path))?;
        let proxy = match endpoints.first() {
            Some(ep) if !state.host.publish.is_empty() => {
                let (proxy, actual) = PortProxy::bind(&state.host.publish, ep.ip)?;
                crate::network::ports::save_ports(&dir, &actual)?;
                nets.publish_ports(&state.id, ep, &actual)?;
                Some(proxy)
            }
            _ => None,
        };
        tracing::debug!(elapsed = ?t0.elapsed(), endpoints = ?state.endpoints, "network ready");
        Ok(Some(PreparedNetwork { netns, proxy }))
    }

    /// Undoes [`Runtime::setup_network`]: veths, leases, NAT rules of the
    /// last container, the published-ports file. Idempotent.
    pub(crate) fn release_network(&self, state: &mut ContainerState) {
        let network = &state.host.network;
        if network == "none" || network == "host" || network.is_empty() {
            return;
        }
        let published = !state.host.publish.is_empty();
        let released = NetworkManager::open(&self.root).and_then(|n| {
            let unpublished = if published {
                n.unpublish_ports(&state.id)
            } else {
                Ok(())
            };
            n.teardown_container(&state.id).and(unpublished)
        });
        if let Err(e) = released {
            tracing::warn!("network clean-up of {}: {e}", state.id);
        }
        let _ = fs::remove_file(
            self.containers
                .dir(&state.id)
                .join(crate::network::ports::PORTS_FILE),
        );
        state.endpoints.clear();
    }

    fn spawn_shim(
        &self,
        state: &mut ContainerState,
        cgroup: &Cgroup,
        io: Io,
        network: Option<PreparedNetwork>,
        t0: std::time::Instant,
    ) -> Result<Running> {
        let dir = self.containers.dir(&state.id);
        let (status_read, status_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
        let devnull = fs::File::open("/dev/null").map_err(Error::io("/dev/null"))?;
        let dup = |fd: std::os::fd::BorrowedFd<'_>, what: &'static str| {
            fd.try_clone_to_owned().map_err(Error::io(what))
        };
        let mut stdin_pipe = None;
        let stdin_fd = match (io.stdin, io.tty) {
            (StdinMode::Inherit, false) => dup(std::io::stdin().as_fd(), "stdin")?,
            (StdinMode::Pipe, false) => {
                let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(Error::sys("pipe2"))?;
                stdin_pipe = Some(fs::File::from(w));
                r
            }
            _ => dup(devnull.as_fd(), "/dev/null")?,
        };
        let (console_ours, console_theirs) = if io.tty {
            let (a, b) = UnixStream::pair().map_err(Error::io("console socket"))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        // Without a tty the monitor reads the container's output from pipes
        // (to log it, and to copy it to an attached terminal).
        let (out_read, out_write, err_read, err_write) = if io.tty {
            (
                None,
                dup(devnull.as_fd(), "/dev/null")?,
                None,
                dup(devnull.as_fd(), "/dev/null")?,
            )
        } else {
            let (or, ow) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
            let (er, ew) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
            (Some(or), ow, Some(er), ew)
        };

        let bundle = dir.display().to_string();
        let mut env = vec![format!("WRUN_STATUS_FD={STATUS_FD}")];
        if console_theirs.is_some() {
            env.push(format!("WRUN_CONSOLE_FD={CONSOLE_FD}"));
        }
        // Under a trapped policy this monitor supervises the container: the
        // shim sends the trap filter's listener to our socket. Under
        // Landlock the kernel alone enforces it.
        let supervisor_conn = match &state.host.policy {
            Some(choice) if choice.enforced_by == crate::isolation::Enforcement::Trap => {
                let policy = crate::isolation::load(&dir, choice)?;
                crate::isolation::serve(&dir, policy, choice)?;
                env.push(format!("WRUN_SECCOMP_FD={}", crate::isolation::SECCOMP_FD));
                Some(crate::isolation::connect(&dir)?)
            }
            _ => None,
        };
        let spawn_err = |source| Error::Spawn {
            shim: self.shim.clone(),
            source,
        };
        let mut cmd = InitCommand::new(&self.shim, &["wrun-shim".to_string(), bundle], &env)
            .map_err(spawn_err)?;
        if state.host.isolation != crate::isolation::Isolation::Process {
            cmd.namespaces(wrun_sys::spawn::flags::NEW_PID);
        }
        if let Some(sock) = &supervisor_conn {
            cmd.map_fd(sock, crate::isolation::SECCOMP_FD);
        }
        // The monitor owns the container: if it dies, so does the container,
        // and `reconcile` only has to record it.
        cmd.die_with_parent();
        cmd.map_fd(&stdin_fd, 0);
        cmd.map_fd(&out_write, 1);
        cmd.map_fd(&err_write, 2);
        cmd.map_fd(&status_write, STATUS_FD);
        if let Some(net) = &network {
            cmd.map_fd(&net.netns, crate::spec::NETNS_FD);
        }
        if let Some(sock) = &console_theirs {
            cmd.map_fd(sock, CONSOLE_FD);
        }
        cgroup.join()?.apply(&mut cmd);
        let child = spawn(&cmd).map_err(spawn_err)?;
        tracing::debug!(elapsed = ?t0.elapsed(), pid = child.pid.as_raw(), "shim spawned");
        drop(cmd);
        drop((status_write, out_write, err_write, console_theirs, stdin_fd));
        drop(supervisor_conn);
        state.pid = Some(child.pid.as_raw());
        state.pid_start = crate::process::start_time(child.pid.as_raw());

        // The shim either reports the started workload or an error.
        await_started(status_read, child.pid, "the shim", "the container")?;
        tracing::debug!(elapsed = ?t0.elapsed(), "shim reported");
        let master = match console_ours {
            Some(sock) => Some(fs::File::from(receive_fd(&sock)?)),
            None => None,
        };
        state.status = Status::Running;
        state.started_at = Some(now_rfc3339());
        state.exit_code = None;
        state.finished_at = None;
        let proxy = match network.and_then(|n| n.proxy) {
            Some(p) => Some(p.start()?),
            None => None,
        };
        Ok(Running {
            pid: child.pid,
            pidfd: child.pidfd,
            proxy,
            stdin: stdin_pipe,
            stdout: out_read.map(fs::File::from),
            stderr: err_read.map(fs::File::from),
            master,
        })
    }

    /// Records an exit: the cgroup goes, the state says exited with `code`.
    pub(crate) fn after_exit(&self, state: &mut ContainerState, code: i32) -> Result<()> {
        let t0 = std::time::Instant::now();
        // Every decision of the policy is in the audit log before the
        // container is reported exited.
        crate::isolation::drain();
        self.release_network(state);
        let removed = cgroup::remove_dirs(&state.cgroups);
        tracing::debug!(elapsed = ?t0.elapsed(), "cgroup removed");
        state.cgroups.clear();
        state.status = Status::Exited;
        state.pid = None;
        state.pid_start = None;
        state.exit_code = Some(code);
        state.finished_at = Some(now_rfc3339());
        removed
    }

    /// Starts the container's monitor as a process of its own (its own
    /// session, no terminal), which outlives this one, and waits only until
    /// the workload has started or failed to.
    pub fn start_detached(&self, id: &str) -> Result<()> {
        let (ready_read, ready_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
        let devnull = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(Error::io("/dev/null"))?;
        let argv = [
            "wrun".to_string(),
            "--root".to_string(),
            self.root.display().to_string(),
            "container-monitor".to_string(),
            "--ready-fd".to_string(),
            STATUS_FD.to_string(),
            id.to_string(),
        ];
        let env: Vec<String> = ["PATH", "WRUN_SHIM", "RUST_BACKTRACE"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
            .collect();
        let spawn_err = |source| Error::Spawn {
            shim: self.monitor_exe.clone(),
            source,
        };
        let mut cmd = InitCommand::new(&self.monitor_exe, &argv, &env).map_err(spawn_err)?;
        cmd.new_session();
        cmd.map_fd(&devnull, 0);
        cmd.map_fd(&devnull, 1);
        cmd.map_fd(&devnull, 2);
        cmd.map_fd(&ready_write, STATUS_FD);
        let child = spawn(&cmd).map_err(spawn_err)?;
        drop(ready_write);
        await_started(ready_read, child.pid, "the container's monitor", "it")
    }
}

/// A configured network namespace (handed to the shim) and the bound,
/// not yet serving, port proxy.
#[derive(Debug)]
pub(crate) struct PreparedNetwork {
    netns: OwnedFd,
    proxy: Option<PortProxy>,
}

/// How a container's standard streams are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Io {
    pub tty: bool,
    pub stdin: StdinMode,
}

/// Where a (non-tty) container's stdin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdinMode {
    /// `/dev/null`, as Docker gives a container without `-i`.
    Null,
    /// Our own stdin (attached `-i`).
    Inherit,
    /// A pipe the monitor writes what attached clients type into
    /// (detached `-i`).
    Pipe,
}

/// A started shim and the ends of its output streams.
#[derive(Debug)]
pub(crate) struct Running {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    /// The published ports' proxy, serving until dropped.
    pub proxy: Option<ProxyHandle>,
    /// The write end of the container's stdin pipe ([`StdinMode::Pipe`]).
    pub stdin: Option<fs::File>,
    pub stdout: Option<fs::File>,
    pub stderr: Option<fs::File>,
    pub master: Option<fs::File>,
}

/// Reads the first line of a status channel (docs/contracts.md): `Ok` when
/// it says started; the reported error (with Docker's exit code) when it
/// says so; when `who` exits without a word, 125 and its exit status.
pub(crate) fn await_started(channel: OwnedFd, pid: Pid, who: &str, what: &str) -> Result<()> {
    let mut line = String::new();
    let _ = BufReader::new(fs::File::from(channel)).read_line(&mut line);
    match serde_json::from_str::<StatusLine>(line.trim()) {
        Ok(StatusLine::Started { .. }) => Ok(()),
        Ok(StatusLine::Error { code, message }) => {
            let _ = wait_code(pid);
            Err(Error::Start { code, message })
        }
        Err(_) => {
            let status = wait_code(pid);
            Err(Error::Start {
                code: 125,
                message: format!(
                    "{who} exited before starting {what} (status {})",
                    status
                        .map(|c| c.to_string())
                        .unwrap_or_else(|e| e.to_string())
                ),
            })
        }
    }
}

pub(crate) fn wait_code(pid: Pid) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("waiting for the shim (pid {pid})"))(e)),
        }
    }
}

/// Forwards the signals a user sends to `wrun run` to the container, as
/// Docker's `--sig-proxy` does.
///
/// The signals are blocked in the thread that calls [`SignalProxy::block`]
/// — which must happen before any other thread exists, so that every
/// thread inherits the mask — and a dedicated thread takes them with
/// `sigwait`. The shim's spawn resets the mask, so the container gets
/// ordinary dispositions.
#[derive(Debug)]
pub struct SignalProxy {
    target: Arc<AtomicI32>,
}

/// Signals that are not forwarded: job control of our own terminal and
/// ones the kernel or we handle.
const NOT_FORWARDED: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGPIPE,
    Signal::SIGURG,
    Signal::SIGWINCH,
    Signal::SIGKILL,
    Signal::SIGSTOP,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
];

impl SignalProxy {
    /// Blocks the forwarded signals (and SIGWINCH) in the calling thread and
    /// starts the forwarding thread.
    pub fn block() -> Result<Self> {
        let mut set = SigSet::empty();
        for sig in Signal::iterator() {
            if !NOT_FORWARDED.contains(&sig) {
                set.add(sig);
            }
        }
        set.add(Signal::SIGWINCH);
        set.thread_block().map_err(Error::sys("blocking signals"))?;
        let target = Arc::new(AtomicI32::new(0));
        let t = target.clone();
        std::thread::Builder::new()
            .name("signal-proxy".into())
            .spawn(move || {
                loop {
                    let Ok(sig) = set.wait() else { continue };
                    if sig == Signal::SIGWINCH {
                        copy_window_size();
                        continue;
                    }
                    let pid = t.load(Ordering::SeqCst);
                    if pid > 0 {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
                    }
                }
            })
            .map_err(Error::io("signal proxy thread"))?;
        Ok(Self { target })
    }

    pub(crate) fn forward_to(&self, pid: Pid) {
        self.target.store(pid.as_raw(), Ordering::SeqCst);
    }
}

/// Copies our terminal's window size to the current relay's pty master.
pub(crate) fn copy_window_size() {
    if let Some(master) = RELAY_MASTER.get()
        && let Ok(size) = rustix::termios::tcgetwinsize(rustix::stdio::stdout())
    {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// The pty master of the current relay, for SIGWINCH (one per process).
pub(crate) static RELAY_MASTER: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();

/// Receives the pty master the shim sends with SCM_RIGHTS.
fn receive_fd(sock: &UnixStream) -> Result<OwnedFd> {
    let mut buf = [0u8; 64];
    match wrun_sys::fd::recv_fd(sock, &mut buf) {
        Ok((_, Some(fd))) => Ok(fd),
        Ok((_, None)) => Err(Error::Start {
            code: 125,
            message: "the shim closed the console socket without sending the pty master".into(),
        }),
        Err(e) => Err(Error::Start {
            code: 125,
            message: format!("receiving the pty master from the shim: {e}"),
        }),
    }
}
