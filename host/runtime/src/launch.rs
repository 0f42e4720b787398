//! Creating, starting, waiting for and cleaning up a container.
//!
//! `create` writes the bundle (spec, `/etc` files, overlay dirs) and claims
//! the name; `run_attached` creates the cgroup, spawns the shim as PID 1 of a
//! new PID namespace inside it, learns from the shim's status channel
//! whether the workload started, relays the pty when there is one, waits,
//! and cleans up. Each resource is undone on every path: a failed create
//! removes the directory and name, a failed start removes the cgroup too.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
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
use crate::spec::{self, Paths, RunConfig};
use crate::state::{ContainerState, Containers, Status, now_rfc3339, write_atomic};
use crate::{Error, Result};

/// Fd numbers the shim finds its channels on (see docs/contracts.md).
const STATUS_FD: i32 = 3;
const CONSOLE_FD: i32 = 4;

/// The runtime rooted at one state directory.
#[derive(Debug)]
pub struct Runtime {
    root: PathBuf,
    shim: PathBuf,
    containers: Containers,
}

/// How the container's standard streams connect to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// The container shares our stdout and stderr; stdin too with `-i`,
    /// otherwise it reads `/dev/null`, as with Docker.
    Inherit { stdin: bool },
    /// `-t`: a pty inside the container, relayed to our terminal.
    Tty { stdin: bool },
}

/// A line on the shim's status channel.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StatusLine {
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
    pub fn new(root: &Path, shim: PathBuf) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            containers: Containers::open(root)?,
            shim,
        })
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a container from `image`: claims its name, writes its
    /// bundle. Nothing runs yet.
    pub fn create(&self, cfg: &RunConfig, store: &Store, image: &Image) -> Result<ContainerState> {
        let t0 = std::time::Instant::now();
        let id = ids::new_id().map_err(Error::io("/dev/urandom"))?;
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
        let bundle = spec::build(
            &state.id,
            cfg,
            &image.config,
            &Paths {
                container_dir: &dir,
                layers: &layers,
            },
            nofile,
        )?;
        write_atomic(&dir.join("hostname"), bundle.hostname.as_bytes())?;
        write_atomic(&dir.join("hosts"), bundle.hosts.as_bytes())?;
        write_atomic(&dir.join("resolv.conf"), bundle.resolv_conf.as_bytes())?;
        let spec_json = serde_json::to_vec(&bundle.spec).expect("spec serializes");
        write_atomic(&dir.join("config.json"), &spec_json)?;
        state.command = bundle.command;
        self.containers.save(&state)?;
        Ok(state)
    }

    /// Starts a created container attached to our terminal and waits for
    /// it. Returns the container's exit code (`128+signal` if killed).
    ///
    /// `signals` must have been made with [`SignalProxy::block`] before any
    /// thread was started.
    pub fn run_attached(
        &self,
        state: &mut ContainerState,
        cgroup_layout: &Layout,
        resources: &cgroup::Resources,
        attach: Attach,
        signals: &SignalProxy,
    ) -> Result<i32> {
        let result = self.start_and_wait(state, cgroup_layout, resources, attach, signals);
        let cleanup = self.finish(state, result.as_ref().ok().copied());
        let code = result?;
        cleanup?;
        Ok(code)
    }

    fn start_and_wait(
        &self,
        state: &mut ContainerState,
        layout: &Layout,
        resources: &cgroup::Resources,
        attach: Attach,
        signals: &SignalProxy,
    ) -> Result<i32> {
        let t0 = std::time::Instant::now();
        let cgroup = Cgroup::create(layout, &state.id, resources)?;
        state.cgroups = cgroup.dirs().to_vec();
        tracing::debug!(elapsed = ?t0.elapsed(), dirs = ?state.cgroups, "cgroup created");
        let dir = self.containers.dir(&state.id);

        let (status_read, status_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
        let devnull = fs::File::open("/dev/null").map_err(Error::io("/dev/null"))?;
        let stdin_fd: OwnedFd = match attach {
            Attach::Inherit { stdin: true } => std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(Error::io("stdin"))?,
            _ => devnull
                .as_fd()
                .try_clone_to_owned()
                .map_err(Error::io("/dev/null"))?,
        };
        let (console_ours, console_theirs) = match attach {
            Attach::Tty { .. } => {
                let (a, b) = UnixStream::pair().map_err(Error::io("console socket"))?;
                (Some(a), Some(b))
            }
            Attach::Inherit { .. } => (None, None),
        };

        let bundle = dir.display().to_string();
        let mut env = vec![format!("WRUN_STATUS_FD={STATUS_FD}")];
        if console_theirs.is_some() {
            env.push(format!("WRUN_CONSOLE_FD={CONSOLE_FD}"));
        }
        let mut cmd = InitCommand::new(&self.shim, &["wrun-shim".to_string(), bundle], &env)
            .map_err(|source| Error::Spawn {
                shim: self.shim.clone(),
                source,
            })?;
        cmd.namespaces(wrun_sys::spawn::flags::NEW_PID);
        cmd.map_fd(&stdin_fd, 0);
        let (out, err) = match attach {
            Attach::Tty { .. } => (
                devnull.as_fd().try_clone_to_owned(),
                devnull.as_fd().try_clone_to_owned(),
            ),
            Attach::Inherit { .. } => (
                std::io::stdout().as_fd().try_clone_to_owned(),
                std::io::stderr().as_fd().try_clone_to_owned(),
            ),
        };
        let out = out.map_err(Error::io("stdout"))?;
        let err = err.map_err(Error::io("stderr"))?;
        cmd.map_fd(&out, 1);
        cmd.map_fd(&err, 2);
        cmd.map_fd(&status_write, STATUS_FD);
        if let Some(sock) = &console_theirs {
            cmd.map_fd(sock, CONSOLE_FD);
        }
        for procs in cgroup.procs_files()? {
            cmd.join_cgroup(procs);
        }
        let child = spawn(&cmd).map_err(|source| Error::Spawn {
            shim: self.shim.clone(),
            source,
        })?;
        tracing::debug!(elapsed = ?t0.elapsed(), pid = child.pid.as_raw(), "shim spawned");
        drop(cmd);
        drop(status_write);
        drop(console_theirs);
        signals.forward_to(child.pid);
        state.pid = Some(child.pid.as_raw());
        state.status = Status::Running;
        state.started_at = Some(now_rfc3339());

        // The shim either reports the started workload or an error.
        let mut reader = BufReader::new(fs::File::from(status_read));
        let mut line = String::new();
        let started = reader.read_line(&mut line);
        let report = match started {
            Ok(n) if n > 0 => serde_json::from_str::<StatusLine>(line.trim()).ok(),
            _ => None,
        };
        tracing::debug!(elapsed = ?t0.elapsed(), report = line.trim(), "shim reported");
        match report {
            Some(StatusLine::Started { .. }) => {}
            Some(StatusLine::Error { code, message }) => {
                let _ = waitpid(child.pid, None);
                return Err(Error::Start { code, message });
            }
            None => {
                let status = wait_code(child.pid);
                return Err(Error::Start {
                    code: 125,
                    message: format!(
                        "the shim exited before starting the container (status {})",
                        status
                            .map(|c| c.to_string())
                            .unwrap_or_else(|e| e.to_string())
                    ),
                });
            }
        }
        self.containers.save(state)?;

        let relay = match (console_ours, attach) {
            (Some(sock), Attach::Tty { stdin }) => Some(TtyRelay::start(&sock, stdin)?),
            _ => None,
        };
        let code = wait_code(child.pid)?;
        tracing::debug!(elapsed = ?t0.elapsed(), code, "shim exited");
        if let Some(relay) = relay {
            relay.finish();
        }
        Ok(code)
    }

    /// Records the exit and removes what the container no longer needs:
    /// always its cgroup; with `--rm` everything.
    fn finish(&self, state: &mut ContainerState, code: Option<i32>) -> Result<()> {
        let t0 = std::time::Instant::now();
        let cgroups = cgroup::remove_dirs(&state.cgroups);
        tracing::debug!(elapsed = ?t0.elapsed(), "cgroup removed");
        if state.auto_remove {
            self.containers.remove(state)?;
            return cgroups;
        }
        state.status = Status::Exited;
        state.pid = None;
        state.exit_code = Some(code.unwrap_or(125));
        state.finished_at = Some(now_rfc3339());
        state.cgroups.clear();
        self.containers.save(state)?;
        cgroups
    }
}

