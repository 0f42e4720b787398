//! The audit log: one JSON object per line in `<container dir>/audit.jsonl`,
//! appended as decisions are made, read back by `wrun audit`, `wrun policy
//! test --trace` and `wrun policy generate`.
//!
//! A record says when (RFC 3339, UTC, microseconds), who (the pid inside
//! the container), what (operation, resolved path or address), the
//! decision and errno, why when the policy itself failed, which policy
//! (name and sha256 of its module) and how long the supervisor took from
//! receiving the notification to answering it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The file name of the audit log inside a container's directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// One audited decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the decision was made.
    pub time: String,
    /// The calling process, as the container sees it.
    pub pid: u32,
    /// The operation (`open`, `connect`, …: the ABI's names).
    pub op: String,
    /// The system call that carried it.
    pub syscall: String,
    /// The resolved path (or `AF_UNIX` socket path), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The second path of rename/link/symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    /// `ip:port` (IPv6 in brackets) for socket calls with an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Open flags (or `AT_*` flags; the family for socket): what the
    /// policy was given.
    #[serde(default)]
    pub flags: u32,
    /// The mode given to create/mkdir/mknod/chmod.
    #[serde(default)]
    pub mode: u32,
    /// The caller's effective uid and gid.
    #[serde(default)]
    pub uid: u32,
    /// The caller's effective gid.
    #[serde(default)]
    pub gid: u32,
    /// `allow` or `deny`.
    pub decision: String,
    /// The errno the call returned (0 on success).
    pub errno: i32,
    /// Why the policy failed (`out of fuel`, `trap: …`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The policy's name.
    pub policy: String,
    /// sha256 of the policy module.
    pub module: String,
    /// Microseconds from the notification to the answer.
    pub latency_us: u64,
}

impl Record {
    /// What the call touched, for people: the path or the address, and
    /// ` -> second` for rename/link/symlink.
    pub fn target(&self) -> String {
        let mut s = self
            .path
            .clone()
            .or_else(|| self.address.clone())
            .unwrap_or_default();
        if let Some(p2) = &self.path2 {
            s.push_str(" -> ");
            s.push_str(p2);
        }
        s
    }
}

/// Appends records to one container's log; shared by the supervisor's
/// threads. Each record is one `write(2)` on an `O_APPEND` file, so lines
/// never interleave and a reader following the file sees whole lines.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating) the log at `path`, mode 0600.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode_0600()
            .open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. A failed write is logged and dropped: the
    /// decision itself has already been enforced.
    pub fn write(&self, record: &Record) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("audit record not serializable: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::warn!("audit log {}: {e}", self.path.display());
        }
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Errors reading an audit log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The log.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("{path}:{line}: not an audit record: {source}")]
    Parse {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Reads every record of the log at `path`.
pub fn read_all(path: &Path) -> Result<Vec<Record>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let f = File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|source| ReadError::Parse {
                path: path.to_owned(),
                line: i + 1,
                source,
            })?,
        );
    }
    Ok(out)
}

/// Now, as RFC 3339 with microseconds.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(&path).unwrap();
        let r = Record {
            time: now(),
            pid: 7,
            op: "open".into(),
            syscall: "openat".into(),
            path: Some("/etc/shadow".into()),
            path2: None,
            address: None,
            flags: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            decision: "deny".into(),
            errno: 13,
            reason: None,
            policy: "read-only".into(),
            module: "ab".into(),
            latency_us: 12,
        };
        log.write(&r);
        log.write(&r);
        let back = read_all(&path).unwrap();
        assert_eq!(back, vec![r.clone(), r]);
        std::fs::write(&path, "{\"nope\":1}\n").unwrap();
        let e = read_all(&path).unwrap_err().to_string();
        assert!(e.contains(":1: not an audit record"), "{e}");
    }
}
