//! `wrun cp [-a] [-L] [-q] CONTAINER:SRC_PATH DEST_PATH|-` and
//! `wrun cp [-a] [-L] [-q] SRC_PATH|- CONTAINER:DEST_PATH`
//!
//! The copying, and why it cannot be led out of the container by its
//! symlinks, is in `wrun_runtime::copy`. Here: Docker's split of
//! `CONTAINER:PATH` arguments, `-` for a tar stream, and its messages.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::Path;

use wrun_runtime::copy::{self, CopyError, Options, Place};

use super::container::{DaemonError, daemon_errors};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy (it is suppressed anyway when
    /// no terminal is attached)
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// One argument of `cp`: a container path, a host path, or `-`.
#[derive(Debug, PartialEq, Eq)]
enum Arg<'a> {
    Container(&'a str, &'a str),
    Host(&'a str),
    Stream,
}

/// Docker's `splitCpArg`: an absolute path is local; otherwise the part
/// before the first `:` names a container unless it starts with `.`
/// (`./a:b` is a local file).
fn split(arg: &str) -> Arg<'_> {
    if arg == "-" {
        return Arg::Stream;
    }
    if arg.starts_with('/') {
        return Arg::Host(arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') && !c.is_empty() => Arg::Container(c, p),
        _ => Arg::Host(arg),
    }
}

fn daemon(e: CopyError) -> anyhow::Error {
    match e {
        e @ (CopyError::NotFoundInContainer { .. } | CopyError::Runtime(_)) => {
            DaemonError(e.to_string()).into()
        }
        e => e.into(),
    }
}

impl CpArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        daemon_errors(self.copy(g))
    }

    fn copy(self, g: &Global) -> anyhow::Result<i32> {
        let opts = Options {
            follow_link: self.follow_link,
            archive: self.archive,
        };
        let (src, dest) = (split(&self.src), split(&self.dest));
        let (container, cpath) = match (&src, &dest) {
            (Arg::Container(..), Arg::Container(..)) => {
                anyhow::bail!("copying between containers is not supported")
            }
            (Arg::Container(c, p), _) | (_, Arg::Container(c, p)) => (*c, *p),
            _ => anyhow::bail!("must specify at least one container source"),
        };
        if cpath.is_empty() {
            anyhow::bail!("filepath cannot be empty: {container}:");
        }
        let runtime = super::run::open_runtime(g)?;
        let root = runtime.open_root(container).map_err(daemon)?;
        let inside = Place::Container {
            root: root.as_fd(),
            path: Path::new(cpath),
            name: container,
        };
        let (bytes, shown) = match (&src, &dest) {
            (Arg::Container(..), Arg::Stream) => {
                let out = std::io::stdout().lock();
                (copy::archive(inside, opts, out).map_err(daemon)?, None)
            }
            (Arg::Container(..), Arg::Host(p)) => (
                copy::copy(inside, Place::Host(Path::new(p)), opts).map_err(daemon)?,
                Some(p.to_string()),
            ),
            (Arg::Stream, _) => {
                let input = std::io::stdin().lock();
                (copy::extract(input, inside, opts).map_err(daemon)?, None)
            }
            (Arg::Host(p), _) => (
                copy::copy(Place::Host(Path::new(p)), inside, opts).map_err(daemon)?,
                Some(self.dest.clone()),
            ),
            (Arg::Container(..), Arg::Container(..)) => unreachable!("refused above"),
        };
        if let Some(to) = shown
            && !self.quiet
            && std::io::stderr().is_terminal()
        {
            eprintln!(
                "Successfully copied {} to {to}",
                wrun_images::human::human_size(bytes)
            );
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_docker() {
        assert_eq!(split("web:/etc/hosts"), Arg::Container("web", "/etc/hosts"));
        assert_eq!(split("web:rel"), Arg::Container("web", "rel"));
        assert_eq!(split("/abs:path"), Arg::Host("/abs:path"));
        assert_eq!(split("./a:b"), Arg::Host("./a:b"));
        assert_eq!(split("plain"), Arg::Host("plain"));
        assert_eq!(split("-"), Arg::Stream);
        assert_eq!(split("c:"), Arg::Container("c", ""));
    }

    #[test]
    fn flags_parse() {
        use clap::Parser;
        let cli =
            crate::cmd::Cli::try_parse_from(["wrun", "cp", "-aL", "web:/etc/.", "-"]).unwrap();
        match cli.command {
            crate::cmd::Command::Cp(a) => {
                assert!(a.archive && a.follow_link && !a.quiet);
                assert_eq!((a.src.as_str(), a.dest.as_str()), ("web:/etc/.", "-"));
            }
            other => panic!("{other:?}"),
        }
    }
}
