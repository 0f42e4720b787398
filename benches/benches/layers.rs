//! Layer digest and unpack: `wrun_images::import::import` reads a rootfs
//! tarball once, hashing it (sha256, the layer's diff id and blob digest),
//! keeping it as the layer blob and unpacking it, in one pass. Measured on a
//! synthetic 8 MiB layer (deterministic, no input needed) and, when the
//! cache holds it, on the busybox rootfs the comparison runs. Each
//! iteration imports into a fresh store, so nothing is deduplicated.
//! Criterion only measures; nothing here asserts a speed.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wrun_images::import::{ImportOptions, import};
use wrun_images::store::Store;

/// 128 files of 64 KiB in 8 directories, pseudo-random bytes (so a
/// compressing filesystem cannot cheat), as a plain tarball.
fn synthetic_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..128 {
        let mut data = vec![0u8; 64 * 1024];
        for chunk in data.chunks_mut(8) {
            // xorshift64: cheap, deterministic filler.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, format!("dir{}/file{i}", i % 8), data.as_slice())
            .expect("append to an in-memory tar");
    }
    b.into_inner().expect("finish the in-memory tar")
}

fn import_once(layer: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open a fresh store");
    let opts = ImportOptions {
        reference: Some("bench/layer:latest".into()),
        source: "bench".into(),
        ..ImportOptions::default()
    };
    black_box(import(&store, layer, &opts).expect("import"));
}

fn bench(c: &mut Criterion) {
    let mut inputs = vec![("synthetic-8MiB", synthetic_layer())];
    let busybox = std::env::var_os("WRUN_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/wrun"))
        .join("busybox.tar");
    match std::fs::read(&busybox) {
        Ok(bytes) => inputs.push(("busybox-rootfs", bytes)),
        Err(e) => eprintln!(
            "layers bench: {} not read ({e}); synthetic layer only",
            busybox.display()
        ),
    }
    let mut g = c.benchmark_group("layer-import");
    g.sample_size(20);
    for (name, bytes) in &inputs {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| import_once(bytes))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
