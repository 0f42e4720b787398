//! Registries end to end: Debian's `docker-registry` started here on
//! 127.0.0.1 with its own config and storage (one plain, one with htpasswd
//! basic auth), `skopeo` for interop, and a small fake registry in this file
//! for what a real one will not do on request (corrupt a blob, drop a
//! connection mid-layer, count what is fetched). Every wrun command gets its
//! own `DOCKER_CONFIG`, so the machine's Docker login is never read or
//! written. Ports 18600-18699. A missing tool skips with a reason, except
//! under CI, where it fails.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use common::{Env, ok, require_root, text};
use sha2::{Digest, Sha256};

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed, and CI needs it (scripts/install.sh)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A `docker-registry` on 127.0.0.1:`port`, stopped on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(port: u16, user: Option<(&str, &str)>) -> Option<Registry> {
        if !have("docker-registry") || (user.is_some() && !have("htpasswd")) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("wrun-registry-")
            .tempdir()
            .unwrap();
        let mut auth = String::new();
        if let Some((u, p)) = user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .unwrap();
            assert!(out.status.success());
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: wrun-test\n    path: {}\n",
                file.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        common::wait_until(
            "the registry to listen",
            std::time::Duration::from_secs(20),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Some(reg)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A state root plus its own Docker config dir.
struct Client {
    env: Env,
    docker_config: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            env: Env::new(),
            docker_config: tempfile::tempdir().unwrap(),
        }
    }
    fn with_busybox(self) -> Client {
        Client {
            env: self.env.with_busybox(),
            docker_config: self.docker_config,
        }
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("DOCKER_CONFIG", self.docker_config.path());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
    fn root(&self) -> &Path {
        self.env.root()
    }
    fn image_ids(&self) -> String {
        ok(&self.run(&["images", "-q", "--no-trunc"]))
    }
}

fn fails_with(out: &Output, want: &str) {
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains(want),
        "want failure with {want:?}; exit {:?}\nstdout: {}\nstderr: {err}",
        out.status.code(),
        text(&out.stdout)
    );
}

/// Files under the store that are neither final blobs nor layers.
fn leftovers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["images/blobs/sha256", "images/layers"] {
        if let Ok(rd) = std::fs::read_dir(root.join(d)) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with('.') {
                    out.push(format!("{d}/{n}"));
                }
            }
        }
    }
    out
}

fn digest_line(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.split(prefix).nth(1))
        .map(|s| s.split_whitespace().next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {prefix:?} in {out}"))
}

