//! Store behaviour end to end: import, lookup, tag, rmi, prune, save/load
//! round trips, and "a failed import or load leaves the store as it was".

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;

use super::*;
use crate::archive::{self, ArchiveManifestEntry};
use crate::import::{ImportOptions, import};

/// A small rootfs tar: a dir, a file with `content`, a symlink.
pub(crate) fn rootfs_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "etc/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "etc/motd", content).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "motd", "etc/motd").unwrap();
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn opts(r: Option<&str>, changes: &[&str]) -> ImportOptions {
    ImportOptions {
        reference: r.map(Into::into),
        changes: changes.iter().map(|s| s.to_string()).collect(),
        message: None,
        source: "-".into(),
    }
}

/// Every file under the store except the lock, with its size.
fn snapshot(store: &Store) -> BTreeSet<(String, u64)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<(String, u64)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if m.is_dir() {
                walk(base, &p, out);
            }
            if rel != "lock" {
                out.insert((rel, if m.is_dir() { 0 } else { m.len() }));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(store.dir(), store.dir(), &mut out);
    out
}

fn new_store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

#[test]
fn import_lookup_and_layer_dirs() {
    let (_d, s) = new_store();
    let id = import(
        &s,
        &gzip(&rootfs_tar(b"hi"))[..],
        &opts(Some("busybox"), &["CMD [\"sh\"]"]),
    )
    .unwrap();
    assert!(id.starts_with("sha256:"));
    let img = s.lookup("busybox").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert_eq!(img.names, ["docker.io/library/busybox:latest"]);
    assert_eq!(
        img.config.config().as_ref().unwrap().cmd().clone().unwrap(),
        ["sh"]
    );
    // Stored uncompressed: the blob digest is the diff_id.
    assert_eq!(img.layers[0].digest, img.layers[0].diff_id);
    assert_eq!(img.layers[0].media_type, MEDIA_LAYER_TAR);
    for q in [
        "busybox:latest",
        "docker.io/library/busybox",
        &id,
        &id[7..19],
        &id[..15],
        &format!("busybox@{}", img.manifest_digest),
    ] {
        assert_eq!(s.lookup(q).unwrap().id, id, "{q}");
    }
    let e = s.lookup("nosuch").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unable to find image 'nosuch:latest' locally"
    );
    assert!(matches!(
        s.lookup("busybox:other"),
        Err(Error::ImageNotFound { .. })
    ));
    let dirs = s.layer_dirs(&img).unwrap();
    assert_eq!(fs::read(dirs[0].join("etc/motd")).unwrap(), b"hi");
    // A missing unpacked layer is rebuilt from its blob.
    fs::remove_dir_all(&dirs[0]).unwrap();
    let again = s.layer_dirs(&img).unwrap();
    assert_eq!(fs::read(again[0].join("motd")).unwrap(), b"hi");
    let j = crate::inspect_json(&s, &img);
    assert_eq!(j["Id"], id.as_str());
    assert_eq!(j["Config"]["Cmd"][0], "sh");
    assert_eq!(j["RootFS"]["Layers"][0], img.layers[0].diff_id.as_str());
    let h = crate::inspect::history_rows(&img);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].comment, "Imported from -");
}

#[test]
fn failed_imports_leave_the_store_unchanged() {
    let (_d, s) = new_store();
    import(&s, &rootfs_tar(b"first")[..], &opts(Some("keep"), &[])).unwrap();
    let before = snapshot(&s);
    let good = rootfs_tar(&[b'x'; 5000]);
    let gz = gzip(&good);
    let mut corrupt_gz = gz.clone();
    let mid = corrupt_gz.len() / 2;
    corrupt_gz[mid] ^= 0xff;
    let bad_inputs: Vec<(&str, Vec<u8>)> = vec![
        ("truncated tar", good[..1500].to_vec()),
        ("truncated gzip", gz[..gz.len() - 10].to_vec()),
        ("corrupt gzip", corrupt_gz),
        ("empty", Vec::new()),
        ("hostile", {
            let mut t = Vec::new();
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..9].copy_from_slice(b"../escape");
            h.set_size(0);
            h.set_mode(0o644);
            h.set_cksum();
            t.extend_from_slice(h.as_bytes());
            t.extend_from_slice(&[0; 1024]);
            t
        }),
    ];
    for (what, data) in bad_inputs {
        let mut o = opts(Some("broken"), &[]);
        o.source = "rootfs.tar".into();
        let e = import(&s, &data[..], &o).unwrap_err();
        assert!(e.to_string().starts_with("rootfs.tar: "), "{what}: {e}");
        assert_eq!(snapshot(&s), before, "{what}: store changed");
    }
    assert!(s.lookup("broken").is_err());
    // A bad --change fails before anything is written.
    assert!(import(&s, &good[..], &opts(Some("x"), &["BOGUS 1"])).is_err());
    assert_eq!(snapshot(&s), before);
}

