//! `wrun run [OPTIONS] IMAGE [COMMAND] [ARG...]`

use std::path::{Path, PathBuf};

use anyhow::Context;
use wrun_images::Store;
use wrun_runtime::cgroup::Resources;
use wrun_runtime::isolation::Isolation;
use wrun_runtime::launch::{Runtime, SignalProxy};
use wrun_runtime::logs::LogOptions;
use wrun_runtime::monitor::Attached;
use wrun_runtime::policy::RestartPolicy;
use wrun_runtime::spec::{MountSpec, NetworkMode, RunConfig};

use crate::exit::ExitError;
use crate::global::Global;

/// Docker's exit code when the engine itself fails.
const ENGINE_FAILED: i32 = 125;

#[derive(Debug, clap::Args)]
#[command(
    about = "Create and run a new container from an image",
    override_usage = "wrun run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    disable_help_flag = true
)]
pub struct RunArgs {
    /// Print help (`-h` is `--hostname`, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Automatically remove the container and its resources when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro|rw])
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|tmpfs,...)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Container host name
    #[arg(long = "hostname", short = 'h')]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Connect a container to a network (bridge, none, host, or a network's name)
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host ([IP:][HOST:]CTR[/tcp|/udp])
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add link to another container (NAME[:ALIAS])
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Memory limit (e.g. 512m, 1g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 1.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Set metadata on a container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before starting
    /// health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Isolation: process (none, a benchmark baseline), namespaces (default), wasm (calls decided by a policy)
    #[arg(long, value_name = "LEVEL")]
    pub isolation: Option<String>,
    /// Policy deciding file and network calls: a built-in (audit, no-network, read-only), or a .wasm, .wat or YAML file (implies --isolation wasm)
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// Teaching lab only: check, then let the kernel run the call (racy on purpose)
    #[arg(long = "policy-naive", hide = true)]
    pub policy_naive: bool,
    /// What enforces the policy: trap (default; every decision audited), landlock (kernel, a YAML rule file of directory grants, no audit), auto
    #[arg(long = "policy-enforcement", value_name = "trap|landlock|auto")]
    pub policy_enforcement: Option<String>,
    /// IMAGE, then the command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

impl RunArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        // Before any thread exists, so every thread inherits the mask.
        let signals = SignalProxy::block().map_err(engine)?;
        if !nix::unistd::geteuid().is_root() {
            return Err(engine_msg(
                "wrun run needs root: rootless containers are not supported yet",
            ));
        }
        let (runtime, state, cfg) = self.create(g)?;
        if self.detach {
            return match runtime.start_detached(&state.id) {
                Ok(()) => {
                    println!("{}", state.id);
                    Ok(0)
                }
                Err(e) => Err(start_error(e)),
            };
        }
        let attached = Attached {
            stdin: cfg.interactive,
            signals: &signals,
        };
        runtime
            .monitor(&state.id, Some(attached), None)
            .map_err(start_error)
    }

    /// Everything `run` does before the container starts: flags checked,
    /// image found, named and anonymous volumes made (and filled from the
    /// image the first time), the container created with its healthcheck.
    /// `wrun compose` creates its containers through this too.
    pub(crate) fn create(
        &self,
        g: &Global,
    ) -> anyhow::Result<(Runtime, wrun_runtime::state::ContainerState, RunConfig)> {
        let mut cfg = self.config().map_err(engine)?;
        let store = Store::open(&g.root)
            .with_context(|| format!("opening the image store in {}", g.root.display()))
            .map_err(engine)?;
        // Pulled when missing, as `docker run` does.
        let image = crate::cmd::pull::ensure_image(&store, &cfg.image_ref, g).map_err(engine)?;
        if self.publish_all {
            let exposed = image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.exposed_ports().clone())
                .unwrap_or_default();
            cfg.publish
                .extend(wrun_runtime::network::ports::expose_all(&exposed));
        }
        let health = self.healthcheck(&store, &image).map_err(engine)?;
        let anonymous = self
            .attach_volumes(g, &store, &image, &mut cfg)
            .map_err(engine)?;
        let runtime = open_runtime(g)?;
        if !self.link.is_empty()
            && let Err(e) = self.apply_links(&mut cfg, &runtime, &store)
        {
            remove_volumes(g, &anonymous);
            return Err(e);
        }
        let state = match runtime.create(&cfg, &store, &image) {
            Ok(state) => state,
            Err(e) => {
                remove_volumes(g, &anonymous);
                return Err(engine(e));
            }
        };
        let dir = runtime.containers().dir(&state.id);
        let saved = wrun_runtime::volume::record_anonymous(&dir, &anonymous)
            .map_err(anyhow::Error::from)
            .and_then(|()| match &health {
                Some(h) => wrun_runtime::health::save_config(&dir, h)
                    .with_context(|| format!("saving the healthcheck in {}", dir.display())),
                None => Ok(()),
            });
        if let Err(e) = saved {
            let _ = runtime.remove(&state.id, true);
            remove_volumes(g, &anonymous);
            return Err(engine(e));
        }
        Ok((runtime, state, cfg))
    }

    /// The healthcheck: the image's `HEALTHCHECK` with the `--health-*`
    /// flags over it; none with `--no-healthcheck`.
    fn healthcheck(
        &self,
        store: &Store,
        image: &wrun_images::Image,
    ) -> anyhow::Result<Option<wrun_runtime::health::HealthConfig>> {
        use wrun_runtime::health::HealthConfig;
        let nanos = |flag: &str, v: &Option<String>| -> anyhow::Result<u64> {
            match v {
                None => Ok(0),
                Some(v) => {
                    let d = wrun_compose::model::parse_duration(v)
                        .map_err(|e| anyhow::anyhow!("invalid value {v:?} for {flag}: {e}"))?;
                    if d < std::time::Duration::from_millis(1) && !d.is_zero() {
                        anyhow::bail!("invalid value {v:?} for {flag}: must be at least 1ms");
                    }
                    Ok(d.as_nanos() as u64)
                }
            }
        };
        let flags = HealthConfig {
            test: match &self.health_cmd {
                Some(cmd) => vec!["CMD-SHELL".into(), cmd.clone()],
                None => Vec::new(),
            },
            interval: nanos("--health-interval", &self.health_interval)?,
            timeout: nanos("--health-timeout", &self.health_timeout)?,
            start_period: nanos("--health-start-period", &self.health_start_period)?,
            retries: self.health_retries.unwrap_or(0),
        };
        if self.no_healthcheck {
            if !flags.test.is_empty() {
                anyhow::bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(None);
        }
        let from_image = store
            .read_blob(&image.id)
            .ok()
            .and_then(|raw| wrun_runtime::health::from_image_config(&raw));
        Ok(HealthConfig::overlay(from_image, &flags).filter(HealthConfig::is_enabled))
    }

    /// Mounts `-v NAME:/path` (created on first use) and `-v /path` (a new
    /// anonymous volume), each filled from the image's content at that
    /// path while empty. Returns the anonymous volumes made.
    fn attach_volumes(
        &self,
        g: &Global,
        store: &Store,
        image: &wrun_images::Image,
        cfg: &mut RunConfig,
    ) -> anyhow::Result<Vec<String>> {
        let requests: Vec<VolumeRequest> = self
            .volume
            .iter()
            .filter_map(|v| volume_request(v).transpose())
            .collect::<anyhow::Result<_>>()?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let volumes = wrun_runtime::volume::Volumes::open(&g.root)?;
        let layers = store.layer_dirs(image)?;
        let mut anonymous = Vec::new();
        let result = (|| -> anyhow::Result<()> {
            for r in &requests {
                let name = match &r.name {
                    Some(n) => {
                        volumes.create(n, Default::default())?;
                        n.clone()
                    }
                    None => {
                        let v = volumes.create_anonymous()?;
                        anonymous.push(v.name.clone());
                        v.name
                    }
                };
                if !r.nocopy {
                    volumes.populate(&name, &layers, &r.target)?;
                }
                cfg.mounts.push(MountSpec::Bind {
                    source: volumes.data_dir(&name),
                    target: r.target.clone(),
                    read_only: r.read_only,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            remove_volumes(g, &anonymous);
            return Err(e);
        }
        Ok(anonymous)
    }

    /// `--link`: the linked containers' addresses in `/etc/hosts` and
    /// Docker's link variables before the user's own `-e` (which win).
    fn apply_links(
        &self,
        cfg: &mut RunConfig,
        runtime: &Runtime,
        store: &Store,
    ) -> anyhow::Result<()> {
        let links = self
            .link
            .iter()
            .map(|l| super::links::Link::parse(l))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(engine)?;
        // The link variables carry this container's name: pick it now.
        let own_name = match &cfg.name {
            Some(name) => name.clone(),
            None => {
                let id = wrun_runtime::ids::new_id().map_err(engine)?;
                let name = wrun_runtime::ids::generated_name(&id, 0);
                cfg.name = Some(name.clone());
                name
            }
        };
        let network = match &cfg.network {
            NetworkMode::Bridge(name) => name.clone(),
            other => {
                return Err(engine_msg(format!(
                    "Error response from daemon: conflicting options: --link and --network {}",
                    other.name()
                )));
            }
        };
        let resolved =
            super::links::resolve(runtime, store, &links, &own_name, &network).map_err(engine)?;
        cfg.add_hosts.extend(resolved.hosts);
        cfg.env.splice(0..0, resolved.env);
        Ok(())
    }

    /// Validates every flag into a [`RunConfig`]; errors name the flag and
    /// value at fault.
    fn config(&self) -> anyhow::Result<RunConfig> {
        let (image_ref, command) = self.args.split_first().expect("clap requires IMAGE");
        if let Some(name) = &self.name
            && !wrun_runtime::ids::valid_name(name)
        {
            anyhow::bail!(
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            );
        }
        if self.rm && self.restart != "no" {
            anyhow::bail!("Conflicting options: --restart and --rm");
        }
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(read_env_file(file)?);
        }
        for e in &self.env {
            if let Some(entry) = env_entry(e).with_context(|| format!("invalid -e {e:?}"))? {
                env.push(entry);
            }
        }
        let mut mounts = Vec::new();
        for v in &self.volume {
            // Named and anonymous volumes are added by `attach_volumes`.
            if volume_request(v)?.is_none() {
                mounts.push(parse_volume(v)?);
            }
        }
        for m in &self.mount {
            mounts.push(parse_mount(m)?);
        }
        for t in &self.tmpfs {
            mounts.push(parse_tmpfs(t)?);
        }
        let memory = match &self.memory {
            None => None,
            Some(m) => {
                let bytes = wrun_runtime::units::parse_bytes(m)
                    .map_err(|r| anyhow::anyhow!("invalid value {m:?} for --memory: {r}"))?;
                if bytes < 6 << 20 {
                    anyhow::bail!(
                        "invalid value {m:?} for --memory: minimum memory limit allowed is 6MB"
                    );
                }
                Some(bytes)
            }
        };
        let nano_cpus = match &self.cpus {
            None => None,
            Some(c) => {
                let nano = wrun_runtime::units::parse_cpus(c)
                    .map_err(|r| anyhow::anyhow!("invalid value {c:?} for --cpus: {r}"))?;
                let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
                if nano > online * 1_000_000_000 || nano < 10_000_000 {
                    anyhow::bail!(
                        "invalid value {c:?} for --cpus: range of CPUs is from 0.01 to {online}.00, \
                         as there are only {online} CPUs available"
                    );
                }
                Some(nano)
            }
        };
        let mut network = self.network.parse::<NetworkMode>()?;
        let isolation = match &self.isolation {
            Some(v) => v.parse::<Isolation>()?,
            None if self.policy.is_some() => Isolation::Wasm,
            None => Isolation::Namespaces,
        };
        let policy = match (isolation, &self.policy) {
            (Isolation::Wasm, None) => Some("audit".to_string()),
            (Isolation::Wasm, Some(p)) => Some(p.clone()),
            (_, None) => None,
            (other, Some(_)) => anyhow::bail!(
                "--policy needs --isolation wasm, not --isolation {}",
                other.as_str()
            ),
        };
        if self.policy_naive && policy.is_none() {
            anyhow::bail!("--policy-naive needs a --policy");
        }
        let policy_enforcement = match &self.policy_enforcement {
            None => Default::default(),
            Some(_) if policy.is_none() => anyhow::bail!("--policy-enforcement needs a --policy"),
            Some(v) => v.parse::<wrun_runtime::isolation::Enforcement>()?,
        };
        if isolation == Isolation::Process {
            // Nothing is isolated, the network included.
            network = NetworkMode::Host;
        }
        let mut publish = Vec::new();
        for p in &self.publish {
            publish.extend(
                wrun_runtime::network::ports::parse_publish(p)
                    .map_err(|e| anyhow::anyhow!("invalid value {p:?} for -p: {e}"))?,
            );
        }
        match network {
            NetworkMode::Host if !publish.is_empty() || self.publish_all => {
                eprintln!("WARNING: Published ports are discarded when using host network mode");
                publish.clear();
            }
            NetworkMode::None if !publish.is_empty() || self.publish_all => {
                anyhow::bail!("-p: a container with --network none has no ports to publish");
            }
            _ => {}
        }
        let mut add_hosts = Vec::new();
        for h in &self.add_host {
            let (name, ip) = h
                .rsplit_once(':')
                .filter(|(n, ip)| !n.is_empty() && !ip.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("invalid value {h:?} for --add-host: expected host:ip")
                })?;
            if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
                anyhow::bail!("invalid value {h:?} for --add-host: {ip:?} is not an IP address");
            }
            add_hosts.push((name.to_string(), ip.to_string()));
        }
        for d in &self.dns {
            d.parse::<std::net::IpAddr>()
                .map_err(|_| anyhow::anyhow!("invalid value {d:?} for --dns: not an IP address"))?;
        }
        if !self.network_alias.is_empty() && network.name() == "bridge" {
            anyhow::bail!(
                "--network-alias: network-scoped aliases are only supported for user-defined networks"
            );
        }
        if let Some(u) = &self.user
            && (u.is_empty() || u.starts_with(':'))
        {
            anyhow::bail!("invalid value {u:?} for --user: expected <name|uid>[:<group|gid>]");
        }
        Ok(RunConfig {
            image_ref: image_ref.clone(),
            command: command.to_vec(),
            entrypoint: self.entrypoint.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            mounts,
            read_only: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            tty: self.tty,
            interactive: self.interactive,
            network,
            publish,
            aliases: self.network_alias.clone(),
            add_hosts,
            dns: self.dns.clone(),
            isolation,
            policy,
            policy_naive: self.policy_naive,
            policy_enforcement,
            resources: Resources {
                memory,
                nano_cpus,
                pids_limit: self.pids_limit,
            },
            name: self.name.clone(),
            auto_remove: self.rm,
            restart: self
                .restart
                .parse::<RestartPolicy>()
                .map_err(|e| anyhow::anyhow!("--restart: {e}"))?,
            log: LogOptions::parse(&self.log_opt).map_err(|e| anyhow::anyhow!("--log-opt: {e}"))?,
            labels: self
                .label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    if k.is_empty() {
                        anyhow::bail!("invalid value {l:?} for --label: the key is empty");
                    }
                    Ok((k.to_string(), v.to_string()))
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

fn engine(e: impl std::fmt::Display) -> anyhow::Error {
    ExitError::new(ENGINE_FAILED, e.to_string()).into()
}

fn engine_msg(msg: impl Into<String>) -> anyhow::Error {
    ExitError::new(ENGINE_FAILED, msg).into()
}

/// A failed start: the shim's code and message (125, 126 or 127), or 125.
fn start_error(e: wrun_runtime::Error) -> anyhow::Error {
    match e {
        wrun_runtime::Error::Start { code, message } => ExitError::new(
            code,
            format!("Error response from daemon: failed to start container: {message}"),
        )
        .into(),
        e => engine(e),
    }
}

/// The runtime for the state root, with the shim and this executable (the
/// monitor) located.
pub(crate) fn open_runtime(g: &Global) -> anyhow::Result<Runtime> {
    let exe = std::env::current_exe().map_err(engine)?;
    Runtime::new(&g.root, shim_path()?, exe).map_err(engine)
}

/// Where the shim is: `WRUN_SHIM`, else next to this executable.
fn shim_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("WRUN_SHIM") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(engine)?;
    let shim = exe.with_file_name("wrun-shim");
    if !shim.exists() {
        return Err(engine_msg(format!(
            "cannot find wrun-shim next to {} (install it there or set WRUN_SHIM)",
            exe.display()
        )));
    }
    Ok(shim)
}

/// `-e KEY=VALUE` as is; `-e KEY` takes KEY from our environment, or is
/// dropped when unset, as Docker does.
pub(crate) fn env_entry(e: &str) -> anyhow::Result<Option<String>> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() {
        anyhow::bail!("the variable name is empty");
    }
    if key.chars().any(char::is_whitespace) {
        anyhow::bail!("variable {key:?} contains whitespaces");
    }
    if e.contains('=') {
        return Ok(Some(e.to_string()));
    }
    Ok(std::env::var(key).ok().map(|v| format!("{key}={v}")))
}

pub(crate) fn read_env_file(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--env-file {}: cannot read", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(entry) = env_entry(line)
            .with_context(|| format!("--env-file {} line {}", path.display(), n + 1))?
        {
            out.push(entry);
        }
    }
    Ok(out)
}

/// A `-v` that names a volume (`NAME:/path[:ro]`) or asks for an
/// anonymous one (`/path[:ro]`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolumeRequest {
    name: Option<String>,
    target: String,
    read_only: bool,
    nocopy: bool,
}

/// `Some` when `-v v` is a named or anonymous volume, `None` for a bind.
fn volume_request(v: &str) -> anyhow::Result<Option<VolumeRequest>> {
    let parts: Vec<&str> = v.split(':').collect();
    let (name, target, opts) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [t, o] if t.starts_with('/') && !o.starts_with('/') => (None, *t, *o),
        [h, t] if !h.starts_with('/') => (Some(*h), *t, ""),
        [h, t, o] if !h.starts_with('/') => (Some(*h), *t, *o),
        _ => return Ok(None),
    };
    if !target.starts_with('/') {
        anyhow::bail!("invalid value {v:?} for -v: the container path {target:?} must be absolute");
    }
    if let Some(n) = name
        && !wrun_runtime::volume::valid_name(n)
    {
        anyhow::bail!(
            "invalid value {v:?} for -v: {n:?} includes invalid characters for a local volume \
             name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; a host path must be absolute"
        );
    }
    let (mut read_only, mut nocopy) = (false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => nocopy = true,
            "z" | "Z" | "rprivate" | "private" | "delegated" | "cached" | "consistent" => {}
            other => anyhow::bail!("invalid value {v:?} for -v: unknown option {other:?}"),
        }
    }
    Ok(Some(VolumeRequest {
        name: name.map(str::to_string),
        target: target.to_string(),
        read_only,
        nocopy,
    }))
}

