//! Network records and address leases on disk.
//!
//! `<dir>/lock` (flock) serialises creating and removing networks, so two
//! concurrent `network create` cannot both pass the overlap check;
//! `/run/wrun-nftables.lock` serialises changes to wrun's nftables table. Each network has `<dir>/<id>/lock`
//! guarding its `leases.json` (the allocation file). Files are replaced
//! atomically: temp file, fsync, rename.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{CreateOptions, DEFAULT_BRIDGE, Error, Network, Result, Subnet};

/// One container on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub container_name: String,
    pub hostname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub host_veth: String,
}

/// The allocation file of a network: its endpoints by container id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Leases {
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

impl Leases {
    /// The lowest free address of the subnet: not the network address, the
    /// gateway, the broadcast address or a leased one.
    pub fn allocate(&self, net: &Network) -> Result<Ipv4Addr> {
        let taken: std::collections::HashSet<Ipv4Addr> =
            self.endpoints.values().map(|r| r.ip).collect();
        let first = u32::from(net.subnet.addr) + 1;
        let last = u32::from(net.subnet.broadcast());
        (first..last)
            .map(Ipv4Addr::from)
            .find(|ip| *ip != net.gateway && !taken.contains(ip))
            .ok_or_else(|| Error::Exhausted {
                network: net.name.clone(),
                subnet: net.subnet,
            })
    }
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// The bridge of this state root's default network (see
    /// [`super::default_bridge_and_subnet`]).
    default_bridge: String,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            default_bridge: DEFAULT_BRIDGE.to_string(),
        })
    }

    /// Names the bridge the default network of this store gets.
    pub fn with_default_bridge(mut self, bridge: String) -> Self {
        self.default_bridge = bridge;
        self
    }

    /// The lock serialising network creation and removal.
    pub fn lock_global(&self) -> Result<Flock<File>> {
        lock(&self.dir.join("lock"))
    }

    /// The lock serialising changes to wrun's nftables table. The table is
    /// the host's, shared by every state root, so the lock is in `/run`
    /// (in the state root where `/run` is missing). Lock order: global,
    /// then a network's, then this one.
    pub fn lock_nat(&self) -> Result<Flock<File>> {
        let run = Path::new("/run");
        if run.is_dir() {
            lock(&run.join("wrun-nftables.lock"))
        } else {
            lock(&self.dir.join("nat.lock"))
        }
    }

    /// The lock of one network's allocation file.
    pub fn lock_network(&self, net: &Network) -> Result<Flock<File>> {
        lock(&self.dir.join(&net.id).join("lock"))
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let mut all = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let path = entry.path().join("network.json");
            match fs::read(&path) {
                Ok(bytes) => {
                    all.push(serde_json::from_slice(&bytes).map_err(|e| Error::State {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?)
                }
                // Not a network directory, or one being removed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {}
                Err(e) => return Err(Error::io(path)(e)),
            }
        }
        Ok(all)
    }

    /// By exact name, exact id, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Option<Network>> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(Some(n.clone()));
        }
        let mut by_prefix = all.into_iter().filter(|n| n.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) if !key.is_empty() => Ok(Some(n)),
            _ => Ok(None),
        }
    }

    pub fn create(&self, name: &str, opts: CreateOptions, default: bool) -> Result<Network> {
        self.create_avoiding(name, opts, default, &[], 0)
    }

    /// [`create`](Self::create), where an automatic subnet also stays
    /// clear of `avoid` (the host's routes: a LAN, another state root's
    /// bridge) and is searched from slot `first` of the pool on.
    pub fn create_avoiding(
        &self,
        name: &str,
        opts: CreateOptions,
        default: bool,
        avoid: &[Subnet],
        first: u8,
    ) -> Result<Network> {
        let _lock = self.lock_global()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(Error::Exists(name.to_string()));
        }
        let subnet = match &opts.subnet {
            Some(s) => s.parse::<Subnet>()?,
            None => free_subnet(&existing, avoid, first)?,
        };
        for other in &existing {
            if subnet.overlaps(other.subnet) {
                return Err(Error::Overlap {
                    name: name.to_string(),
                    subnet,
                    other: other.name.clone(),
                    other_subnet: other.subnet,
                });
            }
        }
        let gateway = match &opts.gateway {
            None => subnet.first_host(),
            Some(g) => {
                let bad = |reason: &str| Error::InvalidGateway {
                    value: g.clone(),
                    reason: reason.to_string(),
                };
                let ip: Ipv4Addr = g.parse().map_err(|_| bad("not an IPv4 address"))?;
                if !subnet.contains(ip) || ip == subnet.addr || ip == subnet.broadcast() {
                    return Err(bad(&format!("not a host address of subnet {subnet}")));
                }
                ip
            }
        };
        let id = crate::ids::new_id().map_err(Error::io("/dev/urandom"))?;
        let bridge = if default {
            self.default_bridge.clone()
        } else {
            format!("wrun-{}", &id[..10])
        };
        let net = Network {
            id: id.clone(),
            name: name.to_string(),
            driver: "bridge".into(),
            subnet,
            gateway,
            bridge,
            labels: opts.labels,
            internal: opts.internal,
            created: crate::state::now_rfc3339(),
            containers: BTreeMap::new(),
        };
        let dir = self.dir.join(&id);
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        write_json(&dir.join("leases.json"), &Leases::default())?;
        // network.json last: a directory without it is not (yet) a network.
        write_json(&dir.join("network.json"), &net)?;
        Ok(net)
    }

    /// Removes `net` if it has no endpoints; `cleanup` runs first, under
    /// both locks.
    pub fn remove(
        &self,
        net: &Network,
        cleanup: impl FnOnce(&Network) -> Result<()>,
    ) -> Result<()> {
        let _global = self.lock_global()?;
        let _lock = self.lock_network(net)?;
        if !self.leases(net)?.endpoints.is_empty() {
            return Err(Error::ActiveEndpoints {
                name: net.name.clone(),
                id: net.id.clone(),
            });
        }
        cleanup(net)?;
        let dir = self.dir.join(&net.id);
        let json = dir.join("network.json");
        fs::remove_file(&json).map_err(Error::io(&json))?;
        fs::remove_dir_all(&dir).map_err(Error::io(&dir))
    }

    pub fn leases(&self, net: &Network) -> Result<Leases> {
        let path = self.dir.join(&net.id).join("leases.json");
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::State {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Leases::default()),
            Err(e) => Err(Error::io(path)(e)),
        }
    }

    pub fn save_leases(&self, net: &Network, leases: &Leases) -> Result<()> {
        write_json(&self.dir.join(&net.id).join("leases.json"), leases)
    }
}

