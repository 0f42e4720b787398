//! `wrun cp`: copying files between a container and the host, or a tar
//! stream, without ever following a symlink of the container out of it.
//!
//! The threat: an image (or the process in the container) can put
//! `/etc/x -> /../../../host/file` or `/hostroot -> /` inside the
//! container. A copy that resolved such a path from the host, as
//! `<rootfs>/etc/x`, would read or write the host's file (CVE-2018-15664
//! and CVE-2019-14271 are this bug in Docker's `cp`). So:
//!
//! * Every container path is resolved once, with `openat2(2)` and
//!   `RESOLVE_IN_ROOT` relative to a descriptor of the container's root
//!   ([`wrun_sys::fs::open_in_root`]): `..` and absolute symlinks stop at
//!   that root, as they would for a process inside the container.
//! * Below that point nothing is resolved by path again: a directory is
//!   walked by descriptors, every entry is opened with `O_NOFOLLOW`
//!   relative to its parent's descriptor, and every file written is
//!   created with `O_CREAT | O_EXCL | O_NOFOLLOW` relative to its parent
//!   directory's descriptor (an existing non-directory is unlinked first).
//!   A symlink inside the copied tree is copied as a symlink.
//!
//! The root of a running container is `/proc/<shim pid>/root` (its root
//! filesystem is mounted only in its own mount namespace); that of a
//! stopped one is its overlay, mounted by a short-lived child in a mount
//! namespace of its own, which hands the root's descriptor back and exits
//! (the mount then lives exactly as long as that descriptor, and is never
//! visible on the host).
//!
//! Docker's path rules (`docker cp --help`) are in [`plan`]: a trailing
//! `/.` on the source copies a directory's contents; a directory
//! destination receives the source under its own name; a missing
//! destination is created under the given name.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode as NixMode;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::launch::Runtime;
use crate::state::Status;

/// What can go wrong in a copy; each variant names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {path} in container {container}")]
    NotFoundInContainer { path: String, container: String },
    #[error("{path}: {reason}")]
    Path { path: String, reason: String },
    #[error("cannot copy a directory to a file: {0}")]
    DirectoryToFile(String),
    #[error("the destination directory must exist: {0}")]
    DestinationDirMissing(String),
    #[error("destination \"{0}\" must be a directory")]
    NotADirectory(String),
    #[error("invalid entry {entry:?} in the archive: {reason}")]
    Archive { entry: String, reason: String },
    #[error("reading the archive: {0}")]
    Stream(std::io::Error),
    #[error(transparent)]
    Runtime(#[from] crate::Error),
}

type Result<T, E = CopyError> = std::result::Result<T, E>;

fn path_err(path: &Path, e: impl std::fmt::Display) -> CopyError {
    CopyError::Path {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// One end of a copy: a host path, or a path in a container's root.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    Host(&'a Path),
    Container {
        /// A descriptor of the container's root directory.
        root: BorrowedFd<'a>,
        /// The path as the user wrote it (relative paths start at `/`).
        path: &'a Path,
        /// The container as the user named it, for messages.
        name: &'a str,
    },
}

impl Place<'_> {
    fn path(&self) -> &Path {
        match self {
            Place::Host(p) => p,
            Place::Container { path, .. } => path,
        }
    }

    /// Opens `path` on this side: normally on the host, inside the root
    /// (`RESOLVE_IN_ROOT`) in a container.
    fn open(&self, path: &Path, flags: OFlag) -> std::result::Result<OwnedFd, nix::errno::Errno> {
        match self {
            Place::Host(_) => {
                let path = if path.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    path
                };
                nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, NixMode::empty())
            }
            Place::Container { root, .. } => {
                let path = if path.as_os_str().is_empty() {
                    Path::new("/")
                } else {
                    path
                };
                wrun_sys::fs::open_in_root(*root, path, flags, NixMode::empty())
                    .map_err(|e| e.errno())
            }
        }
    }

    /// The error for `path` not being there, in Docker's words.
    fn not_found(&self, path: &Path, e: nix::errno::Errno) -> CopyError {
        match self {
            Place::Container { name, .. } if e == nix::errno::Errno::ENOENT => {
                CopyError::NotFoundInContainer {
                    path: path.display().to_string(),
                    container: name.to_string(),
                }
            }
            _ => path_err(path, wrun_sys::OsError(e)),
        }
    }
}

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `-L`: follow a symlink given as the source.
    pub follow_link: bool,
    /// `-a`: keep the owners (otherwise the copy belongs to the copier,
    /// root, as Docker makes it).
    pub archive: bool,
}

