//! Container lifecycle for wrun.
//!
//! Concepts, in the order a container meets them:
//!
//! * [`spec`] turns an image's configuration and Docker-style run options
//!   into an OCI runtime spec (`config.json`). That spec is the one contract
//!   between everything that starts containers and the shim that builds them.
//! * [`state`] keeps each container's directory under the state root
//!   (`<root>/containers/<id>/`): the bundle, the overlay upper and work
//!   dirs, the generated `/etc` files, and `state.json`, always written
//!   atomically. Names are claimed with `O_EXCL` files, so two concurrent
//!   `wrun run --name x` cannot both win.
//! * [`cgroup`] creates the container's cgroup (v2, or v1 per controller on
//!   hybrid hosts) beneath the one wrun runs in, applies limits, and removes
//!   it.
//! * [`launch`] spawns `wrun-shim` as PID 1 of a new PID namespace inside
//!   that cgroup and reads its status channel; [`monitor`] owns a running
//!   container (output to the [`logs`], exit status, restarts, `--rm`),
//!   detached or attached; `control` stops, kills, removes and waits, and
//!   keeps state true when a monitor died ([`process`] tells live processes
//!   from reused pids).
//!
//! This crate never prints or exits; the CLI turns [`Error`] into Docker's
//! messages and exit codes.

#![forbid(unsafe_code)]

pub mod attach;
pub mod build_run;
pub mod cgroup;
mod control;
pub mod copy;
mod error;
pub mod exec;
pub mod health;
pub mod ids;
pub mod inspect;
pub mod isolation;
pub mod launch;
pub mod logs;
pub mod manage;
pub mod monitor;
pub mod network;
pub mod policy;
pub mod process;
pub mod spec;
pub mod state;
pub mod stats;
pub mod terminal;
pub mod units;
pub mod volume;

pub use error::Error;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
