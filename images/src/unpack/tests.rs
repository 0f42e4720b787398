//! Breakout attempts against [`super::unpack`], table-driven. Each case
//! builds a tar by hand (the `tar` crate's builder refuses `..` and absolute
//! paths, which is exactly what an attacker would not do), unpacks it into
//! `base/layer`, and checks the outcome: rejected with an error naming the
//! entry, or extracted inside — and in every case `base/sentinel` is
//! exactly as before.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::*;

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Dev(&'a str, EntryType, u32, u32),
}

enum Expect {
    /// Rejected; the error names this entry.
    Rejected(&'static str),
    /// Extracted; the closure checks the layer dir.
    Inside(fn(&Path, &UnpackStats)),
}

/// Appends a raw header: name and link name are written byte for byte,
/// with GNU long-name records when they do not fit.
fn raw(out: &mut Vec<u8>, kind: EntryType, path: &str, link: &str, data: &[u8], dev: (u32, u32)) {
    let long = |out: &mut Vec<u8>, t: EntryType, s: &str| {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(t);
        h.set_size(s.len() as u64 + 1);
        h.set_mode(0o644);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        d.resize(d.len().div_ceil(512) * 512, 0);
        out.extend_from_slice(&d);
    };
    if path.len() > 100 {
        long(out, EntryType::GNULongName, path);
    }
    if link.len() > 100 {
        long(out, EntryType::new(b'K'), link);
    }
    let mut h = Header::new_gnu();
    let n = path.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&path.as_bytes()[..n]);
    let n = link.len().min(100);
    h.as_old_mut().linkname[..n].copy_from_slice(&link.as_bytes()[..n]);
    h.set_entry_type(kind);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    if matches!(kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(dev.0).unwrap();
        h.set_device_minor(dev.1).unwrap();
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    let mut d = data.to_vec();
    d.resize(d.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&d);
}

fn build(entries: &[E], sentinel: &str) -> Vec<u8> {
    let s = |x: &str| x.replace("{S}", sentinel);
    let mut out = Vec::new();
    for e in entries {
        match e {
            E::Dir(p) => raw(&mut out, EntryType::Directory, &s(p), "", b"", (0, 0)),
            E::File(p, d) => raw(&mut out, EntryType::Regular, &s(p), "", d, (0, 0)),
            E::Sym(p, l) => raw(&mut out, EntryType::Symlink, &s(p), &s(l), b"", (0, 0)),
            E::Hard(p, l) => raw(&mut out, EntryType::Link, &s(p), &s(l), b"", (0, 0)),
            E::Dev(p, k, ma, mi) => raw(&mut out, *k, &s(p), "", b"", (*ma, *mi)),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn sentinel_listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let data = fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), data)
        })
        .collect();
    v.sort();
    v
}

fn run_case(name: &str, entries: &[E], expect: Expect) {
    let base = tempfile::tempdir().unwrap();
    let layer = base.path().join("layer");
    let sentinel = base.path().join("sentinel");
    fs::create_dir(&layer).unwrap();
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("secret"), b"secret").unwrap();
    let before = sentinel_listing(&sentinel);
    let tar = build(entries, sentinel.to_str().unwrap());
    let res = unpack(&tar[..], &layer);
    match expect {
        Expect::Rejected(entry) => {
            let err = res.expect_err(name).to_string();
            let want = entry.replace("{S}", sentinel.to_str().unwrap());
            assert!(
                err.contains(&format!("\"{want}")),
                "{name}: error does not name {want:?}: {err}"
            );
        }
        Expect::Inside(check) => {
            let stats = res.unwrap_or_else(|e| panic!("{name}: {e}"));
            check(&layer, &stats);
        }
    }
    assert_eq!(
        sentinel_listing(&sentinel),
        before,
        "{name}: sentinel changed"
    );
    // Nothing appeared beside the layer and sentinel either.
    let mut top: Vec<_> = fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["layer", "sentinel"],
        "{name}: something written beside the layer"
    );
}

