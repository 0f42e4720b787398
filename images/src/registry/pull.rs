//! `pull`: a reference in a registry → an image in the store.
//!
//! 1. The manifest (or index, then the platform's manifest) is fetched and
//!    its sha256 checked against the digest asked for, or the one the
//!    registry announced (`Docker-Content-Digest`).
//! 2. If the store already has that manifest, only the name is updated.
//! 3. The config is fetched and verified; each layer is planned: present
//!    (blob and unpacked dir) → nothing to do; blob present → unpacked from
//!    it; otherwise fetched.
//! 4. Up to three layers are fetched at once. Each streams from the socket
//!    into `blobs/sha256/.partial-<hex>` while being hashed, decompressed
//!    (gzip or zstd, detected from the bytes), hashed again (diff_id, on a
//!    helper thread) and unpacked into a temporary layer dir. A broken
//!    connection is resumed with `Range: bytes=N-` (up to five times); a
//!    partial file left by an earlier failed pull is read back first and the
//!    download continues where it stopped.
//! 5. Only when both digests match are the blob and the layer dir staged;
//!    a mismatch deletes the partial file. The manifest is stored byte for
//!    byte, so the image's digest is the registry's, and the index is
//!    updated last, under the store's lock. Any error before that leaves
//!    the store as it was (plus resumable partial blobs, which are not
//!    images and are not listed).

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::{Body, Client, Endpoint, error_detail, has_error_code};
use super::distribution::{self, Known};
use super::manifest::{self, ACCEPT_MANIFESTS, Descriptor, Document, MAX_MANIFEST, Platform};
use super::{Error, Result};
use crate::blob::Sha256;
use crate::reference::Reference;
use crate::store::{Store, Txn, parse_config};

