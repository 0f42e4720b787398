use std::path::PathBuf;

/// Everything that can go wrong while creating, running or removing a
/// container. Each variant names the value, path or step at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid value {value:?} for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("no command specified")]
    NoCommand,
    #[error("image store: {0}")]
    Image(#[from] wrun_images::Error),
    #[error("{0}")]
    Network(#[from] crate::network::Error),
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    #[error("starting the container's shim {shim}: {source}")]
    Spawn {
        shim: PathBuf,
        #[source]
        source: wrun_sys::spawn::SpawnError,
    },
    /// The shim reported that it could not start the workload; `code` is
    /// Docker's exit code for the failure (125, 126 or 127).
    #[error("{message}")]
    Start { code: i32, message: String },
    #[error("{what}: {errno}")]
    Sys {
        what: String,
        errno: nix::errno::Errno,
    },
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    /// `--policy`: a module that cannot be loaded or checked.
    #[error("policy {name}: {reason}")]
    Policy { name: String, reason: String },
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error(
        "cannot remove container {0}: container is running: stop the container before \
         removing or force remove"
    )]
    RemoveRunning(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
        let what = what.into();
        move |errno| Error::Sys { what, errno }
    }
}