#[test]
fn push_pull_run_and_second_pull_fetches_nothing() {
    if !require_root() {
        return;
    }
    let Some(reg) = Registry::start(18601, None) else {
        return;
    };
    let src = Client::new().with_busybox();
    let name = format!("{}/wrun/busybox:1", reg.host());
    ok(&src.run(&["tag", "busybox", &name]));
    let out = ok(&src.run(&["push", &name]));
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/wrun/busybox]",
            reg.host()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let pushed = digest_line(&out, "1: digest: ");
    // Again: the registry has every blob.
    let out = ok(&src.run(&["push", &name]));
    assert!(
        out.contains("Layer already exists") && !out.contains(": Pushed"),
        "{out}"
    );
    assert_eq!(digest_line(&out, "1: digest: "), pushed);

    let dst = Client::new();
    let out = ok(&dst.run(&["pull", &name]));
    assert!(out.contains("1: Pulling from wrun/busybox"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(digest_line(&out, "Digest: "), pushed);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), name);
    let want_id = ok(&src.run(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    assert_eq!(dst.image_ids(), want_id, "same config, same id");
    assert_eq!(
        ok(&dst.run(&["run", "--rm", &name, "echo", "hello from the registry"])),
        "hello from the registry"
    );
    // A second pull: up to date, no layer fetched.
    let out = ok(&dst.run(&["pull", &name]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    assert!(
        !out.contains("Pull complete") && !out.contains("Downloading"),
        "{out}"
    );
    // -q prints the name only.
    assert_eq!(ok(&dst.run(&["pull", "-q", &name])), name);
    // Unknown tag and repository: Docker's words, nothing changes.
    let before = dst.image_ids();
    fails_with(
        &dst.run(&["pull", &format!("{}/wrun/busybox:nope", reg.host())]),
        &format!(
            "manifest for {}/wrun/busybox:nope not found: manifest unknown",
            reg.host()
        ),
    );
    fails_with(
        &dst.run(&["pull", &format!("{}/no/such", reg.host())]),
        "not found",
    );
    assert_eq!(dst.image_ids(), before);
    assert!(
        leftovers(dst.root()).is_empty(),
        "{:?}",
        leftovers(dst.root())
    );
    // `run` pulls a missing image by itself.
    let third = Client::new();
    let out = third.run(&["run", "--rm", &name, "echo", "implicit"]);
    assert_eq!(ok(&out), "implicit");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("Unable to find image '{name}' locally"))
            && err.contains("Pull complete"),
        "{err}"
    );
    // zstd layers: pushed with --compression zstd, pulled and run.
    let zname = format!("{}/wrun/busybox-zstd:1", reg.host());
    ok(&src.run(&["tag", "busybox", &zname]));
    let zdigest = digest_line(
        &ok(&src.run(&["push", "--compression", "zstd", &zname])),
        "1: digest: ",
    );
    assert_ne!(zdigest, pushed, "another compression, another manifest");
    let z = Client::new();
    ok(&z.run(&["pull", &zname]));
    assert_eq!(ok(&z.run(&["run", "--rm", &zname, "echo", "zstd"])), "zstd");
    let manifest = std::fs::read_to_string(
        z.root()
            .join("images/blobs/sha256")
            .join(zdigest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert!(
        manifest.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{manifest}"
    );
    // A missing image that is not in the registry either: 125 and Docker's message.
    let out = third.run(&["run", "--rm", &format!("{}/wrun/busybox:nope", reg.host())]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("manifest unknown"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn basic_auth_with_login_and_logout() {
    if !require_root() {
        return;
    }
    let Some(reg) = Registry::start(18602, Some(("student", "s3cret"))) else {
        return;
    };
    let c = Client::new().with_busybox();
    let name = format!("{}/class/busybox:latest", reg.host());
    ok(&c.run(&["tag", "busybox", &name]));
    fails_with(&c.run(&["push", &name]), "push access denied");
    fails_with(
        &c.run_stdin(
            &["login", "-u", "student", "--password-stdin", &reg.host()],
            "wrong\n",
        ),
        "unauthorized",
    );
    assert!(
        !c.docker_config.path().join("config.json").exists(),
        "nothing stored after a failed login"
    );
    let out = c.run_stdin(
        &["login", "-u", "student", "--password-stdin", &reg.host()],
        "s3cret\n",
    );
    assert_eq!(ok(&out), "Login Succeeded");
    let cfg = std::fs::read_to_string(c.docker_config.path().join("config.json")).unwrap();
    assert!(
        cfg.contains(&reg.host()) && cfg.contains("\"auth\""),
        "{cfg}"
    );
    ok(&c.run(&["push", &name]));
    // Another state root with the same Docker login pulls and runs it.
    let d = Client {
        env: Env::new(),
        docker_config: tempfile::tempdir().unwrap(),
    };
    std::fs::copy(
        c.docker_config.path().join("config.json"),
        d.docker_config.path().join("config.json"),
    )
    .unwrap();
    ok(&d.run(&["pull", &name]));
    assert_eq!(
        ok(&d.run(&["run", "--rm", &name, "echo", "authed"])),
        "authed"
    );
    // -p warns.
    let out = d.run(&["login", "-u", "student", "-p", "s3cret", &reg.host()]);
    assert_eq!(ok(&out), "Login Succeeded");
    assert!(text(&out.stderr).contains("WARNING! Using --password via the CLI is insecure"));
    assert_eq!(
        ok(&d.run(&["logout", &reg.host()])),
        format!("Removing login credentials for {}", reg.host())
    );
    assert_eq!(
        ok(&d.run(&["logout", &reg.host()])),
        format!("Not logged in to {}", reg.host())
    );
    let e = Client {
        env: Env::new(),
        docker_config: d.docker_config,
    };
    fails_with(&e.run(&["pull", &name]), "pull access denied for");
    assert_eq!(e.image_ids(), "");
}

/// PUTs a manifest or index with curl.
fn put_manifest(host: &str, repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.json");
    std::fs::write(&f, body).unwrap();
    let out = Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", f.display()))
        .arg(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "PUT manifest: {}", text(&out.stderr));
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[test]
fn multi_arch_index_selects_linux_amd64() {
    if !require_root() || !have("curl") {
        return;
    }
    let Some(reg) = Registry::start(18603, None) else {
        return;
    };
    let c = Client::new().with_busybox();
    // Two images in one repository: the real one (amd64) and one with
    // another config standing in for arm64.
    let tar = common::busybox_tar(c.root());
    ok(&c.run(&[
        "import",
        "--change",
        "CMD [\"echo\",\"arm\"]",
        tar.to_str().unwrap(),
        "other:1",
    ]));
    let amd = format!("{}/multi:amd64", reg.host());
    let arm = format!("{}/multi:arm64", reg.host());
    ok(&c.run(&["tag", "busybox", &amd]));
    ok(&c.run(&["tag", "other:1", &arm]));
    let out = ok(&c.run(&["push", &amd]));
    let amd_digest = digest_line(&out, "amd64: digest: ");
    let amd_size: u64 = digest_line(&out, " size: ").parse().unwrap();
    let out = ok(&c.run(&["push", &arm]));
    let arm_digest = digest_line(&out, "arm64: digest: ");
    let arm_size: u64 = digest_line(&out, " size: ").parse().unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{arm_digest}","size":{arm_size},"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{amd_digest}","size":{amd_size},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    );
    put_manifest(
        &reg.host(),
        "multi",
        "latest",
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    );
    let name = format!("{}/multi", reg.host());
    let amd_id = ok(&c.run(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    let arm_id = ok(&c.run(&["image", "inspect", "-f", "{{.Id}}", "other:1"]));

    let d = Client::new();
    let out = ok(&d.run(&["pull", &name]));
    assert_eq!(
        digest_line(&out, "Digest: "),
        sha256(index.as_bytes()),
        "the index's digest is shown"
    );
    assert_eq!(d.image_ids(), amd_id);
    let e = Client::new();
    ok(&e.run(&["pull", "--platform", "linux/arm64", &name]));
    assert_eq!(e.image_ids(), arm_id);
    fails_with(
        &e.run(&[
            "pull",
            "--platform",
            "linux/s390x",
            &format!("{name}:latest"),
        ]),
        "no matching manifest for linux/s390x in the manifest list entries",
    );
    fails_with(
        &e.run(&["pull", "--platform", "linux", &name]),
        "invalid platform \"linux\"",
    );
}

#[test]
fn skopeo_interop_both_ways() {
    if !require_root() || !have("skopeo") {
        return;
    }
    let Some(reg) = Registry::start(18604, None) else {
        return;
    };
    let c = Client::new().with_busybox();
    // wrun pushes, skopeo reads the same digest.
    let name = format!("{}/interop/wrun:1", reg.host());
    ok(&c.run(&["tag", "busybox", &name]));
    let pushed = digest_line(&ok(&c.run(&["push", &name])), "1: digest: ");
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert_eq!(ok(&out), pushed);
    let copy_dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("oci:{}:x", copy_dir.path().display()))
        .output()
        .unwrap();
    ok(&out);
    // skopeo pushes (from wrun's docker-archive), wrun pulls the same digest and runs it.
    let archive = c.root().join("saved.tar");
    ok(&c.run(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    let theirs = format!("{}/interop/skopeo:1", reg.host());
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{theirs}"))
        .output()
        .unwrap();
    ok(&out);
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{theirs}"))
        .output()
        .unwrap();
    let skopeo_digest = ok(&out);
    let d = Client::new();
    let out = ok(&d.run(&["pull", &theirs]));
    assert_eq!(digest_line(&out, "Digest: "), skopeo_digest);
    assert_eq!(
        ok(&d.run(&["run", "--rm", &theirs, "echo", "from skopeo"])),
        "from skopeo"
    );
    // And wrun pushes what it pulled byte for byte: same digest elsewhere.
    let again = format!("{}/interop/again:1", reg.host());
    ok(&d.run(&["tag", &theirs, &again]));
    let out = ok(&d.run(&["push", &again]));
    assert_eq!(digest_line(&out, "1: digest: "), skopeo_digest);
    assert!(
        out.contains("Mounted from interop/skopeo") || out.contains("Layer already exists"),
        "{out}"
    );
}

// ---- a fake registry -------------------------------------------------------

/// What the fake does with the n-th GET of the layer blob.
#[derive(Clone, Copy, Debug)]
enum BlobAction {
    Serve,
    /// Send the headers (full Content-Length) and this many bytes, then close.
    DropAfter(usize),
    Status(u16),
}

#[derive(Default)]
struct FakeState {
    /// Blob GETs seen: (digest, Range header).
    blob_gets: Vec<(String, Option<String>)>,
    layer_plan: Vec<BlobAction>,
}

/// Content by key (digest or tag).
type Contents = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A registry serving fixed blobs and manifests from memory.
struct Fake {
    port: u16,
    state: Arc<Mutex<FakeState>>,
    blobs: Contents,
    manifests: Contents,
}

impl Fake {
    fn start(port: u16) -> Fake {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let fake = Fake {
            port,
            state: Arc::default(),
            blobs: Arc::default(),
            manifests: Arc::default(),
        };
        let (state, blobs, manifests) = (
            fake.state.clone(),
            fake.blobs.clone(),
            fake.manifests.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (state, blobs, manifests) = (state.clone(), blobs.clone(), manifests.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &state, &blobs, &manifests);
                });
            }
        });
        fake
    }
    fn blob(&self, data: Vec<u8>) -> String {
        let d = sha256(&data);
        self.blobs.lock().unwrap().push((d.clone(), data));
        d
    }
    fn manifest(&self, tag: &str, data: Vec<u8>) {
        let mut m = self.manifests.lock().unwrap();
        m.push((sha256(&data), data.clone()));
        m.push((tag.to_owned(), data));
    }
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn gets_of(&self, digest: &str) -> Vec<Option<String>> {
        self.state
            .lock()
            .unwrap()
            .blob_gets
            .iter()
            .filter(|(d, _)| d == digest)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

fn serve(
    conn: TcpStream,
    state: &Mutex<FakeState>,
    blobs: &Mutex<Vec<(String, Vec<u8>)>>,
    manifests: &Mutex<Vec<(String, Vec<u8>)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut range = None;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("range")
            {
                range = Some(v.trim().to_owned());
            }
        }
        let respond =
            |w: &mut TcpStream, status: &str, headers: &str, body: &[u8]| -> std::io::Result<()> {
                write!(
                    w,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}\r\n",
                    body.len()
                )?;
                w.write_all(body)
            };
        if path == "/v2/" {
            respond(&mut w, "200 OK", "", b"{}")?;
        } else if let Some(rest) = path.strip_prefix("/v2/test/img/manifests/") {
            let found = manifests
                .lock()
                .unwrap()
                .iter()
                .find(|(k, _)| k == rest)
                .map(|(_, v)| v.clone());
            match found {
                Some(m) => respond(
                    &mut w,
                    "200 OK",
                    &format!(
                        "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {}\r\n",
                        sha256(&m)
                    ),
                    if method == "HEAD" { b"" } else { &m },
                )?,
                None => respond(
                    &mut w,
                    "404 Not Found",
                    "Content-Type: application/json\r\n",
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                )?,
            }
        } else if let Some(d) = path.strip_prefix("/v2/test/img/blobs/") {
            let data = blobs
                .lock()
                .unwrap()
                .iter()
                .find(|(k, _)| k == d)
                .map(|(_, v)| v.clone());
            let Some(data) = data else {
                respond(&mut w, "404 Not Found", "", b"")?;
                continue;
            };
            let action = {
                let mut s = state.lock().unwrap();
                s.blob_gets.push((d.to_owned(), range.clone()));
                if data.len() > 4096 && !s.layer_plan.is_empty() {
                    s.layer_plan.remove(0)
                } else {
                    BlobAction::Serve
                }
            };
            let start: usize = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let body = &data[start.min(data.len())..];
            match action {
                BlobAction::Serve => respond(&mut w, status, "", body)?,
                BlobAction::Status(code) => {
                    respond(&mut w, &format!("{code} Oops"), "", b"")?;
                }
                BlobAction::DropAfter(n) => {
                    write!(
                        w,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    w.write_all(&body[..n.min(body.len())])?;
                    w.flush()?;
                    return Ok(());
                }
            }
        } else {
            respond(&mut w, "404 Not Found", "", b"")?;
        }
    }
}

/// An uncompressed layer tar holding `/data` (`size` bytes) and a config.
fn fake_image(fake: &Fake, tag: &str, size: usize, cmd: &str, corrupt: bool) -> (String, String) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(size as u64);
    h.set_mtime(1_700_000_000);
    let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    b.append_data(&mut h, "data", &content[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let diff_id = sha256(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["{cmd}"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let config_digest = fake.blob(config.clone().into_bytes());
    let mut served = layer.clone();
    if corrupt {
        let mid = served.len() / 2;
        served[mid] ^= 0xff;
    }
    fake.blobs.lock().unwrap().push((diff_id.clone(), served));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{diff_id}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    fake.manifest(tag, manifest.into_bytes());
    (config_digest, diff_id)
}

#[test]
fn corrupt_blob_is_rejected_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let fake = Fake::start(18650);
    fake_image(&fake, "bad", 300_000, "x", true);
    let c = Client::new();
    let name = format!("{}/test/img:bad", fake.host());
    fails_with(&c.run(&["pull", &name]), "digest mismatch");
    assert_eq!(c.image_ids(), "");
    assert!(leftovers(c.root()).is_empty(), "{:?}", leftovers(c.root()));
    // Not even the config or manifest was kept.
    let blobs: Vec<_> = std::fs::read_dir(c.root().join("images/blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "{blobs:?}");
    // A manifest that is not JSON.
    fake.manifest("junk", b"<html>not a manifest</html>".to_vec());
    fails_with(
        &c.run(&["pull", &format!("{}/test/img:junk", fake.host())]),
        "invalid manifest JSON",
    );
    assert_eq!(c.image_ids(), "");
}

#[test]
fn dropped_connection_resumes_and_layers_are_fetched_once() {
    if !require_root() {
        return;
    }
    let fake = Fake::start(18651);
    let (config, layer) = fake_image(&fake, "v1", 2_000_000, "/bin/true", false);
    let c = Client::new();
    let name = format!("{}/test/img:v1", fake.host());
    // 1st GET drops mid-layer, the resume fails with 503: the pull fails
    // and keeps the partial blob; the next pull continues from there.
    fake.state.lock().unwrap().layer_plan =
        vec![BlobAction::DropAfter(700_000), BlobAction::Status(503)];
    fails_with(&c.run(&["pull", &name]), "503");
    assert_eq!(c.image_ids(), "");
    let gets = fake.gets_of(&layer);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(
        gets[1].as_deref(),
        Some("bytes=700000-"),
        "resumed in the same pull"
    );
    // Across pulls: the partial file is read back and only the rest fetched;
    // and within a pull, another drop is resumed.
    fake.state.lock().unwrap().layer_plan = vec![BlobAction::DropAfter(500_000)];
    let out = ok(&c.run(&["pull", &name]));
    assert!(out.contains("Pull complete"), "{out}");
    let gets = fake.gets_of(&layer);
    assert_eq!(gets.len(), 4, "{gets:?}");
    assert_eq!(
        gets[2].as_deref(),
        Some("bytes=700000-"),
        "continued from the partial blob"
    );
    assert_eq!(
        gets[3].as_deref(),
        Some("bytes=1200000-"),
        "resumed after the second drop"
    );
    assert!(leftovers(c.root()).is_empty(), "{:?}", leftovers(c.root()));
    assert_eq!(c.image_ids(), config);
    let data = std::fs::read(
        c.root()
            .join("images/layers")
            .join(layer.trim_start_matches("sha256:"))
            .join("data"),
    )
    .unwrap();
    assert_eq!(data.len(), 2_000_000);
    assert!(
        data.iter()
            .enumerate()
            .all(|(i, b)| *b == (i * 7 % 251) as u8)
    );

    // Pulling again, or another tag of the same image, fetches no blob.
    let before = fake.state.lock().unwrap().blob_gets.len();
    let out = ok(&c.run(&["pull", &name]));
    assert!(out.contains("Image is up to date"), "{out}");
    let v1 = fake.manifests.lock().unwrap()[1].1.clone();
    fake.manifest("same", v1);
    ok(&c.run(&["pull", &format!("{}/test/img:same", fake.host())]));
    assert_eq!(
        fake.state.lock().unwrap().blob_gets.len(),
        before,
        "nothing fetched"
    );
    // An image sharing the layer: only its config is fetched.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(2_000_000);
    h.set_mtime(1_700_000_000);
    let content: Vec<u8> = (0..2_000_000).map(|i: usize| (i * 7 % 251) as u8).collect();
    b.append_data(&mut h, "data", &content[..]).unwrap();
    let same_layer = b.into_inner().unwrap();
    assert_eq!(sha256(&same_layer), layer);
    let config2 = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["other"]}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#
    );
    let config2_digest = fake.blob(config2.clone().into_bytes());
    let manifest2 = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config2_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{}}}]}}"#,
        config2.len(),
        same_layer.len()
    );
    fake.manifest("v2", manifest2.into_bytes());
    let out = ok(&c.run(&["pull", &format!("{}/test/img:v2", fake.host())]));
    assert!(out.contains("Already exists"), "{out}");
    let gets: Vec<String> = fake.state.lock().unwrap().blob_gets[before..]
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(gets, vec![config2_digest], "only the new config");
}

#[test]
fn hanging_or_absent_registries_fail_clearly() {
    if !require_root() {
        return;
    }
    // Accepts connections and never answers.
    let listener = TcpListener::bind(("127.0.0.1", 18652)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let c = Client::new();
    let mut cmd = c.cmd(&["pull", "127.0.0.1:18652/x/y:1"]);
    cmd.env("WRUN_REGISTRY_TIMEOUT", "2");
    let out = cmd.output().unwrap();
    fails_with(&out, "timeout");
    assert!(
        text(&out.stderr).contains("http://127.0.0.1:18652/v2/x/y/manifests/1"),
        "{}",
        text(&out.stderr)
    );
    // Nothing listens here.
    fails_with(
        &c.run(&["pull", "127.0.0.1:18699/x/y:1"]),
        "http://127.0.0.1:18699/v2/x/y/manifests/1",
    );
    let mut cmd = c.cmd(&["pull", "127.0.0.1:18652/x/y:1"]);
    cmd.env("WRUN_REGISTRY_TIMEOUT", "soon");
    fails_with(&cmd.output().unwrap(), "WRUN_REGISTRY_TIMEOUT=\"soon\"");
    // Docker Hub is never contacted from the tests (WRUN_OFFLINE).
    fails_with(
        &c.run(&["pull", "busybox"]),
        "not contacting registry-1.docker.io: WRUN_OFFLINE is set",
    );
    assert_eq!(c.image_ids(), "");
    assert!(leftovers(c.root()).is_empty());
}

#[test]
fn docker_hub_names_come_from_a_configured_mirror() {
    if !require_root() {
        return;
    }
    let Some(mirror) = Registry::start(18605, None) else {
        return;
    };
    // The mirror holds docker.io/library/mirrored:1 as a pull-through cache would.
    let src = Client::new().with_busybox();
    let at_mirror = format!("{}/library/mirrored:1", mirror.host());
    ok(&src.run(&["tag", "busybox", &at_mirror]));
    ok(&src.run(&["push", &at_mirror]));
    let c = Client::new();
    std::fs::write(
        c.root().join("registries.json"),
        format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, mirror.host()),
    )
    .unwrap();
    let out = ok(&c.run(&["pull", "mirrored:1"]));
    assert!(out.contains("1: Pulling from library/mirrored"), "{out}");
    assert_eq!(out.lines().last().unwrap(), "docker.io/library/mirrored:1");
    assert_eq!(
        ok(&c.run(&["run", "--rm", "mirrored:1", "echo", "mirrored"])),
        "mirrored"
    );
    // Not on the mirror: the fallback is Docker Hub, which the tests may not reach.
    fails_with(
        &c.run(&["pull", "notmirrored:1"]),
        "not contacting registry-1.docker.io",
    );
    // A malformed file is named.
    std::fs::write(
        c.root().join("registries.json"),
        r#"{"registry-mirrors": ["127.0.0.1:1"]}"#,
    )
    .unwrap();
    fails_with(
        &c.run(&["pull", "mirrored:1"]),
        "registries.json: registry-mirrors: \"127.0.0.1:1\" must start with http:// or https://",
    );
}

#[test]
fn build_pulls_a_missing_base_image() {
    if !require_root() {
        return;
    }
    let Some(reg) = Registry::start(18606, None) else {
        return;
    };
    let src = Client::new().with_busybox();
    let base = format!("{}/base/busybox:1", reg.host());
    ok(&src.run(&["tag", "busybox", &base]));
    ok(&src.run(&["push", &base]));
    let c = Client::new();
    let ctx = c.root().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {base} AS first\nRUN echo built > /built\nFROM first\nCMD [\"cat\", \"/built\"]\n"
        ),
    )
    .unwrap();
    let out = c.run(&["build", "-t", "pulled-base:1", ctx.to_str().unwrap()]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Pull complete"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(&c.run(&["run", "--rm", "pulled-base:1"])), "built");
    // --pull asks the registry again even though the base is here.
    let out = c.run(&[
        "build",
        "--pull",
        "-t",
        "pulled-base:1",
        ctx.to_str().unwrap(),
    ]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("Image is up to date"),
        "{}",
        text(&out.stderr)
    );
}

/// `docker build` pulls a base it lacks, and `--pull` pulls it again: the
/// builder asks the registry client (port 18750, the lecture tests' range).
#[test]
fn build_pulls_a_missing_base_and_pull_pulls_it_again() {
    if !require_root() {
        return;
    }
    let Some(reg) = Registry::start(18750, None) else {
        return;
    };
    let src = Client::new().with_busybox();
    let base = format!("{}/busybox:1", reg.host());
    ok(&src.run(&["tag", "busybox", &base]));
    ok(&src.run(&["push", &base]));

    let dst = Client::new();
    assert_eq!(dst.image_ids(), "", "the store starts empty");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"),
    )
    .unwrap();
    let dir = ctx.path().to_str().unwrap();
    let out = dst.run(&["build", "-t", "pulled-base", dir]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("1: Pulling from busybox"), "{stderr}");
    assert!(
        stderr.contains(&format!("Status: Downloaded newer image for {base}")),
        "{stderr}"
    );
    assert!(
        stdout.contains("Successfully tagged pulled-base:latest"),
        "{stdout}"
    );
    assert_eq!(ok(&dst.run(&["run", "--rm", "pulled-base"])), "built");
    // The built image keeps the base's compressed layer: it pushes and
    // pulls back whole.
    let built = format!("{}/pulled-base:1", reg.host());
    ok(&dst.run(&["tag", "pulled-base", &built]));
    ok(&dst.run(&["push", &built]));
    let third = Client::new();
    ok(&third.run(&["pull", &built]));
    assert_eq!(ok(&third.run(&["run", "--rm", &built])), "built");

    // --pull asks the registry again even though the base is here.
    let out = dst.run(&["build", "--pull", "-t", "pulled-base", dir]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("Status: Image is up to date for {base}")),
        "{stderr}"
    );

    // A base no registry has: the build fails on the FROM line.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {}/nosuch:1\n", reg.host()),
    )
    .unwrap();
    fails_with(
        &dst.run(&["build", dir]),
        &format!(
            "Dockerfile:1: FROM {}/nosuch:1: Error response from daemon",
            reg.host()
        ),
    );
}
