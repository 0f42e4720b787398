//! `wrun stop [-t SECONDS] CONTAINER...` and `wrun restart`.

use std::time::Duration;

use super::container_common::for_each;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        default_value_t = 10,
        allow_hyphen_values = true
    )]
    pub time: i64,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(crate) fn timeout(seconds: i64) -> anyhow::Result<Duration> {
    if seconds < 0 {
        anyhow::bail!("invalid value \"{seconds}\" for -t/--time: the timeout cannot be negative");
    }
    Ok(Duration::from_secs(seconds as u64))
}

impl StopArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let timeout = timeout(self.time)?;
        let runtime = super::run::open_runtime(g)?;
        Ok(for_each(&self.containers, |c| runtime.stop(c, timeout)))
    }
}

/// `wrun restart` takes exactly `stop`'s flags.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub stop: StopArgs,
}

impl RestartArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let timeout = timeout(self.stop.time)?;
        let runtime = super::run::open_runtime(g)?;
        Ok(for_each(&self.stop.containers, |c| {
            runtime.stop(c, timeout)?;
            let id = runtime.containers().find(c)?;
            runtime.start_detached(&id)
        }))
    }
}
