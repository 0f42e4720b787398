//! The image store: an OCI image layout under `<root>/images/`.
//!
//! ```text
//! <root>/images/
//!   oci-layout              {"imageLayoutVersion":"1.0.0"}
//!   index.json              OCI index: one manifest descriptor per name
//!   blobs/sha256/<hex>      manifests, configs, layer tars (uncompressed)
//!   layers/<diff-id hex>/   each layer unpacked once: an overlayfs lower dir
//!   lock                    flock(2)ed by writers
//! ```
//!
//! **Names.** Each `index.json` entry carries the fully qualified name
//! (`docker.io/library/busybox:latest`) in the annotation
//! `org.opencontainers.image.ref.name` (the OCI grammar allows a full
//! reference there; containerd's `io.containerd.image.name` holds the same
//! value for tools that read that one), and the image id (config digest) in
//! `run.wrun.image.id`, so lookups by name or id read only the index. A name
//! is unique; an image whose last name was taken away (re-tag, rmi of one of
//! several tags, a re-import under the same name) keeps one entry without a
//! name: Docker's dangling `<none>:<none>` image.
//!
//! **Layers** are stored uncompressed (`application/vnd.oci.image.layer.v1.tar`),
//! so a layer blob's digest is its diff_id: imports skip compression, save
//! writes what Docker writes, and unpacking needs no decompressor. Manifests
//! are built by wrun for every image it takes in (the same config and layers
//! always give the same manifest), so one image id has one manifest —
//! except that a pull keeps the registry's manifest and compressed blobs
//! (`Txn::commit_verbatim`), so the same config may also be listed under
//! a registry's manifest.
//!
//! **Writes** (import, load) stage everything beside its final place —
//! `blobs/sha256/.tmp-*` files and `layers/.tmp-*` dirs, hashed and verified
//! as they are written — and a transaction (`Txn`) commits them under the lock: rename
//! into place, then replace `index.json` atomically. A failure before that
//! drops the staged files, so the store is exactly as before. Deletions take
//! the lock, rewrite the index, then remove every blob and layer no image
//! references (renaming a layer dir to a temporary name first, so a crash
//! never leaves a half-deleted layer under its real name).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder,
    MediaType,
};

use crate::blob::{self, TempBlob};
use crate::lock::StoreLock;
use crate::reference::{self, Reference};
use crate::unpack;
use crate::{Error, Result};

/// Index annotation with the image's fully qualified name.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's name annotation; written with the same value.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Index annotation with the image id (`sha256:` of the config).
pub const ANNOTATION_IMAGE_ID: &str = "run.wrun.image.id";
/// Index annotation: when the name was last set (RFC 3339), Docker's `LastTagTime`.
pub const ANNOTATION_TAG_TIME: &str = "run.wrun.tagged";
/// Container config annotation naming the image a container was made from.
pub const ANNOTATION_CONTAINER_IMAGE: &str = "run.wrun.image";

pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Blob digest (equal to `diff_id` for layers wrun stored).
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// Digest of the uncompressed tar; names the unpacked dir.
    pub diff_id: String,
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of the config blob: Docker's image id.
    pub id: String,
    pub manifest_digest: String,
    pub config: ImageConfiguration,
    /// Familiar names, `busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@manifest-digest` for each repository the image is named in.
    pub repo_digests: Vec<String>,
    /// Fully qualified names, as in the index.
    pub names: Vec<String>,
    /// Sum of the layers' (uncompressed) sizes.
    pub size: u64,
    pub layers: Vec<LayerInfo>,
    /// When a name was last given to it (RFC 3339), if ever.
    pub last_tag_time: Option<String>,
}

impl Image {
    /// The 12-hex-digit short id Docker prints.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// `created` of the config, parsed.
    pub fn created(&self) -> Option<time::OffsetDateTime> {
        let s = self.config.created().as_deref()?;
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    }

    /// Whether the image has no name (`<none>:<none>`).
    pub fn is_dangling(&self) -> bool {
        self.names.is_empty()
    }
}

/// What `rmi` and `image prune` did, in order, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A name was removed (familiar form).
    Untagged(String),
    /// An image was deleted (its id).
    Deleted(String),
}

/// The image store rooted at `<state root>/images`.
#[derive(Debug, Clone)]
pub struct Store {
    state_root: PathBuf,
    dir: PathBuf,
}

/// One `index.json` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manifest: String,
    size: u64,
    name: Option<String>,
    id: String,
    tag_time: Option<String>,
}

