//! `wrun rm [-f] [-v] CONTAINER...` and `wrun container prune`.

use super::container_common::for_each;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container (wrun makes
    /// none yet, so there is nothing extra to remove)
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl RmArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        Ok(for_each(&self.containers, |c| {
            runtime.remove(c, self.force).map(|_| ())
        }))
    }
}
