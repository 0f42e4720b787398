//! `wrun container-reap` (hidden): deletes the files of removed containers
//! (`<root>/containers/.removed/`), after the command that removed them has
//! returned. Started by `Containers::remove`; see there for why.

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct ReapArgs {}

impl ReapArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        wrun_runtime::state::Containers::open(&g.root)?.reap_removed();
        Ok(0)
    }
}
