//! `wrun start [-a] [-i] CONTAINER...`

use wrun_runtime::launch::SignalProxy;
use wrun_runtime::monitor::Attached;
use wrun_runtime::state::Status;

use super::container_common::for_each;
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl StartArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.attach || self.interactive {
            if self.containers.len() > 1 {
                anyhow::bail!("you cannot start and attach multiple containers at once");
            }
            let signals = SignalProxy::block()?;
            let runtime = super::run::open_runtime(g)?;
            let state = runtime.get(&self.containers[0])?;
            if state.status == Status::Running {
                return Ok(0);
            }
            let attached = Attached {
                stdin: self.interactive,
                signals: &signals,
            };
            return runtime
                .monitor(&state.id, Some(attached), None)
                .map_err(|e| ExitError::new(1, format!("Error response from daemon: {e}")).into());
        }
        let runtime = super::run::open_runtime(g)?;
        Ok(for_each(&self.containers, |c| {
            let state = runtime.get(c)?;
            if state.status == Status::Running {
                return Ok(());
            }
            runtime.start_detached(&state.id)
        }))
    }
}
