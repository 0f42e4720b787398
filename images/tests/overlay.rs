//! The unpacked layers really are overlayfs lower dirs: load a three-layer
//! image whose upper layers delete a file (`.wh.`) and make a directory
//! opaque (`.wh..wh..opq`), mount the layers with overlayfs, and check what
//! a container would see. Needs root (mount); skipped with a reason
//! otherwise, except under CI.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use sha2::{Digest, Sha256};
use wrun_images::{Store, archive};

fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        match data {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
            Some(d) => {
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, name, *d).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn archive_of(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    })
    .to_string();
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}.tar")).collect();
    let manifest =
        serde_json::json!([{ "Config": "config.json", "RepoTags": ["wo:1"], "Layers": names }])
            .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (n, l) in names.iter().zip(layers) {
        add(n, l);
    }
    add("config.json", config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    b.into_inner().unwrap()
}

#[test]
fn whiteouts_and_opaque_dirs_work_under_overlayfs() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs root, and CI must run it"
        );
        eprintln!("skipped: needs root (mounts overlayfs)");
        return;
    }
    let l1 = layer(&[
        ("etc", None),
        ("etc/keep", Some(b"k")),
        ("etc/gone", Some(b"g")),
        ("data", None),
        ("data/a", Some(b"a")),
    ]);
    let l2 = layer(&[
        ("etc/.wh.gone", Some(b"")),
        ("data", None),
        ("data/.wh..wh..opq", Some(b"")),
    ]);
    let l3 = layer(&[("data/c", Some(b"c"))]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    archive::load(&store, &archive_of(&[l1, l2, l3])[..], "wo.tar").unwrap();
    let img = store.lookup("wo:1").unwrap();
    let lowers = store.layer_dirs(&img).unwrap();
    assert_eq!(lowers.len(), 3);
    // overlayfs lists the topmost lower dir first.
    let lowerdir: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let merged = dir.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let opts = format!("lowerdir={}", lowerdir.join(":"));
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(opts.as_str()),
    )
    .expect("mount overlay");
    let list = |p: &Path| {
        let mut v: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let etc = list(&merged.join("etc"));
    let data = list(&merged.join("data"));
    umount2(&merged, MntFlags::MNT_DETACH).unwrap();
    assert_eq!(etc, ["keep"], "the whiteout hides etc/gone");
    assert_eq!(data, ["c"], "the opaque dir hides data/a");
}
