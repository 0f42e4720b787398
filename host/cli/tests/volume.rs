//! Named volumes through the binary, as root: `volume create|ls|inspect|rm|
//! prune`, `-v NAME:/path` created on first use and filled from the image,
//! `-v /path` anonymous volumes removed by `rm -v`.

mod common;

use common::{busybox, ok, text};

#[test]
fn named_and_anonymous_volumes() {
    let Some(env) = busybox() else { return };
    assert_eq!(
        ok(&env.wrun(&["volume", "create", "--label", "k=v", "data"])),
        "data"
    );
    let ls = ok(&env.wrun(&["volume", "ls"]));
    assert!(
        ls.starts_with("DRIVER") && ls.contains("local           data"),
        "{ls}"
    );
    let mp = ok(&env.wrun(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]));
    assert!(mp.ends_with("volumes/data/_data"), "{mp}");

    // Created on first use and filled from the image's /etc.
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "cat",
        "/etc/passwd",
    ]));
    assert!(out.contains("root:"), "{out}");
    let data = env.root().join("volumes/etcvol/_data/passwd");
    assert!(data.is_file());
    // Written data persists across containers.
    ok(&env.wrun(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]));
    assert_eq!(
        ok(&env.wrun(&["run", "--rm", "-v", "data:/d:ro", "busybox", "cat", "/d/f"])),
        "kept"
    );
    let ro = env.wrun(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "touch",
        "/d/g",
    ]);
    assert!(!ro.status.success());

    // In use: not removable.
    let id = common::run_d(&env, &["-v", "data:/d", "busybox", "sleep", "1000"]);
    let rm = env.wrun(&["volume", "rm", "data"]);
    assert!(
        !rm.status.success() && text(&rm.stderr).contains("volume is in use"),
        "{}",
        text(&rm.stderr)
    );
    ok(&env.wrun(&["rm", "-f", &id]));

    // Anonymous volume: made, then removed by rm -v.
    let id = common::run_d(&env, &["-v", "/scratch", "busybox", "sleep", "1000"]);
    let before = ok(&env.wrun(&["volume", "ls", "-q"]));
    assert_eq!(before.lines().count(), 3, "{before}");
    ok(&env.wrun(&["rm", "-f", "-v", &id]));
    assert_eq!(ok(&env.wrun(&["volume", "ls", "-q"])).lines().count(), 2);

    let bad = env.wrun(&["run", "--rm", "-v", "bad name:/x", "busybox", "true"]);
    assert_eq!(bad.status.code(), Some(125));
    ok(&env.wrun(&["volume", "rm", "data", "etcvol"]));
    let pruned = ok(&env.wrun(&["volume", "prune", "-f"]));
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert!(ok(&env.wrun(&["volume", "ls", "-q"])).is_empty());
}

#[test]
fn healthcheck_flags_show_in_ps_and_inspect() {
    let Some(env) = busybox() else { return };
    let id = common::run_d(
        &env,
        &[
            "--name",
            "hc",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "100ms",
            "--health-retries",
            "2",
            "busybox",
            "sh",
            "-c",
            "sleep 1; touch /tmp/ok; sleep 1000",
        ],
    );
    common::wait_until("healthy", std::time::Duration::from_secs(30), || {
        common::inspect(&env, "hc", "{{.State.Health.Status}}") == "healthy"
    });
    let ps = ok(&env.wrun(&["ps", "--format", "{{.Status}}"]));
    assert!(ps.ends_with("(healthy)"), "{ps}");
    ok(&env.wrun(&["exec", "hc", "rm", "/tmp/ok"]));
    common::wait_until("unhealthy", std::time::Duration::from_secs(30), || {
        common::inspect(&env, "hc", "{{.State.Health.Status}}") == "unhealthy"
    });
    let streak = common::inspect(&env, "hc", "{{.State.Health.FailingStreak}}");
    assert!(streak.parse::<u32>().unwrap() >= 2);
    ok(&env.wrun(&["rm", "-f", &id]));
    let bad = env.wrun(&[
        "run",
        "--rm",
        "--health-interval",
        "soon",
        "busybox",
        "true",
    ]);
    assert!(text(&bad.stderr).contains("--health-interval"));
}
