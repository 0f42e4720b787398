//! The wasmtime side: one shared [`PolicyEngine`], modules compiled once and
//! cached by content hash ([`Policy`]), one bounded store and instance per
//! container ([`PolicyInstance`]).
//!
//! Every call into a module runs under a time bound (fuel, or an epoch
//! deadline driven by a ticker thread) and a memory limit, so a policy can
//! neither hang nor exhaust the supervisor. Whatever goes wrong during a
//! call becomes a deny with `EPERM`, audited, with the reason attached: the
//! engine fails closed.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, Instance, Memory, Module, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::abi::{ABI_VERSION, Answer, EPERM, Interest, REQUEST_MAX, Request};
use crate::error::Error;

/// Fuel given to each call by default: about a million wasm instructions,
/// around a millisecond — far more than a path-prefix policy needs, far less
/// than a stalled container would notice.
pub const DEFAULT_FUEL: u64 = 1_000_000;
/// Memory a policy instance may use by default.
pub const DEFAULT_MEMORY: usize = 16 << 20;
/// How often the epoch ticker advances the engine's epoch.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How a call into a policy is bounded in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// Each call gets this much fuel (deterministic; costs a counter update
    /// per basic block).
    Fuel(u64),
    /// Each call must return within about this long (a ticker thread bumps
    /// the engine's epoch every millisecond; cheaper per call than fuel, not
    /// deterministic).
    Epoch(Duration),
}

/// Limits applied to every instance of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time bound of each call.
    pub time: TimeBound,
    /// Most bytes of linear memory an instance may hold.
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time: TimeBound::Fuel(DEFAULT_FUEL),
            memory: DEFAULT_MEMORY,
        }
    }
}

/// Why a call into a policy failed; carried by a fail-closed deny so the
/// audit log can say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// The call used up its fuel.
    OutOfFuel,
    /// The call passed its epoch deadline.
    Timeout,
    /// The module tried to grow memory (or a table) past the limit.
    MemoryLimit,
    /// The module trapped (the trap's description).
    Trap(String),
    /// `decide` returned a value the ABI does not define.
    Malformed(i64),
    /// The request could not be encoded (a path over `PATH_MAX`).
    BadRequest(String),
    /// A previous failure left the instance unusable and a fresh one could
    /// not be made.
    Reinstantiate(String),
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::OutOfFuel => f.write_str("out of fuel"),
            FailReason::Timeout => f.write_str("timeout"),
            FailReason::MemoryLimit => f.write_str("memory limit exceeded"),
            FailReason::Trap(t) => write!(f, "trap: {t}"),
            FailReason::Malformed(v) => write!(f, "malformed answer {v:#x}"),
            FailReason::BadRequest(e) => write!(f, "request not encodable: {e}"),
            FailReason::Reinstantiate(e) => write!(f, "cannot re-instantiate: {e}"),
        }
    }
}

/// The host's decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the call proceed.
    Allow {
        /// Record it in the audit log.
        audit: bool,
    },
    /// Fail the call with `errno`.
    Deny {
        /// The errno to inject.
        errno: i32,
        /// Record it in the audit log (always true when `reason` is set).
        audit: bool,
        /// Set when the policy itself failed; `None` when it chose to deny.
        reason: Option<FailReason>,
    },
}

impl Decision {
    fn fail(reason: FailReason) -> Decision {
        Decision::Deny {
            errno: EPERM,
            audit: true,
            reason: Some(reason),
        }
    }

    /// Whether the call may proceed.
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// Whether the decision must be audited.
    pub fn audit(&self) -> bool {
        match self {
            Decision::Allow { audit } | Decision::Deny { audit, .. } => *audit,
        }
    }
}

impl From<Answer> for Decision {
    fn from(a: Answer) -> Decision {
        match a {
            Answer::Allow { audit } => Decision::Allow { audit },
            Answer::Deny { errno, audit } => Decision::Deny {
                errno,
                audit,
                reason: None,
            },
        }
    }
}

/// Stops and joins the epoch ticker when the last holder goes away.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A ticker that panicked has nothing left to clean up.
            let _ = t.join();
        }
    }
}

struct EngineInner {
    engine: Engine,
    limits: Limits,
    cache: Mutex<HashMap<[u8; 32], Policy>>,
    // Held only for its Drop; declared last so the engine outlives nothing
    // the thread uses (it holds its own Engine clone).
    _ticker: Option<Ticker>,
}

