//! `rename` and `container prune`: changing a container's name and
//! removing every stopped container.
//!
//! A rename claims the new name first (the `O_EXCL` file of
//! [`Containers::claim_name`](crate::state::Containers::claim_name), so two
//! racing renames to one name cannot both win), then replaces
//! `state.json` atomically, and only then gives up the old name: at every
//! moment the container is findable by at least one of its names.

use std::fs;
use std::path::Path;

use crate::launch::Runtime;
use crate::state::Status;
use crate::{Error, Result};

/// Why a rename was refused, in Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("Renaming a container with the same name as its current name")]
    SameName,
    #[error("Error when allocating new name: {0}")]
    NameInUse(Error),
    #[error(transparent)]
    Runtime(#[from] Error),
}

/// What `prune` removed.
#[derive(Debug, Default, PartialEq)]
pub struct Pruned {
    /// Full ids of the removed containers.
    pub ids: Vec<String>,
    /// Bytes their writable layers held.
    pub reclaimed: u64,
}

impl Runtime {
    /// `docker rename OLD NEW`.
    pub fn rename(&self, key: &str, new: &str) -> Result<(), RenameError> {
        let new = new.strip_prefix('/').unwrap_or(new);
        if !crate::ids::valid_name(new) {
            return Err(RenameError::InvalidName(new.to_string()));
        }
        let containers = self.containers();
        let state = self.get(key)?;
        if state.name == new {
            return Err(RenameError::SameName);
        }
        containers.claim_name(new, &state.id).map_err(|e| match e {
            e @ Error::NameInUse { .. } => RenameError::NameInUse(e),
            e => RenameError::Runtime(e),
        })?;
        let saved = containers.load(&state.id).and_then(|mut fresh| {
            fresh.name = new.to_string();
            containers.save(&fresh)
        });
        if let Err(e) = saved {
            let _ = containers.release_name(new, &state.id);
            return Err(e.into());
        }
        containers.release_name(&state.name, &state.id)?;
        Ok(())
    }

    /// `docker container prune`: removes every container that is not
    /// running. A container that starts meanwhile is left alone.
    pub fn prune(&self) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for state in self.list()? {
            if state.status == Status::Running {
                continue;
            }
            let size = disk_usage(&self.containers().dir(&state.id).join("upper"));
            match self.remove(&state.id, false) {
                Ok(id) => {
                    pruned.ids.push(id);
                    pruned.reclaimed += size;
                }
                Err(Error::RemoveRunning(_)) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(pruned)
    }
}

/// Bytes of the files below `dir` (symlinks not followed), as Docker
/// counts a container's writable layer.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries.flatten().map(|e| disk_usage(&e.path())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_files_not_link_targets() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        fs::write(tmp.path().join("a/b/f"), [0u8; 100]).unwrap();
        fs::write(tmp.path().join("g"), [0u8; 23]).unwrap();
        std::os::unix::fs::symlink("/", tmp.path().join("root")).unwrap();
        let link = fs::symlink_metadata(tmp.path().join("root")).unwrap().len();
        assert_eq!(disk_usage(tmp.path()), 123 + link);
        assert_eq!(disk_usage(&tmp.path().join("missing")), 0);
    }

    #[test]
    fn rename_messages() {
        assert_eq!(
            RenameError::InvalidName("a/b".into()).to_string(),
            "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }
}
