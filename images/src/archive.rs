//! `wrun load` and `wrun save`: image archives in and out.
//!
//! **In**: a docker-archive (`manifest.json` listing each image's config,
//! `RepoTags` and layer tars — as `docker save` and `podman save` write it,
//! layers plain or gzipped, possibly symlinks into `blobs/` as Docker 25+
//! writes them) or an oci-archive (an OCI image layout in a tar: `index.json`,
//! `oci-layout`, `blobs/`). The archive itself may be gzipped. Because
//! `manifest.json` usually comes *last* and the input may be a pipe, the
//! archive's files are indexed in place (a plain tar file, read by offset) or
//! spooled to a temporary directory inside the store (a pipe or a gzipped
//! archive; cleaned up on every path); then every config is verified against
//! its digest and every layer against its diff_id while it is unpacked.
//!
//! **Out**: a docker-archive that is also an OCI layout, as Docker 25+
//! writes it: `blobs/sha256/*`, `index.json`, `oci-layout`, `manifest.json`
//! and `repositories`, with uncompressed layers — readable by `docker load`,
//! `podman load` and `skopeo` (`docker-archive:` and `oci-archive:`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde::{Deserialize, Serialize};

use crate::blob::{self, digest_of};
use crate::reference::{self, Reference};
use crate::store::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, NewImage, Store, Txn, parse_config,
};
use crate::unpack::clean_path;
use crate::{Error, Result};

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveManifestEntry {
    pub config: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// What `load` took in: for each image its id and familiar names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: String,
    pub names: Vec<String>,
}

/// Loads every image of the archive read from `reader`; `file` names the
/// archive in errors. On error the store is unchanged.
pub fn load<R: Read>(store: &Store, reader: R, file: &str) -> Result<Vec<Loaded>> {
    load_inner(store, reader).map_err(|e| e.in_file(file))
}

/// Loads the archive at `path`. A plain tar file is read in place (no
/// copy); a compressed one is spooled like a stream.
pub fn load_path(store: &Store, path: &Path) -> Result<Vec<Loaded>> {
    let file = path.display().to_string();
    Spool::from_path(store, path)
        .and_then(|spool| load_spool(store, &spool))
        .map_err(|e| e.in_file(&file))
}

fn load_inner<R: Read>(store: &Store, reader: R) -> Result<Vec<Loaded>> {
    let spool = Spool::from_reader(store, reader)?;
    load_spool(store, &spool)
}

fn load_spool(store: &Store, spool: &Spool) -> Result<Vec<Loaded>> {
    let mut txn = Txn::new(store);
    let images = if spool.has("manifest.json") {
        load_docker(spool, &mut txn)?
    } else if spool.has("index.json") {
        load_oci(spool, &mut txn)?
    } else {
        return Err(Error::format(
            "archive",
            "neither manifest.json nor index.json found: not a docker-archive or oci-archive",
        ));
    };
    if images.is_empty() {
        return Err(Error::format("archive", "no images in archive"));
    }
    let names: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            i.names
                .iter()
                .map(|n| reference::familiar_name(n))
                .collect()
        })
        .collect();
    let ids = txn.commit(images)?;
    Ok(ids
        .into_iter()
        .zip(names)
        .map(|(id, names)| Loaded { id, names })
        .collect())
}

fn normalize_names(tags: &[String]) -> Result<Vec<String>> {
    tags.iter()
        .map(|t| Ok(Reference::parse_normalized(t)?.without_digest().to_string()))
        .collect()
}

