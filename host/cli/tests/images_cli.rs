//! End-to-end tests of the image commands, driving the built `wrun` binary
//! the way a user does, each with a private state root. Runs as root
//! (unpacking keeps ownership); skipped with a reason otherwise, except
//! under CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn can_run() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "image tests need root, and CI must run them"
    );
    eprintln!("skipped: needs root (layers are unpacked with their owners)");
    false
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::Builder::new()
                .prefix("wrun-images-")
                .tempdir()
                .unwrap(),
        }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn wrun(&self, args: &[&str]) -> Output {
        self.wrun_stdin(args, None)
    }
    fn wrun_stdin(&self, args: &[&str], stdin: Option<&Path>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wrun"));
        c.arg("--root").arg(self.root()).args(args);
        c.stdin(match stdin {
            Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
            None => Stdio::null(),
        });
        c.output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.wrun(args);
        assert!(
            o.status.success(),
            "wrun {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    /// A busybox rootfs tarball (from Debian's busybox-static).
    fn busybox_tar(&self, gz: bool) -> PathBuf {
        let rootfs = self.dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh"));
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        let out = self
            .dir
            .path()
            .join(if gz { "busybox.tar.gz" } else { "busybox.tar" });
        let flag = if gz { "-czf" } else { "-cf" };
        let st = Command::new("tar")
            .arg(flag)
            .arg(&out)
            .arg("-C")
            .arg(&rootfs)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        out
    }
}

#[test]
fn import_list_tag_history_inspect_rmi() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let tar = env.busybox_tar(true);
    let id = env.ok(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "-c",
        "ENV A=1",
        "-m",
        "from the test",
        tar.to_str().unwrap(),
        "busybox",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let short = &id[7..19];

    let table = env.ok(&["images"]);
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{head}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("busybox      latest    "), "{row}");
    assert!(row.contains(short) && row.contains("ago"), "{row}");
    assert_eq!(env.ok(&["images", "-q"]).trim(), short);
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    let j: serde_json::Value =
        serde_json::from_str(env.ok(&["images", "--format", "json"]).trim()).unwrap();
    assert_eq!(j["Repository"], "busybox");
    assert_eq!(j["Tag"], "latest");
    assert_eq!(
        env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
            .trim(),
        format!("busybox:latest {short}")
    );

    env.ok(&["tag", "busybox", "localhost:5000/me/bb:v1"]);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    assert!(
        env.ok(&["image", "ls", "localhost:5000/me/bb"])
            .contains("localhost:5000/me/bb   v1")
    );

    let hist = env.ok(&["history", "busybox"]);
    assert!(hist.starts_with("IMAGE          CREATED"), "{hist}");
    assert!(
        hist.contains("from the test") && hist.contains(short),
        "{hist}"
    );

    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(v[0]["Config"]["Env"][0], "A=1");
    assert_eq!(v[0]["RepoTags"].as_array().unwrap().len(), 2);
    assert_eq!(
        env.ok(&["image", "inspect", "-f", "{{.Os}}", short]).trim(),
        "linux"
    );

    // Several repositories: by id needs -f.
    let o = env.wrun(&["rmi", short]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("must be forced"));
    assert_eq!(
        env.ok(&["rmi", "localhost:5000/me/bb:v1"]).trim(),
        "Untagged: localhost:5000/me/bb:v1"
    );
    let out = env.ok(&["rmi", "busybox"]);
    assert_eq!(out, format!("Untagged: busybox:latest\nDeleted: {id}\n"));
    assert_eq!(env.ok(&["images", "-q"]), "");
    // Nothing is left behind in the store.
    let layers = std::fs::read_dir(env.root().join("images/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 0);
}

#[test]
fn unknown_images_and_bad_tarballs() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    for args in [
        &["rmi", "nosuch"][..],
        &["history", "nosuch"],
        &["tag", "nosuch", "x"],
        &["save", "-o", "/tmp/never-written.tar", "nosuch"],
    ] {
        let o = env.wrun(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("No such image: nosuch:latest"),
            "{args:?}: {err}"
        );
    }
    assert!(!Path::new("/tmp/never-written.tar").exists());
    let o = env.wrun(&["image", "inspect", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: No such image: nosuch"));

    let good = env.busybox_tar(false);
    env.ok(&["import", good.to_str().unwrap(), "keep"]);
    let before = env.ok(&["images", "-q"]);
    let data = std::fs::read(&good).unwrap();
    let cut = env.dir.path().join("cut.tar");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    for cmd in [
        &["import", cut.to_str().unwrap(), "broken"][..],
        &["load", "-i", cut.to_str().unwrap()],
    ] {
        let o = env.wrun(cmd);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("cut.tar"),
            "{cmd:?}: error does not name the file: {err}"
        );
        assert_eq!(env.ok(&["images", "-q"]), before);
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.root().join("images/layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn save_load_prune_via_cli() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let tar = env.busybox_tar(false);
    let id = env.ok(&[
        "import",
        "-c",
        "WORKDIR /srv",
        tar.to_str().unwrap(),
        "bb:1",
    ]);
    let archive = env.dir.path().join("bb.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "bb:1"]);
    // To standard output: the same bytes (save is reproducible).
    let piped = env.dir.path().join("piped.tar");
    let o = Command::new(env!("CARGO_BIN_EXE_wrun"))
        .arg("--root")
        .arg(env.root())
        .args(["save", "bb:1"])
        .stdout(std::fs::File::create(&piped).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&piped).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    env.ok(&["rmi", "bb:1"]);
    assert_eq!(
        env.ok(&["load", "-i", archive.to_str().unwrap()]),
        "Loaded image: bb:1\n"
    );
    // From standard input too.
    env.ok(&["rmi", "bb:1"]);
    let o = env.wrun_stdin(&["load"], Some(&archive));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]).trim(), id.trim());
    // Re-import under the same name leaves a dangling image; prune removes it.
    env.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
    let listing = env.ok(&["images"]);
    assert!(listing.contains("<none>"), "{listing}");
    let out = env.ok(&["image", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\ndeleted: sha256:"),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(!env.ok(&["images"]).contains("<none>"));
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: bb:1"), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
}
