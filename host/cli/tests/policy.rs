//! `--isolation` and `--policy` end to end, through the `wrun` binary, as
//! root with real containers (each test has its own state root).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{Env, audit_json, busybox, inspect, ok, require_root, text, wait_until};

/// A YAML policy that denies the volume's secret, however it is named.
const DENY_SECRET: &str = "\
default: allow
errno: EACCES
audit: all
rules:
  - ops: [open, create, link, rename, symlink, unlink, truncate, chmod]
    paths: [\"/data/secret\"]
    action: deny
";

#[test]
fn isolation_and_policy_are_shown_by_inspect() {
    let Some(env) = busybox() else { return };
    ok(&env.wrun(&[
        "run",
        "--name",
        "p1",
        "--network",
        "none",
        "--policy",
        "read-only",
        "busybox",
        "true",
    ]));
    assert_eq!(inspect(&env, "p1", "{{.HostConfig.Isolation}}"), "wasm");
    let ann = inspect(&env, "p1", "{{json .HostConfig.Annotations}}");
    let ann: serde_json::Value = serde_json::from_str(&ann).unwrap();
    assert_eq!(ann["run.wrun.policy"], "read-only");
    assert!(
        ann["run.wrun.policy.module"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    ok(&env.wrun(&[
        "run",
        "--name",
        "p2",
        "--network",
        "none",
        "busybox",
        "true",
    ]));
    assert_eq!(
        inspect(&env, "p2", "{{.HostConfig.Isolation}}"),
        "namespaces"
    );
    // --isolation wasm alone audits everything.
    ok(&env.wrun(&[
        "run",
        "--name",
        "p3",
        "--network",
        "none",
        "--isolation",
        "wasm",
        "busybox",
        "cat",
        "/etc/hostname",
    ]));
    let recs = audit_json(&env, "p3");
    assert!(
        recs.iter()
            .any(|r| r["op"] == "open" && r["path"] == "/etc/hostname"),
        "{recs:?}"
    );
    assert!(recs.iter().all(|r| r["policy"] == "audit"));
}

#[test]
fn read_only_denies_writes_outside_tmp_and_audits_them() {
    let Some(env) = busybox() else { return };
    let out = env.wrun(&[
        "run",
        "--name",
        "ro",
        "--network",
        "none",
        "--policy",
        "read-only",
        "busybox",
        "sh",
        "-c",
        "echo x > /etc/x; echo rc=$?; mkdir /opt; echo rc=$?; echo y > /tmp/y && cat /tmp/y",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rc=1\nrc=1\ny"),
        "{stdout} {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    let recs = audit_json(&env, "ro");
    let denied: Vec<_> = recs.iter().filter(|r| r["decision"] == "deny").collect();
    assert!(
        denied
            .iter()
            .any(|r| r["path"] == "/etc/x" && r["errno"] == 30),
        "{recs:?}"
    );
    assert!(
        denied
            .iter()
            .any(|r| r["op"] == "mkdir" && r["path"] == "/opt"),
        "{recs:?}"
    );
    let table = ok(&env.wrun(&["audit", "ro"]));
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.contains("/etc/x"), "{table}");
}

#[test]
fn a_denied_file_in_a_bind_mounted_volume_stays_denied() {
    let Some(env) = busybox() else { return };
    let vol = env.root().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("secret"), "s3cret").unwrap();
    fs::write(vol.join("public"), "hello").unwrap();
    let policy = env.root().join("deny-secret.yaml");
    fs::write(&policy, DENY_SECRET).unwrap();
    let script = "cat /data/public; echo; \
        cat /data/secret; echo rc=$?; \
        ln -s /data/secret /tmp/l; cat /tmp/l; echo rc=$?; \
        cat /data/../data/./secret; echo rc=$?; \
        cat /proc/self/root/data/secret; echo rc=$?; \
        cd /data && cat secret; echo rc=$?; \
        ln /data/secret /data/hard; echo rc=$?; \
        mv /data/secret /data/moved; echo rc=$?";
    let out = env.wrun(&[
        "run",
        "--name",
        "vol",
        "--network",
        "none",
        "-v",
        &format!("{}:/data", vol.display()),
        "--policy",
        policy.to_str().unwrap(),
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("hello\n"),
        "{stdout} {}",
        text(&out.stderr)
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert_eq!(
        stdout.matches("rc=1").count(),
        7,
        "{stdout} {}",
        text(&out.stderr)
    );
    assert!(vol.join("secret").exists() && !vol.join("hard").exists());
    let recs = audit_json(&env, "vol");
    assert!(
        recs.iter()
            .filter(|r| r["decision"] == "deny")
            .all(|r| r["errno"] == 13
                && (r["path"] == "/data/secret" || r["path2"] == "/data/secret")),
        "{recs:?}"
    );
}

#[test]
fn a_non_root_user_cannot_read_a_root_only_file_through_the_proxy() {
    let Some(env) = busybox() else { return };
    let vol = env.root().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("private"), "root only").unwrap();
    fs::set_permissions(vol.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.wrun(&[
        "run",
        "--network",
        "none",
        "-u",
        "65534:65534",
        "-v",
        &format!("{}:/data", vol.display()),
        "--policy",
        "audit",
        "busybox",
        "sh",
        "-c",
        "cat /data/private; echo rc=$?; echo x > /data/new; echo rc=$?",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout, "rc=1\nrc=1\n", "{stdout} {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    assert!(!vol.join("new").exists());
}

#[test]
fn file_calls_behave_the_same_under_namespaces_and_wasm_audit() {
    let Some(env) = busybox() else { return };
    // Each line prints a call's result; errors go to stdout too, so the
    // messages (errno texts) are compared as well. The truncate is of a
    // file no `cat` has printed: busybox's cat sends a file with
    // `sendfile`, so the output pipe holds references to the file's page
    // cache pages, not copies, and truncating that file before the monitor
    // has read the pipe zeroes the bytes still in it (`a\n` read as
    // `a\0`; the same with any reader of a pipe, Docker's included).
    let script = "exec 2>&1; cd /tmp; \
        cat /nope; echo $?; cat /etc; echo $?; echo a > f; echo $?; cat f; \
        mkdir d; echo $?; mkdir d; echo $?; rmdir d; echo $?; rmdir d; echo $?; \
        ln -s f l; cat l; ln -s f l; echo $?; ln f h; echo $?; ls -l h | cut -c1-10; \
        mv h h2; echo $?; mv nope x; echo $?; chmod 600 f; ls -l f | cut -c1-10; \
        rm l h2; echo $?; rm nope; echo $?; touch /etc; echo $?; \
        mkfifo p; ls -l p | cut -c1; echo abc > t; truncate -s 1 t; wc -c < t; \
        cat /proc/self/status | grep -c Pid; echo end";
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        let out = env.wrun(&args);
        text(&out.stdout)
    };
    let native = run(&[]);
    let wasm = run(&["--isolation", "wasm", "--policy", "audit"]);
    assert!(native.ends_with("end\n"), "{native}");
    assert_eq!(native, wasm);
}

#[test]
fn a_bad_policy_fails_run_up_front_and_leaves_nothing() {
    let Some(env) = busybox() else { return };
    let bad = env.root().join("bad.wat");
    fs::write(&bad, "(module (memory (export \"memory\") 1))").unwrap();
    let out = env.wrun(&[
        "run",
        "--network",
        "none",
        "--policy",
        bad.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.wat") && err.contains("does not export"),
        "{err}"
    );
    let yaml = env.root().join("typo.yaml");
    fs::write(
        &yaml,
        "default: deny\nrules:\n  - ops: [open]\n    action: allow\n    pathz: [\"/x\"]\n",
    )
    .unwrap();
    let out = env.wrun(&[
        "run",
        "--network",
        "none",
        "--policy",
        yaml.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("typo.yaml:5:") && err.contains("pathz"),
        "{err}"
    );
    let out = env.wrun(&[
        "run",
        "--network",
        "none",
        "--policy",
        "nonesuch",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("no such built-in policy"));
    let out = env.wrun(&[
        "run",
        "--network",
        "none",
        "--isolation",
        "process",
        "--policy",
        "audit",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(ok(&env.wrun(&["ps", "-a", "-q"])), "");
    let out = env.wrun(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let checked = ok(&env.wrun(&["policy", "check", "read-only"]));
    assert!(
        checked.contains("traps:") && checked.contains("openat"),
        "{checked}"
    );
}

#[test]
fn a_looping_policy_denies_with_a_reason_and_the_container_goes_on() {
    let Some(env) = busybox() else { return };
    let wat = env.root().join("loop.wat");
    fs::write(
        &wat,
        "(module (memory (export \"memory\") 1)
          (func (export \"wrun_abi_version\") (result i32) (i32.const 1))
          (func (export \"wrun_request_buffer\") (result i32) (i32.const 1024))
          (func (export \"wrun_request_buffer_size\") (result i32) (i32.const 9216))
          (func (export \"wrun_interest\") (result i64) (i64.const 0x4))
          (func (export \"decide\") (param i32 i32) (result i64) (loop (br 0)) (i64.const 0)))",
    )
    .unwrap();
    let out = env.wrun(&[
        "run",
        "--name",
        "loop",
        "--network",
        "none",
        "--policy",
        wat.to_str().unwrap(),
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/a; echo rc=$?; echo done",
    ]);
    assert_eq!(text(&out.stdout), "rc=1\ndone\n", "{}", text(&out.stderr));
    let recs = audit_json(&env, "loop");
    assert!(
        recs.iter()
            .any(|r| r["decision"] == "deny" && r["reason"] == "out of fuel" && r["errno"] == 1),
        "{recs:?}"
    );
}

#[test]
fn exec_runs_under_the_containers_policy() {
    let Some(env) = busybox() else { return };
    ok(&env.wrun(&[
        "run",
        "-d",
        "--name",
        "ex",
        "--network",
        "none",
        "--policy",
        "read-only",
        "busybox",
        "sleep",
        "60",
    ]));
    let out = env.wrun(&["exec", "ex", "sh", "-c", "echo x > /etc/x; echo rc=$?"]);
    assert_eq!(text(&out.stdout), "rc=1\n");
    let recs = audit_json(&env, "ex");
    assert!(recs.iter().any(|r| r["path"] == "/etc/x"), "{recs:?}");
    ok(&env.wrun(&["rm", "-f", "ex"]));
}

#[test]
fn process_isolation_runs_a_plain_process() {
    let Some(env) = busybox() else { return };
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "--isolation",
        "process",
        "busybox",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; echo $$",
    ]));
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap().split_whitespace().last(), Some("0"));
    // Not PID 2 of a new PID namespace: a host pid.
    let pid: u32 = lines.next().unwrap().parse().unwrap();
    assert!(pid > 2, "{out}");
}

#[test]
fn policy_generate_and_test_replay_an_audit_log() {
    let Some(env) = busybox() else { return };
    ok(&env.wrun(&[
        "run",
        "--name",
        "gen",
        "--network",
        "none",
        "--policy",
        "audit",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd > /dev/null; echo x > /tmp/x",
    ]));
    let yaml = ok(&env.wrun(&["policy", "generate", "gen"]));
    assert!(
        yaml.contains("/etc/passwd") && yaml.contains("/tmp/x"),
        "{yaml}"
    );
    let file = env.root().join("gen.yaml");
    fs::write(&file, &yaml).unwrap();
    let id = inspect(&env, "gen", "{{.Id}}");
    let trace = env.root().join("containers").join(&id).join("audit.jsonl");
    let same = ok(&env.wrun(&[
        "policy",
        "test",
        file.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]));
    assert!(same.trim_end().ends_with(" 0 changed"), "{same}");
    let changed = ok(&env.wrun(&[
        "policy",
        "test",
        "read-only",
        "--trace",
        trace.to_str().unwrap(),
    ]));
    assert!(
        changed.contains("/tmp/x")
            || changed.contains("/dev/null")
            || !changed.contains(" 0 changed"),
        "{changed}"
    );
    // The generated policy runs the same command.
    ok(&env.wrun(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--policy",
        file.to_str().unwrap(),
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd > /dev/null; echo x > /tmp/x",
    ]));
}

/// The lecture's Flask app under web-app: served through a published port;
/// a reverse shell's connect out is refused and audited.
#[test]
fn flask_under_web_app_serves_and_a_reverse_shell_is_stopped() {
    if !require_root() {
        return;
    }
    let Some(env) = Env::new().with_cached_image("python-3.11-slim", "python:3.11-slim") else {
        return;
    };
    let app = "from flask import Flask\n\
        app = Flask(__name__)\n\
        @app.route('/')\n\
        def hello():\n    return 'Hello from wrun\\n'\n\
        app.run(host='0.0.0.0', port=5000, threaded=True)\n";
    ok(&env.wrun(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1:18410:5000",
        "--policy",
        "web-app",
        "-w",
        "/app",
        "python:3.11-slim",
        "python3",
        "-c",
        app,
    ]));
    let mut body = String::new();
    wait_until("the Flask app answers", Duration::from_secs(20), || {
        let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:18410") else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").is_err() {
            return false;
        }
        body.clear();
        s.read_to_string(&mut body).is_ok() && body.contains("Hello from wrun")
    });
    // Several requests at once: the server's threads all get through.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let mut s = std::net::TcpStream::connect("127.0.0.1:18410").unwrap();
                s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                let mut b = String::new();
                s.read_to_string(&mut b).unwrap();
                b.contains("Hello from wrun")
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
    let shell = "import socket\n\
        try:\n    socket.create_connection(('192.0.2.1', 4444), timeout=3)\n    print('connected')\n\
        except OSError as e:\n    print('errno', e.errno)\n";
    let out = ok(&env.wrun(&["exec", "web", "python3", "-c", shell]));
    assert_eq!(out.trim(), "errno 13");
    let out = ok(&env.wrun(&[
        "exec",
        "web",
        "sh",
        "-c",
        "echo x > /etc/evil; echo rc=$?; echo ok > /app/state && cat /app/state",
    ]));
    // dash: a failed redirection is status 2.
    assert_eq!(out, "rc=2\nok");
    let recs = audit_json(&env, "web");
    assert!(
        recs.iter().any(|r| r["op"] == "connect"
            && r["address"] == "192.0.2.1:4444"
            && r["decision"] == "deny"),
        "{recs:?}"
    );
    ok(&env.wrun(&["rm", "-f", "web"]));
}
