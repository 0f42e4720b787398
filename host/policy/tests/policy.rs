//! Integration tests of the policy engine: the ABI, the built-ins, and every
//! way a module can fail (each must end in a deny, never a hang or an allow).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wrun_policy::abi::{AF_UNIX, HEADER_LEN, PATH_MAX};
use wrun_policy::{
    Answer, Builtin, Decision, Error, FailReason, Interest, Limits, Op, OpSet, Policy,
    PolicyEngine, REQUEST_MAX, Request, TimeBound,
};

const EPERM: i32 = 1;
const EACCES: i32 = 13;
const EROFS: i32 = 30;
const ENETUNREACH: i32 = 101;

/// A module with the standard setup exports and the given `decide` body
/// (params `$ptr`, `$len`, result i64) plus extra module fields.
fn module(decide_body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  {extra}
  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    {decide_body}))"#
    )
}

fn engine() -> PolicyEngine {
    PolicyEngine::new().expect("engine")
}

fn fail_reason(d: &Decision) -> &FailReason {
    match d {
        Decision::Deny {
            errno: EPERM,
            audit: true,
            reason: Some(r),
        } => r,
        other => panic!("expected a fail-closed deny, got {other:?}"),
    }
}

// ---- ABI -----------------------------------------------------------------

#[test]
fn request_round_trips() {
    let long = vec![b'a'; PATH_MAX];
    let cases = [
        Request::path(Op::Open, b"/etc/passwd"),
        Request {
            flags: 0o1101,
            mode: 0o644,
            uid: 1000,
            gid: 100,
            pid: 42,
            ..Request::path(Op::Create, b"/tmp/x")
        },
        Request {
            path2: b"/b",
            ..Request::path(Op::Rename, b"/a")
        },
        Request {
            owner_uid: u32::MAX,
            owner_gid: 7,
            ..Request::path(Op::Chown, b"/f")
        },
        Request {
            family: 2,
            sock_type: 1 | 0o2000000,
            protocol: 6,
            ..Request::new(Op::Socket)
        },
        Request::new(Op::Connect).with_socket_addr("10.1.2.3:443".parse().unwrap()),
        Request::new(Op::Bind).with_socket_addr("[2001:db8::1]:8080".parse().unwrap()),
        Request {
            family: AF_UNIX,
            ..Request::path(Op::Connect, b"/run/sock")
        },
        Request {
            path2: &long,
            ..Request::path(Op::Link, &long)
        },
    ];
    for req in cases {
        let bytes = req.to_vec().unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + req.path.len() + req.path2.len());
        assert_eq!(&bytes[0..2], &[1, 0], "version first, little-endian");
        assert_eq!(Request::decode(&bytes).unwrap(), req);
    }
    assert_eq!(
        Request::new(Op::Connect)
            .with_socket_addr("[::1]:53".parse().unwrap())
            .socket_addr(),
        Some("[::1]:53".parse::<SocketAddr>().unwrap())
    );
}

#[test]
fn request_layout_is_as_documented() {
    let req = Request {
        flags: 0x0102_0304,
        uid: 5,
        pid: 9,
        path2: b"yz",
        ..Request::path(Op::Mkdir, b"/x")
    }
    .with_socket_addr("1.2.3.4:258".parse().unwrap());
    let b = req.to_vec().unwrap();
    assert_eq!(&b[2..4], &[5, 0]); // op mkdir = 5
    assert_eq!(&b[4..8], &[4, 3, 2, 1]);
    assert_eq!(&b[12..16], &[5, 0, 0, 0]);
    assert_eq!(&b[20..24], &[9, 0, 0, 0]);
    assert_eq!(&b[32..34], &[2, 0]); // AF_INET
    assert_eq!(&b[34..36], &[2, 1]); // port 258, little-endian
    assert_eq!(&b[44..48], &[2, 0, 2, 0]);
    assert_eq!(&b[48..52], &[1, 2, 3, 4]); // network order
    assert_eq!(&b[64..], b"/xyz");
}

