//! `wrun import`: a root filesystem tarball becomes a one-layer image.
//!
//! As with `docker import`, the config starts empty (no Env, no Cmd) and
//! `--change` applies Dockerfile instructions to it: `CMD`, `ENTRYPOINT`,
//! `ENV`, `EXPOSE`, `WORKDIR`, `USER`, `LABEL`, `STOPSIGNAL`, `VOLUME`, in
//! shell or JSON form. The tarball (plain or gzip) is read once: hashed,
//! kept as the layer blob and unpacked in the same pass.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::{Config, ConfigBuilder, HistoryBuilder, ImageConfiguration, RootFsBuilder};

use crate::reference::Reference;
use crate::store::{NewImage, Store, Txn, now_rfc3339};
use crate::{Error, Result};

/// What to import and how to describe it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `REPO[:TAG]` to name the image, if any.
    pub reference: Option<String>,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
    /// The history comment (`-m`); default `Imported from <source>`.
    pub message: Option<String>,
    /// Where the tarball came from, for the default comment and errors
    /// (`-` for stdin).
    pub source: String,
}

/// Imports a rootfs tarball; returns the new image id. On any error the
/// store is unchanged.
pub fn import<R: Read + Send>(store: &Store, reader: R, opts: &ImportOptions) -> Result<String> {
    let names = match &opts.reference {
        Some(r) => {
            let r = Reference::parse_normalized(r)?;
            if r.digest().is_some() {
                return Err(Error::InvalidReference {
                    reference: r.familiar(),
                    reason: "an imported image cannot be named by digest".into(),
                });
            }
            vec![r.to_string()]
        }
        None => Vec::new(),
    };
    let mut cfg = Config::default();
    for c in &opts.changes {
        apply_change(&mut cfg, c)?;
    }
    let mut txn = Txn::new(store);
    let layer = txn
        .add_layer(reader, None)
        .map_err(|e| e.in_file(&opts.source))?;
    let created = now_rfc3339();
    let comment = opts
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", opts.source));
    let history = HistoryBuilder::default()
        .created(created.clone())
        .comment(comment)
        .created_by(String::new())
        .build()
        .map_err(|e| Error::format("history", e.to_string()))?;
    let mut config = ImageConfiguration::default();
    config.set_created(Some(created));
    config.set_architecture(host_arch().into());
    config.set_os("linux".into());
    if cfg != Config::default() {
        config.set_config(Some(cfg));
    }
    config.set_rootfs(
        RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![layer.diff_id.clone()])
            .build()
            .map_err(|e| Error::format("rootfs", e.to_string()))?,
    );
    config.set_history(Some(vec![history]));
    let raw = serde_json::to_vec(&config).expect("config serializes");
    let ids = txn.commit(vec![NewImage {
        config: raw,
        layers: vec![layer],
        names,
    }])?;
    Ok(ids.into_iter().next().expect("one image"))
}

