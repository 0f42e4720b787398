//! Networking as root, for real: namespaces, veths, a bridge, nftables and
//! the port proxy. Each test has its own state root, network names and
//! 10.231.N.0/24 subnets, sends traffic only over loopback and its own
//! bridges, and cleans up through guards even when it panics. Without root
//! the tests say why they skip, and fail under CI.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use wrun_runtime::network::ports::{PortMapping, PortProxy, Proto};
use wrun_runtime::network::{Attachment, CreateOptions, Endpoint, Error, NetworkManager};

fn have_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the network tests need root, and CI runs them as root"
    );
    eprintln!("skipped: the network tests need root (namespaces, links, nftables)");
    false
}

/// A state root, the networks and containers made in it; everything is
/// torn down on drop, panics included.
struct Env {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    nets: NetworkManager,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let nets = NetworkManager::open(&root).unwrap().without_ip_forward();
        Env {
            _dir: dir,
            root,
            nets,
            containers: Vec::new(),
            networks: Vec::new(),
        }
    }

    fn network(&mut self, name: &str, subnet: &str) -> wrun_runtime::network::Network {
        let n = self
            .nets
            .create(
                name,
                CreateOptions {
                    subnet: Some(subnet.into()),
                    ..Default::default()
                },
            )
            .unwrap();
        self.networks.push(name.to_string());
        n
    }

    /// A container `name` on `network` (with `aliases`) and a hosts file in
    /// its directory, as the runtime would write it.
    fn container(&mut self, name: &str, network: &str, aliases: &[&str]) -> (OwnedFd, Endpoint) {
        let id = format!("{name}{}", "0".repeat(64 - name.len()));
        self.containers.push(id.clone());
        let (ns, mut eps) = self
            .nets
            .setup_container(
                &id,
                name,
                &[Attachment {
                    network: network.into(),
                    aliases: aliases.iter().map(|a| a.to_string()).collect(),
                    container_name: name.into(),
                }],
            )
            .unwrap();
        let dir = self.root.join("containers").join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts"), self.nets.hosts_file(&id).unwrap()).unwrap();
        (ns, eps.remove(0))
    }

    fn id(&self, name: &str) -> String {
        format!("{name}{}", "0".repeat(64 - name.len()))
    }

    fn hosts(&self, name: &str) -> (String, u64) {
        let p = self
            .root
            .join("containers")
            .join(self.id(name))
            .join("hosts");
        (
            std::fs::read_to_string(&p).unwrap(),
            std::fs::metadata(&p).unwrap().ino(),
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.nets.unpublish_ports(id);
            let _ = self.nets.teardown_container(id);
        }
        for n in &self.networks {
            let _ = self.nets.remove(n);
        }
    }
}

