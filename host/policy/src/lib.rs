//! wrun's policy engine: the decision half of `--isolation wasm`.
//!
//! When a container runs under a policy, its file and network system calls
//! are trapped by seccomp and handed to wrun's supervisor, which asks this
//! crate whether to allow each one. The answer comes from a **policy**: a
//! core WebAssembly module anyone can write, in any language that compiles
//! to wasm, against a small versioned ABI (see `docs/policy-abi.md` and
//! [`abi`]).
//!
//! The concepts:
//!
//! - [`PolicyEngine`]: one wasmtime engine for the process, with the
//!   [`Limits`] every call runs under — a time bound (fuel or an epoch
//!   deadline) and a memory cap. It caches compiled modules by the sha256 of
//!   their bytes, so ten containers with one policy compile it once.
//! - [`Policy`]: a compiled module whose exports, ABI version, request
//!   buffer and interest were checked at load, so a bad module is refused
//!   before a container starts ([`Error`] says what is wrong).
//! - [`PolicyInstance`]: one store and instance per container, reused for
//!   every call (instantiating costs tens of microseconds, a call tens of
//!   nanoseconds).
//! - [`Decision`]: allow or deny(errno), and whether to audit. **The engine
//!   fails closed**: a trap, running out of fuel or time, growing memory past
//!   the limit, or an answer outside the ABI is a deny with `EPERM`, audited,
//!   carrying a [`FailReason`] for the audit log; the instance is then
//!   replaced before the next call, since its state can no longer be trusted.
//! - [`Builtin`]: the policies shipped in `policies/` (`audit`,
//!   `no-network`, `read-only`).
//! - [`rules`]: YAML rule files (path globs, addresses, ports), compiled
//!   into a module of this ABI.
//!
//! This crate has no Linux dependency: it sees requests, not system calls.
//! Resolving paths and performing the calls is the supervisor's job.

#![forbid(unsafe_code)]

pub mod abi;
mod builtin;
mod engine;
mod error;
pub mod rules;

pub use abi::{ABI_VERSION, Answer, Interest, Op, OpSet, REQUEST_MAX, Request};
pub use builtin::Builtin;
pub use engine::{
    DEFAULT_FUEL, DEFAULT_MEMORY, Decision, FailReason, Limits, Policy, PolicyEngine,
    PolicyInstance, TimeBound,
};
pub use error::Error;
