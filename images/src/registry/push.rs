//! `push`: an image in the store → a repository in a registry.
//!
//! An image wrun pulled keeps the registry's manifest and compressed
//! blobs, and is pushed byte for byte (same digest). An image wrun loaded,
//! imported or built has uncompressed layers: each is compressed (gzip in
//! parallel chunks, or zstd) and a new OCI manifest lists the compressed
//! blobs. What wrun learns about compressed forms is kept (see
//! `distribution`), so pushing again needs no compression to find the
//! digests. For each blob, in order of preference: the registry has it
//! (`HEAD`) → skipped; wrun knows another repository of the same registry
//! holding it → cross-repository mount; else upload (`POST` then one
//! `PUT ?digest=`). Compression of the next layer overlaps the upload of
//! the previous one. The manifest is uploaded last, so the tag never names
//! an incomplete image.

use std::sync::mpsc;

use serde::Serialize;

use super::client::{Body, Client, Endpoint, error_detail};
use super::compress;
use super::distribution::{self, Known};
use super::manifest::{self, Descriptor, Document, LayerCompression};
use super::{Error, Result};
use crate::reference::Reference;
use crate::store::Store;

/// How uncompressed layers are compressed for the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => manifest::OCI_LAYER_GZIP,
            Compression::Zstd => manifest::OCI_LAYER_ZSTD,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub compression: Compression,
}

/// Per-layer progress, with Docker's wording in mind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    Preparing {
        id: String,
    },
    Pushing {
        id: String,
        current: u64,
        total: u64,
    },
    Pushed {
        id: String,
    },
    AlreadyExists {
        id: String,
    },
    /// Mounted from another repository (`from`, its path).
    Mounted {
        id: String,
        from: String,
    },
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The tag pushed.
    pub tag: String,
    /// The manifest's digest in the registry.
    pub digest: String,
    /// The manifest's size.
    pub size: u64,
    /// Blobs uploaded (layers and config).
    pub uploaded: usize,
}

/// A blob to put in the registry: where its bytes come from.
struct Blob {
    desc: Descriptor,
    /// The layer's diff_id (None for the config).
    diff_id: Option<String>,
    /// The bytes, when already in memory (config, compressed layers).
    data: Option<Vec<u8>>,
    /// An uncompressed layer blob to compress first (store digest).
    compress_from: Option<String>,
    /// Progress id (short of the diff_id for layers, as Docker shows).
    id: String,
}

#[derive(Serialize)]
struct OutManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

