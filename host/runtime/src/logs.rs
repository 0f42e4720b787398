//! Container logs in the format of Docker's `json-file` driver: one JSON
//! object a line, `{"log":"text\n","stream":"stdout","time":"RFC 3339 with
//! nanoseconds"}`, in `<container dir>/container.log`, with size-based
//! rotation (`--log-opt max-size=10m --log-opt max-file=3`) to
//! `container.log.1`, `.2`, … (older to the higher numbers).
//!
//! The monitor writes; `wrun logs` reads, following the file as it grows
//! and across rotations.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lines longer than this are written in pieces, like Docker's 16 KiB
/// partial messages, so one runaway line cannot hold memory.
const MAX_LINE: usize = 16 * 1024;

/// `--log-opt` settings of the json-file driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOptions {
    /// Rotate when the file reaches this many bytes; `None`: never.
    pub max_size: Option<u64>,
    /// How many files to keep, the current one included (at least 1).
    pub max_file: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogOptions {
    /// Parses `--log-opt` values: each `key=value`, or several joined with
    /// commas. Errors name the option at fault.
    pub fn parse<S: AsRef<str>>(opts: &[S]) -> Result<Self, String> {
        let mut out = LogOptions::default();
        for opt in opts.iter().flat_map(|o| o.as_ref().split(',')) {
            let (key, value) = opt
                .split_once('=')
                .ok_or_else(|| format!("invalid log option {opt:?}: expected key=value"))?;
            match key {
                "max-size" => {
                    let size = crate::units::parse_bytes(value)
                        .map_err(|e| format!("invalid log option max-size={value}: {e}"))?;
                    if size == 0 {
                        return Err(format!(
                            "invalid log option max-size={value}: must be positive"
                        ));
                    }
                    out.max_size = Some(size);
                }
                "max-file" => {
                    out.max_file = value.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(
                        || {
                            format!(
                                "invalid log option max-file={value}: must be a positive integer"
                            )
                        },
                    )?;
                }
                // Options of the json-file driver wrun does not act on.
                "compress" | "labels" | "env" | "tag" => {}
                other => {
                    return Err(format!(
                        "unknown log opt '{other}' for json-file log driver"
                    ));
                }
            }
        }
        if out.max_file > 1 && out.max_size.is_none() {
            return Err("invalid log options: max-file needs max-size".into());
        }
        Ok(out)
    }
}

