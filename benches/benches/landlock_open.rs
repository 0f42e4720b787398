//! What enforcing a static path policy costs an `openat`+`close`, by
//! mechanism (run as root): natively; under the Landlock ruleset wrun maps
//! the policy to (`--policy-enforcement landlock`); trapped and emulated by
//! the supervisor with the same policy compiled to wasm (`trap`). Both the
//! allowed open (a read of `/etc/hostname`) and a denied one (the same file
//! for writing: EACCES) are timed.
//!
//! A Landlock domain and a seccomp filter cannot be removed, but both are
//! per thread: each scenario runs on a thread of its own that restricts
//! itself, then runs timed loops on request.

use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// Read anywhere, change only /tmp: exact for Landlock (see
/// `wrun_policy::rules::landlock`), the same rules for the trap.
const POLICY: &str = "\
default: deny
errno: EACCES
audit: none
ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate, exec]
rules:
  - ops: [open]
    access: read
    action: allow
  - ops: [exec]
    action: allow
  - ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate]
    paths: [\"/tmp/**\"]
    action: allow
";

const FILE: &str = "/etc/hostname";

fn open_read() {
    drop(open(FILE, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).unwrap());
}

fn open_write_denied() {
    let e = open(FILE, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()).unwrap_err();
    assert_eq!(e, nix::errno::Errno::EACCES);
}

/// How a scenario's thread restricts itself before it measures.
enum Restrict {
    None,
    Landlock(wrun_sys::landlock::RulesetSpec),
    Trap(Vec<&'static str>, mpsc::Sender<OwnedFd>),
}

type Job = (u64, fn(), mpsc::Sender<Duration>);

struct Scenario {
    run: mpsc::Sender<Job>,
}

impl Scenario {
    fn new(restrict: Restrict) -> Scenario {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            nix::sys::prctl::set_no_new_privs().unwrap();
            match restrict {
                Restrict::None => {}
                Restrict::Landlock(spec) => spec.build().unwrap().restrict_self().unwrap(),
                Restrict::Trap(calls, supervisor) => {
                    let prog =
                        wrun_sys::seccomp::compile(&wrun_sys::seccomp::trap_table(&calls)).unwrap();
                    let listener =
                        wrun_sys::seccomp::install(&prog, wrun_sys::seccomp::flags::NEW_LISTENER)
                            .unwrap()
                            .unwrap();
                    supervisor.send(listener).unwrap();
                    // Let the workers come up before measuring.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            ready_tx.send(()).unwrap();
            for (iters, f, done) in rx {
                let t = Instant::now();
                for _ in 0..iters {
                    f();
                }
                done.send(t.elapsed()).unwrap();
            }
        });
        ready_rx.recv().unwrap();
        Scenario { run: tx }
    }

    fn time(&self, iters: u64, f: fn()) -> Duration {
        let (tx, rx) = mpsc::channel();
        self.run.send((iters, f, tx)).unwrap();
        rx.recv().unwrap()
    }
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() || wrun_sys::landlock::abi_version().is_err() {
        eprintln!("skipped: needs root (the supervisor) and a kernel with Landlock");
        return;
    }
    let plan = wrun_policy::rules::landlock::plan(POLICY, "bench.yaml").unwrap();
    let spec = wrun_sys::landlock::RulesetSpec {
        handled_fs: plan.handled_fs,
        handled_net: plan.handled_net,
        paths: plan
            .paths
            .iter()
            .map(|g| wrun_sys::landlock::PathRule {
                path: g.path.clone().into(),
                access: g.access,
            })
            .collect(),
        ports: Vec::new(),
    };
    let (tx, rx) = mpsc::channel::<OwnedFd>();
    let audit = std::env::temp_dir().join(format!("wrun-bench-audit-{}", std::process::id()));
    let wat = wrun_policy::rules::compile(POLICY, "bench.yaml").unwrap();
    let audit_for_thread = audit.clone();
    std::thread::spawn(move || {
        let engine = wrun_policy::PolicyEngine::new().unwrap();
        let policy = engine.load(wat.as_bytes()).unwrap();
        let mut held = Vec::new();
        for listener in rx {
            held.push(
                wrun_supervisor::Supervisor::start(
                    listener,
                    wrun_supervisor::Config {
                        policy: policy.clone(),
                        policy_name: "bench.yaml".into(),
                        audit_log: audit_for_thread.clone(),
                        workers: 2,
                        mode: wrun_supervisor::Mode::Emulate,
                    },
                )
                .unwrap(),
            );
        }
    });
    let native = Scenario::new(Restrict::None);
    let landlock = Scenario::new(Restrict::Landlock(spec));
    let trapped = Scenario::new(Restrict::Trap(
        vec!["open", "openat", "openat2", "creat"],
        tx,
    ));

    let mut g = c.benchmark_group("static-path-policy");
    g.bench_function("openat+close native", |b| {
        b.iter_custom(|n| native.time(n, open_read))
    });
    g.bench_function("openat+close landlock, allowed", |b| {
        b.iter_custom(|n| landlock.time(n, open_read))
    });
    g.bench_function("openat+close trapped (wasm, emulated), allowed", |b| {
        b.iter_custom(|n| trapped.time(n, open_read))
    });
    g.bench_function("openat for writing, landlock, denied", |b| {
        b.iter_custom(|n| landlock.time(n, open_write_denied))
    });
    g.bench_function("openat for writing, trapped, denied", |b| {
        b.iter_custom(|n| trapped.time(n, open_write_denied))
    });
    g.finish();
    let _ = std::fs::remove_file(audit);
}

criterion_group!(benches, bench);
criterion_main!(benches);
