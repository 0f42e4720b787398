//! The compose [`Engine`] on wrun's runtime: containers are created the
//! way `wrun run` creates them (the same flags, parsed and checked by the
//! same code), networks by the `NetworkManager`, volumes by `Volumes`;
//! images are built and pulled by running this executable's `build` and
//! `pull`, as classic docker-compose invoked the builder.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use wrun_compose::engine::{Container, ContainerSpec, Engine, Health, State};
use wrun_compose::model::{Build, NetworkDef, VolumeDef, VolumeType};
use wrun_compose::{Error, Result};
use wrun_runtime::launch::Runtime;
use wrun_runtime::network::{CreateOptions, NetworkManager};
use wrun_runtime::state::{ContainerState, Status};
use wrun_runtime::volume::Volumes;

use crate::global::Global;

/// wrun as a compose engine.
#[derive(Debug)]
pub struct WrunEngine<'g> {
    pub g: &'g Global,
    runtime: Runtime,
}

fn engine_err(e: impl std::fmt::Display) -> Error {
    Error::Engine(e.to_string())
}

impl<'g> WrunEngine<'g> {
    pub fn new(g: &'g Global) -> anyhow::Result<Self> {
        Ok(Self {
            g,
            runtime: crate::cmd::run::open_runtime(g)?,
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn info(&self, s: &ContainerState) -> Container {
        let dir = self.runtime.containers().dir(&s.id);
        let state = match s.status {
            Status::Created => State::Created,
            Status::Running => State::Running,
            Status::Exited => State::Exited(s.exit_code.unwrap_or(0)),
        };
        let configured = wrun_runtime::health::load_config(&dir).is_some_and(|c| c.is_enabled());
        let health = match wrun_runtime::health::read_state(&dir) {
            Some(h) if h.status == "healthy" => Some(Health::Healthy),
            Some(h) if h.status == "unhealthy" => Some(Health::Unhealthy),
            // Configured, and not yet probed (or the monitor has not
            // written its first state).
            _ if configured => Some(Health::Starting),
            _ => None,
        };
        Container {
            id: s.id.clone(),
            name: s.name.clone(),
            labels: s.host.labels.clone(),
            state,
            health: if state == State::Running {
                health
            } else {
                None
            },
        }
    }

    /// Runs this executable with `args` (for `build` and `pull`), its
    /// output going to ours.
    fn wrun(&self, args: &[String], what: &str) -> Result<()> {
        let exe = std::env::current_exe().map_err(engine_err)?;
        let status = Command::new(exe)
            .arg("--root")
            .arg(&self.g.root)
            .args(args)
            .status()
            .map_err(|e| Error::Engine(format!("{what}: {e}")))?;
        if !status.success() {
            return Err(Error::Engine(format!(
                "{what} failed: `wrun {}` exited with {}",
                args.join(" "),
                status.code().unwrap_or(1)
            )));
        }
        Ok(())
    }

    /// The `wrun run` command line for a container spec.
    pub fn run_argv(spec: &ContainerSpec<'_>, detach: bool) -> Result<Vec<String>> {
        let s = spec.service;
        let mut a: Vec<String> = vec!["wrun".into(), "run".into()];
        let mut flag = |f: &str, v: &str| {
            a.push(f.to_string());
            a.push(v.to_string());
        };
        flag("--name", &spec.name);
        for (k, v) in &spec.labels {
            flag("--label", &format!("{k}={v}"));
        }
        for (k, v) in &s.environment {
            if let Some(v) = v {
                flag("-e", &format!("{k}={v}"));
            }
        }
        match (&s.network_mode, spec.networks.first()) {
            (Some(mode), _) => flag("--network", mode),
            (None, Some((net, aliases))) => {
                flag("--network", net);
                for alias in aliases {
                    flag("--network-alias", alias);
                }
            }
            (None, None) => flag("--network", "none"),
        }
        for p in &s.ports {
            let mut text = String::new();
            if let Some(ip) = &p.host_ip {
                text.push_str(&format!("{ip}:"));
            }
            match p.published {
                Some(h) => text.push_str(&format!("{h}:{}", p.target)),
                None if p.host_ip.is_some() => text.push_str(&format!(":{}", p.target)),
                None => text.push_str(&p.target.to_string()),
            }
            text.push_str(&format!("/{}", p.protocol));
            flag("-p", &text);
        }
        for v in &s.volumes {
            match v.kind {
                VolumeType::Bind => {
                    let src = v.source.as_deref().unwrap_or_default();
                    let ro = if v.read_only { ":ro" } else { "" };
                    flag("-v", &format!("{src}:{}{ro}", v.target));
                }
                VolumeType::Tmpfs => {
                    let size = v
                        .tmpfs
                        .as_ref()
                        .and_then(|t| t.size.clone())
                        .map(|s| format!(":size={s}"))
                        .unwrap_or_default();
                    flag("--tmpfs", &format!("{}{size}", v.target));
                }
                VolumeType::Volume => {}
            }
        }
        for m in &spec.volumes {
            let mut opts: Vec<&str> = Vec::new();
            if m.read_only {
                opts.push("ro");
            }
            if m.nocopy {
                opts.push("nocopy");
            }
            let opts = if opts.is_empty() {
                String::new()
            } else {
                format!(":{}", opts.join(","))
            };
            match &m.volume {
                Some(name) => flag("-v", &format!("{name}:{}{opts}", m.target)),
                None => flag("-v", &format!("{}{opts}", m.target)),
            }
        }
        for (file, target) in &spec.files {
            flag("-v", &format!("{file}:{target}:ro"));
        }
        for t in &s.tmpfs {
            flag("--tmpfs", t);
        }
        if let Some(w) = &s.working_dir {
            flag("-w", w);
        }
        if let Some(u) = &s.user {
            flag("-u", u);
        }
        if let Some(h) = &s.hostname {
            flag("--hostname", h);
        }
        for c in &s.cap_add {
            flag("--cap-add", c);
        }
        for c in &s.cap_drop {
            flag("--cap-drop", c);
        }
        for h in &s.extra_hosts {
            // Compose writes HOST:IP or HOST=IP; wrun run takes HOST:IP.
            flag("--add-host", &h.replacen('=', ":", 1));
        }
        for d in &s.dns {
            flag("--dns", d);
        }
        let limits = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.as_ref());
        if let Some(m) = limits
            .and_then(|l| l.memory.clone())
            .or(s.mem_limit.clone())
        {
            flag("--memory", &m);
        }
        if let Some(c) = limits.and_then(|l| l.cpus.clone()).or(s.cpus.clone()) {
            flag("--cpus", &c);
        }
        if let Some(p) = limits.and_then(|l| l.pids).or(s.pids_limit) {
            flag("--pids-limit", &p.to_string());
        }
        if let Some(l) = &s.logging {
            for (k, v) in &l.options {
                flag("--log-opt", &format!("{k}={v}"));
            }
        }
        if let Some(h) = &s.healthcheck
            && h.test.first().map(String::as_str) == Some("NONE")
        {
            a.push("--no-healthcheck".into());
        }
        if let Some(x) = &s.x_wrun {
            if let Some(i) = &x.isolation {
                a.push("--isolation".into());
                a.push(i.clone());
            }
            if let Some(p) = &x.policy {
                a.push("--policy".into());
                a.push(p.clone());
            }
        }
        if s.read_only {
            a.push("--read-only".into());
        }
        if s.tty {
            a.push("-t".into());
        }
        if s.stdin_open {
            a.push("-i".into());
        }
        if spec.remove_on_exit {
            a.push("--rm".into());
        } else if let Some(r) = &s.restart {
            a.push("--restart".into());
            a.push(r.clone());
        }
        if detach {
            a.push("-d".into());
        }
        let command = spec.command_override.clone().or_else(|| s.command.clone());
        let mut tail: Vec<String> = Vec::new();
        if let Some(ep) = &s.entrypoint {
            a.push("--entrypoint".into());
            a.push(ep.first().cloned().unwrap_or_default());
            tail.extend(ep.iter().skip(1).cloned());
            tail.extend(command.unwrap_or_default());
        } else if let Some(c) = command {
            tail.extend(c);
        }
        a.push(spec.image.clone());
        a.extend(tail);
        Ok(a)
    }

    /// Parses the spec into `wrun run`'s arguments and creates the
    /// container exactly as `wrun run` would; then writes the compose
    /// healthcheck (which may be exec-form, beyond `--health-cmd`).
    pub fn create_container(&self, spec: &ContainerSpec<'_>, detach: bool) -> Result<String> {
        let argv = Self::run_argv(spec, detach)?;
        let cli = crate::cmd::Cli::try_parse_from(&argv).map_err(|e| {
            let text = e.to_string();
            let hint = if text.contains("--isolation") || text.contains("--policy") {
                " (x-wrun: this wrun has no --isolation/--policy on run yet)"
            } else {
                ""
            };
            Error::Engine(format!(
                "service {}: {}{hint}",
                spec.service_name,
                text.trim()
            ))
        })?;
        let crate::cmd::Command::Run(args) = cli.command else {
            unreachable!("the argv starts with run");
        };
        let (runtime, state, _) = args
            .create(self.g)
            .map_err(|e| Error::Engine(format!("service {}: {e:#}", spec.service_name)))?;
        if let Some(h) = &spec.service.healthcheck
            && h.test
                .first()
                .is_some_and(|t| t == "CMD" || t == "CMD-SHELL")
        {
            let nanos = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|d| wrun_compose::model::parse_duration(d).ok())
                    .map_or(0, |d| d.as_nanos() as u64)
            };
            let config = wrun_runtime::health::HealthConfig {
                test: h.test.clone(),
                interval: nanos(&h.interval),
                timeout: nanos(&h.timeout),
                start_period: nanos(&h.start_period),
                retries: h.retries.unwrap_or(0),
            };
            let dir = runtime.containers().dir(&state.id);
            if let Err(e) = wrun_runtime::health::save_config(&dir, &config) {
                let _ = runtime.remove(&state.id, true);
                return Err(Error::Engine(format!("saving the healthcheck: {e}")));
            }
        }
        Ok(state.id)
    }
}