/// Which stream a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of the log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// The path of the current log file of a container directory.
pub fn log_path(container_dir: &Path) -> PathBuf {
    container_dir.join("container.log")
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Appends entries to a container's log, rotating by size.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    opts: LogOptions,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path, opts: LogOptions) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            opts,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Takes a chunk of a stream's output: complete lines become entries,
    /// the rest waits for its newline (or [`LogWriter::flush`]).
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let i = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            self.emit(stream, &buf[start..start + nl + 1])?;
            start += nl + 1;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[i] = buf;
        Ok(())
    }

    /// Writes what is left of unterminated lines (at the end of a stream).
    pub fn flush(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.emit(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream,
            time: crate::state::now_rfc3339(),
        };
        let mut json = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        json.push(b'\n');
        if let Some(max) = self.opts.max_size
            && self.size > 0
            && self.size + json.len() as u64 > max
        {
            self.rotate()?;
        }
        self.file.write_all(&json)?;
        self.size += json.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.opts.max_file <= 1 {
            self.file.set_len(0)?;
        } else {
            for n in (1..self.opts.max_file).rev() {
                let from = if n == 1 {
                    self.path.clone()
                } else {
                    rotated(&self.path, n - 1)
                };
                if from.exists() {
                    fs::rename(&from, rotated(&self.path, n))?;
                }
            }
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Every entry of a container's log, oldest first (rotated files too).
pub fn read_all(path: &Path, max_file: u32) -> io::Result<Vec<Entry>> {
    let mut entries = read_rotated(path, max_file)?;
    read_file(path, &mut entries)?;
    Ok(entries)
}

/// The entries of the rotated files only (`.N` … `.1`), oldest first.
pub fn read_rotated(path: &Path, max_file: u32) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for n in (1..max_file.max(1)).rev() {
        read_file(&rotated(path, n), &mut entries)?;
    }
    Ok(entries)
}

fn read_file(f: &Path, entries: &mut Vec<Entry>) -> io::Result<()> {
    {
        match File::open(f) {
            Ok(file) => read_entries(&mut BufReader::new(file), entries)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_entries(reader: &mut impl BufRead, out: &mut Vec<Entry>) -> io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        // A line cut short by a crash is skipped, not fatal.
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
}

/// Follows the current log file from where `read_all` left it, across
/// rotations (a new inode starts again from its beginning).
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    inode: u64,
    pending: String,
}

impl Follower {
    /// Starts at the current end of the log.
    pub fn at_end(path: &Path) -> io::Result<Self> {
        let mut f = Self {
            path: path.to_path_buf(),
            reader: None,
            inode: 0,
            pending: String::new(),
        };
        if let Ok(mut file) = File::open(path) {
            file.seek(SeekFrom::End(0))?;
            f.inode = std::os::unix::fs::MetadataExt::ino(&file.metadata()?);
            f.reader = Some(BufReader::new(file));
        }
        Ok(f)
    }

    /// Starts at the beginning of the current log file.
    pub fn from_start(path: &Path) -> io::Result<Self> {
        let mut f = Self {
            path: path.to_path_buf(),
            reader: None,
            inode: 0,
            pending: String::new(),
        };
        if let Ok(file) = File::open(path) {
            f.inode = std::os::unix::fs::MetadataExt::ino(&file.metadata()?);
            f.reader = Some(BufReader::new(file));
        }
        Ok(f)
    }

    /// Entries written since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.drain(&mut out)?;
        // Rotated (or created) under us: finish the old file, then switch.
        if let Ok(meta) = fs::metadata(&self.path) {
            let ino = std::os::unix::fs::MetadataExt::ino(&meta);
            if ino != self.inode {
                self.inode = ino;
                self.reader = File::open(&self.path).ok().map(BufReader::new);
                self.pending.clear();
                self.drain(&mut out)?;
            }
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<Entry>) -> io::Result<()> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        loop {
            let n = reader.read_line(&mut self.pending)?;
            if n == 0 || !self.pending.ends_with('\n') {
                // A partly written line stays pending until its newline.
                return Ok(());
            }
            if let Ok(e) = serde_json::from_str::<Entry>(&self.pending) {
                out.push(e);
            }
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partials_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        w.write(Stream::Stdout, b"o\nthree").unwrap();
        w.flush().unwrap();
        let e = read_all(&path, 1).unwrap();
        let got: Vec<(&str, Stream)> = e.iter().map(|e| (e.log.as_str(), e.stream)).collect();
        assert_eq!(
            got,
            [
                ("one\n", Stream::Stdout),
                ("err\n", Stream::Stderr),
                ("two\n", Stream::Stdout),
                ("three", Stream::Stdout)
            ]
        );
        assert!(e[0].time.ends_with('Z') && e[0].time.contains('T'));
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let opts = LogOptions::parse(&["max-size=200,max-file=3"]).unwrap();
        let mut w = LogWriter::open(&path, opts).unwrap();
        for i in 0..40 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        for f in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            assert!(fs::metadata(&f).unwrap().len() <= 200, "{}", f.display());
        }
        let e = read_all(&path, 3).unwrap();
        assert_eq!(e.last().unwrap().log, "line 39\n");
        // Oldest first, consecutive.
        let first: u32 = e[0]
            .log
            .trim()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(e.len() as u32, 40 - first);
    }

    #[test]
    fn long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(&path, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, &vec![b'x'; MAX_LINE * 2 + 10])
            .unwrap();
        w.flush().unwrap();
        let e = read_all(&path, 1).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].log.len(), 10);
    }

    #[test]
    fn follower_sees_new_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let opts = LogOptions::parse(&["max-size=150", "max-file=2"]).unwrap();
        let mut w = LogWriter::open(&path, opts).unwrap();
        w.write(Stream::Stdout, b"before\n").unwrap();
        let mut f = Follower::at_end(&path).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut seen = Vec::new();
        for i in 0..10 {
            w.write(Stream::Stdout, format!("n{i}\n").as_bytes())
                .unwrap();
            seen.extend(f.poll().unwrap().into_iter().map(|e| e.log));
        }
        let want: Vec<String> = (0..10).map(|i| format!("n{i}\n")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn bad_options_are_named() {
        assert!(
            LogOptions::parse(&["max-size=10q"])
                .unwrap_err()
                .contains("max-size=10q")
        );
        assert!(
            LogOptions::parse(&["max-file=0", "max-size=1m"])
                .unwrap_err()
                .contains("max-file=0")
        );
        assert!(
            LogOptions::parse(&["colour=red"])
                .unwrap_err()
                .contains("colour")
        );
        assert!(LogOptions::parse(&["nokey"]).unwrap_err().contains("nokey"));
    }
}
