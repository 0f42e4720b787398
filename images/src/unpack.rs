//! Applying a layer tar to a directory, safely.
//!
//! A layer comes from whoever built the image, so its tar is hostile input:
//! `../` paths, absolute paths, a symlink to `/` followed by a file "inside"
//! it, hard links to `/etc/shadow` (CVE-2018-15664, CVE-2019-14271 and the
//! long "tar slip" family). The rule here is structural rather than a list
//! of checks:
//!
//! * every entry path is cleaned first: absolute paths become relative to the
//!   layer root (as Docker does), any `..` component is refused;
//! * the entry's *parent* directory is opened with `cap-std`, whose lookups
//!   use `openat2(RESOLVE_BENEATH)` (with a careful fallback): symlinks are
//!   followed only while they stay inside the layer, so a symlink to `/` or
//!   to `../..`, or a loop, makes the entry fail with an error naming it;
//! * the *last* component is then created with `*at` calls relative to that
//!   parent fd, never following a symlink (`O_NOFOLLOW`, `O_EXCL`,
//!   `AT_SYMLINK_NOFOLLOW`, `linkat` without `AT_SYMLINK_FOLLOW`); whatever
//!   stood at that name before is removed first, as tar does;
//! * hard link sources are resolved the same way, beneath the layer root.
//!
//! The result is used as a read-only overlayfs lower dir, so whiteouts are
//! converted to overlayfs's format (see `Documentation/filesystems/overlayfs.rst`):
//! `.wh.NAME` becomes a 0:0 character device `NAME`, and `.wh..wh..opq`
//! sets `trusted.overlay.opaque=y` on its directory. Device nodes from the
//! tar are not created (a container's `/dev` is a fresh tmpfs; a block
//! device in an image is only ever an attack); they are reported as skipped.
//! `trusted.overlay.*` xattrs from the tar are dropped for the same reason:
//! only this module may tell overlayfs what a lower dir means.
//!
//! Ownership, modes (setuid included), mtimes and other xattrs are kept: wrun
//! unpacks as root.
//!
//! ## Cost per entry
//!
//! Unpacking an image is thousands of file creations, so the system calls
//! per entry are kept few (python:3.11-slim: 8,621 entries):
//!
//! * directories opened for the entries are kept open, keyed by their
//!   cleaned path ([`DirCache`]), so a file's parent is found without a
//!   lookup from the root. A path's fd stays right as long as nothing on
//!   the way to it is removed or replaced, so the whole cache is dropped
//!   whenever an entry removes anything;
//! * a file is created with `O_CREAT | O_EXCL` straight away and only an
//!   `EEXIST` makes it look at (and remove) what stood there — in a fresh
//!   layer dir nothing does;
//! * it is created with its permission bits, and after one `fstat` only
//!   what differs is changed: `fchown` when the owner is not the creator's
//!   (root-owned files, most of an image, need none), `fchmod` when the mode
//!   is not what the umask, a set-group-ID parent or a chown left;
//! * directory mtimes, which every child creation bumps, are set in one pass
//!   at the end that walks the sorted paths with a stack of open fds.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps, XattrFlags, chownat, fchmod,
    fchown, fsetxattr, fstat, futimens, linkat, mkdirat, mknodat, openat, statat, symlinkat,
    unlinkat, utimensat,
};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::{Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an unpack did, for the caller to report or ignore.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries applied (whiteouts included).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Paths of device nodes that were not created.
    pub skipped_devices: Vec<String>,
}

