//! The shim as root, for real: a busybox rootfs on overlay, a Docker-like
//! `config.json`, and `unshare --pid --fork` standing in for the runtime
//! (the shim must be PID 1 of a new PID namespace). Each test has its own
//! temporary bundle; every mount lives only in the shim's mount namespace,
//! so it vanishes with the shim.
//!
//! Without root these tests skip with a reason, unless `CI` is set: then
//! they fail.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use oci_spec::runtime::Capability;
use serde_json::{Value, json};

const SHIM: &str = env!("CARGO_BIN_EXE_wrun-shim");
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// True if we may run; false (with the reason printed) to skip.
fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("these tests need root, and CI is set: a skip would hide failures");
    }
    eprintln!("skipping: the shim tests need root (mounts, namespaces, pivot_root)");
    false
}

/// A bundle: busybox lower dir, overlay upper/work, root mountpoint.
struct Bundle {
    dir: tempfile::TempDir,
    config: Value,
}

impl Bundle {
    fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("wrun-shim-test")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let lower = d.join("lower");
        for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "mnt"] {
            std::fs::create_dir_all(lower.join(sub)).unwrap();
        }
        std::fs::copy("/bin/busybox", lower.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                symlink("busybox", lower.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(
            lower.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            lower.join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
        )
        .unwrap();
        for sub in ["upper", "work", "root"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let caps: Vec<Capability> = DOCKER_CAPS
            .iter()
            .map(|c| serde_json::from_value(json!(c)).unwrap())
            .collect();
        let seccomp = serde_json::to_value(wrun_sys::seccomp::docker_default(&caps)).unwrap();
        let p = |s: &str| d.join(s).display().to_string();
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=testhost"],
                "cwd": "/",
                "capabilities": {
                    "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS,
                    "inheritable": [], "ambient": []
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "root", "readonly": false},
            "hostname": "testhost",
            "mounts": [
                {"destination": "/", "type": "overlay", "source": "overlay",
                 "options": [format!("lowerdir={}", p("lower")), format!("upperdir={}", p("upper")), format!("workdir={}", p("work"))]},
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}],
                "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                    "/sys/devices/virtual/powercap"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
                "seccomp": seccomp
            }
        });
        Bundle { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Start the shim as PID 1 of a new PID namespace.
    fn spawn(&self, extra_fd: Option<(&str, &OwnedFd)>) -> Running {
        self.write();
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        inheritable(&w);
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child", SHIM])
            .arg(self.path())
            .env("WRUN_STATUS_FD", w.as_raw_fd().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((var, fd)) = extra_fd {
            inheritable(fd);
            cmd.env(var, fd.as_raw_fd().to_string());
        }
        let child = cmd.spawn().unwrap();
        drop(w);
        Running { child, status: r }
    }

    /// Run to the end: (exit code, stdout, stderr, status lines).
    fn run(&self) -> Outcome {
        self.spawn(None).finish()
    }
}

fn inheritable(fd: &OwnedFd) {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
}

struct Running {
    child: Child,
    status: OwnedFd,
}

#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    status: Vec<Value>,
}

impl Running {
    fn finish(mut self) -> Outcome {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let st = self.child.wait().unwrap();
        let mut text = String::new();
        std::fs::File::from(self.status)
            .read_to_string(&mut text)
            .unwrap();
        let status = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        Outcome {
            code: st.code().unwrap_or(-1),
            stdout,
            stderr,
            status,
        }
    }