/// Runs `f` on a thread inside the namespace `ns`.
fn in_ns<T: Send>(ns: &OwnedFd, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// A shell command inside `ns` (through nsenter and this process's fd).
fn sh_in(ns: &OwnedFd, cmd: &str) -> String {
    let path = format!("/proc/{}/fd/{}", std::process::id(), ns.as_raw_fd());
    let out = Command::new("nsenter")
        .arg(format!("--net={path}"))
        .args(["sh", "-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn host(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_containers_reach_each_other_and_the_gateway_and_leave_nothing_behind() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    let net = env.network("wrtest-pair", "10.231.101.0/24");
    let (ns1, ep1) = env.container("alpha", "wrtest-pair", &[]);
    let (hosts_before, ino) = env.hosts("alpha");
    assert!(
        hosts_before.contains("10.231.101.2\talpha\n"),
        "{hosts_before}"
    );
    let (ns2, ep2) = env.container("beta", "wrtest-pair", &["db"]);
    assert_eq!(ep1.ip, Ipv4Addr::new(10, 231, 101, 2));
    assert_eq!(ep2.ip, Ipv4Addr::new(10, 231, 101, 3));
    assert_eq!(ep1.gateway, Ipv4Addr::new(10, 231, 101, 1));
    assert_eq!(ep1.mac, "02:42:0a:e7:65:02");

    // Inside: eth0 with the lease, the default route via the gateway, lo up.
    let addrs = sh_in(&ns1, "ip -o -4 addr show");
    assert!(addrs.contains("lo    inet 127.0.0.1/8"), "{addrs}");
    assert!(addrs.contains("eth0    inet 10.231.101.2/24"), "{addrs}");
    let routes = sh_in(&ns1, "ip -4 route show default");
    assert!(
        routes.contains("default via 10.231.101.1 dev eth0"),
        "{routes}"
    );
    let link = sh_in(&ns1, "ip -o link show eth0");
    assert!(
        link.contains("02:42:0a:e7:65:02") && link.contains("UP"),
        "{link}"
    );

    // The host side: the bridge holds the gateway, the veths are on it.
    let br = host("ip", &["-o", "-4", "addr", "show", "dev", &net.bridge]);
    assert!(br.contains("10.231.101.1/24"), "{br}");
    let port = host("ip", &["-o", "link", "show", "dev", &ep1.host_veth]);
    assert!(port.contains(&format!("master {}", net.bridge)), "{port}");
    let rules = host("nft", &["list", "table", "ip", "wrun"]);
    assert!(
        rules.contains("ip saddr 10.231.101.0/24") && rules.contains("masquerade"),
        "{rules}"
    );

    // The first container's hosts file now names the second, in place.
    let (hosts, ino_after) = env.hosts("alpha");
    assert_eq!(ino, ino_after, "the hosts file must keep its inode");
    assert!(hosts.contains("10.231.101.3\tbeta db\n"), "{hosts}");
    let (beta_hosts, _) = env.hosts("beta");
    assert!(
        beta_hosts.contains("10.231.101.3\tbeta db\n"),
        "{beta_hosts}"
    );
    assert!(beta_hosts.contains("10.231.101.2\talpha\n"), "{beta_hosts}");

    // ping and TCP from one namespace to the other.
    sh_in(&ns1, "busybox ping -c 1 -W 2 10.231.101.3 >/dev/null");
    let listener = in_ns(&ns2, || TcpListener::bind("10.231.101.3:7001").unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        (buf, peer)
    });
    in_ns(&ns1, || {
        let mut c = TcpStream::connect("10.231.101.3:7001").unwrap();
        c.write_all(b"hello beta").unwrap();
    });
    let (got, peer) = server.join().unwrap();
    assert_eq!(got, "hello beta");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(ep1.ip));

    // Outbound: a listener on the bridge's (gateway) address in the host.
    let on_gateway = TcpListener::bind((net.gateway, 0)).unwrap();
    let gw_addr = on_gateway.local_addr().unwrap();
    in_ns(&ns2, || {
        let mut c = TcpStream::connect_timeout(&gw_addr, Duration::from_secs(3)).unwrap();
        c.write_all(b"out").unwrap();
    });
    let (mut s, from) = on_gateway.accept().unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    assert_eq!(
        (buf.as_str(), from.ip()),
        ("out", std::net::IpAddr::V4(ep2.ip))
    );

    // In use: rm is refused with Docker's message.
    let e = env.nets.remove("wrtest-pair").unwrap_err();
    assert!(matches!(e, Error::ActiveEndpoints { .. }), "{e}");
    assert!(e.to_string().contains("has active endpoints"), "{e}");

    // Leaving: the other's hosts file forgets it; teardown is idempotent.
    drop(ns2);
    env.nets.teardown_container(&env.id("beta")).unwrap();
    env.nets.teardown_container(&env.id("beta")).unwrap();
    let (hosts, _) = env.hosts("alpha");
    assert!(!hosts.contains("beta"), "{hosts}");
    drop(ns1);
    env.nets.teardown_container(&env.id("alpha")).unwrap();
    env.nets.remove("wrtest-pair").unwrap();

    let links = host("ip", &["-o", "link"]);
    for name in [&net.bridge, &ep1.host_veth, &ep2.host_veth] {
        assert!(
            !links.contains(name.as_str()),
            "{name} left behind:\n{links}"
        );
    }
    let ruleset = host("nft", &["list", "ruleset"]);
    assert!(
        !ruleset.contains(&format!("wrun:{}", &net.id[..12])) && !ruleset.contains(&net.bridge),
        "{ruleset}"
    );
}

#[test]
fn connect_and_disconnect_a_running_container() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    env.network("wrtest-front", "10.231.102.0/24");
    let back = env.network("wrtest-back", "10.231.103.0/24");
    let (ns, _) = env.container("gamma", "wrtest-front", &[]);
    let (_ns_db, _) = env.container("delta", "wrtest-back", &[]);
    let id = env.id("gamma");
    let ep = env
        .nets
        .connect("wrtest-back", &id, ns.as_fd(), &["api".to_string()])
        .unwrap();
    assert_eq!(ep.ip, Ipv4Addr::new(10, 231, 103, 3));
    let addrs = sh_in(&ns, "ip -o -4 addr show eth1");
    assert!(addrs.contains("10.231.103.3/24"), "{addrs}");
    // Its own hosts file gained delta, delta's gained gamma with its alias.
    assert!(env.hosts("gamma").0.contains("10.231.103.2\tdelta\n"));
    assert!(env.hosts("delta").0.contains("10.231.103.3\tgamma api\n"));
    let e = env
        .nets
        .connect("wrtest-back", &id, ns.as_fd(), &[])
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyConnected { .. }), "{e}");

    env.nets.disconnect("wrtest-back", &id).unwrap();
    assert!(
        sh_in(&ns, "ip -o link")
            .lines()
            .all(|l| !l.contains("eth1"))
    );
    assert!(!env.hosts("delta").0.contains("gamma"));
    let e = env.nets.disconnect("wrtest-back", &id).unwrap_err();
    assert!(matches!(e, Error::NotConnected { .. }), "{e}");
    assert!(
        host("ip", &["-o", "link"]).contains(&back.bridge),
        "delta still uses the bridge"
    );
}

