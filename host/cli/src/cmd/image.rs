//! `wrun image SUBCOMMAND`: Docker's management form of the image commands
//! (`image ls`, `image rm`, `image inspect`, `image prune`, …). Most reuse
//! the top-level commands' arguments.

use std::io::{BufRead, Write};

use serde_json::Value;
use wrun_images::RemoveEvent;
use wrun_images::human::human_size;

use crate::cmd::images::{no_such, open_store};
use crate::cmd::{history, images, import, load, rmi, save, tag};
use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(rmi::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Save one or more images to a tar archive
    Save(save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

impl ImageCommand {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        match self {
            ImageCommand::Ls(a) => a.execute(g),
            ImageCommand::Rm(a) => a.execute(g),
            ImageCommand::Inspect(a) => a.execute(g),
            ImageCommand::History(a) => a.execute(g),
            ImageCommand::Tag(a) => a.execute(g),
            ImageCommand::Save(a) => a.execute(g),
            ImageCommand::Load(a) => a.execute(g),
            ImageCommand::Import(a) => a.execute(g),
            ImageCommand::Prune(a) => a.execute(g),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

impl ImageInspectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for name in &self.images {
            match store.lookup(name) {
                Ok(img) => found.push(wrun_images::inspect_json(&store, &img)),
                Err(wrun_images::Error::ImageNotFound { .. }) => {
                    errors.push(format!("Error: No such image: {name}"))
                }
                Err(e) => errors.push(format!("Error: {e}")),
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
        for e in &errors {
            eprintln!("{e}");
        }
        Ok(if errors.is_empty() { 0 } else { 1 })
    }
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (accepted for compatibility; only none is supported)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

impl PruneArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if !self.filter.is_empty() {
            anyhow::bail!("image prune --filter is not supported yet");
        }
        if !self.force {
            let warning = if self.all {
                "WARNING! This will remove all images without at least one container associated to them."
            } else {
                "WARNING! This will remove all dangling images."
            };
            print!("{warning}\nAre you sure you want to continue? [y/N] ");
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
                return Ok(0);
            }
        }
        let store = open_store(g)?;
        let in_use = store.containers_by_image();
        let (events, reclaimed) = store.prune(self.all, &in_use).map_err(no_such)?;
        if !events.is_empty() {
            println!("Deleted Images:");
            for e in &events {
                match e {
                    RemoveEvent::Untagged(n) => println!("untagged: {n}"),
                    RemoveEvent::Deleted(id) => println!("deleted: {id}"),
                }
            }
            println!();
        }
        println!("Total reclaimed space: {}", human_size(reclaimed));
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cmd::{Cli, Command};

    fn parse(line: &str) -> Cli {
        let args = line.split_whitespace();
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// The lecture's image commands, and Docker's flags for the rest.
    #[test]
    fn image_command_lines_parse() {
        for line in [
            "wrun images",
            "wrun images -a -q --no-trunc --digests --format json",
            "wrun images --filter dangling=true busybox",
            "wrun history flask-app",
            "wrun history --no-trunc -H=false -q flask-app",
            "wrun image prune",
            "wrun image prune -a -f",
            "wrun image ls -q",
            "wrun image list",
            "wrun image rm -f a b",
            "wrun image inspect -f {{.Id}} a",
            "wrun image history a",
            "wrun image tag a b:c",
            "wrun image save -o f.tar a",
            "wrun image load -i f.tar",
            "wrun image import - repo:tag",
            "wrun import -c CMD -m msg --change ENV file.tar repo:tag",
            "wrun load -q",
            "wrun save -o out.tar a b",
            "wrun tag a localhost:5000/a:1",
            "wrun rmi -f --no-prune a",
        ] {
            parse(line);
        }
        match parse("wrun image prune -a").command {
            Command::Image(super::ImageCommand::Prune(p)) => assert!(p.all && !p.force),
            other => panic!("{other:?}"),
        }
        for bad in ["wrun rmi", "wrun tag a", "wrun save", "wrun history"] {
            assert!(
                Cli::try_parse_from(bad.split_whitespace()).is_err(),
                "{bad}"
            );
        }
    }
}
