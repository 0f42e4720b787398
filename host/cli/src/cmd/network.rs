//! `wrun network SUBCOMMAND`: create, ls, inspect, rm, prune, connect and
//! disconnect, with Docker's flags and output. The work is done by
//! `wrun_runtime::network::NetworkManager`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::os::fd::AsFd;

use anyhow::Context;
use serde_json::{Value, json};
use wrun_runtime::network::{CreateOptions, Network, NetworkManager};

use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove the default network's bridge and NAT rules (kept between
    /// containers, as Docker keeps docker0)
    #[command(hide = true)]
    TeardownDefault(TeardownDefaultArgs),
}

impl NetworkCommand {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        match self {
            NetworkCommand::Create(a) => a.execute(g),
            NetworkCommand::Ls(a) => a.execute(g),
            NetworkCommand::Inspect(a) => a.execute(g),
            NetworkCommand::Rm(a) => a.execute(g),
            NetworkCommand::Prune(a) => a.execute(g),
            NetworkCommand::Connect(a) => a.execute(g),
            NetworkCommand::Disconnect(a) => a.execute(g),
            NetworkCommand::TeardownDefault(a) => a.execute(g),
        }
    }
}

fn open(g: &Global) -> anyhow::Result<NetworkManager> {
    NetworkManager::open(&g.root).map_err(daemon)
}

/// Docker prefixes engine errors this way; scripts grep for the rest.
fn daemon(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("Error response from daemon: {e}")
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (only "bridge")
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Set metadata on a network (KEY=VALUE)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    pub name: String,
}

impl CreateArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.driver != "bridge" {
            anyhow::bail!(daemon(format!(
                "plugin \"{}\" not found: wrun supports the bridge driver only",
                self.driver
            )));
        }
        let labels = self
            .labels
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect::<BTreeMap<_, _>>();
        let net = open(g)?
            .create(
                &self.name,
                CreateOptions {
                    subnet: self.subnet,
                    gateway: self.gateway,
                    labels,
                    internal: self.internal,
                },
            )
            .map_err(daemon)?;
        println!("{}", net.id);
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

fn ls_row(n: &Network, no_trunc: bool) -> Value {
    json!({
        "ID": if no_trunc { n.id.as_str() } else { n.short_id() },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": "local",
        "Internal": n.internal,
        "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "CreatedAt": n.created,
    })
}

impl LsArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let nets = open(g)?;
        nets.ensure_default().map_err(daemon)?;
        let all = nets.list().map_err(daemon)?;
        let mut out = std::io::stdout().lock();
        if let Some(t) = &self.format {
            for n in &all {
                writeln!(
                    out,
                    "{}",
                    crate::format::render(t, &ls_row(n, self.no_trunc))?
                )?;
            }
            return Ok(0);
        }
        if self.quiet {
            for n in &all {
                writeln!(out, "{}", if self.no_trunc { &n.id } else { n.short_id() })?;
            }
            return Ok(0);
        }
        let id_width = if self.no_trunc { 64 } else { 12 };
        let name_width = all.iter().map(|n| n.name.len()).max().unwrap_or(0).max(4);
        writeln!(
            out,
            "{:id_width$}   {:name_width$}   {:6}    SCOPE",
            "NETWORK ID", "NAME", "DRIVER"
        )?;
        for n in &all {
            let id = if self.no_trunc { &n.id } else { n.short_id() };
            writeln!(
                out,
                "{id:id_width$}   {:name_width$}   {:6}    local",
                n.name, n.driver
            )?;
        }
        Ok(0)
    }
}

/// `network inspect`'s object, in Docker's shape.
pub fn inspect_json(n: &Network) -> Value {
    let containers: serde_json::Map<String, Value> = n
        .containers
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                json!({
                    "Name": r.container_name,
                    "EndpointID": r.host_veth,
                    "MacAddress": r.mac,
                    "IPv4Address": format!("{}/{}", r.ip, n.subnet.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}],
        },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    })
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