#[test]
fn published_ports_forward_tcp_with_half_close_and_udp() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    env.network("wrtest-ports", "10.231.104.0/24");
    let (ns, ep) = env.container("epsilon", "wrtest-ports", &[]);

    // TCP server: reads to EOF (the client's half-close), then answers.
    let tcp = in_ns(&ns, || TcpListener::bind("0.0.0.0:8080").unwrap());
    let tcp_server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = tcp.accept().unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).unwrap();
            s.write_all(format!("got {} bytes", buf.len()).as_bytes())
                .unwrap();
        }
    });
    // UDP echo server.
    let udp = in_ns(&ns, || UdpSocket::bind("0.0.0.0:5353").unwrap());
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let udp_server = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..3 {
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            udp.send_to(&buf[..n], from).unwrap();
        }
    });

    let wanted = [
        PortMapping {
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 0,
            container_port: 8080,
            proto: Proto::Tcp,
        },
        PortMapping {
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 0,
            container_port: 5353,
            proto: Proto::Udp,
        },
    ];
    let (proxy, actual) = PortProxy::bind(&wanted, ep.ip).unwrap();
    assert!(actual.iter().all(|m| m.host_port != 0), "{actual:?}");
    let handle = proxy.start().unwrap();

    let tcp_addr = SocketAddr::from(([127, 0, 0, 1], actual[0].host_port));
    for size in [5usize, 1 << 20] {
        let mut c = TcpStream::connect(tcp_addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let payload = vec![b'x'; size];
        c.write_all(&payload).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, format!("got {size} bytes"));
    }
    tcp_server.join().unwrap();

    let udp_addr = SocketAddr::from(([127, 0, 0, 1], actual[1].host_port));
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let mut buf = [0u8; 64];
    for (sock, msg) in [(&a, &b"ping-a"[..]), (&b, b"ping-b"), (&a, b"again-a")] {
        sock.send_to(msg, udp_addr).unwrap();
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (msg, udp_addr));
    }
    udp_server.join().unwrap();

    // While the proxy runs its ports are taken, with Docker's message.
    let e = PortProxy::bind(&actual[..1], ep.ip).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Bind for 127.0.0.1:{} failed: port is already allocated",
            actual[0].host_port
        )
    );
    drop(handle);
    // Stopped: the port is free again.
    TcpListener::bind(tcp_addr).unwrap();
}