#[test]
fn bad_requests_are_refused() {
    let long = vec![b'a'; PATH_MAX + 1];
    assert!(matches!(
        Request::path(Op::Open, &long).to_vec(),
        Err(Error::PathTooLong { which: "path", .. })
    ));
    let mut small = [0u8; 10];
    assert!(matches!(
        Request::new(Op::Open).encode_into(&mut small),
        Err(Error::BufferTooSmall { need: 64, have: 10 })
    ));
    let good = Request::path(Op::Open, b"/a").to_vec().unwrap();
    assert!(matches!(
        Request::decode(&good[..60]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        Request::decode(&good[..65]),
        Err(Error::Truncated { .. })
    ));
    let mut v2 = good.clone();
    v2[0] = 2;
    assert!(matches!(
        Request::decode(&v2),
        Err(Error::RequestVersion { found: 2 })
    ));
    let mut bad_op = good;
    bad_op[2] = 99;
    assert!(matches!(
        Request::decode(&bad_op),
        Err(Error::UnknownOpCode { code: 99 })
    ));
}

#[test]
fn answers_round_trip_and_garbage_is_refused() {
    for a in [
        Answer::Allow { audit: false },
        Answer::Allow { audit: true },
        Answer::Deny {
            errno: 1,
            audit: false,
        },
        Answer::Deny {
            errno: 4095,
            audit: true,
        },
    ] {
        assert_eq!(Answer::decode(a.encode()), Some(a));
    }
    assert_eq!(
        Answer::encode(Answer::Deny {
            errno: 13,
            audit: true
        }),
        0x000d_0101
    );
    for garbage in [-1, 2, 1, 0x0001_0000, 0x0001_0000_0000, i64::MIN, 0x80] {
        assert_eq!(Answer::decode(garbage), None, "{garbage:#x}");
    }
}

#[test]
fn interest_and_ops() {
    let i = Interest {
        ops: OpSet::empty().with(Op::Connect).with(Op::Bind),
        cacheable: true,
    };
    assert_eq!(Interest::decode(i.encode()).unwrap(), i);
    assert!(matches!(
        Interest::decode(1),
        Err(Error::BadInterest { value: 1 })
    ));
    assert!(matches!(
        Interest::decode(1 << 22),
        Err(Error::BadInterest { .. })
    ));
    assert_eq!(OpSet::all().iter().count(), 21);
    for op in Op::ALL {
        assert_eq!(Op::from_code(*op as u16), Some(*op));
        assert_eq!(op.name().parse::<Op>().unwrap(), *op);
    }
    assert!(matches!("opne".parse::<Op>(), Err(Error::UnknownOp(_))));
}

// ---- built-ins -------------------------------------------------------------

fn allow(audit: bool) -> Decision {
    Decision::Allow { audit }
}
fn deny(errno: i32) -> Decision {
    Decision::Deny {
        errno,
        audit: true,
        reason: None,
    }
}

#[test]
fn builtin_audit() {
    let p = engine().builtin("audit").unwrap();
    assert_eq!(p.interest().ops, OpSet::all());
    assert!(p.interest().cacheable);
    let mut i = p.instantiate().unwrap();
    for op in Op::ALL {
        assert_eq!(
            i.decide(&Request::path(*op, b"/etc/shadow")),
            allow(true),
            "{op}"
        );
    }
}

#[test]
fn builtin_no_network() {
    let p = engine().builtin("no-network").unwrap();
    let want: Vec<Op> = p.interest().ops.iter().collect();
    assert_eq!(want, [Op::Connect, Op::Bind, Op::Sendto]);
    let mut i = p.instantiate().unwrap();
    let net = |op, a: &str| Request::new(op).with_socket_addr(a.parse().unwrap());
    let table = [
        (net(Op::Connect, "127.0.0.1:80"), allow(false)),
        (net(Op::Connect, "127.9.8.7:80"), allow(false)),
        (net(Op::Connect, "[::1]:80"), allow(false)),
        (net(Op::Connect, "[::ffff:127.0.0.1]:80"), allow(false)),
        (net(Op::Sendto, "127.0.0.53:53"), allow(false)),
        (net(Op::Bind, "127.0.0.1:8080"), allow(false)),
        (net(Op::Connect, "1.1.1.1:443"), deny(ENETUNREACH)),
        (net(Op::Connect, "128.0.0.1:443"), deny(ENETUNREACH)),
        (net(Op::Connect, "[::2]:80"), deny(ENETUNREACH)),
        (net(Op::Connect, "[::ffff:10.0.0.1]:80"), deny(ENETUNREACH)),
        (net(Op::Connect, "[2001:db8::1]:80"), deny(ENETUNREACH)),
        (net(Op::Sendto, "8.8.8.8:53"), deny(ENETUNREACH)),
        (net(Op::Bind, "0.0.0.0:8080"), deny(EACCES)),
        (net(Op::Bind, "[::]:8080"), deny(EACCES)),
        (
            Request {
                family: AF_UNIX,
                ..Request::path(Op::Connect, b"/run/x.sock")
            },
            allow(false),
        ),
        (
            Request {
                family: 16, // AF_NETLINK
                ..Request::new(Op::Bind)
            },
            deny(EACCES),
        ),
        (Request::path(Op::Open, b"/etc/passwd"), allow(false)),
        (net(Op::Listen, "0.0.0.0:1"), allow(false)),
    ];
    for (req, want) in table {
        assert_eq!(i.decide(&req), want, "{req:?}");
    }
}

#[test]
fn builtin_read_only() {
    let p = engine().builtin("read-only").unwrap();
    assert!(!p.interest().ops.contains(Op::Stat));
    assert!(p.interest().ops.contains(Op::Open));
    let mut i = p.instantiate().unwrap();
    const O_WRONLY: u32 = 1;
    const O_RDWR: u32 = 2;
    const O_TRUNC: u32 = 0o1000;
    const O_DIRECTORY: u32 = 0o200000;
    let open = |path: &'static [u8], flags| Request {
        flags,
        ..Request::path(Op::Open, path)
    };
    let two = |op, a: &'static [u8], b: &'static [u8]| Request {
        path2: b,
        ..Request::path(op, a)
    };
    let table = [
        (open(b"/etc/passwd", 0), allow(false)),
        (open(b"/etc", O_DIRECTORY), allow(false)),
        (open(b"/etc/passwd", O_WRONLY), deny(EROFS)),
        (open(b"/etc/passwd", O_RDWR), deny(EROFS)),
        (open(b"/etc/passwd", O_TRUNC), deny(EROFS)),
        (open(b"/tmp/x", O_RDWR | O_TRUNC), allow(false)),
        (Request::path(Op::Create, b"/tmp/new"), allow(false)),
        (Request::path(Op::Create, b"/tmp"), allow(false)),
        (Request::path(Op::Create, b"/tmpfoo"), deny(EROFS)),
        (Request::path(Op::Create, b"/tm"), deny(EROFS)),
        (Request::path(Op::Create, b"/var/tmp/x"), deny(EROFS)),
        (Request::path(Op::Unlink, b"/bin/sh"), deny(EROFS)),
        (Request::path(Op::Unlink, b"/tmp/a/b"), allow(false)),
        (Request::path(Op::Mkdir, b"/opt/d"), deny(EROFS)),
        (Request::path(Op::Rmdir, b"/tmp/d"), allow(false)),
        (Request::path(Op::Chmod, b"/etc/shadow"), deny(EROFS)),
        (Request::path(Op::Chown, b"/tmp/f"), allow(false)),
        (Request::path(Op::Truncate, b"/etc/hosts"), deny(EROFS)),
        (Request::path(Op::Mknod, b"/dev/x"), deny(EROFS)),
        (two(Op::Rename, b"/tmp/a", b"/tmp/b"), allow(false)),
        (two(Op::Rename, b"/tmp/a", b"/etc/b"), deny(EROFS)),
        (two(Op::Rename, b"/etc/a", b"/tmp/b"), deny(EROFS)),
        (two(Op::Link, b"/tmp/l", b"/etc/shadow"), deny(EROFS)),
        (two(Op::Link, b"/tmp/l", b"/tmp/f"), allow(false)),
        (two(Op::Symlink, b"/tmp/l", b"/etc/shadow"), allow(false)),
        (two(Op::Symlink, b"/etc/l", b"/tmp"), deny(EROFS)),
        (Request::path(Op::Stat, b"/etc"), allow(false)),
        (Request::path(Op::Exec, b"/bin/sh"), allow(false)),
    ];
    for (req, want) in table {
        assert_eq!(i.decide(&req), want, "{req:?}");
    }
}

