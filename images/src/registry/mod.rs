//! The OCI distribution client: `pull`, `push` and `login` against a
//! registry (Docker Hub, a classroom's `docker-registry`, a pull-through
//! mirror).
//!
//! * [`client`]: endpoints (`docker.io` → `registry-1.docker.io`, HTTP only
//!   for insecure or loopback registries, mirrors with fallback), the
//!   `WWW-Authenticate` challenge (bearer tokens, anonymous or with
//!   credentials; basic auth), timeouts and the distribution API's errors.
//! * [`pull`]: manifest or index → the platform's manifest, every digest
//!   verified before anything is kept; layers fetched concurrently and, in
//!   one pass, hashed, decompressed (gzip, zstd), hashed again (diff_id) and
//!   unpacked; a dropped connection resumes with a `Range` request on the
//!   partial blob, within a pull and across pulls; a layer the store has is
//!   never fetched again.
//! * [`push`]: skips blobs the registry has (`HEAD`), mounts them from
//!   another repository of the same registry when wrun knows one, compresses
//!   uncompressed layers in parallel (gzip, or zstd), uploads the manifest
//!   last.
//! * [`auth`]: `~/.docker/config.json` (`auths`, `credsStore`,
//!   `credHelpers` via `docker-credential-*` helpers), read and written as
//!   Docker does.
//! * [`config`]: wrun's registry configuration (mirrors, insecure
//!   registries) in `registries.json`, keys named as in Docker's
//!   `daemon.json`.
//!
//! Like the rest of the crate, nothing here prints: progress is reported
//! through a callback ([`pull::PullEvent`], [`push::PushEvent`]).

pub mod auth;
pub mod client;
pub mod compress;
pub mod config;
pub mod manifest;
pub mod pull;
pub mod push;

mod distribution;

pub use client::Client;
pub use config::RegistryConfig;
pub use pull::{PullEvent, PullOptions, Pulled, pull};
pub use push::{Compression, PushEvent, PushOptions, Pushed, push};

use std::path::PathBuf;

/// Everything a registry operation can fail with. Where Docker has a
/// message that scripts and people know, it is Docker's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tag or digest is not in the repository.
    #[error("manifest for {reference} not found: {detail}")]
    ManifestUnknown { reference: String, detail: String },

    /// The repository does not exist, or the credentials may not read it.
    #[error(
        "pull access denied for {repository}, repository does not exist or may require 'docker login': {detail}"
    )]
    PullDenied { repository: String, detail: String },

    /// Push refused: no credentials, or not allowed.
    #[error("push access denied for {repository}: {detail}")]
    PushDenied { repository: String, detail: String },

    /// Bad credentials (login, or a token endpoint that refuses them).
    #[error("{method} \"{url}\": unauthorized: {detail}")]
    Unauthorized {
        method: String,
        url: String,
        detail: String,
    },

    /// The registry could not be reached, timed out, or broke the protocol.
    #[error("{method} \"{url}\": {cause}")]
    Http {
        method: String,
        url: String,
        cause: String,
    },

    /// An unexpected status with the registry's error text.
    #[error("{method} \"{url}\": unexpected status {status}: {detail}")]
    Status {
        method: String,
        url: String,
        status: u16,
        detail: String,
    },

    /// Content whose digest is not the one it was asked for.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// A manifest, index or config that is not what it must be (not JSON,
    /// unknown media type, wrong size, truncated blob…).
    #[error("{what}: {reason}")]
    BadContent { what: String, reason: String },

    /// The index lists no manifest for the platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },

    /// An invalid `--platform` value.
    #[error("invalid platform \"{value}\": {reason}")]
    InvalidPlatform { value: String, reason: String },

    /// Credentials could not be read or stored.
    #[error("{reason}")]
    Credentials { reason: String },

    /// `registries.json` or `config.json` is malformed.
    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl Error {
    pub(crate) fn bad(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadContent {
            what: what.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