    /// The shim's host pid (the only child of `unshare`).
    fn shim_pid(&self) -> i32 {
        let id = self.child.id();
        for _ in 0..200 {
            let s = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                .unwrap_or_default();
            if let Some(p) = s.split_whitespace().next() {
                return p.parse().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no shim under unshare {id}");
    }
}

fn sh(script: &str) -> Bundle {
    Bundle::new(&["sh", "-c", script])
}

#[test]
fn pid1_hostname_caps_nnp_seccomp() {
    if !require_root() {
        return;
    }
    let o = sh("echo pid=$$ ppid=$PPID; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp|SigIgn|SigBlk):' /proc/self/status; \
                cat /proc/1/comm; env | sort")
    .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.status,
        vec![json!({"type": "started", "pid": 2})],
        "{o:?}"
    );
    let out = &o.stdout;
    assert!(out.contains("pid=2 ppid=1\n"), "{out}");
    assert!(out.contains("\ntesthost\n"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb\n"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1\n"), "{out}");
    assert!(out.contains("Seccomp:\t2\n"), "{out}");
    // No signal ignored or blocked by the shim leaks into the workload.
    assert!(out.contains("SigIgn:\t0000000000000000\n"), "{out}");
    assert!(out.contains("SigBlk:\t0000000000000000\n"), "{out}");
    assert!(out.contains("wrun-shim\n"), "{out}");
    // The environment is exactly process.env (+ HOME from passwd).
    assert!(!out.contains("WRUN_"), "{out}");
    assert!(
        out.contains("HOME=/root\n") && out.contains("HOSTNAME=testhost\n"),
        "{out}"
    );
}

#[test]
fn privileged_calls_fail_with_eperm() {
    if !require_root() {
        return;
    }
    let o = sh(
        "mount -t tmpfs x /mnt; echo rc=$?; unshare -n true; echo rc=$?; \
                echo 1 > /proc/sys/kernel/printk 2>/dev/null; echo sys=$?",
    )
    .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "rc=1\nrc=1\nsys=1\n", "{o:?}");
    // busybox words EPERM from mount(2) this way.
    assert!(o.stderr.contains("mount: permission denied"), "{o:?}");
    assert!(
        o.stderr
            .contains("unshare(0x40000000): Operation not permitted"),
        "{o:?}"
    );
    assert!(
        o.stderr
            .contains("/proc/sys/kernel/printk: Read-only file system"),
        "{o:?}"
    );
}

#[test]
fn exit_codes_and_exec_errors() {
    if !require_root() {
        return;
    }
    for (args, code, msg) in [
        (&["true"][..], 0, None),
        (&["false"][..], 1, None),
        (&["sh", "-c", "exit 42"][..], 42, None),
        (&["sh", "-c", "kill -9 $$"][..], 137, None),
        (
            &["/etc/passwd"][..],
            126,
            Some("exec: \"/etc/passwd\": permission denied"),
        ),
        (
            &["/etc"][..],
            126,
            Some("exec: \"/etc\": permission denied"),
        ),
        (
            &["nosuch"][..],
            127,
            Some("exec: \"nosuch\": executable file not found in $PATH"),
        ),
        (
            &["/nosuch"][..],
            127,
            Some("exec: \"/nosuch\": stat /nosuch: no such file or directory"),
        ),
    ] {
        let o = Bundle::new(args).run();
        assert_eq!(o.code, code, "{args:?}: {o:?}");
        if let Some(m) = msg {
            assert_eq!(
                o.status,
                vec![json!({"type": "error", "code": code, "message": m})],
                "{o:?}"
            );
        } else {
            assert_eq!(o.status[0]["type"], "started", "{o:?}");
        }
    }
}

#[test]
fn setup_failure_is_125_with_the_step() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.config["mounts"][0]["options"][0] = json!("lowerdir=/nonexistent/lower");
    let o = b.run();
    assert_eq!(o.code, 125, "{o:?}");
    let msg = o.status[0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("mount overlay on ") && msg.ends_with(": no such file or directory"),
        "{msg}"
    );
}

#[test]
fn a_mount_namespace_is_required() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "uts"}]);
    let o = b.run();
    assert_eq!(o.code, 125, "{o:?}");
    assert_eq!(
        o.status[0]["message"],
        "invalid spec: linux.namespaces must include a new mount namespace"
    );
}

