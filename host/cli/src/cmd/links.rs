//! `--link NAME[:ALIAS]`: Docker's legacy container links, as the lecture
//! uses them (`docker run --link postgres --link redis flask-app`).
//!
//! A link gives the new container the linked one's address under its
//! alias, name and hostname in `/etc/hosts`, and Docker's link
//! environment: `ALIAS_NAME=/<this container>/<alias>`, `ALIAS_PORT`,
//! `ALIAS_PORT_<port>_<PROTO>` with `_ADDR`, `_PORT` and `_PROTO`, and
//! `ALIAS_ENV_<VAR>` for the linked container's own environment. The linked
//! container must be running on the network the new one joins.

use std::collections::BTreeSet;

use wrun_images::Store;
use wrun_runtime::launch::Runtime;

/// One `--link` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The linked container's name (or id).
    pub target: String,
    /// The name it is known by in the new container.
    pub alias: String,
}

impl Link {
    /// `NAME` or `NAME:ALIAS`; errors name the value.
    pub fn parse(value: &str) -> anyhow::Result<Link> {
        let (target, alias) = value.split_once(':').unwrap_or((value, value));
        let target = target.trim_start_matches('/');
        if target.is_empty() || alias.is_empty() {
            anyhow::bail!("invalid value {value:?} for --link: expected <name or id>[:alias]");
        }
        if !wrun_runtime::ids::valid_name(alias) {
            anyhow::bail!(
                "invalid value {value:?} for --link: invalid alias {alias:?}, only \
                 [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            );
        }
        Ok(Link {
            target: target.to_string(),
            alias: alias.to_string(),
        })
    }
}

/// What links add to a new container: `/etc/hosts` lines (`names`, `ip`)
/// and environment entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub hosts: Vec<(String, String)>,
    pub env: Vec<String>,
}

/// Resolves `links` for a container named `own_name` joining `network`.
pub fn resolve(
    runtime: &Runtime,
    store: &Store,
    links: &[Link],
    own_name: &str,
    network: &str,
) -> anyhow::Result<Resolved> {
    let mut out = Resolved::default();
    for link in links {
        let state = runtime.get(&link.target).map_err(|_| {
            anyhow::anyhow!(
                "Error response from daemon: could not get container for {}",
                link.target
            )
        })?;
        if state.status != wrun_runtime::state::Status::Running {
            anyhow::bail!(
                "Error response from daemon: Cannot link to a non running container: /{} AS /{}/{}",
                state.name,
                own_name,
                link.alias
            );
        }
        let Some(endpoint) = state.endpoints.iter().find(|e| e.network == network) else {
            anyhow::bail!(
                "Error response from daemon: Cannot link to /{}, as it does not belong to the \
                 network {network}",
                state.name
            );
        };
        let ip = endpoint.ip.to_string();
        let dir = runtime.containers().dir(&state.id);
        let spec: serde_json::Value = std::fs::read(dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let hostname = spec["hostname"].as_str().unwrap_or(&state.id[..12]);
        let mut names = vec![link.alias.clone(), hostname.to_string()];
        if link.alias != state.name {
            names.push(state.name.clone());
        }
        out.hosts.push((names.join(" "), ip.clone()));

        let mut ports: BTreeSet<(u16, String)> = BTreeSet::new();
        if let Ok(image) = store.lookup(&state.image_id) {
            let exposed = image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.exposed_ports().clone())
                .unwrap_or_default();
            for key in exposed {
                if let Some(port) = parse_port_key(&key) {
                    ports.insert(port);
                }
            }
        }
        for m in wrun_runtime::network::ports::load_ports(&dir).unwrap_or_default() {
            ports.insert((m.container_port, m.proto.to_string()));
        }
        let linked_env: Vec<String> = spec["process"]["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.env
            .extend(link_env(&link.alias, own_name, &ip, &ports, &linked_env));
    }
    Ok(out)
}

/// `5432/tcp` (or `5432`, tcp implied) as (port, proto).
fn parse_port_key(key: &str) -> Option<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, proto.to_ascii_lowercase()))
}

/// Docker's link variables for one link.
fn link_env(
    alias: &str,
    own_name: &str,
    ip: &str,
    ports: &BTreeSet<(u16, String)>,
    linked_env: &[String],
) -> Vec<String> {
    let prefix: String = alias
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let mut env = vec![format!("{prefix}_NAME=/{own_name}/{alias}")];
    // The lowest port (tcp before udp at the same number), as Docker picks.
    if let Some((port, proto)) = ports.iter().next() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in ports {
        let var = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        env.push(format!("{var}={proto}://{ip}:{port}"));
        env.push(format!("{var}_ADDR={ip}"));
        env.push(format!("{var}_PORT={port}"));
        env.push(format!("{var}_PROTO={proto}"));
    }
    for entry in linked_env {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        if matches!(key, "HOME" | "HOSTNAME" | "PATH") {
            continue;
        }
        env.push(format!("{prefix}_ENV_{key}={value}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_values_parse_with_and_without_alias() {
        assert_eq!(
            Link::parse("postgres").unwrap(),
            Link {
                target: "postgres".into(),
                alias: "postgres".into()
            }
        );
        assert_eq!(
            Link::parse("/pg-15:db").unwrap(),
            Link {
                target: "pg-15".into(),
                alias: "db".into()
            }
        );
        for bad in ["", ":db", "pg:", "pg:bad alias"] {
            let err = Link::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--link"), "{bad:?}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }

    #[test]
    fn link_environment_is_dockers() {
        let ports: BTreeSet<_> = [(6379, "tcp".to_string()), (5432, "tcp".to_string())]
            .into_iter()
            .collect();
        let env = link_env(
            "my-db",
            "web",
            "10.1.2.3",
            &ports,
            &[
                "PATH=/usr/bin".into(),
                "POSTGRES_USER=app".into(),
                "HOSTNAME=x".into(),
            ],
        );
        assert_eq!(
            env,
            [
                "MY_DB_NAME=/web/my-db",
                "MY_DB_PORT=tcp://10.1.2.3:5432",
                "MY_DB_PORT_5432_TCP=tcp://10.1.2.3:5432",
                "MY_DB_PORT_5432_TCP_ADDR=10.1.2.3",
                "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp",
                "MY_DB_PORT_6379_TCP=tcp://10.1.2.3:6379",
                "MY_DB_PORT_6379_TCP_ADDR=10.1.2.3",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_ENV_POSTGRES_USER=app",
            ]
        );
    }

    #[test]
    fn port_keys_parse() {
        assert_eq!(parse_port_key("5432/tcp"), Some((5432, "tcp".into())));
        assert_eq!(parse_port_key("53/UDP"), Some((53, "udp".into())));
        assert_eq!(parse_port_key("80"), Some((80, "tcp".into())));
        assert_eq!(parse_port_key("x/tcp"), None);
    }
}
