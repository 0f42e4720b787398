//! The compose model: what a compose file says, normalized.
//!
//! Every key the compose specification allows in the forms wrun uses is a
//! typed field; unknown keys are refused (`deny_unknown_fields`), so a typo
//! is an error with a "did you mean" rather than a silently ignored line.
//! Keys that have several spellings (short and long port syntax, list or map
//! environment, string or list command) are read in every spelling and kept
//! in one, the long one, which is also what `config` prints — so printing
//! and loading again gives the same model.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml::Value;

/// One compose file, or several merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    /// The legacy `version:` key: accepted and ignored.
    #[serde(default, skip_serializing, deserialize_with = "ignore")]
    pub version: (),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default_map"
    )]
    pub networks: BTreeMap<String, NetworkDef>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default_map"
    )]
    pub volumes: BTreeMap<String, VolumeDef>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default_map"
    )]
    pub secrets: BTreeMap<String, SecretDef>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default_map"
    )]
    pub configs: BTreeMap<String, SecretDef>,
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "build"
    )]
    pub build: Option<Build>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "command"
    )]
    pub command: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "command"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// `KEY: value`; `None` takes the value from the environment of
    /// `wrun compose` at run time (the `- KEY` form).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    /// Files whose variables go into `environment` (resolved at load and
    /// then emptied, as `config` shows them).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "env_files"
    )]
    pub env_file: Vec<EnvFile>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "ports"
    )]
    pub ports: Vec<Port>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_list"
    )]
    pub expose: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "volumes"
    )]
    pub volumes: Vec<ServiceVolume>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "depends_on"
    )]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "healthcheck"
    )]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "service_networks"
    )]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_list"
    )]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "service_secrets"
    )]
    pub secrets: Vec<ServiceSecret>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "service_secrets"
    )]
    pub configs: Vec<ServiceSecret>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub sysctls: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "extra_hosts"
    )]
    pub extra_hosts: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_list"
    )]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub init: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub mem_limit: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// wrun's own keys.
    #[serde(rename = "x-wrun", default, skip_serializing_if = "Option::is_none")]
    pub x_wrun: Option<XWrun>,
}

/// `x-wrun:` under a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XWrun {
    /// `process`, `namespaces`, `wasm` (see `wrun run --isolation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// A built-in policy name or a path to a `.wasm`/`.wat` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// `build:` (a string is the context).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(default = "dot")]
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

fn dot() -> String {
    ".".into()
}

/// An `env_file` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub path: String,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A published or exposed port in the long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub target: u16,
    /// The host port; `None` is any free port.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_port"
    )]
    pub published: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

fn tcp() -> String {
    "tcp".into()
}

/// What a service volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    Volume,
    Tmpfs,
}

/// A service's volume in the long syntax. A bind's relative source is made
/// absolute against the project directory at load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Host path (bind), volume name (volume; `None`: anonymous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub nocopy: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Condition,
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    #[serde(default = "yes")]
    pub required: bool,
}

/// `healthcheck:`; `test` is normalized to a list (`["CMD-SHELL", s]` for a
/// string, `["NONE"]` for `disable: true`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "health_test"
    )]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// A service's place on one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<DeployRestart>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRestart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Limits>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub cpus: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub options: BTreeMap<String, String>,
}

/// A service's use of a secret or config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSecret {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub uid: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `external: true` or `external: {name: …}` (legacy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "external"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_ipv6: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "external"
    )]
    pub external: bool,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "external"
    )]
    pub external: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------
// Readers for the keys with several spellings. Each takes the YAML value
// and names the accepted forms when it does not fit.

fn ignore<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    Value::deserialize(d).map(|_| ())
}

/// A scalar as compose reads it into a string (numbers and booleans too).
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => scalar(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected a string or a number")),
    }
}

fn opt_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => {
            let s = scalar(&v).ok_or_else(|| D::Error::custom("expected a port number"))?;
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u16>()
                .map(Some)
                .map_err(|_| D::Error::custom(format!("invalid port {s:?}")))
        }
    }
}

