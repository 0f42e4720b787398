//! Loading a project: finding its files, the `.env`, interpolation, the
//! typed model with positions in errors, merging several files, and
//! resolving what depends on the project directory.
//!
//! Each file goes: YAML text → `serde_yaml::Value` (syntax errors keep line
//! and column) → anchors' merge keys applied → `x-` extensions dropped →
//! every string interpolated (an error names the key path) → the typed
//! [`ComposeFile`] through `serde_path_to_error` (a wrong type or an unknown
//! key names its path, with "did you mean" for a near miss). A path is
//! turned into a line by [`crate::locate`]. Files are then merged in order
//! (later wins, lists merge as the compose specification says), and the
//! result is validated as a whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::interpolate::interpolate;
use crate::locate::{line_of, parse_path};
use crate::model::*;
use crate::{Error, Result, dotenv};

/// The names a project file may have, in the order they are looked for.
pub const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// How to find and read a project (the global flags of `compose`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f`, in order; empty: look for [`FILE_NAMES`] (and an override
    /// file) in `cwd` and its parents, or `COMPOSE_FILE`.
    pub files: Vec<PathBuf>,
    /// `-p`; else `COMPOSE_PROJECT_NAME`, the file's `name:`, the folder.
    pub project_name: Option<String>,
    /// `--project-directory`; else the first file's folder.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`; empty: `<project dir>/.env` if it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; else `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The environment of `wrun compose` (the process's, or a test's).
    pub environment: BTreeMap<String, String>,
    /// Where relative `-f` paths and the search start.
    pub cwd: PathBuf,
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub model: ComposeFile,
    /// The variables interpolation saw (process env over `.env`).
    pub environment: BTreeMap<String, String>,
    /// Services whose profiles are not enabled (left out of `model`).
    pub disabled: BTreeMap<String, Service>,
}

/// One file's text, kept to place later errors.
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    text: String,
}

/// Loads the project `opts` describes.
pub fn load(opts: &Options) -> Result<Project> {
    let files = find_files(opts)?;
    let working_dir = match &opts.project_directory {
        Some(d) => absolute(&opts.cwd, d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.cwd.clone()),
    };
    // The interpolation environment: `.env` (or --env-file), overridden by
    // the process environment.
    let mut environment = BTreeMap::new();
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let dot = working_dir.join(".env");
        if dot.is_file() { vec![dot] } else { Vec::new() }
    } else {
        opts.env_files
            .iter()
            .map(|f| absolute(&opts.cwd, f))
            .collect()
    };
    for f in &env_files {
        let process = &opts.environment;
        let so_far = environment.clone();
        let lookup = |k: &str| process.get(k).or_else(|| so_far.get(k)).cloned();
        environment.extend(dotenv::read(f, &lookup)?);
    }
    environment.extend(opts.environment.clone());

    let mut sources = Vec::new();
    let mut merged: Option<ComposeFile> = None;
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let source = Source {
            path: path.clone(),
            text,
        };
        let file = parse_file(&source, &environment)?;
        merged = Some(match merged {
            None => file,
            Some(mut base) => {
                merge(&mut base, file);
                base
            }
        });
        sources.push(source);
    }
    let mut model = merged.expect("at least one file");
    let name = project_name(opts, &environment, &model, &working_dir)?;
    model.name = Some(name.clone());
    resolve(&mut model, &working_dir, &environment, &sources)?;
    let profiles: Vec<String> = if opts.profiles.is_empty() {
        environment
            .get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let disabled = apply_profiles(&mut model, &profiles);
    validate(&model, &sources)?;
    Ok(Project {
        name,
        working_dir,
        files,
        model,
        environment,
        disabled,
    })
}

