//! Tests of the profile, the generator and the installer's inputs, by running
//! generated programs in the interpreter of `interp.rs`.

use oci_spec::runtime::{
    Capability, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator as Op, LinuxSyscall,
};

use super::interp::{Data, run};
use super::*;

const EPERM: u32 = ret::ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = ret::ERRNO | libc::ENOSYS as u32;

/// Docker's default capability set.
fn docker_caps() -> Vec<Capability> {
    use Capability::*;
    vec![
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
}

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap_or_else(|| panic!("{name} unknown"))
}

fn eval(prog: &[libc::sock_filter], name: &str, args: &[u64]) -> u32 {
    run(prog, &Data::x86_64(nr(name), args)).ret
}

fn default_prog(caps: &[Capability]) -> Vec<libc::sock_filter> {
    compile(&docker_default(caps)).unwrap()
}

#[test]
fn table_is_sorted_and_has_known_numbers() {
    let t = syscalls_x86_64::SYSCALLS;
    assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(syscall_number("read"), Some(0));
    assert_eq!(syscall_number("clone3"), Some(435));
    assert_eq!(syscall_number("fchmodat2"), Some(452));
    assert_eq!(syscall_number("socketcall"), None);
}

#[test]
fn embedded_profile_matches_the_corpus() {
    let dir = std::env::var_os("WRUN_CORPORA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        });
    let path = dir.join("moby-seccomp/default.json");
    match std::fs::read_to_string(&path) {
        Ok(s) => assert_eq!(
            s,
            profile::DOCKER_DEFAULT_JSON,
            "{} differs",
            path.display()
        ),
        Err(e) => eprintln!("skipping: {}: {e}", path.display()),
    }
}

#[test]
fn every_unconditionally_allowed_syscall_allows() {
    let prog = default_prog(&docker_caps());
    let v: serde_json::Value = serde_json::from_str(profile::DOCKER_DEFAULT_JSON).unwrap();
    let first = &v["syscalls"][0];
    assert_eq!(first["action"], "SCMP_ACT_ALLOW");
    assert!(first.get("includes").is_none() && first.get("args").is_none());
    let mut n = 0;
    for name in first["names"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        if let Some(num) = syscall_number(name) {
            let o = run(&prog, &Data::x86_64(num, &[u64::MAX; 6]));
            assert_eq!(o.ret, ret::ALLOW, "{name}");
            assert!(!o.loaded_args, "{name} loads arguments");
            n += 1;
        }
    }
    assert!(n >= 300, "only {n} allowed syscalls known");
    for name in [
        "arch_prctl",
        "modify_ldt",
        "chroot",
        "process_vm_readv",
        "ptrace",
    ] {
        assert_eq!(eval(&prog, name, &[]), ret::ALLOW, "{name}");
    }
}

#[test]
fn privileged_calls_are_eperm_without_their_capability() {
    let prog = default_prog(&docker_caps());
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "kexec_load",
        "bpf",
        "keyctl",
        "add_key",
        "pivot_root",
        "reboot",
        "init_module",
        "perf_event_open",
        "open_by_handle_at",
        "acct",
        "syslog",
        "settimeofday",
    ] {
        let o = run(&prog, &Data::x86_64(nr(name), &[]));
        assert_eq!(o.ret, EPERM, "{name}");
        assert!(!o.loaded_args, "{name} loads arguments");
    }
    // A number no one knows gets the default action.
    assert_eq!(run(&prog, &Data::x86_64(1000, &[])).ret, EPERM);
    assert_eq!(run(&prog, &Data::x86_64(0x3fff_ffff, &[])).ret, EPERM);
}

#[test]
fn capabilities_open_their_calls() {
    let mut caps = docker_caps();
    caps.extend([Capability::SysAdmin, Capability::SysPtrace, Capability::Bpf]);
    let prog = default_prog(&caps);
    for name in [
        "mount", "umount2", "unshare", "setns", "bpf", "kcmp", "clone3",
    ] {
        assert_eq!(eval(&prog, name, &[]), ret::ALLOW, "{name}");
    }
    // With CAP_SYS_ADMIN, clone is unconditional and never loads arguments.
    let o = run(
        &prog,
        &Data::x86_64(nr("clone"), &[libc::CLONE_NEWUSER as u64]),
    );
    assert_eq!(o.ret, ret::ALLOW);
    assert!(!o.loaded_args);
    // kexec stays denied: it needs CAP_SYS_BOOT... no, it is never allowed.
    assert_eq!(eval(&prog, "kexec_load", &[]), EPERM);
    assert_eq!(eval(&prog, "keyctl", &[]), EPERM);
}