fn load_docker(spool: &Spool, txn: &mut Txn<'_>) -> Result<Vec<NewImage>> {
    let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(&spool.read("manifest.json")?)
        .map_err(|cause| Error::Json {
            what: "manifest.json".into(),
            cause,
        })?;
    let mut out = Vec::new();
    for e in entries {
        let config = spool.read(&e.config)?;
        // Docker names configs `<hex>.json` or `blobs/sha256/<hex>`: check it.
        let id = digest_of(&config);
        let stem = Path::new(&e.config)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        if reference::is_hex64(stem) && id != format!("sha256:{stem}") {
            return Err(Error::DigestMismatch {
                what: e.config.clone(),
                expected: format!("sha256:{stem}"),
                actual: id,
            });
        }
        let cfg = parse_config(&config, &e.config)?;
        let diff_ids = cfg.rootfs().diff_ids().clone();
        if diff_ids.len() != e.layers.len() {
            return Err(Error::format(
                &e.config,
                format!(
                    "config lists {} layers, manifest.json {}",
                    diff_ids.len(),
                    e.layers.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (path, diff) in e.layers.iter().zip(&diff_ids) {
            let f = spool.open(path)?;
            let l = txn
                .add_layer(f, Some(diff))
                .map_err(|err| err.in_file(path))?;
            layers.push(l);
        }
        out.push(NewImage {
            config,
            layers,
            names: normalize_names(&e.repo_tags)?,
        });
    }
    Ok(out)
}

fn load_oci(spool: &Spool, txn: &mut Txn<'_>) -> Result<Vec<NewImage>> {
    let idx: ImageIndex =
        serde_json::from_slice(&spool.read("index.json")?).map_err(|cause| Error::Json {
            what: "index.json".into(),
            cause,
        })?;
    let mut out = Vec::new();
    // Names may sit on the top-level descriptor of a nested index.
    let mut todo: Vec<(oci_spec::image::Descriptor, Option<String>)> = idx
        .manifests()
        .iter()
        .map(|d| (d.clone(), oci_name(d)))
        .collect();
    while let Some((d, name)) = todo.pop() {
        let digest = d.digest().to_string();
        let path = blob_path_in_layout(&digest)?;
        let raw = spool.read(&path)?;
        verify(&raw, &digest, &path)?;
        match d.media_type() {
            MediaType::ImageIndex => {
                let sub: ImageIndex =
                    serde_json::from_slice(&raw).map_err(|cause| Error::Json {
                        what: path.clone(),
                        cause,
                    })?;
                let pick = pick_platform(sub.manifests())
                    .ok_or_else(|| Error::format(&path, "no linux image for this architecture"))?;
                todo.push((pick.clone(), name.or_else(|| oci_name(pick))));
            }
            _ => {
                let m: ImageManifest =
                    serde_json::from_slice(&raw).map_err(|cause| Error::Json {
                        what: path.clone(),
                        cause,
                    })?;
                let cdigest = m.config().digest().to_string();
                let cpath = blob_path_in_layout(&cdigest)?;
                let config = spool.read(&cpath)?;
                verify(&config, &cdigest, &cpath)?;
                let cfg = parse_config(&config, &cpath)?;
                let diff_ids = cfg.rootfs().diff_ids().clone();
                if diff_ids.len() != m.layers().len() {
                    return Err(Error::format(
                        &cpath,
                        "config and manifest disagree on layers",
                    ));
                }
                let mut layers = Vec::new();
                for (l, diff) in m.layers().iter().zip(&diff_ids) {
                    let lpath = blob_path_in_layout(l.digest().as_ref())?;
                    let f = spool.open(&lpath)?;
                    layers.push(
                        txn.add_layer(f, Some(diff))
                            .map_err(|e| e.in_file(&lpath))?,
                    );
                }
                let names = match name {
                    Some(n) => normalize_names(&[n])?,
                    None => Vec::new(),
                };
                out.push(NewImage {
                    config,
                    layers,
                    names,
                });
            }
        }
    }
    out.reverse();
    Ok(out)
}

/// The image name an OCI index descriptor carries, if it is a full
/// reference (a bare tag like `latest` names nothing on its own).
fn oci_name(d: &oci_spec::image::Descriptor) -> Option<String> {
    let ann = d.annotations().as_ref()?;
    if let Some(n) = ann.get(ANNOTATION_CONTAINERD_NAME) {
        return Some(n.clone());
    }
    ann.get(ANNOTATION_REF_NAME)
        .filter(|n| n.contains(':') || n.contains('/'))
        .filter(|n| Reference::parse(n).is_ok())
        .cloned()
}

fn pick_platform(ds: &[oci_spec::image::Descriptor]) -> Option<&oci_spec::image::Descriptor> {
    let arch = crate::import::host_arch();
    ds.iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .or_else(|| ds.iter().find(|d| d.platform().is_none()))
}

fn blob_path_in_layout(digest: &str) -> Result<String> {
    match digest.split_once(':') {
        Some(("sha256", h)) if reference::is_hex64(h) => Ok(format!("blobs/sha256/{h}")),
        _ => Err(Error::format(digest, "unsupported digest")),
    }
}

fn verify(data: &[u8], digest: &str, what: &str) -> Result<()> {
    let got = digest_of(data);
    if got == digest {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: digest.to_owned(),
            actual: got,
        })
    }
}

/// The largest manifest, index or config accepted (real ones are a few kB).
const MAX_JSON: u64 = 64 << 20;

/// Where one of the archive's files can be read.
#[derive(Debug)]
enum Loc {
    /// Copied to the temporary directory (the input was a pipe or gzip).
    Spooled(PathBuf),
    /// In place, in a seekable plain tar file.
    InArchive { offset: u64, size: u64 },
}

/// The archive's regular files by cleaned path, with symlinks and hard links
/// resolved to them: read in place from a plain tar file, or else spooled to
/// a temporary directory inside the store (removed on drop).
#[derive(Debug)]
struct Spool {
    dir: Option<PathBuf>,
    archive: Option<PathBuf>,
    files: HashMap<String, Loc>,
    links: HashMap<String, String>,
}

fn corrupt(source: io::Error) -> Error {
    Error::Corrupt { cause: source }
}

/// What an archive entry is, by its cleaned path.
enum Kind {
    File,
    Symlink(PathBuf),
    Hard(PathBuf),
    Other,
}

fn entry_info<R: Read>(entry: &tar::Entry<'_, R>) -> Result<(String, Kind)> {
    let raw = entry.path().map_err(corrupt)?.into_owned();
    let key = clean_path(&raw).map_err(|reason| Error::UnsafeEntry {
        entry: raw.display().to_string(),
        reason,
    })?;
    let key = key.to_string_lossy().into_owned();
    let link = || -> Result<PathBuf> {
        Ok(entry
            .link_name()
            .map_err(corrupt)?
            .map(|l| l.into_owned())
            .unwrap_or_default())
    };
    let kind = match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
        tar::EntryType::Symlink => Kind::Symlink(link()?),
        tar::EntryType::Link => Kind::Hard(link()?),
        _ => Kind::Other,
    };
    Ok((key, kind))
}

fn truncated(key: &str) -> Error {
    corrupt(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("entry \"{key}\" is truncated"),
    ))
}

