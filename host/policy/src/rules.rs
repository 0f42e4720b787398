//! YAML rule files, compiled into a policy module (WAT) that speaks ABI v1.
//!
//! A rule file lists rules tried in order; the first that matches a request
//! decides it, and `default` decides the rest:
//!
//! ```yaml
//! default: deny          # allow | deny (default: deny)
//! errno: EACCES          # errno of a deny (name or number; default EACCES)
//! audit: deny            # which decisions are audited: all | deny | none
//! ops: [open, connect]   # operations decided (default: those the rules name)
//! rules:
//!   - ops: [open]
//!     access: read       # open only: read (no O_WRONLY/O_RDWR/O_TRUNC) or write
//!     action: allow
//!   - ops: [open, create, unlink, rename, mkdir]
//!     paths: ["/tmp/**", "/app/*.log"]
//!     action: allow
//!   - ops: [connect]
//!     addresses: ["10.0.0.0/8", "::1/128"]
//!     ports: [53, "8000-8100"]
//!     action: allow
//!     audit: true        # per rule: audit this rule's decisions or not
//!     errno: ECONNREFUSED
//! ```
//!
//! Paths are globs over the resolved absolute path: `*` and `?` stay within
//! one component, `**` crosses components, and `DIR/**` matches `DIR`
//! itself too. For `rename` and `link`, an `allow` rule needs both paths to
//! match and a `deny` rule either of them (so a denied file can be neither
//! moved nor linked elsewhere, and nothing moves into a denied place). `addresses`
//! are CIDRs (a plain address is a /32 or /128); a request without an IP
//! address (an `AF_UNIX` socket, a file) never matches a rule that has
//! them. Unknown keys are errors naming the file, line and key.
//!
//! The generated module is plain WAT: a fixed matcher (glob, prefix,
//! ports) and the rules as a data segment. Its answers depend only on the
//! request, so it declares them cacheable.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Deserialize;

use crate::abi::{Op, OpSet};

pub mod landlock;

