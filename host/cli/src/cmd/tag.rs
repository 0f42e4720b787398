//! `wrun tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`: give an image another name.

use crate::cmd::images::{no_such, open_store};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

impl TagArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        store.tag(&self.source, &self.target).map_err(no_such)?;
        Ok(0)
    }
}
