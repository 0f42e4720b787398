//! `wrun rm [-f] [-v] CONTAINER...` and `wrun container prune`.

use super::container_common::for_each;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl RmArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let volumes = match self.volumes {
            true => Some(wrun_runtime::volume::Volumes::open(&g.root)?),
            false => None,
        };
        Ok(for_each(&self.containers, |c| {
            // Read before the container's directory goes.
            let dir = runtime.get(c).map(|s| runtime.containers().dir(&s.id)).ok();
            let anonymous = dir
                .as_deref()
                .map(wrun_runtime::volume::anonymous_of)
                .unwrap_or_default();
            runtime.remove(c, self.force)?;
            if let Some(volumes) = &volumes {
                for v in anonymous {
                    if let Err(e) = volumes.remove(&v, true) {
                        eprintln!("Error response from daemon: {e}");
                    }
                }
            }
            Ok(())
        }))
    }
}
