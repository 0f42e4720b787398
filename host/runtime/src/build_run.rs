//! `RUN` steps of `wrun build`: each runs in a container this runtime makes
//! exactly as `wrun run` would (the same namespaces, capabilities, seccomp
//! filter, cgroup and networking), on the step's parent image. The
//! container's overlay upper dir is what the step changed; the builder
//! turns it into the layer, then the container is removed.

use std::time::Duration;

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
}

impl<'r> BuildRunner<'r> {
    pub fn new(runtime: &'r Runtime, store: &'r Store) -> Self {
        BuildRunner { runtime, store }
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
    })
}

impl StepRunner for BuildRunner<'_> {
    fn run(
        &mut self,
        req: &RunRequest<'_>,
        started: &mut dyn FnMut(&str),
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
        if let Err(e) = self.runtime.start_detached(&id) {
            self.remove(&id);
            return Err(e.to_string());
        }
        let mut delay = Duration::from_millis(5);
        let exit_code = loop {
            for e in follower.poll().unwrap_or_default() {
                output(e.log.as_bytes());
            }
            match self.runtime.reconcile(&id) {
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
                Err(e) => {
                    self.remove(&id);
                    return Err(e.to_string());
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        };
        Ok(RunOutcome {
            exit_code,
            upper: dir.join("upper"),
            container_id: id,
        })
    }

    fn remove(&mut self, container_id: &str) {
        if let Err(e) = self.runtime.remove(container_id, true) {
            tracing::warn!(container = container_id, error = %e, "removing a build container");
        }
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
