//! `wrun attach [--no-stdin] CONTAINER`: the output of a detached container
//! from now on, and (with `-i`/`-t` containers) our keystrokes to it.
//! Ctrl-P Ctrl-Q detaches from a `-t` container, as in Docker.

use std::io::{Read, Write};

use wrun_runtime::logs::Stream;
use wrun_runtime::state::Status;
use wrun_runtime::terminal::RawMode;

use crate::exit::ExitError;
use crate::global::Global;

/// Docker's default detach sequence: Ctrl-P, Ctrl-Q.
const DETACH: [u8; 2] = [0x10, 0x11];

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

impl AttachArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let fail = |msg: String| ExitError::new(1, format!("Error response from daemon: {msg}"));
        let state = runtime
            .get(&self.container)
            .map_err(|e| fail(e.to_string()))?;
        if state.status != Status::Running {
            return Err(
                fail("You cannot attach to a stopped container, start it first".into()).into(),
            );
        }
        let dir = runtime.containers().dir(&state.id);
        let mut sock = wrun_runtime::attach::connect(&dir)
            .map_err(|e| fail(format!("attaching to {}: {e}", self.container)))?;
        let send_input = !self.no_stdin && state.host.interactive;
        let raw = if send_input && state.host.tty {
            RawMode::enter()
        } else {
            RawMode::none()
        };
        let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if send_input {
            let detached = detached.clone();
            let mut to_container = sock.try_clone()?;
            let tty = state.host.tty;
            std::thread::spawn(move || {
                let mut input = std::io::stdin();
                let mut buf = [0u8; 1024];
                let mut last = 0u8;
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let chunk = &buf[..n];
                    let detach = tty
                        && (chunk.windows(2).any(|w| w == DETACH)
                            || (last == DETACH[0] && chunk[0] == DETACH[1]));
                    if detach {
                        detached.store(true, std::sync::atomic::Ordering::SeqCst);
                        let _ = to_container.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                    last = chunk[n - 1];
                    if to_container.write_all(chunk).is_err() {
                        break;
                    }
                }
            });
        }
        let mut out = std::io::stdout();
        let mut err = std::io::stderr();
        while let Ok(Some((stream, data))) = wrun_runtime::attach::read_frame(&mut sock) {
            let w: &mut dyn Write = match stream {
                Stream::Stdout => &mut out,
                Stream::Stderr => &mut err,
            };
            w.write_all(&data)?;
            w.flush()?;
        }
        drop(raw);
        if detached.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("read escape sequence");
            return Ok(0);
        }
        // The stream ended because the container exited: its code is ours
        // once the monitor has recorded it.
        Ok(runtime.wait(&state.id).unwrap_or(0))
    }
}