fn wait_code(pid: Pid) -> Result<i32> {
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

    fn forward_to(&self, pid: Pid) {
        self.target.store(pid.as_raw(), Ordering::SeqCst);
    }
}

/// Copies our terminal's window size to the current relay's pty master.
fn copy_window_size() {
    if let Some(master) = RELAY_MASTER.get()
        && let Ok(size) = rustix::termios::tcgetwinsize(rustix::stdio::stdout())
    {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// The pty master of the current relay, for SIGWINCH (one per process).
static RELAY_MASTER: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();

/// Copies bytes between our terminal and the container's pty.
struct TtyRelay {
    restore: Option<rustix::termios::Termios>,
    output: std::thread::JoinHandle<()>,
}

impl TtyRelay {
    fn start(sock: &UnixStream, stdin: bool) -> Result<Self> {
        let master = receive_fd(sock)?;
        let master_for_winch = master
            .try_clone()
            .map_err(Error::io("duplicating the pty master"))?;
        let _ = RELAY_MASTER.set(master_for_winch);
        copy_window_size();

        let stdin_fd = rustix::stdio::stdin();
        let restore = if stdin && rustix::termios::isatty(stdin_fd) {
            let original = rustix::termios::tcgetattr(stdin_fd).map_err(|e| Error::Sys {
                what: "reading terminal attributes".into(),
                errno: nix::errno::Errno::from_raw(e.raw_os_error()),
            })?;
            let mut raw_mode = original.clone();
            raw_mode.make_raw();
            let _ = rustix::termios::tcsetattr(
                stdin_fd,
                rustix::termios::OptionalActions::Now,
                &raw_mode,
            );
            Some(original)
        } else {
            None
        };

        let mut from_pty = fs::File::from(
            master
                .try_clone()
                .map_err(Error::io("duplicating the pty master"))?,
        );
        let output = std::thread::spawn(move || {
            let mut out = std::io::stdout();
            let mut buf = [0u8; 8192];
            // EIO means the last slave holder exited: the end of output.
            while let Ok(n) = from_pty.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = out.flush();
            }
        });
        if stdin {
            let mut to_pty = fs::File::from(master);
            // Not joined: it blocks in read(stdin) until the user types,
            // and the process exits after the container does.
            std::thread::spawn(move || {
                let mut input = std::io::stdin();
                let mut buf = [0u8; 1024];
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self { restore, output })
    }

    fn finish(self) {
        let _ = self.output.join();
        if let Some(original) = self.restore {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                &original,
            );
        }
    }
}

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
