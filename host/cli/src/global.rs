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
