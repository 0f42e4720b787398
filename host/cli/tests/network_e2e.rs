//! End-to-end tests of container networking through the `wrun` binary:
//! published ports (TCP and UDP), names on a user network, `--network none`,
//! outbound traffic, and that nothing of wrun's is left afterwards. Only
//! loopback, the tests' own bridges and their namespaces see traffic.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Env, busybox, ok, require_root, text};

fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Links and nftables rules of this test's state root: its default bridge
/// (named from the root's path) and anything named after its networks.
fn leftovers(env: &Env, bridge_hint: &str) -> Vec<String> {
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let mut left: Vec<String> = text(&links.stdout)
        .lines()
        .filter(|l| l.contains(bridge_hint))
        .map(str::to_string)
        .collect();
    let _ = env;
    let rules = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    left.extend(
        text(&rules.stdout)
            .lines()
            .filter(|l| l.contains(bridge_hint))
            .map(str::to_string),
    );
    left
}

/// After the last container: the default network's bridge and its own NAT
/// rules stay for the next container (as Docker keeps `docker0`), nothing
/// else (no veth, no port rule); `network teardown-default` removes them.
fn only_the_default_bridge_is_left(env: &Env, bridge: &str) {
    let left = leftovers(env, bridge);
    let is_bridge = |l: &String| l.split(':').nth(1).map(str::trim) == Some(bridge);
    // The network's rules carry `wrun:<network id>`, a container's port
    // rules `wrun:c:<container id>`.
    let network_rule = |l: &String| l.contains("comment \"wrun:") && !l.contains("wrun:c:");
    let stray: Vec<&String> = left
        .iter()
        .filter(|l| !is_bridge(l) && !network_rule(l))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert!(
        left.iter().any(is_bridge),
        "the default bridge is kept: {left:?}"
    );
    ok(&env.wrun(&["network", "teardown-default"]));
    assert!(
        leftovers(env, bridge).is_empty(),
        "{:?}",
        leftovers(env, bridge)
    );
}

#[test]
fn published_tcp_port_answers_and_cleans_up() {
    let Some(env) = busybox() else { return };
    let bridge = wrun_runtime::network::default_bridge_and_subnet(env.root()).0;
    let id = ok(&env.wrun(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18080:80",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-container > /www/index.html && httpd -f -p 80 -h /www",
    ]));
    let body = retry("the published port", || {
        let mut s = TcpStream::connect("127.0.0.1:18080").ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.contains("hello-from-container").then_some(out)
    });
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert_eq!(ok(&env.wrun(&["port", &id])), "80/tcp -> 127.0.0.1:18080");
    assert!(ok(&env.wrun(&["ps"])).contains("127.0.0.1:18080->80/tcp"));
    // The same port again: Docker's error, exit 125, no container left.
    let out = env.wrun(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18080:80",
        "busybox",
        "sleep",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("port is already allocated"),
        "{}",
        text(&out.stderr)
    );
    ok(&env.wrun(&["rm", "-f", &id]));
    assert!(
        TcpStream::connect("127.0.0.1:18080").is_err(),
        "the proxy is gone"
    );
    only_the_default_bridge_is_left(&env, &bridge);
}

/// Busybox has no UDP server, so this one runs Python from the lecture's
/// base image.
#[test]
fn published_udp_port_echoes() {
    if !require_root() {
        return;
    }
    let Some(env) = Env::new().with_cached_image("python-3.11-slim", "python:3.11-slim") else {
        return;
    };
    let echo = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.bind(('0.0.0.0', 9000))\n\
        while True:\n    data, peer = s.recvfrom(2048)\n    s.sendto(data, peer)\n";
    let id = ok(&env.wrun(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18081:9000/udp",
        "python:3.11-slim",
        "python3",
        "-c",
        echo,
    ]));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let reply = retry("a UDP echo", || {
        sock.send_to(b"ping\n", "127.0.0.1:18081").ok()?;
        let mut buf = [0u8; 64];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    });
    assert_eq!(reply, "ping\n");
    ok(&env.wrun(&["rm", "-f", &id]));
}

