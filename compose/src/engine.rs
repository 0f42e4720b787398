//! What compose needs from a container runtime. `host` implements it on
//! wrun's runtime; tests implement it in memory.
//!
//! Everything compose makes carries labels (Docker Compose's own keys, so
//! tools that read them understand wrun's containers too): the project, the
//! service, the container number, whether it is a one-off (`run`), the hash
//! of the service's configuration and the image id it was made from. `down`
//! removes what carries the project's label, and `up` compares hashes to
//! re-create only what changed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Result;
use crate::model::{Build, NetworkDef, Service, VolumeDef};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
pub const LABEL_VERSION: &str = "com.docker.compose.version";

/// A container's state as compose cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited(i32),
}

/// A container's health, when it has a healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// One container of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    pub health: Option<Health>,
}

impl Container {
    pub fn service(&self) -> &str {
        self.labels.get(LABEL_SERVICE).map_or("", String::as_str)
    }

    pub fn number(&self) -> u32 {
        self.labels
            .get(LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    pub fn is_oneoff(&self) -> bool {
        self.labels.get(LABEL_ONEOFF).is_some_and(|v| v == "True")
    }
}

/// A named volume a container mounts, by its real (project-prefixed) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedMount {
    /// `None`: an anonymous volume.
    pub volume: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub nocopy: bool,
}

/// Everything the engine needs to create one container of a service.
#[derive(Debug, Clone)]
pub struct ContainerSpec<'a> {
    pub name: String,
    pub image: String,
    pub service_name: String,
    /// The resolved service (binds absolute, environment complete).
    pub service: &'a Service,
    /// Networks by real name, each with the names the container answers to
    /// there (the service name, the container name, the aliases), first
    /// the one to create it on.
    pub networks: Vec<(String, Vec<String>)>,
    /// `volume` entries of the service, resolved to real volume names.
    pub volumes: Vec<NamedMount>,
    /// Secrets and configs as read-only files: (host file, target).
    pub files: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// `run`: replaces the command; keep the container in the foreground.
    pub command_override: Option<Vec<String>>,
    pub remove_on_exit: bool,
}

/// A container runtime compose can drive.
pub trait Engine {
    /// The containers labelled with `project`, stopped ones too.
    fn containers(&self, project: &str) -> Result<Vec<Container>>;
    /// One container, fresh.
    fn container(&self, id: &str) -> Result<Container>;
    fn create(&self, spec: &ContainerSpec<'_>) -> Result<String>;
    fn start(&self, id: &str) -> Result<()>;
    fn stop(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a stopped container and, with `volumes`, its anonymous
    /// volumes.
    fn remove(&self, id: &str, volumes: bool) -> Result<()>;

    fn network_exists(&self, name: &str) -> Result<bool>;
    fn create_network(
        &self,
        name: &str,
        def: &NetworkDef,
        labels: &BTreeMap<String, String>,
    ) -> Result<()>;
    fn remove_network(&self, name: &str) -> Result<()>;
    /// Networks labelled with `project`.
    fn networks(&self, project: &str) -> Result<Vec<String>>;

    fn volume_exists(&self, name: &str) -> Result<bool>;
    fn create_volume(
        &self,
        name: &str,
        def: &VolumeDef,
        labels: &BTreeMap<String, String>,
    ) -> Result<()>;
    fn remove_volume(&self, name: &str) -> Result<()>;
    /// Volumes labelled with `project`.
    fn volumes(&self, project: &str) -> Result<Vec<String>>;

    /// The image id of `reference`, if it is in the store.
    fn image_id(&self, reference: &str) -> Result<Option<String>>;
    fn build(&self, build: &Build, tag: &str) -> Result<()>;
    fn pull(&self, reference: &str) -> Result<()>;
    fn remove_image(&self, reference: &str) -> Result<()>;
}