#[test]
fn unknown_builtin_is_named() {
    let e = engine().builtin("nope").unwrap_err();
    assert!(e.to_string().contains("`nope`"), "{e}");
    for b in Builtin::ALL {
        assert_eq!(Builtin::from_name(b.name()).unwrap(), *b);
    }
}

// ---- refused at load ---------------------------------------------------------

#[test]
fn missing_decide_is_refused_at_load() {
    let wat = r#"(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216)))"#;
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::MissingExport { name: "decide" }), "{e}");
    assert!(e.to_string().contains("`decide`"));
}

#[test]
fn missing_memory_is_refused_at_load() {
    let wat = module("(i64.const 0)", "").replace(r#"(memory (export "memory") 1)"#, "(memory 1)");
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::MissingExport { name: "memory" }), "{e}");
}

#[test]
fn wrong_abi_version_is_refused() {
    let wat = module("(i64.const 0)", "").replace(
        r#"(result i32) (i32.const 1))"#,
        r#"(result i32) (i32.const 2))"#,
    );
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::AbiVersion {
                found: 2,
                supported: 1
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_decide_signature_is_refused() {
    let wat = module("(i64.const 0)", "")
        .replace(
            "(param $len i32) (result i64)",
            "(param $len i32) (result i32)",
        )
        .replace("(i64.const 0)", "(i32.const 0)");
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::WrongExportType { name: "decide", .. }),
        "{e}"
    );
}

