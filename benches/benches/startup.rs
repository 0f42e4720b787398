//! `cargo bench -p wrun-benches`: the startup comparison of `src/bin/startup.rs`
//! with a short run count (`WRUN_BENCH_RUNS`, default 30). It spawns real
//! containers, so it needs root; without root it says so and measures nothing.

use std::process::ExitCode;

use wrun_benches::{Config, run};

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this harness takes its settings from
    // the environment instead (see `Config::from_env`).
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        eprintln!("startup bench: not root; containers cannot be started, nothing measured");
        return ExitCode::SUCCESS;
    }
    match run(&Config::from_env(30)) {
        Ok(report) => {
            println!("{}", report.markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("startup bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
