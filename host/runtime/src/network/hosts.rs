//! `/etc/hosts` and `/etc/resolv.conf` for containers.
//!
//! The hosts file is bind-mounted into the container, so an update must
//! keep the inode: it is truncated and rewritten in place, never replaced
//! by rename (a rename would leave the container looking at the old file).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use super::store::EndpointRecord;
use super::{Error, Result};

/// Lines the runtime adds for `--add-host`, appended to every rendering:
/// `<root>/containers/<id>/hosts.extra`.
pub const EXTRA_FILE: &str = "hosts.extra";

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// The localhost lines, one line per own address (hostname, name and
/// aliases), one per peer (its name, hostname and aliases), then `extra`.
pub fn render(own: &[EndpointRecord], peers: &[EndpointRecord], extra: &str) -> String {
    let mut out = String::from(LOCALHOST);
    let mut line = |r: &EndpointRecord, hostname_first: bool| {
        let mut names: Vec<&str> = Vec::new();
        let ordered: Vec<&str> = if hostname_first {
            [r.hostname.as_str(), r.container_name.as_str()].to_vec()
        } else {
            [r.container_name.as_str(), r.hostname.as_str()].to_vec()
        };
        for n in ordered
            .into_iter()
            .chain(r.aliases.iter().map(String::as_str))
        {
            // A name with whitespace or control characters could add
            // lines to every peer's hosts file: never written.
            let well_formed = !n.is_empty()
                && n.chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '#');
            if well_formed && !names.contains(&n) {
                names.push(n);
            }
        }
        if !names.is_empty() {
            out += &format!("{}\t{}\n", r.ip, names.join(" "));
        }
    };
    for r in own {
        line(r, true);
    }
    for r in peers {
        line(r, false);
    }
    if !extra.is_empty() {
        out += extra;
        if !extra.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Truncates `path` and writes `content` into the same inode.
pub fn rewrite_in_place(path: &Path, content: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(Error::io(path))?;
    f.write_all(content.as_bytes()).map_err(Error::io(path))
}

/// The host's resolv.conf without loopback nameservers (127.0.0.0/8, ::1:
/// a container has its own loopback). If none is left, Docker's fallback
/// (Google's public resolvers) is used, as Docker does.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let loopback = words
                .next()
                .and_then(|a| a.split('%').next()?.parse::<IpAddr>().ok())
                .is_some_and(|ip| ip.is_loopback());
            if loopback {
                continue;
            }
            servers += 1;
        }
        out += line;
        out.push('\n');
    }
    if servers == 0 {
        out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, host: &str, ip: &str, aliases: &[&str]) -> EndpointRecord {
        EndpointRecord {
            container_name: name.into(),
            hostname: host.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ip: ip.parse().unwrap(),
            mac: String::new(),
            host_veth: String::new(),
        }
    }

    #[test]
    fn hosts_lists_self_then_peers_without_duplicates() {
        let own = [rec("web", "abc123", "10.231.1.2", &[])];
        let peers = [rec("db", "db", "10.231.1.3", &["database", "db"])];
        let s = render(&own, &peers, "10.0.0.9 extra\n");
        assert!(s.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(s.contains("10.231.1.2\tabc123 web\n"), "{s}");
        assert!(s.contains("10.231.1.3\tdb database\n"), "{s}");
        assert!(s.ends_with("10.0.0.9 extra\n"));
    }

    #[test]
    fn names_that_would_add_lines_are_left_out() {
        let own = [rec("web", "web", "10.231.1.2", &[])];
        let peers = [rec(
            "db",
            "db",
            "10.231.1.3",
            &["x\n1.2.3.4 bank", "a b", "#c", "ok"],
        )];
        let s = render(&own, &peers, "");
        assert!(s.ends_with("10.231.1.3\tdb ok\n"), "{s}");
        assert!(!s.contains("bank"), "{s}");
    }

    #[test]
    fn rewrite_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        std::fs::write(&p, "a much longer first content\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        rewrite_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf(host),
            "# generated\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
        );
        let only_local = resolv_conf("nameserver 127.0.0.53\nsearch lan\n");
        assert_eq!(
            only_local,
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
