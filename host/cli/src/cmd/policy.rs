//! `wrun policy ls | check | test | generate` (see docs/policy.md).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use wrun_policy::{Builtin, Decision, Op, Request};
use wrun_runtime::isolation::{self, PolicyContext};
use wrun_supervisor::{AUDIT_FILE, Record};

use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// List the built-in policies
    Ls,
    /// Check that a policy (built-in name, .wasm, .wat or YAML file) loads, and show what it traps
    Check {
        #[arg(value_name = "NAME|FILE")]
        policy: String,
    },
    /// Replay a recorded audit log against a policy and show the decisions that change
    Test {
        #[arg(value_name = "NAME|FILE")]
        policy: String,
        /// The audit log to replay (a container's audit.jsonl, or `wrun audit --format json` output)
        #[arg(long, value_name = "AUDIT.jsonl")]
        trace: PathBuf,
    },
    /// Print a least-privilege YAML policy from what a container did under a policy
    Generate {
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
}

impl PolicyCommand {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        match self {
            PolicyCommand::Ls => ls(),
            PolicyCommand::Check { policy } => check(&policy),
            PolicyCommand::Test { policy, trace } => test(&policy, &trace),
            PolicyCommand::Generate { container } => generate(g, &container),
        }
    }
}

fn load(value: &str) -> anyhow::Result<(String, wrun_policy::Policy)> {
    let (name, bytes) = isolation::policy_source(value, &PolicyContext::default())
        .map_err(|e| ExitError::new(1, format!("wrun policy: {e}")))?;
    let engine = isolation::engine()?;
    let policy = engine
        .load(&bytes)
        .map_err(|e| ExitError::new(1, format!("wrun policy: {name}: {e}")))?;
    Ok((name, policy))
}

fn op_names(policy: &wrun_policy::Policy) -> String {
    let ops: Vec<&str> = policy.interest().ops.iter().map(Op::name).collect();
    if ops.is_empty() {
        "-".into()
    } else {
        ops.join(",")
    }
}

fn ls() -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:<10} {:<21} OPERATIONS",
        "NAME", "CACHEABLE", "MODULE"
    )?;
    let mut names: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
    names.push(isolation::WEB_APP);
    for name in names {
        let (_, p) = load(name)?;
        writeln!(
            out,
            "{:<12} {:<10} sha256:{:<14} {}",
            name,
            if p.interest().cacheable { "yes" } else { "no" },
            &p.hash()[..12],
            op_names(&p)
        )?;
    }
    Ok(0)
}

fn check(value: &str) -> anyhow::Result<i32> {
    let (name, p) = load(value)?;
    let traps = wrun_supervisor::trap::syscalls_for(p.interest().ops);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{name}: ok")?;
    writeln!(out, "  abi:        {}", wrun_policy::ABI_VERSION)?;
    writeln!(out, "  module:     sha256:{}", p.hash())?;
    writeln!(out, "  operations: {}", op_names(&p))?;
    writeln!(
        out,
        "  cacheable:  {}",
        if p.interest().cacheable { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "  traps:      {}",
        if traps.is_empty() {
            "-".into()
        } else {
            traps.join(",")
        }
    )?;
    Ok(0)
}

/// The request an audit record describes.
fn request_of(r: &Record) -> Option<Request<'_>> {
    let op: Op = r.op.parse().ok()?;
    let mut req = Request {
        flags: r.flags,
        mode: r.mode,
        uid: r.uid,
        gid: r.gid,
        pid: r.pid,
        path: r.path.as_deref().map(str::as_bytes).unwrap_or(b""),
        path2: r.path2.as_deref().map(str::as_bytes).unwrap_or(b""),
        ..Request::new(op)
    };
    if let Some(a) = r.address.as_deref().and_then(|a| a.parse().ok()) {
        req = req.with_socket_addr(a);
    } else if matches!(op, Op::Connect | Op::Bind | Op::Sendto) && !req.path.is_empty() {
        req.family = wrun_policy::abi::AF_UNIX;
    } else if op == Op::Socket {
        req.family = r.flags as u16;
        req.flags = 0;
    }
    Some(req)
}

