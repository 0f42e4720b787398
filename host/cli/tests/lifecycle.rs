//! End-to-end tests of detached containers and their monitor: `run -d`,
//! `ps`, `logs`, `stop`, `kill`, `rm`, `wait`, `start`, restart policies,
//! and state that stays true when the monitor is killed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{busybox, inspect, ok, run_d, text, wait_until};

#[test]
fn detached_container_shows_in_ps_and_logs() {
    let Some(env) = busybox() else { return };
    let id = run_d(
        &env,
        &[
            "--name",
            "talker",
            "busybox",
            "sh",
            "-c",
            "echo first; echo oops >&2; echo second; sleep 30",
        ],
    );
    let ps = ok(&env.wrun(&["ps"]));
    let line = ps
        .lines()
        .find(|l| l.contains("talker"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(line.starts_with(&id[..12]), "{ps}");
    assert!(line.contains("Up "), "{ps}");
    assert!(
        ps.lines()
            .next()
            .unwrap()
            .starts_with("CONTAINER ID   IMAGE"),
        "{ps}"
    );

    wait_until("the log lines", Duration::from_secs(5), || {
        ok(&env.wrun(&["logs", "talker"])).lines().count() == 2
    });
    let out = env.wrun(&["logs", "talker"]);
    assert_eq!(text(&out.stdout), "first\nsecond\n");
    assert_eq!(text(&out.stderr), "oops\n");
    // stdout and stderr are separate pipes, so "oops" may be logged before
    // or after "second": look at the stdout lines only.
    let stamped = ok(&env.wrun(&["logs", "-t", "talker"]));
    let last = stamped.lines().last().unwrap();
    let (stamp, rest) = last.split_once(' ').unwrap();
    assert_eq!(rest, "second");
    let tail = env.wrun(&["logs", "--tail", "1", "talker"]);
    let both = text(&tail.stdout) + &text(&tail.stderr);
    assert!(
        both == "second\n" || both == "oops\n",
        "--tail 1 gives one line: {both:?}"
    );
    assert!(
        stamp.ends_with('Z') && stamp.contains('T') && stamp.contains('.'),
        "{stamp}"
    );
    assert_eq!(ok(&env.wrun(&["ps", "-q", "--no-trunc"])), id);
    assert_eq!(
        ok(&env.wrun(&[
            "ps",
            "--filter",
            "name=talk",
            "--format",
            "{{.Names}} {{.State}}"
        ])),
        "talker running"
    );

    ok(&env.wrun(&["rm", "-f", "talker"]));
    assert_eq!(ok(&env.wrun(&["ps", "-a", "-q"])), "");
    assert!(common::mounts_under(env.root()).is_empty());
    assert!(common::cgroups_named(&id[..12]).is_empty());
}

#[test]
fn logs_follow_streams_and_ends_with_the_container() {
    let Some(env) = busybox() else { return };
    run_d(
        &env,
        &[
            "--name",
            "ticker",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done",
        ],
    );
    let mut child = env
        .cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> = reader.lines().map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        lines,
        (1..=5).map(|i| format!("tick {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        inspect(&env, "ticker", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
}

#[test]
fn stop_sends_sigterm_then_sigkill() {
    let Some(env) = busybox() else { return };
    let vol = env.root().join("marks");
    std::fs::create_dir(&vol).unwrap();
    let v = format!("{}:/marks", vol.display());
    // Traps TERM, writes a marker and exits 0.
    run_d(
        &env,
        &[
            "--name",
            "polite",
            "-v",
            &v,
            "busybox",
            "sh",
            "-c",
            "trap 'echo term > /marks/polite; exit 0' TERM; echo ready; while true; do sleep 0.05; done",
        ],
    );
    // Ignores TERM: only SIGKILL after the timeout ends it.
    run_d(
        &env,
        &[
            "--name",
            "stubborn",
            "busybox",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 0.05; done",
        ],
    );
    for name in ["polite", "stubborn"] {
        wait_until("ready", Duration::from_secs(5), || {
            ok(&env.wrun(&["logs", name])) == "ready"
        });
    }
    assert_eq!(ok(&env.wrun(&["stop", "polite"])), "polite");
    assert_eq!(
        std::fs::read_to_string(vol.join("polite")).unwrap(),
        "term\n"
    );
    assert_eq!(
        inspect(&env, "polite", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );

    let t0 = Instant::now();
    assert_eq!(ok(&env.wrun(&["stop", "-t", "1", "stubborn"])), "stubborn");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "stop waited the timeout"
    );
    assert_eq!(inspect(&env, "stubborn", "{{.State.ExitCode}}"), "137");
    let ps = ok(&env.wrun(&["ps", "-a"]));
    assert!(
        ps.contains("Exited (137)") && ps.contains("Exited (0)"),
        "{ps}"
    );
    // Stopping an exited container is not an error.
    assert_eq!(ok(&env.wrun(&["stop", "stubborn"])), "stubborn");
    ok(&env.wrun(&["rm", "polite", "stubborn"]));
}

#[test]
fn exit_codes_wait_start_and_kill() {
    let Some(env) = busybox() else { return };
    run_d(
        &env,
        &[
            "--name",
            "three",
            "busybox",
            "sh",
            "-c",
            "sleep 0.2; exit 3",
        ],
    );
    assert_eq!(ok(&env.wrun(&["wait", "three"])), "3");
    assert!(ok(&env.wrun(&["ps", "-a"])).contains("Exited (3)"));
    // start runs it again in the same container.
    assert_eq!(ok(&env.wrun(&["start", "three"])), "three");
    assert_eq!(ok(&env.wrun(&["wait", "three"])), "3");

    run_d(&env, &["--name", "sleeper", "busybox", "sleep", "30"]);
    ok(&env.wrun(&["kill", "-s", "TERM", "sleeper"]));
    assert_eq!(ok(&env.wrun(&["wait", "sleeper"])), "143");
    let out = env.wrun(&["kill", "sleeper"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn restart_on_failure_restarts_exactly_twice() {
    let Some(env) = busybox() else { return };
    let vol = env.root().join("count");
    std::fs::create_dir(&vol).unwrap();
    let v = format!("{}:/count", vol.display());
    run_d(
        &env,
        &[
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "-v",
            &v,
            "busybox",
            "sh",
            "-c",
            "echo run >> /count/runs; exit 1",
        ],
    );
    wait_until("the last run", Duration::from_secs(10), || {
        inspect(&env, "flaky", "{{.State.Status}}") == "exited"
            && std::fs::read_to_string(vol.join("runs"))
                .unwrap_or_default()
                .lines()
                .count()
                == 3
    });
    // Give a wrong fourth start the time to happen, then check it did not.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        std::fs::read_to_string(vol.join("runs")).unwrap(),
        "run\nrun\nrun\n"
    );
    assert_eq!(
        inspect(
            &env,
            "flaky",
            "{{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "2 1 on-failure"
    );
}

#[test]
fn killed_monitor_leaves_state_that_ps_and_rm_handle() {
    let Some(env) = busybox() else { return };
    let id = run_d(&env, &["--name", "orphan", "busybox", "sleep", "300"]);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.root().join("containers").join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let monitor = state["monitor_pid"].as_i64().unwrap() as i32;
    let shim = state["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the monitor to die", Duration::from_secs(5), || {
        wrun_runtime::process::start_time(monitor).is_none()
    });
    // The container dies with its monitor (PR_SET_PDEATHSIG), before any
    // wrun command looks at it.
    wait_until(
        "the shim to die with its monitor",
        Duration::from_secs(5),
        || wrun_runtime::process::start_time(shim).is_none(),
    );
    let ps = ok(&env.wrun(&["ps", "-a"]));
    let line = ps.lines().find(|l| l.contains("orphan")).unwrap();
    assert!(line.contains("Exited ("), "ps tells the truth: {ps}");
    assert!(!ok(&env.wrun(&["ps"])).contains("orphan"));
    assert!(
        wrun_runtime::process::start_time(shim).is_none(),
        "the orphaned container is gone"
    );
    ok(&env.wrun(&["rm", "orphan"]));
    assert!(common::mounts_under(env.root()).is_empty());
    assert!(common::cgroups_named(&id[..12]).is_empty());
    assert!(!env.root().join("containers").join(&id).exists());
}

#[test]
fn twenty_concurrent_containers_get_unique_names_and_clean_up() {
    let Some(env) = busybox() else { return };
    let children: Vec<_> = (0..20)
        .map(|_| {
            env.cmd(&["run", "-d", "busybox", "sleep", "30"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| ok(&c.wait_with_output().unwrap()))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    let names = ok(&env.wrun(&["ps", "--format", "{{.Names}}"]));
    let mut names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), 20, "{names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    ok(&env.wrun(&args));
    assert_eq!(ok(&env.wrun(&["ps", "-a", "-q"])), "");
    assert!(common::mounts_under(env.root()).is_empty());
    for id in &ids {
        assert!(
            common::cgroups_named(&id[..12]).is_empty(),
            "cgroup of {id} left"
        );
    }
}

#[test]
fn same_name_at_the_same_moment_one_wins() {
    let Some(env) = busybox() else { return };
    let a = env
        .cmd(&["run", "-d", "--name", "x1", "busybox", "sleep", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .cmd(&["run", "-d", "--name", "x1", "busybox", "sleep", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    assert_eq!(outs.iter().filter(|o| o.status.success()).count(), 1);
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    assert_eq!(loser.status.code(), Some(125));
    assert!(
        text(&loser.stderr).contains("is already in use"),
        "{}",
        text(&loser.stderr)
    );
    ok(&env.wrun(&["rm", "-f", "x1"]));
}

#[test]
fn bad_input_is_named() {
    let Some(env) = busybox() else { return };
    let out = env.wrun(&["stop", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
    run_d(&env, &["--name", "busy", "busybox", "sleep", "30"]);
    let out = env.wrun(&["rm", "busy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("container is running"),
        "{}",
        text(&out.stderr)
    );
    let out = env.wrun(&["kill", "-s", "SIGFOO", "busy"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("SIGFOO"));
    let out = env.wrun(&["stop", "-t", "-5", "busy"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("-5"));
    let out = env.wrun(&["ps", "--filter", "colour=red"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("colour"));
    let out = env.wrun(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("sometimes"));
    let out = env.wrun(&["logs", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    ok(&env.wrun(&["rm", "-f", "busy"]));
}

#[test]
fn attach_streams_output_and_passes_input() {
    let Some(env) = busybox() else { return };
    // Output from now on, and the container's exit code at the end.
    run_d(
        &env,
        &[
            "--name",
            "late",
            "busybox",
            "sh",
            "-c",
            "sleep 0.5; echo late; echo oops >&2; exit 4",
        ],
    );
    let out = env.wrun(&["attach", "late"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "late\n");
    assert_eq!(text(&out.stderr), "oops\n");

    // With -i, what we type reaches the container's stdin.
    run_d(
        &env,
        &[
            "-i",
            "--name",
            "echoer",
            "busybox",
            "sh",
            "-c",
            "while read l; do echo got $l; done",
        ],
    );
    let mut child = env
        .cmd(&["attach", "echoer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"hello\n").unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "got hello\n");
    ok(&env.wrun(&["rm", "-f", "echoer"]));
    assert!(child.wait().unwrap().code().is_some());
    let out = env.wrun(&["attach", "late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("start it first"));
}

#[test]
fn a_rename_survives_the_containers_exit() {
    let Some(env) = busybox() else { return };
    run_d(&env, &["--name", "before", "busybox", "sleep", "30"]);
    ok(&env.wrun(&["rename", "before", "after"]));
    ok(&env.wrun(&["stop", "-t", "1", "after"]));
    assert_eq!(
        ok(&env.wrun(&["ps", "-a", "--format", "{{.Names}}"])),
        "after"
    );
    assert_eq!(inspect(&env, "after", "{{.Name}}"), "/after");
    ok(&env.wrun(&["rm", "after"]));
}
