//! The built-in policies. Their sources are the WAT files in `policies/` at
//! the repository root, embedded as text and compiled (and cached) when first
//! loaded — no binary is checked in.

use crate::error::Error;

/// A policy shipped with wrun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Allow everything, audit everything.
    Audit,
    /// Network calls only to loopback (and `AF_UNIX`).
    NoNetwork,
    /// No writes outside `/tmp`.
    ReadOnly,
}

impl Builtin {
    /// Every built-in.
    pub const ALL: &'static [Builtin] = &[Builtin::Audit, Builtin::NoNetwork, Builtin::ReadOnly];

    /// The name `--policy` takes.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Audit => "audit",
            Builtin::NoNetwork => "no-network",
            Builtin::ReadOnly => "read-only",
        }
    }

    /// The built-in called `name`.
    pub fn from_name(name: &str) -> Result<Builtin, Error> {
        Builtin::ALL
            .iter()
            .copied()
            .find(|b| b.name() == name)
            .ok_or_else(|| Error::UnknownBuiltin(name.to_owned()))
    }

    /// The WAT source.
    pub fn source(self) -> &'static str {
        match self {
            Builtin::Audit => include_str!("../../../policies/audit.wat"),
            Builtin::NoNetwork => include_str!("../../../policies/no-network.wat"),
            Builtin::ReadOnly => include_str!("../../../policies/read-only.wat"),
        }
    }
}
