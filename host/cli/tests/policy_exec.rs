//! `--isolation`/`--policy` on `wrun create` (then `start`) and `wrun
//! exec`, and `--policy-enforcement landlock|auto`, end to end through the
//! `wrun` binary, as root with real containers (each test has its own
//! state root).

mod common;

use common::{Env, audit_json, busybox, inspect, ok, run_d, text};

/// A policy Landlock can enforce exactly: read and execute anywhere, change
/// only `/tmp`. Every file operation Landlock sees is decided, no deny
/// rule, EACCES, no audit.
const READ_ANYWHERE_WRITE_TMP: &str = "\
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

/// The same, but a deny rule inside an allowed tree: not for Landlock.
const WITH_A_DENY: &str = "\
default: deny
audit: none
ops: [open, create, unlink, rmdir, mkdir, rename, link, symlink, mknod, truncate, exec]
rules:
  - ops: [open]
    paths: [\"/etc/hostname\"]
    action: deny
  - ops: [open]
    access: read
    action: allow
  - ops: [exec]
    action: allow
";

fn annotations(env: &Env, name: &str) -> serde_json::Value {
    serde_json::from_str(&inspect(env, name, "{{json .HostConfig.Annotations}}")).unwrap()
}

fn policy_file(env: &Env, name: &str, body: &str) -> String {
    let p = env.root().join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

const WRITE_ETC_THEN_TMP: &str = "echo x > /etc/x; echo rc=$?; cat /etc/hostname >&2; echo read=$?; echo y > /tmp/y && cat /tmp/y";

#[test]
fn create_then_start_runs_under_the_policy() {
    let Some(env) = busybox() else { return };
    let id = ok(&env.wrun(&[
        "create",
        "--name",
        "c1",
        "--network",
        "none",
        "--policy",
        "read-only",
        "busybox",
        "sh",
        "-c",
        "echo x > /etc/x; echo rc=$?",
    ]));
    assert_eq!(id.len(), 64, "create prints the full id: {id}");
    assert_eq!(inspect(&env, "c1", "{{.State.Status}}"), "created");
    assert_eq!(inspect(&env, "c1", "{{.HostConfig.Isolation}}"), "wasm");
    let ann = annotations(&env, "c1");
    assert_eq!(ann["run.wrun.policy"], "read-only");
    assert_eq!(ann["run.wrun.policy.enforcement"], "trap");
    let out = env.wrun(&["start", "-a", "c1"]);
    assert!(
        text(&out.stdout).contains("rc=1"),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let recs = audit_json(&env, "c1");
    assert!(
        recs.iter()
            .any(|r| r["decision"] == "deny" && r["path"] == "/etc/x"),
        "{recs:?}"
    );
    // A bad --isolation fails create before anything is made.
    let out = env.wrun(&["create", "--isolation", "vm", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--isolation"));
    assert!(ok(&env.wrun(&["ps", "-aq"])).lines().count() == 1);
}

#[test]
fn exec_runs_under_the_containers_policy_and_cannot_leave_it() {
    let Some(env) = busybox() else { return };
    run_d(
        &env,
        &[
            "--name",
            "e1",
            "--network",
            "none",
            "--policy",
            "read-only",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let out = env.wrun(&["exec", "e1", "sh", "-c", "echo x > /etc/e; echo rc=$?"]);
    assert!(text(&out.stdout).contains("rc=1"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Read-only file system"));
    let recs = audit_json(&env, "e1");
    assert!(
        recs.iter().any(|r| r["decision"] == "deny"
            && r["path"] == "/etc/e"
            && r["policy"] == "read-only"),
        "{recs:?}"
    );
    // Restating the container's own isolation or policy is fine.
    for flags in [["--isolation", "wasm"], ["--policy", "read-only"]] {
        let mut args = vec!["exec"];
        args.extend(flags);
        args.extend(["e1", "sh", "-c", "echo z > /etc/z; echo rc=$?"]);
        let out = env.wrun(&args);
        assert!(
            text(&out.stdout).contains("rc=1"),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
    // Leaving it, or bringing another policy, is refused before anything runs.
    for (flags, says) in [
        (["--isolation", "namespaces"], "an exec runs under it too"),
        (["--isolation", "process"], "an exec runs under it too"),
        (
            ["--policy", "audit"],
            "an exec runs under the container's policy",
        ),
    ] {
        let mut args = vec!["exec"];
        args.extend(flags);
        args.extend(["e1", "touch", "/etc/escaped"]);
        let out = env.wrun(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
    let out = env.wrun(&["exec", "e1", "ls", "/etc/escaped"]);
    assert!(!out.status.success(), "nothing ran: {}", text(&out.stdout));
    // Into a container without a policy, a policy cannot be brought either.
    run_d(
        &env,
        &[
            "--name",
            "n1",
            "--network",
            "none",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let out = env.wrun(&["exec", "--policy", "read-only", "n1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("a policy is chosen when it is created"));
    ok(&env.wrun(&["rm", "-f", "e1", "n1"]));
}

#[test]
fn landlock_denies_with_eacces_allows_the_rest_and_covers_exec() {
    let Some(env) = busybox() else { return };
    let policy = policy_file(&env, "rw-tmp.yaml", READ_ANYWHERE_WRITE_TMP);
    let id = ok(&env.wrun(&[
        "create",
        "--name",
        "l1",
        "--network",
        "none",
        "--policy",
        &policy,
        "--policy-enforcement",
        "landlock",
        "busybox",
        "sh",
        "-c",
        &format!("{WRITE_ETC_THEN_TMP}; sleep 300"),
    ]));
    assert_eq!(id.len(), 64);
    let ann = annotations(&env, "l1");
    assert_eq!(ann["run.wrun.policy.enforcement"], "landlock");
    ok(&env.wrun(&["start", "l1"]));
    common::wait_until(
        "the first output",
        std::time::Duration::from_secs(20),
        || text(&env.wrun(&["logs", "l1"]).stdout).contains('y'),
    );
    let logs = env.wrun(&["logs", "l1"]);
    let (stdout, stderr) = (text(&logs.stdout), text(&logs.stderr));
    assert!(stdout.contains("rc=1\nread=0\ny"), "{stdout} / {stderr}");
    assert!(stderr.contains("Permission denied"), "EACCES: {stderr}");
    // An exec'd process is under the same ruleset.
    let out = env.wrun(&[
        "exec",
        "l1",
        "sh",
        "-c",
        "echo x > /etc/e; echo rc=$?; echo ok > /tmp/e && cat /tmp/e",
    ]);
    assert!(
        text(&out.stdout).contains("rc=1\nok"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("Permission denied"));
    // Nothing was trapped: Landlock denies are not audited per call.
    assert!(audit_json(&env, "l1").is_empty());
    ok(&env.wrun(&["rm", "-f", "l1"]));
}

#[test]
fn auto_takes_landlock_only_when_exact_and_landlock_refuses_the_rest() {
    let Some(env) = busybox() else { return };
    let exact = policy_file(&env, "rw-tmp.yaml", READ_ANYWHERE_WRITE_TMP);
    let inexact = policy_file(&env, "deny.yaml", WITH_A_DENY);
    ok(&env.wrun(&[
        "create",
        "--name",
        "a1",
        "--network",
        "none",
        "--policy",
        &exact,
        "--policy-enforcement",
        "auto",
        "busybox",
        "true",
    ]));
    assert_eq!(
        annotations(&env, "a1")["run.wrun.policy.enforcement"],
        "landlock"
    );
    // The deny rule keeps it on traps under auto, with the reason.
    let out = env.wrun(&[
        "run",
        "--name",
        "a2",
        "--network",
        "none",
        "--policy",
        &inexact,
        "--policy-enforcement",
        "auto",
        "busybox",
        "cat",
        "/etc/hostname",
    ]);
    assert!(
        !out.status.success(),
        "the trap policy denies: {}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("Permission denied"));
    let ann = annotations(&env, "a2");
    assert_eq!(ann["run.wrun.policy.enforcement"], "trap");
    assert!(
        ann["run.wrun.policy.enforcement.note"]
            .as_str()
            .unwrap()
            .contains("rule 1 denies"),
        "{ann}"
    );
    // Under `landlock` it is refused up front, naming the rule.
    let out = env.wrun(&[
        "create",
        "--name",
        "a3",
        "--network",
        "none",
        "--policy",
        &inexact,
        "--policy-enforcement",
        "landlock",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("--policy-enforcement") && err.contains("rule 1 denies"),
        "{err}"
    );
    // A built-in is not a rule file.
    let out = env.wrun(&[
        "create",
        "--policy",
        "read-only",
        "--policy-enforcement",
        "landlock",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("not a YAML rule file"));
    // --policy-enforcement alone is refused.
    let out = env.wrun(&["create", "--policy-enforcement", "auto", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("needs a --policy"));
    assert_eq!(
        ok(&env.wrun(&["ps", "-aq"])).lines().count(),
        2,
        "a1 and a2 only"
    );
}