#[test]
fn breakout_attempts() {
    use E::*;
    use Expect::*;
    let long = "n".repeat(300);
    let deep = format!("{}/f", ["d"; 2100].join("/"));
    let cases: Vec<(&str, Vec<E>, Expect)> = vec![
        (
            "dotdot",
            vec![File("../escape", b"x")],
            Rejected("../escape"),
        ),
        (
            "nested dotdot",
            vec![Dir("a"), File("a/../../escape", b"x")],
            Rejected("a/../../escape"),
        ),
        (
            "dotdot dir",
            vec![Dir("../sentinel/newdir")],
            Rejected("../sentinel/newdir"),
        ),
        (
            "absolute path lands inside",
            vec![File("{S}/abs", b"x")],
            Inside(|l, _| {
                let found = walk(l).into_iter().any(|p| p.ends_with("sentinel/abs"));
                assert!(found, "absolute path not extracted inside");
            }),
        ),
        (
            "symlink then file through it",
            vec![Sym("s", "{S}"), File("s/x", b"x")],
            Rejected("s/x"),
        ),
        (
            "symlink to / then dir through it",
            vec![Sym("r", "/"), Dir("r{S}/newdir")],
            Rejected("r{S}/newdir"),
        ),
        (
            "relative symlink escape",
            vec![Sym("s", "../sentinel"), File("s/x", b"x")],
            Rejected("s/x"),
        ),
        (
            "symlink with dotdot chain",
            vec![Dir("b"), Sym("a", "b/../.."), File("a/sentinel/x", b"x")],
            Rejected("a/sentinel/x"),
        ),
        (
            "hard link to outside (absolute)",
            vec![Hard("h", "{S}/secret")],
            Rejected("h"),
        ),
        (
            "hard link to outside (dotdot)",
            vec![Hard("h", "../sentinel/secret")],
            Rejected("h"),
        ),
        (
            "hard link through a symlink",
            vec![Sym("s", "{S}"), Hard("h", "s/secret")],
            Rejected("h"),
        ),
        (
            "hard link to a directory",
            vec![Dir("d"), Hard("h", "d")],
            Rejected("h"),
        ),
        (
            "whiteout of ..",
            vec![File(".wh...", b"")],
            Rejected(".wh..."),
        ),
        (
            "whiteout of .",
            vec![Dir("a"), File("a/.wh..", b"")],
            Rejected("a/.wh.."),
        ),
        (
            "whiteout through a symlink",
            vec![Sym("s", "{S}"), File("s/.wh.secret", b"")],
            Rejected("s/.wh.secret"),
        ),
        (
            "opaque marker through a symlink",
            vec![Sym("s", "{S}"), File("s/.wh..wh..opq", b"")],
            Rejected("s/.wh..wh..opq"),
        ),
        (
            "symlink loop",
            vec![Sym("a", "b"), Sym("b", "a"), File("a/x", b"x")],
            Rejected("a/x"),
        ),
        (
            "device nodes are not created",
            vec![
                Dev("sda", EntryType::Block, 8, 0),
                Dev("mem", EntryType::Char, 1, 1),
            ],
            Inside(|l, st| {
                assert!(!l.join("sda").exists() && !l.join("mem").exists());
                assert_eq!(st.skipped_devices, ["sda", "mem"]);
            }),
        ),
        (
            "overly long name",
            vec![File(&long, b"x")],
            Rejected("nnnnnnnnnnnnnnnnnnnnnn"),
        ),
        (
            "overly long path",
            vec![File(&deep, b"x")],
            Rejected("d/d/d"),
        ),
        (
            "dir replaced by a symlink in a later entry",
            vec![
                Dir("d"),
                File("d/ok", b"x"),
                Sym("d", "{S}"),
                File("d/x", b"x"),
            ],
            Rejected("d/x"),
        ),
        (
            "file replaces a dir whose fd was cached",
            vec![
                Dir("a"),
                Dir("a/b"),
                File("a/b/x", b"1"),
                File("a", b"f"),
                File("a/b/y", b"2"),
            ],
            Rejected("a/b/y"),
        ),
        (
            "file replaces a symlink instead of writing through it",
            vec![Sym("f", "{S}/secret"), File("f", b"pwned")],
            Inside(|l, _| {
                let m = fs::symlink_metadata(l.join("f")).unwrap();
                assert!(m.is_file());
                assert_eq!(fs::read(l.join("f")).unwrap(), b"pwned");
            }),
        ),
        (
            "hard link to a symlink links the symlink",
            vec![Sym("f", "{S}/secret"), Hard("h", "f")],
            Inside(|l, _| {
                assert!(
                    fs::symlink_metadata(l.join("h"))
                        .unwrap()
                        .file_type()
                        .is_symlink()
                );
            }),
        ),
        (
            "dir through absolute symlink to inside path",
            vec![Dir("etc"), Sym("e", "/etc"), File("e/passwd", b"x")],
            Rejected("e/passwd"),
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, entries, expect) in cases {
        run_case(name, &entries, expect);
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn whiteouts_become_overlayfs_whiteouts() {
    let tar = build(
        &[
            E::Dir("d"),
            E::File("d/.wh..wh..opq", b""),
            E::File("d/.wh.gone", b""),
            E::File(".wh.top", b""),
            E::File(".wh..wh.plnk", b""),
        ],
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    unpack(&tar[..], dir.path()).unwrap();
    for p in ["d/gone", "top"] {
        let m = fs::symlink_metadata(dir.path().join(p)).unwrap();
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!((m.rdev(), m.uid(), m.gid()), (0, 0, 0), "{p}");
    }
    assert!(!dir.path().join("d/.wh.gone").exists());
    assert!(!dir.path().join(".wh..wh.plnk").exists());
    let v = rustix::fs::getxattr(
        dir.path().join("d"),
        "trusted.overlay.opaque",
        &mut [0u8; 4],
    );
    assert_eq!(v.unwrap(), 1);
}

#[test]
fn keeps_metadata_and_links() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o4755);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_600_000_000);
    h.set_size(5);
    b.append_data(&mut h, "usr/bin/su", &b"hello"[..]).unwrap();
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "usr/bin/su2", "usr/bin/su").unwrap();
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "bin", "usr/bin").unwrap();
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(2);
    // Through an in-layer relative symlink: allowed, lands in usr/bin.
    b.append_data(&mut h, "bin/via", &b"ok"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = unpack(&tar[..], dir.path()).unwrap();
    assert_eq!(st.entries, 4);
    let m = fs::metadata(dir.path().join("usr/bin/su")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!((m.uid(), m.gid(), m.mtime()), (1000, 1001, 1_600_000_000));
    let m2 = fs::metadata(dir.path().join("usr/bin/su2")).unwrap();
    assert_eq!(m.ino(), m2.ino());
    assert_eq!(fs::read(dir.path().join("usr/bin/via")).unwrap(), b"ok");
}

#[test]
fn truncated_tar_is_an_error() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = Header::new_ustar();
    h.set_size(4096);
    h.set_mode(0o644);
    b.append_data(&mut h, "big", &[7u8; 4096][..]).unwrap();
    let mut h = Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "next", &[7u8; 1][..]).unwrap();
    let tar = b.into_inner().unwrap();
    for cut in [700, 2000, 512 * 9 + 100] {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&tar[..cut], dir.path()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "cut {cut}: {err}");
    }
}

