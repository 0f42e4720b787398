//! Options every subcommand shares (`--root`, `--log-level`).

use std::path::PathBuf;

/// Global options, flattened into the top-level parser.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Directory holding every file wrun writes: images, containers, locks.
    #[arg(
        long,
        global = true,
        env = "WRUN_ROOT",
        default_value = "/var/lib/wrun",
        value_name = "DIR"
    )]
    pub root: PathBuf,

    /// How much wrun says about itself on standard error.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
}

/// Sends the libraries' `tracing` events at `level` and above to stderr.
pub fn init_logging(level: &str) {
    let max = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::WARN);
    tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
