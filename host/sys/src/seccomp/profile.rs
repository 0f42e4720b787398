//! Docker's default seccomp profile, as data (`docker-default.json`, see
//! `NOTICE.md`), and Docker's rules for turning it into an OCI table.
//!
//! Each entry of the profile may be gated by `includes` and `excludes` on
//! architectures, capabilities and a minimum kernel. Docker (moby
//! `profiles/seccomp/seccomp_linux.go`) keeps an entry when: no excluded
//! architecture is ours, no excluded capability is held, every included
//! capability is held, our architecture is among the included ones (if any
//! are listed), and the running kernel is at least `minKernel`.

use std::collections::HashSet;
use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall,
};
use serde::Deserialize;

/// The profile text, copied from Moby unchanged.
pub(crate) const DOCKER_DEFAULT_JSON: &str = include_str!("docker-default.json");

/// Docker's name for this architecture in `includes.arches`.
const GO_ARCH: &str = "amd64";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    syscalls: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<LinuxSeccompArg>,
    #[serde(default)]
    includes: Gate,
    #[serde(default)]
    excludes: Gate,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Gate {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    min_kernel: Option<String>,
}

fn profile() -> &'static Profile {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    PROFILE.get_or_init(|| {
        serde_json::from_str(DOCKER_DEFAULT_JSON).expect("embedded docker-default.json parses")
    })
}

/// `major.minor` of a kernel release string such as `6.18.44-foo`.
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn running_kernel() -> (u32, u32) {
    static V: OnceLock<(u32, u32)> = OnceLock::new();
    *V.get_or_init(|| {
        nix::sys::utsname::uname()
            .ok()
            .and_then(|u| parse_version(&u.release().to_string_lossy()))
            // Unknown: assume new enough, as the profile's gates are all old.
            .unwrap_or((u32::MAX, 0))
    })
}

/// Docker's default seccomp table for x86_64 and the given capabilities
/// (the bounding set, as Docker uses).
pub fn docker_default(caps: &[Capability]) -> LinuxSeccomp {
    let held: HashSet<String> = caps.iter().map(|c| format!("CAP_{c}")).collect();
    let kernel = running_kernel();
    let p = profile();
    let mut syscalls = Vec::with_capacity(p.syscalls.len());
    for e in &p.syscalls {
        let ex = &e.excludes;
        if ex.arches.iter().any(|a| a == GO_ARCH) || ex.caps.iter().any(|c| held.contains(c)) {
            continue;
        }
        if let Some(v) = ex.min_kernel.as_deref().and_then(parse_version)
            && kernel >= v
        {
            continue;
        }
        let inc = &e.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == GO_ARCH) {
            continue;
        }
        if !inc.caps.iter().all(|c| held.contains(c)) {
            continue;
        }
        if let Some(v) = inc.min_kernel.as_deref().and_then(parse_version)
            && kernel < v
        {
            continue;
        }
        let mut s = LinuxSyscall::default();
        s.set_names(e.names.clone());
        s.set_action(e.action);
        s.set_errno_ret(e.errno_ret);
        if !e.args.is_empty() {
            s.set_args(Some(e.args.clone()));
        }
        syscalls.push(s);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(p.default_action);
    out.set_default_errno_ret(p.default_errno_ret);
    // Only the native ABI: see the module docs of `seccomp`.
    out.set_architectures(Some(vec![Arch::ScmpArchX86_64]));
    out.set_syscalls(Some(syscalls));
    out
}