/// Loads one compose text as a project in `working_dir` (tests, `config`
/// round trips).
pub fn load_str(
    text: &str,
    file: &Path,
    working_dir: &Path,
    environment: &BTreeMap<String, String>,
) -> Result<ComposeFile> {
    let source = Source {
        path: file.to_path_buf(),
        text: text.to_string(),
    };
    let mut model = parse_file(&source, environment)?;
    if model.name.is_none() {
        model.name = Some(normalize_name(
            &working_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ));
    }
    resolve(
        &mut model,
        working_dir,
        environment,
        std::slice::from_ref(&source),
    )?;
    validate(&model, std::slice::from_ref(&source))?;
    Ok(model)
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn find_files(opts: &Options) -> Result<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return opts
            .files
            .iter()
            .map(|f| {
                let p = absolute(&opts.cwd, f);
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(Error::Io {
                        path: p,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    })
                }
            })
            .collect();
    }
    if let Some(list) = opts
        .environment
        .get("COMPOSE_FILE")
        .filter(|l| !l.is_empty())
    {
        let files: Vec<PathBuf> = list.split(':').map(PathBuf::from).collect();
        return find_files(&Options {
            files,
            ..opts.clone()
        });
    }
    let mut dir = Some(opts.cwd.as_path());
    while let Some(d) = dir {
        if let Some(main) = FILE_NAMES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            let mut files = vec![main.clone()];
            let stem = if main
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("docker-"))
            {
                "docker-compose.override"
            } else {
                "compose.override"
            };
            if let Some(o) = ["yaml", "yml"]
                .iter()
                .map(|ext| d.join(format!("{stem}.{ext}")))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(Error::NoFile {
        dir: opts.cwd.clone(),
    })
}

/// Compose's project-name rule: lower case, `[a-z0-9_-]`, starting with a
/// letter or digit.
pub fn normalize_name(raw: &str) -> String {
    let lower: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

fn project_name(
    opts: &Options,
    environment: &BTreeMap<String, String>,
    model: &ComposeFile,
    working_dir: &Path,
) -> Result<String> {
    let (raw, from) = if let Some(p) = &opts.project_name {
        (p.clone(), "-p")
    } else if let Some(p) = environment
        .get("COMPOSE_PROJECT_NAME")
        .filter(|p| !p.is_empty())
    {
        (p.clone(), "COMPOSE_PROJECT_NAME")
    } else if let Some(p) = &model.name {
        (p.clone(), "name")
    } else {
        let base = working_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (normalize_name(&base), "the project directory")
    };
    if raw.is_empty() || normalize_name(&raw) != raw {
        return Err(Error::Engine(format!(
            "invalid project name {raw:?} (from {from}): it must contain only lowercase letters, \
             digits, dashes and underscores, and start with a letter or digit"
        )));
    }
    Ok(raw)
}

/// YAML → interpolated, typed model for one file.
fn parse_file(source: &Source, environment: &BTreeMap<String, String>) -> Result<ComposeFile> {
    let file = &source.path;
    let mut value: Value = serde_yaml::from_str(&source.text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        Error::Yaml {
            file: file.clone(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    if value.is_null() {
        return Err(invalid(source, "", "the file is empty".into()));
    }
    if !value.is_mapping() {
        return Err(invalid(
            source,
            "",
            "the top level must be a mapping".into(),
        ));
    }
    value
        .apply_merge()
        .map_err(|e| invalid(source, "", e.to_string()))?;
    strip_extensions(&mut value);
    let lookup = |k: &str| environment.get(k).cloned();
    let mut path = Vec::new();
    interpolate_value(&mut value, &mut path, &lookup).map_err(|(p, m)| invalid(source, &p, m))?;
    serde_path_to_error::deserialize::<_, ComposeFile>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = did_you_mean(&e.inner().to_string());
        invalid(source, &path, message)
    })
}

/// Drops `x-` extension keys where Compose allows them (top level,
/// services, networks, volumes, secrets, configs); keeps `x-wrun` in a
/// service.
fn strip_extensions(value: &mut Value) {
    let Some(top) = value.as_mapping_mut() else {
        return;
    };
    top.retain(|k, _| !is_extension(k));
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Mapping(items)) = top.get_mut(section) {
            for (_, item) in items.iter_mut() {
                if let Value::Mapping(m) = item {
                    m.retain(|k, _| {
                        !is_extension(k) || (section == "services" && k.as_str() == Some("x-wrun"))
                    });
                }
            }
        }
    }
}

fn is_extension(k: &Value) -> bool {
    k.as_str().is_some_and(|k| k.starts_with("x-"))
}

fn interpolate_value(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<(), (String, String)> {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = interpolate(s, lookup).map_err(|e| (join_path(path), e.to_string()))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                interpolate_value(item, path, lookup)?;
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.as_str().map_or_else(|| format!("{k:?}"), str::to_string));
                interpolate_value(v, path, lookup)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if !p.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}

