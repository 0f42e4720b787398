//! Digests and atomic files.
//!
//! Every file the store keeps is written to a temporary name in its final
//! directory, fsynced, and renamed into place, so a reader (or a crash) sees
//! either the old content or the new, never a torn one. Content-addressed
//! blobs are hashed while they are written and kept only when the digest is
//! the one expected.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// `sha256:<hex>` of `bytes`.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
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
        let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
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

/// A reader that hashes (and counts) what passes through it and, when given a
/// sink, copies it there: one pass over the input computes the diff_id, keeps
/// the blob and feeds the unpacker.
pub(crate) struct TeeReader<'a, R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    sink: Option<&'a mut dyn Write>,
}

impl<R: std::fmt::Debug> std::fmt::Debug for TeeReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeReader")
            .field("inner", &self.inner)
            .field("size", &self.size)
            .finish()
    }
}

impl<'a, R: Read> TeeReader<'a, R> {
    pub(crate) fn new(inner: R, sink: Option<&'a mut dyn Write>) -> Self {
        TeeReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
            sink,
        }
    }

    /// Reads what is left (tar readers stop at the end-of-archive marker and
    /// may leave padding) and returns `(digest, size)` of everything read.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.size,
        ))
    }
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if let Some(s) = self.sink.as_mut() {
            s.write_all(&buf[..n])?;
        }
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
        Compression::Zstd => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "zstd-compressed layers are not supported yet",
            ));
        }
    })
}
