//! `wrun build [OPTIONS] PATH | -`: a Dockerfile and its context become an
//! image, with Docker's classic builder output (`Step N/M : …`,
//! ` ---> Using cache`, `Successfully built …`) and, on a cache miss, why.
//! Also the hidden `wrun dockerfile-parse`, which prints BuildKit's dump of
//! a Dockerfile for comparison with BuildKit's corpus.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wrun_images::build::{BaseFetcher, BuildError, BuildOptions, Builder, Progress};
use wrun_images::{Reference, Store};
use wrun_runtime::build_run::{BuildRunner, Interrupt, build_network};

use crate::cmd::images::open_store;
use crate::cmd::pull::{client, daemon_error, pull_with_progress};
use crate::cmd::run::open_runtime;
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Set the networking mode for the RUN instructions during build (default, bridge, host, none, or a network name)
    #[arg(long, default_value = "default", value_name = "MODE")]
    pub network: String,
    /// Set metadata for an image (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Say why each step hit or missed the build cache
    #[arg(long)]
    pub explain_cache: bool,
    /// The build context: a directory, or - for a Dockerfile on stdin
    #[arg(value_name = "PATH | -")]
    pub context: String,
}

/// Docker's classic output on stdout (nothing with `-q`).
struct Printer {
    quiet: bool,
    at_line_start: bool,
}

impl Progress for Printer {
    fn line(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        if !self.at_line_start {
            let _ = out.write_all(b"\n");
        }
        let _ = writeln!(out, "{text}");
        self.at_line_start = true;
    }

    fn output(&mut self, bytes: &[u8]) {
        if self.quiet || bytes.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
        self.at_line_start = bytes.ends_with(b"\n");
    }
}

fn key_value(flag: &str, v: &str, from_env: bool) -> anyhow::Result<(String, String)> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_owned(), val.to_owned())),
        Some(_) => Err(ExitError::new(
            1,
            format!("invalid argument {v:?} for \"{flag}\": the name is empty"),
        )
        .into()),
        None if from_env => Ok((v.to_owned(), std::env::var(v).unwrap_or_default())),
        None => Ok((v.to_owned(), String::new())),
    }
}

impl BuildArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        // Before any other thread: every thread inherits the blocked mask.
        let interrupt = Interrupt::install().map_err(|e| ExitError::new(1, e.to_string()))?;
        build_network(&self.network)
            .map_err(|e| ExitError::new(1, format!("invalid --network: {e}")))?;
        let stdin_file = self.file.as_deref() == Some(Path::new("-"));
        let (dockerfile, name, context) = if self.context == "-" {
            if stdin_file {
                anyhow::bail!(
                    "invalid argument: can't use stdin for both build context and dockerfile"
                );
            }
            (read_stdin()?, "Dockerfile".to_owned(), None)
        } else {
            let ctx = PathBuf::from(&self.context);
            if !ctx.is_dir() {
                anyhow::bail!(
                    "unable to prepare context: path {:?} not found or not a directory",
                    self.context
                );
            }
            let (text, name) = if stdin_file {
                (read_stdin()?, "Dockerfile".to_owned())
            } else {
                let path = self.file.clone().unwrap_or_else(|| ctx.join("Dockerfile"));
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "unable to prepare context: unable to read Dockerfile {}: {e}",
                        path.display()
                    )
                })?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "Dockerfile".into());
                (text, name)
            };
            (text, name, Some(ctx))
        };
        let opts = BuildOptions {
            dockerfile,
            dockerfile_name: name,
            context,
            tags: self.tags.clone(),
            build_args: self
                .build_args
                .iter()
                .map(|a| key_value("--build-arg", a, true))
                .collect::<anyhow::Result<_>>()?,
            no_cache: self.no_cache,
            target: self.target.clone(),
            labels: self
                .labels
                .iter()
                .map(|a| key_value("--label", a, false))
                .collect::<anyhow::Result<_>>()?,
            network: self.network.clone(),
            explain_cache: self.explain_cache,
            pull: self.pull,
        };
        let store = open_store(g)?;
        let runtime = open_runtime(g)?;
        let mut runner = BuildRunner::new(&runtime, &store).with_interrupt(interrupt);
        let mut printer = Printer {
            quiet: self.quiet,
            at_line_start: true,
        };
        let mut puller = RegistryBases {
            g,
            quiet: self.quiet,
        };
        let result = Builder::new(&store, &mut runner, &mut printer, opts)
            .and_then(|b| b.with_base_fetcher(&mut puller).build());
        let built = match result {
            Ok(b) => b,
            Err(e @ BuildError::RunFailed { code, .. }) => {
                return Err(ExitError::new(code, e.to_string()).into());
            }
            Err(e) => return Err(ExitError::new(1, e.to_string()).into()),
        };
        if let Some(f) = &self.iidfile {
            std::fs::write(f, &built.id)
                .with_context(|| format!("writing --iidfile {}", f.display()))?;
        }
        if self.quiet {
            println!("{}", built.id);
        }
        Ok(0)
    }
}

/// Base images come from the registry, as with `docker build`: a missing
/// base is pulled (`Unable to find image …` and the pull's progress on
/// standard error), and with `--pull` every base is pulled again.
struct RegistryBases<'g> {
    g: &'g Global,
    quiet: bool,
}

impl BaseFetcher for RegistryBases<'_> {
    fn fetch(&mut self, store: &Store, reference: &str) -> Result<(), String> {
        let r = Reference::parse(reference).map_err(|e| e.to_string())?;
        let client = client(self.g).map_err(|e| e.to_string())?;
        let tty = std::io::stderr().is_terminal();
        pull_with_progress(
            &client,
            store,
            &r,
            None,
            self.quiet,
            Box::new(std::io::stderr()),
            tty,
        )
        .map(|_| ())
        .map_err(|e| daemon_error(&e))
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        anyhow::bail!("the Dockerfile is to come from stdin, but stdin is a terminal");
    }
    let mut s = String::new();
    stdin
        .read_to_string(&mut s)
        .context("reading the Dockerfile from stdin")?;
    Ok(s)
}

/// `wrun dockerfile-parse [FILE|-]`: BuildKit's `Node.Dump()` of a
/// Dockerfile, one `(instruction …)` line each, then whether the typed
/// instructions are valid.
#[derive(Debug, clap::Args)]
pub struct DockerfileParseArgs {
    /// The Dockerfile ("-" for stdin)
    #[arg(default_value = "Dockerfile", value_name = "FILE")]
    pub file: String,
}

impl DockerfileParseArgs {
    pub fn execute(self, _g: &Global) -> anyhow::Result<i32> {
        let text = if self.file == "-" {
            read_stdin()?
        } else {
            std::fs::read_to_string(&self.file).with_context(|| format!("reading {}", self.file))?
        };
        let name = Path::new(&self.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let ast = wrun_images::dockerfile::parse(&text)
            .map_err(|e| ExitError::new(1, e.in_file(name.clone()).to_string()))?;
        print!("{}", ast.dump());
        wrun_images::dockerfile::Dockerfile::from_ast(&ast)
            .map_err(|e| ExitError::new(1, e.in_file(name).to_string()))?;
        Ok(0)
    }
}
