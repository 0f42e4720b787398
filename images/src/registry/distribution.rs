//! What wrun knows about a layer's compressed forms in registries, so a
//! push need not compress again to learn a digest, and can mount a blob
//! from another repository of the same registry (Docker keeps the same in
//! its `distribution/v2metadata-by-diffid`).
//!
//! `<root>/images/distribution/<diff_id hex>.json`:
//! `{"blobs":[{"digest":"sha256:…","size":N,"mediaType":"…","repos":["host/repo"]}]}`.
//! A cache: losing it costs a compression and an upload, nothing else, so
//! it is written atomically but not fsynced, and read leniently.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::Store;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Known {
    pub digest: String,
    pub size: u64,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(default)]
    pub repos: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    blobs: Vec<Known>,
}

fn path(store: &Store, diff_id: &str) -> Option<PathBuf> {
    let hex = diff_id.strip_prefix("sha256:")?;
    crate::reference::is_hex64(hex)
        .then(|| store.dir().join("distribution").join(format!("{hex}.json")))
}

/// The compressed forms of `diff_id` wrun has seen.
pub(crate) fn lookup(store: &Store, diff_id: &str) -> Vec<Known> {
    path(store, diff_id)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|d| serde_json::from_slice::<File>(&d).ok())
        .map(|f| f.blobs)
        .unwrap_or_default()
}

/// Records that `repo` (`host/path`) holds blob `k` of layer `diff_id`.
pub(crate) fn record(store: &Store, diff_id: &str, k: &Known, repo: &str) {
    let Some(p) = path(store, diff_id) else {
        return;
    };
    let mut blobs = lookup(store, diff_id);
    match blobs.iter_mut().find(|b| b.digest == k.digest) {
        Some(b) => {
            if !b.repos.iter().any(|r| r == repo) {
                b.repos.push(repo.to_owned());
            }
        }
        None => {
            let mut n = k.clone();
            n.repos = vec![repo.to_owned()];
            blobs.push(n);
        }
    }
    let Some(dir) = p.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let data = serde_json::to_vec(&File { blobs }).expect("serializes");
    let tmp = dir.join(crate::blob::temp_name("dist"));
    if std::fs::write(&tmp, data).is_ok() && std::fs::rename(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