/// Pushes the image named `reference` (it must have a tag) to its registry.
pub fn push(
    client: &Client,
    store: &Store,
    reference: &Reference,
    opts: &PushOptions,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<Pushed> {
    let r = reference.clone().with_default_tag();
    let tag = r
        .tag()
        .ok_or_else(|| {
            Error::bad(
                r.familiar(),
                "push needs a tag, not a digest: tag the image first",
            )
        })?
        .to_owned();
    let img = match store.lookup(&r.to_string()) {
        Ok(i) => i,
        Err(crate::Error::ImageNotFound { .. }) => {
            return Err(Error::bad(
                "An image does not exist locally with the tag",
                r.familiar_repository(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let ep = client.endpoints(&r).pop().expect("an endpoint");
    let raw = store.read_blob(&img.manifest_digest)?;
    let Document::Manifest {
        media_type,
        config,
        layers,
    } = manifest::parse(&raw, None, &format!("manifest {}", img.manifest_digest))?
    else {
        return Err(Error::bad(
            &img.manifest_digest,
            "stored manifest is an index",
        ));
    };
    let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
    let verbatim = layers
        .iter()
        .all(|l| manifest::layer_compression(&l.media_type) != Some(LayerCompression::None));

    // Plan the blobs; layers first, config last (as Docker does).
    let mut blobs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (l, diff_id) in layers.iter().zip(&diff_ids) {
        let id = super::pull::short(diff_id);
        if manifest::layer_compression(&l.media_type) != Some(LayerCompression::None) {
            if seen.insert(l.digest.clone()) {
                blobs.push(Blob {
                    desc: l.clone(),
                    diff_id: Some(diff_id.clone()),
                    data: None,
                    compress_from: None,
                    id,
                });
            }
            continue;
        }
        // Uncompressed: a known compressed form, or compress it.
        let mt = opts.compression.media_type();
        let known = distribution::lookup(store, diff_id)
            .into_iter()
            .find(|k| k.media_type == mt);
        let desc = match &known {
            Some(k) => Descriptor {
                media_type: mt.into(),
                digest: k.digest.clone(),
                size: k.size,
                platform: None,
                urls: None,
            },
            None => Descriptor {
                media_type: mt.into(),
                digest: String::new(),
                size: 0,
                platform: None,
                urls: None,
            },
        };
        blobs.push(Blob {
            desc,
            diff_id: Some(diff_id.clone()),
            data: None,
            compress_from: Some(l.digest.clone()),
            id,
        });
    }
    for b in &blobs {
        progress(PushEvent::Preparing { id: b.id.clone() });
    }

    let scope = format!("repository:{}:pull,push", ep.repository);
    let mut uploaded = 0;
    // Compression on this thread, uploads on another: they overlap.
    let (tx, rx) = mpsc::sync_channel::<Blob>(1);
    let mut final_layers: Vec<Option<Descriptor>> = vec![None; blobs.len()];
    let upload_result = std::thread::scope(|s| -> Result<()> {
        let uploader = s.spawn(|| -> Result<(usize, Vec<(String, Descriptor)>)> {
            let mut n = 0;
            let mut done = Vec::new();
            for b in rx {
                if put_blob(client, store, &ep, &scope, &b, progress)? {
                    n += 1;
                }
                if let Some(d) = &b.diff_id {
                    done.push((d.clone(), b.desc.clone()));
                }
            }
            Ok((n, done))
        });
        let mut send_err = None;
        for (i, mut b) in blobs.into_iter().enumerate() {
            if let Some(src) = b.compress_from.clone() {
                let already =
                    !b.desc.digest.is_empty() && exists(client, &ep, &scope, &b.desc.digest)?;
                if !already {
                    let plain = store.read_blob(&src)?;
                    let data = match opts.compression {
                        Compression::Gzip => compress::gzip(&plain, compress::GZIP_LEVEL),
                        Compression::Zstd => {
                            compress::zstd(&plain, compress::ZSTD_LEVEL).map_err(|e| {
                                Error::bad(format!("layer {src}"), format!("zstd: {e}"))
                            })?
                        }
                    };
                    b.desc.digest = crate::blob::digest_of(&data);
                    b.desc.size = data.len() as u64;
                    b.data = Some(data);
                }
            }
            final_layers[i] = Some(b.desc.clone());
            if tx.send(b).is_err() {
                send_err = Some(());
                break;
            }
        }
        drop(tx);
        let (n, done) = uploader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let _ = send_err;
        uploaded = n;
        let repo = format!("{}/{}", ep.domain, ep.repository);
        for (diff_id, d) in done {
            let k = Known {
                digest: d.digest.clone(),
                size: d.size,
                media_type: d.media_type.clone(),
                repos: Vec::new(),
            };
            distribution::record(store, &diff_id, &k, &repo);
        }
        Ok(())
    });
    upload_result?;

    // The config.
    let config_bytes = store.read_blob(&config.digest)?;
    let cfg_blob = Blob {
        desc: config.clone(),
        diff_id: None,
        data: Some(config_bytes),
        compress_from: None,
        id: super::pull::short(&config.digest),
    };
    if put_blob(client, store, &ep, &scope, &cfg_blob, &|_| {})? {
        uploaded += 1;
    }

    // The manifest, last.
    let (manifest_bytes, mtype) = if verbatim {
        (raw, media_type)
    } else {
        // Layers in manifest order, each resolved to its pushed descriptor.
        let by_diff: std::collections::HashMap<String, Descriptor> = diff_ids
            .iter()
            .zip(final_layers.iter())
            .filter_map(|(d, l)| l.clone().map(|l| (d.clone(), l)))
            .collect();
        let layers_out: Vec<Descriptor> = layers
            .iter()
            .zip(&diff_ids)
            .map(|(l, d)| {
                if manifest::layer_compression(&l.media_type) != Some(LayerCompression::None) {
                    l.clone()
                } else {
                    by_diff.get(d).cloned().expect("every layer planned")
                }
            })
            .collect();
        let cfg_desc = Descriptor {
            media_type: manifest::OCI_CONFIG.into(),
            digest: config.digest.clone(),
            size: config.size,
            platform: None,
            urls: None,
        };
        let m = OutManifest {
            schema_version: 2,
            media_type: manifest::OCI_MANIFEST,
            config: &cfg_desc,
            layers: &layers_out,
        };
        (
            serde_json::to_vec(&m).expect("manifest serializes"),
            manifest::OCI_MANIFEST.to_owned(),
        )
    };
    let digest = crate::blob::digest_of(&manifest_bytes);
    let url = ep.url(&format!("manifests/{tag}"));
    let mut resp = client.send(
        &ep,
        &scope,
        "PUT",
        &url,
        &[("Content-Type", mtype.as_str())],
        Body::Bytes(&manifest_bytes),
    )?;
    let status = resp.status().as_u16();
    let announced = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status != 201 && status != 200 {
        let body = read_small(&mut resp);
        return Err(status_error(&r, "PUT", &url, status, &body));
    }
    if let Some(a) = announced
        && a != digest
    {
        return Err(Error::DigestMismatch {
            what: format!("manifest pushed to {}", r.familiar()),
            expected: digest,
            actual: a,
        });
    }
    Ok(Pushed {
        tag,
        digest,
        size: manifest_bytes.len() as u64,
        uploaded,
    })
}

fn read_small(resp: &mut ureq::http::Response<ureq::Body>) -> Vec<u8> {
    resp.body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap_or_default()
}

fn status_error(r: &Reference, method: &str, url: &str, status: u16, body: &[u8]) -> Error {
    if status == 401 || status == 403 {
        return Error::PushDenied {
            repository: r.familiar_repository(),
            detail: error_detail(body, "denied: requested access to the resource is denied"),
        };
    }
    Error::Status {
        method: super::client::go_method(method),
        url: url.to_owned(),
        status,
        detail: error_detail(body, ""),
    }
}

fn exists(client: &Client, ep: &Endpoint, scope: &str, digest: &str) -> Result<bool> {
    let url = ep.url(&format!("blobs/{digest}"));
    let resp = client.send(ep, scope, "HEAD", &url, &[], Body::Empty)?;
    Ok(resp.status().as_u16() == 200)
}

/// Puts one blob: skipped if present, mounted if wrun knows a source
/// repository on the same registry, else uploaded. True when uploaded.
fn put_blob(
    client: &Client,
    store: &Store,
    ep: &Endpoint,
    scope: &str,
    b: &Blob,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<bool> {
    let r = Reference::parse_normalized(&format!("{}/{}", ep.domain, ep.repository))
        .map_err(Error::Store)?;
    let id = b.id.clone();
    if exists(client, ep, scope, &b.desc.digest)? {
        progress(PushEvent::AlreadyExists { id });
        return Ok(false);
    }
    // A mount from another repository of this registry.
    if let Some(diff_id) = &b.diff_id {
        let here = format!("{}/{}", ep.domain, ep.repository);
        let prefix = format!("{}/", ep.domain);
        let sources: Vec<String> = distribution::lookup(store, diff_id)
            .into_iter()
            .filter(|k| k.digest == b.desc.digest)
            .flat_map(|k| k.repos)
            .filter(|repo| repo != &here && repo.starts_with(&prefix))
            .collect();
        for src in sources {
            let from = &src[prefix.len()..];
            let mscope = format!("{scope} repository:{from}:pull");
            let url = format!(
                "{}/v2/{}/blobs/uploads/?mount={}&from={}",
                ep.base,
                ep.repository,
                b.desc.digest,
                super::client::encode(from)
            );
            let resp = client.send(ep, &mscope, "POST", &url, &[], Body::Empty)?;
            if resp.status().as_u16() == 201 {
                progress(PushEvent::Mounted {
                    id,
                    from: from.to_owned(),
                });
                return Ok(false);
            }
        }
    }
    // Upload: the bytes in memory, or the stored (compressed) blob.
    let owned;
    let data: &[u8] = match &b.data {
        Some(d) => d,
        None => {
            owned = store.read_blob(&b.desc.digest)?;
            &owned
        }
    };
    let start = format!("{}/v2/{}/blobs/uploads/", ep.base, ep.repository);
    let mut resp = client.send(ep, scope, "POST", &start, &[], Body::Empty)?;
    let status = resp.status().as_u16();
    if status != 202 {
        let body = read_small(&mut resp);
        return Err(status_error(&r, "POST", &start, status, &body));
    }
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::bad(&start, "upload started without a Location"))?
        .to_owned();
    let loc = if loc.starts_with('/') {
        format!("{}{loc}", ep.base)
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let put = format!("{loc}{sep}digest={}", super::client::encode(&b.desc.digest));
    progress(PushEvent::Pushing {
        id: id.clone(),
        current: 0,
        total: data.len() as u64,
    });
    let mut resp = client.send(
        ep,
        scope,
        "PUT",
        &put,
        &[("Content-Type", "application/octet-stream")],
        Body::Bytes(data),
    )?;
    let status = resp.status().as_u16();
    if status != 201 {
        let body = read_small(&mut resp);
        return Err(status_error(&r, "PUT", &put, status, &body));
    }
    progress(PushEvent::Pushing {
        id: id.clone(),
        current: data.len() as u64,
        total: data.len() as u64,
    });
    progress(PushEvent::Pushed { id });
    Ok(true)
}
