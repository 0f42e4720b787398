//! Compose projects for wrun.
//!
//! A *project* is one or more compose files (`compose.yaml`,
//! `docker-compose.yml`, `-f …` merged in order), the `.env` beside them
//! and a name (`-p`, `COMPOSE_PROJECT_NAME`, `name:` or the folder). It
//! declares *services* (each one or more containers of one image), the
//! *networks* they share (a `default` one unless said otherwise) and the
//! named *volumes* they keep their data in.
//!
//! * [`load`] reads a project: YAML with line and column in syntax errors,
//!   [`interpolate`] (`${VAR:-default}` and the rest), [`dotenv`], the typed
//!   [`model`] with every spelling of a key normalized to one, merged files,
//!   validation whose errors name the file, line and key, with "did you
//!   mean" for typos ([`locate`] finds the line of a key path).
//! * [`order`] sorts services by `depends_on` and names a cycle.
//! * [`engine`] is what this crate needs from a container runtime; `host`
//!   implements it on wrun's runtime. [`orchestrate`] drives it: `up`,
//!   `down` and the rest, with the labels that let `down` remove exactly
//!   what `up` made and the config hash that lets `up` re-create only what
//!   changed.
//!
//! This crate never prints, exits or touches a container itself; it does
//! not depend on `host`.

#![forbid(unsafe_code)]

pub mod dotenv;
pub mod engine;
mod error;
pub mod interpolate;
pub mod load;
pub mod locate;
pub mod model;
pub mod orchestrate;
pub mod order;

pub use error::Error;
pub use load::{Options, Project, load, load_str};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Docker's rule for service names.
pub fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The resolved model as `config` prints it.
pub fn to_yaml(model: &model::ComposeFile) -> String {
    serde_yaml::to_string(model).expect("the model serializes")
}