fn verdict(d: &Decision) -> String {
    match d {
        Decision::Allow { .. } => "allow".into(),
        Decision::Deny {
            errno,
            reason: Some(r),
            ..
        } => format!("deny({errno}: {r})"),
        Decision::Deny { errno, .. } => format!("deny({errno})"),
    }
}

fn test(value: &str, trace: &std::path::Path) -> anyhow::Result<i32> {
    let (name, p) = load(value)?;
    let records = wrun_supervisor::audit::read_all(trace)
        .map_err(|e| ExitError::new(1, format!("wrun policy test: {e}")))?;
    let mut inst = p.instantiate()?;
    let mut out = std::io::stdout().lock();
    let mut changed = 0usize;
    let mut skipped = 0usize;
    writeln!(
        out,
        "{:<9} {:<20} {:<20} PATH/ADDRESS",
        "OP",
        "RECORDED",
        &name.rsplit('/').next().unwrap_or(&name)
    )?;
    for r in &records {
        let Some(req) = request_of(r) else {
            skipped += 1;
            continue;
        };
        if !p.interest().ops.contains(req.op) {
            // The new policy would not even see it: the kernel allows it.
            if r.decision != "allow" {
                changed += 1;
                writeln!(
                    out,
                    "{:<9} {:<20} {:<20} {}",
                    r.op,
                    recorded(r),
                    "allow(untrapped)",
                    r.target()
                )?;
            }
            continue;
        }
        let d = inst.decide(&req);
        let now = verdict(&d);
        let before = recorded(r);
        let same = match &d {
            Decision::Allow { .. } => r.decision == "allow",
            Decision::Deny { errno, .. } => r.decision == "deny" && r.errno == *errno,
        };
        if !same {
            changed += 1;
            writeln!(out, "{:<9} {:<20} {:<20} {}", r.op, before, now, r.target())?;
        }
    }
    writeln!(
        out,
        "{} decisions replayed, {changed} changed{}",
        records.len() - skipped,
        if skipped > 0 {
            format!(", {skipped} skipped (unknown operation)")
        } else {
            String::new()
        }
    )?;
    Ok(0)
}

fn recorded(r: &Record) -> String {
    if r.decision == "allow" {
        "allow".into()
    } else {
        format!("deny({})", r.errno)
    }
}

/// A least-privilege rule file: each allowed operation on exactly the
/// paths and addresses it was seen on, everything else of those operations
/// denied.
pub(crate) fn generate_rules(records: &[Record], source: &str) -> String {
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut addrs: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    let mut other: BTreeSet<String> = BTreeSet::new();
    let mut ops: BTreeSet<String> = BTreeSet::new();
    for r in records {
        let Ok(op) = r.op.parse::<Op>() else { continue };
        ops.insert(op.name().to_owned());
        if r.decision != "allow" {
            continue;
        }
        let key = if op == Op::Open {
            if r.flags & 0x203 != 0 {
                "open:write".to_string()
            } else {
                "open:read".to_string()
            }
        } else {
            op.name().to_owned()
        };
        if let Some(sa) = r
            .address
            .as_deref()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        {
            let cidr = match sa.ip() {
                std::net::IpAddr::V4(ip) => format!("{ip}/32"),
                std::net::IpAddr::V6(ip) => format!("{ip}/128"),
            };
            addrs
                .entry((op.name().to_owned(), cidr))
                .or_default()
                .insert(sa.port());
        } else if let Some(p) = &r.path {
            let set = paths.entry(key).or_default();
            set.insert(p.clone());
            if let Some(p2) = &r.path2
                && matches!(op, Op::Rename | Op::Link)
            {
                set.insert(p2.clone());
            }
        } else {
            other.insert(op.name().to_owned());
        }
    }
    let mut y = String::new();
    y.push_str(&format!(
        "# Generated by `wrun policy generate` from {source}: every operation\n\
         # allowed on exactly what the container was seen to use; the rest of\n\
         # these operations is denied and audited. Review before use.\n"
    ));
    y.push_str("default: deny\nerrno: EACCES\naudit: deny\n");
    let quoted = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let op_list: Vec<String> = ops.iter().cloned().collect();
    y.push_str(&format!("ops: [{}]\nrules:\n", op_list.join(", ")));
    for (key, set) in &paths {
        let (op, access) = match key.split_once(':') {
            Some((o, a)) => (o, Some(a)),
            None => (key.as_str(), None),
        };
        let list: Vec<String> = set.iter().cloned().collect();
        y.push_str(&format!("  - ops: [{op}]\n"));
        if let Some(a) = access {
            y.push_str(&format!("    access: {a}\n"));
        }
        y.push_str(&format!(
            "    paths: [{}]\n    action: allow\n",
            quoted(&list)
        ));
    }
    for ((op, cidr), ports) in &addrs {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        y.push_str(&format!(
            "  - ops: [{op}]\n    addresses: [{cidr:?}]\n    ports: [{}]\n    action: allow\n",
            ports.join(", ")
        ));
    }
    for op in &other {
        y.push_str(&format!("  - ops: [{op}]\n    action: allow\n"));
    }
    y
}

