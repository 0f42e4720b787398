//! COPY and ADD: which files a step takes (from the context or another
//! stage), where they land in the image, what the cache key depends on, and
//! the entries of the layer they make.

use super::*;

/// A COPY/ADD step, planned: the layer's entries, and what its key hashes.
pub(super) struct CopyPlan {
    pub(super) entries: Vec<LayerEntry>,
    pub(super) files: BTreeMap<String, String>,
    pub(super) summary: String,
    pub(super) dest_shown: String,
}

impl Builder<'_> {
    #[allow(
        clippy::too_many_arguments,
        reason = "one step needs the whole build's state"
    )]
    pub(super) fn plan_copy(
        &mut self,
        step: &Step,
        spec: &CopySpec,
        is_add: bool,
        state: &ImageState,
        env: &[(String, String)],
        stages: &[Stage],
        results: &HashMap<usize, ImageState>,
        stage_no: usize,
    ) -> Result<CopyPlan, BuildError> {
        let line = step.line;
        let kw = step.keyword();
        let e = |s: &str| self.expand(line, s, env);
        let dest_raw = e(&spec.dest)?;
        let chown = spec.chown.as_deref().map(e).transpose()?;
        let chmod = spec.chmod.as_deref().map(e).transpose()?;
        let from = spec.from.as_deref().map(e).transpose()?;
        let workdir = state.workdir();
        let dest_abs = clean_abs(&join_path(&workdir, &dest_raw));
        let dest_is_dir_syntax = dest_raw.ends_with('/')
            || dest_raw == "."
            || dest_raw.ends_with("/.")
            || dest_raw.is_empty();
        let target_fs = Rootfs {
            layers: state
                .layers
                .iter()
                .map(|l| self.store.layer_path(&l.diff_id))
                .collect::<Result<_, _>>()?,
            name: "image".into(),
        };
        // Where files come from.
        let context;
        let from_fs;
        let source: &dyn Source = match &from {
            Some(f) => {
                let st = match stage_index(stages, f) {
                    Some(j) if j < stage_no => results[&j].clone(),
                    Some(_) => {
                        return Err(self.step_err(
                            line,
                            format!(
                                "cyclic COPY --from={f}: the stage is not built before this one"
                            ),
                        ));
                    }
                    None => {
                        let img = self.resolve_base(line, &format!("COPY --from={f}"), f)?;
                        ImageState {
                            config: json!({}),
                            layers: img.layers.clone(),
                            id: img.id.clone(),
                            rebuilt: false,
                            fresh: false,
                        }
                    }
                };
                let mut lower = Vec::new();
                for l in &st.layers {
                    let img = Image {
                        id: String::new(),
                        manifest_digest: String::new(),
                        config: Default::default(),
                        repo_tags: vec![],
                        repo_digests: vec![],
                        names: vec![],
                        size: 0,
                        layers: vec![l.clone()],
                        last_tag_time: None,
                    };
                    lower.extend(self.store.layer_dirs(&img)?);
                }
                from_fs = Rootfs {
                    layers: lower,
                    name: format!("stage {f}"),
                };
                &from_fs
            }
            None => match &self.opts.context {
                Some(root) => {
                    context = Context::open(root).map_err(|m| self.step_err(line, m))?;
                    &context
                }
                None => {
                    return Err(self.step_err(
                        line,
                        format!("{kw} needs a build context, but only a Dockerfile was given (context \"-\")"),
                    ));
                }
            },
        };
        let (uid, gid) = match &chown {
            Some(c) => resolve_chown(c, &target_fs).map_err(|m| self.step_err(line, m))?,
            None => (0, 0),
        };
        let mode_override = match &chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| {
                        self.step_err(
                            line,
                            format!(
                                "invalid --chmod value {m:?}: expected an octal mode like 0755"
                            ),
                        )
                    })?,
            ),
            None => None,
        };
        // Sources.
        let mut matched: Vec<(String, Vec<SourceFile>)> = Vec::new();
        let mut inline: Vec<(String, Vec<u8>)> = Vec::new();
        for s in &spec.sources {
            if let Some(h) = s
                .strip_prefix("<<")
                .map(|n| n.trim_start_matches('-').trim_matches(['"', '\'']))
                .and_then(|n| step.heredocs.iter().find(|h| h.name == n))
            {
                let content = if h.expand {
                    self.expand(line, &h.content, env)
                        .unwrap_or_else(|_| h.content.clone())
                } else {
                    h.content.clone()
                };
                inline.push((h.name.clone(), content.into_bytes()));
                continue;
            }
            let s = self.expand(line, s, env)?;
            if is_add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(self.step_err(line, format!("ADD {s}: adding from a URL is not supported by wrun build yet (use RUN with curl or wget)")));
            }
            let hits = context::resolve(source, &s).map_err(|m| {
                let hint = if from.is_none() {
                    " (is it excluded by .dockerignore?)"
                } else {
                    ""
                };
                self.step_err(
                    line,
                    format!(
                        "{kw} failed: file not found in {}: {m}{hint}",
                        source.describe()
                    ),
                )
            })?;
            matched.push((s, hits));
        }
        let count: usize = matched.iter().map(|(_, h)| h.len()).sum::<usize>() + inline.len();
        // Through the image's symlinks (`/bin` → `usr/bin` on Debian), as
        // Docker copies: never replace a linked directory with a real one.
        let dest_rel = target_fs.resolve(dest_abs.trim_start_matches('/'));
        let existing_dir = target_fs.is_dir(&dest_rel);
        let dest_is_dir = dest_is_dir_syntax || count > 1 || existing_dir;
        if count > 1 && !dest_is_dir_syntax && !existing_dir {
            return Err(self.step_err(
                line,
                format!("When using {kw} with more than one source file, the destination must be a directory and end with a /"),
            ));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut entries: Vec<LayerEntry> = Vec::new();
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let prefix = from.as_ref().map(|f| format!("{f}:")).unwrap_or_default();
        let hash = |f: &SourceFile| -> Result<String, BuildError> {
            context::content_hash(f).map_err(|cause| BuildError::Io {
                path: f.host.clone(),
                cause,
            })
        };
        let mode_of = |m: &fs::Metadata| -> u32 {
            match mode_override {
                Some(o) => o,
                None => m.mode() & 0o7777,
            }
        };
        for (_, hits) in &matched {
            for top in hits {
                let top_dest = if top.is_dir() {
                    dest_rel.clone()
                } else if dest_is_dir {
                    join_rel(&dest_rel, base_name(&top.rel))
                } else {
                    dest_rel.clone()
                };
                if is_add && top.meta.is_file() && is_archive(&top.host) {
                    files.insert(format!("{prefix}{}", top.rel), hash(top)?);
                    let extracted = extract_archive(&top.host, &dest_rel)
                        .map_err(|m| self.step_err(line, format!("ADD {}: {m}", top.rel)))?;
                    entries.extend(extracted);
                    continue;
                }
                let all = if top.is_dir() {
                    context::walk(source, top)
                } else {
                    vec![top.clone()]
                };
                for f in all {
                    let sub = f
                        .rel
                        .strip_prefix(&top.rel)
                        .unwrap_or(&f.rel)
                        .trim_start_matches('/');
                    let path = if top.is_dir() {
                        join_rel(&top_dest, sub)
                    } else {
                        top_dest.clone()
                    };
                    files.insert(format!("{prefix}{}", f.rel), hash(&f)?);
                    let ft = f.meta.file_type();
                    let kind = if ft.is_dir() {
                        EntryKind::Dir
                    } else if ft.is_symlink() {
                        let t = fs::read_link(&f.host).map_err(|cause| BuildError::Io {
                            path: f.host.clone(),
                            cause,
                        })?;
                        EntryKind::Symlink(t.display().to_string())
                    } else if ft.is_file() {
                        EntryKind::File(f.host.clone())
                    } else {
                        continue;
                    };
                    if path.is_empty() {
                        // The image's root itself keeps its own metadata.
                        continue;
                    }
                    entries.push(LayerEntry {
                        path,
                        mode: mode_of(&f.meta),
                        kind,
                        uid,
                        gid,
                        mtime: f.meta.mtime().max(0) as u64,
                    });
                }
            }
        }
        for (name, data) in &inline {
            let path = if dest_is_dir {
                join_rel(&dest_rel, name)
            } else {
                dest_rel.clone()
            };
            files.insert(format!("<<{name}"), crate::blob::digest_of(data));
            entries.push(LayerEntry {
                path,
                kind: EntryKind::Bytes(data.clone()),
                mode: mode_override.unwrap_or(0o644),
                uid,
                gid,
                mtime: now,
            });
        }
        // Parent directories: as they are in the image, or made 0755.
        let mut have: HashSet<String> = entries.iter().map(|e| e.path.clone()).collect();
        let mut parents = Vec::new();
        for e in &entries {
            let mut p = Path::new(&e.path).parent();
            while let Some(dir) = p {
                let d = dir.to_string_lossy().into_owned();
                if d.is_empty() || !have.insert(d.clone()) {
                    break;
                }
                let entry = match target_fs.lookup(&d) {
                    Some(existing) if existing.is_dir() => LayerEntry {
                        path: d.clone(),
                        kind: EntryKind::Dir,
                        mode: existing.meta.mode() & 0o7777,
                        uid: existing.meta.uid() as u64,
                        gid: existing.meta.gid() as u64,
                        mtime: existing.meta.mtime().max(0) as u64,
                    },
                    _ => LayerEntry {
                        path: d.clone(),
                        kind: EntryKind::Dir,
                        mode: 0o755,
                        uid,
                        gid,
                        mtime: now,
                    },
                };
                parents.push(entry);
                p = dir.parent();
            }
        }
        parents.sort_by(|a, b| a.path.cmp(&b.path));
        parents.extend(entries);
        let mut entries = parents;
        // Parents before children (the tar is applied in order).
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let digest = {
            let mut s = String::new();
            for (k, v) in &files {
                s.push_str(&format!("{k}\0{v}\n"));
            }
            s.push_str(&format!("chown={chown:?} chmod={chmod:?}"));
            let d = crate::blob::digest_of(s.as_bytes());
            d.strip_prefix("sha256:").unwrap_or(&d).to_owned()
        };
        let single_dir = matched.len() == 1 && matched[0].1.len() == 1 && matched[0].1[0].is_dir();
        let kind = if count > 1 {
            "multi"
        } else if single_dir {
            "dir"
        } else {
            "file"
        };
        let mut dest_shown = dest_abs.clone();
        if dest_is_dir && !dest_shown.ends_with('/') {
            dest_shown.push('/');
        }
        Ok(CopyPlan {
            entries,
            files,
            summary: format!("{kind}:{digest}"),
            dest_shown,
        })
    }
}

