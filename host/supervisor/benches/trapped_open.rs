//! What the policy layer costs a process, call by call (run as root):
//!
//! 1. `openat`+`close` and a loopback `connect` natively;
//! 2. the same `openat` with a trap filter present that does not trap it
//!    (the filter must not cost more than a few tens of nanoseconds);
//! 3. trapped, decided by a wasm policy and emulated (read path, ID_VALID,
//!    resolve, open as the caller, ADDFD+SEND), and `connect` emulated on a
//!    `pidfd_getfd` duplicate;
//! 4. trapped and answered with CONTINUE (the naive design's floor).
//!
//! Filters cannot be removed, so the groups run in this order in one
//! process; the supervisor's workers are started from a thread that never
//! gets a filter.

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use wrun_policy::PolicyEngine;
use wrun_supervisor::{Config, Mode as SupMode, Supervisor};

/// Allows everything, audits nothing, cacheable: the policy's cost is one
/// cached lookup or one tiny call.
const ALLOW_ALL: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  (func (export "wrun_interest") (result i64) (i64.const 0x1_0004_0006))
  (func (export "decide") (param i32 i32) (result i64) (i64.const 0)))"#;

/// Docker's default capability set, as a container's root holds it.
const DOCKER_CAPS: u64 = 0xa80425fb;

fn open_close(_port: u16) {
    let fd = open(
        "/etc/hostname",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    drop(fd);
}

fn connect_close(port: u16) {
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
}

/// A thread made before any filter exists, which installs its own filter
/// (and hands the listener to the supervisor) and then runs timed loops on
/// request: filters cannot be removed and a chain holds one listener, so
/// each scenario gets a thread of its own.
struct Scenario {
    run: mpsc::Sender<Job>,
}

/// Run a function this many times and send back how long it took.
type Job = (u64, fn(u16), mpsc::Sender<Duration>);

impl Scenario {
    fn new(
        calls: &'static [&'static str],
        mode: Option<(SupMode, usize)>,
        supervisor: mpsc::Sender<(OwnedFd, SupMode, usize)>,
        port: u16,
    ) -> Scenario {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            nix::sys::prctl::set_no_new_privs().unwrap();
            if !calls.is_empty() {
                let prog =
                    wrun_sys::seccomp::compile(&wrun_sys::seccomp::trap_table(calls)).unwrap();
                let flags = if mode.is_some() {
                    wrun_sys::seccomp::flags::NEW_LISTENER
                } else {
                    0
                };
                let listener = wrun_sys::seccomp::install(&prog, flags).unwrap();
                if let (Some(l), Some((m, workers))) = (listener, mode) {
                    supervisor.send((l, m, workers)).unwrap();
                    // Let the workers come up before measuring.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            // Run as a container's root does: uid 0 with Docker's default
            // capabilities, so the supervisor switches capabilities for
            // each call as it does for a real container (a caller with
            // the supervisor's own credentials would need no switch).
            wrun_sys::thread_creds::ThreadCreds::current()
                .unwrap()
                .assume(&wrun_sys::thread_creds::FsCreds {
                    uid: 0,
                    gid: 0,
                    groups: vec![0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27],
                    effective: DOCKER_CAPS,
                })
                .unwrap();
            ready_tx.send(()).unwrap();
            for (iters, f, done) in rx {
                let t = Instant::now();
                for _ in 0..iters {
                    f(port);
                }
                done.send(t.elapsed()).unwrap();
            }
        });
        ready_rx.recv().unwrap();
        Scenario { run: tx }
    }

    fn time(&self, iters: u64, f: fn(u16)) -> Duration {
        let (tx, rx) = mpsc::channel();
        self.run.send((iters, f, tx)).unwrap();
        rx.recv().unwrap()
    }
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the supervisor needs root");
        return;
    }
    // Accepts and drops connections for the connect benches.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in server.incoming() {
            drop(s);
        }
    });
    let (tx, rx) = mpsc::channel::<(OwnedFd, SupMode, usize)>();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    std::thread::spawn(move || {
        let engine = PolicyEngine::new().unwrap();
        let policy = engine.load(ALLOW_ALL.as_bytes()).unwrap();
        let mut held = Vec::new();
        for (listener, mode, workers) in rx {
            held.push(
                Supervisor::start(
                    listener,
                    Config {
                        policy: policy.clone(),
                        policy_name: "allow-all".into(),
                        audit_log: audit.clone(),
                        workers,
                        mode,
                    },
                )
                .unwrap(),
            );
        }
    });
    const OPENS: &[&str] = &["open", "openat", "openat2", "creat", "connect"];
    let native = Scenario::new(&[], None, tx.clone(), port);
    let untrapped = Scenario::new(&["mknodat"], None, tx.clone(), port);
    // The pool as containers get it, and a single worker (no other thread
    // woken with it).
    let pool = wrun_supervisor::DEFAULT_WORKERS;
    let emulated = Scenario::new(OPENS, Some((SupMode::Emulate, pool)), tx.clone(), port);
    let naive = Scenario::new(OPENS, Some((SupMode::Naive, pool)), tx.clone(), port);
    let single = Scenario::new(OPENS, Some((SupMode::Emulate, 1)), tx.clone(), port);

    let mut g = c.benchmark_group("policy-layer");
    g.bench_function("openat+close native", |b| {
        b.iter_custom(|n| native.time(n, open_close))
    });
    g.bench_function("openat+close, filter present, not trapped", |b| {
        b.iter_custom(|n| untrapped.time(n, open_close))
    });
    g.bench_function("openat+close trapped, wasm decision, emulated", |b| {
        b.iter_custom(|n| emulated.time(n, open_close))
    });
    g.bench_function("openat+close trapped, emulated, one worker", |b| {
        b.iter_custom(|n| single.time(n, open_close))
    });
    g.bench_function("openat+close trapped, CONTINUE", |b| {
        b.iter_custom(|n| naive.time(n, open_close))
    });
    g.bench_function("connect loopback native", |b| {
        b.iter_custom(|n| native.time(n, connect_close))
    });
    g.bench_function("connect loopback trapped, emulated (pidfd_getfd)", |b| {
        b.iter_custom(|n| emulated.time(n, connect_close))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
