//! `wrun rmi [-f] IMAGE...`: untag, and delete images left without a name.
//! Prints Docker's `Untagged:` / `Deleted:` lines; an image that fails does
//! not stop the others, but makes the exit code 1.

use wrun_images::RemoveEvent;

use crate::cmd::images::{no_such, open_store};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted for compatibility)
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

impl RmiArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        let in_use = store.containers_by_image();
        let mut code = 0;
        for name in &self.images {
            match store.remove(name, self.force, &in_use) {
                Ok(events) => {
                    for e in events {
                        match e {
                            RemoveEvent::Untagged(n) => println!("Untagged: {n}"),
                            RemoveEvent::Deleted(id) => println!("Deleted: {id}"),
                        }
                    }
                }
                Err(e) => {
                    eprintln!("Error: {:#}", no_such(e));
                    code = 1;
                }
            }
        }
        Ok(code)
    }
}
