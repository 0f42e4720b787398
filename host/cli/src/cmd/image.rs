use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {}

impl ImageCommand {
    pub fn execute(self, _g: &Global) -> anyhow::Result<i32> {
        match self {}
    }
}
