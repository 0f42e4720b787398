//! Builds the workload program (`workload/workload.c`) as a static binary:
//! it runs inside every isolation level — busybox rootfs, gVisor, a VM's
//! initramfs — where no C library can be assumed. The bytes are embedded in
//! the crate (`suite::WORKLOAD_PROGRAM`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "workload/workload.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("wrun-bench-workload");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler `{cc}` for {src}: {e} (apt install build-essential)")
        });
    assert!(
        status.success(),
        "`{cc} -static` failed for {src} ({status}); a static C library is needed (apt install build-essential, or musl-tools with CC=musl-gcc)"
    );
}
