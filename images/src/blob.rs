//! Digests and atomic files.
//!
//! Every file the store keeps is written to a temporary name in its final
//! directory, fsynced, and renamed into place, so a reader (or a crash) sees
//! either the old content or the new, never a torn one. Content-addressed
//! blobs are hashed while they are written and kept only when the digest is
//! the one expected.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use crate::{Error, Result};

/// SHA-256 for the bytes of blobs and layers, through ring's assembly
/// (OpenSSL's, with AVX2 or SHA-NI where the CPU has them). Every pulled
/// byte is hashed twice (the compressed blob and the uncompressed diff_id)
/// and on this machine's cores (AVX2, no SHA-NI) ring hashes about twice as
/// fast as the `sha2` crate's portable code (206 against 104 MB/s measured
/// on the python:3.11-slim layer, see docs/benchmarks.md).
#[derive(Clone)]
pub(crate) struct Sha256(ring::digest::Context);

impl Sha256 {
    pub(crate) fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `sha256:<hex>` of everything hashed.
    pub(crate) fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finish()))
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    h.digest()
}

/// A unique temporary name: `.tmp-<pid>-<n>-<tag>`. The pid lets a later
/// clean-up tell a crashed writer's leftovers from a live writer's.
pub(crate) fn temp_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".tmp-{}-{n}-{nanos:x}-{tag}", std::process::id())
}

/// Whether a `.tmp-<pid>-…` name belongs to a process that no longer runs.
pub(crate) fn is_stale_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(".tmp-") else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Writes `data` to `dir/name` atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(temp_name("w"));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(|e| Error::io(dir.join(name), e))
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A blob being written under a temporary name; removed on drop unless
/// [`TempBlob::persist`] moved it into place.
#[derive(Debug)]
pub(crate) struct TempBlob {
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl TempBlob {
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        let path = dir.join(temp_name("blob"));
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TempBlob {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Flushes to disk and returns `(digest, size)`.
    pub(crate) fn finish(&mut self) -> Result<(String, u64)> {
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(|e| Error::io(&self.path, e))?;
        }
        let digest = self.hasher.clone().digest();
        Ok((digest, self.size))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the temporary path out of the guard: the caller now owns it.
    pub(crate) fn into_path(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl Write for TempBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already finished"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Chunk size of the hashing pipeline.
const CHUNK: usize = 1 << 20;

/// Reads `reader` (plain, gzip) on a helper thread that hashes the
/// uncompressed stream and copies it to `sink`, while `consume` reads the same
/// bytes on this thread — on two cores hashing no longer adds to unpacking.
/// Everything is read exactly once; `consume` may stop early (a tar's
/// trailing padding is still hashed). Returns what `consume` returned, the
/// digest and the size. An input error wins over the consumer's error, since
/// it is the cause.
pub(crate) fn hash_pipeline<R: Read + Send, T>(
    reader: R,
    sink: Option<&mut TempBlob>,
    consume: impl FnOnce(&mut dyn Read) -> Result<T>,
) -> Result<(T, String, u64)> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    let abort = AtomicBool::new(false);
    std::thread::scope(|s| {
        let abort = &abort;
        let producer = s.spawn(move || -> Result<Option<(String, u64)>> {
            let corrupt = |source| Error::Corrupt { cause: source };
            let run = || -> Result<Option<(String, u64)>> {
                let mut sink = sink;
                let mut input = BufReader::with_capacity(CHUNK, reader);
                if input.fill_buf().map_err(corrupt)?.is_empty() {
                    return Err(corrupt(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "empty input",
                    )));
                }
                let mut plain = decompress(input).map_err(corrupt)?;
                let mut hasher = Sha256::new();
                let mut size = 0u64;
                let mut listening = true;
                loop {
                    if abort.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    let mut buf = vec![0u8; CHUNK];
                    let n = read_full(&mut plain, &mut buf).map_err(corrupt)?;
                    if n == 0 {
                        break;
                    }
                    buf.truncate(n);
                    hasher.update(&buf);
                    size += n as u64;
                    if let Some(b) = sink.as_mut() {
                        let p = b.path().to_path_buf();
                        b.write_all(&buf).map_err(|e| Error::io(p, e))?;
                    }
                    if listening && tx.send(Ok(buf)).is_err() {
                        listening = false;
                    }
                }
                Ok(Some((hasher.digest(), size)))
            };
            let res = run();
            if let Err(e) = &res {
                let _ = tx.send(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    e.to_string(),
                )));
            }
            res
        });
        let mut r = ChanReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        let consumed = consume(&mut r);
        if consumed.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        drop(r);
        let produced = producer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (produced, consumed) {
            (Err(e), _) | (Ok(None), Err(e)) => Err(e),
            (Ok(Some(_)), Err(e)) => Err(e),
            (Ok(Some((d, n))), Ok(t)) => Ok((t, d, n)),
            (Ok(None), Ok(_)) => Err(Error::Corrupt {
                cause: io::Error::other("hashing stopped"),
            }),
        }
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The consumer's end of [`hash_pipeline`].
struct ChanReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(v)) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Compression detected from a stream's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(crate) fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `r` in a decompressor chosen from its first bytes.
pub(crate) fn decompress<'a, R: io::BufRead + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    Ok(match sniff(head) {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}
