//! Links, addresses and routes over rtnetlink.
//!
//! Every request runs on a helper thread with a current-thread tokio
//! runtime: the netlink socket is opened by that thread, so it talks to the
//! namespace the thread is in ([`super::netns::run_in`]), and callers that
//! are themselves inside a tokio runtime are not disturbed.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use sha2::{Digest, Sha256};

use super::netns::run_in;
use super::{Error, Result, Subnet};

const EEXIST: i32 = libc::EEXIST;
const ENODEV: i32 = libc::ENODEV;

/// Runs `f` with a netlink handle in `ns` (the host's for `None`).
fn with_handle<T, F, Fut>(ns: Option<BorrowedFd>, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    run_in(ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::io("tokio runtime"))?;
        rt.block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(Error::io("netlink socket"))?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |source| Error::Netlink { what, source }
}

async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(LinkMessage { header, .. })) => Ok(Some(header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("looking up link {name}"))(e)),
    }
}

async fn delete(h: &Handle, name: &str) -> Result<()> {
    if let Some(index) = index_of(h, name).await? {
        match h.link().del(index).execute().await {
            Err(e) if errno(&e) != Some(ENODEV) => {
                return Err(nl(format!("deleting link {name}"))(e));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The host end of container `id`'s veth on network `network_id`:
/// `wr` + 8 hex of a hash of both, so teardown finds it even without state.
pub fn host_veth_name(id: &str, network_id: &str) -> String {
    let digest = Sha256::digest(format!("{id}\0{network_id}"));
    format!("wr{}", &hex::encode(digest)[..8])
}

/// Docker's scheme: `02:42` then the four bytes of the address.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

/// Whether a link of that name exists in the host's namespace.
pub fn exists(name: &str) -> Result<bool> {
    with_handle(
        None,
        |h| async move { Ok(index_of(&h, name).await?.is_some()) },
    )
}

/// Deletes a host link if it exists.
pub fn delete_link(name: &str) -> Result<()> {
    with_handle(None, |h| async move { delete(&h, name).await })
}

/// Deletes a bridge if it exists (its ports are detached by the kernel).
pub fn delete_bridge(name: &str) -> Result<()> {
    delete_link(name)
}

/// The bridge `name`, up, with `gateway/prefix` as its address.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    with_handle(None, |h| async move {
        match h.link().add(LinkBridge::new(name).build()).execute().await {
            Err(e) if errno(&e) != Some(EEXIST) => {
                return Err(nl(format!("creating bridge {name}"))(e));
            }
            _ => {}
        }
        let index = index_of(&h, name)
            .await?
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        match h
            .address()
            .add(index, IpAddr::V4(gateway), prefix)
            .execute()
            .await
        {
            Err(e) if errno(&e) != Some(EEXIST) => {
                return Err(nl(format!("adding {gateway}/{prefix} to {name}"))(e));
            }
            _ => {}
        }
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl(format!("setting {name} up")))
    })
}

/// The host's IPv4 routes of the main table (the default route left out),
/// with the name of the interface each goes through.
pub fn host_routes() -> Result<Vec<(Subnet, String)>> {
    with_handle(None, |h| async move {
        let mut found = Vec::new();
        let mut routes = h
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        while let Some(r) = routes.try_next().await.map_err(nl("listing routes"))? {
            let prefix = r.header.destination_prefix_length;
            if r.header.table != RouteHeader::RT_TABLE_MAIN || prefix == 0 {
                continue;
            }
            let mut dst = None;
            let mut oif = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = Some(*ip),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    _ => {}
                }
            }
            if let Some(addr) = dst {
                found.push((Subnet { addr, prefix }, oif));
            }
        }
        let mut named = Vec::new();
        for (subnet, oif) in found {
            let mut dev = String::from("?");
            if let Some(index) = oif {
                let mut links = h.link().get().match_index(index).execute();
                if let Ok(Some(link)) = links.try_next().await {
                    for a in link.attributes {
                        if let LinkAttribute::IfName(n) = a {
                            dev = n;
                        }
                    }
                }
            }
            named.push((subnet, dev));
        }
        Ok(named)
    })
}

