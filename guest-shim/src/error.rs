//! The shim's errors and the exit codes Docker gives them.

use wrun_sys::{OsError, SysError};

/// Everything that can stop a container from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Usage or environment problem.
    #[error("{0}")]
    Usage(String),
    /// `config.json` could not be read.
    #[error("read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` is not a valid OCI runtime spec.
    #[error("parse {path}: {source}")]
    ParseConfig {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The spec asks for something the shim cannot do.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// A setup step failed in the kernel.
    #[error("{step}: {errno}")]
    Step {
        /// What was being done, with the paths involved.
        step: String,
        /// The errno.
        errno: OsError,
    },
    /// A small wrapper of wrun-sys failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// `--user` names no passwd entry.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// `--user` names no group entry.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// The seccomp table could not be compiled or installed.
    #[error(transparent)]
    Seccomp(#[from] wrun_sys::seccomp::Error),
    /// The policy's Landlock ruleset could not be built or applied.
    #[error("policy (landlock): {0}")]
    Landlock(#[from] wrun_sys::landlock::Error),
    /// A capability step failed.
    #[error("capabilities: {0}")]
    Caps(String),
    /// The workload could not be executed; the message is Docker's.
    #[error("{message}")]
    Exec {
        /// 126 or 127 (125 for anything else).
        code: i32,
        /// Docker's wording.
        message: String,
    },
}

impl Error {
    /// A failed step.
    pub fn step(step: impl Into<String>, e: nix::errno::Errno) -> Self {
        Error::Step {
            step: step.into(),
            errno: OsError(e),
        }
    }

    /// Docker's exit code for this error: 127 command not found, 126 cannot
    /// invoke, 125 the runtime failed.
    pub fn code(&self) -> i32 {
        match self {
            Error::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

/// Docker's classification of an exec failure by its message (docker/cli
/// `run.go`): "not found"/ENOENT → 127, EACCES/EISDIR → 126, else 125.
pub fn exec_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}