#[test]
fn tag_rmi_and_prune() {
    let (_d, s) = new_store();
    let a = import(&s, &rootfs_tar(b"a")[..], &opts(Some("a"), &[])).unwrap();
    s.tag("a", "a:v2").unwrap();
    s.tag(&a, "localhost:5000/other/a:t").unwrap();
    let img = s.lookup("a").unwrap();
    assert_eq!(img.repo_tags.len(), 3);
    let none = HashMap::new();
    // By id with names in several repositories: refused without -f.
    let e = s.remove(&a[7..19], false, &none).unwrap_err();
    assert!(
        e.to_string()
            .contains("referenced in multiple repositories"),
        "{e}"
    );
    // By one name of several: only untags.
    let ev = s.remove("a:v2", false, &none).unwrap();
    assert_eq!(ev, [RemoveEvent::Untagged("a:v2".into())]);
    assert_eq!(s.lookup(&a).unwrap().repo_tags.len(), 2);
    // Re-import under the same name: the old image becomes dangling.
    let b = import(&s, &rootfs_tar(b"b")[..], &opts(Some("a"), &[])).unwrap();
    assert_eq!(s.lookup("a").unwrap().id, b);
    let old = s.lookup(&a).unwrap();
    assert_eq!(old.repo_tags, ["localhost:5000/other/a:t"]);
    s.remove("localhost:5000/other/a:t", false, &none).unwrap();
    assert!(s.lookup(&a).is_err(), "last name removed deletes the image");
    let c = import(&s, &rootfs_tar(b"c")[..], &opts(Some("c"), &[])).unwrap();
    import(&s, &rootfs_tar(b"c2")[..], &opts(Some("c"), &[])).unwrap();
    assert!(s.lookup(&c).unwrap().is_dangling());
    // In use by a container: prune -a keeps it.
    let cdir = s.state_root().join("containers/abc123");
    fs::create_dir_all(&cdir).unwrap();
    fs::write(
        cdir.join("config.json"),
        format!(r#"{{"annotations":{{"run.wrun.image":"{b}"}}}}"#),
    )
    .unwrap();
    // The runtime's state.json names the image id; a config annotation may
    // hold a reference instead.
    let cdir2 = s.state_root().join("containers/def456");
    fs::create_dir_all(&cdir2).unwrap();
    fs::write(cdir2.join("state.json"), format!(r#"{{"image_id":"{b}"}}"#)).unwrap();
    let cdir3 = s.state_root().join("containers/0a0a0a");
    fs::create_dir_all(&cdir3).unwrap();
    fs::write(
        cdir3.join("config.json"),
        r#"{"annotations":{"run.wrun.image":"a:latest"}}"#,
    )
    .unwrap();
    fs::create_dir_all(s.state_root().join("containers/names")).unwrap();
    let used = s.containers_by_image();
    let mut users = used[&b].clone();
    users.sort();
    assert_eq!(users, ["0a0a0a", "abc123", "def456"]);
    let e = s.remove("a", false, &used).unwrap_err();
    assert!(
        e.to_string().contains("is using its referenced image"),
        "{e}"
    );
    let (ev, reclaimed) = s.prune(false, &used).unwrap();
    assert_eq!(ev, [RemoveEvent::Deleted(c.clone())]);
    assert!(reclaimed > 0);
    let (ev, _) = s.prune(true, &used).unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}"); // untag + delete of c:latest (c2)
    assert_eq!(s.images().unwrap().len(), 1);
    assert_eq!(s.images().unwrap()[0].id, b);
    // Only b's blobs and layer are left.
    let layers: Vec<_> = fs::read_dir(s.layers_dir()).unwrap().collect();
    assert_eq!(layers.len(), 1);
    let blobs: Vec<_> = fs::read_dir(s.blobs_dir()).unwrap().collect();
    assert_eq!(blobs.len(), 3); // manifest, config, layer
}

#[test]
fn save_then_load_round_trip() {
    let (_d, s) = new_store();
    let id = import(
        &s,
        &rootfs_tar(b"rt")[..],
        &opts(Some("rt:1"), &["ENV A=1", "CMD [\"x\"]"]),
    )
    .unwrap();
    s.tag("rt:1", "rt:2").unwrap();
    let mut out = Vec::new();
    archive::save(&s, &["rt:1".into(), "rt:2".into()], &mut out).unwrap();
    // The archive has Docker's files.
    let mut names = BTreeSet::new();
    let mut manifest = None;
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        if p == "manifest.json" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            manifest = Some(serde_json::from_slice::<Vec<ArchiveManifestEntry>>(&v).unwrap());
        }
        names.insert(p);
    }
    for f in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.contains(f), "{f} missing: {names:?}");
    }
    let m = manifest.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].repo_tags, ["rt:1", "rt:2"]);
    // A bare repository saves every tag of it: the same archive.
    let mut all = Vec::new();
    archive::save(&s, &["rt".into()], &mut all).unwrap();
    assert_eq!(all, out);
    let mut none = Vec::new();
    assert!(archive::save(&s, &["rt:1".into(), "nosuch".into()], &mut none).is_err());
    assert!(
        none.is_empty(),
        "nothing is written when a reference does not resolve"
    );

    let (_d2, s2) = new_store();
    let loaded = archive::load(&s2, &out[..], "rt.tar").unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].names, ["rt:1", "rt:2"]);
    let img = s2.lookup("rt:2").unwrap();
    assert_eq!(img.config, s.lookup("rt:1").unwrap().config);
    // Gzipped archive, loading twice is idempotent.
    archive::load(&s2, &gzip(&out)[..], "rt.tar.gz").unwrap();
    assert_eq!(s2.images().unwrap().len(), 1);
}

