//! Published ports: `-p`/`-P` parsing and the userspace proxy that serves
//! them.
//!
//! The proxy binds every host socket before the container starts (so a
//! taken port fails early, with Docker's message) and forwards to the
//! container's address on its bridge. It works for `127.0.0.1` as well,
//! which DNAT rules cannot do without `route_localnet`, and leaves the
//! host's routing alone. TCP passes half-closes on (`shutdown(SHUT_WR)` of
//! one side reaches the other); UDP keeps one upstream socket per client
//! address, expired after [`UDP_SESSION_IDLE`] without traffic.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// How long a UDP session lives without traffic in either direction.
pub const UDP_SESSION_IDLE: Duration = Duration::from_secs(30);
/// At most this many proxy threads per container (one per CPU below it).
pub const PROXY_MAX_WORKERS: usize = 2;
/// Name of the file in the container directory listing its published ports.
pub const PORTS_FILE: &str = "ports.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl std::str::FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(format!("invalid proto: {s}")),
        }
    }
}

/// One published port. `host_port` 0 means "any free port" until
/// [`PortProxy::bind`] resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortMapping {
    /// `80/tcp`, the key Docker uses.
    pub fn container_key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }

    /// `0.0.0.0:5000` or `[::1]:5000`.
    pub fn host_addr(&self) -> String {
        SocketAddr::new(self.host_ip, self.host_port).to_string()
    }
}

impl fmt::Display for PortMapping {
    /// `wrun port`'s line: `80/tcp -> 0.0.0.0:5000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.container_key(), self.host_addr())
    }
}

fn port_range(s: &str, what: &str, allow_zero: bool) -> std::result::Result<(u16, u16), String> {
    let bad = || format!("invalid {what}: {s}");
    let one = |p: &str| -> std::result::Result<u16, String> {
        let n: u32 = p.parse().map_err(|_| bad())?;
        if n > 65535 || (n == 0 && !allow_zero) {
            return Err(bad());
        }
        Ok(n as u16)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a || a == 0 {
                return Err(bad());
            }
            Ok((a, b))
        }
        None => {
            let p = one(s)?;
            Ok((p, p))
        }
    }
}

/// Parses one `-p` value: `[IP:][HOST:]CTR[/tcp|/udp]`, with ranges
/// (`8000-8002:80-82`). A missing or zero host port is ephemeral. Errors
/// name the whole value.
pub fn parse_publish(spec: &str) -> std::result::Result<Vec<PortMapping>, String> {
    parse(spec).map_err(|reason| format!("invalid publish spec {spec:?}: {reason}"))
}

fn parse(spec: &str) -> std::result::Result<Vec<PortMapping>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.parse::<Proto>()?),
        None => (spec, Proto::Tcp),
    };
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, ports) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, ports) = after
            .split_once("]:")
            .ok_or_else(|| format!("invalid ip address: {rest}"))?;
        (Some(ip), ports)
    } else {
        match rest.matches(':').count() {
            0 | 1 => (None, rest),
            2 => {
                let (ip, ports) = rest.split_once(':').unwrap_or_default();
                (Some(ip), ports)
            }
            _ => return Err(format!("invalid ip address: {rest}")),
        }
    };
    let host_ip: IpAddr = match ip {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(ip) => ip
            .parse()
            .map_err(|_| format!("invalid ip address: {ip}"))?,
    };
    let (host, ctr) = match ports.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", ports),
    };
    if ctr.is_empty() {
        return Err("no container port given".into());
    }
    let (c0, c1) = port_range(ctr, "containerPort", false)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        port_range(host, "hostPort", true)?
    };
    let count = c1 - c0;
    let host_ephemeral = h0 == 0;
    if !host_ephemeral && h1 - h0 != count {
        return Err(format!(
            "host port range {host} and container port range {ctr} differ in size"
        ));
    }
    Ok((0..=count)
        .map(|i| PortMapping {
            host_ip,
            host_port: if host_ephemeral { 0 } else { h0 + i },
            container_port: c0 + i,
            proto,
        })
        .collect())
}

