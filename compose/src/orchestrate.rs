//! `up`, `down` and the lifecycle commands, over an [`Engine`].
//!
//! `up` checks everything it can before it makes anything (unsupported
//! keys, missing build contexts, external networks and volumes), then
//! makes networks and volumes, builds or pulls images, and starts services
//! in `depends_on` order, waiting for each dependency's condition
//! (`service_healthy` waits for the healthcheck and fails with the
//! container's name when it turns unhealthy or the container exits). A
//! service whose config hash and image are unchanged keeps its container.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::engine::*;
use crate::load::Project;
use crate::model::{Condition, Service, VolumeType};
use crate::order::start_order_with;
use crate::{Error, Result};

/// What happened, for the CLI to print (`Container p-web-1  Started`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Network`, `Volume`, `Container`, `Image`.
    pub kind: &'static str,
    pub name: String,
    /// `Created`, `Started`, `Running`, `Recreated`, `Healthy`, `Stopped`,
    /// `Removed`, `Built`, `Pulled`, `Waiting`, …
    pub status: &'static str,
}

/// Receives [`Event`]s.
pub type Progress<'a> = &'a dyn Fn(Event);

fn emit(progress: Progress<'_>, kind: &'static str, name: &str, status: &'static str) {
    progress(Event {
        kind,
        name: name.to_string(),
        status,
    });
}

/// Flags of `up`.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub build: bool,
    pub force_recreate: bool,
    pub no_deps: bool,
    /// How often to look at a dependency's health.
    pub poll: Duration,
}

/// Flags of `down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    /// `--rmi local|all`.
    pub rmi: Option<String>,
    pub remove_orphans: bool,
    pub timeout: Option<Duration>,
}

/// The real name of a project network (`PROJECT_NAME` unless named).
pub fn network_name(project: &Project, key: &str) -> String {
    let def = project.model.networks.get(key);
    match def.and_then(|d| d.name.clone()) {
        Some(n) => n,
        None => format!("{}_{key}", project.name),
    }
}

/// The real name of a project volume (`PROJECT_NAME` unless named).
pub fn volume_name(project: &Project, key: &str) -> String {
    match project.model.volumes.get(key).and_then(|d| d.name.clone()) {
        Some(n) => n,
        None => format!("{}_{key}", project.name),
    }
}

/// The image a service runs: its `image:`, or `PROJECT-SERVICE` when built.
pub fn image_name(project: &Project, service: &str) -> String {
    let s = &project.model.services[service];
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{service}", project.name))
}

/// `PROJECT-SERVICE-N`, or the service's `container_name`.
pub fn container_name(project: &Project, service: &str, number: u32) -> String {
    match &project.model.services[service].container_name {
        Some(n) => n.clone(),
        None => format!("{}-{service}-{number}", project.name),
    }
}

/// The hash `up` compares to tell a changed service: its resolved
/// configuration, as JSON, through SHA-256.
pub fn config_hash(service: &Service) -> String {
    let json = serde_json::to_vec(service).expect("a service serializes");
    hex::encode(Sha256::digest(&json))
}

/// A service's stop timeout: `stop_grace_period`, else 10 s.
pub fn stop_timeout(service: Option<&Service>, flag: Option<Duration>) -> Duration {
    flag.or_else(|| {
        service
            .and_then(|s| s.stop_grace_period.as_deref())
            .and_then(|g| crate::model::parse_duration(g).ok())
    })
    .unwrap_or(Duration::from_secs(10))
}