fn external<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        // The legacy `external: {name: x}`.
        Value::Mapping(_) => Ok(true),
        _ => Err(D::Error::custom("expected true or false")),
    }
}

fn null_default_map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::de::DeserializeOwned,
{
    let map: BTreeMap<String, Option<Value>> = BTreeMap::deserialize(d)?;
    map.into_iter()
        .map(|(k, v)| {
            let t = match v {
                None | Some(Value::Null) => T::default(),
                Some(v) => {
                    serde_yaml::from_value(v).map_err(|e| D::Error::custom(format!("{k}: {e}")))?
                }
            };
            Ok((k, t))
        })
        .collect()
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(|| D::Error::custom("expected a list of strings")))
            .collect(),
        v => scalar(&v)
            .map(|s| vec![s])
            .ok_or_else(|| D::Error::custom("expected a string or a list of strings")),
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(env_map(d)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

fn extra_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| match (scalar(k), scalar(v)) {
                (Some(k), Some(v)) => Ok(format!("{k}:{v}")),
                _ => Err(D::Error::custom("expected HOST: IP entries")),
            })
            .collect(),
        v => string_list(v).map_err(D::Error::custom),
    }
}

/// `environment`, `build.args`, `labels`: a list of `KEY=VALUE` (or
/// `KEY`) or a map.
fn env_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let mut out = BTreeMap::new();
    match Value::deserialize(d)? {
        Value::Null => {}
        Value::Sequence(items) => {
            for item in items {
                let s = scalar(&item)
                    .ok_or_else(|| D::Error::custom("expected a list of KEY=VALUE strings"))?;
                match s.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = scalar(&k).ok_or_else(|| D::Error::custom("expected string keys"))?;
                let v = match v {
                    Value::Null => None,
                    v => Some(scalar(&v).ok_or_else(|| {
                        D::Error::custom(format!("{k}: expected a string, number or boolean"))
                    })?),
                };
                out.insert(k, v);
            }
        }
        _ => return Err(D::Error::custom("expected a list of KEY=VALUE or a map")),
    }
    Ok(out)
}

fn env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    let one = |v: Value| -> Result<EnvFile, D::Error> {
        match v {
            Value::String(path) => Ok(EnvFile {
                path,
                required: true,
            }),
            v @ Value::Mapping(_) => serde_yaml::from_value(v).map_err(D::Error::custom),
            _ => Err(D::Error::custom("expected a path or {path, required}")),
        }
    };
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items.into_iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn build<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Build>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(context) => Ok(Some(Build {
            context,
            ..Build::default()
        })),
        v @ Value::Mapping(_) => serde_yaml::from_value(v)
            .map(Some)
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom("expected a context path or a mapping")),
    }
}

/// `command`/`entrypoint`: a list as is, a string split like a shell would.
fn command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Sequence(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(|| D::Error::custom("expected a list of strings")))
            .collect::<Result<_, _>>()
            .map(Some),
        v => {
            let s = scalar(&v).ok_or_else(|| D::Error::custom("expected a string or a list"))?;
            split_shell_words(&s).map(Some).map_err(D::Error::custom)
        }
    }
}

fn health_test<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec!["CMD-SHELL".into(), s]),
        Value::Sequence(items) => {
            let list: Vec<String> = items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| D::Error::custom("expected a list of strings")))
                .collect::<Result<_, _>>()?;
            match list.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL" | "NONE") => Ok(list),
                _ => Err(D::Error::custom(
                    "a healthcheck test list starts with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                )),
            }
        }
        _ => Err(D::Error::custom("expected a string or a list")),
    }
}

fn healthcheck<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Healthcheck>, D::Error> {
    let mut h = Healthcheck::deserialize(d)?;
    if h.disable {
        h.test = vec!["NONE".into()];
        h.disable = false;
    }
    Ok(Some(h))
}