#[test]
fn containers_on_a_user_network_find_each_other_by_name_and_alias() {
    let Some(env) = busybox() else { return };
    ok(&env.wrun(&["network", "create", "--subnet", "10.231.77.0/24", "e2e-app"]));
    ok(&env.wrun(&[
        "run",
        "-d",
        "--network",
        "e2e-app",
        "--name",
        "db",
        "--network-alias",
        "database",
        "busybox",
        "sh",
        "-c",
        "echo db-answers > /i.html; httpd -f -p 80 -h /",
    ]));
    // Started after db: its hosts file lists db; db's file learns about it.
    ok(&env.wrun(&[
        "run",
        "-d",
        "--network",
        "e2e-app",
        "--name",
        "web",
        "busybox",
        "sleep",
        "60",
    ]));
    for name in ["db", "database"] {
        let got = retry("a name lookup", || {
            let out = env.wrun(&[
                "exec",
                "web",
                "wget",
                "-q",
                "-O",
                "-",
                &format!("http://{name}/i.html"),
            ]);
            out.status.success().then(|| text(&out.stdout))
        });
        assert_eq!(got, "db-answers\n");
    }
    let db_hosts = ok(&env.wrun(&["exec", "db", "cat", "/etc/hosts"]));
    assert!(db_hosts.contains("web"), "{db_hosts}");
    let out = env.wrun(&["network", "rm", "e2e-app"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a network in use is not removed"
    );
    ok(&env.wrun(&["rm", "-f", "db", "web"]));
    ok(&env.wrun(&["network", "rm", "e2e-app"]));
    assert!(leftovers(&env, "10.231.77").is_empty());
}

#[test]
fn network_none_has_only_lo_and_outbound_reaches_the_gateway() {
    let Some(env) = busybox() else { return };
    let links = ok(&env.wrun(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert_eq!(links, "lo");
    // A listener on the default bridge's gateway: the container's way out.
    // The default subnet is the root's hashed one unless a host route
    // already covers it: ask the network itself.
    let bridge = wrun_runtime::network::default_bridge_and_subnet(env.root()).0;
    let id = ok(&env.wrun(&["run", "-d", "busybox", "sleep", "30"]));
    let ipam = ok(&env.wrun(&[
        "network",
        "inspect",
        "-f",
        "{{json .IPAM.Config}}",
        "bridge",
    ]));
    let ipam: serde_json::Value = serde_json::from_str(&ipam).unwrap();
    let gateway = ipam[0]["Gateway"].as_str().unwrap().to_string();
    let prefix = gateway
        .strip_suffix(".1")
        .expect("gateway x.y.z.1")
        .to_string();
    let prefix = prefix.as_str();
    let listener = TcpListener::bind(format!("{gateway}:18082")).unwrap();
    let sender = std::thread::spawn({
        let env_root = env.root().to_path_buf();
        let gateway = gateway.clone();
        move || {
            std::process::Command::new(common::wrun_bin())
                .arg("--root")
                .arg(env_root)
                .args([
                    "exec",
                    &id,
                    "sh",
                    "-c",
                    &format!("echo outbound | nc {gateway} 18082"),
                ])
                .output()
                .unwrap()
        }
    });
    listener.set_nonblocking(false).unwrap();
    let (mut conn, peer) = listener.accept().unwrap();
    // busybox nc waits for our side to close: read the line, then close.
    let mut got = [0u8; 9];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"outbound\n");
    drop(conn);
    assert!(
        peer.ip().to_string().starts_with(prefix),
        "from the container's address: {peer}"
    );
    // (busybox nc exits non-zero when the listener closes first; the bytes
    // above are what counts.)
    let _ = sender.join().unwrap();
    let ids = ok(&env.wrun(&["ps", "-a", "-q"]));
    ok(&env.wrun(&["rm", "-f", &ids]));
    only_the_default_bridge_is_left(&env, &bridge);
}