/// `-P`: every exposed port (`80`, `80/tcp`, `53/udp`, `8000-8002/tcp`,
/// as in an image's `ExposedPorts`) to an ephemeral port on all addresses.
/// Entries that do not parse are skipped.
pub fn expose_all(exposed: &[String]) -> Vec<PortMapping> {
    let mut all: Vec<PortMapping> = exposed
        .iter()
        .filter_map(|e| parse(e.trim()).ok())
        .flatten()
        .map(|m| PortMapping {
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port: 0,
            ..m
        })
        .collect();
    all.sort_by_key(|m| (m.container_port, m.proto));
    all.dedup();
    all
}

/// Writes the container's published ports to `<dir>/ports.json`
/// (atomically), for `wrun port` and `ps`.
pub fn save_ports(container_dir: &Path, mappings: &[PortMapping]) -> Result<()> {
    let path = container_dir.join(PORTS_FILE);
    let tmp = container_dir.join(".ports.json.tmp");
    let bytes = serde_json::to_vec_pretty(mappings).map_err(|e| Error::State {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))
}

/// Reads `<dir>/ports.json`; no file means no published ports.
pub fn load_ports(container_dir: &Path) -> Result<Vec<PortMapping>> {
    let path = container_dir.join(PORTS_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::State {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

/// Bound host sockets, not yet serving.
#[derive(Debug)]
pub struct PortProxy {
    tcp: Vec<(std::net::TcpListener, SocketAddr)>,
    udp: Vec<(std::net::UdpSocket, SocketAddr)>,
}

/// A running proxy; dropping it stops every listener and connection.
#[derive(Debug)]
pub struct ProxyHandle {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind_error(m: &PortMapping, e: std::io::Error) -> Error {
    let addr = m.host_addr();
    if e.kind() == std::io::ErrorKind::AddrInUse {
        Error::PortAllocated { addr }
    } else {
        Error::Bind { addr, source: e }
    }
}

impl PortProxy {
    /// Binds every host socket now and returns the mappings with ephemeral
    /// ports resolved.
    pub fn bind(
        mappings: &[PortMapping],
        container_ip: Ipv4Addr,
    ) -> Result<(PortProxy, Vec<PortMapping>)> {
        let mut proxy = PortProxy {
            tcp: Vec::new(),
            udp: Vec::new(),
        };
        let mut actual = Vec::new();
        for m in mappings {
            let addr = SocketAddr::new(m.host_ip, m.host_port);
            let target = SocketAddr::new(IpAddr::V4(container_ip), m.container_port);
            let port = match m.proto {
                Proto::Tcp => {
                    let l = std::net::TcpListener::bind(addr).map_err(|e| bind_error(m, e))?;
                    let port = l.local_addr().map_err(|e| bind_error(m, e))?.port();
                    proxy.tcp.push((l, target));
                    port
                }
                Proto::Udp => {
                    let s = std::net::UdpSocket::bind(addr).map_err(|e| bind_error(m, e))?;
                    let port = s.local_addr().map_err(|e| bind_error(m, e))?.port();
                    proxy.udp.push((s, target));
                    port
                }
            };
            actual.push(PortMapping {
                host_port: port,
                ..*m
            });
        }
        Ok((proxy, actual))
    }

    /// Serves on background threads, each with a current-thread tokio
    /// runtime (one per CPU, at most [`PROXY_MAX_WORKERS`]). Every worker
    /// accepts on its own duplicate of each TCP listener, so a connection
    /// stays on the thread that accepted it (no cross-thread wake-ups);
    /// UDP is served by the first worker.
    pub fn start(self) -> Result<ProxyHandle> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, PROXY_MAX_WORKERS);
        let (stop_tx, _) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let mut handle = ProxyHandle {
            stop: Some(stop_tx),
            threads: Vec::new(),
        };
        let mut udp = Some(self.udp);
        for _ in 0..workers {
            let tcp = self
                .tcp
                .iter()
                .map(|(l, target)| Ok((l.try_clone()?, *target)))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(Error::Proxy)?;
            let udp = udp.take().unwrap_or_default();
            let stop = handle.stop.as_ref().map(|s| s.subscribe());
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name("wrun-port-proxy".into())
                .spawn(move || worker(tcp, udp, stop, ready))
                .map_err(Error::Proxy)?;
            handle.threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(Error::Proxy(std::io::Error::other(
                        "a proxy thread ended early",
                    )));
                }
            }
        }
        Ok(handle)
    }
}