/// The first `10.89.N.0/24` (N = `first`, `first` + 1, … wrapping) that
/// overlaps no network and nothing in `avoid`.
fn free_subnet(existing: &[Network], avoid: &[Subnet], first: u8) -> Result<Subnet> {
    (0..=255u8)
        .map(|i| Subnet {
            addr: Ipv4Addr::new(10, 89, first.wrapping_add(i), 0),
            prefix: 24,
        })
        .find(|s| {
            existing.iter().all(|o| !s.overlaps(o.subnet)) && avoid.iter().all(|a| !s.overlaps(*a))
        })
        .ok_or_else(|| Error::InvalidSubnet {
            value: "10.89.0.0/16".into(),
            reason: "every /24 of the automatic pool is in use; pass --subnet".into(),
        })
}

fn lock(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(path))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("flock {}", path.display()))(e))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::State {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(Error::io(&tmp))?;
    fs::rename(&tmp, path).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("networks")).unwrap();
        (dir, store)
    }

    fn opts(subnet: &str) -> CreateOptions {
        CreateOptions {
            subnet: Some(subnet.into()),
            ..Default::default()
        }
    }

    #[test]
    fn overlapping_subnets_are_refused_naming_both() {
        let (_d, s) = store();
        s.create("one", opts("10.231.0.0/16"), false).unwrap();
        let e = s
            .create("two", opts("10.231.5.0/24"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10.231.5.0/24") && e.contains("10.231.0.0/16"),
            "{e}"
        );
        assert!(e.contains("one") && e.contains("two"), "{e}");
        assert!(matches!(
            s.create("one", opts("10.232.0.0/24"), false),
            Err(Error::Exists(_))
        ));
    }

    #[test]
    fn automatic_subnets_skip_used_ones() {
        let (_d, s) = store();
        s.create("a", opts("10.89.0.0/24"), false).unwrap();
        let b = s.create("b", CreateOptions::default(), false).unwrap();
        let avoid = ["10.89.2.0/23".parse().unwrap()];
        let c = s
            .create_avoiding("c", CreateOptions::default(), false, &avoid, 0)
            .unwrap();
        assert_eq!(c.subnet.to_string(), "10.89.4.0/24");
        assert_eq!(b.subnet.to_string(), "10.89.1.0/24");
        assert_eq!(b.gateway, Ipv4Addr::new(10, 89, 1, 1));
        assert!(b.bridge.starts_with("wrun-") && b.bridge.len() <= 15);
    }

    #[test]
    fn gateway_must_be_a_host_of_the_subnet() {
        let (_d, s) = store();
        let mut o = opts("10.231.9.0/24");
        o.gateway = Some("10.231.10.1".into());
        let e = s.create("g", o, false).unwrap_err().to_string();
        assert!(e.contains("10.231.10.1"), "{e}");
    }

    #[test]
    fn leases_take_the_lowest_free_address_and_skip_the_gateway() {
        let (_d, s) = store();
        let net = s.create("l", opts("10.231.2.0/29"), false).unwrap();
        let mut leases = s.leases(&net).unwrap();
        let mut got = Vec::new();
        for i in 0..5 {
            let ip = leases.allocate(&net).unwrap();
            got.push(ip);
            leases.endpoints.insert(
                format!("c{i}"),
                EndpointRecord {
                    container_name: format!("c{i}"),
                    hostname: String::new(),
                    aliases: vec![],
                    ip,
                    mac: String::new(),
                    host_veth: String::new(),
                },
            );
        }
        assert_eq!(got[0], Ipv4Addr::new(10, 231, 2, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 231, 2, 6));
        assert!(matches!(
            leases.allocate(&net),
            Err(Error::Exhausted { .. })
        ));
        leases.endpoints.remove("c1");
        s.save_leases(&net, &leases).unwrap();
        let again = s.leases(&net).unwrap();
        assert_eq!(again.allocate(&net).unwrap(), Ipv4Addr::new(10, 231, 2, 3));
    }

    #[test]
    fn remove_refuses_a_network_with_endpoints() {
        let (_d, s) = store();
        let net = s.create("busy", opts("10.231.3.0/24"), false).unwrap();
        let mut leases = Leases::default();
        let ip = leases.allocate(&net).unwrap();
        leases.endpoints.insert(
            "abc".into(),
            EndpointRecord {
                container_name: "x".into(),
                hostname: "x".into(),
                aliases: vec![],
                ip,
                mac: String::new(),
                host_veth: String::new(),
            },
        );
        s.save_leases(&net, &leases).unwrap();
        let e = s.remove(&net, |_| Ok(())).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "error while removing network: network busy id {} has active endpoints",
                net.id
            )
        );
        s.save_leases(&net, &Leases::default()).unwrap();
        s.remove(&net, |_| Ok(())).unwrap();
        assert!(s.find("busy").unwrap().is_none());
    }
}
