//! The supervisor against real trapped processes (as root: the workers
//! chroot, switch fsuid and borrow sockets with pidfd_getfd).
//!
//! Each case re-runs this test binary as a child (`child_entry`, selected by
//! an environment variable) that installs the trap filter, hands the
//! listener over a socket pair, and runs a scenario printing one `R:` line
//! per call with its result. The parent supervises it with a policy and
//! checks the lines and the audit log.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;
use wrun_policy::PolicyEngine;
use wrun_supervisor::audit::read_all;
use wrun_supervisor::{Config, Mode as SupMode, Record, Supervisor};

const CHILD_ENV: &str = "WRUN_SUPERVISOR_TEST_CHILD";
const DENY_SECRET: &str = include_str!("policies/deny-secret.wat");
const LOOP: &str = include_str!("policies/loop.wat");
const FILE_CALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "chown",
    "fchownat",
    "truncate",
    "mknod",
    "mknodat",
    "connect",
    "bind",
];

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "supervisor tests need root, and CI runs them as root"
    );
    eprintln!("skipped: needs root");
    false
}

/// A scratch directory with an allowed file, a secret, a root-only file,
/// symlinks and a subdirectory.
fn scratch() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("wrun-sup-")
        .tempdir()
        .unwrap();
    let p = d.path();
    fs::write(p.join("allowed"), "ok").unwrap();
    fs::write(p.join("allowed2"), "data").unwrap();
    fs::write(p.join("secret"), "secret-content").unwrap();
    fs::write(p.join("private"), "root only").unwrap();
    fs::set_permissions(p.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(p.join("sub")).unwrap();
    symlink("secret", p.join("link")).unwrap();
    symlink("allowed", p.join("alink")).unwrap();
    symlink("created-through-link", p.join("dangle")).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

struct Run {
    results: BTreeMap<String, String>,
    audit: Vec<Record>,
}

/// Runs `scenario` in a child; supervised by `policy` unless it is `None`.
fn run(scenario: &str, dir: &Path, policy: Option<(&str, SupMode)>) -> Run {
    let sock_path = dir.join("sup.sock");
    let _ = fs::remove_file(&sock_path);
    let sock = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env("WRUN_TEST_DIR", dir)
        .env("WRUN_TEST_SOCK", &sock_path)
        .env("WRUN_TEST_TRAP", if policy.is_some() { "1" } else { "0" })
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (ours, _) = sock.accept().unwrap();
    let audit_path = dir.join("audit.jsonl");
    let supervisor = policy.map(|(src, mode)| {
        let mut buf = [0u8; 16];
        let (_, listener) = wrun_sys::fd::recv_fd(&ours, &mut buf).unwrap();
        let listener: OwnedFd = listener.expect("the child sends its listener");
        let engine = PolicyEngine::new().unwrap();
        let policy = engine.load(src.as_bytes()).unwrap();
        Supervisor::start(
            listener,
            Config {
                policy,
                policy_name: "test".into(),
                audit_log: audit_path.clone(),
                workers: 2,
                mode,
            },
        )
        .unwrap()
    });
    let out = child.wait_with_output().unwrap();
    if let Some(s) = supervisor {
        s.join();
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}");
    let results = text
        .lines()
        .filter_map(|l| l.find("R:").map(|i| &l[i + 2..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let audit = if audit_path.exists() {
        read_all(&audit_path).unwrap()
    } else {
        Vec::new()
    };
    Run { results, audit }
}

#[test]
fn a_denied_file_stays_denied_through_every_path_to_it() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("paths", d.path(), Some((DENY_SECRET, SupMode::Emulate)));
    let get = |k: &str| r.results.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("allowed"), "ok:ok");
    for k in [
        "secret",
        "symlink",
        "dotdot",
        "proc_self_root",
        "proc_self_fd",
        "relative",
        "hard_link",
        "symlink_to_secret",
        "rename_secret",
        "openat2_in_root",
    ] {
        assert_eq!(get(k), "err:13", "{k}: {:?}", r.results);
    }
    assert_eq!(get("relative_allowed"), "ok:ok");
    assert_eq!(get("dirfd_allowed"), "ok:ok");
    // The secret is untouched, no link to it exists.
    assert_eq!(
        fs::read_to_string(d.path().join("secret")).unwrap(),
        "secret-content"
    );
    assert!(!d.path().join("hl").exists());
    // Every denial is audited with the resolved path and the policy's errno.
    let denied: Vec<&Record> = r.audit.iter().filter(|a| a.decision == "deny").collect();
    assert!(denied.len() >= 9, "{denied:?}");
    let secret = d.path().join("secret").display().to_string();
    assert!(
        denied
            .iter()
            .filter(|a| a.op == "open")
            .all(|a| a.path.as_deref() == Some(&secret) && a.errno == 13),
        "{denied:?}"
    );
    assert!(r.audit.iter().all(|a| a.module.starts_with("sha256:")));
}

#[test]
fn flags_and_errnos_are_those_of_the_kernel() {
    if !is_root() {
        return;
    }
    // The same scenario natively and under the audit policy (emulated):
    // identical results, call by call, and identical files afterwards.
    let native = scratch();
    let plain = run("flags", native.path(), None);
    let emulated = scratch();
    let audit = wrun_policy::Builtin::Audit.source();
    let traced = run("flags", emulated.path(), Some((audit, SupMode::Emulate)));
    assert!(plain.results.len() >= 20, "{:?}", plain.results);
    assert_eq!(plain.results, traced.results);
    for f in [
        "excl",
        "trunc",
        "created-through-link",
        "mode",
        "renamed",
        "tmpdir",
    ] {
        let a = fs::symlink_metadata(native.path().join(f))
            .ok()
            .map(|m| (m.len(), m.permissions().mode()));
        let b = fs::symlink_metadata(emulated.path().join(f))
            .ok()
            .map(|m| (m.len(), m.permissions().mode()));
        assert_eq!(a, b, "{f}");
    }
    // And the audit log saw the calls.
    assert!(traced.audit.iter().any(|a| a.op == "create"));
    assert!(traced.audit.iter().any(|a| a.op == "mkdir"));
}

#[test]
fn a_non_root_caller_cannot_read_root_only_files_through_the_proxy() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("nonroot", d.path(), Some((DENY_SECRET, SupMode::Emulate)));
    assert_eq!(r.results["whoami"], "65534");
    assert_eq!(r.results["private"], "err:13");
    assert_eq!(r.results["allowed"], "ok:ok");
    assert_eq!(r.results["create_in_root_dir"], "err:13");
    assert!(!d.path().join("nobody-file").exists());
}

#[test]
fn racing_a_symlink_never_opens_the_denied_file() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("race", d.path(), Some((DENY_SECRET, SupMode::Emulate)));
    let opens: u64 = r.results["race_opens"].parse().unwrap();
    assert!(opens > 0, "the opener never succeeded: {:?}", r.results);
    assert_eq!(r.results["race_leaks"], "0", "{:?}", r.results);
}

