//! `wrun inspect [--type image|container] [-f FORMAT] NAME|ID...`

use serde_json::Value;
use wrun_images::Store;
use wrun_runtime::state::Containers;

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a Go-style template ({{.Field}}, {{json .X}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Return JSON for the specified type (image, container)
    #[arg(long = "type", value_parser = ["image", "container"])]
    pub kind: Option<String>,
    /// Names or ids of containers or images
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

impl InspectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for name in &self.names {
            match self.find(g, name)? {
                Some(v) => found.push(v),
                None => missing.push(name),
            }
        }
        match &self.format {
            Some(t) => {
                for v in &found {
                    println!("{}", crate::format::render(t, v)?);
                }
            }
            None => println!("{}", crate::format::docker_json(&Value::Array(found))),
        }
        for name in &missing {
            eprintln!("Error: No such object: {name}");
        }
        Ok(if missing.is_empty() { 0 } else { 1 })
    }

    /// Containers first, then images, as Docker does without `--type`.
    fn find(&self, g: &Global, name: &str) -> anyhow::Result<Option<Value>> {
        if self.kind.as_deref() != Some("image") {
            let containers = Containers::open(&g.root)?;
            if let Ok(id) = containers.find(name) {
                return Ok(Some(wrun_runtime::inspect::container_json(
                    &containers,
                    &id,
                )?));
            }
        }
        if self.kind.as_deref() != Some("container") {
            let store = Store::open(&g.root)?;
            if let Ok(image) = store.lookup(name) {
                return Ok(Some(wrun_images::inspect_json(&store, &image)));
            }
        }
        Ok(None)
    }
}
