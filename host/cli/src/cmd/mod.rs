//! The command tree. One file per subcommand, each with its `Args` struct
//! and an `execute` method returning the process exit code.

use clap::{Parser, Subcommand};

use crate::global::Global;

pub mod attach;
pub mod audit;
pub mod bench;
pub mod build;
pub mod compose;
pub mod container;
mod container_common;
pub mod cp;
pub mod create;
pub mod exec;
pub mod history;
pub mod image;
pub mod images;
pub mod import;
pub mod inspect;
pub mod kill;
pub(crate) mod links;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod monitor;
pub mod network;
pub mod policy;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod reap;
pub mod rename;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod start;
pub mod stats;
pub mod stop;
pub mod tag;
pub mod top;
pub mod volume;
pub mod wait;

/// A daemonless, Docker-compatible container runtime.
#[derive(Debug, Parser)]
#[command(name = "wrun", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(Box<run::RunArgs>),
    /// Create a new container
    Create(Box<create::CreateArgs>),
    /// List images
    Images(images::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Save one or more images to a tar archive
    Save(save::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Return low-level information on images and containers
    Inspect(inspect::InspectArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// List containers
    #[command(alias = "container-ls")]
    Ps(ps::PsArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Restart one or more containers
    Restart(stop::RestartArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
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
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Define and run multi-container applications
    Compose(compose::ComposeArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(logout::LogoutArgs),
    /// Compare isolation levels and peer runtimes side by side on this machine
    Bench(bench::BenchArgs),
    /// Show the policy decisions of a container (--isolation wasm)
    Audit(audit::AuditArgs),
    /// Manage policies: list, check, replay an audit log, generate one
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The process that owns a detached container (started by wrun itself)
    #[command(hide = true)]
    ContainerMonitor(monitor::MonitorArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Print BuildKit's parse of a Dockerfile (for comparison with its corpus)
    #[command(hide = true)]
    DockerfileParse(build::DockerfileParseArgs),
    /// Deletes removed containers' files (started by wrun itself)
    #[command(hide = true)]
    ContainerReap(reap::ReapArgs),
}

impl Command {
    /// Commands that only print what they find: a closed stdout (`| head`)
    /// may end them with SIGPIPE. Not those that own or relay a container's
    /// streams, which must outlive a reader that went away.
    pub fn only_prints(&self) -> bool {
        !matches!(
            self,
            Command::Run(_)
                | Command::Start(_)
                | Command::Restart(_)
                | Command::Attach(_)
                | Command::Exec(_)
                | Command::Container(_)
                | Command::ContainerMonitor(_)
                | Command::Compose(_)
                | Command::Build(_)
                | Command::Bench(_)
        )
    }
}

impl Cli {
    pub fn execute(self) -> anyhow::Result<i32> {
        let g = &self.global;
        match self.command {
            Command::Run(a) => a.execute(g),
            Command::Create(a) => a.execute(g),
            Command::Images(a) => a.execute(g),
            Command::Import(a) => a.execute(g),
            Command::Load(a) => a.execute(g),
            Command::Save(a) => a.execute(g),
            Command::Tag(a) => a.execute(g),
            Command::Rmi(a) => a.execute(g),
            Command::History(a) => a.execute(g),
            Command::Inspect(a) => a.execute(g),
            Command::Image(a) => a.execute(g),
            Command::Ps(a) => a.execute(g),
            Command::Stop(a) => a.execute(g),
            Command::Restart(a) => a.execute(g),
            Command::Kill(a) => a.execute(g),
            Command::Rm(a) => a.execute(g),
            Command::Logs(a) => a.execute(g),
            Command::Wait(a) => a.execute(g),
            Command::Start(a) => a.execute(g),
            Command::Exec(a) => a.execute(g),
            Command::Attach(a) => a.execute(g),
            Command::Top(a) => a.execute(g),
            Command::Stats(a) => a.execute(g),
            Command::Cp(a) => a.execute(g),
            Command::Rename(a) => a.execute(g),
            Command::Container(a) => a.execute(g),
            Command::Network(a) => a.execute(g),
            Command::Port(a) => a.execute(g),
            Command::Volume(a) => a.execute(g),
            Command::Compose(a) => a.execute(g),
            Command::Audit(a) => a.execute(g),
            Command::Policy(a) => a.execute(g),
            Command::ContainerMonitor(a) => a.execute(g),
            Command::Build(a) => a.execute(g),
            Command::DockerfileParse(a) => a.execute(g),
            Command::ContainerReap(a) => a.execute(g),
            Command::Pull(a) => a.execute(g),
            Command::Push(a) => a.execute(g),
            Command::Login(a) => a.execute(g),
            Command::Logout(a) => a.execute(g),
            Command::Bench(a) => a.execute(g),
        }
    }
}
