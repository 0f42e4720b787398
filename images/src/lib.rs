//! `wrun-images`: wrun's image store.
//!
//! Concepts, in the order an image meets them:
//!
//! * A **reference** ([`mod@reference`]) is what a user types (`busybox`,
//!   `python:3.11-slim`, `x@sha256:…`), normalized as Docker does so that the
//!   store keys every image by one fully qualified name.
//! * The **store** ([`store`]) is an OCI image layout under the state root
//!   (`<root>/images/`): content-addressed blobs (manifests, configs, layer
//!   tars), an `index.json` mapping names to manifests, and each layer
//!   unpacked once per diff_id into `layers/<hex>/`, ready to be an overlayfs
//!   lower dir. Every write is atomic and verified; a failed import or load
//!   leaves the store as it was.
//! * **Unpacking** ([`unpack`]) applies a layer tar safely: whatever its
//!   paths, symlinks and hard links say, nothing is written outside the layer
//!   directory; whiteouts become overlayfs whiteouts.
//! * **Archives** ([`archive`], [`import`]): `docker save`/`podman save`
//!   archives and OCI layouts in, docker-archive (plus OCI layout) out, and
//!   plain rootfs tarballs with Dockerfile-style `--change`s.
//! * **Presentation** ([`inspect`], [`human`]): `docker image inspect` JSON,
//!   history rows, sizes and ages as Docker prints them — as data; this crate
//!   never prints.
//! * **Registries** ([`registry`]): pull, push and login over the OCI
//!   distribution API, verified, streamed and resumable.

#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod archive;
pub mod build;
pub mod dockerfile;
pub mod human;
pub mod import;
pub mod inspect;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

mod blob;
mod lock;

pub use inspect::inspect_json;
pub use reference::Reference;
pub use store::{Image, LayerInfo, RemoveEvent, Store};

/// Everything that can go wrong in the image store. Messages are lower case
/// (except Docker's own wording, which scripts grep for) and name the value,
/// path or entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference format: \"{reference}\": {reason}")]
    InvalidReference { reference: String, reason: String },

    /// Docker's exact wording; `reference` is the familiar form (`x:latest`).
    #[error("Unable to find image '{reference}' locally")]
    ImageNotFound { reference: String },

    #[error("image id prefix \"{prefix}\" is ambiguous: it matches {count} images")]
    AmbiguousId { prefix: String, count: usize },

    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A layer entry that would write outside its directory, or cannot be
    /// applied at all.
    #[error("layer entry \"{entry}\": {reason}")]
    UnsafeEntry { entry: String, reason: String },

    /// Any failure while reading an archive, with the file it came from.
    #[error("{file}: {inner}")]
    Archive { file: String, inner: Box<Error> },

    /// The archive's bytes are not a valid tar/gzip stream.
    #[error("corrupt or truncated archive: {}", first_line(cause))]
    Corrupt { cause: std::io::Error },

    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("{what}: invalid JSON: {cause}")]
    Json {
        what: String,
        cause: serde_json::Error,
    },

    #[error("{what}: {reason}")]
    Format { what: String, reason: String },

    #[error("invalid --change \"{value}\": {reason}")]
    InvalidChange { value: String, reason: String },

    /// Docker's `conflict: …` messages for rmi.
    #[error("conflict: {message}")]
    Conflict { message: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

    pub(crate) fn format(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Format {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Adds the archive file name to an error raised while reading it.
    pub(crate) fn in_file(self, file: &str) -> Self {
        match self {
            Error::Archive { file: f, inner } if f == file => Error::Archive { file: f, inner },
            e => Error::Archive {
                file: file.to_owned(),
                inner: Box::new(e),
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The first line of an error, at most 160 characters: the tar crate quotes
/// header bytes in its messages, which for a file that is not a tar at all
/// can be anything.
fn first_line(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.contains("when getting cksum") {
        // The header's checksum field is not even a number.
        return "invalid tar header (is this a tar archive?)".into();
    }
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}