/// An error in a rule file, with the place it was found.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RulesError {
    /// The file (as given).
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    default: Option<Action>,
    #[serde(default)]
    errno: Option<Errno>,
    #[serde(default)]
    audit: Option<AuditMode>,
    #[serde(default)]
    ops: Option<Vec<String>>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum AuditMode {
    All,
    Deny,
    None,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Access {
    Read,
    Write,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum Errno {
    Number(u32),
    Name(String),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum Port {
    Number(u32),
    Range(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    ops: Vec<String>,
    action: Action,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
    #[serde(default)]
    ports: Option<Vec<Port>>,
    #[serde(default)]
    access: Option<Access>,
    #[serde(default)]
    errno: Option<Errno>,
    #[serde(default)]
    audit: Option<bool>,
}

const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EIO", 5),
    ("EACCES", 13),
    ("EEXIST", 17),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENOSPC", 28),
    ("EROFS", 30),
    ("ENOSYS", 38),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETUNREACH", 101),
    ("ECONNREFUSED", 111),
    ("EHOSTUNREACH", 113),
];

/// Where the rule table starts in the module's memory (after the request
/// buffer at 1024..10240).
const DATA_BASE: usize = 16384;
/// Bytes per rule in the table.
const RULE_SIZE: usize = 36;

/// Compiles the YAML rule file `text` (named `file` in errors) into WAT.
pub fn compile(text: &str, file: &str) -> Result<String, RulesError> {
    let err = |line: usize, message: String| RulesError {
        file: file.to_owned(),
        line,
        message,
    };
    let parsed: File = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        err(line, e.to_string())
    })?;
    // Line of the n-th rule, for messages about values serde accepted.
    let rule_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("- ") && l.contains("ops"))
        .map(|(i, _)| i + 1)
        .collect();
    let line_of = |i: usize| rule_lines.get(i).copied().unwrap_or(0);
    if let Some(v) = parsed.version
        && v != 1
    {
        return Err(err(0, format!("version {v} is not supported (only 1)")));
    }
    let errno_of = |e: &Errno, line: usize| -> Result<u32, RulesError> {
        let n = match e {
            Errno::Number(n) => *n,
            Errno::Name(name) => ERRNOS
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .ok_or_else(|| err(line, format!("errno: unknown name {name:?}")))?,
        };
        if n == 0 || n > 4095 {
            return Err(err(line, format!("errno: {n} is out of range (1..=4095)")));
        }
        Ok(n)
    };
    let default_errno = match &parsed.errno {
        Some(e) => errno_of(e, 0)?,
        None => 13,
    };
    let audit_mode = parsed.audit.unwrap_or(AuditMode::Deny);
    let answer = |action: Action, errno: u32, audit: Option<bool>| -> u32 {
        let audit = audit.unwrap_or(match audit_mode {
            AuditMode::All => true,
            AuditMode::Deny => action == Action::Deny,
            AuditMode::None => false,
        });
        let a = u32::from(audit) << 8;
        match action {
            Action::Allow => a,
            Action::Deny => 1 | a | (errno << 16),
        }
    };
    let parse_ops = |names: &[String], line: usize| -> Result<OpSet, RulesError> {
        let mut set = OpSet::empty();
        for n in names {
            let op: Op = n.parse().map_err(|_| {
                let known: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
                err(
                    line,
                    format!("ops: unknown operation {n:?} (known: {})", known.join(", ")),
                )
            })?;
            set = set.with(op);
        }
        Ok(set)
    };

    let mut data: Vec<u8> = Vec::new();
    let mut table: Vec<[u32; 9]> = Vec::new();
    let mut named = OpSet::empty();
    // Strings and lists go after the table; offsets are fixed up once its
    // size is known, so they are first collected relative to `data`.
    for (i, r) in parsed.rules.iter().enumerate() {
        let line = line_of(i);
        if r.ops.is_empty() {
            return Err(err(line, "ops: a rule needs at least one operation".into()));
        }
        let ops = parse_ops(&r.ops, line)?;
        named = OpSet::from_bits(named.bits() | ops.bits()).unwrap_or(named);
        let errno = match &r.errno {
            Some(e) => errno_of(e, line)?,
            None => default_errno,
        };
        if r.access.is_some() && ops.iter().any(|o| o != Op::Open) {
            return Err(err(
                line,
                "access: only applies to the open operation".into(),
            ));
        }
        let mut row = [0u32; 9];
        row[0] = ops.bits();
        row[1] = answer(r.action, errno, r.audit);
        row[8] = match r.access {
            None => 0,
            Some(Access::Read) => 1,
            Some(Access::Write) => 2,
        };
        if let Some(paths) = &r.paths {
            let mut globs: Vec<Vec<u8>> = Vec::new();
            for p in paths {
                if !(p.starts_with('/') || p.starts_with('@')) {
                    return Err(err(line, format!("paths: {p:?} is not absolute")));
                }
                globs.push(p.as_bytes().to_vec());
                if let Some(dir) = p.strip_suffix("/**") {
                    globs.push(if dir.is_empty() {
                        b"/".to_vec()
                    } else {
                        dir.as_bytes().to_vec()
                    });
                }
            }
            let mut offsets = Vec::new();
            for g in &globs {
                offsets.push((data.len(), g.len()));
                data.extend_from_slice(g);
            }
            align(&mut data);
            row[2] = data.len() as u32;
            row[3] = globs.len() as u32;
            for (off, len) in offsets {
                data.extend_from_slice(&(off as u32).to_le_bytes());
                data.extend_from_slice(&(len as u32).to_le_bytes());
            }
            if paths.is_empty() {
                return Err(err(
                    line,
                    "paths: empty list (omit the key to match any path)".into(),
                ));
            }
        }
        if let Some(addrs) = &r.addresses {
            if addrs.is_empty() {
                return Err(err(
                    line,
                    "addresses: empty list (omit the key to match any)".into(),
                ));
            }
            align(&mut data);
            row[4] = data.len() as u32;
            row[5] = addrs.len() as u32;
            for a in addrs {
                let (family, bits, bytes) =
                    parse_cidr(a).map_err(|m| err(line, format!("addresses: {m}")))?;
                data.extend_from_slice(&family.to_le_bytes());
                data.extend_from_slice(&bits.to_le_bytes());
                data.extend_from_slice(&bytes);
            }
        }
        if let Some(ports) = &r.ports {
            if ports.is_empty() {
                return Err(err(
                    line,
                    "ports: empty list (omit the key to match any)".into(),
                ));
            }
            align(&mut data);
            row[6] = data.len() as u32;
            row[7] = ports.len() as u32;
            for p in ports {
                let (lo, hi) = parse_port(p).map_err(|m| err(line, format!("ports: {m}")))?;
                data.extend_from_slice(&lo.to_le_bytes());
                data.extend_from_slice(&hi.to_le_bytes());
            }
        }
        table.push(row);
    }
    let interest = match &parsed.ops {
        Some(names) => parse_ops(names, 0)?,
        None => named,
    };
    let default_answer = answer(parsed.default.unwrap_or(Action::Deny), default_errno, None);

    // Absolute offsets: the table first, then `data`.
    let table_len = table.len() * RULE_SIZE;
    let data_base = DATA_BASE + table_len;
    let mut blob = Vec::with_capacity(table_len + data.len());
    for row in &table {
        for (k, v) in row.iter().enumerate() {
            let v = match k {
                2 | 4 | 6 if row[k + 1] > 0 => v + data_base as u32,
                _ => *v,
            };
            blob.extend_from_slice(&v.to_le_bytes());
        }
    }
    // Glob entries hold offsets relative to `data`: make them absolute.
    for row in &table {
        if row[3] > 0 {
            for j in 0..row[3] as usize {
                let at = row[2] as usize + j * 8;
                let rel = u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or([0; 4]));
                data[at..at + 4].copy_from_slice(&(rel + data_base as u32).to_le_bytes());
            }
        }
    }
    blob.extend_from_slice(&data);
    let pages = (DATA_BASE + blob.len()).div_ceil(65536).max(1);

    let mut escaped = String::with_capacity(blob.len() * 3);
    for b in &blob {
        let _ = write!(escaped, "\\{b:02x}");
    }
    Ok(MATCHER
        .replace("@PAGES@", &pages.to_string())
        .replace(
            "@INTEREST@",
            &format!("{:#x}", (1u64 << 32) | u64::from(interest.bits())),
        )
        .replace("@RULES@", &DATA_BASE.to_string())
        .replace("@NRULES@", &table.len().to_string())
        .replace("@DEFAULT@", &default_answer.to_string())
        .replace("@DATA@", &escaped)
        .replace("@FILE@", &file.replace(['\n', ';'], " ")))
}

