//! The store's write lock: an `flock` on `<root>/images/lock`.
//!
//! Readers need no lock because `index.json` and blobs are replaced
//! atomically; writers that change what the index points at (commit of an
//! import or load, tag, rmi, prune, unpacking a missing layer) hold it so
//! that two `wrun` processes never lose each other's updates or delete what
//! the other just referenced. The kernel drops the lock when the process
//! dies, so a crash never leaves the store locked.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::{Error, Result};

/// Held while alive; dropping it (closing the fd) releases the lock.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::io(path, e.into()))?;
        Ok(StoreLock { _file: file })
    }
}