#[test]
fn clone_namespace_flags_are_denied() {
    let prog = default_prog(&docker_caps());
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    let thread_flags = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    assert_eq!(eval(&prog, "clone", &[fork_flags]), ret::ALLOW);
    assert_eq!(eval(&prog, "clone", &[thread_flags]), ret::ALLOW);
    for f in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWCGROUP,
    ] {
        assert_eq!(
            eval(&prog, "clone", &[fork_flags | f as u64]),
            EPERM,
            "{f:#x}"
        );
    }
    assert_eq!(eval(&prog, "clone3", &[]), ENOSYS);
}

#[test]
fn personality_and_socket_arguments() {
    let prog = default_prog(&docker_caps());
    for p in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(eval(&prog, "personality", &[p]), ret::ALLOW, "{p:#x}");
    }
    for p in [
        1u64,
        0x0040_0000,
        0x1_0000_0000,
        0xffff_ffff_ffff_ffff,
        0x1_0000_0008,
    ] {
        assert_eq!(eval(&prog, "personality", &[p]), EPERM, "{p:#x}");
    }
    // socket: family < 38, == 39 or > 40 (no AF_ALG 38, no AF_VSOCK 40).
    for f in [
        libc::AF_UNIX,
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_NETLINK,
        39,
        41,
    ] {
        assert_eq!(eval(&prog, "socket", &[f as u64]), ret::ALLOW, "{f}");
    }
    // Comparisons are on all 64 bits, as libseccomp makes them on x86_64.
    assert_eq!(eval(&prog, "socket", &[0x1_0000_0026]), ret::ALLOW);
    for f in [38u64, 40] {
        assert_eq!(eval(&prog, "socket", &[f]), EPERM, "{f:#x}");
    }
}

#[test]
fn other_architectures_and_x32_are_killed() {
    let prog = default_prog(&docker_caps());
    for arch in [0x4000_0003u32, 0xc000_00b7, 0] {
        let d = Data {
            arch,
            ..Data::x86_64(0, &[])
        };
        assert_eq!(run(&prog, &d).ret, ret::KILL_PROCESS, "{arch:#x}");
    }
    let d = Data::x86_64(X32_SYSCALL_BIT, &[]);
    assert_eq!(run(&prog, &d).ret, ret::KILL_PROCESS);
    let d = Data::x86_64(X32_SYSCALL_BIT | 1, &[]);
    assert_eq!(run(&prog, &d).ret, ret::KILL_PROCESS);
    assert_eq!(
        run(&prog, &Data::x86_64(u32::MAX, &[])).ret,
        ret::KILL_PROCESS
    );
}

#[test]
fn dispatch_is_short() {
    let prog = default_prog(&docker_caps());
    let worst = (0..500)
        .map(|n| run(&prog, &Data::x86_64(n, &[])).steps)
        .max()
        .unwrap();
    eprintln!(
        "docker default: {} instructions, worst path {worst}",
        prog.len()
    );
    assert!(prog.len() < 400, "{} instructions", prog.len());
    assert!(worst < 20, "worst path {worst}");
}

fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(v) = value_two {
        b = b.value_two(v);
    }
    b.build().unwrap()
}

fn rule(
    names: &[&str],
    action: Act,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|s| s.to_string()).collect());
    s.set_action(action);
    s.set_errno_ret(errno);
    if !args.is_empty() {
        s.set_args(Some(args));
    }
    s
}

fn table(default: Act, rules: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut t = LinuxSeccomp::default();
    t.set_default_action(default);
    t.set_syscalls(Some(rules));
    t
}