#[test]
fn bad_request_buffer_is_refused() {
    for (ptr, size) in [("65000", "9216"), ("1024", "100"), ("-1", "9216")] {
        let wat = module("(i64.const 0)", "")
            .replace("(i32.const 1024)", &format!("(i32.const {ptr})"))
            .replace("(i32.const 9216)", &format!("(i32.const {size})"));
        let e = engine().load(wat.as_bytes()).unwrap_err();
        assert!(
            matches!(e, Error::RequestBuffer { .. }),
            "{ptr} {size}: {e}"
        );
    }
}

#[test]
fn bad_interest_is_refused() {
    let wat = module(
        "(i64.const 0)",
        r#"(func (export "wrun_interest") (result i64) (i64.const 1))"#,
    );
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::BadInterest { value: 1 }), "{e}");
}

#[test]
fn no_interest_export_means_everything_uncached() {
    let p = engine()
        .load(module("(i64.const 0)", "").as_bytes())
        .unwrap();
    assert_eq!(p.interest(), Interest::everything());
}

#[test]
fn garbage_bytes_and_imports_are_refused() {
    let e = engine().load(b"\0asm\x01\0\0\0garbage").unwrap_err();
    assert!(matches!(e, Error::Compile(_)), "{e}");
    let e = engine().load(b"(module (func").unwrap_err();
    assert!(matches!(e, Error::Compile(_)), "{e}");
    let wat =
        module("(i64.const 0)", "").replace("(module", r#"(module (import "env" "f" (func))"#);
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::Instantiate(_)), "{e}");
}