/// A docker-archive the way Docker 25+ writes it: layer paths are symlinks
/// into `blobs/`, layers may be gzipped, `manifest.json` comes last.
fn docker25_archive(layer: &[u8], config: &[u8], gz_layer: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let layer_bytes = if gz_layer {
        gzip(layer)
    } else {
        layer.to_vec()
    };
    let lhex = &blob::digest_of(&layer_bytes)[7..];
    let chex = &blob::digest_of(config)[7..];
    let mut add = |p: &str, d: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        b.append_data(&mut h, p, d).unwrap();
    };
    add(&format!("blobs/sha256/{lhex}"), &layer_bytes);
    add(&format!("blobs/sha256/{chex}"), config);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(
        &mut h,
        format!("{lhex}/layer.tar"),
        format!("../blobs/sha256/{lhex}"),
    )
    .unwrap();
    let mj = format!(
        r#"[{{"Config":"blobs/sha256/{chex}","RepoTags":["docker.io/library/d25:latest"],"Layers":["{lhex}/layer.tar"]}}]"#
    );
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(mj.len() as u64);
    b.append_data(&mut h, "manifest.json", mj.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

fn config_for(layer: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z","config":{{"Env":["PATH=/bin"],"Cmd":["sh"],"Labels":null,"ExposedPorts":{{"80/tcp":{{}}}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}},"history":[{{"created":"2024-01-02T03:04:05Z","created_by":"/bin/sh -c #(nop) ADD file:x in /"}},{{"created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}}],"container_config":{{"Hostname":"x"}}}}"#,
        blob::digest_of(layer)
    )
    .into_bytes()
}

#[test]
fn loads_docker25_archives_and_rejects_bad_ones() {
    let (_d, s) = new_store();
    let layer = rootfs_tar(b"d25");
    let config = config_for(&layer);
    for gz in [false, true] {
        let ar = docker25_archive(&layer, &config, gz);
        let loaded = archive::load(&s, &ar[..], "d25.tar").unwrap();
        assert_eq!(loaded[0].names, ["d25:latest"]);
        assert_eq!(loaded[0].id, blob::digest_of(&config));
    }
    let img = s.lookup("d25").unwrap();
    assert_eq!(
        img.config
            .config()
            .as_ref()
            .unwrap()
            .exposed_ports()
            .clone()
            .unwrap(),
        ["80/tcp"]
    );
    let rows = crate::inspect::history_rows(&img);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].id.as_deref(), Some(img.id.as_str()));
    assert_eq!((rows[0].size, rows[1].size), (0, layer.len() as u64));

    let before = snapshot(&s);
    // A config whose diff_id does not match the layer.
    let other = config_for(&rootfs_tar(b"other"));
    let ar = docker25_archive(&layer, &other, false);
    let (_d2, s2) = new_store();
    let before2 = snapshot(&s2);
    let e = archive::load(&s2, &ar[..], "bad.tar")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("bad.tar: ") && e.contains("digest mismatch"),
        "{e}"
    );
    assert_eq!(snapshot(&s2), before2);
    // Truncated archives, at every interesting cut.
    let ar = docker25_archive(
        &rootfs_tar(b"fresh"),
        &config_for(&rootfs_tar(b"fresh")),
        true,
    );
    let tmp = tempfile::tempdir().unwrap();
    for cut in [100, 600, ar.len() / 2, ar.len() - 600] {
        let e = archive::load(&s, &ar[..cut], "cut.tar")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cut.tar: "), "{cut}: {e}");
        assert_eq!(snapshot(&s), before, "cut at {cut} changed the store");
        // The same from a file, read in place.
        let p = tmp.path().join("cut.tar");
        fs::write(&p, &ar[..cut]).unwrap();
        let e = archive::load_path(&s, &p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: ", p.display())), "{cut}: {e}");
        assert_eq!(
            snapshot(&s),
            before,
            "cut at {cut} (file) changed the store"
        );
    }
    // Plain and gzipped archive files load in place / spooled.
    for gz in [false, true] {
        let layer = rootfs_tar(format!("file{gz}").as_bytes());
        let ar = docker25_archive(&layer, &config_for(&layer), false);
        let p = tmp.path().join("whole.tar");
        fs::write(&p, if gz { gzip(&ar) } else { ar }).unwrap();
        let loaded = archive::load_path(&s, &p).unwrap();
        assert_eq!(loaded[0].names, ["d25:latest"]);
        let img = s.lookup("d25").unwrap();
        let motd = s.layer_dirs(&img).unwrap()[0].join("etc/motd");
        assert_eq!(fs::read(motd).unwrap(), format!("file{gz}").as_bytes());
    }
    let before = snapshot(&s);
    let e = archive::load(&s, &b"not a tar at all, just text"[..], "junk").unwrap_err();
    assert!(e.to_string().starts_with("junk: "), "{e}");
    assert_eq!(snapshot(&s), before);
}