/// Unpacks the (uncompressed) tar stream `reader` into the existing directory
/// `dest`. Errors name the offending entry; on error `dest` holds a partial
/// result that the caller throws away.
pub fn unpack<R: Read>(reader: R, dest: &Path) -> Result<UnpackStats> {
    let root = Dir::open_ambient_dir(dest, ambient_authority()).map_err(|e| Error::io(dest, e))?;
    let root_fd = Rc::new(real_fd(&root).map_err(|e| Error::io(dest, e.into()))?);
    let mut u = Unpacker {
        root,
        root_fd,
        dirs: DirCache::default(),
        dir_times: Vec::new(),
        stats: UnpackStats::default(),
    };
    let mut archive = tar::Archive::new(reader);
    let mut buf = vec![0u8; 256 * 1024];
    let entries = archive
        .entries()
        .map_err(|source| Error::Corrupt { cause: source })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| Error::Corrupt { cause: source })?;
        u.apply(&mut entry, &mut buf)?;
    }
    u.set_dir_times();
    Ok(u.stats)
}

/// Directories opened during one unpack, by cleaned path relative to the
/// layer root. An fd stays valid for its path while nothing on the path is
/// removed or replaced; the unpacker clears the cache whenever it removes
/// anything, so a hit always names what a fresh lookup from the root would
/// find. Bounded: at [`DirCache::MAX`] entries only the ancestors of the
/// directory being added are kept (tars list a directory's children
/// together, so those are the ones still wanted).
#[derive(Default)]
struct DirCache {
    map: HashMap<PathBuf, Rc<OwnedFd>>,
}

impl DirCache {
    const MAX: usize = 256;

    fn get(&self, rel: &Path) -> Option<Rc<OwnedFd>> {
        self.map.get(rel).cloned()
    }

    fn insert(&mut self, rel: PathBuf, fd: Rc<OwnedFd>) {
        if self.map.len() >= Self::MAX {
            self.map.retain(|p, _| rel.starts_with(p));
        }
        self.map.insert(rel, fd);
    }

    fn clear(&mut self) {
        self.map.clear();
    }
}

struct Unpacker {
    root: Dir,
    /// A real (not `O_PATH`) fd of the layer root.
    root_fd: Rc<OwnedFd>,
    dirs: DirCache,
    dir_times: Vec<(PathBuf, u64)>,
    stats: UnpackStats,
}

/// Metadata of one entry, read from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Meta {
    /// Permission bits to create with: the set-ID and sticky bits only
    /// after the owner is right, since a chown clears them.
    fn create_mode(&self) -> Mode {
        Mode::from_raw_mode(self.mode & 0o777)
    }
}

