use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {}

impl ImagesArgs {
    pub fn execute(self, _g: &Global) -> anyhow::Result<i32> {
        anyhow::bail!("not written yet")
    }
}
