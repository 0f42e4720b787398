//! Shared helpers for the end-to-end tests: a private state root per test,
//! a busybox image made from Debian's busybox-static, and a way to run the
//! built `wrun` binary as a user would.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// True when the test may run: as root. Without root the test is skipped
/// with a reason, except under CI, where a skip would hide a failure.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("this test needs root, and CI must run it");
    }
    eprintln!("skipped: needs root (containers need CAP_SYS_ADMIN)");
    false
}

pub fn wrun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wrun"))
}

/// A private state root, removed (with anything under it) on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Drop for Env {
    /// Even when a test panics: every container of the root is removed
    /// (its monitor, ports, veths and cgroup with it) and every network,
    /// before the directory goes.
    fn drop(&mut self) {
        let ids = self.wrun(&["ps", "-a", "-q", "--no-trunc"]);
        let ids: Vec<String> = text(&ids.stdout).lines().map(str::to_string).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.wrun(&args);
        }
        let nets = self.wrun(&["network", "ls", "-q"]);
        for net in text(&nets.stdout).lines() {
            let _ = self.wrun(&["network", "rm", net]);
        }
        // The default network's bridge and rules stay between containers.
        let _ = self.wrun(&["network", "teardown-default"]);
    }
}

impl Env {
    pub fn new() -> Self {
        let shim = wrun_bin().with_file_name("wrun-shim");
        assert!(
            shim.exists() || std::env::var_os("WRUN_SHIM").is_some(),
            "{} is missing: build it first (cargo build -p wrun-shim)",
            shim.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("wrun-e2e-")
            .tempdir()
            .unwrap();
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(wrun_bin());
        c.arg("--root").arg(self.root()).args(args);
        // A missing image must never send the test to Docker Hub.
        c.env("WRUN_OFFLINE", "1");
        c.stdin(Stdio::null());
        c
    }

    /// Runs `wrun --root ROOT ARGS…` to completion.
    pub fn wrun(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("wrun runs")
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub fn with_busybox(self) -> Self {
        let tar = busybox_tar(self.root());
        let out = self.wrun(&[
            "import",
            "--change",
            r#"CMD ["sh"]"#,
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
        assert!(out.status.success(), "import failed: {}", text(&out.stderr));
        std::fs::remove_file(tar).unwrap();
        self
    }
}

impl Env {
    /// Imports a base image made by `scripts/make-base-images.sh` from
    /// `WRUN_TEST_IMAGES` (default `/var/cache/wrun`): `NAME.tar` with its
    /// `NAME.changes`. Returns `None` (the caller skips, saying why) when the
    /// tarball is missing outside CI; under CI a missing image fails.
    pub fn with_cached_image(self, file: &str, reference: &str) -> Option<Self> {
        let dir = std::env::var("WRUN_TEST_IMAGES").unwrap_or_else(|_| "/var/cache/wrun".into());
        let tar = Path::new(&dir).join(format!("{file}.tar"));
        if !tar.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: scripts/make-base-images.sh makes it",
                tar.display()
            );
            eprintln!(
                "skipped: {} is missing (scripts/make-base-images.sh)",
                tar.display()
            );
            return None;
        }
        let changes = std::fs::read_to_string(Path::new(&dir).join(format!("{file}.changes")))
            .unwrap_or_default();
        let mut args = vec!["import".to_string()];
        for line in changes.lines().filter(|l| !l.trim().is_empty()) {
            args.push("--change".into());
            args.push(line.to_string());
        }
        args.push(tar.display().to_string());
        args.push(reference.to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.wrun(&argv);
        assert!(out.status.success(), "import failed: {}", text(&out.stderr));
        Some(self)
    }
}

/// A state root with the busybox image, or `None` when the test must skip
/// (not root, outside CI).
pub fn busybox() -> Option<Env> {
    require_root().then(|| Env::new().with_busybox())
}

/// Runs `wrun run -d ARGS…` and returns the full id it prints.
pub fn run_d(env: &Env, args: &[&str]) -> String {
    let mut full = vec!["run", "-d"];
    full.extend_from_slice(args);
    let id = ok(&env.wrun(&full));
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    id
}

/// Polls `check` every 20 ms until it holds; fails after `limit`.
pub fn wait_until(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `wrun inspect -f FORMAT WHAT`, trimmed.
pub fn inspect(env: &Env, what: &str, format: &str) -> String {
    ok(&env.wrun(&["inspect", "-f", format, what]))
}

/// `wrun audit --format json NAME`, a record a line.
pub fn audit_json(env: &Env, name: &str) -> Vec<serde_json::Value> {
    let out = ok(&env.wrun(&["audit", "--format", "json", name]));
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stdout of a successful run, trimmed; panics with stderr otherwise.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// A rootfs tarball: /bin/busybox with a symlink per applet, the usual
/// top-level dirs, and passwd/group with root, nobody and an `app` user.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let path = dir.join("busybox-rootfs.tar");
    let file = std::fs::File::create(&path).unwrap();
    let mut b = tar::Builder::new(file);
    let dir_entry = |b: &mut tar::Builder<std::fs::File>, name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for d in [
        "bin", "etc", "proc", "sys", "dev", "root", "home", "home/app", "var", "mnt",
    ] {
        dir_entry(&mut b, d, 0o755);
    }
    dir_entry(&mut b, "tmp", 0o1777);
    b.append_path_with_name("/bin/busybox", "bin/busybox")
        .unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in text(&list.stdout).lines().filter(|a| *a != "busybox") {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let files: [(&str, &str); 2] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        (
            "etc/group",
            "root:x:0:\nwheel:x:10:root\napp:x:1000:\naudio:x:29:app\nnogroup:x:65534:\n",
        ),
    ];
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, content.as_bytes()).unwrap();
    }
    b.finish().unwrap();
    path
}

/// Lines of /proc/mounts naming `path`: what a test must not leave behind.
pub fn mounts_under(path: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(path.to_str().unwrap()))
        .map(str::to_string)
        .collect()
}

/// Cgroup directories whose name starts with `prefix`, in every hierarchy.
pub fn cgroups_named(prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(e.path());
            }
            stack.push(e.path());
        }
    }
    found
}