impl Store {
    /// Opens the store under `state_root`, creating the layout on first use.
    pub fn open(state_root: &Path) -> Result<Store> {
        let dir = state_root.join("images");
        let store = Store {
            state_root: state_root.to_path_buf(),
            dir,
        };
        if !store.dir.join("index.json").exists() {
            for d in [store.blobs_dir(), store.layers_dir()] {
                fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
            }
            let _lock = store.lock()?;
            // Re-checked under the lock: another process may have just made it.
            if !store.dir.join("index.json").exists() {
                blob::write_atomic(
                    &store.dir,
                    "oci-layout",
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )?;
                store.write_index(&[])?;
            }
        }
        Ok(store)
    }

    /// `<root>/images`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The state root the store lives under.
    pub fn state_root(&self) -> &Path {
        &self.state_root
    }
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }
    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.dir.join("layers")
    }
    pub(crate) fn lock(&self) -> Result<StoreLock> {
        StoreLock::acquire(&self.dir.join("lock"))
    }

    /// Path of the blob `digest` (`sha256:<hex>`); refuses anything else, so
    /// a digest read from a hostile manifest cannot name another file.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        match digest.strip_prefix("sha256:") {
            Some(h) if reference::is_hex64(h) => Ok(self.blobs_dir().join(h)),
            _ => Err(Error::format(digest, "not a sha256 digest")),
        }
    }

    /// The unpacked directory of the layer with this diff_id.
    pub fn layer_path(&self, diff_id: &str) -> Result<PathBuf> {
        match diff_id.strip_prefix("sha256:") {
            Some(h) if reference::is_hex64(h) => Ok(self.layers_dir().join(h)),
            _ => Err(Error::format(diff_id, "not a sha256 diff_id")),
        }
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(|e| Error::io(&p, e))
    }

    // ---- index -------------------------------------------------------------

    fn read_index(&self) -> Result<Vec<Entry>> {
        let p = self.dir.join("index.json");
        let data = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let idx: ImageIndex = serde_json::from_slice(&data).map_err(|cause| Error::Json {
            what: p.display().to_string(),
            cause,
        })?;
        let mut out = Vec::new();
        for d in idx.manifests() {
            let ann = d.annotations().clone().unwrap_or_default();
            out.push(Entry {
                manifest: d.digest().to_string(),
                size: d.size(),
                name: ann.get(ANNOTATION_REF_NAME).cloned(),
                id: ann.get(ANNOTATION_IMAGE_ID).cloned().unwrap_or_default(),
                tag_time: ann.get(ANNOTATION_TAG_TIME).cloned(),
            });
        }
        Ok(out)
    }

    fn write_index(&self, entries: &[Entry]) -> Result<()> {
        let mut manifests = Vec::new();
        for e in entries {
            let digest = Digest::from_str(&e.manifest)
                .map_err(|err| Error::format(&e.manifest, err.to_string()))?;
            let mut d = Descriptor::new(MediaType::ImageManifest, e.size, digest);
            let mut ann = HashMap::new();
            ann.insert(ANNOTATION_IMAGE_ID.to_owned(), e.id.clone());
            if let Some(n) = &e.name {
                ann.insert(ANNOTATION_REF_NAME.to_owned(), n.clone());
                ann.insert(ANNOTATION_CONTAINERD_NAME.to_owned(), n.clone());
            }
            if let Some(t) = &e.tag_time {
                ann.insert(ANNOTATION_TAG_TIME.to_owned(), t.clone());
            }
            d.set_annotations(Some(ann));
            manifests.push(d);
        }
        let mut idx = ImageIndex::default();
        idx.set_media_type(Some(MediaType::ImageIndex));
        idx.set_manifests(manifests);
        let data = serde_json::to_vec_pretty(&idx).expect("index serializes");
        blob::write_atomic(&self.dir, "index.json", &data)
    }

    // ---- reading images ----------------------------------------------------

    fn load_image(&self, entries: &[Entry], manifest: &str) -> Result<Image> {
        let raw = self.read_blob(manifest)?;
        let m: ImageManifest = serde_json::from_slice(&raw).map_err(|cause| Error::Json {
            what: format!("manifest {manifest}"),
            cause,
        })?;
        let config_digest = m.config().digest().to_string();
        let craw = self.read_blob(&config_digest)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&craw).map_err(|cause| Error::Json {
                what: format!("config {config_digest}"),
                cause,
            })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != m.layers().len() {
            return Err(Error::format(
                format!("image {config_digest}"),
                "manifest and config disagree on the number of layers",
            ));
        }
        let layers: Vec<LayerInfo> = m
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(d, diff)| LayerInfo {
                digest: d.digest().to_string(),
                media_type: d.media_type().to_string(),
                size: d.size(),
                diff_id: diff.clone(),
            })
            .collect();
        let mine: Vec<&Entry> = entries.iter().filter(|e| e.manifest == manifest).collect();
        let names: Vec<String> = mine.iter().filter_map(|e| e.name.clone()).collect();
        let repo_tags = names.iter().map(|n| reference::familiar_name(n)).collect();
        let repos: BTreeSet<String> = names
            .iter()
            .filter_map(|n| Reference::parse(n).ok())
            .map(|r| format!("{}@{manifest}", r.familiar_repository()))
            .collect();
        Ok(Image {
            id: config_digest,
            manifest_digest: manifest.to_owned(),
            config,
            repo_tags,
            repo_digests: repos.into_iter().collect(),
            names,
            size: layers.iter().map(|l| l.size).sum(),
            layers,
            last_tag_time: mine.iter().filter_map(|e| e.tag_time.clone()).max(),
        })
    }

    /// Every image, newest first (as `docker images` lists them).
    pub fn images(&self) -> Result<Vec<Image>> {
        let entries = self.read_index()?;
        let manifests: BTreeSet<&str> = entries.iter().map(|e| e.manifest.as_str()).collect();
        let mut out = Vec::new();
        for m in manifests {
            out.push(self.load_image(&entries, m)?);
        }
        out.sort_by(|a, b| b.created().cmp(&a.created()).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds an image by `name[:tag]`, `name@sha256:…`, full `sha256:` id or a
    /// unique id prefix (with or without `sha256:`), in Docker's order: a
    /// name first, then an id.
    pub fn lookup(&self, s: &str) -> Result<Image> {
        let entries = self.read_index()?;
        let manifest = self.resolve(&entries, s)?;
        self.load_image(&entries, &manifest)
    }

    fn resolve(&self, entries: &[Entry], s: &str) -> Result<String> {
        let not_found = || Error::ImageNotFound {
            reference: Reference::parse_normalized(s)
                .map(|r| r.familiar())
                .unwrap_or(s.into()),
        };
        if let Some(hex) = s.strip_prefix("sha256:") {
            if !reference::is_lower_hex(hex) {
                return Err(not_found());
            }
            return self.by_id_prefix(entries, hex)?.ok_or_else(not_found);
        }
        let parsed = Reference::parse_normalized(s);
        if let Err(e) = &parsed
            && !reference::is_lower_hex(s)
        {
            // Neither a name nor an id: say what is wrong with it, as Docker does.
            return Err(Error::InvalidReference {
                reference: s.to_owned(),
                reason: match e {
                    Error::InvalidReference { reason, .. } => reason.clone(),
                    other => other.to_string(),
                },
            });
        }
        if let Ok(r) = parsed {
            if let Some(d) = r.digest() {
                if let Some(e) = entries.iter().find(|e| e.manifest == d || e.id == d) {
                    return Ok(e.manifest.clone());
                }
            } else {
                let full = r.to_string();
                if let Some(e) = entries.iter().find(|e| e.name.as_deref() == Some(&full)) {
                    return Ok(e.manifest.clone());
                }
            }
        }
        if reference::is_lower_hex(s)
            && let Some(m) = self.by_id_prefix(entries, s)?
        {
            return Ok(m);
        }
        Err(not_found())
    }

    fn by_id_prefix(&self, entries: &[Entry], hex: &str) -> Result<Option<String>> {
        let hits: BTreeSet<(&str, &str)> = entries
            .iter()
            .filter(|e| {
                e.id.strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(hex))
            })
            .map(|e| (e.id.as_str(), e.manifest.as_str()))
            .collect();
        let ids: BTreeSet<&str> = hits.iter().map(|(i, _)| *i).collect();
        match ids.len() {
            0 => Ok(None),
            1 => Ok(hits.first().map(|(_, m)| (*m).to_owned())),
            n => Err(Error::AmbiguousId {
                prefix: hex.to_owned(),
                count: n,
            }),
        }
    }

    // ---- layers ------------------------------------------------------------

    /// The image's unpacked layer dirs, lowest first, unpacking any that are
    /// missing from their blobs (verifying each diff_id).
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for l in &image.layers {
            let dir = self.layer_path(&l.diff_id)?;
            if !dir.is_dir() {
                self.unpack_missing(l, &dir)?;
            }
            out.push(dir);
        }
        Ok(out)
    }

    fn unpack_missing(&self, l: &LayerInfo, dir: &Path) -> Result<()> {
        let _lock = self.lock()?;
        if dir.is_dir() {
            return Ok(());
        }
        let src = self.blob_path(&l.digest)?;
        let f = fs::File::open(&src).map_err(|e| Error::io(&src, e))?;
        let mut txn = Txn::new(self);
        let got = txn
            .add_layer(f, Some(&l.diff_id))
            .map_err(|e| e.in_file(&src.display().to_string()))?;
        if got.diff_id != l.diff_id {
            return Err(Error::DigestMismatch {
                what: format!("layer {}", l.digest),
                expected: l.diff_id.clone(),
                actual: got.diff_id,
            });
        }
        txn.move_into_place()
    }

    // ---- names -------------------------------------------------------------

    /// Gives `target` (any reference form; `:latest` added) to the image
    /// `source` resolves to; the name moves if another image had it.
    pub fn tag(&self, source: &str, target: &str) -> Result<Image> {
        let target = Reference::parse_normalized(target)?;
        if target.digest().is_some() {
            return Err(Error::InvalidReference {
                reference: target.familiar(),
                reason: "refusing to create a tag with a digest reference".into(),
            });
        }
        let _lock = self.lock()?;
        let mut entries = self.read_index()?;
        let manifest = self.resolve(&entries, source)?;
        let e = entries
            .iter()
            .find(|e| e.manifest == manifest)
            .expect("resolved")
            .clone();
        set_name(
            &mut entries,
            &target.to_string(),
            &e.manifest,
            e.size,
            &e.id,
            now_rfc3339(),
        );
        self.write_index(&entries)?;
        self.load_image(&entries, &manifest)
    }

    /// Docker's `rmi`: removes the name `reference`, or with an id the whole
    /// image, deleting the image (and then any blob and layer nothing else
    /// uses) once it has no name left. `in_use` maps image ids to the
    /// containers made from them (see [`Store::containers_by_image`]).
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<RemoveEvent>> {
        let _lock = self.lock()?;
        let mut entries = self.read_index()?;
        let manifest = self.resolve(&entries, reference)?;
        let image = self.load_image(&entries, &manifest)?;
        let short = image.short_id().to_owned();
        // Was it named by one of its names, or by id?
        let by_name = Reference::parse_normalized(reference)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| r.to_string())
            .filter(|full| image.names.contains(full));
        let users = in_use.get(&image.id).cloned().unwrap_or_default();
        let mut events = Vec::new();
        let untag = |entries: &mut Vec<Entry>, name: &str, events: &mut Vec<RemoveEvent>| {
            entries.retain(|e| e.name.as_deref() != Some(name));
            events.push(RemoveEvent::Untagged(reference::familiar_name(name)));
        };
        match &by_name {
            Some(full) if image.names.len() > 1 => {
                untag(&mut entries, full, &mut events);
                self.write_index(&entries)?;
                return Ok(events);
            }
            Some(full) => {
                if let (Some(c), false) = (users.first(), force) {
                    return Err(Error::Conflict {
                        message: format!(
                            "unable to remove repository reference \"{}\" (must force) - container {} is using its referenced image {short}",
                            reference,
                            &c[..c.len().min(12)]
                        ),
                    });
                }
                untag(&mut entries, full, &mut events);
            }
            None => {
                let repos: BTreeSet<String> = image
                    .names
                    .iter()
                    .filter_map(|n| Reference::parse(n).ok())
                    .map(|r| r.repository())
                    .collect();
                if repos.len() > 1 && !force {
                    return Err(Error::Conflict {
                        message: format!(
                            "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                        ),
                    });
                }
                if let (Some(c), false) = (users.first(), force) {
                    return Err(Error::Conflict {
                        message: format!(
                            "unable to delete {short} (must be forced) - image is being used by stopped container {}",
                            &c[..c.len().min(12)]
                        ),
                    });
                }
                for n in &image.names {
                    untag(&mut entries, n, &mut events);
                }
            }
        }
        if users.is_empty() {
            entries.retain(|e| e.manifest != manifest);
            events.push(RemoveEvent::Deleted(image.id.clone()));
        } else if !entries.iter().any(|e| e.manifest == manifest) {
            // Forced off an image a container still uses: keep it, dangling,
            // so the container's lower dirs stay; prune removes it later.
            entries.push(Entry {
                manifest: manifest.clone(),
                size: 0,
                name: None,
                id: image.id.clone(),
                tag_time: None,
            });
            self.fix_sizes(&mut entries)?;
        }
        self.write_index(&entries)?;
        self.gc(&entries)?;
        Ok(events)
    }

    fn fix_sizes(&self, entries: &mut [Entry]) -> Result<()> {
        for e in entries.iter_mut().filter(|e| e.size == 0) {
            let p = self.blob_path(&e.manifest)?;
            e.size = fs::metadata(&p).map_err(|err| Error::io(&p, err))?.len();
        }
        Ok(())
    }

    /// Docker's `image prune`: deletes dangling images, or with `all` every
    /// image no container uses. Returns the events and the bytes reclaimed.
    pub fn prune(
        &self,
        all: bool,
        in_use: &HashMap<String, Vec<String>>,
    ) -> Result<(Vec<RemoveEvent>, u64)> {
        let _lock = self.lock()?;
        let mut entries = self.read_index()?;
        let before = self.disk_usage()?;
        let mut events = Vec::new();
        let manifests: BTreeSet<String> = entries.iter().map(|e| e.manifest.clone()).collect();
        for m in manifests {
            let img = self.load_image(&entries, &m)?;
            if in_use.contains_key(&img.id) || (!all && !img.is_dangling()) {
                continue;
            }
            for n in &img.names {
                events.push(RemoveEvent::Untagged(reference::familiar_name(n)));
            }
            entries.retain(|e| e.manifest != m);
            events.push(RemoveEvent::Deleted(img.id.clone()));
        }
        self.write_index(&entries)?;
        self.gc(&entries)?;
        self.remove_stale_temps();
        let after = self.disk_usage()?;
        Ok((events, before.saturating_sub(after)))
    }

    fn disk_usage(&self) -> Result<u64> {
        let dir = self.blobs_dir();
        let mut n = 0;
        for e in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            if let Ok(m) = e.and_then(|e| e.metadata()) {
                n += m.len();
            }
        }
        Ok(n)
    }

    /// Removes blobs and unpacked layers that no index entry references.
    /// Called with the lock held; temporaries of live writers are kept.
    fn gc(&self, entries: &[Entry]) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        let manifests: BTreeSet<&str> = entries.iter().map(|e| e.manifest.as_str()).collect();
        for m in manifests {
            let img = self.load_image(entries, m)?;
            blobs.insert(hex_of(m));
            blobs.insert(hex_of(&img.id));
            for l in &img.layers {
                blobs.insert(hex_of(&l.digest));
                layers.insert(hex_of(&l.diff_id));
            }
        }
        let bdir = self.blobs_dir();
        for e in fs::read_dir(&bdir)
            .map_err(|e| Error::io(&bdir, e))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !blobs.contains(&name) {
                fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
            }
        }
        let ldir = self.layers_dir();
        for e in fs::read_dir(&ldir)
            .map_err(|e| Error::io(&ldir, e))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !layers.contains(&name) {
                let doomed = ldir.join(blob::temp_name("del"));
                fs::rename(e.path(), &doomed).map_err(|err| Error::io(e.path(), err))?;
                fs::remove_dir_all(&doomed).map_err(|err| Error::io(&doomed, err))?;
            }
        }
        Ok(())
    }

    /// Removes `.tmp-*` leftovers of processes that died mid-write.
    fn remove_stale_temps(&self) {
        for dir in [self.blobs_dir(), self.layers_dir(), self.dir.clone()] {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                if blob::is_stale_temp(&e.file_name().to_string_lossy()) {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
        }
    }

    /// Image id -> ids of the containers made from it. A container is
    /// `<root>/containers/<id>/`; its image is `image_id` in `state.json`
    /// (the runtime's state file) or else the `run.wrun.image` annotation of
    /// its `config.json` — an image id, or a reference, resolved here.
    pub fn containers_by_image(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let Ok(rd) = fs::read_dir(self.state_root.join("containers")) else {
            return out;
        };
        let read = |p: PathBuf| -> Option<serde_json::Value> {
            serde_json::from_slice(&fs::read(p).ok()?).ok()
        };
        for e in rd.flatten() {
            let dir = e.path();
            let from_state = read(dir.join("state.json"))
                .and_then(|v| v["image_id"].as_str().map(str::to_owned))
                .filter(|id| id.starts_with("sha256:"));
            let image = from_state.or_else(|| {
                let v = read(dir.join("config.json"))?;
                let r = v["annotations"][ANNOTATION_CONTAINER_IMAGE]
                    .as_str()?
                    .to_owned();
                if r.starts_with("sha256:") && r.len() == 71 {
                    Some(r)
                } else {
                    self.lookup(&r).ok().map(|i| i.id)
                }
            });
            if let Some(img) = image {
                out.entry(img)
                    .or_default()
                    .push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out
    }
}

fn hex_of(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_owned()
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Points `name` at `manifest`, leaving any image that loses its last name
/// with one unnamed (dangling) entry, and dropping `manifest`'s own unnamed entry.
fn set_name(entries: &mut Vec<Entry>, name: &str, manifest: &str, size: u64, id: &str, t: String) {
    let previous = entries.iter().position(|e| e.name.as_deref() == Some(name));
    if let Some(i) = previous {
        let old = entries.remove(i);
        if old.manifest != manifest && !entries.iter().any(|e| e.manifest == old.manifest) {
            entries.push(Entry {
                name: None,
                tag_time: None,
                ..old
            });
        }
    }
    entries.retain(|e| !(e.manifest == manifest && e.name.is_none()));
    entries.push(Entry {
        manifest: manifest.to_owned(),
        size,
        name: Some(name.to_owned()),
        id: id.to_owned(),
        tag_time: Some(t),
    });
}

/// A layer taken in by a [`Txn`].
#[derive(Debug, Clone)]
pub(crate) struct AddedLayer {
    pub diff_id: String,
    pub size: u64,
    /// The blob the manifest names: the uncompressed tar (`diff_id`) for
    /// layers wrun stored, a registry's compressed blob for pulled ones.
    pub digest: String,
    pub media_type: String,
}

/// An image ready to be committed: its config bytes and layers.
#[derive(Debug, Clone)]
pub(crate) struct NewImage {
    pub config: Vec<u8>,
    pub layers: Vec<AddedLayer>,
    /// Fully qualified names to give it.
    pub names: Vec<String>,
}

/// Staged writes to the store; see the module doc. Dropping an uncommitted
/// `Txn` removes everything it staged.
#[derive(Debug)]
pub(crate) struct Txn<'s> {
    store: &'s Store,
    /// (temporary path, final path) of staged blobs and layer dirs.
    staged: Vec<(PathBuf, PathBuf)>,
}

impl<'s> Txn<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Txn {
            store,
            staged: Vec::new(),
        }
    }

    fn staged_or_present(&self, p: &Path) -> bool {
        p.exists() || self.staged.iter().any(|(_, f)| f == p)
    }

    /// Stages a small blob (config, manifest), returning its digest.
    pub(crate) fn put_blob(&mut self, data: &[u8]) -> Result<String> {
        let digest = blob::digest_of(data);
        let dest = self.store.blob_path(&digest)?;
        if !self.staged_or_present(&dest) {
            let mut t = TempBlob::create(&self.store.blobs_dir())?;
            io::Write::write_all(&mut t, data).map_err(|e| Error::io(t.path(), e))?;
            t.finish()?;
            self.staged.push((t.into_path(), dest));
        }
        Ok(digest)
    }

    /// Takes in one layer from `reader` (plain or gzip tar): in one pass,
    /// hashes it (diff_id), keeps it as an uncompressed blob and unpacks it,
    /// skipping whatever the store already has when `expected_diff_id` says
    /// which layer this is. The caller checks the diff_id against the
    /// config; nothing is kept unless the transaction commits.
    pub(crate) fn add_layer<R: Read + Send>(
        &mut self,
        reader: R,
        expected_diff_id: Option<&str>,
    ) -> Result<AddedLayer> {
        let (have_blob, have_dir) = match expected_diff_id {
            Some(d) => (
                self.staged_or_present(&self.store.blob_path(d)?),
                self.staged_or_present(&self.store.layer_path(d)?),
            ),
            None => (false, false),
        };
        let mut blob = if have_blob {
            None
        } else {
            Some(TempBlob::create(&self.store.blobs_dir())?)
        };
        let tmp_dir = self.store.layers_dir().join(blob::temp_name("layer"));
        let mut dir_guard = None;
        if !have_dir {
            fs::create_dir(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
            dir_guard = Some(DirGuard(tmp_dir.clone()));
        }
        let unpack_into = (!have_dir).then_some(tmp_dir.as_path());
        let (_, diff_id, size) =
            blob::hash_pipeline(reader, blob.as_mut(), |r| match unpack_into {
                Some(dir) => unpack::unpack(r, dir).map(drop),
                None => Ok(()),
            })?;
        if let Some(exp) = expected_diff_id
            && exp != diff_id
        {
            return Err(Error::DigestMismatch {
                what: "layer".into(),
                expected: exp.to_owned(),
                actual: diff_id,
            });
        }
        if let Some(mut b) = blob {
            b.finish()?;
            let dest = self.store.blob_path(&diff_id)?;
            if !self.staged_or_present(&dest) {
                self.staged.push((b.into_path(), dest));
            }
        }
        if let Some(g) = dir_guard {
            let dest = self.store.layer_path(&diff_id)?;
            if !self.staged_or_present(&dest) {
                self.staged.push((g.take(), dest));
            }
        }
        Ok(AddedLayer {
            digest: diff_id.clone(),
            media_type: MEDIA_LAYER_TAR.into(),
            diff_id,
            size,
        })
    }

    /// Renames every staged blob and layer into place (under the lock).
    fn move_into_place(&mut self) -> Result<()> {
        // Blobs were fsynced when written; unpacked layer files are not
        // (thousands of fsyncs, or a syncfs that would flush every other
        // process's dirty data too), as Docker's overlay2 does not: a power
        // loss right after an import can leave a layer dir short of data.
        // The blob is durable, and a removed layer dir is unpacked again
        // from it by `layer_dirs`.
        for (tmp, dest) in std::mem::take(&mut self.staged) {
            if dest.exists() {
                let _ = if tmp.is_dir() {
                    fs::remove_dir_all(&tmp)
                } else {
                    fs::remove_file(&tmp)
                };
                continue;
            }
            fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        }
        for d in [self.store.blobs_dir(), self.store.layers_dir()] {
            blob::sync_dir(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(())
    }

    /// Builds manifests for `images`, moves everything into place and
    /// updates the index, all under the lock. Returns the image ids.
    pub(crate) fn commit(mut self, images: Vec<NewImage>) -> Result<Vec<String>> {
        // Under the lock from here: a blob found present must still be there
        // when the index points at it (another process's rmi may gc it).
        let _lock = self.store.lock()?;
        let mut planned = Vec::new();
        for img in &images {
            let config_digest = self.put_blob(&img.config)?;
            let manifest = build_manifest(&config_digest, img.config.len() as u64, &img.layers)?;
            let manifest_digest = self.put_blob(&manifest)?;
            planned.push((config_digest, manifest_digest, manifest.len() as u64));
        }
        // wrun's manifests name uncompressed layer blobs; a layer that came
        // from a registry is stored compressed: make its tar once.
        for img in &images {
            for l in &img.layers {
                self.materialize_uncompressed(&l.diff_id)?;
            }
        }
        self.move_into_place()?;
        // Layers the transaction skipped because the store had them may have
        // been deleted since by another process's rmi.
        for img in &images {
            for l in &img.layers {
                let p = self.store.blob_path(&l.digest)?;
                if !p.exists() {
                    return Err(Error::format(
                        &l.digest,
                        "layer removed by a concurrent rmi or prune; retry",
                    ));
                }
            }
        }
        let mut entries = self.store.read_index()?;
        let t = now_rfc3339();
        for (img, (id, manifest, size)) in images.iter().zip(&planned) {
            for n in &img.names {
                set_name(&mut entries, n, manifest, *size, id, t.clone());
            }
            if !entries.iter().any(|e| &e.manifest == manifest) {
                entries.push(Entry {
                    manifest: manifest.clone(),
                    size: *size,
                    name: None,
                    id: id.clone(),
                    tag_time: None,
                });
            }
        }
        self.store.write_index(&entries)?;
        // Re-imports replace names; images left without one and unused by
        // anything are kept dangling, as Docker does.
        Ok(planned.into_iter().map(|(id, _, _)| id).collect())
    }
}

impl Txn<'_> {
    /// Stages a file or directory the caller wrote and verified beside its
    /// final place (`blobs/sha256/`, `layers/`); moved into place on commit,
    /// removed if the transaction is dropped.
    pub(crate) fn stage(&mut self, tmp: PathBuf, dest: PathBuf) {
        if self.staged_or_present(&dest) {
            let _ = if tmp.is_dir() {
                fs::remove_dir_all(&tmp)
            } else {
                fs::remove_file(&tmp)
            };
        } else {
            self.staged.push((tmp, dest));
        }
    }

    /// Stages the uncompressed blob of layer `diff_id` when the store has
    /// it only compressed (pulled from a registry), decompressing and
    /// verifying it. Nothing to do when the tar blob exists or no image
    /// holds the layer (the caller's own check reports that).
    fn materialize_uncompressed(&mut self, diff_id: &str) -> Result<()> {
        let dest = self.store.blob_path(diff_id)?;
        if self.staged_or_present(&dest) {
            return Ok(());
        }
        let source = self.store.images()?.into_iter().find_map(|img| {
            img.layers.into_iter().find(|l| {
                l.diff_id == diff_id
                    && l.digest != diff_id
                    && self.store.blob_path(&l.digest).is_ok_and(|p| p.exists())
            })
        });
        let Some(src) = source else { return Ok(()) };
        let path = self.store.blob_path(&src.digest)?;
        let f = fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut t = TempBlob::create(&self.store.blobs_dir())?;
        let ((), got, _) = blob::hash_pipeline(f, Some(&mut t), |r| {
            io::copy(r, &mut io::sink())
                .map(drop)
                .map_err(|e| Error::io(&path, e))
        })?;
        if got != diff_id {
            return Err(Error::DigestMismatch {
                what: format!("layer {}", src.digest),
                expected: diff_id.to_owned(),
                actual: got,
            });
        }
        t.finish()?;
        self.staged.push((t.into_path(), dest));
        Ok(())
    }

    /// Commits an image whose manifest is kept byte for byte as a registry
    /// served it (so its digest is the registry's): the config and manifest
    /// blobs, every staged blob and layer, then the index, under the lock.
    /// `layer_blobs` are the manifest's layer digests, which must be present
    /// (staged now or already in the store). Returns the image id.
    pub(crate) fn commit_verbatim(
        mut self,
        config: &[u8],
        manifest: &[u8],
        layer_blobs: &[String],
        names: &[String],
    ) -> Result<String> {
        let _lock = self.store.lock()?;
        let id = self.put_blob(config)?;
        let manifest_digest = self.put_blob(manifest)?;
        self.move_into_place()?;
        for d in layer_blobs {
            if !self.store.blob_path(d)?.exists() {
                return Err(Error::format(
                    d,
                    "layer removed by a concurrent rmi or prune; retry",
                ));
            }
        }
        let mut entries = self.store.read_index()?;
        let t = now_rfc3339();
        let size = manifest.len() as u64;
        for n in names {
            set_name(&mut entries, n, &manifest_digest, size, &id, t.clone());
        }
        if !entries.iter().any(|e| e.manifest == manifest_digest) {
            entries.push(Entry {
                manifest: manifest_digest,
                size,
                name: None,
                id: id.clone(),
                tag_time: None,
            });
        }
        self.store.write_index(&entries)?;
        Ok(id)
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        for (tmp, _) in &self.staged {
            let _ = if tmp.is_dir() {
                fs::remove_dir_all(tmp)
            } else {
                fs::remove_file(tmp)
            };
        }
    }
}

/// What `wrun build` writes: layers as it makes them, then the image.
impl Store {
    /// Takes in a layer tar a build made and commits its blob and unpacked
    /// dir at once (no image names it yet: later steps run on it).
    pub fn add_layer_tar<R: Read + Send>(&self, reader: R) -> Result<LayerInfo> {
        let mut txn = Txn::new(self);
        let l = txn.add_layer(reader, None)?;
        let _lock = self.lock()?;
        txn.move_into_place()?;
        Ok(LayerInfo {
            digest: l.diff_id.clone(),
            media_type: MEDIA_LAYER_TAR.into(),
            size: l.size,
            diff_id: l.diff_id,
        })
    }

    /// Writes an image from its raw config bytes and layers (already in
    /// the store) and gives it `names` (any reference form), atomically:
    /// the config, the manifest and every name, or nothing. Returns the id.
    pub fn commit_image(
        &self,
        config: &[u8],
        layers: &[LayerInfo],
        names: &[String],
    ) -> Result<String> {
        parse_config(config, "built image config")?;
        let mut full = Vec::new();
        for n in names {
            let r = Reference::parse_normalized(n)?;
            if r.digest().is_some() {
                return Err(Error::InvalidReference {
                    reference: n.clone(),
                    reason: "an image cannot be tagged with a digest".into(),
                });
            }
            full.push(r.to_string());
        }
        let txn = Txn::new(self);
        let ids = txn.commit(vec![NewImage {
            config: config.to_vec(),
            layers: layers
                .iter()
                .map(|l| AddedLayer {
                    diff_id: l.diff_id.clone(),
                    size: l.size,
                    digest: l.digest.clone(),
                    media_type: l.media_type.clone(),
                })
                .collect(),
            names: full,
        }])?;
        Ok(ids.into_iter().next().expect("one image"))
    }
}

/// Removes a staged directory on drop unless taken.
struct DirGuard(PathBuf);
impl DirGuard {
    fn take(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}
impl Drop for DirGuard {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// The OCI manifest wrun writes for an image: uncompressed layers.
pub(crate) fn build_manifest(
    config_digest: &str,
    config_size: u64,
    layers: &[AddedLayer],
) -> Result<Vec<u8>> {
    let dg = |d: &str| Digest::from_str(d).map_err(|e| Error::format(d, e.to_string()));
    let mut ls = Vec::new();
    for l in layers {
        ls.push(Descriptor::new(
            MediaType::from(l.media_type.as_str()),
            l.size,
            dg(&l.digest)?,
        ));
    }
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            dg(config_digest)?,
        ))
        .layers(ls)
        .build()
        .map_err(|e| Error::format("manifest", e.to_string()))?;
    Ok(serde_json::to_vec(&m).expect("manifest serializes"))
}

/// Parses a config blob, naming it in errors.
pub(crate) fn parse_config(raw: &[u8], what: &str) -> Result<ImageConfiguration> {
    serde_json::from_slice(raw).map_err(|cause| Error::Json {
        what: what.to_owned(),
        cause,
    })
}

/// Builds a name map for tests and listings: full name -> image id.
pub fn names_of(images: &[Image]) -> BTreeMap<String, String> {
    images
        .iter()
        .flat_map(|i| i.names.iter().map(|n| (n.clone(), i.id.clone())))
        .collect()
}

#[cfg(test)]
mod tests;