/// The kinds of file a destination can be, for [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    Missing,
    Directory,
    Other,
}

/// Where the source goes: the copy of the source's top entry is written
/// as `name` in the existing directory `dir`, or (`name == None`) the
/// source directory's contents are merged into `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dir: PathBuf,
    pub name: Option<OsString>,
}

/// Docker's rules for a source that is (or is not) a directory, copied
/// to `dest` of kind `kind`.
pub fn plan(src: &Path, src_is_dir: bool, dest: &Path, kind: DestKind) -> Result<Target> {
    let src_text = src.as_os_str().as_bytes();
    let contents_only = src_text.ends_with(b"/.") || src_text == b".";
    let dest_text = dest.as_os_str().as_bytes();
    let dest_slash = dest_text.ends_with(b"/") || dest_text.ends_with(b"/.");
    let src_name = src.file_name().map(OsStr::to_os_string);
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ if p.is_absolute() => PathBuf::from("/"),
        _ => PathBuf::new(),
    };
    match kind {
        DestKind::Directory => Ok(Target {
            dir: dest.to_path_buf(),
            name: if src_is_dir && (contents_only || src_name.is_none()) {
                None
            } else {
                Some(src_name.ok_or_else(|| path_err(src, "the source has no name"))?)
            },
        }),
        DestKind::Other if src_is_dir => {
            Err(CopyError::DirectoryToFile(dest.display().to_string()))
        }
        DestKind::Missing if dest_slash && !src_is_dir => {
            Err(CopyError::DestinationDirMissing(dest.display().to_string()))
        }
        DestKind::Other | DestKind::Missing => Ok(Target {
            dir: parent(dest),
            name: Some(
                dest.file_name()
                    .map(OsStr::to_os_string)
                    .ok_or_else(|| path_err(dest, "the destination has no name"))?,
            ),
        }),
    }
}

/// Copies `src` to `dest` (any two places; the CLI passes one container
/// and one host path). Returns the bytes of file content copied.
pub fn copy(src: Place<'_>, dest: Place<'_>, opts: Options) -> Result<u64> {
    let (fd, st) = open_source(&src, opts)?;
    let src_is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    let dest_path = dest.path();
    let kind = match dest.open(dest_path, OFlag::O_PATH) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| path_err(dest_path, e))?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                DestKind::Directory
            } else {
                DestKind::Other
            }
        }
        Err(nix::errno::Errno::ENOENT) => DestKind::Missing,
        Err(e) => return Err(path_err(dest_path, wrun_sys::OsError(e))),
    };
    let target = plan(src.path(), src_is_dir, dest_path, kind)?;
    let base = dest
        .open(&target.dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| dest.not_found(&target.dir, e))?;
    let mut sink = DirSink {
        base,
        archive: opts.archive,
        shown: target.dir.clone(),
    };
    let root = target.name.map(PathBuf::from).unwrap_or_default();
    send(fd, st, root, &mut sink)
}

/// Writes `src` as a tar stream to `out` (`docker cp CONTAINER:PATH -`).
pub fn archive(src: Place<'_>, opts: Options, out: impl Write) -> Result<u64> {
    let (fd, st) = open_source(&src, opts)?;
    let src_text = src.path().as_os_str().as_bytes();
    let contents_only = src_text.ends_with(b"/.");
    let root = match src.path().file_name() {
        Some(n) if !contents_only => PathBuf::from(n),
        _ => PathBuf::new(),
    };
    let mut sink = TarSink {
        builder: tar::Builder::new(out),
    };
    let n = send(fd, st, root, &mut sink)?;
    sink.builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(CopyError::Stream)?;
    Ok(n)
}

