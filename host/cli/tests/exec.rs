//! End-to-end tests of `wrun exec`: the process joins the running
//! container's namespaces and cgroup, gets its capabilities, seccomp
//! filter and `no_new_privs`, its env (plus `-e`), `-w` and `-u`, and
//! Docker's exit codes and messages.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, ok, require_root, text};

/// A state root with a running container `box`, force-removed on drop
/// (panics included), so no monitor or cgroup outlives the test.
struct Container(Env);

impl std::ops::Deref for Container {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.0.wrun(&["rm", "-f", "box"]);
    }
}

/// A busybox container named `box` with hostname `boxhost`, whose main
/// process wrote /tmp/marker and then sleeps.
fn running() -> Option<Container> {
    if !require_root() {
        return None;
    }
    let env = Env::new().with_busybox();
    let env = Container(env);
    ok(&env.wrun(&[
        "run",
        "-d",
        "--name",
        "box",
        "--hostname",
        "boxhost",
        "-e",
        "FROM_RUN=yes",
        "-w",
        "/srv",
        "busybox",
        "sh",
        "-c",
        "echo written-by-main > /tmp/marker; exec sleep 60",
    ]));
    // The marker is written just after "started": wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !env
        .wrun(&["exec", "box", "test", "-f", "/tmp/marker"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the main process never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(env)
}

fn exec(env: &Env, args: &[&str]) -> std::process::Output {
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    env.wrun(&full)
}

/// Lines of /proc/PID/status of interest.
fn security(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| {
            ["CapEff:", "CapPrm:", "CapBnd:", "Seccomp:", "NoNewPrivs:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn same_pid_namespace_hostname_files_and_security() {
    let Some(env) = running() else { return };
    // PID 1 is the container's shim; the main process is PID 2.
    let cmdline = ok(&exec(&env, &["box", "cat", "/proc/1/cmdline"]));
    assert!(cmdline.starts_with("wrun-shim"), "{cmdline:?}");
    let ps = ok(&exec(&env, &["box", "ps"]));
    assert!(
        ps.lines()
            .any(|l| l.contains(" 1 ") && l.contains("wrun-shim")),
        "{ps}"
    );
    assert!(ps.contains("sleep 60"), "{ps}");
    assert_eq!(ok(&exec(&env, &["box", "hostname"])), "boxhost");
    assert_eq!(
        ok(&exec(&env, &["box", "cat", "/tmp/marker"])),
        "written-by-main"
    );

    // Exactly the main process's capabilities, seccomp mode and
    // no_new_privs (Docker's defaults).
    let mine = ok(&exec(&env, &["box", "cat", "/proc/self/status"]));
    let main = ok(&exec(&env, &["box", "cat", "/proc/2/status"]));
    assert_eq!(security(&mine), security(&main));
    assert!(mine.contains("CapEff:\t00000000a80425fb"), "{mine}");
    assert!(mine.contains("Seccomp:\t2"), "{mine}");
    assert!(mine.contains("NoNewPrivs:\t1"), "{mine}");
    // The same namespaces as the main process.
    let ns = ok(&exec(
        &env,
        &[
            "box",
            "sh",
            "-c",
            "for n in mnt uts ipc net cgroup pid; do \
             [ $(readlink /proc/self/ns/$n) = $(readlink /proc/2/ns/$n) ] || echo $n; done",
        ],
    ));
    assert_eq!(ns, "", "namespaces that differ");
}

#[test]
fn env_workdir_and_user() {
    let Some(env) = running() else { return };
    let out = ok(&exec(
        &env,
        &["-e", "EXTRA=1", "-e", "FROM_RUN=over", "box", "env"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"EXTRA=1"), "{out}");
    assert!(lines.contains(&"FROM_RUN=over"), "{out}");
    assert!(!lines.contains(&"FROM_RUN=yes"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{out}");
    assert!(lines.contains(&"HOSTNAME=boxhost"), "{out}");
    // Without -e the container's own env.
    let out = ok(&exec(&env, &["box", "env"]));
    assert!(out.lines().any(|l| l == "FROM_RUN=yes"), "{out}");

    // The container's cwd by default, -w otherwise.
    assert_eq!(ok(&exec(&env, &["box", "pwd"])), "/srv");
    assert_eq!(ok(&exec(&env, &["-w", "/tmp", "box", "pwd"])), "/tmp");

    assert_eq!(ok(&exec(&env, &["box", "id", "-u"])), "0");
    assert_eq!(
        ok(&exec(&env, &["-u", "nobody", "box", "id", "-u"])),
        "65534"
    );
    assert_eq!(
        ok(&exec(
            &env,
            &["-u", "app", "box", "sh", "-c", "id -G; echo $HOME"]
        )),
        "1000 29\n/home/app"
    );
    let out = exec(&env, &["-u", "nosuch", "box", "true"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stderr).contains("unable to find user nosuch"),
        "{}",
        text(&out.stderr)
    );
    // -i passes stdin.
    let mut child = env
        .cmd(&["exec", "-i", "box", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"through stdin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(ok(&out), "through stdin");
}

#[test]
fn exit_codes_and_errors() {
    let Some(env) = running() else { return };
    assert_eq!(exec(&env, &["box", "true"]).status.code(), Some(0));
    assert_eq!(
        exec(&env, &["box", "sh", "-c", "exit 3"]).status.code(),
        Some(3)
    );
    assert_eq!(
        exec(&env, &["box", "sh", "-c", "kill -9 $$"]).status.code(),
        Some(137)
    );
    let out = exec(&env, &["box", "nosuch"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out.stderr).trim(),
        "OCI runtime exec failed: exec failed: unable to start container process: \
         exec: \"nosuch\": executable file not found in $PATH: unknown"
    );
    let out = exec(&env, &["box", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));

    let out = exec(&env, &["nosuchbox", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such container: nosuchbox"
    );

    let id = ok(&env.wrun(&["inspect", "-f", "{{.Id}}", "box"]));
    ok(&env.wrun(&["stop", "-t", "0", "box"]));
    let out = exec(&env, &["box", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("Error response from daemon: container {id} is not running")
    );
    ok(&env.wrun(&["rm", "box"]));
}

#[test]
fn the_process_is_in_the_containers_cgroup() {
    let Some(env) = running() else { return };
    // -d: it starts, and we return at once.
    let t0 = Instant::now();
    assert_eq!(
        ok(&exec(
            &env,
            &["-d", "box", "sh", "-c", "echo $$ > /tmp/pid; exec sleep 30"]
        )),
        ""
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !exec(&env, &["box", "test", "-s", "/tmp/pid"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the detached exec never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its pid in the container, and on the host through the main shim's
    // namespace: NSpid of every host process whose pid namespace is the
    // container's.
    let inner = ok(&exec(&env, &["box", "cat", "/tmp/pid"]));
    let shim: i32 = ok(&env.wrun(&["inspect", "-f", "{{.State.Pid}}", "box"]))
        .parse()
        .unwrap();
    let pidns = std::fs::read_link(format!("/proc/{shim}/ns/pid")).unwrap();
    let host_pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            std::fs::read_link(format!("/proc/{p}/ns/pid")).ok() == Some(pidns.clone())
                && std::fs::read_to_string(format!("/proc/{p}/status"))
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.starts_with("NSpid:") && l.split_whitespace().last() == Some(&inner))
        })
        .expect("the exec'd process seen from the host");
    // Every cgroup of the container's shim holds it.
    let cgroups = std::fs::read_to_string(format!("/proc/{shim}/cgroup")).unwrap();
    let mine = std::fs::read_to_string(format!("/proc/{host_pid}/cgroup")).unwrap();
    assert_eq!(mine, cgroups);
    let dir = common::cgroups_named(&ok(&env.wrun(&["inspect", "-f", "{{.Id}}", "box"]))[..12]);
    assert!(!dir.is_empty());
    for d in dir {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == host_pid.to_string()),
            "{} lacks {host_pid}: {procs}",
            d.display()
        );
    }
    ok(&env.wrun(&["rm", "-f", "box"]));
}

#[test]
fn tty_output_arrives() {
    let Some(env) = running() else { return };
    let out = exec(
        &env,
        &[
            "-t",
            "box",
            "sh",
            "-c",
            "tty; test -t 0 && echo stdin-is-a-tty",
        ],
    );
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s} {}", text(&out.stderr));
    assert!(s.contains("/dev/pts/"), "{s:?}");
    assert!(s.contains("stdin-is-a-tty"), "{s:?}");
    // Without a terminal of ours to copy, the pty is Docker's 24x80.
    let size = exec(&env, &["-t", "box", "stty", "size"]);
    assert_eq!(text(&size.stdout).trim(), "24 80");
    // Without -t there is no terminal.
    assert_eq!(
        exec(&env, &["box", "test", "-t", "0"]).status.code(),
        Some(1)
    );
    // The exit code comes through with -t too.
    assert_eq!(
        exec(&env, &["-t", "box", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    // -it with a pipe as stdin: input reaches the pty.
    let mut child = env
        .cmd(&["exec", "-it", "box", "sh", "-c", "read x; echo got-$x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, b"abc\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(out.contains("got-abc"), "{out:?}");
}

#[test]
fn signals_reach_the_process_and_it_dies_with_the_container() {
    let Some(env) = running() else { return };
    // A signal to `wrun exec` is forwarded to the exec'd process.
    let child = env
        .cmd(&[
            "exec",
            "box",
            "sh",
            "-c",
            "trap 'exit 42' TERM; touch /tmp/trapped; while true; do sleep 0.05; done",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !exec(&env, &["box", "test", "-f", "/tmp/trapped"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42));

    // When the container stops, the kernel kills what runs in its PID
    // namespace: the exec ends with 137 (SIGKILL).
    let child = env.cmd(&["exec", "box", "sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    ok(&env.wrun(&["kill", "box"]));
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(t0.elapsed() < Duration::from_secs(10));
}
