//! Layer compression for push, using every core even for one big layer.
//!
//! gzip: the input is cut into 1 MiB chunks, each compressed by libdeflate
//! on one of the cores into a complete gzip member, and the members are
//! concatenated. A gzip file may hold several members (RFC 1952 §2.2) and
//! every reader that matters reads them as one stream: Go's
//! `compress/gzip` (Docker, containerd, podman, skopeo, the registry's
//! clients) in its default multistream mode, zlib's `gunzip`, flate2's
//! `MultiGzDecoder`. The output is identical for identical input (no
//! timestamps, fixed chunking), so the same layer always gets the same
//! digest. Chunks do not share a window, which costs well under 1 % of size
//! at 1 MiB; each member adds 18 bytes of header and trailer.
//!
//! Why libdeflate: on python:3.11-slim's layer (this VM, one core) its
//! level 1 compresses 2–3× faster than zlib-rs's level 3, which wrun used
//! before, to about the same size (ratio 0.365 against 0.359); numbers in
//! docs/benchmarks.md. zstd uses libzstd's own worker threads.

use libdeflater::{CompressionLvl, Compressor};

/// Chunk size for parallel gzip.
pub const GZIP_CHUNK: usize = 1 << 20;
/// libdeflate level for gzip. 1: as small as zlib's level 3 on image
/// layers at a third of the time; 6 would be ≈ 9 % smaller and ≈ 3× slower.
pub const GZIP_LEVEL: i32 = 1;
/// zstd level (containerd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// Worker threads: the machine's cores.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// gzip of `data` as one member per [`GZIP_CHUNK`], compressed in
/// parallel. `level` is libdeflate's (0–12); out-of-range levels are
/// clamped.
pub fn gzip(data: &[u8], level: i32) -> Vec<u8> {
    let level = CompressionLvl::new(level.clamp(0, 12)).unwrap_or_default();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(GZIP_CHUNK).collect()
    };
    let results: Vec<std::sync::Mutex<Vec<u8>>> = (0..chunks.len())
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads().min(chunks.len()) {
            s.spawn(|| {
                let mut c = Compressor::new(level);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= chunks.len() {
                        return;
                    }
                    let mut out = vec![0u8; c.gzip_compress_bound(chunks[i].len())];
                    let n = c
                        .gzip_compress(chunks[i], &mut out)
                        .expect("the output buffer is libdeflate's own bound");
                    out.truncate(n);
                    *results[i].lock().expect("lock") = out;
                }
            });
        }
    });
    let pieces: Vec<Vec<u8>> = results
        .into_iter()
        .map(|r| r.into_inner().expect("lock"))
        .collect();
    pieces.concat()
}

/// zstd of `data` with libzstd's worker threads.
pub fn zstd(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::with_capacity(data.len() / 3), level)?;
    enc.multithread(threads() as u32)?;
    std::io::Write::write_all(&mut enc, data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: a counter in text.
        let mut v = Vec::with_capacity(n);
        let mut i = 0u64;
        while v.len() < n {
            v.extend_from_slice(format!("line {i} {}\n", i * 2654435761 % 1000).as_bytes());
            i += 1;
        }
        v.truncate(n);
        v
    }

    #[test]
    fn parallel_gzip_is_a_standard_stream_and_deterministic() {
        for n in [0, 10, GZIP_CHUNK - 1, GZIP_CHUNK, 3 * GZIP_CHUNK + 12345] {
            let data = sample(n);
            let gz = gzip(&data, GZIP_LEVEL);
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "size {n}");
            assert_eq!(gz, gzip(&data, GZIP_LEVEL), "deterministic at {n}");
            if n > 1000 {
                assert!(gz.len() < n / 2, "compresses: {} of {n}", gz.len());
            }
            // One member per chunk (an empty input is one empty member).
            let members = gz.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
            assert!(members >= n.div_ceil(GZIP_CHUNK).max(1), "size {n}");
        }
    }

    /// zlib's own reader (the `gzip` tool, as every non-Go client uses it)
    /// reads all members, not only the first.
    #[test]
    fn gzip_tool_reads_every_member() {
        let data = sample(2 * GZIP_CHUNK + 7);
        let gz = gzip(&data, GZIP_LEVEL);
        let Ok(mut child) = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("skipped: no gzip tool");
            return;
        };
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &gz));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }

    #[test]
    fn zstd_round_trip() {
        let data = sample(2 * GZIP_CHUNK);
        let z = zstd(&data, ZSTD_LEVEL).unwrap();
        assert_eq!(zstd::stream::decode_all(&z[..]).unwrap(), data);
    }
}
