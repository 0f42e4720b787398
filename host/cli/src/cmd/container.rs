//! `wrun container SUBCOMMAND`: Docker's management form of the container
//! commands (`container ls`, `container rm`, `container prune`, …). All
//! but `prune` reuse the top-level commands' arguments.

use std::io::{BufRead, Write};

use wrun_images::human::human_size;

use crate::cmd::{
    attach, cp, create, exec, inspect, kill, logs, port, ps, rename, rm, run, start, stats, stop,
    top, wait,
};
use crate::global::Global;

#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(Box<run::RunArgs>),
    /// Create a new container
    Create(Box<create::CreateArgs>),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(ps::PsArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Restart one or more containers
    Restart(stop::RestartArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

impl ContainerCommand {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        match self {
            ContainerCommand::Run(a) => a.execute(g),
            ContainerCommand::Create(a) => a.execute(g),
            ContainerCommand::Ls(a) => a.execute(g),
            ContainerCommand::Rm(a) => a.execute(g),
            ContainerCommand::Start(a) => a.execute(g),
            ContainerCommand::Stop(a) => a.execute(g),
            ContainerCommand::Restart(a) => a.execute(g),
            ContainerCommand::Kill(a) => a.execute(g),
            ContainerCommand::Logs(a) => a.execute(g),
            ContainerCommand::Inspect(mut a) => {
                // `docker container inspect` looks at containers only.
                a.kind.get_or_insert_with(|| "container".into());
                a.execute(g)
            }
            ContainerCommand::Wait(a) => a.execute(g),
            ContainerCommand::Exec(a) => a.execute(g),
            ContainerCommand::Attach(a) => a.execute(g),
            ContainerCommand::Top(a) => a.execute(g),
            ContainerCommand::Stats(a) => a.execute(g),
            ContainerCommand::Cp(a) => a.execute(g),
            ContainerCommand::Rename(a) => a.execute(g),
            ContainerCommand::Port(a) => a.execute(g),
            ContainerCommand::Prune(a) => a.execute(g),
        }
    }
}

/// An error Docker's CLI prints as the daemon's answer:
/// `Error response from daemon: …` on stderr, exit status 1.
#[derive(Debug)]
pub struct DaemonError(pub String);

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error response from daemon: {}", self.0)
    }
}

impl std::error::Error for DaemonError {}

/// Prints a [`DaemonError`] the way Docker does (no `Error:` prefix) and
/// turns it into exit status 1; other errors pass through.
pub fn daemon_errors(result: anyhow::Result<i32>) -> anyhow::Result<i32> {
    match result {
        Err(e) => match e.downcast::<DaemonError>() {
            Ok(d) => {
                eprintln!("{d}");
                Ok(1)
            }
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (accepted for compatibility; only none is supported)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

impl PruneArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if let Some(f) = self.filter.first() {
            anyhow::bail!("container prune --filter is not supported yet: {f}");
        }
        if !self.force {
            print!(
                "WARNING! This will remove all stopped containers.\n\
                 Are you sure you want to continue? [y/N] "
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
                return Ok(0);
            }
        }
        let runtime = super::run::open_runtime(g)?;
        let pruned = runtime.prune()?;
        let mut out = std::io::stdout().lock();
        if !pruned.ids.is_empty() {
            writeln!(out, "Deleted Containers:")?;
            for id in &pruned.ids {
                writeln!(out, "{id}")?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "Total reclaimed space: {}",
            human_size(pruned.reclaimed)
        )?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cmd::{Cli, Command};

    fn parse(args: &[&str]) -> super::ContainerCommand {
        let mut full = vec!["wrun", "container"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Container(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_container_command_tree() {
        use super::ContainerCommand as C;
        assert!(matches!(parse(&["ls", "-a"]), C::Ls(a) if a.all));
        assert!(matches!(parse(&["ps", "-q"]), C::Ls(a) if a.quiet));
        assert!(matches!(parse(&["list"]), C::Ls(_)));
        assert!(matches!(parse(&["rm", "-f", "x"]), C::Rm(a) if a.force));
        assert!(matches!(parse(&["remove", "x"]), C::Rm(_)));
        assert!(matches!(parse(&["stop", "-t", "3", "x"]), C::Stop(a) if a.time == 3));
        assert!(matches!(parse(&["start", "-a", "x"]), C::Start(a) if a.attach));
        assert!(matches!(parse(&["restart", "x"]), C::Restart(_)));
        assert!(matches!(parse(&["kill", "-s", "TERM", "x"]), C::Kill(a) if a.signal == "TERM"));
        assert!(matches!(parse(&["logs", "-f", "x"]), C::Logs(a) if a.follow));
        assert!(matches!(parse(&["inspect", "x"]), C::Inspect(_)));
        assert!(matches!(parse(&["wait", "x", "y"]), C::Wait(a) if a.containers.len() == 2));
        assert!(matches!(parse(&["top", "x", "aux"]), C::Top(a) if a.ps_args == ["aux"]));
        assert!(matches!(parse(&["stats", "--no-stream"]), C::Stats(a) if a.no_stream));
        assert!(matches!(parse(&["cp", "x:/a", "b"]), C::Cp(_)));
        assert!(matches!(parse(&["rename", "a", "b"]), C::Rename(a) if a.new_name == "b"));
        assert!(matches!(parse(&["prune", "-f"]), C::Prune(a) if a.force));
        assert!(matches!(parse(&["run", "-d", "busybox"]), C::Run(_)));
        assert!(matches!(parse(&["attach", "x"]), C::Attach(_)));
        assert!(
            matches!(parse(&["port", "x", "80/tcp"]), C::Port(a) if a.port.as_deref() == Some("80/tcp"))
        );
        assert!(matches!(parse(&["exec", "-it", "x", "sh"]), C::Exec(a) if a.tty && a.interactive));
    }

    #[test]
    fn top_level_tools_parse() {
        for args in [
            &["wrun", "top", "web"][..],
            &[
                "wrun",
                "stats",
                "--no-stream",
                "--format",
                "{{.Name}} {{.PIDs}}",
                "web",
            ],
            &["wrun", "cp", "web:/etc/hosts", "."],
            &["wrun", "rename", "web", "api"],
        ] {
            Cli::try_parse_from(args).unwrap();
        }
        assert!(Cli::try_parse_from(["wrun", "rename", "web"]).is_err());
        assert!(Cli::try_parse_from(["wrun", "cp", "web:/x"]).is_err());
    }
}
