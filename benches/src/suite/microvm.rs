//! The microVM peer: QEMU's `-M microvm` booting Debian's cloud kernel with
//! an initramfs made from the same rootfs the containers run. Its `/init`
//! runs the command given after `--` on the kernel command line, prints its
//! output on the serial console (QEMU's stdout) and reboots, which ends
//! QEMU (`-no-reboot`).
//!
//! KVM is used only when a short test boot proves it works: on machines
//! whose `/dev/kvm` is a paravirtual device (kvm_pvm) a stock kernel dies or
//! hangs on it, so the device's existence proves nothing. Otherwise QEMU's
//! TCG emulation runs the guest, and every label says so.
//!
//! The kernel comes from `apt-get download linux-image-cloud-amd64` (the
//! package it depends on) and is cached, with the virtio network modules the
//! HTTP workload needs, under the cache directory (default
//! /var/cache/wrun/bench), as is the verdict of the KVM test boot.

use std::ffi::OsString;
use std::fs;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cpio;
use crate::{os, run_checked, which};

/// The modules the HTTP workload loads, in dependency order.
const NET_MODULES: [&str; 6] = [
    "virtio_ring",
    "virtio",
    "virtio_mmio",
    "failover",
    "net_failover",
    "virtio_net",
];

/// Guest memory: about the least a Debian cloud kernel boots with plus room
/// for the 64 MiB file of the syscall mix in the initramfs's tmpfs.
const GUEST_MIB: u32 = 192;

/// Slow initcalls of the cloud kernel that nothing here needs (measured
/// with `initcall_debug` under TCG: ≈ 1.2 s together). Not
/// `system_trusted_keyring_init`: without it `key_link` oopses.
const INITCALL_BLACKLIST: &str = "crypto_kdf108_init,init_kprobe_trace,btf_vmlinux_init,\
load_system_certificate_list,init_encrypted,init_ima,klp_init,bpf_event_init";