/// At most this many layers are fetched at once (Docker's default).
pub const CONCURRENT_DOWNLOADS: usize = 3;
/// Reconnections allowed per blob before giving up.
pub const MAX_RESUMES: u32 = 5;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--platform`; default linux/<host arch>.
    pub platform: Option<Platform>,
}

/// A layer's progress, as Docker's pull shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    AlreadyExists,
    Waiting,
    Downloading {
        current: u64,
        total: u64,
    },
    /// The connection broke; resuming at `at` bytes.
    Retrying {
        at: u64,
        attempt: u32,
    },
    Verifying,
    /// Unpacking a blob the store already had.
    Extracting,
    PullComplete,
}

/// What a pull reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// `latest: Pulling from library/busybox`.
    Pulling { tag: String, repository: String },
    /// Per layer; `id` is the first 12 hex digits of the blob digest.
    Layer { id: String, status: LayerStatus },
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image id (config digest).
    pub id: String,
    /// The digest the registry knows the image by (the index's, for a
    /// multi-platform image): Docker's `Digest:` line.
    pub digest: String,
    /// The manifest stored (the platform's).
    pub manifest_digest: String,
    /// The fully qualified name given, if the reference had a tag.
    pub name: Option<String>,
    /// Nothing was fetched and the name already pointed at the image.
    pub up_to_date: bool,
    /// Layers downloaded (not counting resumed partial bytes read back).
    pub layers_fetched: usize,
    /// Bytes received from the registry for layers.
    pub bytes_fetched: u64,
}

/// The manifest chosen for the platform, with where it came from.
struct Resolved {
    endpoint: Endpoint,
    top_digest: String,
    manifest: Vec<u8>,
    manifest_digest: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Pulls `reference` (`:latest` added when it has neither tag nor digest)
/// into `store`. See the module doc for the steps and guarantees.
pub fn pull(
    client: &Client,
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<Pulled> {
    let r = reference.clone().with_default_tag();
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    progress(PullEvent::Pulling {
        tag: r
            .digest()
            .or(r.tag())
            .unwrap_or(crate::reference::DEFAULT_TAG)
            .to_owned(),
        repository: r.path().to_owned(),
    });
    let mut first_err = None;
    let mut resolved = None;
    for ep in client.endpoints(&r) {
        match resolve(client, &ep, &r, &platform) {
            Ok(res) => {
                resolved = Some(res);
                break;
            }
            Err(e) if ep.mirror => {
                tracing::info!("mirror {} failed, trying the next: {e}", ep.base);
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    let Some(res) = resolved else {
        return Err(first_err.unwrap_or_else(|| Error::bad(r.to_string(), "no endpoint")));
    };
    let name = (r.digest().is_none()).then(|| r.to_string());

    // Already here: only the name may need to move.
    if let Ok(img) = store.lookup(&format!("{}@{}", r.repository(), res.manifest_digest))
        && img.manifest_digest == res.manifest_digest
    {
        let mut up_to_date = true;
        if let Some(n) = &name
            && !img.names.contains(n)
        {
            store.tag(&img.id, n)?;
            up_to_date = false;
        }
        return Ok(Pulled {
            id: img.id,
            digest: res.top_digest,
            manifest_digest: res.manifest_digest,
            name,
            up_to_date,
            layers_fetched: 0,
            bytes_fetched: 0,
        });
    }

    let ep = &res.endpoint;
    let scope = pull_scope(ep);
    let config = fetch_small(client, ep, &scope, &res.config, 64 << 20, "config")?;
    let cfg = parse_config(&config, &format!("config {}", res.config.digest))?;
    let diff_ids = cfg.rootfs().diff_ids().clone();
    if diff_ids.len() != res.layers.len() {
        return Err(Error::bad(
            format!("image {}", res.manifest_digest),
            format!(
                "the manifest lists {} layers but the config {} diff_ids",
                res.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    for d in &diff_ids {
        manifest::check_digest(d, &format!("config {}", res.config.digest))?;
    }

    // Plan each distinct blob once.
    let mut seen = BTreeSet::new();
    let mut work = VecDeque::new();
    for (l, diff_id) in res.layers.iter().zip(&diff_ids) {
        if !seen.insert(l.digest.clone()) {
            continue;
        }
        let have_blob = store.blob_path(&l.digest)?.exists();
        let have_dir = store.layer_path(diff_id)?.is_dir();
        let id = short(&l.digest);
        if have_blob && have_dir {
            progress(PullEvent::Layer {
                id,
                status: LayerStatus::AlreadyExists,
            });
            continue;
        }
        progress(PullEvent::Layer {
            id,
            status: LayerStatus::Waiting,
        });
        work.push_back(Job {
            desc: l.clone(),
            diff_id: diff_id.clone(),
            fetch: !have_blob,
            unpack: !have_dir,
        });
    }

    let jobs = work.len();
    let queue = Mutex::new(work);
    let results: Mutex<Vec<Result<Staged>>> = Mutex::new(Vec::new());
    let abort = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT_DOWNLOADS.min(jobs) {
            s.spawn(|| {
                loop {
                    if abort.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(job) = queue.lock().expect("lock").pop_front() else {
                        return;
                    };
                    let r = run_job(client, ep, &scope, store, &job, progress);
                    if r.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("lock").push(r);
                }
            });
        }
    });
    let mut txn = Txn::new(store);
    let mut staged = Vec::new();
    let mut first_error = None;
    for r in results.into_inner().expect("lock") {
        match r {
            Ok(s) => staged.push(s),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let mut bytes_fetched = 0;
    let mut layers_fetched = 0;
    for s in staged {
        bytes_fetched += s.fetched;
        if let Some(p) = s.blob {
            layers_fetched += 1;
            txn.stage(p, store.blob_path(&s.desc.digest)?);
        }
        if let Some(d) = s.dir {
            txn.stage(d.take(), store.layer_path(&s.diff_id)?);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let layer_blobs: Vec<String> = res.layers.iter().map(|l| l.digest.clone()).collect();
    let names: Vec<String> = name.iter().cloned().collect();
    let id = txn.commit_verbatim(&config, &res.manifest, &layer_blobs, &names)?;
    let repo = format!("{}/{}", ep.domain, ep.repository);
    for (l, diff_id) in res.layers.iter().zip(&diff_ids) {
        let k = Known {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
            repos: Vec::new(),
        };
        distribution::record(store, diff_id, &k, &repo);
    }
    for l in &res.layers {
        progress(PullEvent::Layer {
            id: short(&l.digest),
            status: LayerStatus::PullComplete,
        });
    }
    Ok(Pulled {
        id,
        digest: res.top_digest,
        manifest_digest: res.manifest_digest,
        name,
        up_to_date: false,
        layers_fetched,
        bytes_fetched,
    })
}

/// The first 12 hex digits of a digest: Docker's layer id in progress lines.
pub fn short(digest: &str) -> String {
    let h = digest.strip_prefix("sha256:").unwrap_or(digest);
    h[..h.len().min(12)].to_owned()
}

fn pull_scope(ep: &Endpoint) -> String {
    format!("repository:{}:pull", ep.repository)
}

/// Fetches and verifies the manifest for `r` on `ep`, descending into an
/// index for `platform`.
fn resolve(client: &Client, ep: &Endpoint, r: &Reference, platform: &Platform) -> Result<Resolved> {
    let scope = pull_scope(ep);
    let want = r.digest().or(r.tag()).expect("tag or digest");
    let (bytes, ctype, announced) = get_manifest(client, ep, &scope, r, want)?;
    let top_digest = crate::blob::digest_of(&bytes);
    let expected = r.digest().map(str::to_owned).or(announced);
    if let Some(exp) = expected
        && exp.starts_with("sha256:")
        && exp != top_digest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest {}", r.familiar()),
            expected: exp,
            actual: top_digest,
        });
    }
    let what = format!("manifest {}", r.familiar());
    match manifest::parse(&bytes, ctype.as_deref(), &what)? {
        Document::Manifest { config, layers, .. } => Ok(Resolved {
            endpoint: ep.clone(),
            manifest_digest: top_digest.clone(),
            top_digest,
            manifest: bytes,
            config,
            layers,
        }),
        Document::Index(list) => {
            let d = manifest::select(&list, platform)?;
            manifest::check_digest(&d.digest, &what)?;
            let (mbytes, mctype, _) = get_manifest(client, ep, &scope, r, &d.digest)?;
            let got = crate::blob::digest_of(&mbytes);
            if got != d.digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {} for {platform}", d.digest),
                    expected: d.digest.clone(),
                    actual: got,
                });
            }
            let mwhat = format!("manifest {}", d.digest);
            match manifest::parse(&mbytes, mctype.as_deref(), &mwhat)? {
                Document::Manifest { config, layers, .. } => Ok(Resolved {
                    endpoint: ep.clone(),
                    top_digest,
                    manifest: mbytes,
                    manifest_digest: got,
                    config,
                    layers,
                }),
                Document::Index(_) => Err(Error::bad(mwhat, "an index inside an index")),
            }
        }
    }
}

/// GET a manifest: (body, content type, Docker-Content-Digest).
fn get_manifest(
    client: &Client,
    ep: &Endpoint,
    scope: &str,
    r: &Reference,
    want: &str,
) -> Result<(Vec<u8>, Option<String>, Option<String>)> {
    let url = ep.url(&format!("manifests/{want}"));
    let mut resp = client.send(
        ep,
        scope,
        "GET",
        &url,
        &[("Accept", ACCEPT_MANIFESTS)],
        Body::Empty,
    )?;
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ctype = header("content-type");
    let announced = header("docker-content-digest");
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| super::client::http_err("GET", &url, format!("reading the manifest: {e}")))?;
    match status {
        200 => Ok((body, ctype, announced)),
        404 if !has_error_code(&body, "NAME_UNKNOWN") => Err(Error::ManifestUnknown {
            reference: r.familiar(),
            detail: error_detail(&body, "manifest unknown"),
        }),
        401 | 403 | 404 => Err(Error::PullDenied {
            repository: r.familiar_repository(),
            detail: error_detail(&body, "denied: requested access to the resource is denied"),
        }),
        s => Err(Error::Status {
            method: "Get".into(),
            url,
            status: s,
            detail: error_detail(&body, ""),
        }),
    }
}

/// GETs a small blob into memory and verifies digest and size.
fn fetch_small(
    client: &Client,
    ep: &Endpoint,
    scope: &str,
    d: &Descriptor,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let url = ep.url(&format!("blobs/{}", d.digest));
    let mut resp = client.send(ep, scope, "GET", &url, &[], Body::Empty)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| super::client::http_err("GET", &url, e.to_string()))?;
    if status != 200 {
        return Err(Error::Status {
            method: "Get".into(),
            url,
            status,
            detail: error_detail(&body, ""),
        });
    }
    let got = crate::blob::digest_of(&body);
    if got != d.digest {
        return Err(Error::DigestMismatch {
            what: format!("{what} {}", d.digest),
            expected: d.digest.clone(),
            actual: got,
        });
    }
    if body.len() as u64 != d.size {
        return Err(Error::bad(
            format!("{what} {}", d.digest),
            format!("size {} differs from the manifest's {}", body.len(), d.size),
        ));
    }
    Ok(body)
}

struct Job {
    desc: Descriptor,
    diff_id: String,
    fetch: bool,
    unpack: bool,
}

/// A layer ready to be committed.
struct Staged {
    desc: Descriptor,
    diff_id: String,
    /// The verified blob under its partial name (when fetched).
    blob: Option<PathBuf>,
    /// The verified unpacked dir under its temporary name.
    dir: Option<TempDir>,
    fetched: u64,
}

/// A temporary layer dir, removed on drop unless taken.
struct TempDir(PathBuf);
impl TempDir {
    fn take(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn run_job(
    client: &Client,
    ep: &Endpoint,
    scope: &str,
    store: &Store,
    job: &Job,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<Staged> {
    let id = short(&job.desc.digest);
    let dir = if job.unpack {
        let p = store
            .dir()
            .join("layers")
            .join(crate::blob::temp_name("pull"));
        std::fs::create_dir(&p).map_err(|e| Error::io(&p, e))?;
        Some(TempDir(p))
    } else {
        None
    };
    if !job.fetch {
        // The blob is here; only its unpacked dir is missing.
        progress(PullEvent::Layer {
            id: id.clone(),
            status: LayerStatus::Extracting,
        });
        let src = store.blob_path(&job.desc.digest)?;
        let f = File::open(&src).map_err(|e| Error::io(&src, e))?;
        let d = dir.as_ref().expect("unpack planned");
        let ((), diff_id, _) =
            crate::blob::hash_pipeline(f, None, |r| crate::unpack::unpack(r, &d.0).map(drop))
                .map_err(|e| e.in_file(&src.display().to_string()))?;
        check_diff_id(&job.diff_id, &diff_id, &job.desc.digest)?;
        return Ok(Staged {
            desc: job.desc.clone(),
            diff_id: job.diff_id.clone(),
            blob: None,
            dir,
            fetched: 0,
        });
    }
    let partial = store.dir().join("blobs").join("sha256").join(format!(
        ".partial-{}",
        job.desc.digest.trim_start_matches("sha256:")
    ));
    let mut dl = Download::open(client, ep, scope, &job.desc, &partial, &id, progress)?;
    let unpacked = match &dir {
        Some(d) => {
            let res = crate::blob::hash_pipeline(&mut dl, None, |r| {
                crate::unpack::unpack(r, &d.0).map(drop)
            });
            match res {
                Ok(((), diff_id, _)) => Some(diff_id),
                Err(e) => {
                    // A transport error is resumable: keep the partial file.
                    // Bad content is not: a later pull must not reuse it.
                    if let Some(t) = dl.transport_error.take() {
                        return Err(t);
                    }
                    dl.discard();
                    return Err(Error::Store(
                        e.in_file(&format!("layer {}", job.desc.digest)),
                    ));
                }
            }
        }
        None => None,
    };
    // The decompressor may stop at the end of its stream: hash the rest.
    let drained = io::copy(&mut dl, &mut io::sink());
    if let Some(t) = dl.transport_error.take() {
        return Err(t);
    }
    drained.map_err(|e| Error::io(&partial, e))?;
    progress(PullEvent::Layer {
        id: id.clone(),
        status: LayerStatus::Verifying,
    });
    let (digest, size) = dl.finish()?;
    if digest != job.desc.digest || size != job.desc.size {
        let _ = std::fs::remove_file(&partial);
        if digest != job.desc.digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", job.desc.digest),
                expected: job.desc.digest.clone(),
                actual: digest,
            });
        }
        return Err(Error::bad(
            format!("blob {}", job.desc.digest),
            format!("size {size} differs from the manifest's {}", job.desc.size),
        ));
    }
    if let Some(got) = unpacked
        && let Err(e) = check_diff_id(&job.diff_id, &got, &job.desc.digest)
    {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    Ok(Staged {
        desc: job.desc.clone(),
        diff_id: job.diff_id.clone(),
        blob: Some(partial),
        dir,
        fetched: dl.received,
    })
}

fn check_diff_id(expected: &str, got: &str, blob: &str) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: format!("layer {blob} (uncompressed)"),
            expected: expected.to_owned(),
            actual: got.to_owned(),
        })
    }
}

/// A blob download that reads like a file: bytes already in the partial
/// file first, then the registry's, resuming with `Range` when the
/// connection breaks. Every byte is hashed and appended to the partial.
struct Download<'a> {
    client: &'a Client,
    ep: &'a Endpoint,
    scope: &'a str,
    desc: &'a Descriptor,
    url: String,
    path: PathBuf,
    file: File,
    /// Bytes of the partial file not yet read back.
    replay: u64,
    pos: u64,
    hasher: Sha256,
    body: Option<ureq::BodyReader<'static>>,
    attempts: u32,
    received: u64,
    id: &'a str,
    progress: &'a (dyn Fn(PullEvent) + Sync),
    last_report: u64,
    /// Set when the transport (not the content) failed for good.
    transport_error: Option<Error>,
}

impl<'a> Download<'a> {
    fn open(
        client: &'a Client,
        ep: &'a Endpoint,
        scope: &'a str,
        desc: &'a Descriptor,
        path: &Path,
        id: &'a str,
        progress: &'a (dyn Fn(PullEvent) + Sync),
    ) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut have = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if have > desc.size {
            file.set_len(0).map_err(|e| Error::io(path, e))?;
            have = 0;
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(path, e))?;
        Ok(Download {
            client,
            ep,
            scope,
            desc,
            url: ep.url(&format!("blobs/{}", desc.digest)),
            path: path.to_path_buf(),
            file,
            replay: have,
            pos: 0,
            hasher: Sha256::new(),
            body: None,
            attempts: 0,
            received: 0,
            id,
            progress,
            last_report: 0,
            transport_error: None,
        })
    }

    /// Opens (or reopens) the body at `self.pos`.
    fn connect(&mut self) -> Result<()> {
        let range = format!("bytes={}-", self.pos);
        let headers: Vec<(&str, &str)> = if self.pos > 0 {
            vec![("Range", range.as_str())]
        } else {
            Vec::new()
        };
        let mut resp =
            self.client
                .send(self.ep, self.scope, "GET", &self.url, &headers, Body::Empty)?;
        let status = resp.status().as_u16();
        match status {
            206 if self.pos > 0 => {}
            200 => {
                // No range support: read from the start and skip what we have.
                let mut body = resp.into_body().into_reader();
                let skipped = io::copy(&mut (&mut body).take(self.pos), &mut io::sink())
                    .map_err(|e| super::client::http_err("GET", &self.url, e.to_string()))?;
                if skipped != self.pos {
                    return Err(super::client::http_err(
                        "GET",
                        &self.url,
                        "connection closed while skipping to the resume point".into(),
                    ));
                }
                self.body = Some(body);
                return Ok(());
            }
            _ => {
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .unwrap_or_default();
                return Err(Error::Status {
                    method: "Get".into(),
                    url: self.url.clone(),
                    status,
                    detail: error_detail(&body, ""),
                });
            }
        }
        self.body = Some(resp.into_body().into_reader());
        Ok(())
    }

    fn report(&mut self) {
        if self.pos - self.last_report >= 256 * 1024 || self.pos == self.desc.size {
            self.last_report = self.pos;
            (self.progress)(PullEvent::Layer {
                id: self.id.to_owned(),
                status: LayerStatus::Downloading {
                    current: self.pos,
                    total: self.desc.size,
                },
            });
        }
    }

    fn read_network(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos >= self.desc.size {
                // Anything beyond the descriptor's size is an error.
                if let Some(b) = self.body.as_mut() {
                    let mut one = [0u8; 1];
                    if matches!(b.read(&mut one), Ok(n) if n > 0) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "blob {} is larger than its descriptor says ({} bytes)",
                                self.desc.digest, self.desc.size
                            ),
                        ));
                    }
                }
                return Ok(0);
            }
            if self.body.is_none()
                && let Err(e) = self.connect()
            {
                return Err(self.give_up(e));
            }
            let want = buf.len().min((self.desc.size - self.pos) as usize);
            let res = self
                .body
                .as_mut()
                .expect("connected")
                .read(&mut buf[..want]);
            match res {
                Ok(n) if n > 0 => {
                    self.file.write_all(&buf[..n])?;
                    self.hasher.update(&buf[..n]);
                    self.pos += n as u64;
                    self.received += n as u64;
                    self.report();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => {
                    // EOF before the end, or a broken connection: resume.
                    self.body = None;
                    self.attempts += 1;
                    let cause = match other {
                        Err(e) => e.to_string(),
                        _ => "connection closed early".to_owned(),
                    };
                    if self.attempts > MAX_RESUMES {
                        let e = super::client::http_err(
                            "GET",
                            &self.url,
                            format!(
                                "{cause} at byte {} of {} (gave up after {MAX_RESUMES} resumes; run the pull again to resume)",
                                self.pos, self.desc.size
                            ),
                        );
                        return Err(self.give_up(e));
                    }
                    tracing::info!(
                        "blob {}: {cause} at {}; resuming",
                        self.desc.digest,
                        self.pos
                    );
                    (self.progress)(PullEvent::Layer {
                        id: self.id.to_owned(),
                        status: LayerStatus::Retrying {
                            at: self.pos,
                            attempt: self.attempts,
                        },
                    });
                }
            }
        }
    }

    fn give_up(&mut self, e: Error) -> io::Error {
        let msg = e.to_string();
        self.transport_error = Some(e);
        io::Error::other(msg)
    }

    /// Deletes the partial file (its content is bad).
    fn discard(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Flushes the partial file; returns (digest, size) of what was read.
    fn finish(&mut self) -> Result<(String, u64)> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        let d = self.hasher.clone().digest();
        Ok((d, self.pos))
    }
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.replay > 0 {
            let want = buf.len().min(self.replay as usize);
            let n = self.file.read(&mut buf[..want])?;
            if n == 0 {
                // The file shrank under us: fetch the rest.
                self.replay = 0;
            } else {
                self.hasher.update(&buf[..n]);
                self.pos += n as u64;
                self.replay -= n as u64;
                self.report();
                return Ok(n);
            }
        }
        self.read_network(buf)
    }
}