/// The host architecture in Go's names (`amd64`, `arm64`), as image configs use.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Applies one Dockerfile instruction to `cfg`, as `docker import --change`
/// and `docker commit --change` do.
pub fn apply_change(cfg: &mut Config, change: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidChange {
        value: change.to_owned(),
        reason: reason.into(),
    };
    let trimmed = change.trim();
    let (instr, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (trimmed, ""),
    };
    let instr = instr.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(bad(&format!("{instr} requires at least one argument")));
    }
    match instr.as_str() {
        "CMD" => {
            cfg.set_cmd(Some(exec_or_shell(rest)));
        }
        "ENTRYPOINT" => {
            cfg.set_entrypoint(Some(exec_or_shell(rest)));
        }
        "ENV" => {
            let pairs = key_values(rest, true).map_err(|r| bad(&r))?;
            let mut env = cfg.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(a, _)| a) != k);
                env.push(format!("{k}={v}"));
            }
            cfg.set_env(Some(env));
        }
        "LABEL" => {
            let pairs = key_values(rest, false).map_err(|r| bad(&r))?;
            let mut labels: HashMap<String, String> = cfg.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            cfg.set_labels(Some(labels));
        }
        "EXPOSE" => {
            let mut ports = cfg.exposed_ports().clone().unwrap_or_default();
            for p in words(rest).map_err(|r| bad(&r))? {
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let ok_num = !num.is_empty()
                    && num
                        .split('-')
                        .all(|n| n.parse::<u16>().is_ok_and(|x| x > 0));
                if !ok_num || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(&format!("invalid port \"{p}\"")));
                }
                let spec = format!("{num}/{proto}");
                if !ports.contains(&spec) {
                    ports.push(spec);
                }
            }
            cfg.set_exposed_ports(Some(ports));
        }
        "WORKDIR" => {
            let w = words(rest).map_err(|r| bad(&r))?.join(" ");
            let joined = if w.starts_with('/') {
                w
            } else {
                let base = cfg.working_dir().clone().unwrap_or_else(|| "/".into());
                format!("{}/{w}", base.trim_end_matches('/'))
            };
            cfg.set_working_dir(Some(joined));
        }
        "USER" => {
            cfg.set_user(Some(rest.to_owned()));
        }
        "STOPSIGNAL" => {
            cfg.set_stop_signal(Some(rest.to_owned()));
        }
        "VOLUME" => {
            let vols = match json_array(rest) {
                Some(v) => v,
                None => words(rest).map_err(|r| bad(&r))?,
            };
            let mut all = cfg.volumes().clone().unwrap_or_default();
            for v in vols {
                if v.is_empty() {
                    return Err(bad("VOLUME specified can not be an empty string"));
                }
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            cfg.set_volumes(Some(all));
        }
        other => {
            return Err(bad(&format!(
                "{other} is not a valid change command (want one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"
            )));
        }
    }
    Ok(())
}

/// JSON (exec) form when `s` is a JSON array of strings, else shell form.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.into()])
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if s.starts_with('[') {
        serde_json::from_str::<Vec<String>>(s).ok()
    } else {
        None
    }
}

/// Splits words as a Dockerfile does: whitespace separates, quotes group,
/// backslash escapes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (_, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"`; with `legacy`, also `ENV key value with spaces`.
fn key_values(s: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let ws = words(s)?;
    let first_has_eq = ws.first().is_some_and(|w| w.contains('='));
    if legacy && !first_has_eq {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or("ENV names a variable without a value")?;
        let v = words(v.trim())?.join(" ");
        return Ok(vec![(k.to_owned(), v)]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("empty key in \"{w}\"")),
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(format!("\"{w}\" is not of the form key=value")),
        })
        .collect()
}

/// A `Config` with only what `changes` set, for tests and `commit`.
pub fn config_from_changes(changes: &[&str]) -> Result<Config> {
    let mut c = ConfigBuilder::default()
        .build()
        .map_err(|e| Error::format("config", e.to_string()))?;
    for ch in changes {
        apply_change(&mut c, ch)?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_in_shell_and_json_form() {
        let c = config_from_changes(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/app --flag",
            "ENV A=1 B=\"two words\"",
            "ENV C three words here",
            "ENV A=override",
            "EXPOSE 80 53/udp",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "LABEL org.x=y \"k 2\"=v",
            "STOPSIGNAL SIGTERM",
            r#"VOLUME ["/data"]"#,
            "volume /logs /cache",
        ])
        .unwrap();
        assert_eq!(c.cmd().clone().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint().clone().unwrap(),
            ["/bin/sh", "-c", "/bin/app --flag"]
        );
        assert_eq!(
            c.env().clone().unwrap(),
            ["B=two words", "C=three words here", "A=override"]
        );
        assert_eq!(c.exposed_ports().clone().unwrap(), ["80/tcp", "53/udp"]);
        assert_eq!(c.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        let l = c.labels().clone().unwrap();
        assert_eq!((l["org.x"].as_str(), l["k 2"].as_str()), ("y", "v"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGTERM"));
        assert_eq!(c.volumes().clone().unwrap(), ["/data", "/logs", "/cache"]);
    }

    #[test]
    fn bad_changes_name_the_value() {
        for bad in [
            "FROM x",
            "CMD",
            "EXPOSE http",
            "EXPOSE 80/xyz",
            "LABEL novalue",
            "ENV A=\"x",
        ] {
            let e = config_from_changes(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