/// The shared engine: one per wrun process. Cheap to clone.
#[derive(Clone)]
pub struct PolicyEngine {
    inner: Arc<EngineInner>,
}

impl fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// An engine with the default limits (fuel).
    pub fn new() -> Result<PolicyEngine, Error> {
        PolicyEngine::with_limits(Limits::default())
    }

    /// An engine whose instances all get `limits`.
    pub fn with_limits(limits: Limits) -> Result<PolicyEngine, Error> {
        let mut config = Config::new();
        match limits.time {
            TimeBound::Fuel(_) => config.consume_fuel(true),
            TimeBound::Epoch(_) => config.epoch_interruption(true),
        };
        let engine = Engine::new(&config).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let ticker = match limits.time {
            TimeBound::Fuel(_) => None,
            TimeBound::Epoch(_) => {
                let stop = Arc::new(AtomicBool::new(false));
                let (e, s) = (engine.clone(), stop.clone());
                let thread = std::thread::Builder::new()
                    .name("wrun-policy-epoch".into())
                    .spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            std::thread::sleep(EPOCH_TICK);
                            e.increment_epoch();
                        }
                    })
                    .map_err(|e| Error::Engine(format!("epoch ticker: {e}")))?;
                Some(Ticker {
                    stop,
                    thread: Some(thread),
                })
            }
        };
        Ok(PolicyEngine {
            inner: Arc::new(EngineInner {
                engine,
                limits,
                cache: Mutex::new(HashMap::new()),
                _ticker: ticker,
            }),
        })
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Compiles and checks a module (wasm binary or WAT text), or returns the
    /// one already compiled from the same bytes. Checking means: the
    /// required exports exist with the right signatures, the ABI version
    /// matches, the request buffer is valid and the interest value is
    /// well-formed — all on a probe instance under the engine's limits, so
    /// `wrun run` can refuse a bad module before it starts anything.
    pub fn load(&self, bytes: &[u8]) -> Result<Policy, Error> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(p) = self.cache().get(&hash) {
            return Ok(p.clone());
        }
        let module =
            Module::new(&self.inner.engine, bytes).map_err(|e| Error::Compile(format!("{e:#}")))?;
        check_export_kinds(&module)?;
        let probe = Slot::new(&self.inner, &module)?;
        let policy = Policy {
            inner: Arc::new(PolicyInner {
                engine: self.inner.clone(),
                module,
                hash,
                interest: probe.interest,
            }),
        };
        // Two threads loading the same bytes at once both compile; the first
        // insert wins, which is harmless.
        Ok(self.cache().entry(hash).or_insert(policy).clone())
    }

    /// Loads a built-in policy by name.
    pub fn builtin(&self, name: &str) -> Result<Policy, Error> {
        let b = crate::Builtin::from_name(name)?;
        self.load(b.source().as_bytes())
    }

    /// Number of compiled modules in the cache.
    pub fn cached_modules(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Policy>> {
        // The map stays consistent even if a holder panicked: entries are
        // inserted whole.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct PolicyInner {
    engine: Arc<EngineInner>,
    module: Module,
    hash: [u8; 32],
    interest: Interest,
}

/// A compiled, checked policy module. Cheap to clone; shared by every
/// container that uses it.
#[derive(Clone)]
pub struct Policy {
    inner: Arc<PolicyInner>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("hash", &self.hash())
            .field("interest", &self.inner.interest)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Compiles and checks a module on `engine`; see [`PolicyEngine::load`].
    pub fn load(engine: &PolicyEngine, bytes: &[u8]) -> Result<Policy, Error> {
        engine.load(bytes)
    }

    /// sha256 of the bytes the policy was loaded from, in hex (the audit
    /// log's module hash).
    pub fn hash(&self) -> String {
        hex::encode(self.inner.hash)
    }

    /// The operations the policy wants and whether answers may be cached.
    pub fn interest(&self) -> Interest {
        self.inner.interest
    }

    /// Whether two handles share one compiled module.
    pub fn ptr_eq(a: &Policy, b: &Policy) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// A fresh instance for one container.
    pub fn instantiate(&self) -> Result<PolicyInstance, Error> {
        Ok(PolicyInstance {
            slot: Some(Slot::new(&self.inner.engine, &self.inner.module)?),
            policy: self.clone(),
        })
    }
}

/// Store data: the limits, and whether the limiter refused a growth, so a
/// trap caused by the memory limit is reported as such.
struct State {
    limits: StoreLimits,
    refused: bool,
}

impl ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        self.refused |= !matches!(r, Ok(true));
        r
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.table_growing(current, desired, maximum);
        self.refused |= !matches!(r, Ok(true));
        r
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }
    fn tables(&self) -> usize {
        self.limits.tables()
    }
    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// One store and instance, with the ABI's exports resolved and checked.
