//! `RUN` steps of `wrun build`: each runs in a container this runtime makes
//! exactly as `wrun run` would (the same namespaces, capabilities, seccomp
//! filter, cgroup and networking), on the step's parent image. The
//! container's overlay upper dir is what the step changed; the builder
//! turns it into the layer, then the container is removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use wrun_images::Store;
use wrun_images::build::{RunOutcome, RunRequest, StepRunner};

use crate::launch::Runtime;
use crate::logs::{Follower, log_path};
use crate::spec::{NetworkMode, RunConfig};
use crate::state::Status;

/// Runs build steps with a [`Runtime`].
#[derive(Debug)]
pub struct BuildRunner<'r> {
    runtime: &'r Runtime,
    store: &'r Store,
    interrupt: Option<Interrupt>,
}

impl<'r> BuildRunner<'r> {
    pub fn new(runtime: &'r Runtime, store: &'r Store) -> Self {
        BuildRunner {
            runtime,
            store,
            interrupt: None,
        }
    }

    /// Stops a RUN (removing its container) when the build is interrupted.
    pub fn with_interrupt(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = Some(interrupt);
        self
    }
}

/// Ctrl-C, SIGTERM and SIGHUP during a build. While a RUN step's container
/// runs, the signal stops the step and its container is removed (a
/// detached container would otherwise outlive the build); at any other
/// moment the build ends at once with 128+signal (the store's writes are
/// atomic, and a dead writer's temporaries are cleaned up later).
#[derive(Debug, Clone)]
pub struct Interrupt {
    signal: Arc<AtomicI32>,
    in_run: Arc<AtomicBool>,
}

impl Interrupt {
    /// Blocks the signals in the calling thread (call it before any other
    /// thread starts, so all inherit the mask) and waits for them on a
    /// thread of its own.
    pub fn install() -> crate::Result<Interrupt> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        set.thread_block()
            .map_err(crate::Error::sys("blocking signals"))?;
        let it = Interrupt {
            signal: Arc::new(AtomicI32::new(0)),
            in_run: Arc::new(AtomicBool::new(false)),
        };
        let t = it.clone();
        std::thread::Builder::new()
            .name("build-interrupt".into())
            .spawn(move || {
                loop {
                    let Ok(sig) = set.wait() else { continue };
                    t.signal.store(sig as i32, Ordering::SeqCst);
                    if !t.in_run.load(Ordering::SeqCst) {
                        std::process::exit(128 + sig as i32);
                    }
                }
            })
            .map_err(crate::Error::io("build interrupt thread"))?;
        Ok(it)
    }

    fn received(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

/// `--network` of `wrun build` (and `RUN --network`): `default` is the
/// default bridge, as for `docker build`.
pub fn build_network(name: &str) -> crate::Result<NetworkMode> {
    match name {
        "default" | "" => Ok(NetworkMode::Bridge("bridge".into())),
        other => other.parse(),
    }
}

fn step_config(req: &RunRequest<'_>) -> crate::Result<RunConfig> {
    let short = req.image.short_id().to_owned();
    Ok(RunConfig {
        image_ref: short,
        command: req.args.to_vec(),
        // The step's argv is complete: no ENTRYPOINT in front of it.
        entrypoint: Some(String::new()),
        env: req.env.to_vec(),
        workdir: None,
        user: None,
        hostname: None,
        mounts: Vec::new(),
        read_only: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        tty: false,
        interactive: false,
        network: build_network(req.network)?,
        resources: Default::default(),
        name: None,
        auto_remove: false,
        restart: Default::default(),
        log: Default::default(),
        labels: Default::default(),
        publish: Vec::new(),
        aliases: Vec::new(),
        add_hosts: Vec::new(),
        dns: Vec::new(),
        // RUN steps get `wrun run`'s default isolation (namespaces).
        isolation: Default::default(),
        policy: None,
        policy_naive: false,
        policy_enforcement: Default::default(),
    })
}

impl StepRunner for BuildRunner<'_> {
    fn run(
        &mut self,
        req: &RunRequest<'_>,
        started: &mut dyn FnMut(&str),
        waiting: &mut dyn FnMut(Duration),
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, String> {
        let cfg = step_config(req).map_err(|e| e.to_string())?;
        let state = self
            .runtime
            .create(&cfg, self.store, req.image)
            .map_err(|e| e.to_string())?;
        let id = state.id.clone();
        started(&id);
        let dir = self.runtime.containers().dir(&id);
        let mut follower = match Follower::from_start(&log_path(&dir)) {
            Ok(f) => f,
            Err(e) => {
                self.remove(&id);
                return Err(format!("reading the step's output: {e}"));
            }
        };
        if let Some(i) = &self.interrupt {
            i.in_run.store(true, Ordering::SeqCst);
        }
        let result = self.follow(&id, &mut follower, waiting, output);
        if let Some(i) = &self.interrupt {
            i.in_run.store(false, Ordering::SeqCst);
        }
        match result {
            Ok(exit_code) => Ok(RunOutcome {
                exit_code,
                upper: dir.join("upper"),
                container_id: id,
            }),
            Err(e) => {
                self.remove(&id);
                Err(e)
            }
        }
    }

    fn remove(&mut self, container_id: &str) {
        if let Err(e) = self.runtime.remove(container_id, true) {
            tracing::warn!(container = container_id, error = %e, "removing a build container");
        }
    }
}

impl BuildRunner<'_> {
    /// Starts the container and relays its output until it exits; its code.
    fn follow(
        &mut self,
        id: &str,
        follower: &mut Follower,
        waiting: &mut dyn FnMut(Duration),
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<i32, String> {
        self.runtime.start_detached(id).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut delay = Duration::from_millis(5);
        let exit_code = loop {
            if let Some(sig) = self.interrupt.as_ref().and_then(Interrupt::received) {
                let name = Signal::try_from(sig)
                    .map(|s| s.as_str())
                    .unwrap_or("a signal");
                return Err(format!("interrupted by {name}"));
            }
            waiting(started.elapsed());
            for e in follower.poll().unwrap_or_default() {
                output(e.log.as_bytes());
            }
            match self.runtime.reconcile(id) {
                Ok(Some(s)) if s.status != Status::Running => {
                    for e in follower.poll().unwrap_or_default() {
                        output(e.log.as_bytes());
                    }
                    break s.exit_code.unwrap_or(0);
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(format!("the step's container {id} disappeared"));
                }
                Err(e) => return Err(e.to_string()),
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        };
        Ok(exit_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_is_the_bridge() {
        assert_eq!(
            build_network("default").unwrap(),
            NetworkMode::Bridge("bridge".into())
        );
        assert_eq!(build_network("none").unwrap(), NetworkMode::None);
        assert_eq!(build_network("host").unwrap(), NetworkMode::Host);
    }
}