/// `--chown=user[:group]`, names looked up in the image's passwd/group.
fn resolve_chown(spec: &str, rootfs: &Rootfs) -> Result<(u64, u64), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Option<(u64, u64)> {
        let text = String::from_utf8(rootfs.read(file)?).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&name) && f.len() > 3 {
                Some((f[2].parse().ok()?, f[3].parse().ok()?))
            } else if f.first() == Some(&name) && f.len() > 2 {
                Some((f[2].parse().ok()?, 0))
            } else {
                None
            }
        })
    };
    let (uid, primary) = match user.parse::<u64>() {
        Ok(n) => (n, n),
        Err(_) => lookup("etc/passwd", user).ok_or_else(|| {
            format!("--chown={spec}: no user {user:?} in the image's /etc/passwd")
        })?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => lookup("etc/group", g).map(|(gid, _)| gid).ok_or_else(|| {
                format!("--chown={spec}: no group {g:?} in the image's /etc/group")
            })?,
        },
    };
    Ok((uid, gid))
}

/// Whether ADD should unpack `path`: a tar, plain or gzip.
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return true;
    }
    n >= 262 && &head[257..262] == b"ustar"
}

/// ADD's local archive: its entries below `dest`, metadata kept.
fn extract_archive(path: &Path, dest: &str) -> Result<Vec<LayerEntry>, String> {
    let f = fs::File::open(path).map_err(|e| e.to_string())?;
    let r = crate::blob::decompress(std::io::BufReader::new(f)).map_err(|e| e.to_string())?;
    let mut a = tar::Archive::new(r);
    let mut out = Vec::new();
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        let raw = e
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let rel = ignore::clean(&raw);
        if rel.is_empty() {
            continue;
        }
        if raw.split('/').any(|s| s == "..") {
            return Err(format!("archive entry {raw:?} leaves its directory"));
        }
        let h = e.header().clone();
        let path = join_rel(dest, &rel);
        let kind = match h.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink(
                e.link_name()
                    .map_err(|e| e.to_string())?
                    .map(|l| l.display().to_string())
                    .unwrap_or_default(),
            ),
            tar::EntryType::Link => {
                let target = e
                    .link_name()
                    .map_err(|e| e.to_string())?
                    .map(|l| ignore::clean(&l.to_string_lossy()))
                    .unwrap_or_default();
                EntryKind::Bytes(contents.get(&target).cloned().unwrap_or_default())
            }
            t if t.is_file() => {
                let mut data = Vec::new();
                e.read_to_end(&mut data).map_err(|e| e.to_string())?;
                contents.insert(rel.clone(), data.clone());
                EntryKind::Bytes(data)
            }
            _ => continue,
        };
        out.push(LayerEntry {
            path,
            kind,
            mode: h.mode().unwrap_or(0o644),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
        });
    }
    Ok(out)
}
