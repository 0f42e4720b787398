//! Outbound NAT with nftables, in wrun's own table `ip wrun`.
//!
//! Per network, three rules tagged with the comment `wrun:<network id>`:
//! a masquerade in `postrouting` for traffic from the subnet leaving by
//! another interface, and in `forward` an accept for traffic from the
//! bridge and for replies to it (an internal network gets a drop for
//! traffic leaving the bridge instead). They are removed by handle, and the
//! table with the last of them, so wrun never touches a rule it did not
//! make. Driven through the `nft` command (`nft -f -`, `nft -j -a list`):
//! this is set-up, not a hot path.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use super::store::Store;
use super::{Error, Network, PortMapping, Result};

const TABLE: &str = "wrun";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn tag(network_id: &str) -> String {
    format!("wrun:{}", &network_id[..12.min(network_id.len())])
}

fn nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running nft: {e} (is nftables installed?)")))?;
    if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(script.as_bytes())
            .map_err(|e| Error::Nft(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A rule of wrun's table: chain, handle, comment.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    chain: String,
    handle: u64,
    comment: Option<String>,
}

/// The rules of `ip wrun`, or `None` when the table does not exist.
fn rules() -> Result<Option<Vec<Rule>>> {
    let out = match nft(&["-j", "-a", "list", "table", "ip", TABLE], None) {
        Ok(o) => o,
        Err(Error::Nft(msg)) if msg.contains("No such file or directory") => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_rules(&out).map(Some)
}

fn parse_rules(json: &str) -> Result<Vec<Rule>> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::Nft(format!("reading nft -j: {e}")))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| item.get("rule"))
        .filter_map(|r| {
            Some(Rule {
                chain: r.get("chain")?.as_str()?.to_string(),
                handle: r.get("handle")?.as_u64()?,
                comment: r
                    .get("comment")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
            })
        })
        .collect())
}

fn script(net: &Network) -> String {
    let tag = tag(&net.id);
    let br = &net.bridge;
    let mut s = format!(
        "add table ip {TABLE}\n\
         add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         add chain ip {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}\n"
    );
    if net.internal {
        s += &format!(
            "add rule ip {TABLE} forward iifname \"{br}\" oifname != \"{br}\" drop comment \"{tag}\"\n\
             add rule ip {TABLE} forward oifname \"{br}\" iifname != \"{br}\" drop comment \"{tag}\"\n"
        );
    } else {
        s += &format!(
            "add rule ip {TABLE} postrouting ip saddr {} oifname != \"{br}\" masquerade comment \"{tag}\"\n\
             add rule ip {TABLE} forward iifname \"{br}\" accept comment \"{tag}\"\n\
             add rule ip {TABLE} forward oifname \"{br}\" ct state established,related accept comment \"{tag}\"\n",
            net.subnet
        );
    }
    s
}

/// Installs `net`'s rules unless they are there.
pub fn ensure(store: &Store, net: &Network) -> Result<()> {
    let _lock = store.lock_nat()?;
    let tag = tag(&net.id);
    if let Some(rules) = rules()?
        && rules
            .iter()
            .any(|r| r.comment.as_deref() == Some(tag.as_str()))
    {
        return Ok(());
    }
    nft(&["-f", "-"], Some(&script(net)))?;
    Ok(())
}

/// Removes `network_id`'s rules, and the table when nothing else is in it.
pub fn remove(store: &Store, network_id: &str) -> Result<()> {
    remove_tagged(store, &tag(network_id))
}

/// The comment on a container's port rules.
fn port_tag(container_id: &str) -> String {
    format!("wrun:c:{}", &container_id[..12.min(container_id.len())])
}

