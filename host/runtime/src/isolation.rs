//! `--isolation process|namespaces|wasm` and `--policy NAME|FILE`.
//!
//! * `namespaces` is the ordinary container.
//! * `wasm` adds the policy layer: the shim installs a second seccomp filter
//!   (after the container's own) that traps the calls the policy asked to
//!   see, and hands its listener to the monitor, which runs the
//!   [`wrun_supervisor`] with the policy. The policy is loaded and checked
//!   when the container is created, so a bad module fails `wrun run` before
//!   anything runs; its bytes are kept in the container's directory
//!   (`policy.module`), so the container keeps the policy it was created
//!   with even if the file changes.
//! * `process` runs the command as a plain process in the image's root
//!   filesystem, as the baseline of benchmarks: no PID, network, IPC or UTS
//!   namespace, no seccomp filter, no masked paths — only a mount namespace
//!   for the root filesystem (and the usual user, capability set and
//!   cgroup). It isolates next to nothing.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wrun_policy::{Builtin, Policy, PolicyEngine};

use crate::{Error, Result};

/// The annotation that lists the system calls to trap (comma-separated).
pub const TRAP_ANNOTATION: &str = "run.wrun.trap";
/// The annotation naming the isolation level.
pub const ISOLATION_ANNOTATION: &str = "run.wrun.isolation";
/// The annotation naming the policy.
pub const POLICY_ANNOTATION: &str = "run.wrun.policy";
/// The policy module's bytes, in the container's directory.
pub const POLICY_FILE: &str = "policy.module";
/// The annotation carrying the Landlock ruleset (JSON) when Landlock
/// enforces the policy.
pub const LANDLOCK_ANNOTATION: &str = "run.wrun.landlock";
/// The annotation naming the mechanism that enforces the policy.
pub const ENFORCEMENT_ANNOTATION: &str = "run.wrun.policy.enforcement";
/// The fd number on which the shim finds the socket for the listener.
pub const SECCOMP_FD: i32 = 6;

/// How much a container is isolated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A plain process in the image's root filesystem (benchmark baseline).
    Process,
    /// Namespaces, cgroups, capabilities and seccomp: the usual container.
    #[default]
    Namespaces,
    /// A container whose file and network calls a policy decides.
    Wasm,
}

impl Isolation {
    /// The flag's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::Namespaces => "namespaces",
            Isolation::Wasm => "wasm",
        }
    }
}

impl std::str::FromStr for Isolation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Isolation> {
        match s {
            "process" => Ok(Isolation::Process),
            "namespaces" | "default" => Ok(Isolation::Namespaces),
            "wasm" => Ok(Isolation::Wasm),
            _ => Err(Error::InvalidFlag {
                flag: "--isolation",
                value: s.to_owned(),
                reason: "expected process, namespaces or wasm".into(),
            }),
        }
    }
}

/// `--policy-enforcement`: what enforces a policy.
///
/// * `trap` (default): seccomp traps and the supervisor, every decision
///   the policy asks for audited.
/// * `landlock`: the kernel's Landlock, for a YAML rule file that maps to
///   it exactly (see `wrun_policy::rules::landlock`); refused otherwise.
///   No call is trapped and **none is audited**.
/// * `auto`: Landlock when the rule file maps to it exactly, asks for no
///   audit records and restricts no network call (Landlock sees TCP only);
///   traps otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Trap,
    Landlock,
    Auto,
}

impl Enforcement {
    /// The flag's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Trap => "trap",
            Enforcement::Landlock => "landlock",
            Enforcement::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Enforcement {
    type Err = Error;
    fn from_str(s: &str) -> Result<Enforcement> {
        match s {
            "trap" => Ok(Enforcement::Trap),
            "landlock" => Ok(Enforcement::Landlock),
            "auto" => Ok(Enforcement::Auto),
            _ => Err(Error::InvalidFlag {
                flag: "--policy-enforcement",
                value: s.to_owned(),
                reason: "expected trap, landlock or auto".into(),
            }),
        }
    }
}

/// The policy a container runs under, as kept in its state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChoice {
    /// The built-in's name, or the file's absolute path.
    pub name: String,
    /// sha256 of the module.
    pub hash: String,
    /// Check-then-continue instead of emulation (teaching lab only).
    #[serde(default)]
    pub naive: bool,
    /// What enforces it: `trap` or `landlock` (never `auto`).
    #[serde(default)]
    pub enforced_by: Enforcement,
    /// Why `auto` stayed on traps, or what Landlock does not do for this
    /// policy (audit records, UDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement_note: Option<String>,
}