#[test]
fn every_operator_on_both_halves() {
    let edges: Vec<u64> = {
        let base = [
            0u64,
            1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0001,
            0x1_ffff_ffff,
            0x8000_0000_0000_0000,
            0xffff_ffff_0000_0000,
            0xffff_ffff_ffff_fffe,
            u64::MAX,
            0x0000_0005_0000_0003,
        ];
        base.to_vec()
    };
    let ops = [
        Op::ScmpCmpEq,
        Op::ScmpCmpNe,
        Op::ScmpCmpLt,
        Op::ScmpCmpLe,
        Op::ScmpCmpGt,
        Op::ScmpCmpGe,
    ];
    for op in ops {
        for &v in &edges {
            for index in [0usize, 5] {
                let t = table(
                    Act::ScmpActErrno,
                    vec![rule(
                        &["read"],
                        Act::ScmpActAllow,
                        None,
                        vec![arg(index, op, v, None)],
                    )],
                );
                let prog = compile(&t).unwrap();
                for &x in &edges {
                    let want = match op {
                        Op::ScmpCmpEq => x == v,
                        Op::ScmpCmpNe => x != v,
                        Op::ScmpCmpLt => x < v,
                        Op::ScmpCmpLe => x <= v,
                        Op::ScmpCmpGt => x > v,
                        Op::ScmpCmpGe => x >= v,
                        Op::ScmpCmpMaskedEq => unreachable!(),
                    };
                    let mut args = [0u64; 6];
                    args[index] = x;
                    let got = run(&prog, &Data::x86_64(0, &args)).ret;
                    let want = if want { ret::ALLOW } else { EPERM };
                    assert_eq!(
                        got,
                        want,
                        "{} arg{index}={x:#x} v={v:#x}",
                        operator_name(op)
                    );
                }
            }
        }
    }
    for (mask, datum) in [
        (0xffu64, 0x12u64),
        (0xff_0000_0000, 0x12_0000_0000),
        (0xffff_0000_0000_ff00, 0x1234_0000_0000_5600),
        (0x7e02_0000, 0),
    ] {
        let t = table(
            Act::ScmpActErrno,
            vec![rule(
                &["read"],
                Act::ScmpActAllow,
                None,
                vec![arg(2, Op::ScmpCmpMaskedEq, mask, Some(datum))],
            )],
        );
        let prog = compile(&t).unwrap();
        for &x in edges
            .iter()
            .chain(&[datum, datum | !mask, 0x12, 0x12_0000_0012])
        {
            let want = if x & mask == datum { ret::ALLOW } else { EPERM };
            let got = run(&prog, &Data::x86_64(0, &[0, 0, x])).ret;
            assert_eq!(got, want, "mask {mask:#x} datum {datum:#x} x {x:#x}");
        }
    }
}

#[test]
fn conditions_and_and_rules_in_order() {
    // read: allowed when arg0 == 3 && arg1 > 10; else ERRNO(13) when arg0 == 3;
    // else the default (ERRNO 1).
    let t = table(
        Act::ScmpActErrno,
        vec![
            rule(
                &["read"],
                Act::ScmpActAllow,
                None,
                vec![
                    arg(0, Op::ScmpCmpEq, 3, None),
                    arg(1, Op::ScmpCmpGt, 10, None),
                ],
            ),
            rule(
                &["read"],
                Act::ScmpActErrno,
                Some(13),
                vec![arg(0, Op::ScmpCmpEq, 3, None)],
            ),
        ],
    );
    let prog = compile(&t).unwrap();
    assert_eq!(run(&prog, &Data::x86_64(0, &[3, 11])).ret, ret::ALLOW);
    assert_eq!(run(&prog, &Data::x86_64(0, &[3, 10])).ret, ret::ERRNO | 13);
    assert_eq!(run(&prog, &Data::x86_64(0, &[4, 11])).ret, EPERM);
}