/// Removes anonymous volumes made for a container that was not created.
fn remove_volumes(g: &Global, names: &[String]) {
    if let Ok(volumes) = wrun_runtime::volume::Volumes::open(&g.root) {
        for n in names {
            let _ = volumes.remove(n, true);
        }
    }
}

/// `-v HOST:CONTAINER[:OPTIONS]` with an absolute HOST (created if
/// missing, as Docker does for `-v`); volumes are [`volume_request`]s.
fn parse_volume(v: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, target, opts) = match parts.as_slice() {
        [h, t] => (*h, *t, ""),
        [h, t, o] => (*h, *t, *o),
        _ => anyhow::bail!("invalid value {v:?} for -v: expected HOST:CONTAINER[:ro|rw]"),
    };
    if !host.starts_with('/') {
        anyhow::bail!("invalid value {v:?} for -v: {host:?} is not an absolute host path");
    }
    if !target.starts_with('/') {
        anyhow::bail!("invalid value {v:?} for -v: the container path {target:?} must be absolute");
    }
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => read_only = true,
            "rw" => read_only = false,
            // SELinux relabel and propagation flags have no effect here.
            "z" | "Z" | "rprivate" | "private" | "delegated" | "cached" | "consistent" => {}
            other => anyhow::bail!("invalid value {v:?} for -v: unknown option {other:?}"),
        }
    }
    if !Path::new(host).exists() {
        std::fs::create_dir_all(host)
            .with_context(|| format!("-v {v}: creating the host directory {host}"))?;
    }
    Ok(MountSpec::Bind {
        source: PathBuf::from(host),
        target: target.to_string(),
        read_only,
    })
}