fn depends_on<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Dependency>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(BTreeMap::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|v| {
                scalar(v)
                    .map(|s| {
                        (
                            s,
                            Dependency {
                                required: true,
                                ..Dependency::default()
                            },
                        )
                    })
                    .ok_or_else(|| D::Error::custom("expected a list of service names"))
            })
            .collect(),
        Value::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| {
                let k = scalar(&k).ok_or_else(|| D::Error::custom("expected service names"))?;
                let dep = match v {
                    Value::Null => Dependency {
                        required: true,
                        ..Dependency::default()
                    },
                    v => serde_yaml::from_value(v)
                        .map_err(|e| D::Error::custom(format!("{k}: {e}")))?,
                };
                Ok((k, dep))
            })
            .collect(),
        _ => Err(D::Error::custom("expected a list of services or a map")),
    }
}

fn service_networks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, ServiceNetwork>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(BTreeMap::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|v| {
                scalar(v)
                    .map(|s| (s, ServiceNetwork::default()))
                    .ok_or_else(|| D::Error::custom("expected a list of network names"))
            })
            .collect(),
        Value::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| {
                let k = scalar(&k).ok_or_else(|| D::Error::custom("expected network names"))?;
                let n = match v {
                    Value::Null => ServiceNetwork::default(),
                    v => serde_yaml::from_value(v)
                        .map_err(|e| D::Error::custom(format!("{k}: {e}")))?,
                };
                Ok((k, n))
            })
            .collect(),
        _ => Err(D::Error::custom("expected a list of networks or a map")),
    }
}

fn service_secrets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServiceSecret>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(source) => Ok(ServiceSecret {
                    source,
                    target: None,
                    uid: None,
                    gid: None,
                    mode: None,
                }),
                v => serde_yaml::from_value(v).map_err(D::Error::custom),
            })
            .collect(),
        _ => Err(D::Error::custom("expected a list")),
    }
}

/// `ports`: numbers, `"[IP:][HOST[-HOST]:]CTR[-CTR][/proto]"` strings and
/// long-syntax mappings; ranges are expanded, one entry per port.
fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Port>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items,
        _ => return Err(D::Error::custom("expected a list of ports")),
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            v @ Value::Mapping(_) => out.push(serde_yaml::from_value(v).map_err(D::Error::custom)?),
            v => {
                let s = scalar(&v).ok_or_else(|| D::Error::custom("expected a port string"))?;
                out.extend(parse_port(&s).map_err(D::Error::custom)?);
            }
        }
    }
    Ok(out)
}

/// Parses one short-syntax port.
pub fn parse_port(spec: &str) -> Result<Vec<Port>, String> {
    let bad = |why: &str| format!("invalid port {spec:?}: {why}");
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) if matches!(p, "tcp" | "udp" | "sctp") => (r, p.to_string()),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?}"))),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is in brackets.
    let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r.split_once("]:").ok_or_else(|| bad("unclosed ["))?;
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0].to_string()), &rest[parts[0].len() + 1..]),
            _ => return Err(bad("too many colons")),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    let range = |s: &str| -> Result<(u16, u16), String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a
            .parse()
            .map_err(|_| bad(&format!("{a:?} is not a port number")))?;
        let b: u16 = b
            .parse()
            .map_err(|_| bad(&format!("{b:?} is not a port number")))?;
        if a == 0 || b < a {
            return Err(bad("invalid range"));
        }
        Ok((a, b))
    };
    let (t0, t1) = range(target)?;
    let published = match published.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(range(p)?),
    };
    if let Some((p0, p1)) = published
        && p1 - p0 != t1 - t0
    {
        if t0 == t1 {
            return Err(bad(
                "a range of host ports for one container port is not supported",
            ));
        }
        return Err(bad("the host and container ranges differ in size"));
    }
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    Ok((0..=(t1 - t0))
        .map(|i| Port {
            target: t0 + i,
            published: published.map(|(p0, _)| p0 + i),
            host_ip: host_ip.clone(),
            protocol: protocol.clone(),
            mode: None,
            name: None,
            app_protocol: None,
        })
        .collect())
}

fn volumes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServiceVolume>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items,
        _ => return Err(D::Error::custom("expected a list of volumes")),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => parse_volume(&s).map_err(D::Error::custom),
            v @ Value::Mapping(_) => serde_yaml::from_value(v).map_err(D::Error::custom),
            _ => Err(D::Error::custom("expected a volume string or mapping")),
        })
        .collect()
}

