//! Interop with the tools users already have: an image saved by wrun loads
//! in `podman load` and `skopeo inspect docker-archive:FILE` reads it; an
//! image saved by `podman save` (docker-archive and oci-archive) loads in
//! wrun with the same config. podman runs with a private storage root, so
//! the machine's own store is never touched. A missing tool skips the test
//! with a reason — except under CI, where it fails.

use std::path::PathBuf;
use std::process::Command;

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed, and CI needs it"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

fn can_run() -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "interop tests need root under CI"
        );
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("wrun-interop-")
            .tempdir()
            .unwrap();
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n",
        )
        .unwrap();
        Env { dir }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn wrun(&self, args: &[&str]) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_wrun"))
            .arg("--root")
            .arg(self.p("wrun-root"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "wrun {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn podman(&self, args: &[&str]) -> String {
        let o = Command::new("podman")
            .env("CONTAINERS_CONF", self.p("containers.conf"))
            .arg("--root")
            .arg(self.p("podman-root"))
            .arg("--runroot")
            .arg(self.p("podman-run"))
            .arg("--storage-driver")
            .arg("vfs")
            .arg("--events-backend")
            .arg("none")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn busybox_tar(&self) -> PathBuf {
        let rootfs = self.p("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh"));
        let out = self.p("busybox.tar");
        let st = Command::new("tar")
            .arg("-cf")
            .arg(&out)
            .arg("-C")
            .arg(&rootfs)
            .arg(".")
            .status();
        assert!(st.unwrap().success());
        out
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn wrun_save_loads_in_podman_and_skopeo() {
    if !can_run() || !have("podman") || !have("skopeo") {
        return;
    }
    let env = Env::new();
    let tar = env.busybox_tar();
    let t = tar.to_str().unwrap();
    env.wrun(&[
        "import",
        "-c",
        r#"CMD ["sh","-c","echo hi"]"#,
        "-c",
        "ENV GREETING=hello",
        t,
        "wbb:1",
    ]);
    let ours = json(&env.wrun(&["image", "inspect", "wbb:1"]));
    let archive = env.p("wbb.tar");
    env.wrun(&["save", "-o", archive.to_str().unwrap(), "wbb:1"]);

    let sk = json(&{
        let o = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("docker-archive:{}", archive.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    });
    assert_eq!(sk["Layers"].as_array().unwrap().len(), 1, "{sk}");
    assert_eq!(sk["Os"], "linux");
    assert!(
        sk["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=hello"),
        "{sk}"
    );

    let out = env.podman(&["load", "-i", archive.to_str().unwrap()]);
    // podman prints the fully qualified name it stored.
    let name = out
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("podman load printed no name: {out}"))
        .trim()
        .to_owned();
    assert_eq!(name, "docker.io/library/wbb:1");
    let theirs = json(&env.podman(&["image", "inspect", &name]));
    assert_eq!(theirs[0]["Config"]["Cmd"], ours[0]["Config"]["Cmd"]);
    assert_eq!(theirs[0]["Config"]["Env"], ours[0]["Config"]["Env"]);
    // podman keeps the image id: the config digest.
    assert_eq!(
        format!("sha256:{}", theirs[0]["Id"].as_str().unwrap()),
        ours[0]["Id"].as_str().unwrap()
    );
}

#[test]
fn podman_save_loads_in_wrun() {
    if !can_run() || !have("podman") {
        return;
    }
    let env = Env::new();
    let tar = env.busybox_tar();
    env.podman(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        "ENV P=1",
        "--change",
        "WORKDIR /tmp",
        tar.to_str().unwrap(),
        "localhost/pbb:2",
    ]);
    let theirs = json(&env.podman(&["image", "inspect", "localhost/pbb:2"]));
    for (format, file) in [
        ("docker-archive", "p-docker.tar"),
        ("oci-archive", "p-oci.tar"),
    ] {
        let archive = env.p(file);
        let a = archive.to_str().unwrap();
        env.podman(&["save", "--format", format, "-o", a, "localhost/pbb:2"]);
        let out = env.wrun(&["load", "-i", a]);
        assert!(out.contains("Loaded image"), "{format}: {out}");
        let ours = json(&env.wrun(&["image", "inspect", "localhost/pbb:2"]));
        assert_eq!(
            ours[0]["Config"]["Cmd"], theirs[0]["Config"]["Cmd"],
            "{format}"
        );
        assert_eq!(
            ours[0]["Config"]["Env"], theirs[0]["Config"]["Env"],
            "{format}"
        );
        assert_eq!(
            ours[0]["Config"]["WorkingDir"], theirs[0]["Config"]["WorkingDir"],
            "{format}"
        );
        assert_eq!(
            ours[0]["Id"].as_str().unwrap(),
            format!("sha256:{}", theirs[0]["Id"].as_str().unwrap()),
            "{format}"
        );
        // The layer unpacked: busybox is there.
        let layers = env.p("wrun-root/images/layers");
        let found = std::fs::read_dir(&layers)
            .unwrap()
            .any(|e| e.unwrap().path().join("bin/busybox").exists());
        assert!(found, "{format}: no unpacked layer has bin/busybox");
        env.wrun(&["rmi", "localhost/pbb:2"]);
    }
}
