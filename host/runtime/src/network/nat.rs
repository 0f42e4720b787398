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
use std::process::{Command, Stdio};

use super::store::Store;
use super::{Error, Network, Result};

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
    let _lock = store.lock_nat()?;
    let tag = tag(network_id);
    let Some(rules) = rules()? else {
        return Ok(());
    };
    let (ours, others): (Vec<_>, Vec<_>) = rules
        .into_iter()
        .partition(|r| r.comment.as_deref() == Some(tag.as_str()));
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