#[test]
fn a_naive_check_then_continue_supervisor_loses_the_race() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("race", d.path(), Some((DENY_SECRET, SupMode::Naive)));
    let leaks: u64 = r.results["race_leaks"].parse().unwrap();
    assert!(
        leaks > 0,
        "the naive design held this time: {:?}",
        r.results
    );
}

#[test]
fn network_calls_run_on_a_borrowed_socket_with_the_checked_address() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("net", d.path(), Some((DENY_SECRET, SupMode::Emulate)));
    assert_eq!(r.results["connect_allowed"], "ok", "{:?}", r.results);
    assert_eq!(r.results["echo"], "ping");
    assert_eq!(r.results["connect_denied"], "err:111");
    assert_eq!(r.results["bind_denied"], "err:111");
    assert_eq!(r.results["bind_allowed"], "ok");
    let denied: Vec<&Record> = r.audit.iter().filter(|a| a.decision == "deny").collect();
    assert!(
        denied
            .iter()
            .any(|a| a.op == "connect" && a.address.as_deref() == Some("127.0.0.1:18499")),
        "{denied:?}"
    );
}

#[test]
fn a_looping_policy_denies_with_a_reason_and_the_caller_goes_on() {
    if !is_root() {
        return;
    }
    let d = scratch();
    let r = run("loop", d.path(), Some((LOOP, SupMode::Emulate)));
    assert_eq!(r.results["first"], "err:1");
    assert_eq!(r.results["second"], "err:1");
    assert!(r.audit.len() >= 2);
    assert!(
        r.audit
            .iter()
            .all(|a| a.decision == "deny" && a.reason.as_deref() == Some("out of fuel")),
        "{:?}",
        r.audit
    );
}

// ---- the child side ----

fn res(name: &str, v: String) {
    println!("R:{name}={v}");
}