#[test]
fn oversized_initial_memory_is_refused() {
    let wat = module("(i64.const 0)", "").replace(
        r#"(memory (export "memory") 1)"#,
        r#"(memory (export "memory") 1000)"#,
    );
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("memory limit"), "{e}");
}

#[test]
fn looping_setup_export_is_refused() {
    let wat = module("(i64.const 0)", "").replace(
        r#"(result i32) (i32.const 1))"#,
        r#"(result i32) (loop (br 0)) (i32.const 1))"#,
    );
    let e = engine().load(wat.as_bytes()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Probe {
                export: "wrun_abi_version",
                reason: FailReason::OutOfFuel
            }
        ),
        "{e}"
    );
}

// ---- fail closed at run time --------------------------------------------------

#[test]
fn looping_decide_is_denied_out_of_fuel() {
    let p = engine()
        .load(module("(loop (br 0)) (i64.const 0)", "").as_bytes())
        .unwrap();
    let mut i = p.instantiate().unwrap();
    let t = Instant::now();
    let d = i.decide(&Request::path(Op::Open, b"/x"));
    assert_eq!(fail_reason(&d), &FailReason::OutOfFuel);
    assert_eq!(fail_reason(&d).to_string(), "out of fuel");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn looping_decide_is_denied_by_epoch_timeout() {
    let e = PolicyEngine::with_limits(Limits {
        time: TimeBound::Epoch(Duration::from_millis(20)),
        ..Limits::default()
    })
    .unwrap();
    let p = e
        .load(module("(loop (br 0)) (i64.const 0)", "").as_bytes())
        .unwrap();
    let mut i = p.instantiate().unwrap();
    let t = Instant::now();
    let d = i.decide(&Request::path(Op::Open, b"/x"));
    assert_eq!(fail_reason(&d), &FailReason::Timeout);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // And a well-behaved policy on the same engine keeps working.
    let mut ok = e.builtin("audit").unwrap().instantiate().unwrap();
    for _ in 0..100 {
        assert_eq!(ok.decide(&Request::new(Op::Stat)), allow(true));
    }
}

#[test]
fn trapping_decide_is_denied() {
    let p = engine()
        .load(module("(unreachable)", "").as_bytes())
        .unwrap();
    let mut i = p.instantiate().unwrap();
    let d = i.decide(&Request::new(Op::Open));
    assert!(matches!(fail_reason(&d), FailReason::Trap(_)), "{d:?}");
    // Out-of-bounds access traps too.
    let p = engine()
        .load(module("(i64.load (i32.const 70000))", "").as_bytes())
        .unwrap();
    let d = p.instantiate().unwrap().decide(&Request::new(Op::Open));
    assert!(
        matches!(fail_reason(&d), FailReason::Trap(t) if t.contains("out of bounds")),
        "{d:?}"
    );
}

#[test]
fn garbage_answer_is_denied() {
    for v in ["-1", "2", "1", "0x10000", "0x100000000"] {
        let p = engine()
            .load(module(&format!("(i64.const {v})"), "").as_bytes())
            .unwrap();
        let d = p.instantiate().unwrap().decide(&Request::new(Op::Open));
        assert!(
            matches!(fail_reason(&d), FailReason::Malformed(_)),
            "{v}: {d:?}"
        );
    }
}

#[test]
fn growing_memory_past_the_limit_is_denied() {
    // 16 MiB is 256 pages; ask for 1000 more.
    let p = engine()
        .load(module("(drop (memory.grow (i32.const 1000))) (i64.const 0)", "").as_bytes())
        .unwrap();
    let mut i = p.instantiate().unwrap();
    let d = i.decide(&Request::new(Op::Open));
    assert_eq!(fail_reason(&d), &FailReason::MemoryLimit);
    assert_eq!(fail_reason(&d).to_string(), "memory limit exceeded");
    // Growing within the limit is fine.
    let p = engine()
        .load(module("(drop (memory.grow (i32.const 1))) (i64.const 0)", "").as_bytes())
        .unwrap();
    let mut i = p.instantiate().unwrap();
    for _ in 0..10 {
        assert_eq!(i.decide(&Request::new(Op::Open)), allow(false));
    }
}

#[test]
fn instance_is_replaced_after_a_failure() {
    // Traps when the operation is exec, otherwise denies with errno = number
    // of calls this instance has seen (a global), so a replacement shows.
    let p = engine()
        .load(
            module(
                r#"(if (i32.eq (i32.load16_u offset=2 (local.get $ptr)) (i32.const 13))
                     (then (unreachable)))
                   (global.set $n (i64.add (global.get $n) (i64.const 1)))
                   (i64.or (i64.const 0x101) (i64.shl (global.get $n) (i64.const 16)))"#,
                "(global $n (mut i64) (i64.const 0))",
            )
            .as_bytes(),
        )
        .unwrap();
    let mut i = p.instantiate().unwrap();
    assert_eq!(i.decide(&Request::new(Op::Open)), deny(1));
    assert_eq!(i.decide(&Request::new(Op::Open)), deny(2));
    assert!(matches!(
        fail_reason(&i.decide(&Request::new(Op::Exec))),
        FailReason::Trap(_)
    ));
    assert_eq!(i.decide(&Request::new(Op::Open)), deny(1), "fresh instance");
}

