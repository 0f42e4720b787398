//! `wrun compose logs` and the output of an attached `up`: every
//! container's log, each line prefixed with its service and number in a
//! colour of its own (as Docker Compose prints them), followed with `-f`
//! until Ctrl-C or, for `up`, until every container has exited.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use wrun_compose::engine::{Container, Engine, State};
use wrun_runtime::logs::{Entry, Follower, log_path, read_all};

use super::engine::WrunEngine;
use super::{containers_of, fail};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

/// SIGINT and SIGTERM, blocked in every thread and awaited by one.
#[derive(Debug)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Blocks SIGINT/SIGTERM (before any thread exists) and starts the
    /// thread that waits for them.
    pub fn block() -> anyhow::Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()?;
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        std::thread::spawn(move || {
            loop {
                if set.wait().is_ok() && seen.swap(true, Ordering::SeqCst) {
                    // The second Ctrl-C: stop waiting for a graceful end.
                    std::process::exit(130);
                }
            }
        });
        Ok(Self { flag })
    }

    pub fn happened(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Docker Compose's palette, cycled per container.
const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

struct Source {
    prefix: String,
    colour: &'static str,
    follower: Follower,
    id: String,
}

fn prefix_of(c: &Container) -> String {
    if c.is_oneoff() {
        c.name.clone()
    } else {
        format!("{}-{}", c.service(), c.number())
    }
}

fn print_entries(
    out: &mut impl Write,
    sources: &[(String, &'static str)],
    which: usize,
    entries: &[Entry],
    args: &LogsArgs,
    colour: bool,
) -> std::io::Result<()> {
    let width = sources.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    let (prefix, code) = &sources[which];
    for e in entries {
        let line = e.log.strip_suffix('\n').unwrap_or(&e.log);
        let time = if args.timestamps {
            format!("{} ", e.time)
        } else {
            String::new()
        };
        if args.no_log_prefix {
            writeln!(out, "{time}{line}")?;
        } else if colour {
            writeln!(out, "\x1b[{code}m{prefix:<width$}  |\x1b[0m {time}{line}")?;
        } else {
            writeln!(out, "{prefix:<width$}  | {time}{line}")?;
        }
    }
    out.flush()
}

/// `wrun compose logs`.
pub fn run(
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    args: &LogsArgs,
    interrupt: Option<&Interrupt>,
) -> anyhow::Result<i32> {
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| fail(format!("invalid value {n:?} for --tail")))?,
        ),
    };
    let containers = containers_of(engine, project, &args.services, true)?;
    let colour = !args.no_color && std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut sources = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let dir = engine.runtime().containers().dir(&c.id);
        let path = log_path(&dir);
        let mut entries = read_all(&path, 100).unwrap_or_default();
        if let Some(n) = tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        let meta = (prefix_of(c), COLOURS[i % COLOURS.len()]);
        sources.push(Source {
            prefix: meta.0,
            colour: meta.1,
            follower: Follower::at_end(&path)?,
            id: c.id.clone(),
        });
        let all: Vec<(String, &'static str)> = containers
            .iter()
            .enumerate()
            .map(|(j, c)| (prefix_of(c), COLOURS[j % COLOURS.len()]))
            .collect();
        print_entries(&mut out, &all, i, &entries, args, colour)?;
    }
    drop(out);
    if !args.follow {
        return Ok(0);
    }
    follow(engine, sources, args, colour, interrupt, false)
}

/// Prints new lines until interrupted, or (`until_exit`) until every
/// container has exited; returns the exit code to report.
fn follow(
    engine: &WrunEngine<'_>,
    mut sources: Vec<Source>,
    args: &LogsArgs,
    colour: bool,
    interrupt: Option<&Interrupt>,
    until_exit: bool,
) -> anyhow::Result<i32> {
    let names: Vec<(String, &'static str)> = sources
        .iter()
        .map(|s| (s.prefix.clone(), s.colour))
        .collect();
    loop {
        let mut out = std::io::stdout().lock();
        for (i, s) in sources.iter_mut().enumerate() {
            let entries = s.follower.poll().unwrap_or_default();
            print_entries(&mut out, &names, i, &entries, args, colour)?;
        }
        drop(out);
        if interrupt.is_some_and(Interrupt::happened) {
            return Ok(130);
        }
        if until_exit {
            let mut running = false;
            for s in &sources {
                if let Ok(c) = engine.container(&s.id)
                    && matches!(c.state, State::Running | State::Created)
                {
                    running = true;
                }
            }
            if !running {
                // The last lines written before the exit.
                let mut out = std::io::stdout().lock();
                for (i, s) in sources.iter_mut().enumerate() {
                    let entries = s.follower.poll().unwrap_or_default();
                    print_entries(&mut out, &names, i, &entries, args, colour)?;
                }
                return Ok(0);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The attached `up`: the started services' logs from their start, until
/// they all exit or Ctrl-C.
pub fn attached(
    engine: &WrunEngine<'_>,
    project: &wrun_compose::Project,
    services: &[String],
    interrupt: &Interrupt,
) -> anyhow::Result<i32> {
    let containers: Vec<Container> = engine
        .containers(&project.name)
        .map_err(fail)?
        .into_iter()
        .filter(|c| services.iter().any(|s| s == c.service()) && !c.is_oneoff())
        .collect();
    let args = LogsArgs {
        follow: true,
        timestamps: false,
        tail: "all".into(),
        no_color: false,
        no_log_prefix: false,
        services: Vec::new(),
    };
    let colour = std::io::stdout().is_terminal();
    let mut sources = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let dir = engine.runtime().containers().dir(&c.id);
        sources.push(Source {
            prefix: prefix_of(c),
            colour: COLOURS[i % COLOURS.len()],
            follower: Follower::from_start(&log_path(&dir))?,
            id: c.id.clone(),
        });
    }
    let names: Vec<String> = sources.iter().map(|s| s.prefix.clone()).collect();
    println!("Attaching to {}", names.join(", "));
    follow(engine, sources, &args, colour, Some(interrupt), true)
}