/// Checks what `up` needs before it makes anything: keys wrun does not
/// support, build contexts, external networks and volumes.
pub fn preflight(engine: &dyn Engine, project: &Project, services: &[String]) -> Result<()> {
    let at = |name: &str, key: &str, message: String| Error::Invalid {
        file: project.files[0].clone(),
        line: None,
        key: format!("services.{name}.{key}"),
        message,
    };
    for name in services {
        let s = &project.model.services[name];
        if let Some(r) = &s.runtime {
            return Err(at(
                name,
                "runtime",
                format!(
                    "the runtime {r:?} is not supported by wrun (remove the key to use wrun's own)"
                ),
            ));
        }
        if let Some(m) = &s.network_mode
            && !matches!(m.as_str(), "none" | "host" | "bridge")
        {
            return Err(at(
                name,
                "network_mode",
                format!("{m:?} is not supported by wrun (none, host, bridge)"),
            ));
        }
        if s.deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .is_some_and(|r| r > 1)
        {
            return Err(at(
                name,
                "deploy.replicas",
                "more than one replica is not supported by wrun yet".into(),
            ));
        }
        if s.networks.len() > 1 {
            return Err(at(
                name,
                "networks",
                format!(
                    "joins {} networks; a wrun container joins one network (more are not supported yet)",
                    s.networks.len()
                ),
            ));
        }
        if s.privileged {
            return Err(at(
                name,
                "privileged",
                "privileged containers are not supported by wrun".into(),
            ));
        }
        if let Some(b) = &s.build {
            let ctx = Path::new(&b.context);
            if !ctx.is_dir() {
                return Err(at(
                    name,
                    "build.context",
                    format!("the build context {} does not exist", ctx.display()),
                ));
            }
            let dockerfile = ctx.join(b.dockerfile.as_deref().unwrap_or("Dockerfile"));
            if !dockerfile.is_file() {
                return Err(at(
                    name,
                    "build.dockerfile",
                    format!("cannot find {}", dockerfile.display()),
                ));
            }
        }
        for (i, v) in s.volumes.iter().enumerate() {
            if v.kind == VolumeType::Bind
                && let Some(src) = &v.source
                && !Path::new(src).exists()
                && v.bind.as_ref().and_then(|b| b.create_host_path) == Some(false)
            {
                return Err(at(
                    name,
                    &format!("volumes[{i}]"),
                    format!("bind source path does not exist: {src}"),
                ));
            }
        }
        for sec in s.secrets.iter().chain(&s.configs) {
            let def = project
                .model
                .secrets
                .get(&sec.source)
                .or_else(|| project.model.configs.get(&sec.source));
            if let Some(d) = def
                && d.file.is_none()
            {
                return Err(at(
                    name,
                    "secrets",
                    format!(
                        "{:?}: only file-based secrets and configs are supported by wrun",
                        sec.source
                    ),
                ));
            }
        }
    }
    for (key, def) in used_networks(project, services) {
        let real = network_name(project, &key);
        if def.external && !engine.network_exists(&real)? {
            return Err(Error::Engine(format!(
                "network {real} declared as external, but could not be found"
            )));
        }
    }
    for key in used_volumes(project, services) {
        let def = &project.model.volumes[&key];
        let real = volume_name(project, &key);
        if def.external && !engine.volume_exists(&real)? {
            return Err(Error::Engine(format!(
                "external volume \"{real}\" not found"
            )));
        }
    }
    Ok(())
}

fn used_networks(
    project: &Project,
    services: &[String],
) -> Vec<(String, crate::model::NetworkDef)> {
    let mut out: BTreeMap<String, crate::model::NetworkDef> = BTreeMap::new();
    for name in services {
        for key in project.model.services[name].networks.keys() {
            if let Some(def) = project.model.networks.get(key) {
                out.insert(key.clone(), def.clone());
            }
        }
    }
    out.into_iter().collect()
}

fn used_volumes(project: &Project, services: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in services {
        for v in &project.model.services[name].volumes {
            if v.kind == VolumeType::Volume
                && let Some(src) = &v.source
                && !out.contains(src)
            {
                out.push(src.clone());
            }
        }
    }
    out
}

