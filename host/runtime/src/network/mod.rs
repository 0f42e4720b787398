//! Container networking: bridge networks, veth pairs, address leases,
//! outbound NAT, `/etc/hosts` kept current, and published ports.
//!
//! A network is a Linux bridge on the host (`wrun0` for the default network
//! `bridge`, `wrun-<10 hex of its id>` for user-defined ones) whose own
//! address is the gateway. A container gets a network namespace of its own,
//! made without any bind mount ([`netns`]): a thread `unshare`s
//! `CLONE_NEWNET` and hands back an fd of `/proc/thread-self/ns/net`, so the
//! namespace lives exactly as long as someone holds it (the fd, later the
//! container's processes) and nothing can be left mounted on the host.
//! Each attachment is a veth pair: the host end (`wr<8 hex>`) joins the
//! bridge, the other becomes `eth0`, `eth1`, … inside with an address leased
//! from the network's allocation file ([`store`], `flock`ed, written
//! atomically) and, on the first one, the default route via the gateway.
//! Links, addresses and routes are made over rtnetlink ([`link`]); outbound
//! NAT is a masquerade rule per network in wrun's own nftables table
//! `ip wrun` ([`nat`]), removed by handle when the last container of a
//! user-defined network is gone (see `nft(8)`). The default network's bridge
//! and rules stay once made, as Docker keeps `docker0`: a lone `wrun run`
//! would otherwise make and delete both every time (≈ 150 ms, most of it in
//! `nft`); `wrun network teardown-default` removes them.
//!
//! Names resolve through `/etc/hosts` ([`hosts`]): on user-defined networks
//! every container's hosts file lists the others, and is rewritten in place
//! (same inode, it is bind-mounted) whenever one joins or leaves.
//! Published ports are served by a userspace proxy ([`ports`]).
//!
//! State lives under `<root>/networks/`: `<id>/network.json` (what `network
//! inspect` shows) and `<id>/leases.json` (one endpoint per container),
//! guarded by `<id>/lock`; `lock` at the top serialises creating and
//! removing networks (the overlap check) and changes to the nftables table.

mod hosts;
mod link;
mod nat;
mod netns;
pub mod ports;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use ports::{PortMapping, PortProxy, Proto, ProxyHandle, expose_all, parse_publish};
use store::{EndpointRecord, Store};

/// Name of the default network, as Docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Bridge of the default network.
pub const DEFAULT_BRIDGE: &str = "wrun0";
/// Subnet of the default network unless `WRUN_DEFAULT_SUBNET` says otherwise.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";
/// The bridge and subnet of a state root's default network.
///
/// Bridges, addresses and routes are the host's, shared by every state root,
/// while leases live in each root. So only the standard root
/// (`/var/lib/wrun`) gets `wrun0` and 10.88.0.0/16; any other root (tests,
/// a second installation) gets a bridge and a /24 of its own, derived from a
/// hash of its path — `wr` + 6 hex digits in 10.200.0.0–10.249.255.0 — so
/// two roots never hand out the same address on the same bridge, nor tear
/// down each other's bridge.
pub fn default_bridge_and_subnet(state_root: &Path) -> (String, String) {
    if state_root == Path::new("/var/lib/wrun") {
        return (DEFAULT_BRIDGE.to_string(), DEFAULT_SUBNET.to_string());
    }
    let (bridge, first) = root_bridge_and_slot(state_root);
    (bridge, test_root_subnet(first))
}

/// How many /24s other state roots choose their default subnet from
/// (10.200.0.0 to 10.249.255.0).
const ROOT_SUBNET_SLOTS: usize = 50 * 256;

/// The bridge name of a non-default state root and the slot its default
/// subnet search starts at, both from a hash of the root's path.
fn root_bridge_and_slot(state_root: &Path) -> (String, usize) {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(state_root.as_os_str().as_encoded_bytes());
    let bridge = format!("wr{}", &hex::encode(digest)[..6]);
    let slot = (usize::from(digest[3]) % 50) * 256 + usize::from(digest[4]);
    (bridge, slot)
}