#[test]
fn request_too_long_is_denied_without_calling() {
    let mut i = engine().builtin("audit").unwrap().instantiate().unwrap();
    let long = vec![b'a'; PATH_MAX + 1];
    let d = i.decide(&Request::path(Op::Open, &long));
    assert!(
        matches!(fail_reason(&d), FailReason::BadRequest(_)),
        "{d:?}"
    );
    assert_eq!(i.decide(&Request::new(Op::Open)), allow(true));
}

// ---- reuse and caching -----------------------------------------------------------

#[test]
fn one_instance_serves_many_calls() {
    let p = engine()
        .load(
            module(
                r#"(global.set $n (i64.add (global.get $n) (i64.const 1)))
                   (i64.or (i64.const 1) (i64.shl (global.get $n) (i64.const 16)))"#,
                "(global $n (mut i64) (i64.const 0))",
            )
            .as_bytes(),
        )
        .unwrap();
    let mut i = p.instantiate().unwrap();
    for n in 1..=4000 {
        assert_eq!(
            i.decide(&Request::path(Op::Open, b"/x")),
            Decision::Deny {
                errno: n,
                audit: false,
                reason: None
            }
        );
    }
    // Each container has its own state.
    let mut j = p.instantiate().unwrap();
    assert_eq!(
        j.decide(&Request::new(Op::Open)),
        Decision::Deny {
            errno: 1,
            audit: false,
            reason: None
        }
    );
}

#[test]
fn the_policy_sees_the_request_bytes() {
    // Echoes the request length and the first path byte as the errno.
    let p = engine()
        .load(
            module(
                r#"(i64.or (i64.const 1)
                     (i64.shl
                       (i64.extend_i32_u
                         (i32.add (local.get $len) (i32.load8_u offset=64 (local.get $ptr))))
                       (i64.const 16)))"#,
                "",
            )
            .as_bytes(),
        )
        .unwrap();
    let mut i = p.instantiate().unwrap();
    let d = i.decide(&Request::path(Op::Open, b"/ab"));
    assert_eq!(
        d,
        Decision::Deny {
            errno: 64 + 3 + 47,
            audit: false,
            reason: None
        }
    );
}

#[test]
fn modules_are_compiled_once_and_cached() {
    let e = engine();
    let a = e.builtin("audit").unwrap();
    let b = e.load(Builtin::Audit.source().as_bytes()).unwrap();
    assert!(Policy::ptr_eq(&a, &b));
    assert_eq!(e.cached_modules(), 1);
    assert_eq!(a.hash().len(), 64);
    let c = e.builtin("read-only").unwrap();
    assert!(!Policy::ptr_eq(&a, &c));
    assert_ne!(a.hash(), c.hash());
    assert_eq!(e.cached_modules(), 2);
    // A failed load caches nothing.
    assert!(e.load(b"(module)").is_err());
    assert_eq!(e.cached_modules(), 2);
    // Clones of the engine share the cache.
    let e2 = e.clone();
    assert!(Policy::ptr_eq(&e2.builtin("audit").unwrap(), &a));
}