/// Extracts the tar stream `input` into the directory `dest`
/// (`docker cp - CONTAINER:PATH`).
pub fn extract(input: impl Read, dest: Place<'_>, opts: Options) -> Result<u64> {
    let dest_path = dest.path();
    let base = dest
        .open(dest_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| match e {
            nix::errno::Errno::ENOTDIR => CopyError::NotADirectory(dest_path.display().to_string()),
            e => dest.not_found(dest_path, e),
        })?;
    let mut sink = DirSink {
        base,
        archive: opts.archive,
        shown: dest_path.to_path_buf(),
    };
    let mut archive = tar::Archive::new(input);
    let mut dirs = Vec::new();
    let mut total = 0;
    for entry in archive.entries().map_err(CopyError::Stream)? {
        let mut entry = entry.map_err(CopyError::Stream)?;
        let raw = entry.path().map_err(CopyError::Stream)?.into_owned();
        let rel = confined(&raw)?;
        let h = entry.header();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            mtime_nsec: 0,
        };
        let kind = h.entry_type();
        match kind {
            tar::EntryType::Directory => {
                sink.dir(&rel, &meta)?;
                dirs.push((rel, meta));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                sink.file(&rel, &meta, &mut entry, size)?;
                total += size;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(CopyError::Stream)?
                    .ok_or_else(|| CopyError::Archive {
                        entry: raw.display().to_string(),
                        reason: "symlink without a target".into(),
                    })?;
                sink.symlink(&rel, &target, &meta)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(CopyError::Stream)?
                    .ok_or_else(|| CopyError::Archive {
                        entry: raw.display().to_string(),
                        reason: "hard link without a target".into(),
                    })?;
                sink.hard_link(&rel, &confined(&target)?)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                sink.special(&rel, &meta, ft, dev)?;
            }
            // Extended headers are applied by the tar crate; other types
            // (sockets do not exist in tar) are skipped.
            _ => {}
        }
    }
    for (rel, meta) in dirs.iter().rev() {
        sink.dir_done(rel, meta)?;
    }
    Ok(total)
}