fn align(data: &mut Vec<u8>) {
    while data.len() % 4 != 0 {
        data.push(0);
    }
}

fn parse_cidr(s: &str) -> Result<(u32, u32, [u8; 16]), String> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
    let (family, max, bytes) = match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (2u32, 32u32, b)
        }
        IpAddr::V6(v6) => (10u32, 128u32, v6.octets()),
    };
    let bits = match bits {
        Some(b) => b
            .parse::<u32>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("{s:?}: prefix length out of range (0..={max})"))?,
        None => max,
    };
    Ok((family, bits, bytes))
}

fn parse_port(p: &Port) -> Result<(u32, u32), String> {
    let check = |n: u32| {
        if n > 65535 {
            Err(format!("{n} is not a port (0..=65535)"))
        } else {
            Ok(n)
        }
    };
    match p {
        Port::Number(n) => Ok((check(*n)?, *n)),
        Port::Range(r) => {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            let parse = |x: &str| {
                x.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("{r:?} is not a port or a range like 8000-8100"))
                    .and_then(check)
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("{r:?}: the range is empty"));
            }
            Ok((lo, hi))
        }
    }
}

/// The matcher every rule file compiles to; `@…@` are filled in.
const MATCHER: &str = r#";; Generated by wrun from @FILE@ (a YAML rule file): do not edit.
(module
  (memory (export "memory") @PAGES@)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  (func (export "wrun_interest") (result i64) (i64.const @INTEREST@))
  (data (i32.const @RULES@) "@DATA@")

  ;; glob(p..pe, s..se): * and ? within a component, ** across them.
  (func $glob (param $p i32) (param $pe i32) (param $s i32) (param $se i32) (result i32)
    (local $c i32) (local $k i32)
    (block $fail
      (loop $next
        (if (i32.eq (local.get $p) (local.get $pe))
          (then (return (i32.eq (local.get $s) (local.get $se)))))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.eq (local.get $c) (i32.const 42))
          (then
            (if (i32.and
                  (i32.lt_u (i32.add (local.get $p) (i32.const 1)) (local.get $pe))
                  (i32.eq (i32.load8_u offset=1 (local.get $p)) (i32.const 42)))
              (then
                ;; **: any suffix
                (local.set $k (local.get $s))
                (loop $try
                  (if (call $glob (i32.add (local.get $p) (i32.const 2)) (local.get $pe) (local.get $k) (local.get $se))
                    (then (return (i32.const 1))))
                  (if (i32.lt_u (local.get $k) (local.get $se))
                    (then (local.set $k (i32.add (local.get $k) (i32.const 1))) (br $try))))
                (return (i32.const 0))))
            ;; *: any run without '/'
            (local.set $k (local.get $s))
            (loop $try1
              (if (call $glob (i32.add (local.get $p) (i32.const 1)) (local.get $pe) (local.get $k) (local.get $se))
                (then (return (i32.const 1))))
              (if (i32.and
                    (i32.lt_u (local.get $k) (local.get $se))
                    (i32.ne (i32.load8_u (local.get $k)) (i32.const 47)))
                (then (local.set $k (i32.add (local.get $k) (i32.const 1))) (br $try1))))
            (return (i32.const 0))))
        (br_if $fail (i32.eq (local.get $s) (local.get $se)))
        (if (i32.eq (local.get $c) (i32.const 63))
          (then (br_if $fail (i32.eq (i32.load8_u (local.get $s)) (i32.const 47))))
          (else (br_if $fail (i32.ne (local.get $c) (i32.load8_u (local.get $s))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; Whether the path s..s+l matches one of n globs listed at $list.
  (func $any_glob (param $list i32) (param $n i32) (param $s i32) (param $l i32) (result i32)
    (local $j i32) (local $off i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $off (i32.load (i32.add (local.get $list) (i32.shl (local.get $j) (i32.const 3)))))
        (if (call $glob
              (local.get $off)
              (i32.add (local.get $off)
                (i32.load offset=4 (i32.add (local.get $list) (i32.shl (local.get $j) (i32.const 3)))))
              (local.get $s)
              (i32.add (local.get $s) (local.get $l)))
          (then (return (i32.const 1))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; Whether the first $bits bits at $a and $b agree.
  (func $prefix (param $a i32) (param $b i32) (param $bits i32) (result i32)
    (local $i i32) (local $mask i32)
    (block $done
      (loop $next
        (br_if $done (i32.lt_u (local.get $bits) (i32.const 8)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $bits (i32.sub (local.get $bits) (i32.const 8)))
        (br $next)))
    (if (i32.eqz (local.get $bits)) (then (return (i32.const 1))))
    (local.set $mask (i32.and (i32.shl (i32.const 0xff) (i32.sub (i32.const 8) (local.get $bits))) (i32.const 0xff)))
    (i32.eq
      (i32.and (i32.load8_u (i32.add (local.get $a) (local.get $i))) (local.get $mask))
      (i32.and (i32.load8_u (i32.add (local.get $b) (local.get $i))) (local.get $mask))))

  (func $matches (param $r i32) (param $ptr i32) (param $op i32) (result i32)
    (local $n i32) (local $j i32) (local $e i32) (local $l1 i32) (local $port i32) (local $ok i32)
    (if (i32.eqz (i32.and (i32.load (local.get $r)) (i32.shl (i32.const 1) (local.get $op))))
      (then (return (i32.const 0))))
    ;; access: 1 read, 2 write (O_WRONLY|O_RDWR|O_TRUNC = 0x203)
    (if (i32.load offset=32 (local.get $r))
      (then
        (if (i32.ne
              (i32.load offset=32 (local.get $r))
              (select (i32.const 2) (i32.const 1)
                (i32.ne (i32.and (i32.load offset=4 (local.get $ptr)) (i32.const 0x203)) (i32.const 0))))
          (then (return (i32.const 0))))))
    (local.set $l1 (i32.load16_u offset=44 (local.get $ptr)))
    (local.set $n (i32.load offset=12 (local.get $r)))
    (if (local.get $n)
      (then
        (if (i32.eqz (local.get $l1)) (then (return (i32.const 0))))
        (local.set $ok (call $any_glob (i32.load offset=8 (local.get $r)) (local.get $n)
                         (i32.add (local.get $ptr) (i32.const 64)) (local.get $l1)))
        ;; rename (4) and link (7): an allow needs both paths to match, a
        ;; deny either of them
        (if (i32.or (i32.eq (local.get $op) (i32.const 4)) (i32.eq (local.get $op) (i32.const 7)))
          (then
            (local.set $j (call $any_glob (i32.load offset=8 (local.get $r)) (local.get $n)
                            (i32.add (i32.add (local.get $ptr) (i32.const 64)) (local.get $l1))
                            (i32.load16_u offset=46 (local.get $ptr))))
            (local.set $ok
              (select
                (i32.or (local.get $ok) (local.get $j))
                (i32.and (local.get $ok) (local.get $j))
                (i32.and (i32.load offset=4 (local.get $r)) (i32.const 1))))))
        (if (i32.eqz (local.get $ok)) (then (return (i32.const 0))))))
    (local.set $n (i32.load offset=20 (local.get $r)))
    (if (local.get $n)
      (then
        (local.set $ok (i32.const 0))
        (local.set $e (i32.load offset=16 (local.get $r)))
        (local.set $j (i32.const 0))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
            (if (i32.and
                  (i32.eq (i32.load (local.get $e)) (i32.load16_u offset=32 (local.get $ptr)))
                  (call $prefix (i32.add (local.get $e) (i32.const 8)) (i32.add (local.get $ptr) (i32.const 48))
                                (i32.load offset=4 (local.get $e))))
              (then (local.set $ok (i32.const 1)) (br $done)))
            (local.set $e (i32.add (local.get $e) (i32.const 24)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $next)))
        (if (i32.eqz (local.get $ok)) (then (return (i32.const 0))))))
    (local.set $n (i32.load offset=28 (local.get $r)))
    (if (local.get $n)
      (then
        (local.set $ok (i32.const 0))
        (local.set $port (i32.load16_u offset=34 (local.get $ptr)))
        (local.set $e (i32.load offset=24 (local.get $r)))
        (local.set $j (i32.const 0))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
            (if (i32.and
                  (i32.ge_u (local.get $port) (i32.load (local.get $e)))
                  (i32.le_u (local.get $port) (i32.load offset=4 (local.get $e))))
              (then (local.set $ok (i32.const 1)) (br $done)))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $next)))
        (if (i32.eqz (local.get $ok)) (then (return (i32.const 0))))))
    (i32.const 1))

  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32) (local $r i32) (local $i i32)
    (local.set $op (i32.load16_u offset=2 (local.get $ptr)))
    (local.set $r (i32.const @RULES@))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const @NRULES@)))
        (if (call $matches (local.get $r) (local.get $ptr) (local.get $op))
          (then (return (i64.extend_i32_u (i32.load offset=4 (local.get $r))))))
        (local.set $r (i32.add (local.get $r) (i32.const 36)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.const @DEFAULT@)))
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, PolicyEngine, Request};

    fn decide(yaml: &str, req: &Request<'_>) -> Decision {
        let wat = compile(yaml, "t.yaml").unwrap();
        let engine = PolicyEngine::new().unwrap();
        let p = engine.load(wat.as_bytes()).unwrap();
        p.instantiate().unwrap().decide(req)
    }

    const WEB: &str = "