struct Slot {
    store: Store<State>,
    memory: Memory,
    decide: TypedFunc<(i32, i32), i64>,
    buf: usize,
    cap: usize,
    interest: Interest,
    time: TimeBound,
}

const SIG_VERSION: &str = "a function () -> i32";
const SIG_BUFFER: &str = "a function () -> i32";
const SIG_DECIDE: &str = "a function (i32, i32) -> i64";
const SIG_INTEREST: &str = "a function () -> i64";

/// Checks that each required export exists and has the right kind, before
/// anything is instantiated.
fn check_export_kinds(module: &Module) -> Result<(), Error> {
    for name in [
        "memory",
        "wrun_abi_version",
        "wrun_request_buffer",
        "wrun_request_buffer_size",
        "decide",
    ] {
        let Some(ty) = module.get_export(name) else {
            return Err(Error::MissingExport { name });
        };
        let ok = if name == "memory" {
            ty.memory().is_some()
        } else {
            ty.func().is_some()
        };
        if !ok {
            return Err(Error::WrongExportType {
                name,
                expected: if name == "memory" {
                    "a memory"
                } else {
                    "a function"
                },
                detail: format!("found {ty:?}"),
            });
        }
    }
    Ok(())
}

fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<State>,
    instance: &Instance,
    name: &'static str,
    expected: &'static str,
) -> Result<TypedFunc<P, R>, Error> {
    let f = instance
        .get_func(&mut *store, name)
        .ok_or(Error::MissingExport { name })?;
    f.typed::<P, R>(&*store)
        .map_err(|e| Error::WrongExportType {
            name,
            expected,
            detail: format!("{e:#}"),
        })
}

