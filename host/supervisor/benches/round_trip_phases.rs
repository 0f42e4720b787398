//! The supervisor's work for one trapped `openat`, phase by phase, each in
//! a loop of its own (run as root): what reading the caller's credentials,
//! switching to them and back, reading the path, resolving and opening cost
//! on this machine. The whole round trip (with both wake-ups and ADDFD) is
//! in `trapped_open`; the difference is the kernel's hand-offs.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use criterion::{Criterion, criterion_group, criterion_main};
use rustix::fs::{CWD, Mode, OFlags, ResolveFlags};
use wrun_sys::thread_creds::{FsCreds, ThreadCreds};

/// Docker's default capability set, as a container's root holds it.
const DOCKER_CAPS: u64 = 0xa80425fb;

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let proc_dir = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    // A live thread of ours stands for the trapped caller.
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let path = b"/etc/hostname\0".to_vec();
    let path_addr = path.as_ptr() as u64;
    let other = std::thread::spawn(move || {
        tid_tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = tid_rx.recv().unwrap();
    let pid = std::process::id();

    let mut g = c.benchmark_group("round-trip-phases");
    let mut buf = Vec::with_capacity(4096);
    g.bench_function("status: open+read+close+parse /proc/TID/status", |b| {
        b.iter(|| wrun_supervisor::procinfo::read(proc_dir.as_fd(), tid, &mut buf).unwrap())
    });
    let status: OwnedFd = rustix::fs::openat(
        &proc_dir,
        format!("{tid}/status"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut fixed = [0u8; 4096];
    g.bench_function("status: pread on a kept fd", |b| {
        b.iter(|| rustix::io::pread(&status, &mut fixed[..], 0).unwrap())
    });
    g.bench_function("status: parse only", |b| {
        let n = rustix::io::pread(&status, &mut fixed[..], 0).unwrap();
        let text = std::str::from_utf8(&fixed[..n]).unwrap().to_owned();
        b.iter(|| wrun_supervisor::procinfo::parse_status(&text).unwrap())
    });
    let mut stat_buf = [0u8; 512];
    let stat: OwnedFd = rustix::fs::openat(
        &proc_dir,
        format!("{tid}/stat"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    g.bench_function("stat: pread on a kept fd (for comparison)", |b| {
        b.iter(|| rustix::io::pread(&stat, &mut stat_buf[..], 0).unwrap())
    });

    let mut pbuf = [0u8; 4097];
    g.bench_function("path: process_vm_readv", |b| {
        b.iter(|| wrun_sys::notify::read_c_string(pid, path_addr, &mut pbuf).unwrap())
    });
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    g.bench_function("path: pread on /proc/PID/mem", |b| {
        b.iter(|| {
            rustix::io::pread(
                &mem,
                &mut pbuf[..4096 - (path_addr as usize % 4096)],
                path_addr,
            )
            .unwrap()
        })
    });
    let _ = mem.read(&mut [0u8; 0]);

    // A container's root: uid 0, its groups, Docker's capabilities; and a
    // non-root user.
    let container_root = FsCreds {
        uid: 0,
        gid: 0,
        groups: vec![0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27],
        effective: DOCKER_CAPS,
    };
    let user = FsCreds {
        uid: 1000,
        gid: 1000,
        groups: vec![1000],
        effective: 0,
    };
    // Credentials are per thread: these loops change this thread only,
    // and end where they started.
    let mut own = ThreadCreds::current().unwrap();
    g.bench_function(
        "creds: every id and the capabilities there and back (the per-call cost before)",
        |b| {
            b.iter(|| {
                own.assume(&user).unwrap();
                own.restore().unwrap();
            })
        },
    );
    own.assume(&container_root).unwrap();
    g.bench_function(
        "creds: own capabilities, then the caller's again (the per-call cost now)",
        |b| {
            b.iter(|| {
                own.privileged().unwrap();
                own.assume(&container_root).unwrap();
            })
        },
    );
    own.restore().unwrap();

    g.bench_function("open: openat2 O_PATH + fstat + readlink + reopen", |b| {
        b.iter(|| {
            let found = rustix::fs::openat2(
                CWD,
                "/etc/hostname",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::empty(),
            )
            .unwrap();
            let _ = rustix::fs::fstat(&found).unwrap();
            let link = format!("thread-self/fd/{}", found.as_raw_fd());
            let canonical = rustix::fs::readlinkat(&proc_dir, &link, Vec::new()).unwrap();
            let fd = rustix::fs::openat(
                &proc_dir,
                &link,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            (fd, canonical)
        })
    });
    g.bench_function(
        "open: openat2 with the caller's flags + fstat + readlink",
        |b| {
            b.iter(|| {
                let fd = rustix::fs::openat2(
                    CWD,
                    "/etc/hostname",
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::empty(),
                )
                .unwrap();
                let _ = rustix::fs::fstat(&fd).unwrap();
                let link = format!("thread-self/fd/{}", fd.as_raw_fd());
                let canonical = rustix::fs::readlinkat(&proc_dir, &link, Vec::new()).unwrap();
                (fd, canonical)
            })
        },
    );
    g.bench_function("open: plain openat+close (native reference)", |b| {
        b.iter(|| {
            rustix::fs::openat(
                CWD,
                "/etc/hostname",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap()
        })
    });
    g.finish();
    drop(stop_tx);
    other.join().unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