/// One proxy thread: serves `tcp` and `udp` until `stop` turns true.
fn worker(
    tcp: Vec<(std::net::TcpListener, SocketAddr)>,
    udp: Vec<(std::net::UdpSocket, SocketAddr)>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    ready: std::sync::mpsc::Sender<Result<()>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Error::Proxy(e)));
            return;
        }
    };
    rt.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let setup = (|| -> std::io::Result<()> {
            for (l, target) in tcp {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                tasks.spawn(serve_tcp(l, target));
            }
            for (s, target) in udp {
                s.set_nonblocking(true)?;
                let s = tokio::net::UdpSocket::from_std(s)?;
                tasks.spawn(serve_udp(Arc::new(s), target));
            }
            Ok(())
        })();
        let failed = setup.is_err();
        let _ = ready.send(setup.map_err(Error::Proxy));
        if failed {
            return;
        }
        if let Some(mut stop) = stop {
            // An error means the handle is gone: stop as well.
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
        tasks.shutdown().await;
    });
    // Dropping the runtime cancels every connection task.
}

async fn serve_tcp(listener: tokio::net::TcpListener, target: SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else {
                    // EMFILE and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                conns.spawn(proxy_tcp(inbound, target));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Copies both ways; when one side shuts down its write half, the other
/// side's write half is shut down too and the opposite direction goes on.
async fn proxy_tcp(mut inbound: tokio::net::TcpStream, target: SocketAddr) {
    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ =
        tokio::io::copy_bidirectional_with_sizes(&mut inbound, &mut outbound, 64 << 10, 64 << 10)
            .await;
}

struct UdpSession {
    upstream: tokio::net::UdpSocket,
    last_seen: Mutex<Instant>,
}

type Sessions = Arc<Mutex<HashMap<SocketAddr, Arc<UdpSession>>>>;

async fn serve_udp(socket: Arc<tokio::net::UdpSocket>, target: SocketAddr) {
    let sessions: Sessions = Arc::default();
    let mut replies = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, client) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
            Some(_) = replies.join_next(), if !replies.is_empty() => continue,
        };
        let existing = sessions.lock().ok().and_then(|s| s.get(&client).cloned());
        let session = match existing {
            Some(s) => s,
            None => {
                let Ok(upstream) = open_upstream(target).await else {
                    continue;
                };
                let s = Arc::new(UdpSession {
                    upstream,
                    last_seen: Mutex::new(Instant::now()),
                });
                if let Ok(mut map) = sessions.lock() {
                    map.insert(client, s.clone());
                }
                replies.spawn(relay_replies(
                    socket.clone(),
                    s.clone(),
                    client,
                    sessions.clone(),
                ));
                s
            }
        };
        if let Ok(mut t) = session.last_seen.lock() {
            *t = Instant::now();
        }
        let _ = session.upstream.send(&buf[..n]).await;
    }
}

async fn open_upstream(target: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s =
        tokio::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
    s.connect(target).await?;
    Ok(s)
}

