//! `wrun bench` end to end: a quick comparison of the native process with
//! wrun's `process` and `namespaces` levels writes JSON with every workload
//! and an SVG chart; unknown names are refused with the known ones listed.
//! The numbers themselves are not checked (benchmarks measure, never
//! assert): a level that cannot run must appear with its error.

mod common;

use common::{busybox_tar, require_root, text, wrun_bin};

#[test]
fn unknown_names_are_refused_with_the_known_ones() {
    let out = std::process::Command::new(wrun_bin())
        .args(["bench", "--quick", "--only", "process,nonesuch"])
        .output()
        .expect("run wrun");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("'nonesuch'"), "{err}");
    for known in [
        "native",
        "namespaces",
        "wasm-audit",
        "runc",
        "crun",
        "runsc",
        "podman",
        "microvm",
        "start-exit",
        "http",
    ] {
        assert!(err.contains(known), "{known} not listed: {err}");
    }
}

#[test]
fn quick_bench_of_process_and_namespaces_writes_json_and_chart() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    let tar = busybox_tar(&images);
    std::fs::rename(&tar, images.join("busybox.tar")).expect("rename");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let json_path = dir.path().join("bench.json");
    let svg_path = dir.path().join("bench.svg");
    let out = std::process::Command::new(wrun_bin())
        .args(["bench", "--quick", "--only", "process,namespaces", "--json"])
        .arg(&json_path)
        .arg("--plot")
        .arg(&svg_path)
        .env("WRUN_TEST_IMAGES", &images)
        .env("WRUN_BENCH_WORKDIR", &work)
        .output()
        .expect("run wrun bench");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "wrun bench failed: {}\n{stdout}",
        text(&out.stderr)
    );
    assert!(stdout.contains("native process"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid JSON");
    let names: Vec<&str> = json["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["native", "process", "namespaces"]);
    let expected = [
        ("start-exit", &["start-exit"][..]),
        (
            "syscalls",
            &[
                "getpid",
                "openat_close",
                "stat",
                "tcp_connect",
                "write_read_64mib",
            ][..],
        ),
        ("http", &["http"][..]),
        ("memory", &["memory"][..]),
    ];
    for (workload, metrics) in expected {
        for metric in metrics {
            let cell = &json["workloads"][workload]["metrics"][metric]["subjects"];
            for subject in &names {
                let c = &cell[subject];
                assert!(
                    c["median"].is_number() || c["error"].is_string(),
                    "{workload}/{metric}/{subject} has neither a median nor an error: {c}"
                );
            }
        }
    }
    // The native process is the baseline: it must have been measured.
    let native = &json["workloads"]["start-exit"]["metrics"]["start-exit"]["subjects"]["native"];
    assert!(
        native["median"].as_f64().is_some_and(|m| m > 0.0),
        "{native}"
    );
    assert!(json["harness_overhead"]["empty_workload_ns"].is_number());

    let svg = std::fs::read_to_string(&svg_path).expect("chart written");
    assert!(svg.starts_with("<svg "), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("start-exit (ms)"));
    // The harness removed its working directory (rootfs, bundles, stores).
    let left: Vec<_> = std::fs::read_dir(&work)
        .expect("read the work parent")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