fn open_read(dir: Option<&OwnedFd>, path: &str, flags: OFlag) -> String {
    let r = match dir {
        Some(d) => openat(d, path, flags, Mode::empty()),
        None => open(path, flags, Mode::empty()),
    };
    match r {
        Ok(fd) => {
            let mut s = String::new();
            match fs::File::from(fd).read_to_string(&mut s) {
                Ok(_) => format!("ok:{s}"),
                Err(e) => format!("read-err:{}", e.raw_os_error().unwrap_or(0)),
            }
        }
        Err(e) => format!("err:{}", e as i32),
    }
}

fn unit(r: nix::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("err:{}", e as i32),
    }
}

fn opened(r: nix::Result<OwnedFd>) -> String {
    r.map(|_| ())
        .map_or_else(|e| format!("err:{}", e as i32), |()| "ok".into())
}

fn install_trap() {
    let sock = UnixStream::connect(std::env::var("WRUN_TEST_SOCK").unwrap()).unwrap();
    if std::env::var("WRUN_TEST_TRAP").unwrap() != "1" {
        return;
    }
    nix::sys::prctl::set_no_new_privs().unwrap();
    // The race traps only the open family, as a read policy would: the
    // flipping thread's symlink and rename run at full speed.
    let calls: &[&str] = if std::env::var(CHILD_ENV).unwrap() == "race" {
        &["open", "openat", "openat2", "creat"]
    } else {
        FILE_CALLS
    };
    let prog = wrun_sys::seccomp::compile(&wrun_sys::seccomp::trap_table(calls)).unwrap();
    let listener = wrun_sys::seccomp::install(&prog, wrun_sys::seccomp::flags::NEW_LISTENER)
        .unwrap()
        .unwrap();
    wrun_sys::fd::send_fd(&sock, listener.as_fd(), b"seccomp").unwrap();
}