/// Sends the container's answers back to `client` until the session has
/// been idle for [`UDP_SESSION_IDLE`], then forgets it.
async fn relay_replies(
    socket: Arc<tokio::net::UdpSocket>,
    session: Arc<UdpSession>,
    client: SocketAddr,
    sessions: Sessions,
) {
    let mut buf = vec![0u8; 65535];
    loop {
        match tokio::time::timeout(UDP_SESSION_IDLE, session.upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let Ok(mut t) = session.last_seen.lock() {
                    *t = Instant::now();
                }
                let _ = socket.send_to(&buf[..n], client).await;
            }
            // ECONNREFUSED from an earlier datagram: nobody listens (yet).
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) => {
                let idle = session
                    .last_seen
                    .lock()
                    .map(|t| t.elapsed())
                    .unwrap_or(UDP_SESSION_IDLE);
                if idle >= UDP_SESSION_IDLE {
                    break;
                }
            }
        }
    }
    if let Ok(mut map) = sessions.lock() {
        map.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: &str, host: u16, ctr: u16, proto: Proto) -> PortMapping {
        PortMapping {
            host_ip: ip.parse().unwrap(),
            host_port: host,
            container_port: ctr,
            proto,
        }
    }

    #[test]
    fn publish_forms() {
        use Proto::*;
        assert_eq!(parse_publish("80").unwrap(), vec![m("0.0.0.0", 0, 80, Tcp)]);
        assert_eq!(
            parse_publish("5000:5000").unwrap(),
            vec![m("0.0.0.0", 5000, 5000, Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:18080:80").unwrap(),
            vec![m("127.0.0.1", 18080, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80/udp").unwrap(),
            vec![m("127.0.0.1", 0, 80, Udp)]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![m("::1", 8080, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("53:53/UDP").unwrap(),
            vec![m("0.0.0.0", 53, 53, Udp)]
        );
        assert_eq!(
            parse_publish("8000-8002:80-82").unwrap(),
            vec![
                m("0.0.0.0", 8000, 80, Tcp),
                m("0.0.0.0", 8001, 81, Tcp),
                m("0.0.0.0", 8002, 82, Tcp)
            ]
        );
        assert_eq!(
            parse_publish("80-81").unwrap(),
            vec![m("0.0.0.0", 0, 80, Tcp), m("0.0.0.0", 0, 81, Tcp)]
        );
    }

    #[test]
    fn bad_publish_specs_name_the_value() {
        for (spec, why) in [
            ("70000:80", "invalid hostPort: 70000"),
            ("abc", "invalid containerPort: abc"),
            ("80:0", "invalid containerPort: 0"),
            ("80/sctp", "invalid proto: sctp"),
            ("1.2.3:80:80", "invalid ip address: 1.2.3"),
            ("8000-8001:80-82", "differ in size"),
            ("90-80", "invalid containerPort: 90-80"),
            ("80:", "no container port"),
        ] {
            let e = parse_publish(spec).unwrap_err();
            assert!(
                e.contains(&format!("{spec:?}")) && e.contains(why),
                "{spec}: {e}"
            );
        }
    }

    #[test]
    fn expose_all_publishes_every_exposed_port_ephemerally() {
        let got = expose_all(&["80/tcp".into(), "53/udp".into(), "80".into(), "x".into()]);
        assert_eq!(
            got,
            vec![
                m("0.0.0.0", 0, 53, Proto::Udp),
                m("0.0.0.0", 0, 80, Proto::Tcp)
            ]
        );
        assert_eq!(got[1].to_string(), "80/tcp -> 0.0.0.0:0");
    }

    #[test]
    fn a_taken_port_gets_dockers_message() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = PortProxy::bind(&[m("127.0.0.1", port, 80, Proto::Tcp)], Ipv4Addr::LOCALHOST)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
    }

    #[test]
    fn ports_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_ports(dir.path()).unwrap().is_empty());
        let ports = vec![
            m("0.0.0.0", 5000, 5000, Proto::Tcp),
            m("::", 5353, 53, Proto::Udp),
        ];
        save_ports(dir.path(), &ports).unwrap();
        assert_eq!(load_ports(dir.path()).unwrap(), ports);
    }
}