impl Spool {
    fn empty(dir: Option<PathBuf>, archive: Option<PathBuf>) -> Spool {
        Spool {
            dir,
            archive,
            files: HashMap::new(),
            links: HashMap::new(),
        }
    }

    fn link(&mut self, key: String, kind: Kind) {
        match kind {
            Kind::Symlink(t) => {
                let parent = Path::new(&key)
                    .parent()
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                self.links.insert(key, lexical_join(&parent, &t));
            }
            Kind::Hard(t) => {
                self.links.insert(key, lexical_join(Path::new(""), &t));
            }
            Kind::File | Kind::Other => {}
        }
    }

    /// Indexes a plain tar file without copying it; a compressed one is spooled.
    fn from_path(store: &Store, path: &Path) -> Result<Spool> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 4];
        let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        if blob::sniff(&head[..n]) != blob::Compression::None {
            return Spool::from_reader(store, f);
        }
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut spool = Spool::empty(None, Some(path.to_path_buf()));
        let mut ar = tar::Archive::new(f);
        for entry in ar.entries_with_seek().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            let (key, kind) = entry_info(&entry)?;
            if let Kind::File = kind {
                let (offset, size) = (entry.raw_file_position(), entry.size());
                // Seeking past the end hides a cut-off file: check it is all there.
                if offset + size > len {
                    return Err(truncated(&key));
                }
                spool.files.insert(key, Loc::InArchive { offset, size });
            } else {
                spool.link(key, kind);
            }
        }
        Ok(spool)
    }

    /// Copies the files of a (possibly gzipped) tar stream to a temporary
    /// directory inside the store.
    fn from_reader<R: Read>(store: &Store, reader: R) -> Result<Spool> {
        let dir = store.dir().join(blob::temp_name("load"));
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut spool = Spool::empty(Some(dir.clone()), None);
        let plain =
            blob::decompress(BufReader::with_capacity(256 * 1024, reader)).map_err(corrupt)?;
        let mut ar = tar::Archive::new(plain);
        for (n, entry) in ar.entries().map_err(corrupt)?.enumerate() {
            let mut entry = entry.map_err(corrupt)?;
            let (key, kind) = entry_info(&entry)?;
            if let Kind::File = kind {
                let p = dir.join(format!("f{n}"));
                let mut f = File::create(&p).map_err(|e| Error::io(&p, e))?;
                let copied = io::copy(&mut entry, &mut f).map_err(corrupt)?;
                if copied != entry.size() {
                    return Err(truncated(&key));
                }
                spool.files.insert(key, Loc::Spooled(p));
            } else {
                spool.link(key, kind);
            }
        }
        Ok(spool)
    }

    fn resolve(&self, name: &str) -> Option<&Loc> {
        let mut key = clean_path(Path::new(name))
            .ok()?
            .to_string_lossy()
            .into_owned();
        for _ in 0..16 {
            if let Some(l) = self.files.get(&key) {
                return Some(l);
            }
            key = self.links.get(&key)?.clone();
        }
        None
    }

    fn has(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        let loc = self
            .resolve(name)
            .ok_or_else(|| Error::format(name, "missing from archive"))?;
        match loc {
            Loc::Spooled(p) => Ok(Box::new(File::open(p).map_err(|e| Error::io(p, e))?)),
            Loc::InArchive { offset, size } => {
                let p = self
                    .archive
                    .as_ref()
                    .expect("in-place files come from a file");
                let mut f = File::open(p).map_err(|e| Error::io(p, e))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| Error::io(p, e))?;
                Ok(Box::new(f.take(*size)))
            }
        }
    }

    /// Reads a small JSON file (manifest, index, config), refusing one
    /// larger than [`MAX_JSON`] rather than trying to hold it in memory.
    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut v)
            .map_err(|e| Error::io(name, e))?;
        if v.len() as u64 > MAX_JSON {
            return Err(Error::format(name, format!("larger than {MAX_JSON} bytes")));
        }
        Ok(v)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// `parent/target` with `.` and `..` applied lexically (never above the