/// The key of an image built from a context directory on the cached
/// `debian-bookworm-slim` base: the first 16 hex digits of the SHA-256 of
/// `<sha256>  ./<path>` lines (every regular file, paths in byte order) and
/// `base <name of the base tarball>`. `scripts/make-lecture-images.sh`
/// computes the same key, so the two share the cached tarballs.
pub fn built_image_key(context: &Path, base_tar: &Path) -> String {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = format!("{rel}/{}", e.file_name().to_string_lossy());
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&e.path(), &name, out);
            } else if ft.is_file() {
                out.push((name, e.path()));
            }
        }
    }
    let mut files = Vec::new();
    walk(context, ".", &mut files);
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut listing = String::new();
    for (name, path) in &files {
        let digest = Sha256::digest(std::fs::read(path).unwrap());
        listing.push_str(&format!("{}  {name}\n", hex::encode(digest)));
    }
    let base = std::fs::canonicalize(base_tar).unwrap_or_else(|_| base_tar.to_path_buf());
    let base = base.file_name().unwrap().to_string_lossy().into_owned();
    listing.push_str(&format!("base {base}\n"));
    hex::encode(Sha256::digest(listing.as_bytes()))[..16].to_owned()
}

impl Env {
    /// Gives this state root the image built from `context` (a Dockerfile
    /// `FROM debian:bookworm-slim`, e.g. the lecture's `postgres:15` and
    /// `redis:7`) as `reference`. A build installs packages with apt, so the
    /// image is kept, `wrun save`d, in `WRUN_TEST_IMAGES` as
    /// `built-KEY.tar` ([`built_image_key`]) and loaded from there next
    /// time. `None` (skip) when the base tarball is missing outside CI.
    pub fn with_built_image(self, context: &Path, reference: &str) -> Option<Self> {
        let dir = std::env::var("WRUN_TEST_IMAGES").unwrap_or_else(|_| "/var/cache/wrun".into());
        let dir = Path::new(&dir);
        let key = built_image_key(context, &dir.join("debian-bookworm-slim.tar"));
        let cached = dir.join(format!("built-{key}.tar"));
        let env = if cached.exists() {
            self
        } else {
            let env = self.with_cached_image("debian-bookworm-slim", "debian:bookworm-slim")?;
            ok(&env.wrun(&["build", "-q", "-t", reference, context.to_str().unwrap()]));
            // Written beside its final name and renamed: a concurrent test
            // never loads half a tarball.
            let tmp = dir.join(format!(".built-{key}.{}.tar", std::process::id()));
            ok(&env.wrun(&["save", "-o", tmp.to_str().unwrap(), reference]));
            std::fs::rename(&tmp, &cached).unwrap();
            return Some(env);
        };
        let loaded = ok(&env.wrun(&["load", "-i", cached.to_str().unwrap()]));
        let name = loaded
            .lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("no image name in {loaded}"))
            .to_owned();
        if name != reference {
            ok(&env.wrun(&["tag", &name, reference]));
        }
        Some(env)
    }
}
