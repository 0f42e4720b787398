//! wrun's registry configuration: mirrors for Docker Hub and registries
//! reached over plain HTTP.
//!
//! The file is JSON with the keys of Docker's `daemon.json`, so a
//! classroom's existing settings can be copied over:
//!
//! ```json
//! {
//!   "registry-mirrors": ["http://10.0.0.2:5000", "https://mirror.example"],
//!   "insecure-registries": ["10.0.0.2:5000", "registry.lab:5000"]
//! }
//! ```
//!
//! It is read from `<state root>/registries.json` if that exists, else from
//! `/etc/wrun/registries.json`; neither is required. Mirrors serve
//! `docker.io` only, tried in order before Docker Hub itself; any failure
//! of a mirror (unreachable, a missing image, an error status) falls back to
//! the next and finally to the upstream. Loopback registries (`localhost`,
//! `127.0.0.0/8`, `::1`) are always allowed over HTTP, as Docker does.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Error, Result};

/// The system-wide location, used when the state root has no file.
pub const SYSTEM_CONFIG: &str = "/etc/wrun/registries.json";
/// The file name under the state root.
pub const FILE_NAME: &str = "registries.json";

/// Mirrors and insecure registries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URLs (`scheme://host[:port]`) of Docker Hub mirrors, in order.
    pub mirrors: Vec<String>,
    /// `host[:port]` of registries that may be reached over plain HTTP.
    pub insecure: Vec<String>,
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "registry-mirrors")]
    mirrors: Vec<String>,
    #[serde(default, rename = "insecure-registries")]
    insecure: Vec<String>,
}

impl RegistryConfig {
    /// Reads `<state_root>/registries.json`, else `/etc/wrun/registries.json`,
    /// else the defaults.
    pub fn load(state_root: &Path) -> Result<Self> {
        for p in [state_root.join(FILE_NAME), PathBuf::from(SYSTEM_CONFIG)] {
            match std::fs::read(&p) {
                Ok(data) => return Self::parse(&data, &p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Ok(Self::default())
    }

    /// Parses and checks the file's content; errors name the file and value.
    pub fn parse(data: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let f: File = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        let mut mirrors = Vec::new();
        for m in f.mirrors {
            let t = m.trim_end_matches('/');
            let rest = t
                .strip_prefix("https://")
                .or_else(|| t.strip_prefix("http://"))
                .ok_or_else(|| {
                    bad(format!(
                        "registry-mirrors: \"{m}\" must start with http:// or https://"
                    ))
                })?;
            if rest.is_empty() || rest.contains('/') {
                return Err(bad(format!(
                    "registry-mirrors: \"{m}\" must be scheme://host[:port] without a path"
                )));
            }
            mirrors.push(t.to_owned());
        }
        for i in &f.insecure {
            if i.is_empty() || i.contains('/') {
                return Err(bad(format!(
                    "insecure-registries: \"{i}\" must be host[:port]"
                )));
            }
        }
        Ok(RegistryConfig {
            mirrors,
            insecure: f.insecure,
            source: Some(path.to_path_buf()),
        })
    }

    /// Whether `host` (`name[:port]`) may be reached over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        is_loopback(host) || self.insecure.iter().any(|i| i == host)
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_keys_and_names_bad_values() {
        let p = Path::new("/x/registries.json");
        let c = RegistryConfig::parse(
            br#"{"registry-mirrors":["http://127.0.0.1:5000/"],"insecure-registries":["reg.lab:5000"]}"#,
            p,
        )
        .unwrap();
        assert_eq!(c.mirrors, ["http://127.0.0.1:5000"]);
        assert!(c.is_insecure("reg.lab:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.1:18600"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("quay.io"));
        for (bad, want) in [
            (
                r#"{"registry-mirrors":["127.0.0.1:5000"]}"#,
                "127.0.0.1:5000",
            ),
            (r#"{"registry-mirrors":["http://x/v2"]}"#, "without a path"),
            (r#"{"insecure-registries":["http://x"]}"#, "http://x"),
            (r#"{"mirrors":[]}"#, "unknown field"),
            ("{", "EOF"),
        ] {
            let e = RegistryConfig::parse(bad.as_bytes(), p)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/x/registries.json") && e.contains(want),
                "{bad}: {e}"
            );
        }
    }
}
