//! `wrun bench [--quick] [--rounds N] [--only a,b] [--skip a,b] [--json FILE]
//! [--plot FILE]`: the isolation comparison of the `wrun-benches` crate —
//! wrun's levels, runc, crun, runsc, podman and a microVM, side by side on
//! this machine. Subjects that are missing or fail are reported with the
//! reason; the run goes on. Run as root.

use std::path::PathBuf;

use anyhow::Context;
use wrun_benches::suite::{self, SuiteConfig};

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Few rounds and short loops (under a minute without the microVM)
    #[arg(long)]
    pub quick: bool,
    /// Rounds of the start-exit workload (the others run a quarter or a seventh as many)
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Only these subjects or workloads (comma-separated; the native process is always measured)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Leave out these subjects or workloads (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub skip: Vec<String>,
    /// Write the results as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the chart to FILE (SVG; FILE.png is converted with rsvg-convert when installed)
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write the table as markdown to FILE (for docs/benchmarks.md)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

impl BenchArgs {
    pub fn execute(self, _g: &Global) -> anyhow::Result<i32> {
        let wrun = std::env::current_exe().context("locating the wrun binary")?;
        let mut cfg = SuiteConfig::new(Some(wrun));
        cfg.quick = self.quick;
        cfg.rounds = self.rounds;
        cfg.only = self.only.iter().map(|s| s.trim().to_string()).collect();
        cfg.skip = self.skip.iter().map(|s| s.trim().to_string()).collect();
        // Check names and outputs before spending minutes measuring.
        cfg.selection()?;
        if let Some(p) = &self.plot {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "png" && wrun_benches::which("rsvg-convert").is_none() {
                anyhow::bail!(
                    "--plot {}: PNG output needs rsvg-convert (apt install librsvg2-bin); use a .svg file name",
                    p.display()
                );
            }
        }
        let report = suite::run(&cfg)?;
        print!("{}", suite::report::table(&report));
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(&suite::report::to_json(&report))?;
            suite::write_atomic(path, format!("{text}\n").as_bytes())?;
            eprintln!("bench: JSON written to {}", path.display());
        }
        if let Some(path) = &self.markdown {
            suite::write_atomic(path, suite::report::markdown(&report).as_bytes())?;
            eprintln!("bench: markdown table written to {}", path.display());
        }
        if let Some(path) = &self.plot {
            let svg = suite::svg::chart(&report);
            if path.extension().is_some_and(|e| e == "png") {
                let tmp = path.with_extension("svg.tmp");
                suite::write_atomic(&tmp, svg.as_bytes())?;
                let status = std::process::Command::new("rsvg-convert")
                    .arg("-o")
                    .arg(path)
                    .arg(&tmp)
                    .status()
                    .context("running rsvg-convert")?;
                let _ = std::fs::remove_file(&tmp);
                anyhow::ensure!(status.success(), "rsvg-convert failed ({status})");
            } else {
                suite::write_atomic(path, svg.as_bytes())?;
            }
            eprintln!("bench: chart written to {}", path.display());
        }
        Ok(0)
    }
}
