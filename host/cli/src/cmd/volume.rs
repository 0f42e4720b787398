//! `wrun volume SUBCOMMAND`: create, ls, inspect, rm and prune, with
//! Docker's flags and output. The work is done by
//! `wrun_runtime::volume::Volumes`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{Value, json};
use wrun_runtime::volume::{Volumes, inspect_json};

use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

impl VolumeCommand {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        match self {
            VolumeCommand::Create(a) => a.execute(g),
            VolumeCommand::Ls(a) => a.execute(g),
            VolumeCommand::Inspect(a) => a.execute(g),
            VolumeCommand::Rm(a) => a.execute(g),
            VolumeCommand::Prune(a) => a.execute(g),
        }
    }
}

fn open(g: &Global) -> anyhow::Result<Volumes> {
    Ok(Volumes::open(&g.root)?)
}

fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Specify volume driver name (only "local")
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// The volume's name; a random one when absent
    pub name: Option<String>,
}

impl CreateArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.driver != "local" {
            anyhow::bail!(
                "Error response from daemon: create {}: plugin \"{}\" not found: wrun supports the local driver only",
                self.name.unwrap_or_default(),
                self.driver
            );
        }
        let vols = open(g)?;
        let v = match &self.name {
            Some(n) => vols.create(n, labels(&self.labels))?,
            None => {
                let anon = vols.create_anonymous()?;
                vols.remove(&anon.name, true)?;
                vols.create(&anon.name, labels(&self.labels))?
            }
        };
        println!("{}", v.name);
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (dangling=true, label=KEY[=VALUE], name=NAME)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

impl LsArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let vols = open(g)?;
        let mut rows = Vec::new();
        for v in vols.list()? {
            let mut keep = true;
            for f in &self.filter {
                let (k, val) = f.split_once('=').unwrap_or((f, ""));
                keep &= match k {
                    "name" => v.name.contains(val),
                    "label" => match val.split_once('=') {
                        Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                        None => v.labels.contains_key(val),
                    },
                    "dangling" => (val == "true") == vols.users(&v.name).is_empty(),
                    "driver" => v.driver == val,
                    other => anyhow::bail!("invalid filter '{other}'"),
                };
            }
            if keep {
                rows.push(v);
            }
        }
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for v in rows {
                writeln!(out, "{}", v.name)?;
            }
            return Ok(0);
        }
        if let Some(t) = &self.format {
            for v in &rows {
                let row: Value = json!({
                    "Name": v.name, "Driver": v.driver, "Scope": "local",
                    "Mountpoint": vols.data_dir(&v.name),
                    "Labels": v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(","),
                });
                writeln!(out, "{}", crate::format::render(t, &row)?)?;
            }
            return Ok(0);
        }
        writeln!(out, "{:<16}VOLUME NAME", "DRIVER")?;
        for v in rows {
            writeln!(out, "{:<16}{}", v.driver, v.name)?;
        }
        Ok(0)
    }
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

impl InspectArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let vols = open(g)?;
        let mut found = Vec::new();
        let mut code = 0;
        for n in &self.names {
            match vols.get(n) {
                Ok(v) => found.push(inspect_json(&vols, &v)),
                Err(e) => {
                    eprintln!("{e}");
                    code = 1;
                }
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
        Ok(code)
    }
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

impl RmArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let vols = open(g)?;
        let mut code = 0;
        for n in &self.names {
            match vols.remove(n, false) {
                Ok(()) => println!("{n}"),
                Err(wrun_runtime::volume::Error::NotFound(_)) if self.force => {}
                Err(e) => {
                    eprintln!("{e}");
                    code = 1;
                }
            }
        }
        Ok(code)
    }
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (label=KEY[=VALUE])
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

impl PruneArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let mut label_filters = Vec::new();
        for f in &self.filter {
            match f.split_once('=') {
                Some(("label", l)) => label_filters.push(match l.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (l.to_string(), None),
                }),
                _ => anyhow::bail!("invalid filter {f:?} (only label=KEY[=VALUE])"),
            }
        }
        if !self.force {
            print!(
                "WARNING! This will remove anonymous local volumes not used by at least one container.\n\
                 Are you sure you want to continue? [y/N] "
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Ok(0);
            }
        }
        let (removed, bytes) = open(g)?.prune(self.all, &label_filters)?;
        if !removed.is_empty() {
            println!("Deleted Volumes:");
            for n in &removed {
                println!("{n}");
            }
            println!();
        }
        println!(
            "Total reclaimed space: {}",
            wrun_images::human::human_size(bytes)
        );
        Ok(0)
    }
}