fn invalid(source: &Source, path: &str, message: String) -> Error {
    let line = if path.is_empty() || path == "." {
        None
    } else {
        line_of(&source.text, &parse_path(path))
    };
    Error::Invalid {
        file: source.path.clone(),
        line,
        key: if path.is_empty() || path == "." {
            "(top level)".into()
        } else {
            path.to_string()
        },
        message,
    }
}

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant
/// messages when one of the expected names is close.
pub fn did_you_mean(message: &str) -> String {
    let Some(start) = message.find("unknown ") else {
        return message.to_string();
    };
    let rest = &message[start..];
    let got = rest.split('`').nth(1);
    let expected_at = rest.find("expected");
    let (Some(got), Some(at)) = (got, expected_at) else {
        return message.to_string();
    };
    let candidates: Vec<&str> = rest[at..].split('`').skip(1).step_by(2).collect();
    match closest(got, candidates.iter().copied()) {
        Some(best) => format!("{}; did you mean `{best}`?", cut_expected(message)),
        None => message.to_string(),
    }
}

/// The message up to its list of expected names (long and noisy).
fn cut_expected(message: &str) -> &str {
    message
        .find(", expected")
        .map_or(message, |i| &message[..i])
}

/// The candidate closest to `got`, if close enough to be a typo: at most
/// two edits (a swap of neighbours counts one) and fewer than its length,
/// or a Jaro-Winkler similarity of 0.85 or more.
pub fn closest<'a>(got: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter_map(|c| {
            let edits = strsim::osa_distance(got, c);
            let similar = strsim::jaro_winkler(got, c);
            ((edits <= 2 && edits < got.len()) || similar >= 0.85).then_some((edits, c))
        })
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, c)| c)
}

/// Compose's merge of a later file into an earlier one: scalars are
/// replaced, maps merged by key, ports and expose appended (duplicates
/// dropped), volumes and secrets merged by target, command and entrypoint
/// replaced.
pub fn merge(base: &mut ComposeFile, over: ComposeFile) {
    if over.name.is_some() {
        base.name = over.name;
    }
    for (name, s) in over.services {
        match base.services.get_mut(&name) {
            Some(b) => merge_service(b, s),
            None => {
                base.services.insert(name, s);
            }
        }
    }
    base.networks.extend(over.networks);
    base.volumes.extend(over.volumes);
    base.secrets.extend(over.secrets);
    base.configs.extend(over.configs);
}

fn merge_service(b: &mut Service, o: Service) {
    macro_rules! replace {
        ($($f:ident),*) => { $( if o.$f.is_some() { b.$f = o.$f; } )* };
    }
    macro_rules! extend_map {
        ($($f:ident),*) => { $( b.$f.extend(o.$f); )* };
    }
    macro_rules! union {
        ($($f:ident),*) => { $( for x in o.$f { if !b.$f.contains(&x) { b.$f.push(x); } } )* };
    }
    macro_rules! flag {
        ($($f:ident),*) => { $( b.$f |= o.$f; )* };
    }
    match (&mut b.build, o.build) {
        (Some(bb), Some(ob)) => {
            bb.context = ob.context;
            if ob.dockerfile.is_some() {
                bb.dockerfile = ob.dockerfile;
            }
            if ob.target.is_some() {
                bb.target = ob.target;
            }
            bb.args.extend(ob.args);
            bb.labels.extend(ob.labels);
        }
        (_, Some(ob)) => b.build = Some(ob),
        _ => {}
    }
    replace!(
        image,
        command,
        entrypoint,
        restart,
        network_mode,
        working_dir,
        user,
        hostname,
        domainname,
        container_name,
        deploy,
        stop_grace_period,
        stop_signal,
        platform,
        runtime,
        pull_policy,
        mem_limit,
        cpus,
        pids_limit,
        logging,
        x_wrun
    );
    match (&mut b.healthcheck, o.healthcheck) {
        (Some(bh), Some(oh)) => {
            if !oh.test.is_empty() {
                bh.test = oh.test;
            }
            if oh.interval.is_some() {
                bh.interval = oh.interval;
            }
            if oh.timeout.is_some() {
                bh.timeout = oh.timeout;
            }
            if oh.retries.is_some() {
                bh.retries = oh.retries;
            }
            if oh.start_period.is_some() {
                bh.start_period = oh.start_period;
            }
        }
        (_, Some(oh)) => b.healthcheck = Some(oh),
        _ => {}
    }
    extend_map!(environment, labels, depends_on, networks, sysctls);
    union!(
        env_file,
        ports,
        expose,
        tmpfs,
        cap_add,
        cap_drop,
        dns,
        extra_hosts,
        profiles,
        links,
        external_links
    );
    for v in o.volumes {
        b.volumes.retain(|x| x.target != v.target);
        b.volumes.push(v);
    }
    for s in o.secrets {
        b.secrets.retain(|x| x.source != s.source);
        b.secrets.push(s);
    }
    for s in o.configs {
        b.configs.retain(|x| x.source != s.source);
        b.configs.push(s);
    }
    flag!(read_only, stdin_open, tty, init, privileged);
}

