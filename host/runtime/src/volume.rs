//! Named volumes: directories wrun owns, kept apart from any container.
//!
//! ```text
//! <root>/volumes/<name>/volume.json   name, driver, labels, created, anonymous
//! <root>/volumes/<name>/_data/        what containers mount
//! ```
//!
//! As in Docker, a volume is created on first use (`-v NAME:/path`) and,
//! the first time it is mounted while empty, filled with what the image has
//! at that path (owners, modes and links kept), so a PostgreSQL image's
//! prepared data directory keeps its ownership. An anonymous volume
//! (`-v /path`) gets a random 64-hex name; the container records it so
//! `rm -v` removes it. A volume a container's bundle mounts is in use and
//! is not removed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File in a container's directory naming its anonymous volumes.
pub const ANONYMOUS_FILE: &str = "anonymous-volumes";

/// What can go wrong with volumes; messages are Docker's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Error response from daemon: get {0}: no such volume")]
    NotFound(String),
    #[error(
        "Error response from daemon: remove {name}: volume is in use - [{}]",
        .containers.join(", ")
    )]
    InUse {
        name: String,
        containers: Vec<String>,
    },
    #[error(
        "Error response from daemon: create {0}: \"{0}\" includes invalid characters for a local \
         volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
    )]
    InvalidName(String),
    #[error("{path}: {reason}")]
    Record { path: PathBuf, reason: String },
}

type Result<T> = std::result::Result<T, Error>;

fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// A volume as `volume.json` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub anonymous: bool,
}

/// The volumes of one state root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
    containers: PathBuf,
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    crate::ids::valid_name(name)
}

impl Volumes {
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("volumes");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self {
            dir,
            containers: root.join("containers"),
        })
    }

    /// `<root>/volumes/<name>/_data`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.join(name).join("volume.json").is_file()
    }

    /// Creates `name` (or returns it unchanged if it exists, as Docker does).
    pub fn create(&self, name: &str, labels: BTreeMap<String, String>) -> Result<Volume> {
        self.create_inner(name, labels, false)
    }

    /// A new anonymous volume.
    pub fn create_anonymous(&self) -> Result<Volume> {
        let name = crate::ids::new_id().map_err(io(&self.dir))?;
        self.create_inner(&name, BTreeMap::new(), true)
    }

    fn create_inner(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        if self.exists(name) {
            return self.get(name);
        }
        let vdir = self.dir.join(name);
        let data = vdir.join("_data");
        fs::create_dir_all(&data).map_err(io(&data))?;
        let volume = Volume {
            name: name.to_string(),
            driver: "local".into(),
            labels,
            created: crate::state::now_rfc3339(),
            anonymous,
        };
        let record = vdir.join("volume.json");
        let tmp = vdir.join(".volume.json.tmp");
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&serde_json::to_vec_pretty(&volume).expect("volume serializes"))
            .and_then(|_| f.sync_all())
            .map_err(io(&tmp))?;
        fs::rename(&tmp, &record).map_err(io(&record))?;
        Ok(volume)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        let record = self.dir.join(name).join("volume.json");
        let bytes = match fs::read(&record) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(name.to_string()));
            }
            Err(e) => return Err(io(&record)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Record {
            path: record,
            reason: e.to_string(),
        })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(v) = self.get(&name) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of the containers whose bundle mounts `name`.
    pub fn users(&self, name: &str) -> Vec<String> {
        let data = self.data_dir(name);
        let needle = data.to_string_lossy().into_owned();
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.containers) else {
            return out;
        };
        for entry in entries.flatten() {
            let config = entry.path().join("config.json");
            if let Ok(text) = fs::read_to_string(&config)
                && text.contains(&format!("\"{needle}\""))
            {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out
    }

    /// Removes `name`; refused while a container uses it unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.get(name)?;
        let users = self.users(name);
        if !users.is_empty() && !force {
            return Err(Error::InUse {
                name: name.to_string(),
                containers: users,
            });
        }
        let vdir = self.dir.join(name);
        // The record goes first: a half-removed volume is not listed.
        let record = vdir.join("volume.json");
        fs::remove_file(&record).map_err(io(&record))?;
        fs::remove_dir_all(&vdir).map_err(io(&vdir))
    }

    /// Removes unused volumes: anonymous ones, or all with `all`. Returns
    /// the names and the bytes freed.
    pub fn prune(
        &self,
        all: bool,
        labels: &[(String, Option<String>)],
    ) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.list()? {
            if !(all || v.anonymous) || !self.users(&v.name).is_empty() {
                continue;
            }
            let matches = labels
                .iter()
                .all(|(k, want)| match (v.labels.get(k), want) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                });
            if !matches {
                continue;
            }
            bytes += crate::manage::disk_usage(&self.dir.join(&v.name));
            self.remove(&v.name, false)?;
            removed.push(v.name);
        }
        Ok((removed, bytes))
    }

    /// Fills an empty volume with what the image has at `target` (its
    /// layers, lowest first), once. A non-empty volume is left alone.
    pub fn populate(&self, name: &str, layers: &[PathBuf], target: &str) -> Result<()> {
        let data = self.data_dir(name);
        let empty = fs::read_dir(&data).map_err(io(&data))?.next().is_none();
        if !empty {
            return Ok(());
        }
        let rel = target.trim_start_matches('/');
        let mut source_dir_meta = None;
        for layer in layers {
            let src = layer.join(rel);
            let Ok(meta) = fs::symlink_metadata(&src) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            source_dir_meta = Some(meta);
            copy_tree(&src, &data)?;
        }
        // The volume's root takes the owner and mode of the image's
        // directory (PostgreSQL refuses a data directory it does not own).
        if let Some(meta) = source_dir_meta {
            std::os::unix::fs::lchown(&data, Some(meta.uid()), Some(meta.gid()))
                .map_err(io(&data))?;
            fs::set_permissions(&data, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(io(&data))?;
        }
        Ok(())
    }
}

