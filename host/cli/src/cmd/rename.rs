//! `wrun rename CONTAINER NEW_NAME`

use super::container::{DaemonError, daemon_errors};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

impl RenameArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        daemon_errors(
            runtime
                .rename(&self.container, &self.new_name)
                .map(|()| 0)
                .map_err(|e| DaemonError(e.to_string()).into()),
        )
    }
}