/// What [`prepare`] decided for a container.
#[derive(Debug)]
pub struct Prepared {
    /// What the state keeps.
    pub choice: PolicyChoice,
    /// The system calls to trap (none under Landlock).
    pub trap: Vec<&'static str>,
    /// The Landlock ruleset, when Landlock enforces the policy.
    pub landlock: Option<wrun_sys::landlock::RulesetSpec>,
}

/// The process's policy engine (one per wrun process; modules it compiled
/// are cached).
pub fn engine() -> Result<&'static PolicyEngine> {
    static ENGINE: OnceLock<std::result::Result<PolicyEngine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| PolicyEngine::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Policy {
            name: String::new(),
            reason: format!("starting the policy engine: {e}"),
        })
}

/// The name of the built-in made for each container from its image and
/// network (`policies/web-app.yaml`).
pub const WEB_APP: &str = "web-app";
/// The template of `web-app`.
pub const WEB_APP_TEMPLATE: &str = include_str!("../../../policies/web-app.yaml");

/// What a container-specific policy (`web-app`) is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyContext {
    /// The working directory.
    pub workdir: String,
    /// Ports the image exposes or the run publishes.
    pub ports: Vec<u16>,
    /// CIDRs of the container's network(s).
    pub networks: Vec<String>,
    /// Its DNS servers.
    pub dns: Vec<String>,
}

/// The `web-app` rule file for one container.
pub fn web_app_rules(ctx: &PolicyContext) -> String {
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut writable = vec![
        "/tmp/**".to_string(),
        "/var/tmp/**".into(),
        "/dev/**".into(),
    ];
    let workdir = ctx.workdir.trim_end_matches('/');
    if !workdir.is_empty() {
        writable.push(format!("{workdir}/**"));
    }
    let mut ports: Vec<String> = vec!["0".into()];
    ports.extend(ctx.ports.iter().map(|p| p.to_string()));
    let mut networks = vec!["127.0.0.0/8".to_string(), "::1/128".into()];
    networks.extend(ctx.networks.iter().cloned());
    // Without DNS servers the DNS rule names loopback, already allowed.
    let dns = if ctx.dns.is_empty() {
        vec!["127.0.0.0/8".to_string()]
    } else {
        ctx.dns.clone()
    };
    WEB_APP_TEMPLATE
        .replace("{{WRITABLE}}", &quote(&writable))
        .replace("{{PORTS}}", &ports.join(", "))
        .replace("{{NETWORKS}}", &quote(&networks))
        .replace("{{DNS}}", &quote(&dns))
}