/// An archive path as relative components only: `..`, absolute paths and
/// anything else that could leave the destination is refused.
fn confined(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(CopyError::Archive {
                    entry: path.display().to_string(),
                    reason: "the path leaves the destination directory".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Opens the source as an `O_PATH` descriptor (the symlink itself unless
/// `-L`) and stats it.
fn open_source(src: &Place<'_>, opts: Options) -> Result<(OwnedFd, Stat)> {
    let path = src.path();
    let mut flags = OFlag::O_PATH;
    if !opts.follow_link {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = src.open(path, flags).map_err(|e| src.not_found(path, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| path_err(path, e))?;
    Ok((fd, st))
}

/// Owner, mode and time of an entry.
#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: i64,
}

impl Meta {
    #[allow(
        clippy::unnecessary_cast,
        reason = "the stat fields' types differ between targets"
    )]
    fn of(st: &Stat) -> Self {
        Self {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as i64,
        }
    }

    fn times(&self) -> Timestamps {
        let t = Timespec {
            tv_sec: self.mtime,
            tv_nsec: self.mtime_nsec as _,
        };
        Timestamps {
            last_access: t,
            last_modification: t,
        }
    }
}

/// Where entries go: a directory (by descriptors) or a tar stream. `rel`
/// is relative to the destination; empty means the destination itself.
trait Sink {
    fn dir(&mut self, rel: &Path, meta: &Meta) -> Result<()>;
    /// After the directory's contents: its mode and time.
    fn dir_done(&mut self, rel: &Path, meta: &Meta) -> Result<()>;
    fn file(&mut self, rel: &Path, meta: &Meta, data: &mut dyn Read, size: u64) -> Result<()>;
    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> Result<()>;
    fn special(&mut self, rel: &Path, meta: &Meta, kind: FileType, dev: u64) -> Result<()>;
}

/// Sends the entry `fd` (an `O_PATH` descriptor, stat `st`) and, for a
/// directory, everything below it, to `sink` as `rel`.
fn send(fd: OwnedFd, st: Stat, rel: PathBuf, sink: &mut dyn Sink) -> Result<u64> {
    let meta = Meta::of(&st);
    let shown = |e: &dyn std::fmt::Display| path_err(&rel, e);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            sink.dir(&rel, &meta)?;
            let dir = rustix::fs::openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| shown(&e))?;
            let mut names: Vec<OsString> = Vec::new();
            for entry in rustix::fs::Dir::read_from(&dir).map_err(|e| shown(&e))? {
                let entry = entry.map_err(|e| shown(&e))?;
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
            names.sort();
            let mut total = 0;
            for name in names {
                let child = rustix::fs::openat(
                    &dir,
                    name.as_os_str(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                );
                let child = match child {
                    Ok(c) => c,
                    // Removed while we copied: as if it never was.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(path_err(&rel.join(&name), e)),
                };
                let cst = rustix::fs::fstat(&child).map_err(|e| path_err(&rel.join(&name), e))?;
                total += send(child, cst, rel.join(&name), sink)?;
            }
            sink.dir_done(&rel, &meta)?;
            Ok(total)
        }
        FileType::RegularFile => {
            // Reopen the O_PATH descriptor for reading: the same file, no
            // path resolved again.
            let mut file = fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                .map_err(|e| shown(&e))?;
            let size = st.st_size as u64;
            sink.file(&rel, &meta, &mut file, size)?;
            Ok(size)
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(|e| shown(&e))?;
            let target = PathBuf::from(OsStr::from_bytes(target.to_bytes()));
            sink.symlink(&rel, &target, &meta)?;
            Ok(0)
        }
        kind @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
            sink.special(&rel, &meta, kind, st.st_rdev)?;
            Ok(0)
        }
        // Sockets cannot be copied; Docker skips them too.
        _ => Ok(0),
    }
}

/// Writes entries below a directory descriptor, never following a symlink.
struct DirSink {
    base: OwnedFd,
    archive: bool,
    /// The destination as the user named it, for messages.
    shown: PathBuf,
}

impl DirSink {
    fn err(&self, rel: &Path, e: impl std::fmt::Display) -> CopyError {
        path_err(&self.shown.join(rel), e)
    }

    /// The parent directory of `rel` (walked component by component with
    /// `O_NOFOLLOW`) and `rel`'s last component.
    fn parent<'r>(&self, rel: &'r Path) -> Result<(OwnedFd, &'r OsStr)> {
        let name = rel
            .file_name()
            .ok_or_else(|| self.err(rel, "no file name"))?;
        let mut dir = self
            .base
            .try_clone()
            .map_err(|e| self.err(Path::new(""), e))?;
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                let Component::Normal(c) = c else {
                    return Err(self.err(rel, "not a plain relative path"));
                };
                dir = rustix::fs::openat(
                    &dir,
                    c,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(rel, format!("{c:?} is not a directory here: {e}")))?;
            }
        }
        Ok((dir, name))
    }

    /// Unlinks whatever non-directory is at `name`, so that the new entry
    /// can be created with `O_EXCL`.
    fn clear(&self, parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<()> {
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                Err(self.err(rel, "cannot overwrite a directory with a non-directory"))
            }
            Ok(_) => {
                rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| self.err(rel, e))
            }
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    fn owner(&self, meta: &Meta) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
        if self.archive {
            (
                Some(rustix::fs::Uid::from_raw(meta.uid)),
                Some(rustix::fs::Gid::from_raw(meta.gid)),
            )
        } else {
            (None, None)
        }
    }

    /// Owner (with `-a`), mode and time of an open entry.
    fn attrs(&self, fd: BorrowedFd<'_>, meta: &Meta, rel: &Path) -> Result<()> {
        let (uid, gid) = self.owner(meta);
        if uid.is_some() {
            rustix::fs::fchown(fd, uid, gid).map_err(|e| self.err(rel, e))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(|e| self.err(rel, e))?;
        rustix::fs::futimens(fd, &meta.times()).map_err(|e| self.err(rel, e))
    }

    fn hard_link(&mut self, rel: &Path, target: &Path) -> Result<()> {
        let (tparent, tname) = self.parent(target)?;
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, name, rel)?;
        // linkat without AT_SYMLINK_FOLLOW links the entry itself.
        rustix::fs::linkat(&tparent, tname, &parent, name, AtFlags::empty())
            .map_err(|e| self.err(rel, e))
    }
}

