//! Where COPY and ADD take files from: the build context directory (minus
//! what `.dockerignore` excludes) or another stage's (or image's) root
//! filesystem, seen through its layers as overlayfs would merge them.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ignore::{Ignore, clean, has_glob, path_match};

/// One file, directory or symlink a COPY source names or holds.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the source root (`/`-separated, `""` for the root).
    pub rel: String,
    /// Where it is on the host.
    pub host: PathBuf,
    pub meta: fs::Metadata,
}

impl SourceFile {
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }
}

/// A tree files are copied from.
pub trait Source {
    /// The entry at `rel`, if present (and not excluded).
    fn lookup(&self, rel: &str) -> Option<SourceFile>;
    /// Entry names in directory `rel`, sorted, excluded ones left out.
    fn list(&self, rel: &str) -> Vec<String>;
    /// What to call the tree in errors.
    fn describe(&self) -> String;
}

/// The context directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    pub ignore: Ignore,
}

impl Context {
    /// Opens `root`, reading `.dockerignore` if there is one.
    pub fn open(root: &Path) -> Result<Context, String> {
        let ig = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ig) {
            Ok(t) => Ignore::parse(&t)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(format!("{}: {e}", ig.display())),
        };
        Ok(Context {
            root: root.to_path_buf(),
            ignore,
        })
    }
}

impl Source for Context {
    fn lookup(&self, rel: &str) -> Option<SourceFile> {
        if !rel.is_empty() && self.ignore.excluded(rel) {
            return None;
        }
        let host = if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let meta = fs::symlink_metadata(&host).ok()?;
        Some(SourceFile {
            rel: rel.to_owned(),
            host,
            meta,
        })
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let dir = if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| {
                        let child = join_rel(rel, n);
                        // An excluded directory may still hold an exception.
                        !self.ignore.excluded(&child)
                            || (self.ignore.has_exceptions() && dir.join(n).is_dir())
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn describe(&self) -> String {
        "build context".into()
    }
}

/// A root filesystem as a stack of unpacked layer dirs (lowest first),
/// with overlayfs whiteouts (0:0 character devices) and opaque dirs.
#[derive(Debug, Clone)]
pub struct Rootfs {
    pub layers: Vec<PathBuf>,
    pub name: String,
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut [0u8; 4])
        .map(|n| n == 1)
        .unwrap_or(false)
}

impl Rootfs {
    /// The layers that can still show `rel` (from the top), stopping at a
    /// whiteout or an opaque parent.
    fn visible(&self, rel: &str) -> Option<SourceFile> {
        for layer in self.layers.iter().rev() {
            let host = if rel.is_empty() {
                layer.clone()
            } else {
                layer.join(rel)
            };
            if let Ok(meta) = fs::symlink_metadata(&host) {
                if is_whiteout(&meta) {
                    return None;
                }
                return Some(SourceFile {
                    rel: rel.to_owned(),
                    host,
                    meta,
                });
            }
            // Hidden below if a parent in this layer is opaque or whited out.
            let mut parent = Path::new(rel).parent();
            while let Some(p) = parent {
                if p.as_os_str().is_empty() {
                    break;
                }
                let hp = layer.join(p);
                if let Ok(m) = fs::symlink_metadata(&hp) {
                    if is_whiteout(&m) || (m.is_dir() && is_opaque(&hp)) {
                        return None;
                    }
                    break;
                }
                parent = p.parent();
            }
        }
        None
    }

    /// Whether `rel` is a directory in the merged tree.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.visible(rel).is_some_and(|f| f.is_dir())
    }

    /// `rel` with every symlink along it followed inside this root, as a
    /// path copied to would be resolved (`bin/x` → `usr/bin/x` when `/bin`
    /// links to `usr/bin`). Gives up after 40 links, like the kernel.
    pub fn resolve(&self, rel: &str) -> String {
        let mut todo: Vec<String> = rel
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            if part == ".." {
                done.pop();
                continue;
            }
            done.push(part);
            let here = done.join("/");
            let Some(f) = self.visible(&here) else {
                continue;
            };
            if !f.meta.file_type().is_symlink() || hops >= 40 {
                continue;
            }
            hops += 1;
            let Ok(target) = fs::read_link(&f.host) else {
                continue;
            };
            let t = target.to_string_lossy().into_owned();
            done.pop();
            if t.starts_with('/') {
                done.clear();
            }
            todo.extend(
                t.split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .rev()
                    .map(str::to_owned),
            );
        }
        done.join("/")
    }

    /// The content of a file in the merged tree.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let f = self.visible(rel)?;
        if !f.meta.is_file() {
            return None;
        }
        fs::read(&f.host).ok()
    }
}