/// `--mount type=bind,source=…,target=…[,readonly]` or `type=tmpfs,…`.
fn parse_mount(m: &str) -> anyhow::Result<MountSpec> {
    let mut kind = "volume";
    let (mut source, mut target, mut read_only) = (None, None, false);
    let mut tmpfs_opts = Vec::new();
    for field in m.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => kind = value,
            "source" | "src" => source = Some(value),
            "target" | "destination" | "dst" => target = Some(value),
            "readonly" | "ro" => read_only = matches!(value, "" | "true" | "1"),
            "tmpfs-size" => tmpfs_opts.push(format!("size={value}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={value}")),
            "bind-propagation" | "consistency" => {}
            other => anyhow::bail!("invalid value {m:?} for --mount: unknown field {other:?}"),
        }
    }
    let target = target.filter(|t| t.starts_with('/')).ok_or_else(|| {
        anyhow::anyhow!("invalid value {m:?} for --mount: target must be an absolute path")
    })?;
    match kind {
        "bind" => {
            let source = source.ok_or_else(|| {
                anyhow::anyhow!("invalid value {m:?} for --mount: type=bind needs source=")
            })?;
            if !Path::new(source).exists() {
                anyhow::bail!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                );
            }
            Ok(MountSpec::Bind {
                source: PathBuf::from(source),
                target: target.to_string(),
                read_only,
            })
        }
        "tmpfs" => Ok(MountSpec::Tmpfs {
            target: target.to_string(),
            options: tmpfs_opts,
        }),
        other => anyhow::bail!(
            "invalid value {m:?} for --mount: type {other:?} is not supported (bind, tmpfs)"
        ),
    }
}

