//! `wrun pull [--platform os/arch] [-q] NAME[:TAG|@DIGEST]`, and the
//! implicit pull of `run` (and of `build` and `compose`) through
//! [`ensure_image`].
//!
//! Progress is Docker's: `latest: Pulling from library/busybox`, a line per
//! layer (`Already exists`, `Downloading [=====>   ]  1.2MB/3.4MB`,
//! `Pull complete`), `Digest:`, `Status:` and the full name. On a terminal
//! the layer lines are redrawn in place; otherwise each status change is
//! one line and byte counts are left out.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use wrun_images::human::human_size;
use wrun_images::registry::pull::LayerStatus;
use wrun_images::registry::{self, Client, PullEvent, PullOptions, RegistryConfig};
use wrun_images::{Image, Reference, Store};

use crate::cmd::images::open_store;
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Download all tagged images in the repository (not supported)
    #[arg(short = 'a', long = "all-tags", hide = true)]
    pub all_tags: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

impl PullArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if self.all_tags {
            return Err(ExitError::new(1, "wrun pull --all-tags is not supported").into());
        }
        let reference =
            Reference::parse(&self.name).map_err(|e| ExitError::new(1, e.to_string()))?;
        let platform = match &self.platform {
            Some(p) => Some(
                registry::manifest::Platform::parse(p)
                    .map_err(|e| ExitError::new(1, e.to_string()))?,
            ),
            None => None,
        };
        let store = open_store(g)?;
        let client = client(g)?;
        if reference.tag().is_none() && reference.digest().is_none() && !self.quiet {
            println!("Using default tag: latest");
        }
        let out: Box<dyn Write + Send> = Box::new(std::io::stdout());
        let tty = std::io::stdout().is_terminal();
        pull_with_progress(&client, &store, &reference, platform, self.quiet, out, tty)
            .map_err(|e| ExitError::new(1, daemon_error(&e)))?;
        Ok(0)
    }
}

/// The registry client for this state root: `registries.json` and the
/// user's Docker credentials.
pub fn client(g: &Global) -> anyhow::Result<Client> {
    let cfg = RegistryConfig::load(&g.root).map_err(|e| ExitError::new(1, e.to_string()))?;
    // WRUN_OFFLINE=1: only loopback registries (the test suite sets it, so
    // an image missing in a test never sends a request to Docker Hub).
    let offline = std::env::var_os("WRUN_OFFLINE").is_some_and(|v| !v.is_empty() && v != "0");
    // WRUN_REGISTRY_TIMEOUT=SECONDS: how long a silent registry is waited
    // for (default 60 s), for slow links and for tests of hanging registries.
    match std::env::var("WRUN_REGISTRY_TIMEOUT") {
        Ok(v) => {
            let secs: u64 = v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                ExitError::new(
                    1,
                    format!("WRUN_REGISTRY_TIMEOUT=\"{v}\": want a whole number of seconds > 0"),
                )
            })?;
            let t = std::time::Duration::from_secs(secs);
            Ok(
                Client::with_timeouts(cfg, t.min(registry::client::CONNECT_TIMEOUT), t)
                    .loopback_only(offline),
            )
        }
        Err(_) => Ok(Client::new(cfg).loopback_only(offline)),
    }
}

/// Docker's prefix for errors that come from the engine's side.
pub fn daemon_error(e: &registry::Error) -> String {
    format!("Error response from daemon: {e}")
}

/// Pulls `reference`, drawing Docker's progress on `out`, then prints the
/// `Digest:`/`Status:` lines and the name (only the name with `quiet`).
pub fn pull_with_progress(
    client: &Client,
    store: &Store,
    reference: &Reference,
    platform: Option<registry::manifest::Platform>,
    quiet: bool,
    out: Box<dyn Write + Send>,
    tty: bool,
) -> Result<registry::Pulled, registry::Error> {
    let shown = reference.clone().with_default_tag();
    let renderer = Mutex::new(Renderer::new(out, tty, quiet));
    let pulled = registry::pull(client, store, reference, &PullOptions { platform }, &|ev| {
        renderer.lock().expect("lock").event(ev)
    });
    let mut r = renderer.into_inner().expect("lock");
    r.flush_all();
    let pulled = pulled?;
    let name = shown.familiar();
    let w = &mut r.out;
    if quiet {
        let _ = writeln!(w, "{}", shown);
    } else {
        let _ = writeln!(w, "Digest: {}", pulled.digest);
        if pulled.up_to_date {
            let _ = writeln!(w, "Status: Image is up to date for {name}");
        } else {
            let _ = writeln!(w, "Status: Downloaded newer image for {name}");
        }
        let _ = writeln!(w, "{}", shown);
    }
    let _ = w.flush();
    Ok(pulled)
}