#[test]
fn every_action_is_encoded() {
    let t = table(
        Act::ScmpActAllow,
        vec![
            rule(&["read"], Act::ScmpActNotify, None, vec![]),
            rule(&["write"], Act::ScmpActErrno, Some(38), vec![]),
            rule(&["open"], Act::ScmpActKillProcess, None, vec![]),
            rule(&["close"], Act::ScmpActKillThread, None, vec![]),
            rule(&["stat"], Act::ScmpActKill, None, vec![]),
            rule(&["fstat"], Act::ScmpActTrap, None, vec![]),
            rule(&["lstat"], Act::ScmpActLog, None, vec![]),
            rule(&["poll"], Act::ScmpActTrace, Some(7), vec![]),
            rule(&["lseek"], Act::ScmpActErrno, None, vec![]),
            rule(&["nosuchcall", "mmap"], Act::ScmpActNotify, None, vec![]),
        ],
    );
    let prog = compile(&t).unwrap();
    let cases = [
        ("read", ret::USER_NOTIF),
        ("write", ret::ERRNO | 38),
        ("open", ret::KILL_PROCESS),
        ("close", ret::KILL_THREAD),
        ("stat", ret::KILL_THREAD),
        ("fstat", ret::TRAP),
        ("lstat", ret::LOG),
        ("poll", ret::TRACE | 7),
        ("lseek", EPERM),
        ("mmap", ret::USER_NOTIF),
        ("getpid", ret::ALLOW),
    ];
    for (name, want) in cases {
        assert_eq!(eval(&prog, name, &[]), want, "{name}");
    }
    assert!(uses_notify(&t));
    assert!(!uses_notify(&docker_default(&docker_caps())));
    let mut d = table(Act::ScmpActErrno, vec![]);
    d.set_default_errno_ret(Some(38));
    assert_eq!(eval(&compile(&d).unwrap(), "read", &[]), ret::ERRNO | 38);
}

#[test]
fn bad_rules_are_errors() {
    let t = table(
        Act::ScmpActAllow,
        vec![rule(
            &["read"],
            Act::ScmpActAllow,
            None,
            vec![arg(6, Op::ScmpCmpEq, 0, None)],
        )],
    );
    assert!(matches!(compile(&t), Err(Error::ArgIndex { index: 6, .. })));
    let t = table(
        Act::ScmpActAllow,
        vec![rule(&["read"], Act::ScmpActErrno, Some(70000), vec![])],
    );
    let e = compile(&t).unwrap_err();
    assert_eq!(
        e.to_string(),
        "seccomp rule for read: errno 70000 out of range (1..=4095)"
    );
}

#[test]
fn far_jumps_go_through_trampolines() {
    // 300 syscalls, each with its own argument check: the returns end up
    // far more than 255 instructions away from most jumps.
    let mut rules = Vec::new();
    let names: Vec<&str> = syscalls_x86_64::SYSCALLS
        .iter()
        .map(|s| s.0)
        .take(300)
        .collect();
    for (i, n) in names.iter().enumerate() {
        rules.push(rule(
            &[n],
            Act::ScmpActAllow,
            None,
            vec![arg(0, Op::ScmpCmpEq, i as u64, None)],
        ));
    }
    let prog = compile(&table(Act::ScmpActErrno, rules)).unwrap();
    assert!(prog.len() > 1000);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(eval(&prog, n, &[i as u64]), ret::ALLOW, "{n}");
        assert_eq!(eval(&prog, n, &[i as u64 + 1]), EPERM, "{n}");
    }
}

#[test]
fn only_argument_rules_load_arguments() {
    // The kernel caches the action of a syscall whose filter path never
    // reads arguments; Docker's profile has argument rules only for these.
    let prog = default_prog(&docker_caps());
    let loaders: Vec<u32> = (0..600)
        .filter(|&n| run(&prog, &Data::x86_64(n, &[1, 2, 3, 4, 5, 6])).loaded_args)
        .collect();
    let mut want = vec![nr("clone"), nr("personality"), nr("socket")];
    want.sort();
    assert_eq!(loaders, want);
}

#[test]
fn trap_table_notifies_only_the_named_calls() {
    let prog = compile(&super::trap_table(&["openat", "connect", "sendto"])).unwrap();
    assert_eq!(eval(&prog, "openat", &[]), ret::USER_NOTIF);
    assert_eq!(eval(&prog, "connect", &[3, 0x1000, 16]), ret::USER_NOTIF);
    assert_eq!(eval(&prog, "read", &[]), ret::ALLOW);
    assert_eq!(eval(&prog, "sendto", &[3, 0x1000, 5, 0, 0, 0]), ret::ALLOW);
    assert_eq!(
        eval(&prog, "sendto", &[3, 0x1000, 5, 0, 0x2000, 16]),
        ret::USER_NOTIF
    );
    // Without sendto the filter never loads an argument word, so the
    // kernel can cache every result (offsets >= 16 are the arguments).
    let plain = compile(&super::trap_table(&["openat", "unknown_call"])).unwrap();
    assert!(
        plain.iter().all(|i| !(i.code == 0x20 && i.k >= 16)),
        "an argument is loaded"
    );
    assert_eq!(eval(&plain, "openat", &[]), ret::USER_NOTIF);
}