fn project_labels(project: &Project) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_PROJECT.to_string(), project.name.clone()),
        (
            LABEL_VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

/// Makes the networks and volumes `services` use (not the external ones).
pub fn ensure_resources(
    engine: &dyn Engine,
    project: &Project,
    services: &[String],
    progress: Progress<'_>,
) -> Result<()> {
    for (key, def) in used_networks(project, services) {
        let real = network_name(project, &key);
        if def.external || engine.network_exists(&real)? {
            continue;
        }
        let mut labels = project_labels(project);
        labels.insert(LABEL_NETWORK.into(), key.clone());
        labels.extend(def.labels.clone());
        engine.create_network(&real, &def, &labels)?;
        emit(progress, "Network", &real, "Created");
    }
    for key in used_volumes(project, services) {
        let def = &project.model.volumes[&key];
        let real = volume_name(project, &key);
        if def.external || engine.volume_exists(&real)? {
            continue;
        }
        let mut labels = project_labels(project);
        labels.insert(LABEL_VOLUME.into(), key.clone());
        labels.extend(def.labels.clone());
        engine.create_volume(&real, def, &labels)?;
        emit(progress, "Volume", &real, "Created");
    }
    Ok(())
}

/// Builds the services that have a `build:` (all of `services`, or only
/// those whose image is missing unless `always`).
pub fn build_images(
    engine: &dyn Engine,
    project: &Project,
    services: &[String],
    always: bool,
    progress: Progress<'_>,
) -> Result<()> {
    for name in services {
        let s = &project.model.services[name];
        let Some(b) = &s.build else { continue };
        let image = image_name(project, name);
        if always || engine.image_id(&image)?.is_none() {
            engine.build(b, &image)?;
            emit(progress, "Image", &image, "Built");
        }
    }
    Ok(())
}

/// Pulls the images of `services` that have no `build:` and are missing
/// (or all of them with `always`).
pub fn pull_images(
    engine: &dyn Engine,
    project: &Project,
    services: &[String],
    always: bool,
    progress: Progress<'_>,
) -> Result<()> {
    for name in services {
        let s = &project.model.services[name];
        if s.build.is_some() {
            continue;
        }
        let image = image_name(project, name);
        if always || engine.image_id(&image)?.is_none() {
            engine.pull(&image)?;
            emit(progress, "Image", &image, "Pulled");
        }
    }
    Ok(())
}

/// The container spec of `service`, number `number`.
pub fn container_spec<'a>(
    project: &'a Project,
    service: &str,
    number: u32,
    image_id: &str,
) -> ContainerSpec<'a> {
    let s = &project.model.services[service];
    let name = container_name(project, service, number);
    let mut labels = project_labels(project);
    labels.extend(s.labels.clone());
    labels.insert(LABEL_SERVICE.into(), service.to_string());
    labels.insert(LABEL_NUMBER.into(), number.to_string());
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    labels.insert(LABEL_CONFIG_HASH.into(), config_hash(s));
    labels.insert(LABEL_IMAGE.into(), image_id.to_string());
    labels.insert(
        LABEL_WORKING_DIR.into(),
        project.working_dir.display().to_string(),
    );
    labels.insert(
        LABEL_CONFIG_FILES.into(),
        project
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    let mut networks: Vec<(i64, String, Vec<String>)> = s
        .networks
        .iter()
        .map(|(key, n)| {
            let mut aliases = vec![service.to_string(), name.clone()];
            aliases.extend(n.aliases.iter().cloned());
            (n.priority.unwrap_or(0), network_name(project, key), aliases)
        })
        .collect();
    // Highest priority first; the first is the one the container is made on.
    networks.sort_by_key(|n| std::cmp::Reverse(n.0));
    let volumes = s
        .volumes
        .iter()
        .filter(|v| v.kind == VolumeType::Volume)
        .map(|v| NamedMount {
            volume: v.source.as_ref().map(|src| volume_name(project, src)),
            target: v.target.clone(),
            read_only: v.read_only,
            nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
        })
        .collect();
    let mut files = Vec::new();
    for (sec, base, defs) in [
        (&s.secrets, "/run/secrets/", &project.model.secrets),
        (&s.configs, "/", &project.model.configs),
    ] {
        for x in sec {
            if let Some(file) = defs.get(&x.source).and_then(|d| d.file.clone()) {
                let target = match &x.target {
                    Some(t) if t.starts_with('/') => t.clone(),
                    Some(t) => format!("{base}{t}"),
                    None => format!("{base}{}", x.source),
                };
                files.push((file, target));
            }
        }
    }
    ContainerSpec {
        name,
        image: image_name(project, service),
        service_name: service.to_string(),
        service: s,
        networks: networks.into_iter().map(|(_, n, a)| (n, a)).collect(),
        volumes,
        files,
        labels,
        command_override: None,
        remove_on_exit: false,
    }
}

