//! The example policy written in C (`policies/example-deny-shadow.c`),
//! compiled with clang's wasm32 target by `scripts/build-c-policy.sh`,
//! loads and decides as its comments say.

use std::path::Path;
use std::process::Command;

use wrun_policy::{Decision, Op, PolicyEngine, Request};

#[test]
fn the_c_example_compiles_loads_and_decides() {
    let have_clang = Command::new("clang").arg("--version").output().is_ok();
    if !have_clang {
        assert!(
            std::env::var_os("CI").is_none(),
            "clang is missing: scripts/install.sh installs clang and lld"
        );
        eprintln!("skipped: clang is not installed");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempfile::tempdir().unwrap();
    let wasm = out.path().join("policy.wasm");
    let st = Command::new(repo.join("scripts/build-c-policy.sh"))
        .arg(repo.join("policies/example-deny-shadow.c"))
        .arg(&wasm)
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&wasm).unwrap();
    let p = PolicyEngine::new().unwrap().load(&bytes).unwrap();
    assert!(p.interest().cacheable);
    assert!(p.interest().ops.contains(Op::Connect));
    let mut i = p.instantiate().unwrap();
    let denied = Decision::Deny {
        errno: 13,
        audit: true,
        reason: None,
    };
    assert_eq!(i.decide(&Request::path(Op::Open, b"/etc/shadow")), denied);
    assert_eq!(
        i.decide(&Request::path(Op::Create, b"/root/.ssh/x")),
        denied
    );
    assert!(i.decide(&Request::path(Op::Open, b"/rootfs")).is_allow());
    assert!(
        i.decide(&Request::path(Op::Open, b"/etc/shadowy"))
            .is_allow()
    );
    let mut link = Request::path(Op::Link, b"/tmp/x");
    link.path2 = b"/etc/shadow";
    assert_eq!(i.decide(&link), denied);
    let smtp = Request::new(Op::Connect).with_socket_addr("10.0.0.1:25".parse().unwrap());
    assert!(matches!(i.decide(&smtp), Decision::Deny { errno: 111, .. }));
    let http = Request::new(Op::Connect).with_socket_addr("10.0.0.1:80".parse().unwrap());
    assert!(i.decide(&http).is_allow());
}
