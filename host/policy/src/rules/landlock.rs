//! Which YAML rule files Landlock can enforce in the kernel, and how.
//!
//! Landlock (landlock(7)) restricts a process and its descendants to an
//! allow-list of rights granted *beneath directories*: there is no deny
//! inside an allowed tree, no glob, no errno but `EACCES` (`EXDEV` for a
//! cross-directory rename it refuses), and nothing is reported per call.
//! A rule file is mapped only when the kernel would then permit exactly the
//! same file effects on exactly the same trees as the trapped policy; any
//! doubt keeps the policy on traps, with the reason.
//!
//! "Exactly" is judged by effect — which files can be read, written,
//! truncated, created, removed or executed — not call by call: for
//! instance an `O_CREAT` open of an existing file is the `create`
//! operation for the policy but a plain write-open for Landlock; both
//! permit writing that file where the policy allows `open` for writing.
//!
//! The conditions (each failure is a [`Refusal`] saying which rule or
//! operation is at fault):
//!
//! * `default: deny`, no `deny` rule (a deny inside an allowed tree cannot
//!   be written), and the deny errno is `EACCES` (Landlock's);
//! * every path is `DIR/**` (or `/**`) with no glob characters in `DIR`,
//!   or the rule has no `paths` (the whole tree);
//! * the policy decides no operation Landlock cannot see: `stat`, `access`,
//!   `readlink`, `chmod`, `chown`, `socket`, `listen`, `sendto`;
//! * a Landlock right is restricted only when **every** operation that can
//!   exercise it is decided by the policy (otherwise an undecided operation
//!   could do what the decided one may not, under traps, but not under
//!   Landlock): `READ_FILE` is exercised by `open`, `create` and `exec`
//!   (the kernel opens an executable for reading), `MAKE_REG` by `create`,
//!   `mknod`, `link` and `rename`, and so on ([`RIGHTS`]);
//! * `exec`'s trees are covered by the `READ_FILE` grants (exec needs both);
//! * `connect` and `bind` rules carry only `ports` (no addresses, no
//!   paths). Landlock restricts **TCP** only, so such a policy is mapped
//!   with [`LandlockPlan::tcp_only`] set: it is enforced by Landlock only
//!   when asked for by name (`--policy-enforcement landlock`), never
//!   automatically, because UDP and unix sockets would then escape the
//!   policy's network rules.

use serde::{Deserialize, Serialize};

use super::{Access, Action, AuditMode, Errno, File, RulesError, parse_port};
use crate::abi::{Op, OpSet};

/// Landlock's file-system access rights (`LANDLOCK_ACCESS_FS_*`, the
/// kernel's UAPI numbers) and the ABI version that introduced each.
pub mod fs {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    /// ABI v2.
    pub const REFER: u64 = 1 << 13;
    /// ABI v3.
    pub const TRUNCATE: u64 = 1 << 14;
    /// Rights that apply to a regular file itself (the rest apply to
    /// directories); a `PATH_BENEATH` rule on a file may carry only these.
    pub const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE;
    /// The names, for messages and `wrun inspect`.
    pub const NAMES: &[(u64, &str)] = &[
        (EXECUTE, "execute"),
        (WRITE_FILE, "write_file"),
        (READ_FILE, "read_file"),
        (READ_DIR, "read_dir"),
        (REMOVE_DIR, "remove_dir"),
        (REMOVE_FILE, "remove_file"),
        (MAKE_CHAR, "make_char"),
        (MAKE_DIR, "make_dir"),
        (MAKE_REG, "make_reg"),
        (MAKE_SOCK, "make_sock"),
        (MAKE_FIFO, "make_fifo"),
        (MAKE_BLOCK, "make_block"),
        (MAKE_SYM, "make_sym"),
        (REFER, "refer"),
        (TRUNCATE, "truncate"),
    ];
}

/// Landlock's network rights (`LANDLOCK_ACCESS_NET_*`, ABI v4): TCP only.
pub mod net {
    pub const BIND_TCP: u64 = 1 << 0;
    pub const CONNECT_TCP: u64 = 1 << 1;
}