fn generate(g: &Global, container: &str) -> anyhow::Result<i32> {
    let runtime = super::run::open_runtime(g)?;
    let state = runtime
        .get(container)
        .map_err(|e| ExitError::new(1, format!("Error response from daemon: {e}")))?;
    let path = runtime.containers().dir(&state.id).join(AUDIT_FILE);
    let records = wrun_supervisor::audit::read_all(&path)
        .map_err(|e| ExitError::new(1, format!("wrun policy generate: {e}")))?;
    let yaml = generate_rules(&records, &format!("container {}", state.name));
    // The output must itself be a valid policy.
    wrun_policy::rules::compile(&yaml, "(generated)")
        .map_err(|e| anyhow::anyhow!("generated policy does not compile: {e}"))?;
    print!("{yaml}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        op: &str,
        path: Option<&str>,
        address: Option<&str>,
        flags: u32,
        decision: &str,
    ) -> Record {
        Record {
            time: "t".into(),
            pid: 1,
            op: op.into(),
            syscall: "x".into(),
            path: path.map(Into::into),
            path2: None,
            address: address.map(Into::into),
            flags,
            mode: 0,
            uid: 0,
            gid: 0,
            decision: decision.into(),
            errno: if decision == "deny" { 13 } else { 0 },
            reason: None,
            policy: "audit".into(),
            module: "m".into(),
            latency_us: 1,
        }
    }

    #[test]
    fn a_generated_policy_allows_what_was_seen_and_nothing_else() {
        let records = vec![
            rec("open", Some("/etc/passwd"), None, 0, "allow"),
            rec("open", Some("/app/log"), None, 1, "allow"),
            rec("connect", None, Some("10.0.0.2:5432"), 0, "allow"),
            rec("open", Some("/etc/shadow"), None, 0, "deny"),
        ];
        let yaml = generate_rules(&records, "test");
        let wat = wrun_policy::rules::compile(&yaml, "gen").unwrap();
        let p = wrun_policy::PolicyEngine::new()
            .unwrap()
            .load(wat.as_bytes())
            .unwrap();
        let mut i = p.instantiate().unwrap();
        for r in &records {
            let d = i.decide(&request_of(r).unwrap());
            assert_eq!(d.is_allow(), r.decision == "allow", "{r:?}\n{yaml}");
        }
        let other = rec("open", Some("/etc/hosts"), None, 0, "allow");
        assert!(!i.decide(&request_of(&other).unwrap()).is_allow());
        let write_passwd = rec("open", Some("/etc/passwd"), None, 1, "allow");
        assert!(!i.decide(&request_of(&write_passwd).unwrap()).is_allow());
        let other_port = rec("connect", None, Some("10.0.0.2:22"), 0, "allow");
        assert!(!i.decide(&request_of(&other_port).unwrap()).is_allow());
    }
}