#[test]
fn request_max_fits_builtin_buffers() {
    for b in Builtin::ALL {
        let mut i = engine().builtin(b.name()).unwrap().instantiate().unwrap();
        let long = vec![b'/'; PATH_MAX];
        let d = i.decide(&Request {
            path2: &long,
            ..Request::path(Op::Rename, &long)
        });
        assert!(d.reason_is_none(), "{b:?}: {d:?}");
    }
    assert_eq!(REQUEST_MAX, 64 + 8192);
}

trait NoReason {
    fn reason_is_none(&self) -> bool;
}
impl NoReason for Decision {
    fn reason_is_none(&self) -> bool {
        !matches!(
            self,
            Decision::Deny {
                reason: Some(_),
                ..
            }
        )
    }
}

#[test]
fn the_documented_example_policy_works() {
    let doc = include_str!("../../../docs/policy-abi.md");
    let start = doc.find("```wat\n").expect("example in docs") + "```wat\n".len();
    let wat = &doc[start..start + doc[start..].find("```").unwrap()];
    let p = engine().load(wat.as_bytes()).unwrap();
    assert_eq!(p.interest().ops.iter().collect::<Vec<_>>(), [Op::Connect]);
    assert!(p.interest().cacheable);
    let mut i = p.instantiate().unwrap();
    let c = |a: &str| Request::new(Op::Connect).with_socket_addr(a.parse().unwrap());
    assert_eq!(i.decide(&c("10.0.0.1:25")), deny(EACCES));
    assert_eq!(i.decide(&c("10.0.0.1:587")), allow(false));
}

#[test]
fn binary_modules_load_like_text() {
    let wasm = wat::parse_str(Builtin::NoNetwork.source()).unwrap();
    let e = engine();
    let p = e.load(&wasm).unwrap();
    // The cache key is the bytes given: the binary and its text are two
    // entries (and two hashes in the audit log), with the same behaviour.
    let t = e.builtin("no-network").unwrap();
    assert!(!Policy::ptr_eq(&p, &t));
    assert_eq!(p.interest(), t.interest());
    let req = Request::new(Op::Connect).with_socket_addr("9.9.9.9:53".parse().unwrap());
    assert_eq!(
        p.instantiate().unwrap().decide(&req),
        t.instantiate().unwrap().decide(&req)
    );
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<PolicyEngine>();
    send_sync::<Policy>();
    send::<wrun_policy::PolicyInstance>();
    let p = engine().builtin("audit").unwrap();
    let t = std::thread::spawn(move || p.instantiate().unwrap().decide(&Request::new(Op::Open)));
    assert_eq!(t.join().unwrap(), allow(true));
}

#[test]
fn decoding_arbitrary_bytes_never_panics() {
    // A small xorshift generator: deterministic, no dependency. Every input
    // either decodes to a request that re-encodes to the same bytes, or is
    // refused with an error.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let valid = Request {
        path2: b"/b",
        ..Request::path(Op::Rename, b"/a")
    }
    .to_vec()
    .unwrap();
    for _ in 0..20_000 {
        let mut bytes = valid.clone();
        let len = (next() % 80) as usize;
        bytes.resize(len, 0);
        for _ in 0..(next() % 4) {
            if !bytes.is_empty() {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
        }
        if let Ok(req) = Request::decode(&bytes) {
            assert_eq!(req.to_vec().unwrap(), bytes);
        }
        let v = next() as i64;
        if let Some(a) = Answer::decode(v) {
            assert_eq!(a.encode(), v);
        }
    }
}
