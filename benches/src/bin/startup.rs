//! `startup`: start-to-exit of `wrun run --rm busybox true` against crun,
//! runc, podman and bare namespaces, interleaved in one run. Run as root.
//!
//! ```text
//! startup [--runs N] [--warmup N] [--rootfs-tar FILE] [--wrun FILE]
//!         [--wrun-baseline FILE] [--only NAME,...] [--update-doc docs/benchmarks.md]
//! ```
//!
//! Prints a markdown table (median, p10, p90, ratio to crun). With
//! `--update-doc`, also writes it between the `<!-- startup:begin -->` and
//! `<!-- startup:end -->` markers of that file. `--wrun-baseline` adds a
//! row for another wrun build (with its `wrun-shim` beside it), timed in the
//! same interleaved rounds: an A/B of two builds under the same load.

use std::path::PathBuf;
use std::process::ExitCode;

use wrun_benches::{Config, run, splice_into_doc};

const USAGE: &str = "usage: startup [--runs N] [--warmup N] [--rootfs-tar FILE] [--wrun FILE] \
[--wrun-baseline FILE] [--only native,unshare,crun,runc,podman,wrun] [--workdir DIR] [--update-doc FILE]";

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("startup: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_inner() -> Result<(), String> {
    let mut cfg = Config::from_env(100);
    let mut doc: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--runs" => {
                let v = value("--runs")?;
                cfg.runs = v
                    .parse()
                    .map_err(|_| format!("--runs: not a number: {v}"))?;
            }
            "--warmup" => {
                let v = value("--warmup")?;
                cfg.warmup = v
                    .parse()
                    .map_err(|_| format!("--warmup: not a number: {v}"))?;
            }
            "--rootfs-tar" => cfg.rootfs_tar = PathBuf::from(value("--rootfs-tar")?),
            "--wrun" => cfg.wrun = Some(PathBuf::from(value("--wrun")?)),
            "--wrun-baseline" => cfg.wrun_baseline = Some(PathBuf::from(value("--wrun-baseline")?)),
            "--workdir" => cfg.workdir_parent = PathBuf::from(value("--workdir")?),
            "--only" => {
                cfg.only = Some(
                    value("--only")?
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .collect(),
                )
            }
            "--update-doc" => doc = Some(PathBuf::from(value("--update-doc")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    // Check the document before spending minutes measuring.
    let original = match &doc {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--update-doc {}: {e}", path.display()))?;
            splice_into_doc(&text, "")?;
            Some(text)
        }
        None => None,
    };
    let report = run(&cfg)?;
    let table = report.markdown();
    println!("{table}");
    if let (Some(path), Some(text)) = (doc, original) {
        let updated = splice_into_doc(&text, &table)?;
        let tmp = path.with_extension("md.tmp");
        std::fs::write(&tmp, updated).map_err(|e| format!("write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
        eprintln!("startup: table written into {}", path.display());
    }
    Ok(())
}