fn test_root_subnet(slot: usize) -> String {
    let slot = slot % ROOT_SUBNET_SLOTS;
    format!("10.{}.{}.0/24", 200 + slot / 256, slot % 256)
}

/// The subnet a new default network of `state_root` gets: the hashed one
/// unless a host route (another root's bridge, a LAN) already covers it,
/// in which case the next free /24, as Docker moves on through its pool.
fn free_default_subnet(state_root: &Path) -> Result<String> {
    if state_root == Path::new("/var/lib/wrun") {
        return Ok(DEFAULT_SUBNET.to_string());
    }
    let routes = link::host_routes()?;
    let (_, first) = root_bridge_and_slot(state_root);
    for k in 0..ROOT_SUBNET_SLOTS {
        let candidate = test_root_subnet(first + k);
        let subnet: Subnet = candidate.parse()?;
        if !routes.iter().any(|(route, _)| route.overlaps(subnet)) {
            return Ok(candidate);
        }
    }
    Ok(test_root_subnet(first))
}

/// Environment variable overriding [`DEFAULT_SUBNET`].
pub const DEFAULT_SUBNET_ENV: &str = "WRUN_DEFAULT_SUBNET";

/// Everything that can go wrong in networking. Messages follow Docker's
/// where Docker has one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("invalid subnet {value:?}: {reason}")]
    InvalidSubnet { value: String, reason: String },
    #[error("invalid gateway {value:?}: {reason}")]
    InvalidGateway { value: String, reason: String },
    #[error(
        "Pool overlaps with other one on this address space: subnet {subnet} of network \
         {name} overlaps subnet {other_subnet} of network {other}"
    )]
    Overlap {
        name: String,
        subnet: Subnet,
        other: String,
        other_subnet: Subnet,
    },
    #[error("subnet {subnet} of network {name} overlaps the host's route to {route} via {dev}")]
    RouteOverlap {
        name: String,
        subnet: Subnet,
        route: Subnet,
        dev: String,
    },
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("no available IPv4 addresses on network {network} ({subnet})")]
    Exhausted { network: String, subnet: Subnet },
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { network: String, container: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { network: String, container: String },
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("nft: {0}")]
    Nft(String),
    #[error("{what}: {errno}")]
    Sys {
        what: String,
        errno: nix::errno::Errno,
    },
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    /// A host port could not be bound (Docker's wording).
    #[error("Bind for {addr} failed: port is already allocated")]
    PortAllocated { addr: String },
    #[error("Bind for {addr} failed: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("port proxy: {0}")]
    Proxy(std::io::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
        let what = what.into();
        move |errno| Error::Sys { what, errno }
    }
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An IPv4 subnet, `a.b.c.d/len`, always stored with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// Whether `ip` lies in this subnet.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(self, other: Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first usable host address (`.1`): the default gateway.
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The broadcast address.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidSubnet {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected an IPv4 CIDR such as 10.89.0.0/24"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad("the prefix length must be 0 to 32"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be 8 to 30"));
        }
        let mut subnet = Subnet { addr, prefix };
        subnet.addr = Ipv4Addr::from(u32::from(addr) & subnet.mask());
        Ok(subnet)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--subnet`; a free `10.89.N.0/24` is chosen when absent.
    pub subnet: Option<String>,
    /// `--gateway`; the subnet's `.1` when absent.
    pub gateway: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// `--internal`: no outbound NAT and no default route.
    pub internal: bool,
}

/// A network as kept in `<root>/networks/<id>/network.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// Always `bridge` for now.
    pub driver: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// The Linux bridge carrying it.
    pub bridge: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
    /// RFC 3339.
    pub created: String,
    /// Containers attached now, by id (filled in by `list`, `get`).
    #[serde(
        skip_deserializing,
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub containers: BTreeMap<String, EndpointRecord>,
}

impl Network {
    /// User-defined networks resolve container names; the default does not
    /// (as Docker's default bridge).
    pub fn is_user_defined(&self) -> bool {
        self.name != DEFAULT_NETWORK
    }

