//! `podman build` (buildah) and `wrun build` of the same Dockerfile give
//! images with the same config (Env, Cmd, WorkingDir, ExposedPorts) and the
//! same file tree (types, modes, owners, sizes). podman runs with a private
//! storage root, so the machine's own store is never touched; both build
//! with `--network none`. A missing podman skips the test with a reason —
//! except under CI, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ready() -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "interop tests need root under CI"
        );
        eprintln!("skipped: needs root");
        return false;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v podman"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "podman is not installed, and CI needs it"
        );
        eprintln!("skipped: podman is not installed");
    }
    found
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, mut c: Command, what: &str) -> String {
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn wrun(&self, args: &[&str]) -> String {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wrun"));
        c.arg("--root").arg(self.p("wrun-root")).args(args);
        self.run(c, &format!("wrun {args:?}"))
    }

    fn podman(&self, args: &[&str]) -> String {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.p("containers.conf"))
            .arg("--root")
            .arg(self.p("podman-root"))
            .arg("--runroot")
            .arg(self.p("podman-run"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args);
        self.run(c, &format!("podman {args:?}"))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.p("mnt")).output();
        let _ = Command::new("podman")
            .env("CONTAINERS_CONF", self.p("containers.conf"))
            .arg("--root")
            .arg(self.p("podman-root"))
            .arg("--runroot")
            .arg(self.p("podman-run"))
            .args(["--storage-driver", "vfs", "image", "unmount", "--all"])
            .output();
    }
}

/// `type mode uid:gid size path` of every entry under `dir`, sorted; the
/// root itself and `/run` (a mount point buildah leaves behind) left out.
fn tree(dir: &Path) -> Vec<String> {
    let o = Command::new("find")
        .arg(".")
        .args(["-printf", "%y %m %U:%G %s %p\\n"])
        .current_dir(dir)
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with(" .") && !l.ends_with(" ./run"))
        .map(|l| {
            // A directory's size is the filesystem's business.
            if l.starts_with("d ") {
                let f: Vec<&str> = l.splitn(5, ' ').collect();
                format!("d {} {} - {}", f[1], f[2], f[4])
            } else {
                l.to_owned()
            }
        })
        .collect();
    v.sort();
    v
}

fn config(json: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    serde_json::json!({
        "Env": v["Env"],
        "Cmd": v["Cmd"],
        "WorkingDir": v["WorkingDir"],
        "ExposedPorts": v["ExposedPorts"],
        "Entrypoint": v["Entrypoint"],
    })
}

#[test]
fn podman_build_and_wrun_build_agree_on_config_and_files() {
    if !ready() {
        return;
    }
    let env = Env {
        dir: tempfile::Builder::new()
            .prefix("wrun-build-interop-")
            .tempdir()
            .unwrap(),
    };
    std::fs::write(
        env.p("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n",
    )
    .unwrap();
    let ctx = env.p("ctx");
    std::fs::create_dir_all(ctx.join("conf/sub")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nENV APP_ENV=production PATH=/usr/local/bin:/bin\nWORKDIR /app\n\
         COPY app.sh ./\nCOPY conf/ ./conf/\n\
         RUN mkdir -p /data && echo hello > /data/greeting && rm -f /bin/vi\n\
         EXPOSE 5000 8080/udp\nCMD [\"sh\", \"/app/app.sh\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("app.sh"), "echo hi\n").unwrap();
    std::fs::write(ctx.join("conf/a.ini"), "a\n").unwrap();
    std::fs::write(ctx.join("conf/sub/b.ini"), "b\n").unwrap();
    std::fs::set_permissions(
        ctx.join("conf/a.ini"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // The same busybox rootfs as each tool's base image.
    let dir = std::env::var("WRUN_TEST_IMAGES").unwrap_or_else(|_| "/var/cache/wrun".into());
    let tar = Path::new(&dir).join("busybox.tar");
    let tar = if tar.exists() {
        tar
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing",
            tar.display()
        );
        eprintln!(
            "skipped: {} is missing (scripts/make-base-images.sh)",
            tar.display()
        );
        return;
    };
    let tar = tar.to_str().unwrap();
    env.wrun(&["import", "--change", "CMD [\"sh\"]", tar, "busybox:latest"]);
    env.podman(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        tar,
        "localhost/busybox:latest",
    ]);

    let ctx = ctx.to_str().unwrap();
    env.wrun(&["build", "-q", "--network", "none", "-t", "built", ctx]);
    env.podman(&[
        "build",
        "-q",
        "--runtime",
        "runc",
        "--network",
        "none",
        "-t",
        "built",
        ctx,
    ]);

    let w = config(&env.wrun(&["image", "inspect", "built", "--format", "{{json .Config}}"]));
    let p = config(&env.podman(&["image", "inspect", "built", "--format", "{{json .Config}}"]));
    assert_eq!(w, p, "configs differ");

    let podman_dir = env.podman(&["image", "mount", "built"]);
    let podman_tree = tree(Path::new(podman_dir.trim()));
    let lower = env.wrun(&[
        "image",
        "inspect",
        "built",
        "--format",
        "{{.GraphDriver.Data.LowerDir}}",
    ]);
    let mnt = env.p("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mut m = Command::new("mount");
    m.args(["-t", "overlay", "-o"])
        .arg(format!("ro,lowerdir={}", lower.trim()))
        .arg("overlay")
        .arg(&mnt);
    env.run(m, "mount the wrun image");
    let wrun_tree = tree(&mnt);
    let mut u = Command::new("umount");
    u.arg(&mnt);
    env.run(u, "umount");
    assert!(wrun_tree.iter().any(|l| l.ends_with(" ./data/greeting")));
    assert!(!wrun_tree.iter().any(|l| l.ends_with(" ./bin/vi")));
    let only_podman: Vec<&String> = podman_tree
        .iter()
        .filter(|l| !wrun_tree.contains(l))
        .collect();
    let only_wrun: Vec<&String> = wrun_tree
        .iter()
        .filter(|l| !podman_tree.contains(l))
        .collect();
    assert!(
        only_podman.is_empty() && only_wrun.is_empty(),
        "file trees differ\nonly in podman's: {only_podman:#?}\nonly in wrun's: {only_wrun:#?}"
    );
}