/// Finds `reference` in the store, pulling it when it is missing, as
/// `docker run` does: `Unable to find image 'x:latest' locally` and the
/// pull's progress on standard error. For `run`, `create`, `build`'s
/// `FROM` and compose. Errors are Docker's message (`Error response from
/// daemon: …`); the caller picks the exit code.
pub fn ensure_image(store: &Store, reference: &str, g: &Global) -> anyhow::Result<Image> {
    match store.lookup(reference) {
        Ok(img) => Ok(img),
        Err(e @ wrun_images::Error::ImageNotFound { .. }) => {
            // An id prefix or anything that is not a name cannot be pulled.
            let Ok(r) = Reference::parse(reference) else {
                return Err(anyhow::anyhow!("{e}"));
            };
            eprintln!("{e}");
            let client = client(g)?;
            let tty = std::io::stderr().is_terminal();
            let pulled = pull_with_progress(
                &client,
                store,
                &r,
                None,
                false,
                Box::new(std::io::stderr()),
                tty,
            )
            .map_err(|e| anyhow::anyhow!(daemon_error(&e)))?;
            Ok(store.lookup(&pulled.id)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Draws pull progress: a line per layer.
struct Renderer {
    out: Box<dyn Write + Send>,
    tty: bool,
    quiet: bool,
    order: Vec<String>,
    lines: HashMap<String, String>,
    kinds: HashMap<String, &'static str>,
    drawn: usize,
    last_draw: Option<Instant>,
}

impl Renderer {
    fn new(out: Box<dyn Write + Send>, tty: bool, quiet: bool) -> Self {
        Renderer {
            out,
            tty,
            quiet,
            order: Vec::new(),
            lines: HashMap::new(),
            kinds: HashMap::new(),
            drawn: 0,
            last_draw: None,
        }
    }

    fn event(&mut self, ev: PullEvent) {
        if self.quiet {
            return;
        }
        match ev {
            PullEvent::Pulling { tag, repository } => {
                let _ = writeln!(self.out, "{tag}: Pulling from {repository}");
            }
            PullEvent::Layer { id, status } => {
                let (kind, text) = describe(&status);
                if !self.lines.contains_key(&id) {
                    self.order.push(id.clone());
                }
                self.lines.insert(id.clone(), text);
                let changed = self.kinds.insert(id.clone(), kind) != Some(kind);
                if self.tty {
                    let due = self
                        .last_draw
                        .is_none_or(|t| t.elapsed().as_millis() >= 100);
                    if changed || due {
                        self.redraw();
                    }
                } else if changed {
                    let _ = writeln!(self.out, "{id}: {}", plain(kind));
                }
            }
        }
    }

    fn redraw(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out, "\x1b[{}A", self.drawn);
        }
        for id in &self.order {
            let _ = writeln!(self.out, "\x1b[2K{id}: {}", self.lines[id]);
        }
        self.drawn = self.order.len();
        self.last_draw = Some(Instant::now());
        let _ = self.out.flush();
    }

    fn flush_all(&mut self) {
        if self.tty && !self.quiet && !self.order.is_empty() {
            self.redraw();
        }
        let _ = self.out.flush();
    }
}

/// (kind, text) of a layer status; the kind decides when a line is new.
fn describe(s: &LayerStatus) -> (&'static str, String) {
    match s {
        LayerStatus::AlreadyExists => ("exists", "Already exists".into()),
        LayerStatus::Waiting => ("waiting", "Pulling fs layer".into()),
        LayerStatus::Downloading { current, total } => {
            ("downloading", bar("Downloading", *current, *total))
        }
        LayerStatus::Retrying { at, attempt } => (
            "retrying",
            format!("Retrying at {} (attempt {attempt})", human_size(*at)),
        ),
        LayerStatus::Verifying => ("verifying", "Verifying Checksum".into()),
        LayerStatus::Extracting => ("extracting", "Extracting".into()),
        LayerStatus::PullComplete => ("complete", "Pull complete".into()),
    }
}

fn plain(kind: &str) -> &'static str {
    match kind {
        "exists" => "Already exists",
        "waiting" => "Pulling fs layer",
        "downloading" => "Downloading",
        "retrying" => "Retrying",
        "verifying" => "Verifying Checksum",
        "extracting" => "Extracting",
        _ => "Pull complete",
    }
}

/// `Downloading [=====>      ]  1.2MB/3.4MB`, Docker's 50-column bar.
pub fn bar(what: &str, current: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let filled = if total == 0 {
        WIDTH
    } else {
        ((current.min(total) as u128 * WIDTH as u128) / total as u128) as usize
    };
    let mut b = "=".repeat(filled);
    if filled < WIDTH {
        b.push('>');
        b.push_str(&" ".repeat(WIDTH - filled - 1));
    }
    format!(
        "{what} [{b}]  {}/{}",
        human_size(current),
        human_size(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_look_like_dockers() {
        assert_eq!(
            bar("Downloading", 0, 100),
            format!("Downloading [>{}]  0B/100B", " ".repeat(49))
        );
        assert_eq!(
            bar("Downloading", 1_200_000, 2_400_000),
            format!(
                "Downloading [{}>{}]  1.2MB/2.4MB",
                "=".repeat(25),
                " ".repeat(24)
            )
        );
        assert_eq!(bar("x", 5, 5), format!("x [{}]  5B/5B", "=".repeat(50)));
    }
}