    /// The id shortened to 12 characters, as `network ls` shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// One network a container joins, with the names it answers to there.
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
    pub container_name: String,
}

/// A container's place on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub host_veth: String,
}

/// Networks under one state root.
#[derive(Debug)]
pub struct NetworkManager {
    store: Store,
    state_root: PathBuf,
    containers_dir: PathBuf,
    ip_forward: bool,
}

impl NetworkManager {
    /// Opens (creating if needed) `<state_root>/networks/`.
    pub fn open(state_root: &Path) -> Result<Self> {
        let (bridge, _) = default_bridge_and_subnet(state_root);
        Ok(Self {
            store: Store::open(&state_root.join("networks"))?.with_default_bridge(bridge),
            state_root: state_root.to_path_buf(),
            containers_dir: state_root.join("containers"),
            ip_forward: true,
        })
    }

    /// Never turn on `net.ipv4.ip_forward` (which [`setup_container`]
    /// otherwise does for non-internal networks when it is off, as Docker
    /// does). Outbound traffic beyond the host then needs forwarding turned
    /// on by the administrator; tests use this to leave the host as it is.
    ///
    /// [`setup_container`]: Self::setup_container
    pub fn without_ip_forward(mut self) -> Self {
        self.ip_forward = false;
        self
    }

    /// `network create NAME`.
    pub fn create(&self, name: &str, opts: CreateOptions) -> Result<Network> {
        if !crate::ids::valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        if name == DEFAULT_NETWORK || name == "host" || name == "none" {
            return Err(Error::Exists(name.to_string()));
        }
        let avoid: Vec<Subnet> = match &opts.subnet {
            Some(subnet) => {
                check_host_routes(name, subnet.parse()?, None)?;
                Vec::new()
            }
            None => link::host_routes()?.into_iter().map(|(r, _)| r).collect(),
        };
        self.store
            .create_avoiding(name, opts, false, &avoid, self.first_user_slot(name))
    }