/// The rules publishing a container's IPv4 ports with DNAT, as Docker
/// without its userland proxy and Podman's netavark do: the kernel
/// forwards the connection straight to the container's address, at the
/// bridge's speed, instead of a proxy copying every byte twice.
///
/// `prerouting` catches connections arriving from outside and from other
/// containers, `output` those made on the host itself (including to
/// `127.0.0.1`, which `route_localnet` on the bridge lets leave loopback).
/// Sources the container could not answer, loopback and the container
/// itself (hairpin), are masqueraded to the bridge's address.
fn port_script(container_id: &str, bridge: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> String {
    let tag = port_tag(container_id);
    let mut s = format!(
        "add table ip {TABLE}\n\
         add chain ip {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         add chain ip {TABLE} output {{ type nat hook output priority -100; policy accept; }}\n\
         add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
    );
    let mut any = false;
    for p in ports {
        let daddr = match p.host_ip {
            IpAddr::V4(a) if a.is_unspecified() => "fib daddr type local".to_string(),
            IpAddr::V4(a) => format!("ip daddr {a}"),
            // IPv6 host addresses stay with the userspace proxy.
            IpAddr::V6(_) => continue,
        };
        any = true;
        let (proto, hp, cp) = (p.proto, p.host_port, p.container_port);
        for chain in ["prerouting", "output"] {
            s += &format!(
                "add rule ip {TABLE} {chain} {daddr} {proto} dport {hp} dnat to {ip}:{cp} comment \"{tag}\"\n"
            );
        }
    }
    if !any {
        return String::new();
    }
    s += &format!(
        "add rule ip {TABLE} postrouting oifname \"{bridge}\" ip saddr 127.0.0.0/8 ip daddr {ip} masquerade comment \"{tag}\"\n\
         add rule ip {TABLE} postrouting oifname \"{bridge}\" ip saddr {ip} ip daddr {ip} masquerade comment \"{tag}\"\n"
    );
    s
}

/// Installs the DNAT rules for a container's published IPv4 ports (see
/// [`port_script`]) and lets `bridge` carry loopback-sourced packets.
pub fn publish(
    store: &Store,
    container_id: &str,
    bridge: &str,
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<()> {
    let script = port_script(container_id, bridge, ip, ports);
    if script.is_empty() {
        return Ok(());
    }
    // Our own bridge only: without it the kernel drops a packet from
    // 127.0.0.1 routed out of a non-loopback interface.
    let knob = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&knob, "1").map_err(Error::io(knob))?;
    let _lock = store.lock_nat()?;
    nft(&["-f", "-"], Some(&script))?;
    Ok(())
}

/// Removes a container's port rules (see [`publish`]). Idempotent.
pub fn unpublish(store: &Store, container_id: &str) -> Result<()> {
    remove_tagged(store, &port_tag(container_id))
}

/// Removes every rule commented `tag`, and the table when nothing else is
/// in it.
fn remove_tagged(store: &Store, tag: &str) -> Result<()> {
    let _lock = store.lock_nat()?;
    let Some(rules) = rules()? else {
        return Ok(());
    };
    let (ours, others): (Vec<_>, Vec<_>) = rules
        .into_iter()
        .partition(|r| r.comment.as_deref() == Some(tag));
    if others.is_empty() {
        nft(&["delete", "table", "ip", TABLE], None)?;
        return Ok(());
    }
    let script: String = ours
        .iter()
        .map(|r| format!("delete rule ip {TABLE} {} handle {}\n", r.chain, r.handle))
        .collect();
    if !script.is_empty() {
        nft(&["-f", "-"], Some(&script))?;
    }
    Ok(())
}

/// Turns on IPv4 forwarding if it is off, as Docker does; never turns it
/// off again (other software may rely on it by then).
pub fn enable_ip_forward() -> Result<()> {
    let now = std::fs::read_to_string(IP_FORWARD).map_err(Error::io(IP_FORWARD))?;
    if now.trim() != "1" {
        std::fs::write(IP_FORWARD, "1").map_err(Error::io(IP_FORWARD))?;
        tracing::info!("enabled net.ipv4.ip_forward for container networking");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "ip", "name": "wrun", "handle": 7}},
          {"chain": {"family": "ip", "table": "wrun", "name": "postrouting", "handle": 1}},
          {"rule": {"family": "ip", "table": "wrun", "chain": "postrouting", "handle": 4,
                    "comment": "wrun:0123456789ab", "expr": []}},
          {"rule": {"family": "ip", "table": "wrun", "chain": "forward", "handle": 5, "expr": []}}]}"#;
        let rules = parse_rules(json).unwrap();
        assert_eq!(
            rules,
            vec![
                Rule {
                    chain: "postrouting".into(),
                    handle: 4,
                    comment: Some("wrun:0123456789ab".into())
                },
                Rule {
                    chain: "forward".into(),
                    handle: 5,
                    comment: None
                },
            ]
        );
    }

    #[test]
    fn published_ports_become_tagged_dnat_rules() {
        let ports = vec![
            "0.0.0.0:5000:5000".parse_mapping(),
            "127.0.0.1:8080:80/udp".parse_mapping(),
            "[::1]:9000:90".parse_mapping(),
        ];
        let s = port_script(
            "abcdef0123456789",
            "wr1",
            "10.9.8.7".parse().unwrap(),
            &ports,
        );
        for chain in ["prerouting", "output"] {
            assert!(s.contains(&format!(
                "add rule ip wrun {chain} fib daddr type local tcp dport 5000 dnat to 10.9.8.7:5000 comment \"wrun:c:abcdef012345\""
            )), "{s}");
            assert!(
                s.contains(&format!(
                    "add rule ip wrun {chain} ip daddr 127.0.0.1 udp dport 8080 dnat to 10.9.8.7:80"
                )),
                "{s}"
            );
        }
        assert!(!s.contains("9000"), "IPv6 stays with the proxy: {s}");
        assert!(s.contains("oifname \"wr1\" ip saddr 127.0.0.0/8 ip daddr 10.9.8.7 masquerade"));
        for line in s.lines().filter(|l| l.starts_with("add rule")) {
            assert!(line.ends_with("comment \"wrun:c:abcdef012345\""), "{line}");
        }
        let v6_only = vec!["[::1]:9000:90".parse_mapping()];
        assert_eq!(
            port_script("abc", "wr1", "10.9.8.7".parse().unwrap(), &v6_only),
            ""
        );
    }

    trait ParseMapping {
        fn parse_mapping(self) -> PortMapping;
    }

    impl ParseMapping for &str {
        fn parse_mapping(self) -> PortMapping {
            let mut v = crate::network::parse_publish(self).unwrap();
            assert_eq!(v.len(), 1);
            v.remove(0)
        }
    }

    #[test]
    fn every_rule_of_a_network_carries_its_tag() {
        let net = Network {
            id: "0123456789abcdef".into(),
            name: "n".into(),
            driver: "bridge".into(),
            subnet: "10.231.7.0/24".parse().unwrap(),
            gateway: "10.231.7.1".parse().unwrap(),
            bridge: "wrun-0123456789".into(),
            labels: Default::default(),
            internal: false,
            created: String::new(),
            containers: Default::default(),
        };
        let s = script(&net);
        assert!(s.contains("ip saddr 10.231.7.0/24 oifname != \"wrun-0123456789\" masquerade"));
        for line in s.lines().filter(|l| l.starts_with("add rule")) {
            assert!(line.ends_with("comment \"wrun:0123456789ab\""), "{line}");
        }
    }
}
