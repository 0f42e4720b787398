//! `wrun ps [-a] [-q] [--no-trunc] [--filter K=V] [--format F]`

use std::io::Write;

use serde_json::{Value, json};
use wrun_runtime::state::{ContainerState, Containers, Status};

use super::container_common::{command_text, since, status_with_health};
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (name=, id=, status=, label=)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go-style template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
}

/// One `--filter`.
#[derive(Debug, PartialEq)]
enum Filter {
    Name(NamePattern),
    Id(String),
    Status(Status),
    Label(String, Option<String>),
}

/// A `name=` filter's regular expression, compared by its text.
#[derive(Debug, Clone)]
struct NamePattern(regex::Regex);

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for NamePattern {}

fn parse_filter(f: &str) -> anyhow::Result<Filter> {
    let (key, value) = f
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))?;
    Ok(match key {
        // A regular expression, as Docker's: `name=^web$` is one name.
        "name" => {
            Filter::Name(NamePattern(regex::Regex::new(value).map_err(|e| {
                anyhow::anyhow!("invalid filter 'name={value}': {e}")
            })?))
        }
        "id" => Filter::Id(value.to_string()),
        "status" => Filter::Status(match value {
            "created" => Status::Created,
            "running" => Status::Running,
            "exited" => Status::Exited,
            other => anyhow::bail!(
                "invalid filter 'status={other}': valid values are created, running, exited"
            ),
        }),
        "label" => match value.split_once('=') {
            Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
            None => Filter::Label(value.to_string(), None),
        },
        other => anyhow::bail!("invalid filter '{other}'"),
    })
}

impl Filter {
    fn matches(&self, c: &ContainerState) -> bool {
        match self {
            // Docker's names carry a leading slash; either form matches.
            Filter::Name(NamePattern(n)) => {
                n.is_match(&c.name) || n.is_match(&format!("/{}", c.name))
            }
            Filter::Id(i) => c.id.starts_with(i.as_str()),
            Filter::Status(s) => c.status == *s,
            Filter::Label(k, v) => match (c.host.labels.get(k), v) {
                (Some(_), None) => true,
                (Some(have), Some(want)) => have == want,
                (None, _) => false,
            },
        }
    }
}

fn row(c: &ContainerState, no_trunc: bool, containers: &Containers) -> Value {
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id[..12].to_string() },
        "Image": c.image,
        "Command": command_text(&c.command, no_trunc),
        "CreatedAt": c.created,
        "RunningFor": wrun_images::human::human_duration(since(Some(&c.created)).unwrap_or_default()) + " ago",
        "Status": status_with_health(c, &containers.dir(&c.id)),
        "State": c.status.as_str(),
        "Ports": ports_text(c, containers),
        "Names": c.name,
        "Labels": c.host.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

/// Docker's PORTS column: `0.0.0.0:5000->5000/tcp, 127.0.0.1:8080->80/tcp`.
fn ports_text(c: &ContainerState, containers: &Containers) -> String {
    if c.status != Status::Running {
        return String::new();
    }
    wrun_runtime::network::ports::load_ports(&containers.dir(&c.id))
        .unwrap_or_default()
        .iter()
        .map(|m| format!("{}->{}", m.host_addr(), m.container_key()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PsArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let filters: Vec<Filter> = self
            .filter
            .iter()
            .map(|f| parse_filter(f))
            .collect::<anyhow::Result<_>>()?;
        let runtime = super::run::open_runtime(g)?;
        let mut list = runtime.list()?;
        let limit = if self.latest { 1 } else { self.last };
        let all = self.all || limit >= 0 || filters.iter().any(|f| matches!(f, Filter::Status(_)));
        list.retain(|c| {
            (all || c.status == Status::Running) && filters.iter().all(|f| f.matches(c))
        });
        if limit >= 0 {
            list.truncate(limit as usize);
        }
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for c in &list {
                writeln!(
                    out,
                    "{}",
                    if self.no_trunc {
                        &c.id[..]
                    } else {
                        &c.id[..12]
                    }
                )?;
            }
            return Ok(0);
        }
        match self.format.as_deref().map(str::trim) {
            Some("json") => {
                for c in &list {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&row(c, self.no_trunc, runtime.containers()))?
                    )?;
                }
            }
            Some(f) if !f.starts_with("table") => {
                for c in &list {
                    writeln!(
                        out,
                        "{}",
                        crate::format::render(f, &row(c, self.no_trunc, runtime.containers()))?
                    )?;
                }
            }
            _ => {
                let mut table = vec![
                    [
                        "CONTAINER ID",
                        "IMAGE",
                        "COMMAND",
                        "CREATED",
                        "STATUS",
                        "PORTS",
                        "NAMES",
                    ]
                    .map(String::from)
                    .to_vec(),
                ];
                for c in &list {
                    let r = row(c, self.no_trunc, runtime.containers());
                    table.push(
                        [
                            "ID",
                            "Image",
                            "Command",
                            "RunningFor",
                            "Status",
                            "Ports",
                            "Names",
                        ]
                        .iter()
                        .map(|k| r[*k].as_str().unwrap_or_default().to_string())
                        .collect(),
                    );
                }
                super::images::write_table(&mut out, &table)?;
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse_unknowns() {
        assert_eq!(
            parse_filter("name=web").unwrap(),
            Filter::Name(NamePattern(regex::Regex::new("web").unwrap()))
        );
        assert_eq!(
            parse_filter("status=exited").unwrap(),
            Filter::Status(Status::Exited)
        );
        assert_eq!(
            parse_filter("label=a=b").unwrap(),
            Filter::Label("a".into(), Some("b".into()))
        );
        assert!(
            parse_filter("colour=red")
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        assert!(
            parse_filter("status=sleepy")
                .unwrap_err()
                .to_string()
                .contains("sleepy")
        );
        assert!(parse_filter("name").is_err());
        let err = parse_filter("name=[web").unwrap_err().to_string();
        assert!(err.starts_with("invalid filter 'name=[web'"), "{err}");
    }
}