    /// Where the search for a user network's automatic subnet starts: 0 for
    /// the standard root (as Podman's pool), else a slot hashed from the
    /// root and the name, so parallel roots (whose bridges, and so routes,
    /// appear only with their first container) seldom race for one /24.
    fn first_user_slot(&self, name: &str) -> u8 {
        if self.state_root == Path::new("/var/lib/wrun") {
            return 0;
        }
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.state_root.as_os_str().as_encoded_bytes());
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.finalize()[0]
    }

    /// The default network `bridge` (bridge `wrun0`), made on first use.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Some(n) = self.store.find(DEFAULT_NETWORK)? {
            return Ok(n);
        }
        let subnet = match std::env::var(DEFAULT_SUBNET_ENV) {
            Ok(subnet) => subnet,
            Err(_) => free_default_subnet(&self.state_root)?,
        };
        let opts = CreateOptions {
            subnet: Some(subnet),
            ..Default::default()
        };
        match self.store.create(DEFAULT_NETWORK, opts, true) {
            Err(Error::Exists(_)) => self.get(DEFAULT_NETWORK),
            r => r,
        }
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut all = self.store.list()?;
        for n in &mut all {
            n.containers = self.store.leases(n)?.endpoints;
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// A network by name, id or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        if name_or_id == DEFAULT_NETWORK {
            self.ensure_default()?;
        }
        let mut n = self
            .store
            .find(name_or_id)?
            .ok_or_else(|| Error::NotFound(name_or_id.to_string()))?;
        n.containers = self.store.leases(&n)?.endpoints;
        Ok(n)
    }

    /// `network rm`: refused while containers are attached.
    pub fn remove(&self, name: &str) -> Result<()> {
        let net = self.get(name)?;
        if !net.is_user_defined() {
            return Err(Error::Predefined(net.name));
        }
        self.store.remove(&net, |net| {
            // Normally gone with the last container; a crash may have left them.
            link::delete_bridge(&net.bridge)?;
            nat::remove(&self.store, &net.id)
        })
    }

    /// Removes the default network's bridge and NAT rules, which otherwise
    /// stay from its first container on (as Docker keeps `docker0`):
    /// `wrun network teardown-default`, for uninstalling wrun or removing a
    /// state root (tests do, for theirs). Refused while a container is
    /// attached; nothing to do when the network was never used.
    pub fn teardown_default(&self) -> Result<()> {
        let Some(net) = self.store.find(DEFAULT_NETWORK)? else {
            return Ok(());
        };
        let _lock = self.store.lock_network(&net)?;
        let leases = self.store.leases(&net)?;
        if let Some(id) = leases.endpoints.keys().next() {
            return Err(Error::ActiveEndpoints {
                name: net.name.clone(),
                id: id.clone(),
            });
        }
        link::delete_bridge(&net.bridge)?;
        nat::remove(&self.store, &net.id)
    }

    /// `network prune`: removes every user-defined network without
    /// containers; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for net in self.list()? {
            if !net.is_user_defined() || !net.containers.is_empty() {
                continue;
            }
            match self.remove(&net.name) {
                Ok(()) => removed.push(net.name),
                Err(Error::ActiveEndpoints { .. } | Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// A new network namespace for container `id`, attached to
    /// `attachments` and fully configured (`lo` up; per attachment a veth
    /// pair, `eth0`, `eth1`, … with a leased address, the default route via
    /// the first network's gateway, NAT in place). On failure everything
    /// made is undone.
    pub fn setup_container(
        &self,
        id: &str,
        hostname: &str,
        attachments: &[Attachment],
    ) -> Result<(OwnedFd, Vec<Endpoint>)> {
        let ns = netns::create()?;
        link::loopback_up(ns.as_fd())?;
        let mut guard = TeardownGuard {
            manager: self,
            id,
            armed: true,
        };
        let mut endpoints = Vec::new();
        for (i, a) in attachments.iter().enumerate() {
            let ifname = format!("eth{i}");
            let ep = self.attach(
                &a.network,
                id,
                ns.as_fd(),
                &ifname,
                &a.container_name,
                hostname,
                &a.aliases,
                i == 0,
            )?;
            endpoints.push(ep);
        }
        guard.armed = false;
        Ok((ns, endpoints))
    }

    /// Undoes [`setup_container`](Self::setup_container) and every
    /// [`connect`](Self::connect). Idempotent.
    pub fn teardown_container(&self, id: &str) -> Result<()> {
        let mut first_error = None;
        for net in self.store.list()? {
            if let Err(e) = self.detach(&net, id) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Publishes container `id`'s IPv4 ports with DNAT to its address on
    /// `endpoint` (the userspace proxy keeps the host ports bound and
    /// serves what DNAT does not catch, such as IPv6).
    pub fn publish_ports(
        &self,
        id: &str,
        endpoint: &Endpoint,
        ports: &[PortMapping],
    ) -> Result<()> {
        let net = self.get(&endpoint.network)?;
        nat::publish(&self.store, id, &net.bridge, endpoint.ip, ports)
    }

    /// Removes what [`publish_ports`](Self::publish_ports) installed.
    /// Idempotent.
    pub fn unpublish_ports(&self, id: &str) -> Result<()> {
        nat::unpublish(&self.store, id)
    }

    /// `network connect` of a running container whose namespace is `netns`.
    pub fn connect(
        &self,
        network: &str,
        id: &str,
        netns: BorrowedFd,
        aliases: &[String],
    ) -> Result<Endpoint> {
        let (name, hostname) = self.container_names(id);
        let ifname = link::free_ifname(netns)?;
        let first = ifname == "eth0";
        let endpoint = self.attach(
            network, id, netns, &ifname, &name, &hostname, aliases, first,
        )?;
        self.refresh_own(id);
        Ok(endpoint)
    }

    /// `network disconnect`.
    pub fn disconnect(&self, network: &str, id: &str) -> Result<()> {
        let net = self.get(network)?;
        if !net.containers.contains_key(id) {
            return Err(Error::NotConnected {
                network: net.name,
                container: id.to_string(),
            });
        }
        self.detach(&net, id)?;
        self.refresh_own(id);
        Ok(())
    }

    /// The `/etc/hosts` content for container `id`.
    pub fn hosts_file(&self, id: &str) -> Result<String> {
        let mut own = Vec::new();
        let mut peers = Vec::new();
        for net in self.list()? {
            let Some(me) = net.containers.get(id) else {
                continue;
            };
            own.push(me.clone());
            if net.is_user_defined() {
                peers.extend(
                    net.containers
                        .iter()
                        .filter(|(peer, _)| peer.as_str() != id)
                        .map(|(_, r)| r.clone()),
                );
            }
        }
        let extra = std::fs::read_to_string(self.containers_dir.join(id).join(hosts::EXTRA_FILE))
            .unwrap_or_default();
        Ok(hosts::render(&own, &peers, &extra))
    }

    /// The host's resolv.conf minus loopback nameservers.
    pub fn resolv_conf(host_resolv: &str) -> String {
        hosts::resolv_conf(host_resolv)
    }

    #[allow(clippy::too_many_arguments)] // an internal step; every argument is needed
    fn attach(
        &self,
        network: &str,
        id: &str,
        ns: BorrowedFd,
        ifname: &str,
        container_name: &str,
        hostname: &str,
        aliases: &[String],
        default_route: bool,
    ) -> Result<Endpoint> {
        let net = if network == DEFAULT_NETWORK {
            self.ensure_default()?
        } else {
            self.get(network)?
        };
        let host_veth = link::host_veth_name(id, &net.id);
        let endpoint = {
            let _lock = self.store.lock_network(&net)?;
            let mut leases = self.store.leases(&net)?;
            if leases.endpoints.contains_key(id) {
                return Err(Error::AlreadyConnected {
                    network: net.name.clone(),
                    container: container_name.to_string(),
                });
            }
            let ip = leases.allocate(&net)?;
            let mac = link::mac_for(ip);
            let record = EndpointRecord {
                container_name: container_name.to_string(),
                hostname: hostname.to_string(),
                aliases: aliases.to_vec(),
                ip,
                mac: mac.clone(),
                host_veth: host_veth.clone(),
            };
            let first_on_network = leases.endpoints.is_empty();
            leases.endpoints.insert(id.to_string(), record);
            self.store.save_leases(&net, &leases)?;
            let made = (|| {
                let bridge_exists = link::exists(&net.bridge)?;
                // A user network's bridge and rules come with its first
                // container and go with its last (under this lease lock):
                // containers joining a network already in use need no `nft`
                // call at all. The default network's are made together when
                // its bridge is missing and then kept (see `detach`), so a
                // bridge that exists has its rules.
                let make = if net.is_user_defined() {
                    first_on_network || !bridge_exists
                } else {
                    !bridge_exists
                };
                if make {
                    check_host_routes(&net.name, net.subnet, Some(&net.bridge))?;
                    link::ensure_bridge(&net.bridge, net.gateway, net.subnet.prefix)?;
                }
                if !net.internal && self.ip_forward {
                    nat::enable_ip_forward()?;
                }
                if make {
                    nat::ensure(&self.store, &net)?;
                }
                let gateway = (default_route && !net.internal).then_some(net.gateway);
                link::add_veth(
                    &host_veth,
                    &net.bridge,
                    ns,
                    ifname,
                    &mac,
                    ip,
                    net.subnet.prefix,
                    gateway,
                )
            })();
            if let Err(e) = made {
                leases.endpoints.remove(id);
                let _ = self.store.save_leases(&net, &leases);
                let _ = link::delete_link(&host_veth);
                if leases.endpoints.is_empty() {
                    let _ = link::delete_bridge(&net.bridge);
                    let _ = nat::remove(&self.store, &net.id);
                }
                return Err(e);
            }
            Endpoint {
                network: net.name.clone(),
                ip,
                prefix: net.subnet.prefix,
                gateway: net.gateway,
                mac,
                host_veth,
            }
        };
        if net.is_user_defined() {
            self.refresh_peers(&net, id);
        }
        tracing::debug!(network = %net.name, container = id, ip = %endpoint.ip, "attached");
        Ok(endpoint)
    }

    fn detach(&self, net: &Network, id: &str) -> Result<()> {
        {
            let _lock = self.store.lock_network(net)?;
            let mut leases = self.store.leases(net)?;
            let Some(record) = leases.endpoints.remove(id) else {
                return Ok(());
            };
            link::delete_link(&record.host_veth)?;
            self.store.save_leases(net, &leases)?;
            // The default network's bridge and rules stay for the next
            // container (see `attach`).
            if leases.endpoints.is_empty() && net.is_user_defined() {
                link::delete_bridge(&net.bridge)?;
                nat::remove(&self.store, &net.id)?;
            }
        }
        if net.is_user_defined() {
            self.refresh_peers(net, id);
        }
        Ok(())
    }

    /// Rewrites, in place, the hosts file of every container on `net` but
    /// `changed`. A container without a hosts file (not created by wrun's
    /// runtime, or already removed) is skipped.
    fn refresh_peers(&self, net: &Network, changed: &str) {
        let Ok(leases) = self.store.leases(net) else {
            return;
        };
        for peer in leases.endpoints.keys().filter(|p| p.as_str() != changed) {
            self.refresh_own(peer);
        }
    }

    /// Rewrites container `id`'s own hosts file in place, if it has one.
    fn refresh_own(&self, id: &str) {
        let path = self.containers_dir.join(id).join("hosts");
        if !path.exists() {
            return;
        }
        match self.hosts_file(id) {
            Ok(content) => {
                if let Err(e) = hosts::rewrite_in_place(&path, &content) {
                    tracing::warn!("updating {}: {e}", path.display());
                }
            }
            Err(e) => tracing::warn!("hosts file of {id}: {e}"),
        }
    }

    /// The name and hostname of a container for `connect`: from one of its
    /// endpoints, else its state and hostname file, else its short id.
    fn container_names(&self, id: &str) -> (String, String) {
        if let Ok(nets) = self.list() {
            for n in nets {
                if let Some(r) = n.containers.get(id) {
                    return (r.container_name.clone(), r.hostname.clone());
                }
            }
        }
        let short = id[..12.min(id.len())].to_string();
        let dir = self.containers_dir.join(id);
        let name = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("name")?.as_str().map(str::to_string))
            .unwrap_or_else(|| short.clone());
        let hostname = std::fs::read_to_string(dir.join("hostname"))
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or(short);
        (name, hostname)
    }
}

/// Refuses a subnet that overlaps a route of the host (a LAN, a VPN,
/// another runtime's bridge), as Docker does: the bridge's route would
/// shadow it or be shadowed. Routes through `own_bridge` do not count.
fn check_host_routes(name: &str, subnet: Subnet, own_bridge: Option<&str>) -> Result<()> {
    for (route, dev) in link::host_routes()? {
        if Some(dev.as_str()) != own_bridge && route.overlaps(subnet) {
            return Err(Error::RouteOverlap {
                name: name.to_string(),
                subnet,
                route,
                dev,
            });
        }
    }
    Ok(())
}

/// Tears a half-made container network down unless disarmed.
struct TeardownGuard<'a> {
    manager: &'a NetworkManager,
    id: &'a str,
    armed: bool,
}

impl Drop for TeardownGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = self.manager.teardown_container(self.id)
        {
            tracing::warn!("cleaning up the network of {}: {e}", self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a: Subnet = "10.231.1.7/24".parse().unwrap();
        assert_eq!(a.to_string(), "10.231.1.0/24");
        assert_eq!(a.first_host(), Ipv4Addr::new(10, 231, 1, 1));
        assert_eq!(a.broadcast(), Ipv4Addr::new(10, 231, 1, 255));
        let b: Subnet = "10.231.0.0/16".parse().unwrap();
        let c: Subnet = "10.232.0.0/16".parse().unwrap();
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!b.overlaps(c));
        for bad in [
            "10.0.0.0",
            "10.0.0/24",
            "10.0.0.0/33",
            "x/24",
            "10.0.0.0/31",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