default: deny
errno: EACCES
audit: deny
rules:
  - ops: [open]
    access: read
    action: allow
  - ops: [open, create, rename]
    paths: [\"/app/**\", \"/tmp/*.log\"]
    action: allow
  - ops: [connect]
    addresses: [\"10.0.0.0/8\", \"::1\"]
    ports: [53, \"8000-8100\"]
    action: allow
  - ops: [bind]
    action: deny
    errno: EADDRINUSE
    audit: false
";

    #[test]
    fn rules_decide_in_order_with_globs_cidrs_and_ports() {
        let open = |p: &'static [u8], flags: u32| Request {
            flags,
            ..Request::path(Op::Open, p)
        };
        assert_eq!(
            decide(WEB, &open(b"/etc/passwd", 0)),
            Decision::Allow { audit: false }
        );
        assert!(!decide(WEB, &open(b"/etc/passwd", 1)).is_allow());
        assert!(decide(WEB, &open(b"/app/x/y", 1)).is_allow());
        assert!(decide(WEB, &open(b"/app", 1)).is_allow());
        assert!(!decide(WEB, &open(b"/application", 1)).is_allow());
        assert!(decide(WEB, &open(b"/tmp/a.log", 0o1)).is_allow());
        assert!(!decide(WEB, &open(b"/tmp/d/a.log", 0o1)).is_allow());
        let create = Request::path(Op::Create, b"/srv/x");
        assert_eq!(
            decide(WEB, &create),
            Decision::Deny {
                errno: 13,
                audit: true,
                reason: None
            }
        );
        let mut rename = Request::path(Op::Rename, b"/app/a");
        rename.path2 = b"/etc/a";
        assert!(!decide(WEB, &rename).is_allow());
        rename.path2 = b"/app/b";
        assert!(decide(WEB, &rename).is_allow());
        let deny_either =
            "default: allow\nrules:\n  - ops: [link]\n    paths: [\"/s\"]\n    action: deny\n";
        let mut link = Request::path(Op::Link, b"/new");
        link.path2 = b"/s";
        assert!(!decide(deny_either, &link).is_allow());
        link.path2 = b"/t";
        assert!(decide(deny_either, &link).is_allow());
        let conn = |a: &str| Request::new(Op::Connect).with_socket_addr(a.parse().unwrap());
        assert!(decide(WEB, &conn("10.1.2.3:53")).is_allow());
        assert!(decide(WEB, &conn("10.1.2.3:8050")).is_allow());
        assert!(!decide(WEB, &conn("10.1.2.3:22")).is_allow());
        assert!(!decide(WEB, &conn("11.1.2.3:53")).is_allow());
        assert!(decide(WEB, &conn("[::1]:8000")).is_allow());
        assert!(!decide(WEB, &conn("[::2]:8000")).is_allow());
        assert_eq!(
            decide(
                WEB,
                &Request::new(Op::Bind).with_socket_addr("0.0.0.0:80".parse().unwrap())
            ),
            Decision::Deny {
                errno: 98,
                audit: false,
                reason: None
            }
        );
    }

    #[test]
    fn interest_is_the_named_operations_and_cacheable() {
        let wat = compile(WEB, "t.yaml").unwrap();
        let p = PolicyEngine::new().unwrap().load(wat.as_bytes()).unwrap();
        let ops: Vec<Op> = p.interest().ops.iter().collect();
        assert_eq!(
            ops,
            [Op::Open, Op::Create, Op::Rename, Op::Connect, Op::Bind]
        );
        assert!(p.interest().cacheable);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = compile(
            "default: deny\nrules:\n  - ops: [open]\n    action: allow\n    pathz: [\"/x\"]\n",
            "p.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("p.yaml:5:") && e.contains("pathz"), "{e}");
        let e = compile("rules:\n  - ops: [opne]\n    action: allow\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.yaml:2:") && e.contains("\"opne\""), "{e}");
        let e = compile(
            "rules:\n  - ops: [connect]\n    action: allow\n    addresses: [\"10.0.0.0/33\"]\n",
            "p.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("prefix length"), "{e}");
        let e = compile("errno: EWHAT\n", "p.yaml").unwrap_err().to_string();
        assert!(e.contains("EWHAT"), "{e}");
        let e = compile(
            "rules:\n  - ops: [connect]\n    action: allow\n    ports: [\"9-1\"]\n",
            "p.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("range is empty"), "{e}");
    }
}