impl Engine for WrunEngine<'_> {
    fn containers(&self, project: &str) -> Result<Vec<Container>> {
        let all = self.runtime.list().map_err(engine_err)?;
        Ok(all
            .iter()
            .filter(|s| {
                s.host
                    .labels
                    .get(wrun_compose::engine::LABEL_PROJECT)
                    .map(String::as_str)
                    == Some(project)
            })
            .map(|s| self.info(s))
            .collect())
    }

    fn container(&self, id: &str) -> Result<Container> {
        let s = self.runtime.get(id).map_err(engine_err)?;
        Ok(self.info(&s))
    }

    fn create(&self, spec: &ContainerSpec<'_>) -> Result<String> {
        self.create_container(spec, true)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.runtime.start_detached(id).map_err(engine_err)
    }

    fn stop(&self, id: &str, timeout: Duration) -> Result<()> {
        self.runtime.stop(id, timeout).map_err(engine_err)
    }

    fn remove(&self, id: &str, volumes: bool) -> Result<()> {
        let dir = self.runtime.containers().dir(id);
        let anonymous = wrun_runtime::volume::anonymous_of(&dir);
        self.runtime.remove(id, true).map_err(engine_err)?;
        if volumes && !anonymous.is_empty() {
            let vols = Volumes::open(&self.g.root).map_err(engine_err)?;
            for v in anonymous {
                vols.remove(&v, true).map_err(engine_err)?;
            }
        }
        Ok(())
    }

    fn network_exists(&self, name: &str) -> Result<bool> {
        let nets = NetworkManager::open(&self.g.root).map_err(engine_err)?;
        Ok(nets.get(name).is_ok())
    }

    fn create_network(
        &self,
        name: &str,
        def: &NetworkDef,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        if let Some(d) = &def.driver
            && d != "bridge"
        {
            return Err(Error::Engine(format!(
                "network {name}: driver {d:?} is not supported by wrun (bridge)"
            )));
        }
        let ipam = def.ipam.as_ref().and_then(|i| i.config.first());
        let nets = NetworkManager::open(&self.g.root).map_err(engine_err)?;
        // Without an ipam subnet the network layer picks a free one.
        let subnet = ipam.and_then(|c| c.subnet.clone());
        nets.create(
            name,
            CreateOptions {
                subnet,
                gateway: ipam.and_then(|c| c.gateway.clone()),
                labels: labels.clone(),
                internal: def.internal,
            },
        )
        .map_err(|e| Error::Engine(format!("network {name}: {e}")))?;
        Ok(())
    }

    fn remove_network(&self, name: &str) -> Result<()> {
        let nets = NetworkManager::open(&self.g.root).map_err(engine_err)?;
        nets.remove(name)
            .map_err(|e| Error::Engine(format!("network {name}: {e}")))
    }

    fn networks(&self, project: &str) -> Result<Vec<String>> {
        let nets = NetworkManager::open(&self.g.root).map_err(engine_err)?;
        Ok(nets
            .list()
            .map_err(engine_err)?
            .into_iter()
            .filter(|n| {
                n.labels
                    .get(wrun_compose::engine::LABEL_PROJECT)
                    .map(String::as_str)
                    == Some(project)
            })
            .map(|n| n.name)
            .collect())
    }

    fn volume_exists(&self, name: &str) -> Result<bool> {
        Ok(Volumes::open(&self.g.root)
            .map_err(engine_err)?
            .exists(name))
    }

    fn create_volume(
        &self,
        name: &str,
        def: &VolumeDef,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        if let Some(d) = &def.driver
            && d != "local"
        {
            return Err(Error::Engine(format!(
                "volume {name}: driver {d:?} is not supported by wrun (local)"
            )));
        }
        Volumes::open(&self.g.root)
            .and_then(|v| v.create(name, labels.clone()))
            .map(|_| ())
            .map_err(engine_err)
    }

    fn remove_volume(&self, name: &str) -> Result<()> {
        Volumes::open(&self.g.root)
            .and_then(|v| v.remove(name, false))
            .map_err(engine_err)
    }

    fn volumes(&self, project: &str) -> Result<Vec<String>> {
        let vols = Volumes::open(&self.g.root).map_err(engine_err)?;
        Ok(vols
            .list()
            .map_err(engine_err)?
            .into_iter()
            .filter(|v| {
                v.labels
                    .get(wrun_compose::engine::LABEL_PROJECT)
                    .map(String::as_str)
                    == Some(project)
            })
            .map(|v| v.name)
            .collect())
    }

    fn image_id(&self, reference: &str) -> Result<Option<String>> {
        let store = wrun_images::Store::open(&self.g.root).map_err(engine_err)?;
        match store.lookup(reference) {
            Ok(image) => Ok(Some(image.id)),
            Err(wrun_images::Error::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(engine_err(e)),
        }
    }

    fn build(&self, build: &Build, tag: &str) -> Result<()> {
        let context = Path::new(&build.context);
        let mut args: Vec<String> = vec!["build".into(), "-t".into(), tag.into()];
        if let Some(f) = &build.dockerfile {
            args.push("-f".into());
            args.push(context.join(f).display().to_string());
        }
        for (k, v) in &build.args {
            args.push("--build-arg".into());
            args.push(match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            });
        }
        if let Some(t) = &build.target {
            args.push("--target".into());
            args.push(t.clone());
        }
        args.push(build.context.clone());
        self.wrun(&args, &format!("building {tag}"))
    }

    fn pull(&self, reference: &str) -> Result<()> {
        self.wrun(
            &["pull".into(), reference.into()],
            &format!("pulling {reference}"),
        )
    }

    fn remove_image(&self, reference: &str) -> Result<()> {
        self.wrun(
            &["rmi".into(), reference.into()],
            &format!("removing image {reference}"),
        )
    }
}