#[test]
fn loads_oci_archives() {
    let (_d, s) = new_store();
    let layer = rootfs_tar(b"oci");
    let gz = gzip(&layer);
    let config = config_for(&layer);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        blob::digest_of(&config),
        config.len(),
        blob::digest_of(&gz),
        gz.len()
    );
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"localhost/ocimg:v1"}}}}]}}"#,
        blob::digest_of(manifest.as_bytes()),
        manifest.len()
    );
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |p: &str, d: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        b.append_data(&mut h, p, d).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", index.as_bytes());
    for d in [&gz[..], &config[..], manifest.as_bytes()] {
        add(&format!("blobs/sha256/{}", &blob::digest_of(d)[7..]), d);
    }
    let ar = b.into_inner().unwrap();
    let loaded = archive::load(&s, &ar[..], "oci.tar").unwrap();
    assert_eq!(loaded[0].names, ["localhost/ocimg:v1"]);
    let img = s.lookup("localhost/ocimg:v1").unwrap();
    assert_eq!(img.layers[0].diff_id, blob::digest_of(&layer));
    assert_eq!(
        fs::read(s.layer_dirs(&img).unwrap()[0].join("etc/motd")).unwrap(),
        b"oci"
    );
}

#[test]
fn concurrent_imports_keep_every_name() {
    let (_d, s) = new_store();
    std::thread::scope(|sc| {
        for i in 0..6 {
            let s = s.clone();
            sc.spawn(move || {
                let data = rootfs_tar(format!("img{i}").as_bytes());
                import(&s, &data[..], &opts(Some(&format!("c{i}")), &[])).unwrap();
            });
        }
    });
    let names = names_of(&s.images().unwrap());
    assert_eq!(names.len(), 6, "{names:?}");
}

#[test]
fn manifest_and_config_round_trips() {
    use oci_spec::image::ImageManifest;
    let layers = vec![AddedLayer {
        diff_id: blob::digest_of(b"x"),
        size: 1,
        digest: blob::digest_of(b"x"),
        media_type: MEDIA_LAYER_TAR.into(),
    }];
    let m = build_manifest(&blob::digest_of(b"{}"), 2, &layers).unwrap();
    let parsed: ImageManifest = serde_json::from_slice(&m).unwrap();
    assert_eq!(
        serde_json::to_vec(&parsed).unwrap(),
        m,
        "manifest bytes are stable"
    );
    assert_eq!(parsed.layers()[0].media_type().to_string(), MEDIA_LAYER_TAR);
    assert_eq!(parsed.config().size(), 2);
    // Docker's config (extra keys, Go maps, nulls) parses, and what wrun
    // reads survives a round trip.
    let raw = config_for(b"layer");
    let c = parse_config(&raw, "config").unwrap();
    let again: ImageConfiguration =
        serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
    assert_eq!(again, c);
    let cfg = c.config().as_ref().unwrap();
    assert_eq!(cfg.cmd().clone().unwrap(), ["sh"]);
    assert_eq!(cfg.labels(), &None);
    assert_eq!(c.history().as_ref().unwrap()[1].empty_layer(), Some(true));
    // A config that is not JSON is an error naming it.
    let e = parse_config(b"{nope", "blobs/sha256/abc")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("blobs/sha256/abc: invalid JSON"), "{e}");
}
