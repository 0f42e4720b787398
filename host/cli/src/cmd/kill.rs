//! `wrun kill [-s SIGNAL] CONTAINER...`

use super::container_common::for_each;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl KillArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        // A bad signal is the user's error for every container: say it once.
        wrun_runtime::process::parse_signal(&self.signal)
            .map_err(|e| anyhow::anyhow!("--signal {:?}: {e}", self.signal))?;
        let runtime = super::run::open_runtime(g)?;
        Ok(for_each(&self.containers, |c| {
            runtime.kill(c, &self.signal)
        }))
    }
}
