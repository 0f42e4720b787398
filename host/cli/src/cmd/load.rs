//! `wrun load [-i FILE] [-q]`: images from a docker-archive or oci-archive
//! (file or standard input); prints `Loaded image: NAME` per name.

use std::io::IsTerminal;

use crate::cmd::images::open_store;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

impl LoadArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        let loaded = match &self.input {
            Some(path) if path != "-" => {
                let p = std::path::Path::new(path);
                if !p.exists() {
                    anyhow::bail!("open {path}: no such file or directory");
                }
                // Read in place: no copy of a plain tar file.
                wrun_images::archive::load_path(&store, p)?
            }
            _ => {
                let stdin = std::io::stdin();
                if stdin.is_terminal() {
                    anyhow::bail!("requested load from stdin, but stdin is empty");
                }
                wrun_images::archive::load(&store, stdin.lock(), "stdin")?
            }
        };
        if !self.quiet {
            for img in loaded {
                if img.names.is_empty() {
                    println!("Loaded image ID: {}", img.id);
                }
                for n in img.names {
                    println!("Loaded image: {n}");
                }
            }
        }
        Ok(0)
    }
}