#[test]
fn a_failed_setup_leaves_no_lease_and_no_link() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    let net = env.network("wrtest-tiny", "10.231.105.0/30");
    // A /30 has one address besides the gateway.
    let (_ns, ep) = env.container("zeta", "wrtest-tiny", &[]);
    assert_eq!(ep.ip, Ipv4Addr::new(10, 231, 105, 2));
    let id = env.id("eta");
    env.containers.push(id.clone());
    let e = env
        .nets
        .setup_container(
            &id,
            "eta",
            &[Attachment {
                network: "wrtest-tiny".into(),
                aliases: vec![],
                container_name: "eta".into(),
            }],
        )
        .unwrap_err();
    assert!(matches!(e, Error::Exhausted { .. }), "{e}");
    let e = env
        .nets
        .setup_container(
            &id,
            "eta",
            &[Attachment {
                network: "wrtest-missing".into(),
                aliases: vec![],
                container_name: "eta".into(),
            }],
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "network wrtest-missing not found");
    let n = env.nets.get("wrtest-tiny").unwrap();
    assert_eq!(n.containers.len(), 1);
    assert!(host("ip", &["-o", "link"]).contains(&net.bridge));
}

/// A keep-alive HTTP/1.1 server answering every request with 13 bytes, a
/// thread per connection; enough to measure a proxy, not a web server.
/// `-p 127.0.0.1::PORT`: an ephemeral host port on loopback.
fn ephemeral_loopback_tcp(container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: "127.0.0.1".parse().unwrap(),
        host_port: 0,
        container_port,
        proto: Proto::Tcp,
    }
}

fn serve_hello(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
}