/// The module bytes of `--policy NAME|FILE` and the name to record: a
/// built-in by name, or a `.wasm`, `.wat` or YAML rule file.
pub fn policy_source(value: &str, ctx: &PolicyContext) -> Result<(String, Vec<u8>)> {
    if let Ok(b) = Builtin::from_name(value) {
        return Ok((b.name().to_owned(), b.source().as_bytes().to_vec()));
    }
    if value == WEB_APP {
        let wat = wrun_policy::rules::compile(&web_app_rules(ctx), "policies/web-app.yaml")
            .map_err(|e| Error::Policy {
                name: WEB_APP.into(),
                reason: e.to_string(),
            })?;
        return Ok((WEB_APP.into(), wat.into_bytes()));
    }
    let path = Path::new(value);
    if !value.contains('/') && !path.exists() {
        let mut names: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
        names.push(WEB_APP);
        return Err(Error::InvalidFlag {
            flag: "--policy",
            value: value.to_owned(),
            reason: format!("no such built-in policy ({}) or file", names.join(", ")),
        });
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let bytes = std::fs::read(&abs).map_err(Error::io(&abs))?;
    let module = if matches!(
        abs.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        let text = String::from_utf8(bytes).map_err(|_| Error::Policy {
            name: abs.display().to_string(),
            reason: "not UTF-8 text".into(),
        })?;
        wrun_policy::rules::compile(&text, &abs.display().to_string())
            .map_err(|e| Error::Policy {
                name: abs.display().to_string(),
                reason: e.to_string(),
            })?
            .into_bytes()
    } else {
        bytes
    };
    Ok((abs.display().to_string(), module))
}

/// Loads and checks `--policy` and writes its module into `container_dir`.
/// Decides what enforces it (`enforcement`) and returns what the state
/// keeps, the system calls to trap and the Landlock ruleset.
pub fn prepare(
    value: &str,
    naive: bool,
    enforcement: Enforcement,
    container_dir: &Path,
    ctx: &PolicyContext,
) -> Result<Prepared> {
    let (name, bytes) = policy_source(value, ctx)?;
    let policy = engine()?.load(&bytes).map_err(|e| Error::Policy {
        name: name.clone(),
        reason: e.to_string(),
    })?;
    let mut choice = PolicyChoice {
        name,
        hash: format!("sha256:{}", policy.hash()),
        naive,
        enforced_by: Enforcement::Trap,
        enforcement_note: None,
    };
    let landlock = match enforcement {
        Enforcement::Trap => None,
        Enforcement::Landlock | Enforcement::Auto => {
            match landlock_plan(value, naive, enforcement == Enforcement::Landlock) {
                Ok((spec, note)) => {
                    choice.enforcement_note = note;
                    Some(spec)
                }
                Err(e) if enforcement == Enforcement::Landlock => {
                    return Err(Error::InvalidFlag {
                        flag: "--policy-enforcement",
                        value: "landlock".into(),
                        reason: e,
                    });
                }
                Err(e) => {
                    choice.enforcement_note = Some(format!("on traps: {e}"));
                    None
                }
            }
        }
    };
    let path = container_dir.join(POLICY_FILE);
    crate::state::write_atomic(&path, &bytes)?;
    if landlock.is_some() {
        choice.enforced_by = Enforcement::Landlock;
        return Ok(Prepared {
            choice,
            trap: Vec::new(),
            landlock,
        });
    }
    let unsupported: Vec<&str> = policy
        .interest()
        .ops
        .iter()
        .filter(|op| !wrun_supervisor::trap::supported().contains(*op))
        .map(|op| op.name())
        .collect();
    if !unsupported.is_empty() {
        tracing::debug!(
            "policy {}: operations not trapped yet, the kernel decides them alone: {}",
            choice.name,
            unsupported.join(", ")
        );
    }
    let trap = wrun_supervisor::trap::syscalls_for(policy.interest().ops);
    Ok(Prepared {
        choice,
        trap,
        landlock: None,
    })
}

/// The Landlock ruleset of `--policy value`, or why it has none. `asked`:
/// `--policy-enforcement landlock` (accepts a policy whose audit records or
/// UDP rules Landlock drops, saying so in the returned note); otherwise
/// `auto`, which takes only exact, unaudited, file-only policies.
fn landlock_plan(
    value: &str,
    naive: bool,
    asked: bool,
) -> std::result::Result<(wrun_sys::landlock::RulesetSpec, Option<String>), String> {
    if naive {
        return Err("--policy-naive is a trap mode".into());
    }
    let path = Path::new(value);
    let is_rules = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) && path.exists();
    if !is_rules {
        return Err(format!(
            "{value} is not a YAML rule file (only rule files can be mapped to landlock)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{value}: {e}"))?;
    let plan = wrun_policy::rules::landlock::plan(&text, value).map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    if plan.audited {
        if !asked {
            return Err("the policy asks for audit records, which landlock does not write".into());
        }
        notes.push("no audit records (landlock denies are not reported per call)");
    }
    if plan.tcp_only {
        if !asked {
            return Err("its network rules would cover TCP only under landlock".into());
        }
        notes.push("network rules enforced for TCP only (UDP and unix sockets are not restricted)");
    }
    let spec = wrun_sys::landlock::RulesetSpec {
        handled_fs: plan.handled_fs,
        handled_net: plan.handled_net,
        paths: plan
            .paths
            .iter()
            .map(|g| wrun_sys::landlock::PathRule {
                path: PathBuf::from(&g.path),
                access: g.access,
            })
            .collect(),
        ports: plan
            .ports
            .iter()
            .map(|g| wrun_sys::landlock::PortRule {
                port: g.port,
                access: g.access,
            })
            .collect(),
    };
    let have = wrun_sys::landlock::abi_version().map_err(|e| e.to_string())?;
    if have < spec.min_abi() {
        return Err(format!(
            "the policy needs landlock ABI v{}, this kernel has v{have}",
            spec.min_abi()
        ));
    }
    Ok((spec, (!notes.is_empty()).then(|| notes.join("; "))))
}

/// Adds the isolation annotations (and the trap list) to a spec, and for
/// `process` removes what isolates.
pub fn annotate(
    spec: &mut oci_spec::runtime::Spec,
    isolation: Isolation,
    policy: Option<&PolicyChoice>,
    trap: &[&str],
    landlock: Option<&wrun_sys::landlock::RulesetSpec>,
) {
    let mut ann = spec.annotations().clone().unwrap_or_default();
    ann.insert(ISOLATION_ANNOTATION.into(), isolation.as_str().into());
    if let Some(p) = policy {
        ann.insert(POLICY_ANNOTATION.into(), p.name.clone());
        ann.insert(ENFORCEMENT_ANNOTATION.into(), p.enforced_by.as_str().into());
        ann.insert(TRAP_ANNOTATION.into(), trap.join(","));
    }
    if let Some(l) = landlock {
        ann.insert(
            LANDLOCK_ANNOTATION.into(),
            serde_json::to_string(l).expect("a ruleset serializes"),
        );
    }
    spec.set_annotations(Some(ann));
    if isolation == Isolation::Process {
        // The host's UTS namespace: its hostname stays.
        spec.set_hostname(None);
    }
    if isolation == Isolation::Process
        && let Some(linux) = spec.linux_mut()
    {
        use oci_spec::runtime::LinuxNamespaceType;
        let kept: Vec<_> = linux
            .namespaces()
            .iter()
            .flatten()
            .filter(|n| n.typ() == LinuxNamespaceType::Mount)
            .cloned()
            .collect();
        linux.set_namespaces(Some(kept));
        linux.set_seccomp(None);
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
}

/// `wrun exec --isolation/--policy` into a container: the exec'd process
/// always runs as the container's processes do — under its policy, by the
/// same mechanism (the container's supervisor, or its Landlock ruleset) —
/// so the flags may only restate that. Anything else is refused up front
/// (as Docker refuses an exec option the container cannot honour): an exec
/// cannot leave the container's policy, nor bring another one, because a
/// second policy would either widen what the container may do or need a
/// second supervisor racing the first on the same files.
pub fn check_exec(
    state: &crate::state::ContainerState,
    isolation: Option<Isolation>,
    policy: Option<&str>,
) -> Result<()> {
    let own = state.host.isolation;
    let refuse = |flag: &'static str, value: &str, reason: String| Error::InvalidFlag {
        flag,
        value: value.to_owned(),
        reason,
    };
    let isolation = match (isolation, policy) {
        (None, Some(_)) => Some(Isolation::Wasm),
        (i, _) => i,
    };
    if let Some(i) = isolation
        && i != own
    {
        return Err(refuse(
            "--isolation",
            i.as_str(),
            match &state.host.policy {
                Some(p) => format!(
                    "the container runs under --isolation {} with policy {}: an exec runs under it too",
                    own.as_str(),
                    p.name
                ),
                None => format!(
                    "the container runs under --isolation {}; a policy is chosen when it is created                      (wrun create/run --policy)",
                    own.as_str()
                ),
            },
        ));
    }
    if let (Some(value), Some(choice)) = (policy, &state.host.policy) {
        // The same policy: the same name, or the same module bytes (a file
        // may have been moved; `web-app` is made per container, so by name).
        let same = value == choice.name
            || value != WEB_APP
                && policy_source(value, &PolicyContext::default())
                    .ok()
                    .and_then(|(_, bytes)| engine().ok()?.load(&bytes).ok())
                    .is_some_and(|p| format!("sha256:{}", p.hash()) == choice.hash);
        if !same {
            return Err(refuse(
                "--policy",
                value,
                format!(
                    "the container runs under policy {} ({}): an exec runs under the container's policy",
                    choice.name, choice.hash
                ),
            ));
        }
    }
    Ok(())
}

/// Loads the container's policy for its monitor (before the shim starts).
pub fn load(container_dir: &Path, choice: &PolicyChoice) -> Result<Policy> {
    let path = container_dir.join(POLICY_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    engine()?.load(&bytes).map_err(|e| Error::Policy {
        name: choice.name.clone(),
        reason: e.to_string(),
    })
}

/// The abstract unix socket on which a container's monitor receives seccomp
/// listeners: the first process's (from the shim) and each `wrun exec`'s.
/// Abstract (a state root's paths can exceed `sun_path`), named by the
/// container id, and only root may hand over a listener (`SO_PEERCRED`).
fn supervisor_socket(container_dir: &Path) -> Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    let id = container_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::os::unix::net::SocketAddr::from_abstract_name(format!("wrun-supervisor/{id}"))
        .map_err(Error::io(container_dir))
}

/// Makes this process (the container's monitor) supervise every listener
/// sent to `<container_dir>/supervisor.sock`, each until the processes
/// under its filter have exited. Idempotent: a restarted container reuses
/// the server of its first start.
pub fn serve(container_dir: &Path, policy: Policy, choice: &PolicyChoice) -> Result<()> {
    static SERVING: OnceLock<PathBuf> = OnceLock::new();
    if SERVING.get().is_some_and(|p| p == container_dir) {
        return Ok(());
    }
    let addr = supervisor_socket(container_dir)?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)
        .map_err(Error::io(container_dir.join("(supervisor socket)")))?;
    let _ = SERVING.set(container_dir.to_owned());
    let config = wrun_supervisor::Config {
        policy,
        policy_name: choice.name.clone(),
        audit_log: container_dir.join(wrun_supervisor::AUDIT_FILE),
        workers: wrun_supervisor::DEFAULT_WORKERS,
        mode: if choice.naive {
            wrun_supervisor::Mode::Naive
        } else {
            wrun_supervisor::Mode::Emulate
        },
    };
    std::thread::Builder::new()
        .name("wrun-supervisor".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let root =
                    nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)
                        .is_ok_and(|c| c.uid() == 0);
                if !root {
                    continue;
                }
                let mut buf = [0u8; 16];
                let seccomp: OwnedFd = match wrun_sys::fd::recv_fd(&conn, &mut buf) {
                    Ok((_, Some(fd))) => fd,
                    // The process failed before installing its filter.
                    Ok((_, None)) => continue,
                    Err(e) => {
                        tracing::warn!("receiving a seccomp listener: {e}");
                        continue;
                    }
                };
                // Workers end by themselves when their processes are gone;
                // the monitor joins them before it exits (`drain`). The lock
                // is held from before the workers start until they are
                // listed: a worker may answer the workload's calls at once,
                // and a short-lived container can exit, and the monitor
                // call `drain`, before this thread is scheduled again; with
                // the push after `start`, `drain` found nothing to wait for
                // and the monitor's exit cut off the audit records (seen as
                // an empty audit log under load). Every trapped call waits
                // for a worker, so a workload that made one cannot exit
                // before this thread holds the lock.
                let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
                match wrun_supervisor::Supervisor::start(seccomp, config.clone()) {
                    Ok(s) => running.push(s),
                    // The listener is closed here: the kernel fails every
                    // trapped call from now on (the container never hangs).
                    Err(e) => tracing::error!("starting the supervisor: {e}"),
                }
            }
        })
        .map_err(Error::io("supervisor thread"))?;
    Ok(())
}