/// `up`: returns the services it started, in order.
pub fn up(
    engine: &dyn Engine,
    project: &Project,
    opts: &UpOptions,
    progress: Progress<'_>,
) -> Result<Vec<String>> {
    let order = start_order_with(&project.model, &opts.services, opts.no_deps)?;
    preflight(engine, project, &order)?;
    ensure_resources(engine, project, &order, progress)?;
    build_images(engine, project, &order, opts.build, progress)?;
    pull_images(engine, project, &order, false, progress)?;
    let poll = if opts.poll.is_zero() {
        Duration::from_millis(200)
    } else {
        opts.poll
    };
    let existing = engine.containers(&project.name)?;
    for name in &order {
        let s = &project.model.services[name];
        wait_for_dependencies(engine, project, name, poll, progress)?;
        let image = image_name(project, name);
        let image_id = engine
            .image_id(&image)?
            .ok_or_else(|| Error::Engine(format!("image {image} is not in the store")))?;
        let spec = container_spec(project, name, 1, &image_id);
        let hash = config_hash(s);
        let current: Vec<&Container> = existing
            .iter()
            .filter(|c| c.service() == name && !c.is_oneoff())
            .collect();
        let keep = current.iter().find(|c| {
            !opts.force_recreate
                && c.labels.get(LABEL_CONFIG_HASH) == Some(&hash)
                && c.labels.get(LABEL_IMAGE) == Some(&image_id)
                && c.name == spec.name
        });
        if let Some(c) = keep {
            for other in current.iter().filter(|o| o.id != c.id) {
                remove_container(engine, other, stop_timeout(Some(s), None), false, progress)?;
            }
            if c.state == State::Running {
                emit(progress, "Container", &c.name, "Running");
            } else {
                engine.start(&c.id)?;
                emit(progress, "Container", &c.name, "Started");
            }
            continue;
        }
        let recreated = !current.is_empty();
        for c in &current {
            remove_container(engine, c, stop_timeout(Some(s), None), false, progress)?;
        }
        let id = engine.create(&spec)?;
        emit(
            progress,
            "Container",
            &spec.name,
            if recreated { "Recreated" } else { "Created" },
        );
        engine.start(&id)?;
        emit(progress, "Container", &spec.name, "Started");
    }
    Ok(order)
}

fn remove_container(
    engine: &dyn Engine,
    c: &Container,
    timeout: Duration,
    volumes: bool,
    progress: Progress<'_>,
) -> Result<()> {
    if c.state == State::Running {
        emit(progress, "Container", &c.name, "Stopping");
        engine.stop(&c.id, timeout)?;
        emit(progress, "Container", &c.name, "Stopped");
    }
    engine.remove(&c.id, volumes)?;
    emit(progress, "Container", &c.name, "Removed");
    Ok(())
}

/// Waits until every dependency of `service` meets its condition.
pub fn wait_for_dependencies(
    engine: &dyn Engine,
    project: &Project,
    service: &str,
    poll: Duration,
    progress: Progress<'_>,
) -> Result<()> {
    let s = &project.model.services[service];
    for (dep, d) in &s.depends_on {
        if d.condition == Condition::ServiceStarted {
            continue;
        }
        let Some(c) = engine
            .containers(&project.name)?
            .into_iter()
            .find(|c| c.service() == dep && !c.is_oneoff())
        else {
            if d.required {
                return Err(Error::Dependency(format!(
                    "service {dep:?} has no container (needed by {service:?})"
                )));
            }
            continue;
        };
        emit(progress, "Container", &c.name, "Waiting");
        loop {
            let now = engine.container(&c.id)?;
            match (d.condition, now.state, now.health) {
                (Condition::ServiceHealthy, State::Running, Some(Health::Healthy)) => {
                    emit(progress, "Container", &c.name, "Healthy");
                    break;
                }
                (Condition::ServiceHealthy, _, Some(Health::Unhealthy)) => {
                    return Err(Error::Dependency(format!(
                        "container {} is unhealthy (service {service:?} waits for {dep:?} \
                         to be healthy; see `wrun compose logs {dep}` and `wrun inspect {}`)",
                        c.name, c.name
                    )));
                }
                (Condition::ServiceHealthy, State::Running, None) => {
                    return Err(Error::Dependency(format!(
                        "container {} has no healthcheck, but service {service:?} depends on \
                         it with condition service_healthy",
                        c.name
                    )));
                }
                (Condition::ServiceHealthy, State::Exited(code), _) => {
                    return Err(Error::Dependency(format!(
                        "container {} exited ({code}) before it became healthy",
                        c.name
                    )));
                }
                (Condition::ServiceCompletedSuccessfully, State::Exited(0), _) => {
                    emit(progress, "Container", &c.name, "Exited");
                    break;
                }
                (Condition::ServiceCompletedSuccessfully, State::Exited(code), _) => {
                    return Err(Error::Dependency(format!(
                        "service {dep:?} didn't complete successfully: exit {code}"
                    )));
                }
                _ => std::thread::sleep(poll),
            }
        }
    }
    Ok(())
}