#[test]
fn child_entry() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var("WRUN_TEST_DIR").unwrap());
    let p = |n: &str| dir.join(n).display().to_string();
    // Opened before the filter: re-opening it through /proc/self/fd is a
    // path the policy must see through.
    let pre = open(p("secret").as_str(), OFlag::O_RDONLY, Mode::empty()).unwrap();
    install_trap();
    let rd = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    match scenario.as_str() {
        "paths" => {
            res("allowed", open_read(None, &p("allowed"), rd));
            res("secret", open_read(None, &p("secret"), rd));
            res("symlink", open_read(None, &p("link"), rd));
            res(
                "dotdot",
                open_read(None, &format!("{}/sub/../secret", dir.display()), rd),
            );
            res(
                "proc_self_root",
                open_read(None, &format!("/proc/self/root{}", p("secret")), rd),
            );
            res(
                "proc_self_fd",
                open_read(None, &format!("/proc/self/fd/{}", pre.as_raw_fd()), rd),
            );
            res(
                "hard_link",
                unit(nix::unistd::linkat(
                    nix::fcntl::AT_FDCWD,
                    p("secret").as_str(),
                    nix::fcntl::AT_FDCWD,
                    p("hl").as_str(),
                    nix::fcntl::AtFlags::empty(),
                )),
            );
            res(
                "symlink_to_secret",
                unit(nix::unistd::symlinkat(
                    "secret",
                    nix::fcntl::AT_FDCWD,
                    p("sl2").as_str(),
                )),
            );
            res(
                "rename_secret",
                unit(nix::fcntl::renameat(
                    nix::fcntl::AT_FDCWD,
                    p("secret").as_str(),
                    nix::fcntl::AT_FDCWD,
                    p("moved").as_str(),
                )),
            );
            let how = nix::fcntl::OpenHow::new()
                .flags(OFlag::O_RDONLY)
                .resolve(nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT);
            let dirfd = open(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
            res(
                "openat2_in_root",
                opened(nix::fcntl::openat2(&dirfd, "/link", how)),
            );
            res("dirfd_allowed", open_read(Some(&dirfd), "allowed", rd));
            nix::unistd::chdir(&dir).unwrap();
            res("relative", open_read(None, "sub/../secret", rd));
            res("relative_allowed", open_read(None, "./sub/../allowed", rd));
        }
        "flags" => {
            nix::unistd::chdir(&dir).unwrap();
            let w = OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            res("plain", open_read(None, "allowed", rd));
            res("missing", open_read(None, "nope", rd));
            res("missing_dir", open_read(None, "nope/x", rd));
            res("notdir", open_read(None, "allowed/x", rd));
            res(
                "o_directory_on_file",
                open_read(None, "allowed", rd | OFlag::O_DIRECTORY),
            );
            res(
                "o_directory_on_dir",
                opened(open("sub", rd | OFlag::O_DIRECTORY, Mode::empty())),
            );
            res(
                "nofollow_symlink",
                open_read(None, "alink", rd | OFlag::O_NOFOLLOW),
            );
            res(
                "o_path_nofollow",
                opened(open(
                    "alink",
                    OFlag::O_PATH | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )),
            );
            res("write_dir", opened(open("sub", w, Mode::empty())));
            res(
                "excl",
                opened(open(
                    "excl",
                    w | OFlag::O_CREAT | OFlag::O_EXCL,
                    Mode::from_bits_truncate(0o640),
                )),
            );
            res(
                "excl_again",
                opened(open(
                    "excl",
                    w | OFlag::O_CREAT | OFlag::O_EXCL,
                    Mode::from_bits_truncate(0o640),
                )),
            );
            res(
                "excl_symlink",
                opened(open(
                    "alink",
                    w | OFlag::O_CREAT | OFlag::O_EXCL,
                    Mode::from_bits_truncate(0o640),
                )),
            );
            res(
                "creat_trailing_slash",
                opened(open(
                    "newdir/",
                    w | OFlag::O_CREAT,
                    Mode::from_bits_truncate(0o640),
                )),
            );
            res(
                "dangling_create",
                opened(open(
                    "dangle",
                    w | OFlag::O_CREAT,
                    Mode::from_bits_truncate(0o600),
                )),
            );
            nix::sys::stat::umask(Mode::from_bits_truncate(0o027));
            res(
                "mode",
                opened(open(
                    "mode",
                    w | OFlag::O_CREAT,
                    Mode::from_bits_truncate(0o777),
                )),
            );
            fs::write(dir.join("trunc"), "12345")
                .map_err(|e| e.to_string())
                .unwrap();
            res(
                "trunc",
                opened(open("trunc", w | OFlag::O_TRUNC, Mode::empty())),
            );
            res(
                "append",
                match open("allowed2", OFlag::O_WRONLY | OFlag::O_APPEND, Mode::empty()) {
                    Ok(fd) => format!("{:?}", nix::unistd::write(&fd, b"+")),
                    Err(e) => format!("err:{}", e as i32),
                },
            );
            res(
                "cloexec",
                match open("allowed", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
                    Ok(fd) => format!(
                        "{:?}",
                        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD)
                    ),
                    Err(e) => format!("err:{}", e as i32),
                },
            );
            res(
                "no_cloexec",
                match open("allowed", OFlag::O_RDONLY, Mode::empty()) {
                    Ok(fd) => format!(
                        "{:?}",
                        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD)
                    ),
                    Err(e) => format!("err:{}", e as i32),
                },
            );
            res(
                "tmpfile",
                opened(open(
                    "sub",
                    OFlag::O_TMPFILE | OFlag::O_RDWR,
                    Mode::from_bits_truncate(0o600),
                )),
            );
            res(
                "mkdir",
                unit(nix::unistd::mkdir(
                    "tmpdir",
                    Mode::from_bits_truncate(0o750),
                )),
            );
            res(
                "mkdir_again",
                unit(nix::unistd::mkdir(
                    "tmpdir",
                    Mode::from_bits_truncate(0o750),
                )),
            );
            res(
                "mkdir_missing_parent",
                unit(nix::unistd::mkdir(
                    "nope/x",
                    Mode::from_bits_truncate(0o750),
                )),
            );
            res(
                "rmdir_nonempty",
                unit(nix::unistd::unlinkat(
                    nix::fcntl::AT_FDCWD,
                    ".",
                    nix::unistd::UnlinkatFlags::RemoveDir,
                )),
            );
            res("unlink_dir", unit(nix::unistd::unlink("sub")));
            res("unlink_trailing", unit(nix::unistd::unlink("excl/")));
            res(
                "rename",
                unit(nix::fcntl::renameat(
                    nix::fcntl::AT_FDCWD,
                    "allowed2",
                    nix::fcntl::AT_FDCWD,
                    "renamed",
                )),
            );
            res(
                "rename_missing",
                unit(nix::fcntl::renameat(
                    nix::fcntl::AT_FDCWD,
                    "nope",
                    nix::fcntl::AT_FDCWD,
                    "x",
                )),
            );
            res(
                "symlink_exists",
                unit(nix::unistd::symlinkat("x", nix::fcntl::AT_FDCWD, "alink")),
            );
            res(
                "chmod",
                unit(nix::sys::stat::fchmodat(
                    nix::fcntl::AT_FDCWD,
                    "renamed",
                    Mode::from_bits_truncate(0o604),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )),
            );
            res(
                "chmod_missing",
                unit(nix::sys::stat::fchmodat(
                    nix::fcntl::AT_FDCWD,
                    "nope",
                    Mode::from_bits_truncate(0o604),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )),
            );
            res("truncate", unit(nix::unistd::truncate("renamed", 2)));
            res("truncate_dir", unit(nix::unistd::truncate("tmpdir", 0)));
            res(
                "link",
                unit(nix::unistd::linkat(
                    nix::fcntl::AT_FDCWD,
                    "renamed",
                    nix::fcntl::AT_FDCWD,
                    "linked",
                    nix::fcntl::AtFlags::empty(),
                )),
            );
            res("unlink", unit(nix::unistd::unlink("linked")));
            res("unlink_missing", unit(nix::unistd::unlink("linked")));
            res(
                "mknod_fifo",
                unit(nix::sys::stat::mknod(
                    "fifo",
                    nix::sys::stat::SFlag::S_IFIFO,
                    Mode::from_bits_truncate(0o600),
                    0,
                )),
            );
        }
        "nonroot" => {
            nix::unistd::setgroups(&[]).unwrap();
            nix::unistd::setresgid(65534.into(), 65534.into(), 65534.into()).unwrap();
            nix::unistd::setresuid(65534.into(), 65534.into(), 65534.into()).unwrap();
            res("whoami", nix::unistd::geteuid().to_string());
            res("private", open_read(None, &p("private"), rd));
            res("allowed", open_read(None, &p("allowed"), rd));
            res(
                "create_in_root_dir",
                opened(open(
                    p("nobody-file").as_str(),
                    OFlag::O_WRONLY | OFlag::O_CREAT,
                    Mode::from_bits_truncate(0o644),
                )),
            );
        }
        "race" => {
            // One thread flips `flip` between the allowed file and the
            // secret; this one opens it for five seconds.
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            let d2 = dir.clone();
            let flipper = std::thread::spawn(move || {
                let mut i = 0u64;
                while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                    let target = if i % 2 == 0 { "allowed" } else { "secret" };
                    let tmp = d2.join("flip.tmp");
                    let _ = fs::remove_file(&tmp);
                    let _ = symlink(target, &tmp);
                    let _ = fs::rename(&tmp, d2.join("flip"));
                    i += 1;
                }
            });
            let (mut opens, mut leaks) = (0u64, 0u64);
            let t0 = Instant::now();
            let flip = p("flip");
            while t0.elapsed() < Duration::from_secs(5) {
                let r = open_read(None, &flip, rd);
                if r == "ok:secret-content" {
                    leaks += 1;
                }
                if r.starts_with("ok:") {
                    opens += 1;
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            flipper.join().unwrap();
            res("race_opens", opens.to_string());
            res("race_leaks", leaks.to_string());
        }
        "net" => {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = a.local_addr().unwrap().port();
            let echo = std::thread::spawn(move || {
                let (mut c, _) = a.accept().unwrap();
                let mut buf = [0u8; 4];
                std::io::Read::read_exact(&mut c, &mut buf).unwrap();
                std::io::Write::write_all(&mut c, &buf).unwrap();
            });
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(mut c) => {
                    res("connect_allowed", "ok".into());
                    std::io::Write::write_all(&mut c, b"ping").unwrap();
                    let mut buf = [0u8; 4];
                    std::io::Read::read_exact(&mut c, &mut buf).unwrap();
                    res("echo", String::from_utf8_lossy(&buf).into_owned());
                }
                Err(e) => res(
                    "connect_allowed",
                    format!("err:{}", e.raw_os_error().unwrap_or(0)),
                ),
            }
            echo.join().unwrap();
            res(
                "connect_denied",
                match std::net::TcpStream::connect("127.0.0.1:18499") {
                    Ok(_) => "ok".into(),
                    Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(0)),
                },
            );
            res(
                "bind_denied",
                match std::net::TcpListener::bind("127.0.0.1:18499") {
                    Ok(_) => "ok".into(),
                    Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(0)),
                },
            );
            res(
                "bind_allowed",
                match std::net::TcpListener::bind("127.0.0.1:18498") {
                    Ok(_) => "ok".into(),
                    Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(0)),
                },
            );
        }
        "loop" => {
            res(
                "first",
                open_read(None, &p("nope-new"), OFlag::O_WRONLY | OFlag::O_CREAT),
            );
            res(
                "second",
                open_read(None, &p("nope-new2"), OFlag::O_WRONLY | OFlag::O_CREAT),
            );
        }
        other => panic!("unknown scenario {other}"),
    }
    drop(pre);
    std::process::exit(0);
}