/// Makes the model independent of where it was loaded: relative paths made
/// absolute, env files read into `environment`, unset `- KEY` entries
/// taken from the environment, services joined to the `default` network.
fn resolve(
    model: &mut ComposeFile,
    dir: &Path,
    environment: &BTreeMap<String, String>,
    sources: &[Source],
) -> Result<()> {
    let home = environment
        .get("HOME")
        .cloned()
        .unwrap_or_else(|| "/root".into());
    let abs = |p: &str| -> String {
        if let Some(rest) = p.strip_prefix("~/") {
            return format!("{home}/{rest}");
        }
        let joined = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            dir.join(p)
        };
        clean(&joined).to_string_lossy().into_owned()
    };
    let mut uses_default = false;
    for (name, s) in model.services.iter_mut() {
        if let Some(b) = &mut s.build
            && !b.context.contains("://")
        {
            b.context = abs(&b.context);
        }
        for v in &mut s.volumes {
            if v.kind == VolumeType::Bind
                && let Some(src) = &v.source
            {
                v.source = Some(abs(src));
            }
        }
        let mut from_files = BTreeMap::new();
        for f in std::mem::take(&mut s.env_file) {
            let path = PathBuf::from(abs(&f.path));
            if !path.exists() && !f.required {
                continue;
            }
            let lookup = |k: &str| environment.get(k).cloned();
            let entries = dotenv::read(&path, &lookup).map_err(|e| match e {
                Error::Io { source, .. } => {
                    let at = format!("services.{name}.env_file");
                    invalid_in(sources, &at, format!("{}: {source}", path.display()))
                }
                other => other,
            })?;
            from_files.extend(entries);
        }
        for (k, v) in from_files {
            s.environment.entry(k).or_insert(Some(v));
        }
        for (k, v) in s.environment.iter_mut() {
            if v.is_none()
                && let Some(val) = environment.get(k)
            {
                *v = Some(val.clone());
            }
        }
        if s.network_mode.is_none() && s.networks.is_empty() {
            s.networks
                .insert("default".into(), ServiceNetwork::default());
        }
        if s.networks.contains_key("default") {
            uses_default = true;
        }
    }
    if uses_default {
        model.networks.entry("default".into()).or_default();
    }
    for (_, sec) in model.secrets.iter_mut().chain(model.configs.iter_mut()) {
        if let Some(f) = &sec.file {
            sec.file = Some(abs(f));
        }
    }
    Ok(())
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// An error at `path`, placed in the last file that has it.
fn invalid_in(sources: &[Source], path: &str, message: String) -> Error {
    let segments = parse_path(path);
    let source = sources
        .iter()
        .rev()
        .find(|s| line_of(&s.text, &segments).is_some())
        .or(sources.last())
        .expect("a project has a file");
    invalid(source, path, message)
}

/// Services whose profiles are all disabled leave the model.
fn apply_profiles(model: &mut ComposeFile, enabled: &[String]) -> BTreeMap<String, Service> {
    let all = enabled.iter().any(|p| p == "*");
    let off: Vec<String> = model
        .services
        .iter()
        .filter(|(_, s)| {
            !s.profiles.is_empty() && !all && !s.profiles.iter().any(|p| enabled.contains(p))
        })
        .map(|(n, _)| n.clone())
        .collect();
    off.into_iter()
        .filter_map(|n| model.services.remove_entry(&n))
        .collect()
}