#[test]
fn notify_rules_hand_the_listener_over() {
    if !require_root() {
        return;
    }
    // A NOTIFY rule first (the first matching rule wins), then Docker's.
    let mut b = sh("mkdir /tmp/x; echo rc=$?");
    b.config["linux"]["seccomp"]["syscalls"]
        .as_array_mut()
        .unwrap()
        .insert(
            0,
            json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}),
        );
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs = OwnedFd::from(theirs);
    let r = b.spawn(Some(("WRUN_SECCOMP_FD", &theirs)));
    drop(theirs);
    let mut buf = [0u8; 16];
    let (n, listener) = wrun_sys::fd::recv_fd(&ours, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"seccomp");
    // No supervisor: closing the listener fails the trapped call (ENOSYS).
    drop(listener.expect("a listener fd"));
    let o = r.finish();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "rc=1\n", "{o:?}");
    assert!(o.stderr.contains("Function not implemented"), "{o:?}");
}

#[test]
fn signals_are_forwarded() {
    if !require_root() {
        return;
    }
    let b = sh(
        "trap 'echo got USR1' USR1; trap 'echo got RT; ' 36; trap 'echo got TERM; exit 3' TERM; \
                echo ready; while true; do sleep 0.02; done",
    );
    let mut r = b.spawn(None);
    let pid = r.shim_pid();
    let mut out = BufReader::new(r.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    line.clear();
    out.read_to_string(&mut line).unwrap();
    let st = r.child.wait().unwrap();
    assert_eq!(line, "got TERM\n");
    assert_eq!(st.code(), Some(3));
}

#[test]
fn orphans_are_reaped() {
    if !require_root() {
        return;
    }
    // The subshell exits at once; its sleep is re-parented to PID 1 and
    // ends after 50 ms. Without reaping it would stay a zombie.
    let o = sh("(sleep 0.05 &); sleep 0.4; cat /proc/[0-9]*/stat").run();
    assert_eq!(o.code, 0, "{o:?}");
    let states: Vec<&str> = o
        .stdout
        .lines()
        .filter_map(|l| l.rsplit(") ").next()?.split(' ').next())
        .collect();
    assert!(!states.is_empty());
    assert!(!states.contains(&"Z"), "zombies left: {}", o.stdout);
}

#[test]
fn users_resolve_in_the_image() {
    if !require_root() {
        return;
    }
    for (user, want) in [
        // `id -G` lists the primary group first.
        ("app", "1000 1000 1000 50 /home/app /\n"),
        ("app:staff", "1000 50 50 /home/app /\n"),
        ("4242:4343", "4242 4343 4343 / /\n"),
        ("", "0 0 0 /root /\n"),
    ] {
        let mut b = sh("echo $(id -u) $(id -g) $(id -G) $HOME $(pwd)");
        b.config["annotations"] = json!({"run.wrun.user": user});
        let o = b.run();
        assert_eq!(o.code, 0, "{user}: {o:?}");
        assert_eq!(o.stdout, want, "{user}");
    }
    let mut b = sh("true");
    b.config["annotations"] = json!({"run.wrun.user": "nosuch"});
    let o = b.run();
    assert_eq!(o.code, 125);
    assert_eq!(
        o.status[0]["message"],
        "unable to find user nosuch: no matching entries in passwd file"
    );
}

#[test]
fn read_only_root_masks_and_cwd() {
    if !require_root() {
        return;
    }
    let mut b = sh(
        "pwd; touch /x 2>&1; echo rc=$?; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
                    grep -c ' /proc/sys ro,' /proc/self/mountinfo; ls -l /dev/null /dev/ptmx /dev/fd | cut -c1",
    );
    b.config["root"]["readonly"] = json!(true);
    b.config["process"]["cwd"] = json!("/work/dir");
    // On a read-only root the cwd must exist already (Docker makes it at
    // create time, before the root turns read-only).
    std::fs::create_dir_all(b.path().join("lower/work/dir")).unwrap();
    let o = b.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout, "/work/dir\ntouch: /x: Read-only file system\nrc=1\n0\n0\n1\nl\nc\nl\n",
        "{o:?}"
    );
}

