//! Errors of loading a policy and of encoding requests. Run-time failures of
//! a loaded policy are not errors: they are denies carrying a
//! [`FailReason`](crate::FailReason).

/// What went wrong, naming the export, value or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are neither a valid wasm module nor valid WAT.
    #[error("policy module does not compile: {0}")]
    Compile(String),
    /// A required export is absent.
    #[error(
        "policy module does not export `{name}` (required by ABI v{})",
        crate::ABI_VERSION
    )]
    MissingExport {
        /// The export's name.
        name: &'static str,
    },
    /// An export has the wrong kind or signature.
    #[error("policy export `{name}` must be {expected}: {detail}")]
    WrongExportType {
        /// The export's name.
        name: &'static str,
        /// The signature the ABI requires.
        expected: &'static str,
        /// What wasmtime said about the mismatch.
        detail: String,
    },
    /// `wrun_abi_version()` returned a version this host does not speak.
    #[error("policy speaks ABI version {found}, this wrun speaks version {supported}")]
    AbiVersion {
        /// What the module returned.
        found: i32,
        /// What the host speaks.
        supported: i32,
    },
    /// The request buffer lies outside memory or is too small.
    #[error(
        "policy request buffer at {ptr} of {size} bytes is invalid: it must lie inside the module's {memory}-byte memory and hold at least {} bytes",
        crate::REQUEST_MAX
    )]
    RequestBuffer {
        /// Offset the module returned.
        ptr: i64,
        /// Size the module returned.
        size: i64,
        /// Size of the module's memory at the time.
        memory: usize,
    },
    /// `wrun_interest()` returned bits the ABI does not define.
    #[error("policy interest value {value:#x} has undefined bits set")]
    BadInterest {
        /// What the module returned.
        value: i64,
    },
    /// Instantiation failed (start function trapped, memory over the limit,
    /// imports the host does not provide).
    #[error("policy module cannot be instantiated: {0}")]
    Instantiate(String),
    /// One of the ABI's setup functions failed when called.
    #[error("policy export `{export}` failed: {reason}")]
    Probe {
        /// The export called.
        export: &'static str,
        /// Why it failed.
        reason: crate::FailReason,
    },
    /// The engine could not be configured.
    #[error("policy engine cannot be created: {0}")]
    Engine(String),
    /// No built-in policy has this name.
    #[error("no built-in policy named `{0}` (known: audit, no-network, read-only)")]
    UnknownBuiltin(String),
    /// No operation has this name.
    #[error("unknown operation `{0}`")]
    UnknownOp(String),
    /// A path longer than `PATH_MAX`.
    #[error(
        "{which} is {len} bytes, longer than PATH_MAX ({})",
        crate::abi::PATH_MAX
    )]
    PathTooLong {
        /// `path` or `path2`.
        which: &'static str,
        /// Its length.
        len: usize,
    },
    /// The buffer cannot hold the request.
    #[error("request needs {need} bytes, buffer holds {have}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A request shorter than its header or its declared paths.
    #[error("request of {len} bytes is truncated or its path lengths do not add up")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// A request with another ABI version.
    #[error("request has ABI version {found}, expected {}", crate::ABI_VERSION)]
    RequestVersion {
        /// The version found.
        found: u16,
    },
    /// A request with an operation code the ABI does not define.
    #[error("request has unknown operation code {code}")]
    UnknownOpCode {
        /// The code found.
        code: u16,
    },
}
