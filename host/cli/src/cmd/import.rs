//! `wrun import [-c CHANGE]... [-m MSG] FILE|- [REPOSITORY[:TAG]]`: a rootfs
//! tarball (plain or gzip) becomes a one-layer image; prints its id.

use std::fs::File;
use std::io::{BufReader, IsTerminal};

use wrun_images::import::{ImportOptions, import};

use crate::cmd::images::open_store;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long, value_name = "CHANGE")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable (only the host's is supported)
    #[arg(long)]
    pub platform: Option<String>,
    /// The tarball, or - for standard input
    #[arg(value_name = "file|-")]
    pub file: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

impl ImportArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.file.contains("://") {
            anyhow::bail!(
                "importing from a URL ({}) is not supported; download it first",
                self.file
            );
        }
        let store = open_store(g)?;
        let opts = ImportOptions {
            reference: self.reference.clone(),
            changes: self.change.clone(),
            message: self.message.clone(),
            source: self.file.clone(),
        };
        let id = if self.file == "-" {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!("requested import from stdin, but stdin is a terminal");
            }
            import(&store, stdin, &opts)?
        } else {
            let f =
                File::open(&self.file).map_err(|e| anyhow::anyhow!("open {}: {}", self.file, e))?;
            import(&store, BufReader::with_capacity(1 << 20, f), &opts)?
        };
        println!("{id}");
        Ok(0)
    }
}
