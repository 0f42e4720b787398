//! `wrun save [-o FILE] IMAGE...`: a docker-archive (also an OCI layout) of
//! the images, to a file (written atomically) or standard output.

use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use crate::cmd::images::{no_such, open_store};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

impl SaveArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        // The library resolves every name before writing; an unknown one
        // writes nothing (and the temporary file is removed).
        match &self.output {
            Some(path) if path != "-" => {
                let dest = Path::new(path);
                let dir = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let file_name = dest
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = dir.join(format!(".{file_name}.wrun-save-{}", std::process::id()));
                let res = (|| -> anyhow::Result<()> {
                    let f = File::create(&tmp).map_err(|e| anyhow::anyhow!("open {path}: {e}"))?;
                    let mut w = BufWriter::with_capacity(1 << 20, f);
                    wrun_images::archive::save(&store, &self.images, &mut w).map_err(no_such)?;
                    let f = w.into_inner().map_err(|e| e.into_error())?;
                    f.sync_all()?;
                    fs::rename(&tmp, dest)?;
                    Ok(())
                })();
                if res.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                res?;
            }
            _ => {
                let stdout = std::io::stdout();
                if stdout.is_terminal() {
                    anyhow::bail!(
                        "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                    );
                }
                let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
                wrun_images::archive::save(&store, &self.images, &mut w).map_err(no_such)?;
                w.flush()?;
            }
        }
        Ok(0)
    }
}
