//! Our own terminal while a container's pty is relayed to it (`run -it`,
//! `exec -it`, `attach` to a `-t` container): raw mode, so keys reach the
//! container as typed and Ctrl-C becomes the container's SIGINT through its
//! line discipline; restored when dropped, on every path.

/// Raw mode on our stdin for as long as this lives (nothing when stdin is
/// not a terminal).
#[derive(Debug)]
pub struct RawMode(Option<rustix::termios::Termios>);

impl RawMode {
    pub fn enter() -> Self {
        let fd = rustix::stdio::stdin();
        if !rustix::termios::isatty(fd) {
            return Self(None);
        }
        Self(rustix::termios::tcgetattr(fd).ok().inspect(|original| {
            let mut raw = original.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw);
        }))
    }

    /// Not raw: for callers that decide at run time.
    pub fn none() -> Self {
        Self(None)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                original,
            );
        }
    }
}