fn times(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Cleans a tar path: leading `/` and `.` components are dropped (absolute
/// paths land inside the root, as with Docker); `..` is refused.
pub(crate) fn clean_path(raw: &Path) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("path contains a \"..\" component".into()),
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

fn split(path: &Path) -> (PathBuf, OsString) {
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_default();
    (parent, name)
}

impl Unpacker {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, buf: &mut [u8]) -> Result<()> {
        let raw = OsStr::from_bytes(&entry.path_bytes()).to_os_string();
        let shown = raw.to_string_lossy().into_owned();
        let fail = |reason: String| Error::UnsafeEntry {
            entry: shown.clone(),
            reason,
        };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName
        ) {
            return Ok(());
        }
        let path = clean_path(Path::new(&raw)).map_err(&fail)?;
        let meta = read_meta(entry).map_err(|e| fail(format!("bad header: {e}")))?;
        self.stats.entries += 1;
        let (parent, name) = split(&path);
        let name_str = name.to_string_lossy();

        // Whiteouts first: they are named by their file name, whatever the type.
        if name_str == OPAQUE_MARKER {
            let dir = self
                .parent(&parent, true)
                .map_err(|e| fail(e.to_string()))?;
            return real_fd(&dir)
                .and_then(|fd| fsetxattr(fd, OPAQUE_XATTR, b"y", XattrFlags::empty()))
                .map_err(|e| fail(format!("set {OPAQUE_XATTR}: {e}")));
        }
        if let Some(target) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            if target.starts_with(".wh.") {
                // aufs bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): meaningless here.
                return Ok(());
            }
            if target.is_empty() || target == "." || target == ".." {
                return Err(fail(format!("invalid whiteout of \"{target}\"")));
            }
            let target = OsStr::from_bytes(&name.as_bytes()[WHITEOUT_PREFIX.len()..]);
            let dir = self
                .parent(&parent, true)
                .map_err(|e| fail(e.to_string()))?;
            self.remove_existing(&dir, target)
                .map_err(|e| fail(e.to_string()))?;
            return mknodat(
                &dir,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .and_then(|()| {
                chownat(
                    &dir,
                    target,
                    Some(uid(0)),
                    Some(gid(0)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
            })
            .map_err(|e| fail(format!("create whiteout: {e}")));
        }

        if path.as_os_str().is_empty() {
            // `./` itself: the layer root's metadata.
            if kind == tar::EntryType::Directory {
                let fd = Rc::clone(&self.root_fd);
                set_meta_fd(&*fd, &meta, false).map_err(|e| fail(e.to_string()))?;
                self.dir_times.push((PathBuf::new(), meta.mtime));
                return Ok(());
            }
            return Err(fail("a non-directory entry for the root".into()));
        }

        match kind {
            tar::EntryType::Directory => {
                let dir = self
                    .parent(&parent, true)
                    .map_err(|e| fail(e.to_string()))?;
                match mkdirat(&dir, &name, meta.create_mode()) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let is_dir =
                            statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                                FileType::from_raw_mode(st.st_mode) == FileType::Directory
                            });
                        if !is_dir {
                            self.remove_existing(&dir, &name)
                                .map_err(|e| fail(e.to_string()))?;
                            mkdirat(&dir, &name, meta.create_mode())
                                .map_err(|e| fail(format!("mkdir: {e}")))?;
                        }
                    }
                    Err(e) => return Err(fail(format!("mkdir: {e}"))),
                }
                let fd = openat(
                    &dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| fail(format!("open dir: {e}")))?;
                set_meta_fd(&fd, &meta, false).map_err(|e| fail(e.to_string()))?;
                self.dirs.insert(path.clone(), Rc::new(fd));
                self.dir_times.push((path, meta.mtime));
                Ok(())
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let dir = self
                    .parent(&parent, true)
                    .map_err(|e| fail(e.to_string()))?;
                let create = |mode: Mode| {
                    openat(
                        &*dir,
                        &name,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        mode,
                    )
                };
                let fd = self
                    .make_replacing(&dir, &name, || create(meta.create_mode()))
                    .map_err(|e| fail(e.to_string()))?
                    .map_err(|e| fail(format!("create: {e}")))?;
                let mut file = File::from(fd);
                let n = copy(entry, &mut file, buf).map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
                        Error::Corrupt { cause: e }
                    }
                    _ => fail(format!("write: {e}")),
                })?;
                if kind == tar::EntryType::Regular && n != entry.size() {
                    return Err(Error::Corrupt {
                        cause: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "entry \"{shown}\" is truncated ({n} of {} bytes)",
                                entry.size()
                            ),
                        ),
                    });
                }
                self.stats.bytes += n;
                set_meta_fd(&file, &meta, true).map_err(|e| fail(e.to_string()))
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| OsStr::from_bytes(&b).to_os_string())
                    .ok_or_else(|| fail("symlink without target".into()))?;
                let dir = self
                    .parent(&parent, true)
                    .map_err(|e| fail(e.to_string()))?;
                // The target is stored as text; it is never followed here
                // except by cap-std lookups, which keep to the layer root.
                self.make_replacing(&dir, &name, || symlinkat(&target, &*dir, &name))
                    .map_err(|e| fail(e.to_string()))?
                    .map_err(|e| fail(format!("symlink: {e}")))?;
                // Best effort, as before: a filesystem may refuse either.
                if let Ok(st) = statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                    && (st.st_uid != meta.uid || st.st_gid != meta.gid)
                {
                    let _ = chownat(
                        &dir,
                        &name,
                        Some(uid(meta.uid)),
                        Some(gid(meta.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    );
                }
                let _ = utimensat(&dir, &name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW);
                Ok(())
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|b| OsStr::from_bytes(&b).to_os_string())
                    .ok_or_else(|| fail("hard link without target".into()))?;
                let src =
                    clean_path(Path::new(&link)).map_err(|r| fail(format!("link target: {r}")))?;
                if src.as_os_str().is_empty() {
                    return Err(fail("hard link to the layer root".into()));
                }
                if src == path {
                    return Ok(());
                }
                let (sparent, sname) = split(&src);
                let sdir = self
                    .parent(&sparent, false)
                    .map_err(|e| fail(format!("link target {}: {e}", src.display())))?;
                let st = statat(&sdir, &sname, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail(format!("link target {}: {e}", src.display())))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(fail(format!("hard link to directory {}", src.display())));
                }
                let dir = self
                    .parent(&parent, true)
                    .map_err(|e| fail(e.to_string()))?;
                // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink
                // itself, never what it points at.
                self.make_replacing(&dir, &name, || {
                    linkat(&*sdir, &sname, &*dir, &name, AtFlags::empty())
                })
                .map_err(|e| fail(e.to_string()))?
                .map_err(|e| fail(format!("hard link to {}: {e}", src.display())))
            }
            tar::EntryType::Fifo => {
                let dir = self
                    .parent(&parent, true)
                    .map_err(|e| fail(e.to_string()))?;
                self.remove_existing(&dir, &name)
                    .map_err(|e| fail(e.to_string()))?;
                mknodat(
                    &dir,
                    &name,
                    FileType::Fifo,
                    Mode::from_raw_mode(meta.mode & 0o7777),
                    0,
                )
                .map_err(|e| fail(format!("mkfifo: {e}")))?;
                let _ = chownat(
                    &dir,
                    &name,
                    Some(uid(meta.uid)),
                    Some(gid(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                );
                Ok(())
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                self.stats.skipped_devices.push(shown.clone());
                Ok(())
            }
            other => Err(fail(format!("unsupported entry type {other:?}"))),
        }
    }

    /// Opens (creating when asked) the directory `rel` beneath the root:
    /// from the cache, or through cap-std from the root.
    fn parent(&mut self, rel: &Path, create: bool) -> io::Result<Rc<OwnedFd>> {
        if rel.as_os_str().is_empty() {
            return Ok(Rc::clone(&self.root_fd));
        }
        if let Some(fd) = self.dirs.get(rel) {
            return Ok(fd);
        }
        if create {
            self.root.create_dir_all(rel)?;
        }
        let dir = self.root.open_dir(rel)?;
        let fd = Rc::new(OwnedFd::from(dir.into_std_file()));
        self.dirs.insert(rel.to_path_buf(), Rc::clone(&fd));
        Ok(fd)
    }

    /// Removes whatever is at `dir/name` without following it (a directory
    /// recursively: a non-directory replaces it). Anything removed may have
    /// been on the path of a cached directory, so the cache goes too.
    /// Makes an entry with `make`; where a lower layer's entry already
    /// stands at that name (`EEXIST`), removes it and makes it once more.
    /// The outer error is the removal's, the inner one `make`'s.
    fn make_replacing<T>(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        make: impl Fn() -> rustix::io::Result<T>,
    ) -> io::Result<rustix::io::Result<T>> {
        match make() {
            Err(Errno::EXIST) => {
                self.remove_existing(dir, name)?;
                Ok(make())
            }
            other => Ok(other),
        }
    }

    fn remove_existing(&mut self, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
        match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(st) => {
                self.dirs.clear();
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    // cap-std's recursive removal never follows symlinks.
                    let d = Dir::reopen_dir(dir)?;
                    d.remove_dir_all(name)?;
                } else {
                    unlinkat(dir, name, AtFlags::empty())?;
                }
            }
        }
        Ok(())
    }

    /// Directory mtimes last: creating children changed them. The paths
    /// are walked in sorted order with a stack of fds opened with
    /// `O_NOFOLLOW`, so a directory later replaced by a symlink (or under
    /// one) is skipped rather than followed.
    fn set_dir_times(&mut self) {
        let mut list = std::mem::take(&mut self.dir_times);
        // Stable: for a directory listed twice, the later entry wins.
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut stack: Vec<(PathBuf, OwnedFd)> = Vec::new();
        for (path, mtime) in list {
            if path.as_os_str().is_empty() {
                let _ = futimens(&*self.root_fd, &times(mtime));
                continue;
            }
            while stack
                .last()
                .is_some_and(|(p, _)| p == &path || !path.starts_with(p))
            {
                stack.pop();
            }
            let depth = stack.last().map_or(0, |(p, _)| p.components().count());
            let mut reached = true;
            for c in path.components().skip(depth) {
                let (at, base): (&OwnedFd, PathBuf) = match stack.last() {
                    Some((p, fd)) => (fd, p.clone()),
                    None => (&self.root_fd, PathBuf::new()),
                };
                match openat(
                    at,
                    c.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => stack.push((base.join(c), fd)),
                    Err(_) => {
                        reached = false;
                        break;
                    }
                }
            }
            if reached && let Some((_, fd)) = stack.last() {
                let _ = futimens(fd, &times(mtime));
            }
        }
    }
}