const MAKE_ANY_NODE: u64 =
    fs::MAKE_REG | fs::MAKE_CHAR | fs::MAKE_BLOCK | fs::MAKE_FIFO | fs::MAKE_SOCK | fs::MAKE_SYM;

/// The rights each file operation may exercise when the policy allows it
/// (an `open` without `access`; see [`open_rights`] for `access`).
pub const RIGHTS: &[(Op, u64)] = &[
    (
        Op::Open,
        fs::READ_FILE | fs::READ_DIR | fs::WRITE_FILE | fs::TRUNCATE,
    ),
    // An O_CREAT open of an existing file opens it, for reading and writing.
    (
        Op::Create,
        fs::MAKE_REG | fs::READ_FILE | fs::WRITE_FILE | fs::TRUNCATE,
    ),
    (Op::Unlink, fs::REMOVE_FILE),
    (Op::Rmdir, fs::REMOVE_DIR),
    (Op::Mkdir, fs::MAKE_DIR),
    (
        Op::Rename,
        fs::REMOVE_FILE | fs::REMOVE_DIR | fs::MAKE_DIR | MAKE_ANY_NODE | fs::REFER,
    ),
    (Op::Link, MAKE_ANY_NODE | fs::REFER),
    (Op::Symlink, fs::MAKE_SYM),
    (
        Op::Mknod,
        fs::MAKE_REG | fs::MAKE_CHAR | fs::MAKE_BLOCK | fs::MAKE_FIFO | fs::MAKE_SOCK,
    ),
    (Op::Truncate, fs::TRUNCATE),
    // execve opens the file for reading and executing.
    (Op::Exec, fs::EXECUTE | fs::READ_FILE),
];

/// Operations Landlock cannot restrict at all.
const INVISIBLE: &[Op] = &[
    Op::Stat,
    Op::Access,
    Op::Readlink,
    Op::Chmod,
    Op::Chown,
    Op::Socket,
    Op::Listen,
    Op::Sendto,
];

/// The most ports a policy may expand to (one Landlock rule each).
const MAX_PORTS: usize = 4096;

/// Rights granted beneath one directory (the path as seen in the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathGrant {
    pub path: String,
    pub access: u64,
}

/// Rights granted on one TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortGrant {
    pub port: u16,
    pub access: u64,
}

/// A Landlock ruleset equivalent to a rule file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// `handled_access_fs`: the rights restricted.
    pub handled_fs: u64,
    /// `handled_access_net`: the TCP rights restricted.
    pub handled_net: u64,
    /// Directory-beneath grants, sorted by path.
    pub paths: Vec<PathGrant>,
    /// Port grants, sorted by port.
    pub ports: Vec<PortGrant>,
    /// The policy decides `connect`/`bind`, which Landlock restricts for
    /// TCP only: not an exact mapping.
    pub tcp_only: bool,
    /// The policy asks for audit records, which Landlock does not give.
    pub audited: bool,
}

impl LandlockPlan {
    /// The lowest Landlock ABI version that can enforce this plan.
    pub fn min_abi(&self) -> u32 {
        if self.handled_net != 0 {
            4
        } else if self.handled_fs & fs::TRUNCATE != 0 {
            3
        } else if self.handled_fs & fs::REFER != 0 {
            2
        } else {
            1
        }
    }
}

/// Why a rule file stays on traps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: landlock cannot enforce this policy exactly: {reason}")]
pub struct Refusal {
    pub file: String,
    pub reason: String,
}

/// A tree (a directory path, "/" for everything) and the rights granted there.
fn tree_of(glob: &str) -> Option<String> {
    let dir = glob.strip_suffix("/**")?;
    if dir.contains(['*', '?', '[', '\\']) || dir.split('/').any(|c| c == "." || c == "..") {
        return None;
    }
    Some(if dir.is_empty() {
        "/".to_owned()
    } else {
        dir.to_owned()
    })
}