#[test]
fn cgroups_are_visible_read_only() {
    if !require_root() {
        return;
    }
    let o = sh("ls /sys/fs/cgroup | wc -l; cat /proc/self/cgroup | cut -d: -f3 | sort -u; \
                mkdir /sys/fs/cgroup/x 2>&1; grep -c ' /sys/fs/cgroup[^ ]* ro,' /proc/self/mountinfo")
    .run();
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].parse::<u32>().unwrap() >= 1, "{o:?}");
    // The cgroup namespace makes the shim's cgroup the root.
    assert_eq!(lines[1], "/", "{o:?}");
    assert!(o.stdout.contains("Read-only file system"), "{o:?}");
    assert!(lines.last().unwrap().parse::<u32>().unwrap() >= 1, "{o:?}");
}

#[test]
fn devices_sysctls_tmpfs_and_volumes() {
    if !require_root() {
        return;
    }
    let mut b = sh(
        "stat -c '%A %u %g %t %T' /dev/fuse; cat /proc/sys/net/ipv4/ip_forward; \
                    grep ' /run ' /proc/self/mountinfo | cut -d' ' -f6; stat -c %a /run; \
                    cat /data/file; touch /data/new 2>&1; echo rw > /rw/out; \
                    ip -o addr show lo | grep -c 127.0.0.1",
    );
    let d = b.path().to_path_buf();
    std::fs::create_dir(d.join("vol")).unwrap();
    std::fs::write(d.join("vol/file"), "volume\n").unwrap();
    std::fs::create_dir(d.join("rwvol")).unwrap();
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 1000, "gid": 5}
    ]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "mode=1700", "size=1m"]}),
    );
    mounts.push(json!({"destination": "/data", "type": "bind", "source": d.join("vol"), "options": ["rbind", "ro"]}));
    mounts.push(json!({"destination": "/rw", "source": d.join("rwvol"), "options": ["bind"]}));
    let o = b.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        "crw-rw-rw- 1000 5 a e5\n1\nrw,nosuid,nodev,noexec,relatime\n1700\nvolume\n\
         touch: /data/new: Read-only file system\n1\n",
        "{o:?}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("rwvol/out")).unwrap(),
        "rw\n"
    );
    assert!(!d.join("vol/new").exists());
}

#[test]
fn overlay_with_options_longer_than_a_page() {
    if !require_root() {
        return;
    }
    let mut b = sh("cat /layer-39 /layer-0; ls /bin/busybox");
    let d = b.path().to_path_buf();
    // 40 extra layers in a directory with a long name: the options exceed
    // a page, but not once relative to that directory.
    let long = d.join("l".repeat(200));
    let mut lowers = Vec::new();
    for i in 0..40 {
        let l = long.join(format!("{i:02}"));
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join(format!("layer-{i}")), format!("{i}\n")).unwrap();
        lowers.push(l.display().to_string());
    }
    symlink(d.join("lower"), long.join("base")).unwrap();
    lowers.push(long.join("base").display().to_string());
    for sub in ["upper", "work"] {
        std::fs::create_dir(long.join(sub)).unwrap();
    }
    let opts = json!([
        format!("lowerdir={}", lowers.join(":")),
        format!("upperdir={}", long.join("upper").display()),
        format!("workdir={}", long.join("work").display()),
    ]);
    assert!(opts.to_string().len() > 4096);
    b.config["mounts"][0]["options"] = opts;
    let o = b.run();
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "39\n0\n/bin/busybox\n"),
        "{o:?}"
    );
}