/// The guest's /init: runs the command after `--` on the kernel command
/// line; with WRUNNET=1, loads the network modules and configures QEMU's
/// user-mode network first.
fn init_script() -> String {
    format!(
        r#"#!/bin/sh
mount -t proc proc /proc
mount -t tmpfs tmpfs /tmp
ifconfig lo 127.0.0.1 up
if [ -n "$WRUNNET" ]; then
    for m in {}; do
        insmod /lib/modules/wrun-bench/$m.ko
    done
    ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
    route add default gw 10.0.2.2
fi
echo WRUNBENCH-VM-UP
"$@"
echo "WRUNBENCH-VM-EXIT $?"
reboot -f
"#,
        NET_MODULES.join(" ")
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

/// A microVM ready to boot.
#[derive(Debug, Clone)]
pub struct MicroVm {
    qemu: PathBuf,
    kernel: PathBuf,
    kernel_version: String,
    initrd: PathBuf,
    accel: Accel,
    tsc_khz: u64,
}

impl MicroVm {
    pub fn accel_label(&self) -> &'static str {
        match self.accel {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG emulation",
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "`qemu-system-x86_64 -M microvm -accel {}` with {GUEST_MIB} MiB, Debian's {} kernel, an initramfs of the same rootfs whose /init runs the command and reboots{}",
            match self.accel {
                Accel::Kvm => "kvm",
                Accel::Tcg => "tcg",
            },
            self.kernel_version,
            if self.accel == Accel::Tcg {
                "; TCG because a test boot under KVM failed (or /dev/kvm is absent)"
            } else {
                ""
            }
        )
    }

    /// The QEMU command that boots, runs `inner` and powers off; with
    /// `forward = Some((host_port, guest_port))`, a user-mode network
    /// forwarding 127.0.0.1:host_port to the guest.
    pub fn command(&self, inner: &[&str], forward: Option<(u16, u16)>) -> Command {
        qemu_command(self, self.accel, inner, forward)
    }
}

fn qemu_command(
    vm: &MicroVm,
    accel: Accel,
    inner: &[&str],
    forward: Option<(u16, u16)>,
) -> Command {
    let mut args: Vec<OsString> = vec![
        os("-M"),
        os("microvm,x-option-roms=off,isa-serial=on,rtc=on"),
        os("-m"),
        os(GUEST_MIB.to_string()),
        os("-smp"),
        os("1"),
        os("-nodefaults"),
        os("-no-user-config"),
        os("-display"),
        os("none"),
        os("-no-reboot"),
        os("-serial"),
        os("stdio"),
        os("-kernel"),
        os(&vm.kernel),
        os("-initrd"),
        os(&vm.initrd),
    ];
    match accel {
        Accel::Kvm => args.extend([os("-accel"), os("kvm"), os("-cpu"), os("host")]),
        Accel::Tcg => args.extend([os("-accel"), os("tcg")]),
    }
    // quiet + no crypto self-tests: the boot is dominated by initcalls.
    // Under TCG the kernel hangs calibrating the TSC unless told its rate.
    let mut cmdline = format!(
        "console=ttyS0 quiet cryptomgr.notests initcall_blacklist={INITCALL_BLACKLIST} reboot=t panic=-1 tsc_early_khz={} tsc=reliable",
        vm.tsc_khz
    );
    if let Some((host, guest)) = forward {
        args.extend([
            os("-netdev"),
            os(format!("user,id=n0,hostfwd=tcp:127.0.0.1:{host}-:{guest}")),
            os("-device"),
            os("virtio-net-device,netdev=n0"),
        ]);
        cmdline.push_str(" WRUNNET=1");
    }
    cmdline.push_str(" -- ");
    cmdline.push_str(&inner.join(" "));
    args.extend([os("-append"), os(cmdline)]);
    let mut c = Command::new(&vm.qemu);
    c.args(args);
    c
}

/// The host's TSC rate in kHz, from /proc/cpuinfo's "cpu MHz".
fn tsc_khz() -> u64 {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map(|mhz| (mhz * 1000.0).round() as u64)
        .unwrap_or(2_000_000)
}

/// Kernel and initramfs, then the accelerator by test boot.
pub fn prepare(cache: &Path, rootfs: &Path, _quick: bool) -> Result<MicroVm, String> {
    let qemu = which("qemu-system-x86_64").ok_or("not installed (apt install qemu-system-x86)")?;
    fs::create_dir_all(cache).map_err(|e| format!("mkdir {}: {e}", cache.display()))?;
    let (kernel, modules, version) = kernel(cache)?;

    // The initramfs: this run's rootfs (busybox + the workload program),
    // the /init above and the network modules.
    let stage = cache.join("initramfs-stage");
    let _ = fs::remove_dir_all(&stage);
    run_checked(
        Command::new("cp").arg("-a").arg(rootfs).arg(&stage),
        "copying the rootfs for the initramfs",
    )?;
    let moddir = stage.join("lib/modules/wrun-bench");
    fs::create_dir_all(&moddir).map_err(|e| format!("mkdir: {e}"))?;
    for m in NET_MODULES {
        fs::copy(
            modules.join(format!("{m}.ko")),
            moddir.join(format!("{m}.ko")),
        )
        .map_err(|e| format!("copy module {m}: {e}"))?;
    }
    fs::write(stage.join("init"), init_script()).map_err(|e| format!("write init: {e}"))?;
    run_checked(
        Command::new("chmod").arg("755").arg(stage.join("init")),
        "chmod init",
    )?;
    let initrd = cache.join("initramfs.cpio");
    let tmp = cache.join("initramfs.cpio.tmp");
    {
        let f = fs::File::create(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
        let mut w = BufWriter::new(f);
        cpio::write_tree(&stage, &mut w).map_err(|e| format!("write initramfs: {e}"))?;
        std::io::Write::flush(&mut w).map_err(|e| format!("write initramfs: {e}"))?;
    }
    fs::rename(&tmp, &initrd).map_err(|e| format!("rename initramfs: {e}"))?;
    let _ = fs::remove_dir_all(&stage);

    let mut vm = MicroVm {
        qemu,
        kernel,
        kernel_version: version.clone(),
        initrd,
        accel: Accel::Tcg,
        tsc_khz: tsc_khz(),
    };
    vm.accel = choose_accel(cache, &vm, &version)?;
    Ok(vm)
}

/// KVM if a test boot under it reaches /init and exits in time (cached per
/// host kernel and guest kernel); TCG if TCG boots; else the boot error.
fn choose_accel(cache: &Path, vm: &MicroVm, guest: &str) -> Result<Accel, String> {
    let host = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let verdict_file = cache.join("kvm-verdict");
    let key = format!("{host} {guest}");
    let cached = fs::read_to_string(&verdict_file).ok().and_then(|t| {
        let (k, v) = t.trim().rsplit_once(' ')?;
        (k == key).then(|| v == "kvm")
    });
    let kvm_ok = match cached {
        Some(v) => v,
        None => {
            let ok = Path::new("/dev/kvm").exists()
                && test_boot(vm, Accel::Kvm, Duration::from_secs(15)).is_ok();
            let _ = fs::write(
                &verdict_file,
                format!("{key} {}\n", if ok { "kvm" } else { "tcg" }),
            );
            ok
        }
    };
    if kvm_ok {
        return Ok(Accel::Kvm);
    }
    test_boot(vm, Accel::Tcg, Duration::from_secs(120)).map(|()| Accel::Tcg)
}

/// Boot to `true` and require the init's exit marker within `limit`.
fn test_boot(vm: &MicroVm, accel: Accel, limit: Duration) -> Result<(), String> {
    let mut cmd = qemu_command(vm, accel, &["/bin/true"], None);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn qemu: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "test boot under {accel:?} did not finish in {}s",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("wait for qemu: {e}")),
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if out.contains("WRUNBENCH-VM-EXIT 0") {
        Ok(())
    } else {
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        Err(format!(
            "test boot under {accel:?} did not run /init to the end: {}",
            crate::last_lines(format!("{out}\n{err}").as_bytes(), 3)
        ))
    }
}

/// The cached kernel, its module directory and its version; downloaded
/// and extracted on first use.
fn kernel(cache: &Path) -> Result<(PathBuf, PathBuf, String), String> {
    let ready = cache.join("kernel");
    if let Ok(version) = fs::read_to_string(ready.join("VERSION")) {
        let version = version.trim().to_string();
        let k = ready.join("vmlinux");
        if k.exists() {
            return Ok((k, ready.join("modules"), version));
        }
        let k = ready.join("vmlinuz");
        if k.exists() {
            // A cache from before the extraction: try it once more.
            if extract_vmlinux(&k, &ready.join("vmlinux")).is_ok() {
                return Ok((ready.join("vmlinux"), ready.join("modules"), version));
            }
            let _ = fs::remove_file(ready.join("vmlinux"));
            return Ok((k, ready.join("modules"), version));
        }
    }
    which("apt-get").ok_or("apt-get not found: cannot fetch a Debian kernel")?;
    let out = Command::new("apt-cache")
        .args(["depends", "linux-image-cloud-amd64"])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let package = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .filter(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or("apt-cache depends linux-image-cloud-amd64 names no kernel package (run apt-get update)")?;
    let dl = cache.join("download");
    let _ = fs::remove_dir_all(&dl);
    fs::create_dir_all(&dl).map_err(|e| format!("mkdir: {e}"))?;
    run_checked(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(&dl),
        "apt-get download of the kernel",
    )?;
    let deb = fs::read_dir(&dl)
        .map_err(|e| format!("read {}: {e}", dl.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download produced no .deb")?;
    let x = dl.join("x");
    run_checked(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x),
        "dpkg-deb -x",
    )?;
    let version = package.trim_start_matches("linux-image-").to_string();
    let staged = cache.join("kernel.new");
    let _ = fs::remove_dir_all(&staged);
    fs::create_dir_all(staged.join("modules")).map_err(|e| format!("mkdir: {e}"))?;
    fs::copy(
        x.join(format!("boot/vmlinuz-{version}")),
        staged.join("vmlinuz"),
    )
    .map_err(|e| format!("copy vmlinuz-{version}: {e}"))?;
    // The uncompressed ELF boots through its PVH entry: no decompression
    // in the emulated guest. Without the tool for its compression, the
    // bzImage boots as it is.
    if let Err(e) = extract_vmlinux(&staged.join("vmlinuz"), &staged.join("vmlinux")) {
        eprintln!("bench: microvm: booting the compressed kernel: {e}");
        let _ = fs::remove_file(staged.join("vmlinux"));
    }
    let modroot = x.join(format!("lib/modules/{version}"));
    for m in NET_MODULES {
        let found = find_file(&modroot, &format!("{m}.ko")).ok_or_else(|| {
            format!("module {m}.ko not in {package} (built in? then drop it from NET_MODULES)")
        })?;
        fs::copy(&found, staged.join("modules").join(format!("{m}.ko")))
            .map_err(|e| format!("copy {}: {e}", found.display()))?;
    }
    fs::write(staged.join("VERSION"), format!("{version}\n"))
        .map_err(|e| format!("write VERSION: {e}"))?;
    let _ = fs::remove_dir_all(&ready);
    fs::rename(&staged, &ready).map_err(|e| format!("rename kernel dir: {e}"))?;
    let _ = fs::remove_dir_all(&dl);
    let k = if ready.join("vmlinux").exists() {
        ready.join("vmlinux")
    } else {
        ready.join("vmlinuz")
    };
    Ok((k, ready.join("modules"), version))
}

/// The ELF kernel inside a bzImage: the payload's place and length are in
/// the setup header (offsets 0x1f1, 0x248, 0x24c of the x86 boot
/// protocol); its compression is told by its magic number.
fn extract_vmlinux(bzimage: &Path, out: &Path) -> Result<(), String> {
    let d = fs::read(bzimage).map_err(|e| format!("read {}: {e}", bzimage.display()))?;
    let u32_at = |o: usize| -> Option<usize> {
        Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?) as usize)
    };
    let setup_sects = match d.get(0x1f1) {
        Some(0) | None => 4,
        Some(&n) => n as usize,
    };
    let (off, len) = u32_at(0x248).zip(u32_at(0x24c)).ok_or("not a bzImage")?;
    let start = (setup_sects + 1) * 512 + off;
    let payload = d
        .get(start..start + len)
        .ok_or("payload outside the file")?;
    let tool: &[&str] = if payload.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
        &["lz4", "-dc"]
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        &["zstd", "-dc"]
    } else if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        &["xz", "-dc"]
    } else if payload.starts_with(&[0x1f, 0x8b]) {
        &["gzip", "-dc"]
    } else {
        return Err("unknown payload compression".into());
    };
    let packed = out.with_extension("payload");
    fs::write(&packed, payload).map_err(|e| format!("write payload: {e}"))?;
    let file = fs::File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let status = Command::new(tool[0])
        .args(&tool[1..])
        .arg(&packed)
        .stdout(file)
        .stderr(Stdio::null())
        .status();
    let _ = fs::remove_file(&packed);
    let status = status.map_err(|e| format!("{} not usable: {e}", tool[0]))?;
    // The kernel's build appends the uncompressed size after the payload,
    // which the tools take for a damaged trailer (lz4 exits 1): judge by
    // what came out, an ELF file of at least that size.
    let expected = d
        .get(start + len - 4..start + len)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0) as u64;
    let mut head = [0u8; 4];
    let elf = fs::File::open(out)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"\x7fELF";
    let size = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    if elf && size >= expected.min(1 << 20) {
        Ok(())
    } else {
        Err(format!(
            "{} -dc did not give an ELF kernel ({status})",
            tool[0]
        ))
    }
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