/// Whether `path` is `tree` or beneath it.
fn beneath(path: &str, tree: &str) -> bool {
    tree == "/"
        || path == tree
        || path
            .strip_prefix(tree)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn open_rights(access: Option<Access>) -> u64 {
    match access {
        Some(Access::Read) => fs::READ_FILE | fs::READ_DIR,
        // O_RDWR is a write for the policy: reading comes with it.
        Some(Access::Write) => fs::READ_FILE | fs::WRITE_FILE | fs::TRUNCATE,
        None => fs::READ_FILE | fs::READ_DIR | fs::WRITE_FILE | fs::TRUNCATE,
    }
}

fn rights_of(op: Op) -> u64 {
    RIGHTS.iter().find(|(o, _)| *o == op).map_or(0, |(_, r)| *r)
}

/// Maps the YAML rule file `text` (named `file` in messages) to a
/// Landlock ruleset, or says why it cannot be.
pub fn plan(text: &str, file: &str) -> Result<LandlockPlan, PlanError> {
    // Everything `compile` checks is checked first: a bad file is a bad
    // file whatever the enforcement.
    super::compile(text, file)?;
    let parsed: File = serde_yaml::from_str(text).map_err(|e| RulesError {
        file: file.to_owned(),
        line: e.location().map(|l| l.line()).unwrap_or(0),
        message: e.to_string(),
    })?;
    let refuse = |reason: String| {
        PlanError::Refused(Refusal {
            file: file.to_owned(),
            reason,
        })
    };
    if parsed.default.unwrap_or(Action::Deny) != Action::Deny {
        return Err(refuse(
            "default: allow (landlock only allows; it cannot deny a part of what is allowed)"
                .into(),
        ));
    }
    let is_eacces = |e: &Errno| match e {
        Errno::Number(n) => *n == 13,
        Errno::Name(n) => n.eq_ignore_ascii_case("EACCES"),
    };
    if let Some(e) = &parsed.errno
        && !is_eacces(e)
    {
        return Err(refuse(format!(
            "errno: {e:?} (landlock denies with EACCES)"
        )));
    }
    // A top-level `ops:` list is exactly what the policy is asked about.
    let asked: Option<OpSet> = parsed.ops.as_ref().map(|names| {
        names
            .iter()
            .filter_map(|o| o.parse::<Op>().ok())
            .fold(OpSet::empty(), |s, o| s.with(o))
    });
    let mut audited = parsed.audit.unwrap_or(AuditMode::Deny) != AuditMode::None;
    let mut decided = OpSet::empty();
    // Per operation, the trees where it is allowed (with the rights of
    // that rule: `access` narrows `open`).
    let mut grants: Vec<(Op, String, u64)> = Vec::new();
    let mut port_grants: Vec<(u16, u64)> = Vec::new();
    for (i, r) in parsed.rules.iter().enumerate() {
        let n = i + 1;
        let ops: Vec<Op> = r
            .ops
            .iter()
            .filter_map(|o| o.parse().ok())
            .filter(|o| asked.is_none_or(|a: OpSet| a.contains(*o)))
            .collect();
        for op in &ops {
            decided = decided.with(*op);
        }
        audited |= r.audit == Some(true);
        if r.action == Action::Deny {
            return Err(refuse(format!(
                "rule {n} denies (landlock cannot deny inside an allowed tree)"
            )));
        }
        let is_net = |o: &Op| matches!(o, Op::Connect | Op::Bind);
        let net_ops: Vec<Op> = ops.iter().copied().filter(is_net).collect();
        let file_ops: Vec<Op> = ops.iter().copied().filter(|o| !is_net(o)).collect();
        if let Some(op) = file_ops.iter().find(|o| INVISIBLE.contains(o)) {
            return Err(refuse(format!(
                "rule {n} decides {} (landlock cannot see it)",
                op.name()
            )));
        }
        if r.addresses.is_some() {
            return Err(refuse(format!(
                "rule {n} has addresses (landlock restricts ports only)"
            )));
        }
        if !net_ops.is_empty() && !file_ops.is_empty() {
            return Err(refuse(format!(
                "rule {n} mixes file and network operations"
            )));
        }
        if !net_ops.is_empty() {
            if r.paths.is_some() {
                return Err(refuse(format!("rule {n}: paths on a network operation")));
            }
            let access = net_ops.iter().fold(0, |a, o| {
                a | if *o == Op::Bind {
                    net::BIND_TCP
                } else {
                    net::CONNECT_TCP
                }
            });
            let mut ranges = Vec::new();
            match &r.ports {
                None => ranges.push((0u32, 65535u32)),
                Some(ports) => {
                    for p in ports {
                        ranges.push(
                            parse_port(p).map_err(|m| refuse(format!("rule {n}: ports: {m}")))?,
                        );
                    }
                }
            }
            for (lo, hi) in ranges {
                for port in lo..=hi {
                    port_grants.push((port as u16, access));
                    if port_grants.len() > MAX_PORTS {
                        return Err(refuse(format!(
                            "rule {n}: more than {MAX_PORTS} ports (one landlock rule each)"
                        )));
                    }
                }
            }
            continue;
        }
        if r.ports.is_some() {
            return Err(refuse(format!("rule {n} has ports on a file operation")));
        }
        let trees: Vec<String> = match &r.paths {
            None => vec!["/".to_owned()],
            Some(paths) => paths
                .iter()
                .map(|p| {
                    tree_of(p).ok_or_else(|| {
                        refuse(format!(
                            "rule {n}: path {p:?} is not DIR/** (landlock grants whole directories)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        for op in file_ops {
            let rights = match op {
                Op::Open => open_rights(r.access),
                // Reading what it executes must be granted by `open` rules:
                // an exec rule does not let the file be opened.
                Op::Exec => fs::EXECUTE,
                _ => rights_of(op),
            };
            for t in &trees {
                grants.push((op, t.clone(), rights));
            }
        }
    }
    if let Some(a) = asked {
        decided = a;
    }
    if let Some(op) = decided.iter().find(|o| INVISIBLE.contains(o)) {
        return Err(refuse(format!(
            "the policy decides {} (landlock cannot see it)",
            op.name()
        )));
    }

    // A right is restricted only if every operation exercising it is decided.
    let mut handled_fs = 0u64;
    for &(op, rights) in RIGHTS {
        if decided.contains(op) {
            handled_fs |= rights;
        }
    }
    for &(op, rights) in RIGHTS {
        let lost = handled_fs & rights;
        if lost != 0 && !decided.contains(op) {
            // Rights this undecided operation exercises would be denied to it.
            let users: Vec<&str> = RIGHTS
                .iter()
                .filter(|(o, r)| decided.contains(*o) && r & lost != 0)
                .map(|(o, _)| o.name())
                .collect();
            return Err(refuse(format!(
                "{} is not decided, but it needs {} which {} restrict{}: add `{}` to the policy's ops",
                op.name(),
                right_names(lost),
                users.join(", "),
                if users.len() == 1 { "s" } else { "" },
                op.name()
            )));
        }
    }
    // exec needs READ_FILE where it is allowed.
    if handled_fs & fs::READ_FILE != 0 {
        for (op, tree, _) in grants.iter().filter(|(o, _, _)| *o == Op::Exec) {
            let covered = grants
                .iter()
                .any(|(_, t, r)| r & fs::READ_FILE != 0 && beneath(tree, t));
            if !covered {
                return Err(refuse(format!(
                    "{} is allowed in {tree} but reading is not (the kernel reads what it executes)",
                    op.name()
                )));
            }
        }
    }
    let mut paths: Vec<PathGrant> = Vec::new();
    for (_, tree, rights) in grants {
        let access = rights & handled_fs;
        if access == 0 {
            continue;
        }
        match paths.iter_mut().find(|g| g.path == tree) {
            Some(g) => g.access |= access,
            None => paths.push(PathGrant { path: tree, access }),
        }
    }
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    let handled_net = decided
        .iter()
        .map(|o| match o {
            Op::Bind => net::BIND_TCP,
            Op::Connect => net::CONNECT_TCP,
            _ => 0,
        })
        .fold(0, |a, b| a | b);
    let mut ports: Vec<PortGrant> = Vec::new();
    for (port, access) in port_grants {
        match ports.iter_mut().find(|g| g.port == port) {
            Some(g) => g.access |= access,
            None => ports.push(PortGrant { port, access }),
        }
    }
    ports.sort_by_key(|g| g.port);
    Ok(LandlockPlan {
        handled_fs,
        handled_net,
        paths,
        ports,
        tcp_only: handled_net != 0,
        audited,
    })
}

/// The names of a set of file-system rights: `read_file|write_file`.
pub fn right_names(bits: u64) -> String {
    fs::NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}

/// A rule file that is malformed, or well-formed but not for Landlock.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_FILE_OPS: &str =
        "[open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate, exec]";

    fn plan_of(text: &str) -> Result<LandlockPlan, String> {
        plan(text, "p.yaml").map_err(|e| e.to_string())
    }

    fn refusal(text: &str) -> String {
        plan_of(text).expect_err("should stay on traps")
    }

    #[test]
    fn a_read_everywhere_write_tmp_policy_maps_to_two_trees() {
        let p = plan_of(&format!(
            "audit: none\nops: {ALL_FILE_OPS}\nrules:\n\
             - ops: [open]\n  access: read\n  action: allow\n\
             - ops: [exec]\n  action: allow\n\
             - ops: {ALL_FILE_OPS}\n  paths: [\"/tmp/**\", \"/app/**\"]\n  action: allow\n"
        ))
        .unwrap();
        assert!(!p.audited && !p.tcp_only);
        assert_eq!(p.handled_net, 0);
        let every = RIGHTS.iter().fold(0, |a, (_, r)| a | r);
        assert_eq!(p.handled_fs, every);
        let root = p.paths.iter().find(|g| g.path == "/").unwrap();
        assert_eq!(
            root.access,
            fs::READ_FILE | fs::READ_DIR | fs::EXECUTE,
            "{}",
            right_names(root.access)
        );
        let tmp = p.paths.iter().find(|g| g.path == "/tmp").unwrap();
        assert_eq!(tmp.access, every);
        assert_eq!(
            p.paths.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(),
            ["/", "/app", "/tmp"]
        );
        assert_eq!(p.min_abi(), 3);
    }

    #[test]
    fn write_access_brings_reading_with_it() {
        assert_eq!(
            open_rights(Some(Access::Write)),
            fs::READ_FILE | fs::WRITE_FILE | fs::TRUNCATE
        );
    }

    #[test]
    fn an_undecided_operation_sharing_a_right_keeps_the_policy_on_traps() {
        // `create` restricts READ_FILE/WRITE_FILE, which plain opens (not
        // decided) exercise too.
        let e = refusal("rules:\n- ops: [create]\n  paths: [\"/tmp/**\"]\n  action: allow\n");
        assert!(
            e.contains("open is not decided") && e.contains("add `open`"),
            "{e}"
        );
        let e = refusal("rules:\n- ops: [open]\n  paths: [\"/app/**\"]\n  action: allow\n");
        assert!(e.contains("create is not decided"), "{e}");
        // `open` restricts READ_FILE, which exec exercises.
        let e = refusal(
            "rules:\n- ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate]\n  paths: [\"/app/**\"]\n  action: allow\n",
        );
        assert!(e.contains("exec is not decided"), "{e}");
    }

    #[test]
    fn exec_needs_reading_where_it_is_allowed() {
        let e = refusal(&format!(
            "ops: {ALL_FILE_OPS}\nrules:\n\
             - ops: [open, create]\n  paths: [\"/app/**\"]\n  action: allow\n\
             - ops: [exec]\n  paths: [\"/bin/**\"]\n  action: allow\n"
        ));
        assert!(e.contains("allowed in /bin but reading is not"), "{e}");
    }

    #[test]
    fn what_landlock_cannot_say_stays_on_traps() {
        let cases = [
            ("default: allow\nrules: []\n", "default: allow"),
            (
                "rules:\n- ops: [open]\n  paths: [\"/etc/shadow\"]\n  action: deny\n",
                "rule 1 denies",
            ),
            (
                "rules:\n- ops: [open]\n  paths: [\"/app/*.log\"]\n  action: allow\n",
                "is not DIR/**",
            ),
            (
                "rules:\n- ops: [open]\n  paths: [\"/a*/**\"]\n  action: allow\n",
                "is not DIR/**",
            ),
            ("rules:\n- ops: [stat]\n  action: allow\n", "decides stat"),
            ("errno: EROFS\nrules: []\nops: [open]\n", "errno"),
            (
                "rules:\n- ops: [connect]\n  addresses: [\"10.0.0.0/8\"]\n  action: allow\n",
                "addresses",
            ),
            (
                "rules:\n- ops: [open, connect]\n  action: allow\n",
                "mixes file and network",
            ),
            ("ops: [chmod]\nrules: []\n", "decides chmod"),
        ];
        for (text, why) in cases {
            let e = refusal(text);
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.starts_with("p.yaml: landlock cannot enforce"), "{e}");
        }
    }

    #[test]
    fn a_bad_file_is_a_rules_error_not_a_refusal() {
        let e = plan(
            "rules:\n- ops: [open]\n  pathz: []\n  action: allow\n",
            "p.yaml",
        )
        .unwrap_err();
        assert!(matches!(e, PlanError::Rules(_)), "{e}");
        assert!(e.to_string().contains("pathz"), "{e}");
    }

    #[test]
    fn port_rules_become_tcp_port_grants() {
        let p = plan_of(
            "audit: none\nrules:\n\
             - ops: [connect]\n  ports: [53, \"8000-8002\"]\n  action: allow\n\
             - ops: [bind]\n  ports: [8001]\n  action: allow\n",
        )
        .unwrap();
        assert!(p.tcp_only);
        assert_eq!(p.handled_fs, 0);
        assert_eq!(p.handled_net, net::BIND_TCP | net::CONNECT_TCP);
        assert_eq!(
            p.ports,
            vec![
                PortGrant {
                    port: 53,
                    access: net::CONNECT_TCP
                },
                PortGrant {
                    port: 8000,
                    access: net::CONNECT_TCP
                },
                PortGrant {
                    port: 8001,
                    access: net::CONNECT_TCP | net::BIND_TCP
                },
                PortGrant {
                    port: 8002,
                    access: net::CONNECT_TCP
                },
            ]
        );
        assert_eq!(p.min_abi(), 4);
    }

    #[test]
    fn audit_settings_are_reported() {
        let base = format!(
            "ops: {ALL_FILE_OPS}\nrules:\n- ops: {ALL_FILE_OPS}\n  paths: [\"/**\"]\n  action: allow\n"
        );
        assert!(
            plan_of(&base).unwrap().audited,
            "audit: deny is the default"
        );
        assert!(!plan_of(&format!("audit: none\n{base}")).unwrap().audited);
        let per_rule = format!("audit: none\n{base}  audit: true\n");
        assert!(plan_of(&per_rule).unwrap().audited);
    }

    #[test]
    fn trees_and_beneath() {
        assert_eq!(tree_of("/**").as_deref(), Some("/"));
        assert_eq!(tree_of("/var/lib/**").as_deref(), Some("/var/lib"));
        assert_eq!(tree_of("/var/../etc/**"), None);
        assert_eq!(tree_of("/var/lib"), None);
        assert!(beneath("/tmp/x", "/tmp") && beneath("/tmp", "/tmp") && beneath("/x", "/"));
        assert!(!beneath("/tmpx", "/tmp"));
    }
}