fn wrk(url: &str, seconds: u32) -> String {
    let out = Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk (apt-get install wrk)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn summary(report: &str) -> String {
    report
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("Requests/sec") || l.starts_with("Latency") || l.starts_with("99%")
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Throughput through a published port against the same server reached
/// directly. Measures, never asserts; run with
/// `cargo test -p wrun-runtime --test network -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: needs wrk, takes 45 s"]
fn published_port_throughput() {
    if !have_root() {
        return;
    }
    let seconds = std::env::var("WRUN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut env = Env::new();
    env.network("wrtest-bench", "10.231.106.0/24");
    let (ns, ep) = env.container("bench", "wrtest-bench", &[]);

    let on_host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = on_host.local_addr().unwrap().port();
    serve_hello(on_host);
    serve_hello(in_ns(&ns, || TcpListener::bind("0.0.0.0:8080").unwrap()));
    let (proxy, actual) = PortProxy::bind(&[ephemeral_loopback_tcp(8080)], ep.ip).unwrap();
    let _handle = proxy.start().unwrap();
    // A second port served by DNAT, as `wrun run -p` does: its proxy keeps
    // the port bound but never sees an IPv4 connection.
    let (_dnat_proxy, dnat) = PortProxy::bind(&[ephemeral_loopback_tcp(8080)], ep.ip).unwrap();
    env.nets
        .publish_ports(&env.id("bench"), &ep, &dnat)
        .unwrap();

    let targets = [
        (
            "direct, host loopback",
            format!("http://127.0.0.1:{host_port}/"),
        ),
        (
            "direct, container address",
            format!("http://{}:8080/", ep.ip),
        ),
        (
            "published port (proxy)",
            format!("http://127.0.0.1:{}/", actual[0].host_port),
        ),
        (
            "published port (DNAT)",
            format!("http://127.0.0.1:{}/", dnat[0].host_port),
        ),
    ];
    // Interleaved rounds: a shared machine's noise hits all three alike.
    let rounds = std::env::var("WRUN_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for round in 1..=rounds {
        for (what, url) in &targets {
            println!("round {round}: {what}: {}", summary(&wrk(url, seconds)));
        }
    }
}

#[test]
fn no_attachment_means_only_loopback() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let (ns, eps) = env
        .nets
        .setup_container(&"9".repeat(64), "lonely", &[])
        .unwrap();
    assert!(eps.is_empty());
    let links = sh_in(&ns, "ip -o link");
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains(": lo:") && links.contains("UP"), "{links}");
    env.nets.teardown_container(&"9".repeat(64)).unwrap();
}

#[test]
fn concurrent_setups_get_distinct_addresses() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    env.network("wrtest-many", "10.231.107.0/24");
    let ids: Vec<String> = (0..6).map(|i| format!("{i}{}", "a".repeat(63))).collect();
    env.containers.extend(ids.iter().cloned());
    let nets = &env.nets;
    let ips: Vec<Ipv4Addr> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                s.spawn(move || {
                    let (_ns, eps) = nets
                        .setup_container(
                            id,
                            "many",
                            &[Attachment {
                                network: "wrtest-many".into(),
                                aliases: vec![],
                                container_name: id[..12].to_string(),
                            }],
                        )
                        .unwrap();
                    eps[0].ip
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = ips.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "{ips:?}");
    assert_eq!(env.nets.get("wrtest-many").unwrap().containers.len(), 6);
    for id in &ids {
        env.nets.teardown_container(id).unwrap();
    }
    assert!(env.nets.get("wrtest-many").unwrap().containers.is_empty());
}

#[test]
fn a_subnet_overlapping_a_host_route_is_refused() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    let net = env.network("wrtest-route", "10.231.108.0/24");
    let (_ns, _) = env.container("theta", "wrtest-route", &[]);
    // Another state root cannot see the lease file, but it sees the route.
    let other = Env::new();
    let e = other
        .nets
        .create(
            "wrtest-route2",
            CreateOptions {
                subnet: Some("10.231.108.128/25".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "subnet 10.231.108.128/25 of network wrtest-route2 overlaps the host's route to \
             10.231.108.0/24 via {}",
            net.bridge
        )
    );
}

/// A published port answers through DNAT alone (its proxy is bound but
/// never started), from the host's loopback; the rules go with
/// `unpublish_ports`.
#[test]
fn dnat_serves_a_published_port_on_loopback_and_is_removed() {
    if !have_root() {
        return;
    }
    let mut env = Env::new();
    env.network("wrtest-dnat", "10.231.107.0/24");
    let (ns, ep) = env.container("dnat", "wrtest-dnat", &[]);
    serve_hello(in_ns(&ns, || TcpListener::bind("0.0.0.0:8080").unwrap()));
    let (_unstarted_proxy, ports) =
        PortProxy::bind(&[ephemeral_loopback_tcp(8080)], ep.ip).unwrap();
    let id = env.id("dnat");
    env.nets.publish_ports(&id, &ep, &ports).unwrap();

    let mut conn = TcpStream::connect(("127.0.0.1", ports[0].host_port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = [0u8; 64];
    let n = conn.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.ends_with("Hello, world!"), "{reply:?}");
    drop(conn);

    let tag = format!("wrun:c:{}", &id[..12]);
    let ruleset = || {
        let out = Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(ruleset().contains(&tag));
    env.nets.unpublish_ports(&id).unwrap();
    env.nets.unpublish_ports(&id).unwrap();
    assert!(!ruleset().contains(&tag), "{}", ruleset());
}