/// Copies `src`'s contents into `dst`, keeping owners, modes and symlinks;
/// overlay whiteouts (`.wh.NAME`) remove NAME from what lower layers put.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    for entry in fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let from = entry.path();
        if name_str == ".wh..wh..opq" {
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(".wh.") {
            let gone = dst.join(hidden);
            let _ = fs::remove_dir_all(&gone).or_else(|_| fs::remove_file(&gone));
            continue;
        }
        let to = dst.join(&name);
        let meta = fs::symlink_metadata(&from).map_err(io(&from))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            if !to.is_dir() {
                let _ = fs::remove_file(&to);
                fs::create_dir(&to).map_err(io(&to))?;
            }
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            let link = fs::read_link(&from).map_err(io(&from))?;
            let _ = fs::remove_file(&to);
            std::os::unix::fs::symlink(&link, &to).map_err(io(&to))?;
        } else if ft.is_file() {
            let _ = fs::remove_file(&to);
            fs::copy(&from, &to).map_err(io(&to))?;
        } else {
            // Devices, fifos and sockets in a data directory: skipped.
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid())).map_err(io(&to))?;
        if !ft.is_symlink() {
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(io(&to))?;
        }
    }
    Ok(())
}

/// Records the anonymous volumes of the container in `container_dir`.
pub fn record_anonymous(container_dir: &Path, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let path = container_dir.join(ANONYMOUS_FILE);
    fs::write(&path, names.join("\n")).map_err(io(&path))
}

/// The anonymous volumes recorded for the container in `container_dir`.
pub fn anonymous_of(container_dir: &Path) -> Vec<String> {
    fs::read_to_string(container_dir.join(ANONYMOUS_FILE))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the anonymous volumes recorded for the container in
/// `container_dir` (`rm -v`, `--rm`); a failure is logged, not fatal, as
/// the container itself is gone or going.
pub fn remove_anonymous(state_root: &Path, container_dir: &Path) {
    let names = anonymous_of(container_dir);
    if names.is_empty() {
        return;
    }
    let Ok(volumes) = Volumes::open(state_root) else {
        return;
    };
    for name in names {
        if let Err(e) = volumes.remove(&name, true) {
            tracing::warn!("removing anonymous volume {name}: {e}");
        }
    }
}

/// Docker's `volume inspect` JSON for `v`.
pub fn inspect_json(volumes: &Volumes, v: &Volume) -> serde_json::Value {
    serde_json::json!({
        "CreatedAt": v.created,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": volumes.data_dir(&v.name),
        "Name": v.name,
        "Options": serde_json::Value::Null,
        "Scope": "local",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_populate_remove() {
        let root = tempfile::tempdir().unwrap();
        let vols = Volumes::open(root.path()).unwrap();
        assert!(matches!(
            vols.create("-bad", BTreeMap::new()),
            Err(Error::InvalidName(_))
        ));
        let v = vols
            .create("data", BTreeMap::from([("a".into(), "b".into())]))
            .unwrap();
        assert_eq!(v.driver, "local");
        // Creating again returns the same volume.
        assert_eq!(vols.create("data", BTreeMap::new()).unwrap(), v);
        let anon = vols.create_anonymous().unwrap();
        assert!(anon.anonymous && anon.name.len() == 64);
        assert_eq!(vols.list().unwrap().len(), 2);

        // Two layers: the upper adds a file and whites one out.
        let l1 = root.path().join("l1/srv/d");
        let l2 = root.path().join("l2/srv/d");
        fs::create_dir_all(l1.join("sub")).unwrap();
        fs::create_dir_all(&l2).unwrap();
        fs::write(l1.join("keep"), "1").unwrap();
        fs::write(l1.join("gone"), "x").unwrap();
        fs::set_permissions(&l2, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(l2.join("new"), "2").unwrap();
        fs::write(l2.join(".wh.gone"), "").unwrap();
        std::os::unix::fs::symlink("keep", l2.join("link")).unwrap();
        let layers = [root.path().join("l1"), root.path().join("l2")];
        vols.populate("data", &layers, "/srv/d").unwrap();
        let data = vols.data_dir("data");
        assert_eq!(fs::read_to_string(data.join("keep")).unwrap(), "1");
        assert_eq!(fs::read_to_string(data.join("new")).unwrap(), "2");
        assert!(!data.join("gone").exists() && data.join("sub").is_dir());
        assert_eq!(fs::read_link(data.join("link")).unwrap(), Path::new("keep"));
        assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
        // Not empty any more: a second populate leaves it alone.
        fs::write(data.join("keep"), "changed").unwrap();
        vols.populate("data", &layers, "/srv/d").unwrap();
        assert_eq!(fs::read_to_string(data.join("keep")).unwrap(), "changed");

        // prune: anonymous only, unless all.
        let (gone, _) = vols.prune(false, &[]).unwrap();
        assert_eq!(gone, std::slice::from_ref(&anon.name));
        vols.remove("data", false).unwrap();
        assert!(matches!(vols.get("data"), Err(Error::NotFound(_))));
        assert!(vols.list().unwrap().is_empty());
    }
}