impl Source for Rootfs {
    fn lookup(&self, rel: &str) -> Option<SourceFile> {
        self.visible(rel)
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let mut seen = std::collections::BTreeMap::<String, bool>::new();
        for layer in self.layers.iter().rev() {
            let dir = if rel.is_empty() {
                layer.clone()
            } else {
                layer.join(rel)
            };
            let Ok(meta) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if !meta.is_dir() {
                break;
            }
            if let Ok(rd) = fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let Ok(name) = e.file_name().into_string() else {
                        continue;
                    };
                    let wh = e.metadata().map(|m| is_whiteout(&m)).unwrap_or(false);
                    seen.entry(name).or_insert(!wh);
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        seen.into_iter()
            .filter(|(_, v)| *v)
            .map(|(k, _)| k)
            .collect()
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

pub(crate) fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Every entry at and below `top`, parents before children, sorted.
pub fn walk(src: &dyn Source, top: &SourceFile) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut stack = vec![top.clone()];
    while let Some(f) = stack.pop() {
        let is_dir = f.is_dir();
        let rel = f.rel.clone();
        out.push(f);
        if is_dir {
            let mut kids: Vec<SourceFile> = src
                .list(&rel)
                .iter()
                .filter_map(|n| src.lookup(&join_rel(&rel, n)))
                .collect();
            kids.reverse();
            stack.extend(kids);
        }
    }
    out
}

/// Resolves one COPY source (already expanded) to the entries it names:
/// a path, or a glob matched against every path of the tree. `Err` says
/// what was not found.
pub fn resolve(src: &dyn Source, pattern: &str) -> Result<Vec<SourceFile>, String> {
    if pattern.split('/').any(|s| s == "..") && clean(pattern).starts_with("..") {
        return Err(format!(
            "forbidden path outside the {}: {pattern}",
            src.describe()
        ));
    }
    let rel = clean(pattern);
    if rel.starts_with("..") {
        return Err(format!(
            "forbidden path outside the {}: {pattern}",
            src.describe()
        ));
    }
    if !has_glob(&rel) {
        return match src.lookup(&rel) {
            Some(f) => Ok(vec![f]),
            None => Err(format!("\"/{rel}\": not found")),
        };
    }
    // Walk only below the first segment that holds a glob character.
    let fixed: Vec<&str> = rel.split('/').take_while(|s| !has_glob(s)).collect();
    let base = fixed.join("/");
    let Some(top) = src.lookup(&base) else {
        return Err(format!("\"/{rel}\": not found"));
    };
    let hits: Vec<SourceFile> = walk(src, &top)
        .into_iter()
        .filter(|f| path_match(&rel, &f.rel))
        .collect();
    if hits.is_empty() {
        return Err(format!("no source files were specified matching \"{rel}\""));
    }
    // A directory hit covers what is beneath it.
    let dirs: Vec<String> = hits
        .iter()
        .filter(|f| f.is_dir())
        .map(|f| f.rel.clone())
        .collect();
    Ok(hits
        .into_iter()
        .filter(|f| !dirs.iter().any(|d| f.rel.starts_with(&format!("{d}/"))))
        .collect())
}

/// Digest of a file's content, mode and (for a symlink) target: what a
/// COPY step's cache key depends on. Owners and mtimes are left out (COPY
/// sets the owner; touching a file must not miss).
pub fn content_hash(f: &SourceFile) -> std::io::Result<String> {
    let mut h = Sha256::new();
    h.update(format!("mode {:o}\n", f.meta.mode()).as_bytes());
    let ft = f.meta.file_type();
    if ft.is_symlink() {
        let t = fs::read_link(&f.host)?;
        h.update(b"link ");
        h.update(t.as_os_str().as_encoded_bytes());
    } else if ft.is_file() {
        let mut file = fs::File::open(&f.host)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if ft.is_dir() {
        h.update(b"dir");
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_respects_dockerignore_and_globs() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(".dockerignore"), "*.pyc\nsecret\n").unwrap();
        fs::write(d.path().join("app.py"), "x").unwrap();
        fs::write(d.path().join("app.pyc"), "x").unwrap();
        fs::write(d.path().join("secret"), "x").unwrap();
        fs::create_dir(d.path().join("src")).unwrap();
        fs::write(d.path().join("src/a.py"), "x").unwrap();
        let c = Context::open(d.path()).unwrap();
        assert!(resolve(&c, "secret").is_err());
        assert!(resolve(&c, "../etc/passwd").is_err());
        let all: Vec<String> = walk(&c, &c.lookup("").unwrap())
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(all, vec!["", ".dockerignore", "app.py", "src", "src/a.py"]);
        let g: Vec<String> = resolve(&c, "src/*.py")
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(g, vec!["src/a.py"]);
    }

    #[test]
    fn destinations_follow_symlinks_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let l1 = d.path().join("l1");
        fs::create_dir_all(l1.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", l1.join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/../../etc", l1.join("up")).unwrap();
        let r = Rootfs {
            layers: vec![l1],
            name: "t".into(),
        };
        assert_eq!(r.resolve("bin/tool"), "usr/bin/tool");
        assert_eq!(r.resolve("/bin/"), "usr/bin");
        assert_eq!(r.resolve("up/x"), "etc/x");
        assert_eq!(r.resolve("app/new"), "app/new");
    }

    #[test]
    fn touching_keeps_the_hash_and_editing_changes_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "one").unwrap();
        let c = Context::open(d.path()).unwrap();
        let h1 = content_hash(&c.lookup("f").unwrap()).unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(h1, content_hash(&c.lookup("f").unwrap()).unwrap());
        fs::write(&p, "two").unwrap();
        assert_ne!(h1, content_hash(&c.lookup("f").unwrap()).unwrap());
    }
}