impl Sink for DirSink {
    fn dir(&mut self, rel: &Path, _meta: &Meta) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let (parent, name) = self.parent(rel)?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.err(rel, e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    rustix::fs::unlinkat(&parent, name, AtFlags::empty())
                        .map_err(|e| self.err(rel, e))?;
                    rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| self.err(rel, e))?;
                }
                Ok(())
            }
            Err(e) => Err(self.err(rel, e)),
        }
    }

    fn dir_done(&mut self, rel: &Path, meta: &Meta) -> Result<()> {
        if rel.as_os_str().is_empty() {
            // Merging into an existing directory leaves it as it was.
            return Ok(());
        }
        let (parent, name) = self.parent(rel)?;
        let fd = rustix::fs::openat(
            &parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(rel, e))?;
        self.attrs(fd.as_fd(), meta, rel)
    }

    fn file(&mut self, rel: &Path, meta: &Meta, data: &mut dyn Read, size: u64) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, name, rel)?;
        let fd = rustix::fs::openat(
            &parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.err(rel, e))?;
        let mut file = fs::File::from(fd);
        let copied =
            std::io::copy(&mut data.take(size), &mut file).map_err(|e| self.err(rel, e))?;
        if copied != size {
            return Err(self.err(rel, format!("short read: {copied} of {size} bytes")));
        }
        self.attrs(file.as_fd(), meta, rel)
    }

    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, name, rel)?;
        rustix::fs::symlinkat(target, &parent, name).map_err(|e| self.err(rel, e))?;
        let (uid, gid) = self.owner(meta);
        if uid.is_some() {
            rustix::fs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| self.err(rel, e))?;
        }
        rustix::fs::utimensat(&parent, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(rel, e))
    }

    fn special(&mut self, rel: &Path, meta: &Meta, kind: FileType, dev: u64) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, name, rel)?;
        rustix::fs::mknodat(&parent, name, kind, Mode::from_raw_mode(meta.mode), dev)
            .map_err(|e| self.err(rel, e))?;
        // Attributes through an O_PATH|O_NOFOLLOW descriptor of the new
        // node (its /proc/self/fd link resolves to the node itself).
        let fd = rustix::fs::openat(
            &parent,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(rel, e))?;
        let (uid, gid) = self.owner(meta);
        let at = AtFlags::EMPTY_PATH;
        if uid.is_some() {
            rustix::fs::chownat(&fd, "", uid, gid, at).map_err(|e| self.err(rel, e))?;
        }
        rustix::fs::utimensat(&fd, "", &meta.times(), at).map_err(|e| self.err(rel, e))?;
        Ok(())
    }
}

/// Writes entries as a tar stream.
struct TarSink<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    fn header(meta: &Meta, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode);
        h.set_uid(u64::from(meta.uid));
        h.set_gid(u64::from(meta.gid));
        h.set_mtime(meta.mtime.max(0) as u64);
        h.set_size(0);
        h
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, rel: &Path, meta: &Meta) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let mut h = Self::header(meta, tar::EntryType::Directory);
        self.builder
            .append_data(&mut h, rel, std::io::empty())
            .map_err(|e| path_err(rel, e))
    }

    fn dir_done(&mut self, _rel: &Path, _meta: &Meta) -> Result<()> {
        Ok(())
    }

    fn file(&mut self, rel: &Path, meta: &Meta, data: &mut dyn Read, size: u64) -> Result<()> {
        let mut h = Self::header(meta, tar::EntryType::Regular);
        h.set_size(size);
        self.builder
            .append_data(&mut h, rel, data.take(size))
            .map_err(|e| path_err(rel, e))
    }

    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> Result<()> {
        let mut h = Self::header(meta, tar::EntryType::Symlink);
        self.builder
            .append_link(&mut h, rel, target)
            .map_err(|e| path_err(rel, e))
    }

    fn special(&mut self, rel: &Path, meta: &Meta, kind: FileType, dev: u64) -> Result<()> {
        let t = match kind {
            FileType::CharacterDevice => tar::EntryType::Char,
            FileType::BlockDevice => tar::EntryType::Block,
            _ => tar::EntryType::Fifo,
        };
        let mut h = Self::header(meta, t);
        h.set_device_major(rustix::fs::major(dev))
            .and_then(|()| h.set_device_minor(rustix::fs::minor(dev)))
            .map_err(|e| path_err(rel, e))?;
        self.builder
            .append_data(&mut h, rel, std::io::empty())
            .map_err(|e| path_err(rel, e))
    }
}