/// `lo` up in `ns`.
pub fn loopback_up(ns: BorrowedFd) -> Result<()> {
    with_handle(Some(ns), |h| async move {
        let index = index_of(&h, "lo")
            .await?
            .ok_or_else(|| Error::NotFound("lo".into()))?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl("setting lo up"))
    })
}

/// The first `ethN` not present in `ns`.
pub fn free_ifname(ns: BorrowedFd) -> Result<String> {
    with_handle(Some(ns), |h| async move {
        for i in 0.. {
            let name = format!("eth{i}");
            if index_of(&h, &name).await?.is_none() {
                return Ok(name);
            }
        }
        unreachable!("some ethN is free")
    })
}

/// A veth pair: `host_veth` up on `bridge` in the host, the peer moved into
/// `ns` as `ifname` with `mac`, `ip/prefix`, up, and a default route via
/// `gateway` when given. A stale link of the same name (a crash) is
/// replaced.
#[allow(clippy::too_many_arguments)] // one step of attaching; each value is needed
pub fn add_veth(
    host_veth: &str,
    bridge: &str,
    ns: BorrowedFd,
    ifname: &str,
    mac: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    let peer = &format!("{host_veth}c");
    let ns_raw = ns.as_raw_fd();
    with_handle(None, |h| async move {
        delete(&h, host_veth).await?;
        delete(&h, peer).await?;
        let bridge_index = index_of(&h, bridge)
            .await?
            .ok_or_else(|| Error::NotFound(bridge.to_string()))?;
        h.link()
            .add(LinkVeth::new(host_veth, peer).build())
            .execute()
            .await
            .map_err(nl(format!("creating veth {host_veth}")))?;
        let made = async {
            let host_index = index_of(&h, host_veth)
                .await?
                .ok_or_else(|| Error::NotFound(host_veth.to_string()))?;
            let peer_index = index_of(&h, peer)
                .await?
                .ok_or_else(|| Error::NotFound(peer.clone()))?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(peer_index)
                        .setns_by_fd(ns_raw)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("moving {peer} into the container's namespace")))?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(host_index)
                        .controller(bridge_index)
                        .up()
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("attaching {host_veth} to {bridge}")))
        }
        .await;
        if made.is_err() {
            let _ = delete(&h, host_veth).await;
        }
        made
    })?;
    let configured = with_handle(Some(ns), |h| async move {
        let index = index_of(&h, peer)
            .await?
            .ok_or_else(|| Error::NotFound(peer.clone()))?;
        h.link()
            .set(
                LinkUnspec::new_with_index(index)
                    .name(ifname.to_string())
                    .address(mac_bytes(mac))
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(nl(format!("configuring {ifname}")))?;
        h.address()
            .add(index, IpAddr::V4(ip), prefix)
            .execute()
            .await
            .map_err(nl(format!("adding {ip}/{prefix} to {ifname}")))?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build();
            h.route()
                .add(route)
                .execute()
                .await
                .map_err(nl(format!("adding the default route via {gw}")))?;
        }
        Ok(())
    });
    if configured.is_err() {
        let _ = delete_link(host_veth);
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_and_the_pattern() {
        let name = host_veth_name("0123456789abcdef", "fedcba");
        assert_eq!(name.len(), 10);
        assert!(name.starts_with("wr") && name[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(name, host_veth_name("0123456789abcdef", "fedcbb"));
        assert!(format!("{name}c").len() < 16);
        assert_eq!(mac_for(Ipv4Addr::new(10, 88, 0, 2)), "02:42:0a:58:00:02");
        assert_eq!(mac_bytes("02:42:0a:58:00:02"), vec![2, 0x42, 10, 88, 0, 2]);
    }
}
