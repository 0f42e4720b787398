//! The one place where errors become exit codes and messages.
//!
//! Docker's convention, which scripts rely on: 125 when the engine itself
//! failed, 126 when the container command cannot be invoked, 127 when it is
//! not found, otherwise the container's own exit status. Commands other than
//! `run` exit 1 on error.

use std::fmt;

/// An error that carries the exit code it should end the process with.
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

impl ExitError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// Prints `err` the way Docker's CLI does and returns the exit code.
pub fn report(err: &anyhow::Error) -> i32 {
    if let Some(exit) = err.downcast_ref::<ExitError>() {
        if !exit.message.is_empty() {
            eprintln!("wrun: {}", exit.message);
        }
        return exit.code;
    }
    eprintln!("Error: {err:#}");
    1
}
