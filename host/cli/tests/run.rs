//! End-to-end tests of `wrun run` on the busybox image, as root: each test
//! drives the built binary with its own state root and checks what the
//! container really sees.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{busybox, ok, text};

#[test]
fn pid_namespace_has_the_shim_as_pid_1() {
    let Some(env) = busybox() else { return };
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
    ]));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("2"),
        "the workload is the shim's first child: {out}"
    );
    assert!(lines.next().unwrap().starts_with("wrun-shim"), "{out}");
}

#[test]
fn hostname_default_and_flag() {
    let Some(env) = busybox() else { return };
    assert_eq!(
        ok(&env.wrun(&["run", "--rm", "--hostname", "box1", "busybox", "hostname"])),
        "box1"
    );
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo $HOSTNAME",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].len(), 12, "{out}");
    assert!(lines.iter().all(|l| *l == lines[0]), "{out}");
}

#[test]
fn security_state_matches_docker_defaults() {
    let Some(env) = busybox() else { return };
    let status = ok(&env.wrun(&["run", "--rm", "busybox", "cat", "/proc/self/status"]));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "00000000a80425fb");
    assert_eq!(field("CapBnd:"), "00000000a80425fb");
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("Seccomp:"), "2");
}

#[test]
fn denied_calls_fail_with_eperm() {
    let Some(env) = busybox() else { return };
    let out = env.wrun(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/mnt",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr).to_lowercase();
    assert!(
        err.contains("permission") || err.contains("not permitted"),
        "{err}"
    );
    let out = env.wrun(&["run", "--rm", "busybox", "unshare", "-n", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).to_lowercase().contains("not permitted"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn exit_codes_like_docker() {
    let Some(env) = busybox() else { return };
    let code = |args: &[&str]| {
        let mut full = vec!["run", "--rm", "busybox"];
        full.extend_from_slice(args);
        env.wrun(&full).status.code()
    };
    assert_eq!(code(&["true"]), Some(0));
    assert_eq!(code(&["false"]), Some(1));
    assert_eq!(code(&["sh", "-c", "exit 42"]), Some(42));
    assert_eq!(code(&["sh", "-c", "kill -9 $$"]), Some(137));
    let out = env.wrun(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
    let out = env.wrun(&["run", "--rm", "busybox", "nosuch"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains(r#"exec: "nosuch": executable file not found in $PATH"#),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unknown_image_is_125_with_dockers_message() {
    let Some(env) = busybox() else { return };
    let out = env.wrun(&["run", "--rm", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("Unable to find image 'nosuchimage:latest' locally"));
}

#[test]
fn bad_flag_values_are_125_and_named() {
    let Some(env) = busybox() else { return };
    for (args, needle) in [
        (&["run", "--memory", "10q", "busybox"][..], "10q"),
        (
            &["run", "-v", "./relative:/x", "busybox"][..],
            "./relative:/x",
        ),
        (&["run", "--cap-add", "FLY", "busybox"][..], "FLY"),
    ] {
        let out = env.wrun(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn signals_are_forwarded_to_the_workload() {
    let Some(env) = busybox() else { return };
    let mut child = env
        .cmd(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 64];
    while !seen.contains("ready") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "container ended early: {seen}");
        seen.push_str(&text(&buf[..n]));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    stdout.read_to_string(&mut seen).unwrap();
    assert_eq!(status.code(), Some(7), "{seen}");
    assert!(seen.contains("got-term"), "{seen}");
}

#[test]
fn orphans_are_reaped() {
    let Some(env) = busybox() else { return };
    // The inner shell exits at once; its background sleeps are re-parented
    // to PID 1 (the shim), which must reap them when they end.
    let out = ok(&env.wrun(&[
        "run", "--rm", "busybox", "sh", "-c",
        "sh -c 'for i in 1 2 3 4 5; do sleep 0.1 & done'; sleep 0.6; ps -o stat,comm | grep -c '^Z' || true",
    ]));
    assert_eq!(out.lines().last(), Some("0"), "zombies left: {out}");
}

#[test]
fn env_workdir_and_user() {
    let Some(env) = busybox() else { return };
    let envfile = env.root().join("vars.env");
    std::fs::write(&envfile, "# settings\nFROM_FILE=yes\nFOO=from-file\n").unwrap();
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "--env-file",
        envfile.to_str().unwrap(),
        "-e",
        "FOO=bar",
        "busybox",
        "env",
    ]));
    assert!(out.lines().any(|l| l == "FOO=bar"), "{out}");
    assert!(out.lines().any(|l| l == "FROM_FILE=yes"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("PATH=/usr/local/sbin")),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "HOME=/root"), "{out}");
    assert!(!out.contains("WRUN_"), "wrun's own variables leaked: {out}");

    assert_eq!(
        ok(&env.wrun(&["run", "--rm", "-w", "/tmp/work/dir", "busybox", "pwd"])),
        "/tmp/work/dir"
    );
    assert_eq!(
        ok(&env.wrun(&["run", "--rm", "-u", "nobody", "busybox", "id", "-u"])),
        "65534"
    );
    assert_eq!(
        ok(&env.wrun(&[
            "run",
            "--rm",
            "-u",
            "app",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; id -G; echo $HOME"
        ])),
        "1000\n1000\n1000 29\n/home/app"
    );
    assert_eq!(
        ok(&env.wrun(&["run", "--rm", "-u", "1234:5678", "busybox", "id"])),
        "uid=1234 gid=5678"
    );
    let status = ok(&env.wrun(&[
        "run",
        "--rm",
        "-u",
        "app",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert!(
        status.ends_with("0000000000000000"),
        "a non-root user has no effective caps: {status}"
    );
    let out = env.wrun(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nosuchuser"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn volumes_read_only_and_host_isolation() {
    let Some(env) = busybox() else { return };
    let host = env.root().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("hello.txt"), "from host\n").unwrap();
    let vol = format!("{}:/data", host.display());
    assert_eq!(
        ok(&env.wrun(&[
            "run",
            "--rm",
            "-v",
            &vol,
            "busybox",
            "cat",
            "/data/hello.txt"
        ])),
        "from host"
    );
    ok(&env.wrun(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "echo back > /data/out.txt",
    ]));
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{vol}:ro");
    let out = env.wrun(&["run", "--rm", "-v", &ro, "busybox", "touch", "/data/x"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a :ro volume must refuse writes"
    );
    assert!(!host.join("x").exists());

    let out = env.wrun(&["run", "--rm", "--read-only", "busybox", "touch", "/etc/x"]);
    assert_ne!(out.status.code(), Some(0), "--read-only must refuse writes");
    let tmpfs_ok = env.wrun(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]);
    ok(&tmpfs_ok);

    // Nothing of the host's filesystem is visible beyond the volume.
    let out = ok(&env.wrun(&["run", "--rm", "busybox", "ls", "/"]));
    let names: Vec<&str> = out.split_whitespace().collect();
    assert!(
        !names.contains(&"usr") && !names.contains(&"shared"),
        "{out}"
    );
    assert!(
        !ok(&env.wrun(&["run", "--rm", "busybox", "cat", "/proc/mounts"]))
            .contains(host.to_str().unwrap())
    );
    // Masked paths that exist on this kernel read as empty (/proc/kcore
    // needs CONFIG_PROC_KCORE, so it is not among them).
    for path in ["/proc/keys", "/proc/timer_list", "/sys/firmware"] {
        if !std::path::Path::new(path).exists() {
            continue;
        }
        let script = format!("ls -A {path} 2>/dev/null | wc -l; cat {path} 2>/dev/null | wc -c");
        let masked = ok(&env.wrun(&["run", "--rm", "busybox", "sh", "-c", &script]));
        assert!(
            masked.lines().all(|l| l == "0" || l == "1"),
            "{path} is not masked: {masked}"
        );
        assert_eq!(
            masked.lines().last(),
            Some("0"),
            "{path} has content: {masked}"
        );
    }
    let out = env.wrun(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname",
    ]);
    assert_ne!(out.status.code(), Some(0), "/proc/sys is read-only");
}

#[test]
fn rm_leaves_nothing_and_exited_containers_are_inspectable() {
    let Some(env) = busybox() else { return };
    let id_prefix = ok(&env.wrun(&["run", "--rm", "busybox", "hostname"]));
    let containers = env.root().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "names")
        .collect();
    assert!(left.is_empty(), "container dirs left: {left:?}");
    assert_eq!(
        std::fs::read_dir(containers.join("names")).unwrap().count(),
        0
    );
    assert!(
        common::mounts_under(env.root()).is_empty(),
        "{:?}",
        common::mounts_under(env.root())
    );
    assert!(
        common::cgroups_named(&id_prefix).is_empty(),
        "cgroups left for {id_prefix}"
    );

    // Without --rm the container stays, exited, with its code; its cgroup
    // is gone all the same.
    let out = env.wrun(&["run", "--name", "keeper", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let state = ok(&env.wrun(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
        "keeper",
    ]));
    assert_eq!(state, "exited 3 /keeper");
    let out = env.wrun(&["run", "--name", "keeper", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("is already in use"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cgroup_limits_are_applied() {
    let Some(env) = busybox() else { return };
    // The limit is visible from inside through the container's own cgroup
    // files when the host has v2; on v1 read it from the host while running.
    let mut child = env
        .cmd(&[
            "run",
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            "hostname; sleep 2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 13];
    out.read_exact(&mut buf).unwrap();
    let prefix = text(&buf[..12]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found_memory = false;
    let mut found_pids = false;
    while Instant::now() < deadline && !(found_memory && found_pids) {
        for dir in common::cgroups_named(&prefix) {
            for (file, want) in [
                ("memory.limit_in_bytes", "67108864"),
                ("memory.max", "67108864"),
                ("pids.max", "50"),
            ] {
                if let Ok(v) = std::fs::read_to_string(dir.join(file)) {
                    assert_eq!(v.trim(), want, "{}", dir.join(file).display());
                    if file == "pids.max" {
                        found_pids = true;
                    } else {
                        found_memory = true;
                    }
                }
            }
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(found_memory && found_pids, "limits not found for {prefix}");
    assert!(common::cgroups_named(&prefix).is_empty());
}

#[test]
fn tty_gives_a_pty_with_a_size() {
    let Some(env) = busybox() else { return };
    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; stty size; test -t 1 && echo yes",
    ]));
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out}");
    assert_eq!(lines[1], "24 80", "{out}");
    assert_eq!(lines[2], "yes", "{out}");
    // Without -t nothing is a terminal.
    let out = env.wrun(&["run", "--rm", "busybox", "test", "-t", "1"]);
    assert_eq!(out.status.code(), Some(1));
}
