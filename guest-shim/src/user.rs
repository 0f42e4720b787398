//! Resolving Docker's `--user` value in the container's own `/etc/passwd`
//! and `/etc/group`, the way Docker (runc's `user.GetExecUser`) does:
//!
//! * `name` or `uid`, optionally `:group` or `:gid`;
//! * a numeric uid needs no passwd entry (gid 0 and HOME `/` then); a name
//!   must have one: `unable to find user x: no matching entries in passwd file`;
//! * an explicit group replaces the primary gid; without one, the user's
//!   supplementary groups are every group that lists the user as a member;
//! * HOME comes from the passwd entry (only if the environment has none).
//!
//! The files are read after `pivot_root`, so they are the image's.

use crate::Error;

/// The identity the workload runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (`setgroups`).
    pub groups: Vec<u32>,
    /// Home directory from passwd, `/` without an entry.
    pub home: String,
}

/// One `/etc/passwd` line: name, uid, gid, home.
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32, &str)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if l.starts_with('#') || f.len() < 6 {
            return None;
        }
        Some((f[0], f[2].parse().ok()?, f[3].parse().ok()?, f[5]))
    })
}

/// One `/etc/group` line: name, gid, members.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if l.starts_with('#') || f.len() < 4 {
            return None;
        }
        Some((f[0], f[2].parse().ok()?, f[3]))
    })
}

/// Resolve `spec` (`user[:group]`, empty meaning root) against the given
/// file contents (empty strings when a file is missing).
pub fn resolve_in(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, Error> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let uid_arg: Option<u32> = user.parse().ok();
    let entry =
        passwd_entries(passwd).find(|(name, uid, _, _)| *name == user || Some(*uid) == uid_arg);
    let (name, uid, mut gid, home) = match (entry, uid_arg) {
        (Some((n, u, g, h)), _) => (n, u, g, h.to_owned()),
        (None, Some(u)) => ("", u, 0, "/".to_owned()),
        (None, None) => return Err(Error::NoUser(user.to_owned())),
    };
    let mut groups = Vec::new();
    match grp.filter(|g| !g.is_empty()) {
        Some(g) => {
            let gid_arg: Option<u32> = g.parse().ok();
            gid = match group_entries(group).find(|(n, id, _)| *n == g || Some(*id) == gid_arg) {
                Some((_, id, _)) => id,
                None => gid_arg.ok_or_else(|| Error::NoGroup(g.to_owned()))?,
            };
        }
        None if !name.is_empty() => {
            groups = group_entries(group)
                .filter(|(_, _, members)| members.split(',').any(|m| m == name))
                .map(|(_, id, _)| id)
                .collect();
        }
        None => {}
    }
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

/// Resolve against the current root's `/etc/passwd` and `/etc/group`.
pub fn resolve(spec: &str) -> Result<ExecUser, Error> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    resolve_in(spec, &read("/etc/passwd"), &read("/etc/group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        # comment\n\
        broken line\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1000:\n";

    fn r(s: &str) -> ExecUser {
        resolve_in(s, PASSWD, GROUP).unwrap()
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(
            r(""),
            ExecUser {
                uid: 0,
                gid: 0,
                groups: vec![10],
                home: "/root".into()
            }
        );
        assert_eq!(
            r("app"),
            ExecUser {
                uid: 1000,
                gid: 1000,
                groups: vec![10, 50],
                home: "/home/app".into()
            }
        );
        assert_eq!(r("1000"), r("app"));
        assert_eq!(
            r("4242"),
            ExecUser {
                uid: 4242,
                gid: 0,
                groups: vec![],
                home: "/".into()
            }
        );
        assert_eq!(
            r("app:staff"),
            ExecUser {
                uid: 1000,
                gid: 50,
                groups: vec![],
                home: "/home/app".into()
            }
        );
        assert_eq!(r("app:77").gid, 77);
        assert_eq!(
            r("4242:4343"),
            ExecUser {
                uid: 4242,
                gid: 4343,
                groups: vec![],
                home: "/".into()
            }
        );
    }

    #[test]
    fn unknown_names_are_docker_errors() {
        let e = resolve_in("nosuch", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        let e = resolve_in("app:nogroup", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        // No passwd at all: numbers still work.
        assert_eq!(resolve_in("7:8", "", "").unwrap().uid, 7);
    }
}
