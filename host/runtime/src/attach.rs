//! `wrun attach`: a unix socket served by a detached container's monitor.
//!
//! The monitor listens on `<container dir>/attach.sock` (mode 0600, in a
//! root-only directory: attaching means typing into the container, so only
//! root may). Every attached client gets the container's output as frames —
//! one byte for the stream (1 stdout, 2 stderr), a big-endian `u32` length,
//! the bytes — like Docker's multiplexed attach stream, so stdout and stderr
//! stay apart without a tty. What a client writes goes to the container's
//! stdin when it has one (`-i`) or to its pty (`-t`). The monitor closes
//! the sockets when the container exits.
//!
//! Socket paths are limited to 108 bytes and a container directory can be
//! longer than that, so both sides reach the socket through an `O_PATH`
//! descriptor of the directory: `/proc/self/fd/N/attach.sock`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::logs::Stream;

const SOCKET: &str = "attach.sock";

/// The directory, held open, and a short path to `name` inside it.
fn short_path(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", handle.as_raw_fd()));
    Ok((handle, path))
}

use std::os::unix::fs::OpenOptionsExt;

/// Creates the container's attach socket (replacing a stale one).
pub fn listen(container_dir: &Path) -> io::Result<UnixListener> {
    let (_dir, path) = short_path(container_dir, SOCKET)?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Removes the attach socket of a container directory, if any.
pub fn remove_socket(container_dir: &Path) {
    let _ = std::fs::remove_file(container_dir.join(SOCKET));
}

/// Connects to a running container's monitor.
pub fn connect(container_dir: &Path) -> io::Result<UnixStream> {
    let (_dir, path) = short_path(container_dir, SOCKET)?;
    UnixStream::connect(path)
}

/// Encodes one output frame.
pub fn frame(stream: Stream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + data.len());
    out.push(match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    });
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Reads one frame; `None` at the end of the stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(Stream, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let stream = match head[0] {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("attach stream: unknown stream byte {other}"),
            ));
        }
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((stream, data)))
}

/// The monitor's side: the attached clients.
#[derive(Debug)]
pub struct Clients {
    listener: UnixListener,
    clients: Vec<UnixStream>,
}

impl Clients {
    pub fn new(listener: UnixListener) -> Self {
        Self {
            listener,
            clients: Vec::new(),
        }
    }

    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    pub fn streams(&self) -> &[UnixStream] {
        &self.clients
    }

    /// Accepts every pending connection.
    pub fn accept(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            // Blocking writes with a short timeout: a client that stops
            // reading is dropped rather than stalling the container.
            let _ = s.set_nonblocking(false);
            let _ = s.set_write_timeout(Some(std::time::Duration::from_millis(200)));
            self.clients.push(s);
        }
    }

    /// Sends output to every client, dropping those that fail.
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let f = frame(stream, data);
        self.clients.retain_mut(|c| c.write_all(&f).is_ok());
    }

    /// Reads what client `i` typed; `None` when it went away (and is
    /// removed).
    pub fn read_input(&mut self, i: usize, buf: &mut [u8]) -> Option<usize> {
        match self.clients[i].read(buf) {
            Ok(0) | Err(_) => {
                self.clients.remove(i);
                None
            }
            Ok(n) => Some(n),
        }
    }

    /// Ends every attachment (the container exited).
    pub fn close_all(&mut self) {
        self.clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut bytes = frame(Stream::Stdout, b"hello");
        bytes.extend(frame(Stream::Stderr, b""));
        bytes.extend(frame(Stream::Stderr, b"err"));
        let mut r = &bytes[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((Stream::Stdout, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((Stream::Stderr, vec![])));
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((Stream::Stderr, b"err".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
        assert!(read_frame(&mut &[9u8, 0, 0, 0, 0][..]).is_err());
    }

    #[test]
    fn long_directories_still_get_a_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("d".repeat(100)).join("e".repeat(100));
        std::fs::create_dir_all(&deep).unwrap();
        let listener = listen(&deep).unwrap();
        let mut clients = Clients::new(listener);
        let mut c = connect(&deep).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        clients.accept();
        clients.broadcast(Stream::Stdout, b"hi");
        assert_eq!(
            read_frame(&mut c).unwrap(),
            Some((Stream::Stdout, b"hi".to_vec()))
        );
        c.write_all(b"typed").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(clients.read_input(0, &mut buf), Some(5));
        clients.close_all();
        assert_eq!(read_frame(&mut c).unwrap(), None);
    }
}