/// archive root); absolute targets are relative to the archive root.
fn lexical_join(parent: &Path, target: &Path) -> String {
    let mut parts: Vec<String> = if target.is_absolute() {
        Vec::new()
    } else {
        parent
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    for c in target.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Writes a docker-archive (that is also an OCI layout) of the images named
/// by `references` to `out`. As with Docker, an image named by `name:tag` is
/// saved with that name, a bare repository saves all its tags, and an id
/// saves the image without a name. Nothing is written unless every
/// reference resolves.
pub fn save<W: Write>(store: &Store, references: &[String], out: W) -> Result<()> {
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    let mut index = Vec::new();
    let mut by_id: Vec<(String, usize)> = Vec::new();
    // Resolve everything before writing a byte.
    let mut targets: Vec<(crate::Image, Option<Reference>)> = Vec::new();
    for r in references {
        let bare = Reference::parse(r)
            .ok()
            .filter(|p| p.tag().is_none() && p.digest().is_none());
        if let Some(repo) = bare {
            // As Docker: a repository without a tag saves every tag of it.
            let mut hits = Vec::new();
            for img in store.images()? {
                for n in img.names.iter().filter_map(|n| Reference::parse(n).ok()) {
                    if n.repository() == repo.repository() {
                        hits.push((img.clone(), Some(n)));
                    }
                }
            }
            if !hits.is_empty() {
                targets.extend(hits);
                continue;
            }
        }
        let img = store.lookup(r)?;
        let name = Reference::parse_normalized(r)
            .ok()
            .filter(|n| n.digest().is_none() && img.names.contains(&n.to_string()));
        targets.push((img, name));
    }
    for (img, name) in targets {
        let pos = match by_id.iter().find(|(id, _)| *id == img.id) {
            Some((_, p)) => *p,
            None => {
                for l in &img.layers {
                    blobs.insert(l.digest.clone());
                }
                blobs.insert(img.id.clone());
                blobs.insert(img.manifest_digest.clone());
                manifest_json.push(ArchiveManifestEntry {
                    config: format!("blobs/sha256/{}", hex(&img.id)),
                    repo_tags: Vec::new(),
                    layers: img
                        .layers
                        .iter()
                        .map(|l| format!("blobs/sha256/{}", hex(&l.digest)))
                        .collect(),
                });
                by_id.push((img.id.clone(), manifest_json.len() - 1));
                manifest_json.len() - 1
            }
        };
        let manifest_size = store.read_blob(&img.manifest_digest)?.len() as u64;
        let mut ann = serde_json::Map::new();
        if let Some(n) = &name {
            let fam = n.familiar();
            if !manifest_json[pos].repo_tags.contains(&fam) {
                manifest_json[pos].repo_tags.push(fam);
            }
            if let (Some(tag), Some(top)) = (n.tag(), img.layers.last()) {
                repositories
                    .entry(n.familiar_repository())
                    .or_default()
                    .insert(tag.to_owned(), hex(&top.digest).to_owned());
            }
            ann.insert(ANNOTATION_CONTAINERD_NAME.into(), n.to_string().into());
            ann.insert(
                ANNOTATION_REF_NAME.into(),
                n.tag().unwrap_or("latest").into(),
            );
        }
        let mut d = serde_json::json!({
            "mediaType": MediaType::ImageManifest.to_string(),
            "digest": img.manifest_digest,
            "size": manifest_size,
        });
        if !ann.is_empty() {
            d["annotations"] = ann.into();
        }
        if !index.contains(&d) {
            index.push(d);
        }
    }
    let mut tar = tar::Builder::new(out);
    // Fixed mtimes: saving the same images twice gives the same bytes.
    let mtime = 0;
    let wr = |e: io::Error| Error::io("archive", e);
    for d in ["blobs", "blobs/sha256"] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(mtime);
        tar.append_data(&mut h, d, io::empty()).map_err(wr)?;
    }
    for b in &blobs {
        let p = store.blob_path(b)?;
        let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
        let len = f.metadata().map_err(|e| Error::io(&p, e))?.len();
        let mut h = file_header(len, mtime);
        tar.append_data(&mut h, format!("blobs/sha256/{}", hex(b)), f)
            .map_err(wr)?;
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex.to_string(),
        "manifests": index,
    });
    let files: [(&str, Vec<u8>); 4] = [
        ("index.json", serde_json::to_vec(&index).expect("json")),
        (
            "manifest.json",
            serde_json::to_vec(&manifest_json).expect("json"),
        ),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (
            "repositories",
            serde_json::to_vec(&repositories).expect("json"),
        ),
    ];
    for (name, data) in files {
        if name == "repositories" && repositories.is_empty() {
            continue;
        }
        let mut h = file_header(data.len() as u64, mtime);
        tar.append_data(&mut h, name, &data[..]).map_err(wr)?;
    }
    tar.into_inner().map_err(wr)?.flush().map_err(wr)?;
    Ok(())
}

fn file_header(len: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(len);
    h.set_mtime(mtime);
    h
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}
