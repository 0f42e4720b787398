//! `wrun images [-a] [-q] [--no-trunc] [--digests] [--format F] [REPOSITORY[:TAG]]`:
//! Docker's table (REPOSITORY TAG IMAGE ID CREATED SIZE), one row per tag,
//! `<none>` for dangling images, newest first. Also the helpers the other
//! image commands share: opening the store, Docker's "No such image" error,
//! and a tabwriter with Docker's column layout.

use std::io::Write;

use serde_json::{Value, json};
use wrun_images::human::{ago, human_size};
use wrun_images::{Error as ImageError, Image, Reference, Store};

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go-style template
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

/// The fields a row offers to `--format`, with Docker's names.
fn row_json(img: &Image, tag: Option<&str>, no_trunc: bool) -> Value {
    let (repo, tag_s) = match tag.and_then(|t| Reference::parse(t).ok()) {
        Some(r) => (
            r.familiar_repository(),
            r.tag().unwrap_or("<none>").to_owned(),
        ),
        None => ("<none>".to_owned(), "<none>".to_owned()),
    };
    let digest = img
        .repo_digests
        .iter()
        .find(|d| d.starts_with(&format!("{repo}@")))
        .and_then(|d| d.split_once('@'))
        .map(|(_, d)| d.to_owned())
        .unwrap_or_else(|| "<none>".into());
    let id = if no_trunc {
        img.id.clone()
    } else {
        img.short_id().to_owned()
    };
    let created_at = img
        .created()
        .map(|t| {
            let f = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
            );
            t.to_offset(time::UtcOffset::UTC)
                .format(&f)
                .unwrap_or_default()
        })
        .unwrap_or_default();
    json!({
        "Containers": "N/A",
        "CreatedAt": created_at,
        "CreatedSince": ago(img.created()),
        "Digest": digest,
        "ID": id,
        "Repository": repo,
        "SharedSize": "N/A",
        "Size": human_size(img.size),
        "Tag": tag_s,
        "UniqueSize": "N/A",
        "VirtualSize": human_size(img.size),
    })
}

impl ImagesArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        let want = match &self.repository {
            Some(r) => Some(Reference::parse(r).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let mut dangling = None;
        let mut ref_patterns = Vec::new();
        for f in &self.filter {
            match f.split_once('=') {
                Some(("dangling", v)) => dangling = Some(matches!(v, "true" | "1")),
                Some(("reference", v)) => ref_patterns.push(v.to_owned()),
                _ => anyhow::bail!("invalid filter '{f}'"),
            }
        }
        let mut rows: Vec<Value> = Vec::new();
        for img in store.images()? {
            if dangling.is_some_and(|d| d != img.is_dangling()) {
                continue;
            }
            let tags: Vec<Option<&str>> = if img.names.is_empty() {
                // A dangling image matches no repository filter.
                if want.is_some() || !ref_patterns.is_empty() {
                    continue;
                }
                vec![None]
            } else {
                img.names.iter().map(|n| Some(n.as_str())).collect()
            };
            for t in tags {
                if let (Some(w), Some(name)) = (&want, t) {
                    let r = Reference::parse(name).ok();
                    let same_repo = r.as_ref().is_some_and(|r| r.repository() == w.repository());
                    let same_tag = w.tag().is_none() || r.as_ref().and_then(|r| r.tag()) == w.tag();
                    if !(same_repo && same_tag) {
                        continue;
                    }
                }
                if let Some(name) = t {
                    let fam = wrun_images::reference::familiar_name(name);
                    if !ref_patterns.is_empty() && !ref_patterns.iter().any(|p| glob(p, &fam)) {
                        continue;
                    }
                }
                rows.push(row_json(&img, t, self.no_trunc));
            }
        }
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for r in &rows {
                writeln!(out, "{}", r["ID"].as_str().unwrap_or(""))?;
            }
            return Ok(0);
        }
        match self.format.as_deref() {
            Some("json") => {
                for r in &rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
            Some(f) if f.starts_with("table") && f.trim() != "table" => {
                let tmpl = f["table".len()..].trim();
                let mut table = vec![header_for(tmpl)];
                for r in &rows {
                    table.push(
                        crate::format::render(tmpl, r)?
                            .split('\t')
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                write_table(&mut out, &table)?;
            }
            Some(f) if f.trim() != "table" => {
                for r in &rows {
                    writeln!(out, "{}", crate::format::render(f, r)?)?;
                }
            }
            _ => {
                let mut head = vec!["REPOSITORY", "TAG"];
                if self.digests {
                    head.push("DIGEST");
                }
                head.extend(["IMAGE ID", "CREATED", "SIZE"]);
                let mut table = vec![head.into_iter().map(String::from).collect::<Vec<_>>()];
                for r in &rows {
                    let mut cells = vec![s(&r["Repository"]), s(&r["Tag"])];
                    if self.digests {
                        cells.push(s(&r["Digest"]));
                    }
                    cells.extend([s(&r["ID"]), s(&r["CreatedSince"]), s(&r["Size"])]);
                    table.push(cells);
                }
                write_table(&mut out, &table)?;
            }
        }
        Ok(0)
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Column headers for a `table` template, Docker's names for known fields.
fn header_for(tmpl: &str) -> Vec<String> {
    tmpl.split('\t')
        .map(|cell| {
            let field = cell
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim()
                .trim_start_matches('.');
            match field {
                "ID" => "IMAGE ID".into(),
                "CreatedSince" => "CREATED".into(),
                "CreatedAt" => "CREATED AT".into(),
                "VirtualSize" => "VIRTUAL SIZE".into(),
                other => other.to_uppercase(),
            }
        })
        .collect()
}

/// `*` and `?` wildcards, as Docker's `reference=` filter takes them.
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
        || (!pattern.contains(':')
            && m(
                pattern.as_bytes(),
                s.split(':').next().unwrap_or(s).as_bytes(),
            ))
}

/// Docker's table layout (Go's tabwriter with minwidth 10, padding 3):
/// every column but the last is padded to its widest cell plus 3.
pub(crate) fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count() + 3).max(10);
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.extend(std::iter::repeat_n(' ', width[i] - c.chars().count()));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Opens the image store under `--root`.
pub(crate) fn open_store(g: &Global) -> anyhow::Result<Store> {
    Ok(Store::open(&g.root)?)
}

/// Docker's wording for an unknown image outside `run`: `No such image: x:latest`.
pub(crate) fn no_such(e: ImageError) -> anyhow::Error {
    match e {
        ImageError::ImageNotFound { reference } => anyhow::anyhow!("No such image: {reference}"),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout_matches_docker() {
        let rows = vec![
            vec![
                "REPOSITORY".into(),
                "TAG".into(),
                "IMAGE ID".into(),
                "SIZE".into(),
            ],
            vec![
                "busybox".into(),
                "latest".into(),
                "a416a98b71e2".into(),
                "4.26MB".into(),
            ],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "REPOSITORY   TAG       IMAGE ID       SIZE\nbusybox      latest    a416a98b71e2   4.26MB\n"
        );
    }

    #[test]
    fn reference_filter_globs() {
        assert!(glob("busy*", "busybox:latest"));
        assert!(glob("busybox:lat*", "busybox:latest"));
        assert!(!glob("alpine*", "busybox:latest"));
    }
}