/// Cheap fuzzing: hostile-looking tars with random header bytes changed (and
/// checksums fixed, so the damage gets past the tar parser). Whatever
/// happens — error or success — nothing may appear outside the layer.
#[test]
fn mutated_headers_never_escape() {
    let base = tempfile::tempdir().unwrap();
    let sentinel = base.path().join("sentinel");
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("secret"), b"secret").unwrap();
    let before = sentinel_listing(&sentinel);
    let s = sentinel.to_str().unwrap();
    let entries = [
        E::Dir("d"),
        E::Sym("d/up", "../../sentinel"),
        E::Sym("abs", "{S}"),
        E::File("d/f", b"data"),
        E::Hard("d/h", "d/f"),
        E::File("d/.wh.f", b""),
        E::Sym("loop", "loop"),
        E::File("x/y/z", b"zz"),
    ];
    let tar = build(&entries, s);
    let mut headers = Vec::new();
    let mut off = 0;
    while off + 512 <= tar.len() && tar[off] != 0 {
        let mut h = Header::new_old();
        h.as_mut_bytes().copy_from_slice(&tar[off..off + 512]);
        headers.push(off);
        off += 512 + (h.size().unwrap() as usize).div_ceil(512) * 512;
    }
    assert_eq!(headers.len(), entries.len());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..400 {
        let mut t = tar.clone();
        for _ in 0..(1 + next() % 4) {
            let h = headers[(next() % headers.len() as u64) as usize];
            let mut off = (next() % 512) as usize;
            if (148..156).contains(&off) {
                off = 0;
            }
            // Bias towards path-ish bytes: '/', '.', NUL, or random.
            t[h + off] = match next() % 4 {
                0 => b'/',
                1 => b'.',
                2 => 0,
                _ => next() as u8,
            };
            let mut hdr = Header::new_old();
            hdr.as_mut_bytes().copy_from_slice(&t[h..h + 512]);
            hdr.set_cksum();
            t[h..h + 512].copy_from_slice(hdr.as_bytes());
        }
        let layer = base.path().join(format!("layer{round}"));
        fs::create_dir(&layer).unwrap();
        let _ = unpack(&t[..], &layer);
        assert_eq!(sentinel_listing(&sentinel), before, "round {round}");
        let _ = fs::remove_dir_all(&layer);
        let top: Vec<_> = fs::read_dir(base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            top,
            ["sentinel"],
            "round {round}: something written beside the layer"
        );
    }
}

