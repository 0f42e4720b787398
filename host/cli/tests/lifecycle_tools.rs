//! End-to-end tests of the tools that look into containers: `top`,
//! `stats`, `cp` (with symlinks that try to leave the container),
//! `rename`, `container prune` and the `container` command group.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, busybox, ok, run_d, text, wait_until};

/// Runs a shell command in a fresh container with the given name and
/// waits for it to exit successfully (there is no `exec` yet).
fn sh_exited(env: &Env, name: &str, script: &str) {
    let out = env.wrun(&["run", "--name", name, "busybox", "sh", "-c", script]);
    ok(&out);
}

#[test]
fn top_lists_the_containers_processes() {
    let Some(env) = busybox() else { return };
    run_d(
        &env,
        &[
            "--name",
            "topper",
            "busybox",
            "sh",
            "-c",
            "sleep 300 & sleep 301",
        ],
    );
    wait_until("two sleeps", Duration::from_secs(5), || {
        text(&env.wrun(&["top", "topper"]).stdout)
            .matches("sleep 30")
            .count()
            == 2
    });
    let top = ok(&env.wrun(&["top", "topper"]));
    let mut lines = top.lines();
    let head = lines.next().unwrap();
    for col in ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"] {
        assert!(head.split_whitespace().any(|c| c == col), "{top}");
    }
    let rows: Vec<&str> = lines.collect();
    // The shim (PID 1 inside), sh, and the two sleeps; nothing of the host.
    assert!(rows.iter().any(|r| r.ends_with("sleep 300")), "{top}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 301")), "{top}");
    assert!(rows.iter().any(|r| r.contains("wrun-shim")), "{top}");
    assert!(!rows.iter().any(|r| r.contains("/sbin/init")), "{top}");
    assert!(rows.len() <= 5, "{top}");

    // ps options, as Docker passes them on.
    let custom = ok(&env.wrun(&["top", "topper", "-o", "pid,comm"]));
    assert_eq!(
        custom
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert!(
        custom.lines().filter(|l| l.ends_with("sleep")).count() == 2,
        "{custom}"
    );

    let out = env.wrun(&["top", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such container: nosuch"
    );
    ok(&env.wrun(&["rm", "-f", "topper"]));
    sh_exited(&env, "done", "true");
    let out = env.wrun(&["container", "top", "done"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not running"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stats_no_stream_shows_pids_and_the_memory_limit() {
    let Some(env) = busybox() else { return };
    let id = run_d(
        &env,
        &[
            "--name",
            "statty",
            "--memory",
            "64m",
            "busybox",
            "sh",
            "-c",
            "sleep 300 & sleep 301 & while true; do :; done",
        ],
    );
    wait_until("three processes", Duration::from_secs(5), || {
        ok(&env.wrun(&["stats", "--no-stream", "--format", "{{.PIDs}}", "statty"])) == "4"
    });
    let t0 = Instant::now();
    let table = ok(&env.wrun(&["stats", "--no-stream"]));
    let took = t0.elapsed();
    // Two samples about a second apart, as Docker takes them.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"),
        "{table}"
    );
    for col in ["MEM %", "NET I/O", "BLOCK I/O", "PIDS"] {
        assert!(head.contains(col), "{table}");
    }
    let row = lines.next().unwrap_or_else(|| panic!("{table}"));
    assert!(row.starts_with(&id[..12]), "{table}");
    assert!(row.contains("statty"), "{table}");
    assert!(row.contains(" / 64MiB"), "{table}");
    assert!(row.trim_end().ends_with(" 4"), "pids: {table}");

    let fields = ok(&env.wrun(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemPerc}} {{.NetIO}}",
        "statty",
    ]));
    let parts: Vec<&str> = fields.split(' ').collect();
    assert_eq!(parts[0], "statty");
    // A busy loop: a visible share of a CPU even on a loaded machine.
    let cpu: f64 = parts[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 5.0, "cpu {fields}");
    assert!(parts[2].ends_with('%'), "{fields}");
    assert_eq!(parts[4], "/", "{fields}");

    let json = ok(&env.wrun(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "json",
        "statty",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Name"], "statty");
    assert!(
        v["MemUsage"].as_str().unwrap().ends_with("/ 64MiB"),
        "{json}"
    );

    let out = env.wrun(&["stats", "--no-stream", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such container: nosuch"
    );
    ok(&env.wrun(&["rm", "-f", "statty"]));
}

#[test]
fn cp_both_ways_with_directories_and_modes() {
    let Some(env) = busybox() else { return };
    run_d(
        &env,
        &[
            "--name",
            "box",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /data/sub && echo hi > /data/sub/f && chmod 640 /data/sub/f && \
             ln -s sub/f /data/link && touch /ready && sleep 300",
        ],
    );
    let host = env.root().join("host");
    std::fs::create_dir(&host).unwrap();
    wait_until("the files", Duration::from_secs(5), || {
        env.wrun(&["cp", "box:/ready", host.to_str().unwrap()])
            .status
            .success()
    });

    // A directory out: created under the new name, modes and links kept.
    let out = host.join("out");
    ok(&env.wrun(&["cp", "box:/data", out.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(out.join("sub/f")).unwrap(), "hi\n");
    let mode = std::fs::metadata(out.join("sub/f")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("sub/f")
    );
    // Into an existing directory: under the source's name; `/.` copies
    // the contents.
    ok(&env.wrun(&["cp", "box:/data", out.to_str().unwrap()]));
    assert!(out.join("data/sub/f").exists());
    let flat = host.join("flat");
    std::fs::create_dir(&flat).unwrap();
    ok(&env.wrun(&["cp", "box:/data/.", flat.to_str().unwrap()]));
    assert!(flat.join("sub/f").exists() && !flat.join("data").exists());

    // Files and a directory in.
    let script = host.join("script.sh");
    std::fs::write(&script, "echo from host\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o751)).unwrap();
    ok(&env.wrun(&["cp", script.to_str().unwrap(), "box:/tmp/"]));
    ok(&env.wrun(&["cp", flat.to_str().unwrap(), "box:/copied"]));
    let back = host.join("back");
    std::fs::create_dir(&back).unwrap();
    ok(&env.wrun(&["cp", "box:/tmp/script.sh", back.to_str().unwrap()]));
    let m = std::fs::metadata(back.join("script.sh")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777,
        0o751
    );
    ok(&env.wrun(&["cp", "box:/copied/sub/f", back.join("f").to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(back.join("f")).unwrap(), "hi\n");

    // A tar stream out and in.
    let tar = env.wrun(&["cp", "box:/data", "-"]);
    ok(&tar);
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "data/link", "data/sub", "data/sub/f"]);
    let mut child = env
        .cmd(&["cp", "-", "box:/tmp"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    ok(&env.wrun(&[
        "cp",
        "box:/tmp/data/sub/f",
        back.join("g").to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(back.join("g")).unwrap(), "hi\n");

    // Errors in Docker's words.
    let out = env.wrun(&["cp", "box:/nope", back.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: Could not find the file /nope in container box"
    );
    let out = env.wrun(&["cp", "ghost:/x", back.to_str().unwrap()]);
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such container: ghost"
    );
    assert!(!env.wrun(&["cp", "a:/x", "b:/y"]).status.success());
    assert!(!env.wrun(&["cp", "/a", "/b"]).status.success());

    // A stopped container: its files are still there.
    ok(&env.wrun(&["stop", "-t", "0", "box"]));
    ok(&env.wrun(&[
        "cp",
        "box:/copied/sub/f",
        back.join("stopped").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read_to_string(back.join("stopped")).unwrap(),
        "hi\n"
    );
    ok(&env.wrun(&["cp", script.to_str().unwrap(), "box:/while-stopped"]));
    ok(&env.wrun(&["start", "box"]));
    wait_until("the restarted container", Duration::from_secs(5), || {
        env.wrun(&[
            "cp",
            "box:/while-stopped",
            back.join("ws").to_str().unwrap(),
        ])
        .status
        .success()
    });
    assert_eq!(
        std::fs::read_to_string(back.join("ws")).unwrap(),
        "echo from host\n"
    );
    ok(&env.wrun(&["rm", "-f", "box"]));
    assert!(common::mounts_under(env.root()).is_empty(), "no mount left");
}

#[test]
fn cp_cannot_be_led_out_of_the_container_by_symlinks() {
    let Some(env) = busybox() else { return };
    // Host files that a breakout would read or write.
    let host_dir = tempfile::Builder::new()
        .prefix("wrun-cp-host-")
        .tempdir()
        .unwrap();
    let secret = host_dir.path().join("secret");
    std::fs::write(&secret, "host secret\n").unwrap();
    let rel = secret.strip_prefix("/").unwrap().display().to_string();
    let target_on_host = host_dir.path().join("x");
    let script = format!(
        "echo container shadow > /etc/shadow && ln -s / /hostroot && \
         ln -s /../../../../etc/shadow /escape && \
         ln -s /../../../../../../../{rel} /secretlink && \
         mkdir -p {dir} && touch /ready && sleep 300",
        dir = host_dir.path().display()
    );
    run_d(&env, &["--name", "evil", "busybox", "sh", "-c", &script]);
    let host_shadow = std::fs::read("/etc/shadow").ok();
    let out_dir = env.root().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    wait_until("the links", Duration::from_secs(5), || {
        env.wrun(&["cp", "evil:/ready", out_dir.to_str().unwrap()])
            .status
            .success()
    });

    // Out: the link itself is copied (Docker's default), never the host's
    // file behind it.
    let out = out_dir.join("escape");
    ok(&env.wrun(&["cp", "evil:/escape", out.to_str().unwrap()]));
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&out).unwrap(),
        Path::new("/../../../../etc/shadow")
    );
    // -L follows it the way the container sees it: the container's own
    // /etc/shadow.
    let followed = out_dir.join("followed");
    ok(&env.wrun(&["cp", "-L", "evil:/escape", followed.to_str().unwrap()]));
    let got = std::fs::read(&followed).unwrap();
    assert_eq!(got, b"container shadow\n");
    assert_ne!(Some(got), host_shadow);
    // A link aimed at a host file that exists: inside the container it
    // leads nowhere.
    let out = env.wrun(&[
        "cp",
        "-L",
        "evil:/secretlink",
        out_dir.join("s").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Could not find the file /secretlink in container evil"));
    assert!(!out_dir.join("s").exists());
    // Through an intermediate link too.
    let via = format!("evil:/hostroot{}", secret.display());
    let out = env.wrun(&["cp", &via, out_dir.join("s2").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_dir.join("s2").exists());

    // In: /hostroot is the container's /, so the file lands in the
    // container, and the host's directory of the same path is untouched.
    let src = env.root().join("payload");
    std::fs::write(&src, "payload\n").unwrap();
    let dest = format!("evil:/hostroot{}", target_on_host.display());
    ok(&env.wrun(&["cp", src.to_str().unwrap(), &dest]));
    assert!(!target_on_host.exists(), "written on the host!");
    let inside = format!("evil:{}", target_on_host.display());
    let back = out_dir.join("back");
    ok(&env.wrun(&["cp", &inside, back.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "payload\n");
    // Writing to the escaping link replaces it inside the container; the
    // host's /etc/shadow is not touched.
    ok(&env.wrun(&["cp", src.to_str().unwrap(), "evil:/escape"]));
    assert_eq!(std::fs::read("/etc/shadow").ok(), host_shadow);
    // And a tar stream whose entries try to climb out is refused.
    let mut evil_tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    // set_path refuses "..", so write the name bytes directly.
    let name = b"../../../../../../tmp/wrun-cp-escape";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    evil_tar.append(&h, &b"evil"[..]).unwrap();
    let bytes = evil_tar.into_inner().unwrap();
    let mut child = env
        .cmd(&["cp", "-", "evil:/tmp"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &bytes).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("leaves the destination"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new("/tmp/wrun-cp-escape").exists());

    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret\n");
    ok(&env.wrun(&["rm", "-f", "evil"]));
}

#[test]
fn rename_then_ps_shows_the_new_name() {
    let Some(env) = busybox() else { return };
    let id = run_d(&env, &["--name", "old", "busybox", "sleep", "300"]);
    run_d(&env, &["--name", "taken", "busybox", "sleep", "300"]);
    ok(&env.wrun(&["rename", "old", "new"]));
    let names = ok(&env.wrun(&["ps", "--format", "{{.Names}}"]));
    assert!(names.lines().any(|n| n == "new"), "{names}");
    assert!(!names.lines().any(|n| n == "old"), "{names}");
    assert_eq!(ok(&env.wrun(&["inspect", "-f", "{{.Id}}", "new"])), id);
    // The old name is free again.
    run_d(&env, &["--name", "old", "busybox", "true"]);

    let out = env.wrun(&["rename", "new", "taken"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(
            "Error response from daemon: Error when allocating new name: Conflict. \
             The container name \"/taken\" is already in use"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = env.wrun(&["container", "rename", "new", "bad/name"]);
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: Invalid container name (bad/name), only \
         [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    let out = env.wrun(&["rename", "ghost", "x2"]);
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such container: ghost"
    );
    // Two renames to one name at the same moment: exactly one wins.
    let a = env
        .cmd(&["rename", "new", "contested"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .cmd(&["rename", "taken", "contested"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() != b.status.success(),
        "a: {} b: {}",
        text(&a.stderr),
        text(&b.stderr)
    );
    let loser = if a.status.success() { &b } else { &a };
    assert!(
        text(&loser.stderr).contains("is already in use"),
        "{}",
        text(&loser.stderr)
    );
    let names = ok(&env.wrun(&["ps", "--format", "{{.Names}}"]));
    assert_eq!(
        names.lines().filter(|n| *n == "contested").count(),
        1,
        "{names}"
    );
    ok(&env.wrun(&["rm", "-f", "contested"]));
    for left in ["new", "taken"] {
        let _ = env.wrun(&["rm", "-f", left]);
    }
    let _ = env.wrun(&["rm", "-f", "old"]);
    assert_eq!(ok(&env.wrun(&["ps", "-aq"])), "");
}

#[test]
fn container_prune_removes_only_stopped_ones() {
    let Some(env) = busybox() else { return };
    let running = run_d(&env, &["--name", "keeper", "busybox", "sleep", "300"]);
    sh_exited(&env, "gone1", "echo some bytes > /tmp/f");
    sh_exited(&env, "gone2", "true");
    let gone1 = ok(&env.wrun(&["inspect", "-f", "{{.Id}}", "gone1"]));
    let gone2 = ok(&env.wrun(&["inspect", "-f", "{{.Id}}", "gone2"]));

    // Without -f it asks, and "no" keeps everything.
    let mut child = env
        .cmd(&["container", "prune"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"n\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(text(&out.stdout).starts_with("WARNING! This will remove all stopped containers."));
    assert_eq!(ok(&env.wrun(&["ps", "-aq"])).lines().count(), 3);

    let out = ok(&env.wrun(&["container", "prune", "-f"]));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Deleted Containers:"), "{out}");
    let mut deleted: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    deleted.sort();
    let mut want = vec![gone1.as_str(), gone2.as_str()];
    want.sort();
    assert_eq!(deleted, want);
    let total = lines.next().unwrap();
    assert!(total.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(total, "Total reclaimed space: 0B", "gone1 wrote a file");
    assert_eq!(ok(&env.wrun(&["ps", "-aq", "--no-trunc"])), running);
    assert_eq!(
        ok(&env.wrun(&["container", "prune", "-f"])),
        "Total reclaimed space: 0B"
    );
    // The container group runs the usual commands.
    assert_eq!(
        ok(&env.wrun(&["container", "ls", "-q", "--no-trunc"])),
        running
    );
    ok(&env.wrun(&["container", "rm", "-f", "keeper"]));
    assert_eq!(ok(&env.wrun(&["container", "ps", "-aq"])), "");
}
