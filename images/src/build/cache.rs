//! The build cache, with Docker's rules: a step hits when its parent image
//! and its instruction (after ARG/ENV expansion, with the build args a RUN
//! sees) match an earlier build's; COPY and ADD also depend on the content
//! and mode of every file they copy (not on mtimes). Each record keeps
//! enough of what went into its key to say, on a miss, *why*.
//!
//! Records live in `<root>/images/build-cache/<key>.json`; a record whose
//! layers have been removed from the store is a miss.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What one step's cache key is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyParts {
    /// The id (config digest) of the image the step starts from.
    pub parent: String,
    /// The step as written (before expansion): which step this is.
    pub raw: String,
    /// The step after expansion, plus anything else it depends on
    /// (`|1 VERSION=2 /bin/sh -c …` for RUN, the file digest for COPY).
    pub resolved: String,
    /// Build args in effect (name → value), for explaining misses.
    pub args: BTreeMap<String, String>,
    /// COPY/ADD sources: path → content digest.
    pub files: BTreeMap<String, String>,
}

impl KeyParts {
    /// The key: parent and resolved step (files and args are in `resolved`
    /// through their digest / the RUN prefix).
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.parent.as_bytes());
        h.update(b"\n");
        h.update(self.resolved.as_bytes());
        h.update(b"\n");
        for (k, v) in &self.files {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

/// A cached step: what went in and the image config that came out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub parts: KeyParts,
    /// The config after the step (its digest is the step's image id).
    pub config: String,
    pub created: String,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open(store_dir: &Path) -> std::io::Result<Cache> {
        let dir = store_dir.join("build-cache");
        fs::create_dir_all(&dir)?;
        Ok(Cache { dir })
    }

    pub fn get(&self, parts: &KeyParts) -> Option<Record> {
        let raw = fs::read(self.dir.join(format!("{}.json", parts.key()))).ok()?;
        let r: Record = serde_json::from_slice(&raw).ok()?;
        (r.parts == *parts).then_some(r)
    }

    pub fn put(&self, record: &Record) -> std::io::Result<()> {
        let name = format!("{}.json", record.parts.key());
        // Two builds may write the same record at once: each its own temp.
        let tmp = self.dir.join(crate::blob::temp_name(&name));
        fs::write(&tmp, serde_json::to_vec(record).expect("record serializes"))?;
        fs::rename(&tmp, self.dir.join(name))
    }

    /// Every record built on `parent`.
    fn siblings(&self, parent: &str) -> Vec<Record> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.ends_with(".json") && !n.starts_with(".tmp-")
            })
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<Record>(&b).ok())
            .filter(|r| r.parts.parent == parent)
            .collect()
    }

    /// Why `parts` missed, in a few words, from the closest earlier build of
    /// this step on the same parent.
    pub fn explain_miss(&self, parts: &KeyParts) -> String {
        let sibs = self.siblings(&parts.parent);
        let same_step: Vec<&Record> = sibs.iter().filter(|r| r.parts.raw == parts.raw).collect();
        let Some(prev) = same_step.iter().max_by(|a, b| a.created.cmp(&b.created)) else {
            return match sibs.iter().max_by(|a, b| a.created.cmp(&b.created)) {
                Some(other) => format!("instruction changed (was: {})", other.parts.raw),
                None => "not built before".into(),
            };
        };
        let p = &prev.parts;
        let changed_args: Vec<&String> = parts
            .args
            .iter()
            .filter(|(k, v)| p.args.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .chain(p.args.keys().filter(|k| !parts.args.contains_key(*k)))
            .collect();
        if p.resolved != parts.resolved && !changed_args.is_empty() {
            let names: Vec<&str> = changed_args.iter().map(|s| s.as_str()).collect();
            let s = if names.len() == 1 { "" } else { "s" };
            return format!("build arg{s} {} changed", names.join(", "));
        }
        if p.files != parts.files {
            return describe_file_changes(&p.files, &parts.files);
        }
        if p.resolved != parts.resolved {
            return "environment changed".into();
        }
        "cached layers were removed".into()
    }
}

/// `app.py changed`, `x added`, `y removed` (the first few).
fn describe_file_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let mut parts = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            Some(o) if o == v => {}
            Some(_) => parts.push(format!("{} changed", show(k))),
            None => parts.push(format!("{} added", show(k))),
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            parts.push(format!("{} removed", show(k)));
        }
    }
    let n = parts.len();
    if n > 3 {
        parts.truncate(3);
        parts.push(format!("and {} more", n - 3));
    }
    if parts.is_empty() {
        "files changed".into()
    } else {
        parts.join(", ")
    }
}

fn show(k: &str) -> &str {
    if k.is_empty() { "." } else { k }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(files: &[(&str, &str)], args: &[(&str, &str)]) -> KeyParts {
        let args: BTreeMap<String, String> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KeyParts {
            parent: "sha256:p".into(),
            raw: "COPY . .".into(),
            resolved: format!("COPY . . {args:?}"),
            args,
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn record(p: &KeyParts) -> Record {
        Record {
            parts: p.clone(),
            config: "{}".into(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn same_parent_step_and_files_hit() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path()).unwrap();
        let p = parts(&[("app.py", "h1")], &[]);
        c.put(&record(&p)).unwrap();
        assert!(c.get(&p).is_some());
    }

    #[test]
    fn changed_file_misses_and_is_named() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path()).unwrap();
        c.put(&record(&parts(&[("app.py", "h1"), ("r.txt", "h2")], &[])))
            .unwrap();
        let now = parts(&[("app.py", "h3"), ("r.txt", "h2"), ("new.py", "h4")], &[]);
        assert!(c.get(&now).is_none());
        assert_eq!(c.explain_miss(&now), "app.py changed, new.py added");
    }

    #[test]
    fn changed_build_arg_misses_and_is_named() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path()).unwrap();
        c.put(&record(&parts(&[], &[("VERSION", "1")]))).unwrap();
        let now = parts(&[], &[("VERSION", "2")]);
        assert!(c.get(&now).is_none());
        assert_eq!(c.explain_miss(&now), "build arg VERSION changed");
    }

    #[test]
    fn other_parent_misses() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path()).unwrap();
        let p = parts(&[], &[]);
        c.put(&record(&p)).unwrap();
        let mut q = p.clone();
        q.parent = "sha256:other".into();
        assert!(c.get(&q).is_none());
        assert_eq!(c.explain_miss(&q), "not built before");
        let mut r = p.clone();
        r.raw = "COPY a b".into();
        r.resolved = "COPY a b".into();
        assert_eq!(c.explain_miss(&r), "instruction changed (was: COPY . .)");
    }
}
