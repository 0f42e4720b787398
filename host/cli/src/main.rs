//! `wrun`: the command-line front end. A thin dispatcher: each subcommand
//! lives in its own file under `cmd/`, parses its Docker-style flags with
//! clap and calls into the library crates (`wrun-images`, `wrun-runtime`).
//! Libraries never print or exit; this binary turns their typed errors into
//! Docker's messages and exit codes (see `exit.rs`).

#![forbid(unsafe_code)]

mod cmd;
mod exit;
mod format;
mod global;

use clap::Parser;

fn main() {
    let cli = cmd::Cli::parse_from(argv());
    global::init_logging(&cli.global.log_level);
    if cli.command.only_prints() {
        wrun_sys::process::default_sigpipe();
    }
    let code = match cli.execute() {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    std::process::exit(code);
}

/// Our arguments; run as `wrun-compose` or `docker-compose` (a link to
/// this binary), `wrun-compose up` is `wrun compose up`.
fn argv() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "wrun-compose" || name == "docker-compose" {
        args.insert(1, "compose".into());
    }
    args
}