/// cap-std hands out `O_PATH` directory fds; xattr, chmod and utimes calls
/// need a real one.
fn real_fd(dir: impl AsFd) -> rustix::io::Result<OwnedFd> {
    openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn uid(n: u32) -> Uid {
    Uid::from_raw(n)
}
fn gid(n: u32) -> Gid {
    Gid::from_raw(n)
}

/// Owner, mode, xattrs and (for files) mtime of a just-created inode. One
/// `fstat` first; the owner and mode are changed only where they differ
/// from what creation gave.
fn set_meta_fd(fd: &impl AsFd, meta: &Meta, times_too: bool) -> io::Result<()> {
    let st: Stat = fstat(fd)?;
    let want_mode = meta.mode & 0o7777;
    let chowned = st.st_uid != meta.uid || st.st_gid != meta.gid;
    if chowned {
        fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
    }
    // After chown, which clears setuid/setgid bits.
    if chowned || st.st_mode & 0o7777 != want_mode {
        fchmod(fd, Mode::from_raw_mode(want_mode))?;
    }
    for (k, v) in &meta.xattrs {
        // Best effort: a filesystem without user xattrs must not fail an import.
        let _ = fsetxattr(fd, k.as_os_str(), v, XattrFlags::empty());
    }
    if times_too {
        futimens(fd, &times(meta.mtime))?;
    }
    Ok(())
}
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    // Some writers leave numeric fields blank; tar(1) reads them as zero.
    let default_mode = if h.entry_type().is_dir() {
        0o755
    } else {
        0o644
    };
    let mut meta = Meta {
        mode: h.mode().unwrap_or(default_mode),
        uid: h.uid().unwrap_or(0) as u32,
        gid: h.gid().unwrap_or(0) as u32,
        mtime: h.mtime().unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
            };
            match key {
                b"uid" => meta.uid = num().unwrap_or(meta.uid as u64) as u32,
                b"gid" => meta.gid = num().unwrap_or(meta.gid as u64) as u32,
                b"mtime" => {
                    let s = std::str::from_utf8(value).unwrap_or("");
                    let secs = s.split('.').next().and_then(|x| x.parse::<u64>().ok());
                    meta.mtime = secs.unwrap_or(meta.mtime);
                }
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.")
                        && !name.starts_with(b"trusted.overlay.")
                    {
                        meta.xattrs
                            .push((OsStr::from_bytes(name).to_os_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn copy(r: &mut impl Read, w: &mut impl Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests;
