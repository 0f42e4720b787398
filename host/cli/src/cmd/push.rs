//! `wrun push [--compression gzip|zstd] [-q] NAME[:TAG]`: uploads an image
//! to the registry its name points at (`wrun tag` it there first, as with
//! Docker). Output is Docker's: `The push refers to repository [...]`, a
//! line per layer (`Preparing`, `Pushed`, `Layer already exists`, `Mounted
//! from x`), then `TAG: digest: sha256:… size: N`.

use std::collections::HashMap;
use std::sync::Mutex;

use wrun_images::Reference;
use wrun_images::registry::{self, Compression, PushEvent, PushOptions};

use crate::cmd::images::open_store;
use crate::cmd::pull::{client, daemon_error};
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Compression for layers stored uncompressed: gzip or zstd
    #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd"])]
    pub compression: String,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Push all tags of the repository (not supported)
    #[arg(short = 'a', long = "all-tags", hide = true)]
    pub all_tags: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

impl PushArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.all_tags {
            return Err(ExitError::new(1, "wrun push --all-tags is not supported").into());
        }
        let r = Reference::parse_normalized(&self.name)
            .map_err(|e| ExitError::new(1, e.to_string()))?;
        let store = open_store(g)?;
        let client = client(g)?;
        if !self.quiet {
            println!("The push refers to repository [{}]", r.repository());
        }
        let opts = PushOptions {
            compression: if self.compression == "zstd" {
                Compression::Zstd
            } else {
                Compression::Gzip
            },
        };
        let quiet = self.quiet;
        let last: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
        let progress = |ev: PushEvent| {
            if quiet {
                return;
            }
            let (id, text) = match ev {
                PushEvent::Preparing { id } => (id, "Preparing".to_owned()),
                PushEvent::Pushing { id, .. } => (id, "Pushing".to_owned()),
                PushEvent::Pushed { id } => (id, "Pushed".to_owned()),
                PushEvent::AlreadyExists { id } => (id, "Layer already exists".to_owned()),
                PushEvent::Mounted { id, from } => (id, format!("Mounted from {from}")),
            };
            let mut l = last.lock().expect("lock");
            if l.get(&id) != Some(&text) {
                println!("{id}: {text}");
                l.insert(id, text);
            }
        };
        let pushed = registry::push(&client, &store, &r, &opts, &progress).map_err(|e| {
            let msg = match &e {
                registry::Error::BadContent { .. } => e.to_string(),
                _ => daemon_error(&e),
            };
            ExitError::new(1, msg)
        })?;
        if quiet {
            println!("{}", r);
        } else {
            println!(
                "{}: digest: {} size: {}",
                pushed.tag, pushed.digest, pushed.size
            );
        }
        Ok(0)
    }
}