#[test]
fn missing_cwd_is_created() {
    if !require_root() {
        return;
    }
    let mut b = sh("pwd; stat -c %a /new/work; umask");
    b.config["process"]["cwd"] = json!("/new/work");
    let o = b.run();
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "/new/work\n755\n0022\n"),
        "{o:?}"
    );
}

#[test]
fn bind_through_hostile_symlink_stays_inside() {
    if !require_root() {
        return;
    }
    let b0 = sh("cat /etc/hosts /etc/resolv.conf");
    let d = b0.path().to_path_buf();
    // A relative link climbing out, and a directory that does not exist.
    symlink(
        "../../../../../../../outside/dir/resolv",
        d.join("lower/etc/resolv.conf"),
    )
    .unwrap();
    let host_target = d.join("host-file");
    std::fs::write(&host_target, "HOST\n").unwrap();
    std::fs::write(d.join("bind-src"), "BIND\n").unwrap();
    symlink(
        format!("/../../../../../..{}", host_target.display()),
        d.join("lower/etc/hosts"),
    )
    .unwrap();
    let mut b = b0;
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/etc/hosts", "type": "bind", "source": d.join("bind-src"), "options": ["rbind", "ro"]
    }));
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/etc/resolv.conf", "type": "bind", "source": d.join("bind-src"), "options": ["bind"]
    }));
    let o = b.run();
    assert_eq!((o.code, o.stdout.as_str()), (0, "BIND\nBIND\n"), "{o:?}");
    assert!(d.join("upper/outside/dir/resolv").exists());
    assert!(!Path::new("/outside").exists());
    assert_eq!(std::fs::read_to_string(&host_target).unwrap(), "HOST\n");
    // The destination was created inside the root (in the overlay's upper dir).
    let inside: PathBuf = d.join("upper").join(host_target.strip_prefix("/").unwrap());
    assert!(inside.exists(), "{} missing", inside.display());
}

#[test]
fn terminal_gets_a_pty_from_the_container_devpts() {
    if !require_root() {
        return;
    }
    let mut b =
        sh("tty; stty size; stat -c %t:%T /dev/console /dev/pts/0; cat /proc/self/oom_score_adj");
    b.config["process"]["oomScoreAdj"] = json!(300);
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 77});
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs = OwnedFd::from(theirs);
    let r = b.spawn(Some(("WRUN_CONSOLE_FD", &theirs)));
    drop(theirs);
    let mut buf = [0u8; 16];
    let (_, master) = wrun_sys::fd::recv_fd(&ours, &mut buf).unwrap();
    let master = master.expect("a pty master");
    let mut m = std::fs::File::from(master);
    let o = r.finish();
    let mut out = Vec::new();
    // EIO once the slave side is gone ends the read.
    let _ = m.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("33 77\r\n"), "{out:?}");
    // /dev/console is the same pty (major 136), and oomScoreAdj applied.
    assert!(out.contains("88:0\r\n88:0\r\n300\r\n"), "{out:?}");
}

#[test]
fn start_to_exit_time() {
    if !require_root() {
        return;
    }
    // A measurement, not an assertion (STYLE.md: benchmarks measure).
    let b = Bundle::new(&["true"]);
    b.write();
    let mut shim = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let st = Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", SHIM])
            .arg(b.path())
            .status()
            .unwrap();
        shim.push(t.elapsed());
        assert!(st.success());
        let t = Instant::now();
        Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "true"])
            .status()
            .unwrap();
        bare.push(t.elapsed());
    }
    shim.sort();
    bare.sort();
    eprintln!(
        "start to exit of `true`: shim via unshare median {:?}, bare `unshare --pid --fork true` median {:?}",
        shim[shim.len() / 2],
        bare[bare.len() / 2]
    );
    // For profiling by hand (strace, perf): keep the bundle.
    if std::env::var_os("WRUN_SHIM_KEEP_BUNDLE").is_some() {
        eprintln!("bundle kept at {}", b.dir.keep().display());
    }
}