/// The supervisors this monitor started, joined by [`drain`].
static RUNNING: Mutex<Vec<wrun_supervisor::Supervisor>> = Mutex::new(Vec::new());

/// How long [`drain`] waits for workers still finishing a call.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Waits (at most [`DRAIN_LIMIT`]) for the supervisors of a container whose
/// processes have exited, so that a worker that has answered a call but
/// not yet written its audit record is not cut off by the monitor's exit:
/// the audit trail must have every decision. Returns at once when nothing
/// is supervised.
pub fn drain() {
    let running: Vec<_> = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|p| p.into_inner()));
    if running.is_empty() {
        return;
    }
    let (done, finished) = std::sync::mpsc::channel();
    let joiner = std::thread::Builder::new()
        .name("wrun-supervisor-join".into())
        .spawn(move || {
            for s in running {
                s.join();
            }
            let _ = done.send(());
        });
    if joiner.is_ok() && finished.recv_timeout(DRAIN_LIMIT).is_err() {
        tracing::warn!("supervisor workers still busy after {DRAIN_LIMIT:?}; leaving them");
    }
}

/// A connection to the container's supervisor socket, to hand to a shim as
/// `WRUN_SECCOMP_FD`.
pub fn connect(container_dir: &Path) -> Result<UnixStream> {
    let addr = supervisor_socket(container_dir)?;
    UnixStream::connect_addr(&addr).map_err(Error::io(container_dir.join("(supervisor socket)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_parses_and_round_trips() {
        for s in ["process", "namespaces", "wasm"] {
            assert_eq!(s.parse::<Isolation>().unwrap().as_str(), s);
        }
        let e = "vm".parse::<Isolation>().unwrap_err().to_string();
        assert!(e.contains("--isolation") && e.contains("\"vm\""), "{e}");
    }

    #[test]
    fn a_policy_is_checked_and_kept_with_the_container() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = PolicyContext::default();
        let Prepared { choice, trap, .. } =
            prepare("read-only", false, Enforcement::Trap, dir.path(), &ctx).unwrap();
        assert_eq!(choice.name, "read-only");
        assert!(choice.hash.starts_with("sha256:"));
        assert!(trap.contains(&"openat") && trap.contains(&"unlinkat"));
        assert!(!trap.contains(&"connect"));
        assert!(dir.path().join(POLICY_FILE).exists());
        load(dir.path(), &choice).unwrap();
        let e = prepare("nonesuch", false, Enforcement::Trap, dir.path(), &ctx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such built-in policy"), "{e}");
        let bad = dir.path().join("bad.wat");
        std::fs::write(&bad, "(module)").unwrap();
        let e = prepare(
            bad.to_str().unwrap(),
            false,
            Enforcement::Trap,
            dir.path(),
            &ctx,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad.wat"), "{e}");
    }

    #[test]
    fn enforcement_is_decided_per_policy() {
        if wrun_sys::landlock::abi_version().is_err() {
            eprintln!("skipped: this kernel has no landlock");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ctx = PolicyContext::default();
        let body = "ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate, exec]\n\
                    rules:\n\
                    - ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate, exec]\n  \
                    paths: [\"/**\"]\n  action: allow\n";
        let quiet = dir.path().join("quiet.yaml");
        std::fs::write(&quiet, format!("audit: none\n{body}")).unwrap();
        let audited = dir.path().join("audited.yaml");
        std::fs::write(&audited, body).unwrap();
        let quiet = quiet.to_str().unwrap();
        let audited = audited.to_str().unwrap();

        let p = prepare(quiet, false, Enforcement::Auto, dir.path(), &ctx).unwrap();
        assert_eq!(p.choice.enforced_by, Enforcement::Landlock);
        assert!(p.trap.is_empty() && p.choice.enforcement_note.is_none());
        let rules = p.landlock.unwrap();
        assert_eq!(rules.paths.len(), 1);
        assert_eq!(rules.paths[0].path, Path::new("/"));

        // audit: deny (the default) keeps auto on traps; landlock takes it
        // and says what is lost.
        let p = prepare(audited, false, Enforcement::Auto, dir.path(), &ctx).unwrap();
        assert_eq!(p.choice.enforced_by, Enforcement::Trap);
        assert!(!p.trap.is_empty() && p.landlock.is_none());
        let note = p.choice.enforcement_note.unwrap();
        assert!(note.contains("audit records"), "{note}");
        let p = prepare(audited, false, Enforcement::Landlock, dir.path(), &ctx).unwrap();
        assert_eq!(p.choice.enforced_by, Enforcement::Landlock);
        assert!(
            p.choice
                .enforcement_note
                .unwrap()
                .contains("no audit records")
        );

        // trap is trap, whatever the policy.
        let p = prepare(quiet, false, Enforcement::Trap, dir.path(), &ctx).unwrap();
        assert_eq!(p.choice.enforced_by, Enforcement::Trap);
        // The naive lab mode is a trap mode.
        let e = prepare(quiet, true, Enforcement::Landlock, dir.path(), &ctx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--policy-naive"), "{e}");
        assert!("sometimes".parse::<Enforcement>().is_err());
    }

    #[test]
    fn web_app_is_made_for_the_container() {
        let ctx = PolicyContext {
            workdir: "/app".into(),
            ports: vec![5000],
            networks: vec!["10.88.0.0/16".into()],
            dns: vec!["10.88.0.1".into()],
        };
        let rules = web_app_rules(&ctx);
        assert!(rules.contains("\"/app/**\""), "{rules}");
        assert!(rules.contains("ports: [0, 5000]"), "{rules}");
        let dir = tempfile::tempdir().unwrap();
        let Prepared { choice, trap, .. } =
            prepare(WEB_APP, false, Enforcement::Auto, dir.path(), &ctx).unwrap();
        assert_eq!(
            choice.enforced_by,
            Enforcement::Trap,
            "web-app has address rules"
        );
        assert_eq!(choice.name, WEB_APP);
        assert!(trap.contains(&"connect") && trap.contains(&"bind") && trap.contains(&"openat"));
    }
}
