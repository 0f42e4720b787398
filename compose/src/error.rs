use std::path::PathBuf;

/// What went wrong loading, validating or running a compose project. File
/// errors name the file and, where it can be found, the line; key errors
/// name the key (`services.web.ports[0]`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no configuration file provided: not found (looked for compose.yaml, compose.yml, \
         docker-compose.yml, docker-compose.yaml in {dir} and its parents)"
    )]
    NoFile { dir: PathBuf },
    /// The YAML itself does not parse.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key with a wrong type, an unknown key, a bad value, a reference to
    /// something undefined.
    #[error("{}{key}: {message}", location(.file, *.line))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    #[error("{path}:{line}: {message}")]
    EnvFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("dependency cycle detected: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("no such service: {name}{hint}")]
    NoSuchService { name: String, hint: String },
    /// A dependency did not become ready.
    #[error("dependency failed to start: {0}")]
    Dependency(String),
    /// The engine (containers, networks, volumes, images) failed.
    #[error("{0}")]
    Engine(String),
}

fn location(file: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}: ", file.display()),
        None => format!("{}: ", file.display()),
    }
}