/// `--tmpfs /path[:size=64m,mode=1777]`.
fn parse_tmpfs(t: &str) -> anyhow::Result<MountSpec> {
    let (target, opts) = t.split_once(':').unwrap_or((t, ""));
    if !target.starts_with('/') {
        anyhow::bail!("invalid value {t:?} for --tmpfs: {target:?} must be an absolute path");
    }
    Ok(MountSpec::Tmpfs {
        target: target.to_string(),
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> RunArgs {
        match crate::cmd::Cli::try_parse_from(args).unwrap().command {
            crate::cmd::Command::Run(r) => *r,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn command_after_image_keeps_its_flags() {
        let r = parse(&[
            "wrun", "run", "--rm", "-e", "A=1", "busybox", "ls", "-la", "--rm",
        ]);
        assert!(r.rm);
        assert_eq!(r.args, ["busybox", "ls", "-la", "--rm"]);
        let cfg = r.config().unwrap();
        assert_eq!(cfg.image_ref, "busybox");
        assert_eq!(cfg.command, ["ls", "-la", "--rm"]);
        assert_eq!(cfg.env, ["A=1"]);
    }

    #[test]
    fn lecture_command_lines_parse() {
        let r = parse(&["wrun", "run", "-p", "5000:5000", "product-api"]);
        assert_eq!(r.publish, ["5000:5000"]);
        let cfg = r.config().unwrap();
        assert_eq!(cfg.publish.len(), 1);
        assert_eq!(cfg.publish[0].host_port, 5000);
        assert_eq!(cfg.network, NetworkMode::Bridge("bridge".into()));
        let r = parse(&["wrun", "run", "-d", "--name", "postgres", "postgres:15"]);
        assert!(r.detach);
        assert_eq!(r.name.as_deref(), Some("postgres"));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["wrun", "run", "--memory", "10q", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("--memory") && err.to_string().contains("10q"));
        let err = parse(&["wrun", "run", "-v", "no such:/x", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("-v") && err.to_string().contains("no such:/x"));
        let err = parse(&["wrun", "run", "-v", "data:rel", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("data:rel"));
        let err = parse(&["wrun", "run", "--cpus", "99", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("--cpus"));
        let err = parse(&["wrun", "run", "--network", "container:web", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("--network"));
        for (args, needle) in [
            (
                &["wrun", "run", "-p", "70000:80", "busybox"][..],
                "70000:80",
            ),
            (&["wrun", "run", "-p", "abc", "busybox"][..], "abc"),
            (
                &["wrun", "run", "--add-host", "db", "busybox"][..],
                "--add-host",
            ),
            (&["wrun", "run", "--dns", "x.y", "busybox"][..], "--dns"),
            (
                &["wrun", "run", "--network", "none", "-p", "80", "busybox"][..],
                "-p",
            ),
        ] {
            let err = parse(args).config().unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let err = parse(&[
            "wrun",
            "run",
            "--mount",
            "type=bind,source=/nonexistent,target=/x",
            "busybox",
        ])
        .config()
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent"));
        let err = parse(&["wrun", "run", "--name", "-bad", "busybox"])
            .config()
            .unwrap_err();
        assert!(err.to_string().contains("-bad"));
    }

    #[test]
    fn volumes_and_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let r = parse(&[
            "wrun",
            "run",
            "-v",
            &format!("{d}:/data:ro"),
            "--tmpfs",
            "/t:size=1m",
            "--mount",
            &format!("type=bind,src={d},dst=/m,readonly"),
            "busybox",
        ]);
        let cfg = r.config().unwrap();
        assert_eq!(cfg.mounts.len(), 3);
        assert!(
            matches!(&cfg.mounts[0], MountSpec::Bind { read_only: true, target, .. } if target == "/data")
        );
        assert!(
            matches!(&cfg.mounts[1], MountSpec::Bind { read_only: true, target, .. } if target == "/m")
        );
        assert!(
            matches!(&cfg.mounts[2], MountSpec::Tmpfs { options, .. } if options == &["size=1m"])
        );
    }

    #[test]
    fn env_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# comment\nA=1\n\nBAD KEY=2\n").unwrap();
        let err = read_env_file(&f).unwrap_err();
        assert!(format!("{err:#}").contains("line 4"), "{err:#}");
        std::fs::write(&f, "A=1\nB=two words\n").unwrap();
        assert_eq!(read_env_file(&f).unwrap(), ["A=1", "B=two words"]);
    }
}