/// Parses one short-syntax volume: `[SOURCE:]TARGET[:MODE]`.
pub fn parse_volume(spec: &str) -> Result<ServiceVolume, String> {
    let bad = |why: &str| format!("invalid volume {spec:?}: {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] if t.starts_with('/') => (Some(*s), *t, None),
        // `/path:ro` is an anonymous volume with a mode.
        [t, m] if t.starts_with('/') => (None, *t, Some(*m)),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(bad("expected [SOURCE:]TARGET[:MODE]")),
    };
    if source == Some("") || target.is_empty() {
        return Err(bad("empty section between colons"));
    }
    if !target.starts_with('/') {
        return Err(bad(&format!(
            "the container path {target:?} must be absolute"
        )));
    }
    let mut read_only = false;
    for m in mode.unwrap_or("").split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "cached" | "delegated" | "consistent" | "nocopy" | "rprivate"
            | "private" | "rshared" | "shared" | "rslave" | "slave" => {}
            other => return Err(bad(&format!("unknown mode {other:?}"))),
        }
    }
    let kind = match source {
        None => VolumeType::Volume,
        Some(s) if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') => {
            VolumeType::Bind
        }
        Some(_) => VolumeType::Volume,
    };
    Ok(ServiceVolume {
        kind,
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only,
        bind: None,
        volume: None,
        tmpfs: None,
        consistency: None,
    })
}

/// Splits a command string the way a POSIX shell splits words (quotes and
/// backslashes), without expanding anything.
pub fn split_shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated double quote in {s:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parses a compose duration (`1m30s`, `10s`, `500ms`, `1h`, `2.5s`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. 30s, 1m30s, 500ms)");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    // A bare number is seconds.
    if let Ok(n) = rest.parse::<f64>() {
        return Ok(std::time::Duration::from_secs_f64(n.max(0.0)));
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports() {
        let p = parse_port("127.0.0.1:8001:8000/udp").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (
                p[0].target,
                p[0].published,
                p[0].host_ip.as_deref(),
                p[0].protocol.as_str()
            ),
            (8000, Some(8001), Some("127.0.0.1"), "udp")
        );
        let p = parse_port("3000").unwrap();
        assert_eq!((p[0].target, p[0].published), (3000, None));
        let p = parse_port("9090-9091:8080-8081").unwrap();
        assert_eq!(
            p.iter()
                .map(|p| (p.published, p.target))
                .collect::<Vec<_>>(),
            [(Some(9090), 8080), (Some(9091), 8081)]
        );
        let p = parse_port("[::1]:6001:6001").unwrap();
        assert_eq!(p[0].host_ip.as_deref(), Some("::1"));
        assert!(parse_port("80:x").unwrap_err().contains("\"x\""));
        assert!(parse_port("1-3:4-5").is_err());
        assert!(parse_port("80/foo").unwrap_err().contains("foo"));
    }

    #[test]
    fn short_volumes() {
        let v = parse_volume(".:/app").unwrap();
        assert_eq!(
            (v.kind, v.source.as_deref(), v.target.as_str()),
            (VolumeType::Bind, Some("."), "/app")
        );
        let v = parse_volume("data:/var/lib/x:ro").unwrap();
        assert_eq!((v.kind, v.read_only), (VolumeType::Volume, true));
        let v = parse_volume("/cache").unwrap();
        assert_eq!((v.kind, v.source), (VolumeType::Volume, None));
        let v = parse_volume("/host:/c").unwrap();
        assert_eq!(v.kind, VolumeType::Bind);
        assert!(parse_volume("data:rel").is_err());
        assert!(parse_volume("a:/b:bogus").unwrap_err().contains("bogus"));
    }

    #[test]
    fn words_and_durations() {
        assert_eq!(
            split_shell_words(r#"sh -c "echo 'hi there' \"q\"" x\ y"#).unwrap(),
            ["sh", "-c", "echo 'hi there' \"q\"", "x y"]
        );
        assert!(split_shell_words("a 'b").is_err());
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2").unwrap().as_secs(), 2);
        assert!(parse_duration("10 parsecs").is_err());
    }
}