impl Runtime {
    /// A descriptor of the root directory of container `key`, which must
    /// stay open for as long as the copy runs.
    ///
    /// Running: `/proc/<shim pid>/root`, checked to still be the shim's
    /// after opening (pids are reused). Stopped: its overlay, mounted in a
    /// private mount namespace by a child process (see the module doc);
    /// the caller must be single-threaded.
    pub fn open_root(&self, key: &str) -> Result<OwnedFd> {
        let state = self.get(key)?;
        if state.status == Status::Running
            && let Some(pid) = state.pid
        {
            let path = format!("/proc/{pid}/root");
            let fd = nix::fcntl::open(
                path.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                NixMode::empty(),
            );
            if let Ok(fd) = fd
                && crate::process::is_alive(state.pid, state.pid_start)
            {
                return Ok(fd);
            }
            // It exited meanwhile: fall through to its overlay.
        }
        self.mount_stopped_root(&state.id)
    }

    fn mount_stopped_root(&self, id: &str) -> Result<OwnedFd> {
        let dir = self.containers().dir(id);
        let config = dir.join("config.json");
        let spec: serde_json::Value =
            serde_json::from_slice(&fs::read(&config).map_err(|e| crate::Error::io(&config)(e))?)
                .map_err(|e| path_err(&config, e))?;
        let overlay = spec["mounts"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .find(|m| m["destination"] == "/" && m["type"] == "overlay")
            })
            .ok_or_else(|| path_err(&config, "no overlay mount on / in the container's spec"))?;
        let data = overlay["options"]
            .as_array()
            .map(|o| {
                o.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let mountpoint = match spec["root"]["path"].as_str() {
            Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
            Some(p) => dir.join(p),
            None => dir.join("rootfs"),
        };
        let (ours, theirs) = UnixStream::pair().map_err(|e| path_err(&mountpoint, e))?;
        match wrun_sys::process::fork_single_threaded().map_err(|e| path_err(&mountpoint, e))? {
            wrun_sys::process::Forked::Child => {
                drop(ours);
                let code = match mount_private(&mountpoint, &data) {
                    Ok(fd) => match wrun_sys::fd::send_fd(&theirs, fd.as_fd(), b"ok") {
                        Ok(()) => 0,
                        Err(_) => 1,
                    },
                    Err(msg) => {
                        let _ = (&theirs).write_all(msg.as_bytes());
                        1
                    }
                };
                wrun_sys::process::exit_now(code);
            }
            wrun_sys::process::Forked::Parent(child) => {
                drop(theirs);
                let mut buf = [0u8; 4096];
                let got = wrun_sys::fd::recv_fd(&ours, &mut buf);
                let _ = nix::sys::wait::waitpid(child, None);
                match got {
                    Ok((_, Some(fd))) => Ok(fd),
                    Ok((n, None)) => Err(path_err(
                        &mountpoint,
                        format!(
                            "mounting the stopped container's filesystem: {}",
                            String::from_utf8_lossy(&buf[..n])
                        ),
                    )),
                    Err(e) => Err(path_err(&mountpoint, e)),
                }
            }
        }
    }
}

/// In the forked child: a private mount namespace, the overlay on
/// `mountpoint`, and an `O_PATH` descriptor of it.
fn mount_private(mountpoint: &Path, data: &str) -> std::result::Result<OwnedFd, String> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making / private: {e}"))?;
    // Long layer lists are made relative to their common directory (as the
    // shim does), since mount data is limited to a page.
    let data = match relative_overlay_data(data) {
        Some((dir, short)) => {
            nix::unistd::chdir(&dir).map_err(|e| format!("chdir {}: {e}", dir.display()))?;
            short
        }
        None => data.to_string(),
    };
    mount(
        Some("overlay"),
        mountpoint,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| format!("mount overlay on {}: {e}", mountpoint.display()))?;
    nix::fcntl::open(
        mountpoint,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        NixMode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", mountpoint.display()))
}

/// Overlay options longer than a page, with every layer path made
/// relative to the directory they share (overlayfs resolves relative
/// layer paths against the cwd at mount time).
fn relative_overlay_data(data: &str) -> Option<(PathBuf, String)> {
    const PAGE: usize = 4096;
    if data.len() < PAGE {
        return None;
    }
    let mut paths: Vec<&str> = Vec::new();
    for opt in data.split(',') {
        if let Some((k, v)) = opt.split_once('=')
            && matches!(k, "lowerdir" | "upperdir" | "workdir")
        {
            paths.extend(v.split(':'));
        }
    }
    let first = Path::new(paths.first()?);
    let mut common: PathBuf = first.parent()?.to_path_buf();
    while !paths.iter().all(|p| Path::new(p).starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    if common == Path::new("/") {
        return None;
    }
    let rel = |p: &str| {
        Path::new(p)
            .strip_prefix(&common)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.to_string())
    };
    let short = data
        .split(',')
        .map(|opt| match opt.split_once('=') {
            Some((k, v)) if matches!(k, "lowerdir" | "upperdir" | "workdir") => {
                format!(
                    "{k}={}",
                    v.split(':').map(rel).collect::<Vec<_>>().join(":")
                )
            }
            _ => opt.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    Some((common, short))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dir: &str, name: Option<&str>) -> Target {
        Target {
            dir: PathBuf::from(dir),
            name: name.map(OsString::from),
        }
    }

    #[test]
    fn dockers_rules_for_a_file() {
        let p = Path::new;
        // Into an existing directory, under its own name.
        assert_eq!(
            plan(p("/etc/hosts"), false, p("out"), DestKind::Directory).unwrap(),
            t("out", Some("hosts"))
        );
        // Over an existing file, or as a new file.
        assert_eq!(
            plan(p("/etc/hosts"), false, p("/tmp/x"), DestKind::Other).unwrap(),
            t("/tmp", Some("x"))
        );
        assert_eq!(
            plan(p("/etc/hosts"), false, p("x"), DestKind::Missing).unwrap(),
            t("", Some("x"))
        );
        // A missing directory (trailing slash) is an error.
        assert!(matches!(
            plan(p("/etc/hosts"), false, p("/tmp/nope/"), DestKind::Missing),
            Err(CopyError::DestinationDirMissing(_))
        ));
    }

    #[test]
    fn dockers_rules_for_a_directory() {
        let p = Path::new;
        assert_eq!(
            plan(p("/etc"), true, p("/tmp/out"), DestKind::Directory).unwrap(),
            t("/tmp/out", Some("etc"))
        );
        // `/.` copies the contents.
        assert_eq!(
            plan(p("/etc/."), true, p("/tmp/out"), DestKind::Directory).unwrap(),
            t("/tmp/out", None)
        );
        // A missing destination is created with the source's contents.
        assert_eq!(
            plan(p("/etc"), true, p("/tmp/new"), DestKind::Missing).unwrap(),
            t("/tmp", Some("new"))
        );
        assert_eq!(
            plan(p("/etc/"), true, p("/tmp/new/"), DestKind::Missing).unwrap(),
            t("/tmp", Some("new"))
        );
        assert!(matches!(
            plan(p("/etc"), true, p("/tmp/file"), DestKind::Other),
            Err(CopyError::DirectoryToFile(_))
        ));
        // The root itself, into a directory: its contents.
        assert_eq!(
            plan(p("/"), true, p("/tmp/out"), DestKind::Directory).unwrap(),
            t("/tmp/out", None)
        );
    }

    #[test]
    fn archive_paths_stay_inside() {
        assert_eq!(confined(Path::new("./a/b")).unwrap(), PathBuf::from("a/b"));
        assert_eq!(confined(Path::new("./")).unwrap(), PathBuf::new());
        for bad in ["../x", "a/../../x", "/etc/passwd"] {
            assert!(
                matches!(confined(Path::new(bad)), Err(CopyError::Archive { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn long_overlay_options_become_relative() {
        let lowers: Vec<String> = (0..80)
            .map(|i| format!("/var/lib/wrun/images/layers/{i:064}"))
            .collect();
        let data = format!(
            "lowerdir={},upperdir=/var/lib/wrun/containers/c/upper,workdir=/var/lib/wrun/containers/c/work",
            lowers.join(":")
        );
        let (dir, short) = relative_overlay_data(&data).unwrap();
        assert_eq!(dir, PathBuf::from("/var/lib/wrun"));
        assert!(short.starts_with("lowerdir=images/layers/"), "{short}");
        assert!(short.ends_with("upperdir=containers/c/upper,workdir=containers/c/work"));
        assert_eq!(relative_overlay_data("lowerdir=/a/x:/b/y"), None);
    }

    /// A tar stream that plants a symlink and then writes through it must
    /// not reach the link's target.
    #[test]
    fn archive_entries_cannot_write_through_their_own_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(root.join("dest")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "a", &outside).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, "a/planted", &b"evil"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let rootfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, NixMode::empty()).unwrap();
        let dest = Place::Container {
            root: rootfd.as_fd(),
            path: Path::new("/dest"),
            name: "c",
        };
        let e = extract(&bytes[..], dest, Options::default()).unwrap_err();
        assert!(e.to_string().contains("is not a directory here"), "{e}");
        assert!(!outside.join("planted").exists());
        // The link itself was extracted, as a link.
        assert!(
            fs::symlink_metadata(root.join("dest/a"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    /// Symlinks in the source tree are copied as symlinks and never
    /// followed, and a destination path inside a "container" root is
    /// resolved inside it. Runs without root.
    #[test]
    fn copies_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let host = tmp.path().join("host");
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::create_dir_all(&host).unwrap();
        fs::write(tmp.path().join("secret"), b"host secret").unwrap();
        fs::write(root.join("data/sub/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/../../../secret", root.join("data/escape")).unwrap();
        std::os::unix::fs::symlink("/", root.join("hostroot")).unwrap();
        fs::set_permissions(
            root.join("data/sub/f"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        let rootfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, NixMode::empty()).unwrap();
        let c = |p: &'static str| Place::Container {
            root: rootfd.as_fd(),
            path: Path::new(p),
            name: "c",
        };
        // Out: a directory with a symlink inside.
        let out = host.join("out");
        copy(c("/data"), Place::Host(&out), Options::default()).unwrap();
        assert_eq!(fs::read(out.join("sub/f")).unwrap(), b"hello");
        let mode = fs::metadata(out.join("sub/f")).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o640
        );
        assert_eq!(
            fs::read_link(out.join("escape")).unwrap(),
            PathBuf::from("/../../../secret")
        );
        // -L on the escaping link resolves inside the root: nothing there.
        let e = copy(
            c("/data/escape"),
            Place::Host(&host.join("followed")),
            Options {
                follow_link: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, CopyError::NotFoundInContainer { .. }), "{e}");
        // In: through /hostroot, which is the container's own /.
        let src = host.join("in.txt");
        fs::write(&src, b"into the container").unwrap();
        copy(Place::Host(&src), c("/hostroot/x"), Options::default()).unwrap();
        assert_eq!(fs::read(root.join("x")).unwrap(), b"into the container");
        // And a tar round trip.
        let mut tar = Vec::new();
        archive(c("/data"), Options::default(), &mut tar).unwrap();
        fs::create_dir(root.join("restored")).unwrap();
        extract(&tar[..], c("/restored"), Options::default()).unwrap();
        assert_eq!(
            fs::read(root.join("restored/data/sub/f")).unwrap(),
            b"hello"
        );
        assert_eq!(fs::read(tmp.path().join("secret")).unwrap(), b"host secret");
    }
}