/// One entry with full metadata, for the exactness tests below.
struct Full<'a> {
    kind: EntryType,
    path: &'a str,
    link: &'a str,
    data: &'a [u8],
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    xattrs: &'a [(&'a str, &'a [u8])],
}

fn full_tar(entries: &[Full]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.xattrs.is_empty() {
            let recs: Vec<(String, &[u8])> = e
                .xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
                .collect();
            b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                .unwrap();
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.owner.0);
        h.set_gid(e.owner.1);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if e.link.is_empty() {
            b.append_data(&mut h, e.path, e.data).unwrap();
        } else {
            b.append_link(&mut h, e.path, e.link).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn file<'a>(path: &'a str, mode: u32, owner: (u64, u64), mtime: u64) -> Full<'a> {
    Full {
        kind: EntryType::Regular,
        path,
        link: "",
        data: b"content",
        mode,
        owner,
        mtime,
        xattrs: &[],
    }
}

fn dir<'a>(path: &'a str, mode: u32, owner: (u64, u64), mtime: u64) -> Full<'a> {
    Full {
        kind: EntryType::Directory,
        data: b"",
        ..file(path, mode, owner, mtime)
    }
}

/// Owner, mode (with set-ID and sticky bits) and mtime come out exactly as
/// the tar says, whether or not they match what creating the inode gives:
/// root's own files (no chown needed), other owners, modes the umask would
/// cut (0o666, 0o777), set-ID bits (which a chown clears), and files inside
/// a set-group-ID directory (which hands its group to new inodes).
#[test]
fn ownership_mode_and_mtime_exact() {
    let entries = [
        dir("etc", 0o755, (0, 0), 1_500_000_001),
        file("etc/plain", 0o644, (0, 0), 1_500_000_002),
        file("etc/world", 0o666, (0, 0), 1_500_000_003),
        file("etc/shadow", 0o640, (0, 42), 1_500_000_004),
        file("etc/private", 0o000, (0, 0), 1_500_000_005),
        dir("usr", 0o755, (0, 0), 1_500_000_006),
        dir("usr/bin", 0o755, (0, 0), 1_500_000_007),
        file("usr/bin/su", 0o4755, (0, 0), 1_500_000_008),
        file("usr/bin/wall", 0o2755, (0, 5), 1_500_000_009),
        file("usr/bin/mine", 0o775, (1000, 1000), 1_500_000_010),
        dir("usr/bin/sub", 0o777, (0, 0), 1_500_000_014),
        dir("tmp", 0o1777, (0, 0), 1_500_000_011),
        dir("srv", 0o2775, (0, 50), 1_500_000_012),
        file("srv/rootfile", 0o644, (0, 0), 1_500_000_013),
        dir("srv/sub", 0o755, (0, 0), 1_500_000_015),
        file("srv/sub/f", 0o600, (7, 8), 1_500_000_016),
        Full {
            kind: EntryType::Symlink,
            link: "usr/bin/su",
            data: b"",
            ..file("su-link", 0o777, (3, 4), 1_500_000_017)
        },
    ];
    let tar = full_tar(&entries);
    let d = tempfile::tempdir().unwrap();
    let st = unpack(&tar[..], d.path()).unwrap();
    assert_eq!(st.entries, entries.len() as u64);
    for e in &entries {
        let m = fs::symlink_metadata(d.path().join(e.path)).unwrap();
        assert_eq!(
            (m.uid() as u64, m.gid() as u64),
            e.owner,
            "{}: owner",
            e.path
        );
        if e.kind != EntryType::Symlink {
            assert_eq!(m.mode() & 0o7777, e.mode, "{}: mode", e.path);
        }
        assert_eq!(m.mtime() as u64, e.mtime, "{}: mtime", e.path);
        if e.kind == EntryType::Regular {
            assert_eq!(fs::read(d.path().join(e.path)).unwrap(), b"content");
        }
    }
}

