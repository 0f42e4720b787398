//! `wrun history [--no-trunc] [-q] [--format F] IMAGE`: the steps that made an
//! image, newest first (IMAGE CREATED CREATED BY SIZE COMMENT).

use std::io::Write;

use serde_json::json;
use wrun_images::human::{ago, human_size};
use wrun_images::inspect::history_rows;

use crate::cmd::images::{no_such, open_store, write_table};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// Go's `Ellipsis`: at most `n` characters, the last one `…` when cut.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

impl HistoryArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let store = open_store(g)?;
        let image = store.lookup(&self.image).map_err(no_such)?;
        let mut out = std::io::stdout().lock();
        let mut table = vec![
            ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
                .map(String::from)
                .to_vec(),
        ];
        for row in history_rows(&image) {
            let id = match &row.id {
                Some(id) if self.no_trunc => id.clone(),
                Some(id) => id.trim_start_matches("sha256:").chars().take(12).collect(),
                None => "<missing>".into(),
            };
            let created_t = row.created.as_deref().and_then(|c| {
                time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339).ok()
            });
            let created = if self.human {
                ago(created_t)
            } else {
                row.created.clone().unwrap_or_default()
            };
            let created_by = row.created_by.replace('\t', " ");
            let created_by = if self.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            };
            let size = if self.human {
                human_size(row.size)
            } else {
                row.size.to_string()
            };
            if self.quiet {
                writeln!(out, "{id}")?;
                continue;
            }
            let v = json!({
                "ID": id, "CreatedSince": created, "CreatedAt": row.created.clone().unwrap_or_default(),
                "CreatedBy": created_by, "Size": size, "Comment": row.comment,
            });
            match self.format.as_deref() {
                Some("json") => writeln!(out, "{}", serde_json::to_string(&v)?)?,
                Some(f) if f.trim() != "table" => {
                    writeln!(out, "{}", crate::format::render(f, &v)?)?
                }
                _ => table.push(vec![id, created, created_by, size, row.comment]),
            }
        }
        let tabular = self.format.as_deref().is_none_or(|f| f.trim() == "table");
        if !self.quiet && tabular {
            write_table(&mut out, &table)?;
        }
        Ok(0)
    }
}