/// `down`: stops and removes the project's containers (dependents first),
/// then its networks, and with `-v` its volumes, with `--rmi` its images.
pub fn down(
    engine: &dyn Engine,
    project: &Project,
    opts: &DownOptions,
    progress: Progress<'_>,
) -> Result<Vec<String>> {
    let containers = engine.containers(&project.name)?;
    let mut orphans = Vec::new();
    let mut ours = Vec::new();
    for c in containers {
        if project.model.services.contains_key(c.service())
            || project.disabled.contains_key(c.service())
            || opts.remove_orphans
        {
            ours.push(c);
        } else {
            orphans.push(c.name.clone());
        }
    }
    // Dependents first: sort by reverse start order.
    let order = crate::order::start_order(&project.model, &[]).unwrap_or_default();
    let rank = |svc: &str| order.iter().position(|s| s == svc).unwrap_or(usize::MAX);
    ours.sort_by(|a, b| {
        rank(b.service())
            .cmp(&rank(a.service()))
            .then(a.name.cmp(&b.name))
    });
    for c in &ours {
        let s = project.model.services.get(c.service());
        remove_container(
            engine,
            c,
            stop_timeout(s, opts.timeout),
            opts.volumes,
            progress,
        )?;
    }
    let declared: Vec<String> = project
        .model
        .networks
        .iter()
        .filter(|(_, d)| !d.external)
        .map(|(k, _)| network_name(project, k))
        .collect();
    for net in engine.networks(&project.name)? {
        if declared.contains(&net) || opts.remove_orphans {
            engine.remove_network(&net)?;
            emit(progress, "Network", &net, "Removed");
        }
    }
    if opts.volumes {
        let declared: Vec<String> = project
            .model
            .volumes
            .iter()
            .filter(|(_, d)| !d.external)
            .map(|(k, _)| volume_name(project, k))
            .collect();
        for vol in engine.volumes(&project.name)? {
            if declared.contains(&vol) {
                engine.remove_volume(&vol)?;
                emit(progress, "Volume", &vol, "Removed");
            }
        }
    }
    if let Some(rmi) = &opts.rmi {
        for (name, s) in &project.model.services {
            if rmi == "local" && s.image.is_some() {
                continue;
            }
            let image = image_name(project, name);
            if engine.image_id(&image)?.is_some() {
                engine.remove_image(&image)?;
                emit(progress, "Image", &image, "Removed");
            }
        }
    }
    Ok(orphans)
}

/// `stop` for `services` (all when empty), dependents first.
pub fn stop(
    engine: &dyn Engine,
    project: &Project,
    services: &[String],
    timeout: Option<Duration>,
    progress: Progress<'_>,
) -> Result<()> {
    let order = start_order_with(&project.model, services, true)?;
    let containers = engine.containers(&project.name)?;
    for name in order.iter().rev() {
        for c in containers.iter().filter(|c| c.service() == name) {
            if c.state == State::Running {
                emit(progress, "Container", &c.name, "Stopping");
                engine.stop(
                    &c.id,
                    stop_timeout(project.model.services.get(name), timeout),
                )?;
                emit(progress, "Container", &c.name, "Stopped");
            }
        }
    }
    Ok(())
}

/// `start` for `services` (all when empty), dependencies first, waiting
/// for their conditions.
pub fn start(
    engine: &dyn Engine,
    project: &Project,
    services: &[String],
    progress: Progress<'_>,
) -> Result<()> {
    let order = start_order_with(&project.model, services, true)?;
    let containers = engine.containers(&project.name)?;
    let mut any = false;
    for name in &order {
        wait_for_dependencies(engine, project, name, Duration::from_millis(200), progress)?;
        for c in containers
            .iter()
            .filter(|c| c.service() == name && !c.is_oneoff())
        {
            any = true;
            if c.state != State::Running {
                engine.start(&c.id)?;
                emit(progress, "Container", &c.name, "Started");
            }
        }
    }
    if !any {
        return Err(Error::Engine("service has no container to start".into()));
    }
    Ok(())
}