#[test]
fn xattrs_kept_and_overlay_ones_dropped() {
    let entries = [
        Full {
            xattrs: &[("user.wrun.test", b"v1")],
            ..dir("d", 0o755, (0, 0), 1_600_000_000)
        },
        Full {
            xattrs: &[("user.wrun.test", b"v2"), ("trusted.overlay.opaque", b"y")],
            ..file("d/f", 0o4755, (1, 1), 1_600_000_001)
        },
    ];
    let tar = full_tar(&entries);
    let d = tempfile::tempdir().unwrap();
    unpack(&tar[..], d.path()).unwrap();
    let get = |p: &str, k: &str| {
        let mut buf = [0u8; 16];
        rustix::fs::getxattr(d.path().join(p), k, &mut buf).map(|n| buf[..n].to_vec())
    };
    match get("d", "user.wrun.test") {
        Ok(v) => {
            assert_eq!(v, b"v1");
            assert_eq!(get("d/f", "user.wrun.test").unwrap(), b"v2");
        }
        // A filesystem without user xattrs: nothing to check but the rest.
        Err(rustix::io::Errno::OPNOTSUPP) => {}
        Err(e) => panic!("getxattr: {e}"),
    }
    assert!(get("d/f", "trusted.overlay.opaque").is_err());
    // The xattr went on after the chown, and the set-ID bit survived both.
    let m = fs::metadata(d.path().join("d/f")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 1, 1));
}

/// Directory fds are cached by path; every way a later entry can change
/// what a path names must be seen: a directory replaced by a file and made
/// again, a symlink (resolved and cached through) replaced by a file, a
/// whiteout removing a directory.
#[test]
fn cached_directories_follow_replacements() {
    use E::*;
    let tar = build(
        &[
            Dir("a"),
            File("a/x", b"1"),
            File("a", b"f"),
            Dir("a"),
            File("a/y", b"2"),
            Dir("real"),
            Sym("link", "real"),
            File("link/f", b"via"),
            Dir("w"),
            Dir("w/in"),
            File("w/in/f", b"3"),
            File(".wh.w", b""),
            Dir("w"),
            Dir("w/in"),
            File("w/in/g", b"4"),
        ],
        "",
    );
    let d = tempfile::tempdir().unwrap();
    unpack(&tar[..], d.path()).unwrap();
    let l = d.path();
    assert!(!l.join("a/x").exists());
    assert_eq!(fs::read(l.join("a/y")).unwrap(), b"2");
    assert_eq!(fs::read(l.join("real/f")).unwrap(), b"via");
    assert!(!l.join("w/in/f").exists());
    assert_eq!(fs::read(l.join("w/in/g")).unwrap(), b"4");

    // The symlink the cache resolved "link" through becomes a file: a
    // later entry under "link/" must fail, not land in "real/".
    let tar = build(
        &[
            Dir("real"),
            Sym("link", "real"),
            File("link/f", b"via"),
            File("link", b"now a file"),
            File("link/g", b"x"),
        ],
        "",
    );
    let d = tempfile::tempdir().unwrap();
    let err = unpack(&tar[..], d.path()).unwrap_err().to_string();
    assert!(err.contains("\"link/g\""), "{err}");
    assert!(!d.path().join("real/g").exists());
}

/// More directories than the cache holds, each with files: parents
/// evicted from the cache are found again, and every directory's mtime is
/// still set in the final pass.
#[test]
fn many_directories_beyond_the_cache() {
    let mut entries = Vec::new();
    let names: Vec<String> = (0..600).map(|i| format!("top/d{i}")).collect();
    let files: Vec<String> = (0..600).map(|i| format!("top/d{i}/f")).collect();
    entries.push(dir("top", 0o755, (0, 0), 1_400_000_000));
    for (i, n) in names.iter().enumerate() {
        entries.push(dir(n, 0o750, (0, 0), 1_400_000_000 + i as u64));
    }
    // Files listed after all their directories: parents long evicted.
    for (i, f) in files.iter().enumerate() {
        entries.push(file(f, 0o644, (0, 0), 1_300_000_000 + i as u64));
    }
    let tar = full_tar(&entries);
    let d = tempfile::tempdir().unwrap();
    unpack(&tar[..], d.path()).unwrap();
    for (i, (n, f)) in names.iter().zip(&files).enumerate() {
        let m = fs::metadata(d.path().join(n)).unwrap();
        assert_eq!(m.mtime() as u64, 1_400_000_000 + i as u64, "{n}");
        assert_eq!(m.mode() & 0o7777, 0o750);
        let f = fs::metadata(d.path().join(f)).unwrap();
        assert_eq!(f.mtime() as u64, 1_300_000_000 + i as u64);
    }
    let top = fs::metadata(d.path().join("top")).unwrap();
    assert_eq!(top.mtime(), 1_400_000_000);
}