impl Slot {
    fn new(engine: &EngineInner, module: &Module) -> Result<Slot, Error> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(engine.limits.memory)
            .instances(1)
            .memories(1)
            .tables(4)
            .table_elements(10_000)
            // A failed memory.grow traps instead of returning -1: a policy
            // that wants more memory than allowed is broken, not clever.
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &engine.engine,
            State {
                limits,
                refused: false,
            },
        );
        store.limiter(|s| s);
        if matches!(engine.limits.time, TimeBound::Epoch(_)) {
            store.epoch_deadline_trap();
        }
        let time = engine.limits.time;
        arm(&mut store, time);
        // No imports: a policy decides from the request alone.
        let instance =
            Instance::new(&mut store, module, &[]).map_err(|e| match classify(&store, &e) {
                FailReason::Trap(_) => Error::Instantiate(format!("{e:#}")),
                reason => Error::Instantiate(reason.to_string()),
            })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or(Error::MissingExport { name: "memory" })?;
        let version: TypedFunc<(), i32> =
            typed(&mut store, &instance, "wrun_abi_version", SIG_VERSION)?;
        let buf_fn: TypedFunc<(), i32> =
            typed(&mut store, &instance, "wrun_request_buffer", SIG_BUFFER)?;
        let size_fn: TypedFunc<(), i32> = typed(
            &mut store,
            &instance,
            "wrun_request_buffer_size",
            SIG_BUFFER,
        )?;
        let decide = typed(&mut store, &instance, "decide", SIG_DECIDE)?;
        let interest_fn: Option<TypedFunc<(), i64>> =
            if instance.get_export(&mut store, "wrun_interest").is_some() {
                Some(typed(&mut store, &instance, "wrun_interest", SIG_INTEREST)?)
            } else {
                None
            };

        let probe = |f: &TypedFunc<(), i32>, export: &'static str, store: &mut Store<State>| {
            arm(store, time);
            f.call(&mut *store, ()).map_err(|e| Error::Probe {
                export,
                reason: classify(store, &e),
            })
        };
        let found = probe(&version, "wrun_abi_version", &mut store)?;
        if found != ABI_VERSION {
            return Err(Error::AbiVersion {
                found,
                supported: ABI_VERSION,
            });
        }
        let ptr = probe(&buf_fn, "wrun_request_buffer", &mut store)?;
        let size = probe(&size_fn, "wrun_request_buffer_size", &mut store)?;
        let mem_len = memory.data_size(&store);
        // Offsets are unsigned in wasm: read the i32s as u32.
        let (p, s) = (ptr as u32 as usize, size as u32 as usize);
        if s < REQUEST_MAX || p.checked_add(s).is_none_or(|end| end > mem_len) {
            return Err(Error::RequestBuffer {
                ptr: i64::from(ptr as u32),
                size: i64::from(size as u32),
                memory: mem_len,
            });
        }
        let interest = match interest_fn {
            None => Interest::everything(),
            Some(f) => {
                arm(&mut store, time);
                let v = f.call(&mut store, ()).map_err(|e| Error::Probe {
                    export: "wrun_interest",
                    reason: classify(&store, &e),
                })?;
                Interest::decode(v)?
            }
        };
        Ok(Slot {
            store,
            memory,
            decide,
            buf: p,
            // Only REQUEST_MAX bytes are ever written.
            cap: REQUEST_MAX,
            interest,
            time,
        })
    }

    fn decide(&mut self, req: &Request<'_>) -> Result<Decision, FailReason> {
        let data = self.memory.data_mut(&mut self.store);
        // Memory never shrinks, so the range checked at instantiation is
        // still inside it.
        let window = &mut data[self.buf..self.buf + self.cap];
        let len = req
            .encode_into(window)
            .map_err(|e| FailReason::BadRequest(e.to_string()))?;
        arm(&mut self.store, self.time);
        // buf + cap fits in a 32-bit memory, checked at instantiation.
        let v = self
            .decide
            .call(&mut self.store, (self.buf as i32, len as i32))
            .map_err(|e| classify(&self.store, &e))?;
        Ok(Answer::decode(v)
            .map(Decision::from)
            .unwrap_or_else(|| Decision::fail(FailReason::Malformed(v))))
    }
}

/// Gives the store a fresh time budget before a call.
fn arm(store: &mut Store<State>, time: TimeBound) {
    match time {
        TimeBound::Fuel(fuel) => {
            // Only fails when fuel is not enabled, which with_limits ensures.
            let _ = store.set_fuel(fuel);
        }
        TimeBound::Epoch(d) => {
            let ticks = d.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
            store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        }
    }
}

/// Turns a wasmtime error from a call into the reason a deny carries.
fn classify(store: &Store<State>, e: &wasmtime::Error) -> FailReason {
    if store.data().refused {
        return FailReason::MemoryLimit;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => FailReason::OutOfFuel,
        Some(Trap::Interrupt) => FailReason::Timeout,
        Some(t) => FailReason::Trap(t.to_string()),
        None => FailReason::Trap(format!("{e:#}")),
    }
}

/// One container's instance of a policy. Not shared: the supervisor owns it
/// (a pool of supervisors owns one each).
pub struct PolicyInstance {
    policy: Policy,
    // None after a failed call: the module's state may be half-updated, so
    // the next call runs on a fresh instance rather than trusting it.
    slot: Option<Slot>,
}

impl fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("policy", &self.policy)
            .field("live", &self.slot.is_some())
            .finish()
    }
}

impl PolicyInstance {
    /// The policy this instance runs.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides one request. Never fails: any failure of the module is a deny
    /// with `EPERM`, audited, with the reason.
    pub fn decide(&mut self, req: &Request<'_>) -> Decision {
        let slot = match &mut self.slot {
            Some(s) => s,
            None => {
                let inner = &self.policy.inner;
                match Slot::new(&inner.engine, &inner.module) {
                    Ok(s) => self.slot.insert(s),
                    Err(e) => return Decision::fail(FailReason::Reinstantiate(e.to_string())),
                }
            }
        };
        match slot.decide(req) {
            Ok(d) => d,
            Err(reason) => {
                // A bad request says nothing about the module's state.
                if !matches!(reason, FailReason::BadRequest(_)) {
                    self.slot = None;
                }
                Decision::fail(reason)
            }
        }
    }
}