/// Whole-model checks: each service has an image or a build, references
/// name defined things, values parse, no two services publish the same
/// host port, no dependency cycle.
fn validate(model: &ComposeFile, sources: &[Source]) -> Result<()> {
    let err = |path: String, message: String| invalid_in(sources, &path, message);
    let names: Vec<&str> = model.services.keys().map(String::as_str).collect();
    let hint = |got: &str, all: &[&str]| {
        closest(got, all.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default()
    };
    let mut published: BTreeMap<(String, u16, String), String> = BTreeMap::new();
    let mut container_names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, s) in &model.services {
        let at = |k: &str| format!("services.{name}.{k}");
        if !crate::valid_service_name(name) {
            return Err(err(
                format!("services.{name}"),
                "a service name must contain only letters, digits, `.`, `_` and `-`, and start with a letter or digit".into(),
            ));
        }
        if s.image.is_none() && s.build.is_none() {
            return Err(err(
                format!("services.{name}"),
                "the service has neither an image nor a build context specified".into(),
            ));
        }
        for dep in s.depends_on.keys() {
            if !model.services.contains_key(dep) {
                return Err(err(
                    at("depends_on"),
                    format!("depends on undefined service {dep:?}{}", hint(dep, &names)),
                ));
            }
        }
        let nets: Vec<&str> = model.networks.keys().map(String::as_str).collect();
        for net in s.networks.keys() {
            if !model.networks.contains_key(net) {
                return Err(err(
                    at("networks"),
                    format!("refers to undefined network {net:?}{}", hint(net, &nets)),
                ));
            }
        }
        let vols: Vec<&str> = model.volumes.keys().map(String::as_str).collect();
        for (i, v) in s.volumes.iter().enumerate() {
            if v.kind == VolumeType::Volume
                && let Some(src) = &v.source
                && !model.volumes.contains_key(src)
            {
                return Err(err(
                    at(&format!("volumes[{i}]")),
                    format!("refers to undefined volume {src:?}{}", hint(src, &vols)),
                ));
            }
        }
        for (kind, list, defined) in [
            ("secrets", &s.secrets, &model.secrets),
            ("configs", &s.configs, &model.configs),
        ] {
            let all: Vec<&str> = defined.keys().map(String::as_str).collect();
            for sec in list {
                if !defined.contains_key(&sec.source) {
                    return Err(err(
                        at(kind),
                        format!(
                            "refers to undefined {} {:?}{}",
                            &kind[..kind.len() - 1],
                            sec.source,
                            hint(&sec.source, &all)
                        ),
                    ));
                }
            }
        }
        if let Some(r) = &s.restart {
            let ok = matches!(
                r.as_str(),
                "no" | "always" | "unless-stopped" | "on-failure"
            ) || r
                .strip_prefix("on-failure:")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            if !ok {
                return Err(err(
                    at("restart"),
                    format!(
                        "invalid restart policy {r:?} (no, always, on-failure[:N], unless-stopped)"
                    ),
                ));
            }
        }
        if let Some(h) = &s.healthcheck {
            for (k, v) in [
                ("interval", &h.interval),
                ("timeout", &h.timeout),
                ("start_period", &h.start_period),
                ("start_interval", &h.start_interval),
            ] {
                if let Some(v) = v {
                    parse_duration(v).map_err(|m| err(at(&format!("healthcheck.{k}")), m))?;
                }
            }
        }
        if let Some(g) = &s.stop_grace_period {
            parse_duration(g).map_err(|m| err(at("stop_grace_period"), m))?;
        }
        for p in &s.ports {
            if let Some(host) = p.published {
                let key = (
                    p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                    host,
                    p.protocol.clone(),
                );
                if let Some(other) = published.insert(key, name.clone())
                    && &other != name
                {
                    return Err(err(
                        at("ports"),
                        format!(
                            "host port {host}/{} is already published by service {other:?}",
                            p.protocol
                        ),
                    ));
                }
            }
        }
        if let Some(c) = &s.container_name
            && let Some(other) = container_names.insert(c, name)
        {
            return Err(err(
                at("container_name"),
                format!("container name {c:?} is already used by service {other:?}"),
            ));
        }
        if let Some(x) = &s.x_wrun
            && let Some(i) = &x.isolation
            && !matches!(i.as_str(), "process" | "namespaces" | "wasm")
        {
            return Err(err(
                at("x-wrun.isolation"),
                format!("invalid isolation {i:?} (process, namespaces, wasm)"),
            ));
        }
    }
    crate::order::start_order(model, &[])?;
    Ok(())
}
