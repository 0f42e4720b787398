//! `wrun port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports of a
//! container, read from `ports.json` in its directory (written by whoever
//! runs its port proxy).

use wrun_runtime::network::ports::{PortMapping, Proto, load_ports};

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// The lines `wrun port` prints for `mappings`, filtered by `port`.
pub fn lines(mappings: &[PortMapping], port: Option<(u16, Proto)>) -> Vec<String> {
    match port {
        None => mappings.iter().map(|m| m.to_string()).collect(),
        Some((p, proto)) => mappings
            .iter()
            .filter(|m| m.container_port == p && m.proto == proto)
            .map(|m| m.host_addr())
            .collect(),
    }
}

fn parse_port(s: &str) -> anyhow::Result<(u16, Proto)> {
    let (p, proto) = match s.split_once('/') {
        Some((p, proto)) => (p, proto.parse::<Proto>().map_err(|e| anyhow::anyhow!(e))?),
        None => (s, Proto::Tcp),
    };
    let p = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow::anyhow!("Error: invalid port {s:?}"))?;
    Ok((p, proto))
}

impl PortArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let id = runtime
            .containers()
            .find(&self.container)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = runtime.containers().dir(&id);
        let mappings = load_ports(&dir)?;
        let filter = self.port.as_deref().map(parse_port).transpose()?;
        let out = lines(&mappings, filter);
        if out.is_empty()
            && let Some((p, proto)) = filter
        {
            anyhow::bail!(
                "No public port '{p}/{proto}' published for {}",
                self.container
            );
        }
        for l in out {
            println!("{l}");
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lines_as_docker_prints_them() {
        let ms = vec![
            PortMapping {
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 5000,
                container_port: 5000,
                proto: Proto::Tcp,
            },
            PortMapping {
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        assert_eq!(
            lines(&ms, None),
            ["5000/tcp -> 0.0.0.0:5000", "53/udp -> 127.0.0.1:5353"]
        );
        assert_eq!(
            lines(&ms, Some(parse_port("53/udp").unwrap())),
            ["127.0.0.1:5353"]
        );
        assert!(lines(&ms, Some(parse_port("53").unwrap())).is_empty());
        assert!(parse_port("x").is_err());
    }
}
