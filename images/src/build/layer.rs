//! Layer tars a build makes: the files a COPY/ADD puts in place, and the
//! overlay upper dir a RUN leaves behind (deletions become `.wh.NAME`
//! whiteouts, opaque dirs `.wh..wh..opq`, as the OCI layer format says).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};

/// One entry of a COPY layer.
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Path in the image, relative to `/`, no trailing slash.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    Dir,
    /// A host file whose content is copied.
    File(std::path::PathBuf),
    /// Literal content (heredocs).
    Bytes(Vec<u8>),
    Symlink(String),
}

fn header(kind: EntryType, e: &LayerEntry, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(e.mode & 0o7777);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mtime(e.mtime);
    h.set_size(size);
    h
}

/// Writes `entries` as a tar into an anonymous file in `tmp_dir`, rewound.
pub fn write_entries(tmp_dir: &Path, entries: &[LayerEntry]) -> io::Result<fs::File> {
    let file = tempfile::tempfile_in(tmp_dir)?;
    let mut b = tar::Builder::new(io::BufWriter::new(file));
    for e in entries {
        match &e.kind {
            EntryKind::Dir => {
                let mut h = header(EntryType::Directory, e, 0);
                b.append_data(&mut h, format!("{}/", e.path), io::empty())?;
            }
            EntryKind::File(src) => {
                let f = fs::File::open(src)?;
                let len = f.metadata()?.len();
                let mut h = header(EntryType::Regular, e, len);
                b.append_data(&mut h, &e.path, io::Read::take(f, len))?;
            }
            EntryKind::Bytes(data) => {
                let mut h = header(EntryType::Regular, e, data.len() as u64);
                b.append_data(&mut h, &e.path, data.as_slice())?;
            }
            EntryKind::Symlink(target) => {
                let mut h = header(EntryType::Symlink, e, 0);
                b.append_link(&mut h, &e.path, target)?;
            }
        }
    }
    finish(b)
}

fn finish(b: tar::Builder<io::BufWriter<fs::File>>) -> io::Result<fs::File> {
    let w = b.into_inner()?;
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.flush()?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// Paths the runtime creates in a container's upper dir as mount points
/// for its own files; they are not the step's work (Docker's "init
/// layer" keeps them out of commits the same way).
const MOUNT_POINT_FILES: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// Tars an overlay upper dir: the changes one RUN made.
pub fn write_upper(tmp_dir: &Path, upper: &Path) -> io::Result<fs::File> {
    let file = tempfile::tempfile_in(tmp_dir)?;
    let mut b = tar::Builder::new(io::BufWriter::new(file));
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let mut names: Vec<String> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let host = upper.join(&path);
            let m = fs::symlink_metadata(&host)?;
            let ft = m.file_type();
            let entry = LayerEntry {
                path: path.clone(),
                kind: EntryKind::Dir,
                mode: m.mode(),
                uid: m.uid() as u64,
                gid: m.gid() as u64,
                mtime: m.mtime().max(0) as u64,
            };
            if ft.is_char_device() && m.rdev() == 0 {
                let wh = if rel.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{rel}/.wh.{name}")
                };
                let mut h = header(EntryType::Regular, &entry, 0);
                h.set_mode(0);
                b.append_data(&mut h, wh, io::empty())?;
            } else if ft.is_dir() {
                let mut h = header(EntryType::Directory, &entry, 0);
                b.append_data(&mut h, format!("{path}/"), io::empty())?;
                let opaque = rustix::fs::lgetxattr(&host, "trusted.overlay.opaque", &mut [0u8; 4])
                    .map(|n| n == 1)
                    .unwrap_or(false);
                if opaque {
                    let mut h = header(EntryType::Regular, &entry, 0);
                    h.set_mode(0);
                    b.append_data(&mut h, format!("{path}/.wh..wh..opq"), io::empty())?;
                }
                subdirs.push(path);
            } else if ft.is_symlink() {
                let target = fs::read_link(&host)?;
                let mut h = header(EntryType::Symlink, &entry, 0);
                b.append_link(&mut h, &path, target)?;
            } else if ft.is_file() {
                if m.len() == 0 && MOUNT_POINT_FILES.contains(&path.as_str()) {
                    continue;
                }
                if m.nlink() > 1 {
                    if let Some(first) = links.get(&(m.dev(), m.ino())) {
                        let mut h = header(EntryType::Link, &entry, 0);
                        b.append_link(&mut h, &path, first)?;
                        continue;
                    }
                    links.insert((m.dev(), m.ino()), path.clone());
                }
                let f = fs::File::open(&host)?;
                let mut h = header(EntryType::Regular, &entry, m.len());
                b.append_data(&mut h, &path, io::Read::take(f, m.len()))?;
            } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                let kind = if ft.is_fifo() {
                    EntryType::Fifo
                } else if ft.is_char_device() {
                    EntryType::Char
                } else {
                    EntryType::Block
                };
                let mut h = header(kind, &entry, 0);
                let rdev = m.rdev();
                h.set_device_major(rustix::fs::major(rdev))?;
                h.set_device_minor(rustix::fs::minor(rdev))?;
                b.append_data(&mut h, &path, io::empty())?;
            }
            // Sockets have no tar form; Docker drops them too.
        }
        subdirs.reverse();
        stack.extend(subdirs);
    }
    finish(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn names(mut f: fs::File) -> Vec<String> {
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        tar::Archive::new(buf.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn upper_dir_whiteouts_and_mount_points() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("upper");
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::write(up.join("etc/hosts"), "").unwrap();
        fs::write(up.join("etc/app.conf"), "x").unwrap();
        nix::sys::stat::mknod(
            &up.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .ok();
        let got = names(write_upper(tmp.path(), &up).unwrap());
        assert!(got.contains(&"etc/app.conf".to_owned()), "{got:?}");
        assert!(!got.contains(&"etc/hosts".to_owned()), "{got:?}");
        if nix::unistd::geteuid().is_root() {
            assert!(got.contains(&"etc/.wh.gone".to_owned()), "{got:?}");
        }
    }

    #[test]
    fn entries_keep_modes_and_owners() {
        let tmp = tempfile::tempdir().unwrap();
        let e = |path: &str, kind| LayerEntry {
            path: path.into(),
            kind,
            mode: 0o750,
            uid: 1000,
            gid: 1001,
            mtime: 1,
        };
        let f = write_entries(
            tmp.path(),
            &[
                e("app", EntryKind::Dir),
                e("app/x", EntryKind::Bytes(b"hi".to_vec())),
                e("app/l", EntryKind::Symlink("x".into())),
            ],
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut f = f;
        f.read_to_end(&mut buf).unwrap();
        let mut a = tar::Archive::new(buf.as_slice());
        for en in a.entries().unwrap() {
            let en = en.unwrap();
            assert_eq!(en.header().uid().unwrap(), 1000);
            assert_eq!(en.header().mode().unwrap(), 0o750);
        }
    }
}