impl InspectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let nets = open(g)?;
        let mut found = Vec::new();
        let mut code = 0;
        for name in &self.networks {
            match nets.get(name) {
                Ok(n) => found.push(inspect_json(&n)),
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = 1;
                }
            }
        }
        match &self.format {
            Some(t) => {
                for v in &found {
                    println!("{}", crate::format::render(t, v)?);
                }
            }
            None => println!("{}", serde_json::to_string_pretty(&Value::Array(found))?),
        }
        Ok(code)
    }
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

impl RmArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let nets = open(g)?;
        let mut code = 0;
        for name in &self.networks {
            match nets.remove(name) {
                Ok(()) => println!("{name}"),
                Err(e) => {
                    eprintln!("{}", daemon(e));
                    code = 1;
                }
            }
        }
        Ok(code)
    }
}

#[derive(Debug, clap::Args)]
pub struct TeardownDefaultArgs {}

impl TeardownDefaultArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        open(g)?.teardown_default().map_err(daemon)?;
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

impl PruneArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if !self.force {
            print!(
                "WARNING! This will remove all custom networks not used by at least one container.\n\
                 Are you sure you want to continue? [y/N] "
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Ok(0);
            }
        }
        let removed = open(g)?.prune().map_err(daemon)?;
        if !removed.is_empty() {
            println!("Deleted Networks:");
            for n in removed {
                println!("{n}");
            }
        }
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    pub network: String,
    pub container: String,
}

/// The running container's id and an fd of its network namespace.
fn container_netns(g: &Global, key: &str) -> anyhow::Result<(String, std::fs::File)> {
    let runtime = super::run::open_runtime(g)?;
    let state = runtime.get(key).map_err(daemon)?;
    let pid = state
        .pid
        .filter(|_| state.status == wrun_runtime::state::Status::Running)
        .ok_or_else(|| daemon(format!("container {} is not running", state.id)))?;
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path).with_context(|| path.clone())?;
    Ok((state.id, ns))
}

impl ConnectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let (id, ns) = container_netns(g, &self.container)?;
        open(g)?
            .connect(&self.network, &id, ns.as_fd(), &self.aliases)
            .map_err(daemon)?;
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

impl DisconnectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let id = runtime.containers().find(&self.container).map_err(daemon)?;
        open(g)?.disconnect(&self.network, &id).map_err(daemon)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cmd::{Cli, Command};

    use super::NetworkCommand;

    fn parse(line: &str) -> NetworkCommand {
        match Cli::try_parse_from(line.split_whitespace())
            .unwrap()
            .command
        {
            Command::Network(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn network_command_lines() {
        match parse(
            "wrun network create --subnet 10.231.0.0/24 --gateway 10.231.0.1 --label a=b --label c=d mynet",
        ) {
            NetworkCommand::Create(c) => {
                assert_eq!(c.subnet.as_deref(), Some("10.231.0.0/24"));
                assert_eq!(c.gateway.as_deref(), Some("10.231.0.1"));
                assert_eq!(c.labels, ["a=b", "c=d"]);
                assert_eq!(c.name, "mynet");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("wrun network ls -q"), NetworkCommand::Ls(l) if l.quiet));
        assert!(matches!(parse("wrun network prune -f"), NetworkCommand::Prune(p) if p.force));
        match parse("wrun network connect --alias db --alias database backend pg") {
            NetworkCommand::Connect(c) => {
                assert_eq!(c.aliases, ["db", "database"]);
                assert_eq!(
                    (c.network.as_str(), c.container.as_str()),
                    ("backend", "pg")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse("wrun network rm a b"), NetworkCommand::Rm(r) if r.networks.len() == 2)
        );
        assert!(matches!(
            parse("wrun network disconnect backend pg"),
            NetworkCommand::Disconnect(_)
        ));
    }
}
