//! `wrun compose [-f FILE…] [-p NAME] COMMAND`: Docker Compose's commands
//! on wrun. The project model, validation and orchestration are the
//! `wrun-compose` crate's; this module parses the flags, implements its
//! `Engine` on wrun's runtime ([`engine`]) and prints what happens.

pub mod engine;
mod logs;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use wrun_compose::engine::{Engine, State};
use wrun_compose::orchestrate::{self, DownOptions, Event, UpOptions};

use crate::exit::ExitError;
use crate::global::Global;
use engine::WrunEngine;

#[derive(Debug, clap::Args)]
#[command(
    about = "Define and run multi-container applications",
    override_usage = "wrun compose [OPTIONS] COMMAND"
)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first file)
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ComposeCommand {
    /// Create and start containers
    Up(UpArgs),
    /// Stop and remove containers, networks
    Down(DownArgs),
    /// List containers
    Ps(PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Build or rebuild services
    Build(ServicesArgs),
    /// Pull service images
    Pull(ServicesArgs),
    /// Parse, resolve and render compose file in canonical format
    #[command(alias = "convert")]
    Config(ConfigArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Run a one-off command on a service
    Run(RunArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(StopArgs),
    /// Restart service containers
    Restart(StopArgs),
    /// Display the running processes
    Top(ServicesArgs),
    /// List images used by the created containers
    Images(ServicesArgs),
    /// Print the public port for a port binding
    Port(PortArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Wait for services to be running|healthy (implies detached mode)
    #[arg(long)]
    pub wait: bool,
    pub services: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images used by services: "local" remove only images that don't have a custom tag, "all" remove all images
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all stopped containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    pub service: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Disable pseudo-TTY allocation (wrun allocates none unless stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// SERVICE, then the command and its arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true,
          value_name = "SERVICE COMMAND [ARGS...]")]
    pub args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// SERVICE, then the command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SERVICE [COMMAND] [ARGS...]"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

/// Docker compose's exit code for its own failures.
const FAILED: i32 = 1;

fn fail(e: impl std::fmt::Display) -> anyhow::Error {
    ExitError::new(FAILED, e.to_string()).into()
}

/// Prints progress as Docker Compose does (` ✔ Container p-web-1  Started`).
fn print_event(e: Event) {
    let mark = match e.status {
        "Waiting" | "Stopping" | "Starting" => " ⠿",
        _ => " ✔",
    };
    eprintln!("{mark} {} {}  {}", e.kind, e.name, e.status);
}

impl ComposeArgs {
    fn project(&self) -> anyhow::Result<wrun_compose::Project> {
        let opts = wrun_compose::Options {
            files: self.files.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_file.clone(),
            profiles: self.profiles.clone(),
            environment: std::env::vars().collect(),
            cwd: std::env::current_dir()?,
        };
        wrun_compose::load(&opts).map_err(fail)
    }

    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        // Ctrl-C during an attached `up` or `logs -f` is waited for by a
        // thread (sigwait), so the mask must be set before any thread.
        let signals = match &self.command {
            ComposeCommand::Up(u) if !u.detach && !u.wait => Some(logs::Interrupt::block()?),
            ComposeCommand::Logs(l) if l.follow => Some(logs::Interrupt::block()?),
            _ => None,
        };
        let project = self.project()?;
        if let ComposeCommand::Config(c) = &self.command {
            return config(&project, c);
        }
        let engine = WrunEngine::new(g)?;
        let progress: &dyn Fn(Event) = &print_event;
        match self.command {
            ComposeCommand::Up(u) => {
                let opts = UpOptions {
                    services: u.services.clone(),
                    build: u.build,
                    force_recreate: u.force_recreate,
                    no_deps: u.no_deps,
                    poll: Duration::from_millis(100),
                };
                let started = orchestrate::up(&engine, &project, &opts, progress).map_err(fail)?;
                if u.wait {
                    wait_healthy(&engine, &project, &started)?;
                }
                if u.detach || u.wait {
                    return Ok(0);
                }
                let interrupt = signals.expect("blocked above");
                let code = logs::attached(&engine, &project, &started, &interrupt)?;
                if interrupt.happened() {
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    orchestrate::stop(&engine, &project, &started, None, progress).map_err(fail)?;
                }
                Ok(code)
            }
            ComposeCommand::Down(d) => {
                let opts = DownOptions {
                    volumes: d.volumes,
                    rmi: d.rmi,
                    remove_orphans: d.remove_orphans,
                    timeout: d.timeout.map(Duration::from_secs),
                };
                let orphans =
                    orchestrate::down(&engine, &project, &opts, progress).map_err(fail)?;
                if !orphans.is_empty() {
                    eprintln!(
                        "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                        orphans.join(" ")
                    );
                }
                Ok(0)
            }
            ComposeCommand::Ps(p) => ps(&engine, &project, &p),
            ComposeCommand::Logs(l) => logs::run(&engine, &project, &l, signals.as_ref()),
            ComposeCommand::Build(s) => {
                let order =
                    wrun_compose::order::start_order_with(&project.model, &s.services, true)
                        .map_err(fail)?;
                orchestrate::preflight(&engine, &project, &order).map_err(fail)?;
                orchestrate::build_images(&engine, &project, &order, true, progress)
                    .map_err(fail)?;
                Ok(0)
            }
            ComposeCommand::Pull(s) => {
                let order =
                    wrun_compose::order::start_order_with(&project.model, &s.services, true)
                        .map_err(fail)?;
                orchestrate::pull_images(&engine, &project, &order, true, progress)
                    .map_err(fail)?;
                Ok(0)
            }
            ComposeCommand::Config(_) => unreachable!("handled above"),
            ComposeCommand::Exec(e) => exec(g, &engine, &project, e),
            ComposeCommand::Run(r) => run(g, &engine, &project, r),
            ComposeCommand::Start(s) => {
                orchestrate::start(&engine, &project, &s.services, progress).map_err(fail)?;
                Ok(0)
            }
            ComposeCommand::Stop(s) => {
                orchestrate::stop(
                    &engine,
                    &project,
                    &s.services,
                    s.timeout.map(Duration::from_secs),
                    progress,
                )
                .map_err(fail)?;
                Ok(0)
            }
            ComposeCommand::Restart(s) => {
                orchestrate::stop(
                    &engine,
                    &project,
                    &s.services,
                    s.timeout.map(Duration::from_secs),
                    progress,
                )
                .map_err(fail)?;
                orchestrate::start(&engine, &project, &s.services, progress).map_err(fail)?;
                Ok(0)
            }
            ComposeCommand::Top(s) => per_container(g, &engine, &project, &s.services, "top"),
            ComposeCommand::Images(s) => images(&engine, &project, &s.services),
            ComposeCommand::Port(p) => port(g, &engine, &project, &p),
        }
    }
}

/// `up --wait`: every started service running, and healthy if it has a
/// healthcheck.
fn wait_healthy(
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    services: &[String],
) -> anyhow::Result<()> {
    loop {
        let cs = engine.containers(&project.name).map_err(fail)?;
        let mut pending = false;
        for c in cs
            .iter()
            .filter(|c| services.iter().any(|s| s == c.service()) && !c.is_oneoff())
        {
            match (c.state, c.health) {
                (State::Exited(code), _) => {
                    return Err(fail(format!("container {} exited ({code})", c.name)));
                }
                (_, Some(wrun_compose::engine::Health::Unhealthy)) => {
                    return Err(fail(format!("container {} is unhealthy", c.name)));
                }
                (State::Running, Some(wrun_compose::engine::Health::Starting))
                | (State::Created, _) => pending = true,
                _ => {}
            }
        }
        if !pending {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn config(project: &wrun_compose::Project, c: &ConfigArgs) -> anyhow::Result<i32> {
    if c.quiet {
        return Ok(0);
    }
    let text = if c.services {
        project
            .model
            .services
            .keys()
            .map(|s| format!("{s}\n"))
            .collect()
    } else if c.volumes {
        project
            .model
            .volumes
            .keys()
            .map(|s| format!("{s}\n"))
            .collect()
    } else {
        wrun_compose::to_yaml(&project.model)
    };
    match &c.output {
        Some(path) => std::fs::write(path, text)?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(0)
}

/// The project's containers of `services` (all when empty), by service
/// order then number.
fn containers_of(
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    services: &[String],
    all: bool,
) -> anyhow::Result<Vec<wrun_compose::engine::Container>> {
    for s in services {
        if !project.model.services.contains_key(s) {
            return Err(fail(format!("no such service: {s}")));
        }
    }
    let mut cs: Vec<_> = engine
        .containers(&project.name)
        .map_err(fail)?
        .into_iter()
        .filter(|c| services.is_empty() || services.iter().any(|s| s == c.service()))
        .filter(|c| all || c.state == State::Running)
        .collect();
    cs.sort_by(|a, b| {
        a.service()
            .cmp(b.service())
            .then(a.number().cmp(&b.number()))
    });
    Ok(cs)
}

fn ps(engine: &WrunEngine<'_>, project: &wrun_compose::Project, p: &PsArgs) -> anyhow::Result<i32> {
    let cs = containers_of(engine, project, &p.service, p.all)?;
    let mut out = std::io::stdout().lock();
    if p.services {
        let mut seen: Vec<&str> = cs.iter().map(|c| c.service()).collect();
        seen.dedup();
        for s in seen {
            writeln!(out, "{s}")?;
        }
        return Ok(0);
    }
    if p.quiet {
        for c in &cs {
            writeln!(out, "{}", c.id)?;
        }
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = cs
        .iter()
        .map(|c| {
            let state = engine.runtime().get(&c.id).ok();
            let dir = engine.runtime().containers().dir(&c.id);
            let status = state
                .as_ref()
                .map(|s| crate::cmd::container_common::status_with_health(s, &dir))
                .unwrap_or_default();
            let image = state.as_ref().map(|s| s.image.clone()).unwrap_or_default();
            let command = state
                .as_ref()
                .map(|s| crate::cmd::container_common::command_text(&s.command, false))
                .unwrap_or_default();
            let ports = std::fs::read_to_string(dir.join(wrun_runtime::network::ports::PORTS_FILE))
                .ok()
                .and_then(|t| {
                    serde_json::from_str::<Vec<wrun_runtime::network::ports::PortMapping>>(&t).ok()
                })
                .filter(|_| c.state == State::Running)
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{}->{}", p.host_addr(), p.container_key()))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            [
                c.name.clone(),
                image,
                command,
                c.service().to_string(),
                status,
                ports,
            ]
        })
        .collect();
    let headers = ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"];
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(&headers.map(str::to_string)))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(0)
}

fn images(
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    services: &[String],
) -> anyhow::Result<i32> {
    let cs = containers_of(engine, project, services, true)?;
    let store = wrun_images::Store::open(&engine.g.root)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24}{:<32}{:<16}{:<16}SIZE",
        "CONTAINER", "REPOSITORY", "TAG", "IMAGE ID"
    )?;
    for c in cs {
        let Ok(state) = engine.runtime().get(&c.id) else {
            continue;
        };
        let (repo, tag) = match state.image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (state.image.clone(), "latest".to_string()),
        };
        let size = store
            .lookup(&state.image_id)
            .map(|i| wrun_images::human::human_size(i.size))
            .unwrap_or_default();
        let id = state.image_id.trim_start_matches("sha256:");
        writeln!(
            out,
            "{:<24}{:<32}{:<16}{:<16}{size}",
            c.name,
            repo,
            tag,
            &id[..12.min(id.len())]
        )?;
    }
    Ok(0)
}

/// Runs `wrun CMD CONTAINER` for each running container of `services`
/// (`top`), under a `NAME` heading as Docker Compose does.
fn per_container(
    g: &Global,
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    services: &[String],
    cmd: &str,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for c in containers_of(engine, project, services, false)? {
        println!("{}", c.name);
        std::io::stdout().flush()?;
        let status = std::process::Command::new(std::env::current_exe()?)
            .arg("--root")
            .arg(&g.root)
            .arg(cmd)
            .arg(&c.id)
            .status()?;
        if !status.success() {
            code = status.code().unwrap_or(1);
        }
        println!();
    }
    Ok(code)
}

fn port(
    g: &Global,
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    p: &PortArgs,
) -> anyhow::Result<i32> {
    let cs = containers_of(engine, project, std::slice::from_ref(&p.service), false)?;
    let Some(c) = cs.iter().find(|c| c.number() == p.index) else {
        return Err(fail(format!(
            "service \"{}\" is not running container #{}",
            p.service, p.index
        )));
    };
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--root")
        .arg(&g.root)
        .arg("port")
        .arg(&c.id)
        .arg(format!("{}/{}", p.private_port, p.protocol))
        .status()?;
    Ok(status.code().unwrap_or(1))
}

fn exec(
    g: &Global,
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    e: ExecArgs,
) -> anyhow::Result<i32> {
    let (service, command) = e.args.split_first().expect("clap requires two");
    let cs = containers_of(engine, project, std::slice::from_ref(service), false)?;
    let Some(c) = cs.iter().find(|c| c.number() == e.index && !c.is_oneoff()) else {
        return Err(fail(format!("service \"{service}\" is not running")));
    };
    let mut argv: Vec<String> = vec!["wrun".into(), "exec".into()];
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin()) && !e.no_tty && !e.detach;
    if interactive {
        argv.push("-it".into());
    }
    if e.detach {
        argv.push("-d".into());
    }
    for v in &e.env {
        argv.extend(["-e".into(), v.clone()]);
    }
    if let Some(u) = &e.user {
        argv.extend(["-u".into(), u.clone()]);
    }
    if let Some(w) = &e.workdir {
        argv.extend(["-w".into(), w.clone()]);
    }
    argv.push(c.id.clone());
    argv.extend(command.iter().cloned());
    dispatch(g, argv)
}

/// Runs a `wrun` command line in this process.
fn dispatch(g: &Global, argv: Vec<String>) -> anyhow::Result<i32> {
    use clap::Parser;
    let cli = crate::cmd::Cli::try_parse_from(&argv).map_err(|e| fail(e.to_string()))?;
    // Our state root, not the one the parsed line defaults to.
    crate::cmd::Cli {
        global: g.clone(),
        command: cli.command,
    }
    .execute()
}

fn run(
    g: &Global,
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    r: RunArgs,
) -> anyhow::Result<i32> {
    let (service, command) = r.args.split_first().expect("clap requires SERVICE");
    if !project.model.services.contains_key(service) {
        return Err(fail(format!("no such service: {service}")));
    }
    let progress: &dyn Fn(Event) = &print_event;
    // Dependencies come up first, as with `up`.
    if !r.no_deps {
        let deps: Vec<String> = project.model.services[service]
            .depends_on
            .keys()
            .cloned()
            .collect();
        if !deps.is_empty() {
            let opts = UpOptions {
                services: deps,
                poll: Duration::from_millis(100),
                ..UpOptions::default()
            };
            orchestrate::up(engine, project, &opts, progress).map_err(fail)?;
            orchestrate::wait_for_dependencies(
                engine,
                project,
                service,
                Duration::from_millis(100),
                progress,
            )
            .map_err(fail)?;
        }
    }
    let image = orchestrate::image_name(project, service);
    orchestrate::preflight(engine, project, std::slice::from_ref(service)).map_err(fail)?;
    orchestrate::ensure_resources(engine, project, std::slice::from_ref(service), progress)
        .map_err(fail)?;
    orchestrate::build_images(
        engine,
        project,
        std::slice::from_ref(service),
        false,
        progress,
    )
    .map_err(fail)?;
    orchestrate::pull_images(
        engine,
        project,
        std::slice::from_ref(service),
        false,
        progress,
    )
    .map_err(fail)?;
    let image_id = engine.image_id(&image).map_err(fail)?.unwrap_or_default();
    let taken: Vec<u32> = engine
        .containers(&project.name)
        .map_err(fail)?
        .iter()
        .filter(|c| c.service() == service && c.is_oneoff())
        .map(|c| c.number())
        .collect();
    let number = (1..).find(|n| !taken.contains(n)).expect("a free number");
    let mut spec = orchestrate::container_spec(project, service, number, &image_id);
    spec.name = r
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{number}", project.name));
    spec.labels
        .insert(wrun_compose::engine::LABEL_ONEOFF.into(), "True".into());
    // A one-off container publishes no ports (as `docker compose run`).
    let mut service_def = spec.service.clone();
    service_def.ports.clear();
    service_def.restart = None;
    for e in &r.env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        service_def
            .environment
            .insert(k.to_string(), Some(v.to_string()));
    }
    let spec = wrun_compose::engine::ContainerSpec {
        service: &service_def,
        command_override: (!command.is_empty()).then(|| command.to_vec()),
        remove_on_exit: r.rm,
        ..spec
    };
    let mut argv = WrunEngine::run_argv(&spec, r.detach).map_err(fail)?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin()) && !r.no_tty && !r.detach;
    if interactive {
        argv.insert(2, "-it".into());
    }
    dispatch(g, argv)
}
