//! Dockerfiles: the line parser ([`parser`], BuildKit's structure and
//! results), word expansion ([`shell`]) and typed instructions grouped in
//! build stages ([`instructions`]).

pub mod instructions;
pub mod parser;
pub mod shell;

pub use instructions::{CommandForm, Dockerfile, Instruction, Stage, Step};
pub use parser::{Ast, Heredoc, Node, parse};

/// A Dockerfile error with where it is: `Dockerfile:7:1: unknown
/// instruction: COPPY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The file's name as the user gave it (`Dockerfile` until set).
    pub file: String,
    /// 1-based; 0 when the error is about the whole file.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, column: usize, message: String) -> Self {
        ParseError {
            file: "Dockerfile".into(),
            line,
            column,
            message,
        }
    }

    /// Names the file the error is in.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.file, self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
        }
    }
}
