//! `wrun stats [-a] [--no-stream] [--no-trunc] [--format F] [CONTAINER...]`
//!
//! Like Docker: every column comes from two samples about a second apart
//! (the CPU percentage is the difference); without `--no-stream` the table
//! is redrawn every second until interrupted.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use wrun_images::human::human_size;
use wrun_runtime::launch::Runtime;
use wrun_runtime::state::{ContainerState, Status};
use wrun_runtime::stats::{Sample, cpu_percent};

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: 'table', 'table TEMPLATE', 'json', or a Go-style template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const INTERVAL: Duration = Duration::from_secs(1);

/// The default table's columns: (heading, field).
const COLUMNS: [(&str, &str); 8] = [
    ("CONTAINER ID", "ID"),
    ("NAME", "Name"),
    ("CPU %", "CPUPerc"),
    ("MEM USAGE / LIMIT", "MemUsage"),
    ("MEM %", "MemPerc"),
    ("NET I/O", "NetIO"),
    ("BLOCK I/O", "BlockIO"),
    ("PIDS", "PIDs"),
];

impl StatsArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        super::container::daemon_errors(self.stats(g))
    }

    fn stats(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let mut before: HashMap<String, Sample> = HashMap::new();
        let mut first = true;
        loop {
            let containers = self.targets(&runtime)?;
            if first {
                for c in &containers {
                    before.insert(c.id.clone(), runtime.sample(c)?);
                }
                std::thread::sleep(INTERVAL);
                first = false;
            }
            let mut rows = Vec::new();
            let mut now = HashMap::new();
            for c in &containers {
                // Re-read: the container may have exited during the interval.
                let c = runtime.get(&c.id).unwrap_or_else(|_| c.clone());
                let after = runtime.sample(&c)?;
                let pre = before.get(&c.id).cloned().unwrap_or_default();
                rows.push(row(&c, &pre, &after, self.no_trunc));
                now.insert(c.id.clone(), after);
            }
            before = now;
            let mut out = std::io::stdout().lock();
            if !self.no_stream {
                // Clear the screen and go home, as Docker's CLI does.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            self.print(&mut out, &rows)?;
            out.flush()?;
            drop(out);
            if self.no_stream {
                return Ok(0);
            }
            std::thread::sleep(INTERVAL);
        }
    }

    /// The containers named (all of them must exist), or every running one
    /// (every one with `-a`).
    fn targets(&self, runtime: &Runtime) -> anyhow::Result<Vec<ContainerState>> {
        if self.containers.is_empty() {
            let mut all = runtime.list()?;
            all.retain(|c| self.all || c.status == Status::Running);
            return Ok(all);
        }
        self.containers
            .iter()
            .map(|k| {
                runtime
                    .get(k)
                    .map_err(|e| super::container::DaemonError(e.to_string()).into())
            })
            .collect()
    }

    fn print(&self, out: &mut impl Write, rows: &[Value]) -> anyhow::Result<()> {
        match self.format.as_deref().map(str::trim) {
            Some("json") => {
                for r in rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
            Some(f) if !f.starts_with("table") => {
                for r in rows {
                    writeln!(out, "{}", crate::format::render(f, r)?)?;
                }
            }
            Some(f) if f.len() > "table".len() => {
                // `table {{.Name}}\t{{.CPUPerc}}`: headings from the fields.
                let template = f["table".len()..].trim().replace("\\t", "\t");
                let head = template
                    .split('\t')
                    .map(|cell| heading_for(cell.trim()))
                    .collect::<Vec<_>>();
                let mut table = vec![head];
                for r in rows {
                    let line = crate::format::render(&template, r)?;
                    table.push(line.split('\t').map(str::to_string).collect());
                }
                super::images::write_table(out, &table)?;
            }
            _ => {
                let mut table = vec![COLUMNS.iter().map(|(h, _)| h.to_string()).collect()];
                for r in rows {
                    table.push(
                        COLUMNS
                            .iter()
                            .map(|(_, k)| r[*k].as_str().unwrap_or_default().to_string())
                            .collect(),
                    );
                }
                super::images::write_table(out, &table)?;
            }
        }
        Ok(())
    }
}

/// The heading Docker prints for a `{{.Field}}` cell of a table template.
fn heading_for(cell: &str) -> String {
    let field = cell
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim()
        .trim_start_matches('.');
    match field {
        "Container" => "CONTAINER".into(),
        "ID" => "CONTAINER ID".into(),
        "Name" => "NAME".into(),
        "CPUPerc" => "CPU %".into(),
        "MemUsage" => "MEM USAGE / LIMIT".into(),
        "MemPerc" => "MEM %".into(),
        "NetIO" => "NET I/O".into(),
        "BlockIO" => "BLOCK I/O".into(),
        "PIDs" => "PIDS".into(),
        other => other.to_uppercase(),
    }
}

/// One container's line, with Docker's field names (for `--format`).
fn row(c: &ContainerState, before: &Sample, after: &Sample, no_trunc: bool) -> Value {
    let id = if no_trunc { &c.id[..] } else { &c.id[..12] };
    json!({
        "BlockIO": format!("{} / {}", human_size(after.blk_read), human_size(after.blk_write)),
        "CPUPerc": format!("{:.2}%", cpu_percent(before, after)),
        "Container": id,
        "ID": id,
        "MemPerc": format!("{:.2}%", after.mem_percent()),
        "MemUsage": format!("{} / {}", bytes_size(after.mem_usage), bytes_size(after.mem_limit)),
        "Name": c.name,
        "NetIO": format!("{} / {}", human_size(after.net_rx), human_size(after.net_tx)),
        "PIDs": after.pids.to_string(),
    })
}

/// Docker's `units.BytesSize`: binary units, four significant digits
/// (`0B`, `1.5MiB`, `64MiB`, `1.944GiB`).
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", sig4(v), UNITS[i])
}

/// `%.4g` for 0 <= v < 1024: four significant digits, trailing zeros dropped.
fn sig4(v: f64) -> String {
    let decimals = match v {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_like_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1000), "1000B");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1_572_864), "1.5MiB");
        assert_eq!(bytes_size(2_087_354_368), "1.944GiB");
        assert_eq!(bytes_size(1_613_824), "1.539MiB");
    }

    #[test]
    fn table_headings() {
        assert_eq!(heading_for("{{.Name}}"), "NAME");
        assert_eq!(heading_for("{{ .MemUsage }}"), "MEM USAGE / LIMIT");
        assert_eq!(heading_for("{{.PIDs}}"), "PIDS");
    }

    #[test]
    fn row_fields() {
        let before = Sample::default();
        let after = Sample {
            cpu_ns: 1,
            system_ns: 4,
            online_cpus: 1,
            mem_usage: 1 << 20,
            mem_limit: 64 << 20,
            pids: 2,
            ..Default::default()
        };
        let state: ContainerState = serde_json::from_value(json!({
            "id": "ab".repeat(32), "name": "web", "image": "busybox", "image_id": "sha256:0",
            "command": ["sh"], "created": "2026-01-01T00:00:00Z", "status": "running"
        }))
        .unwrap();
        let r = row(&state, &before, &after, false);
        assert_eq!(r["ID"], "abababababab");
        assert_eq!(r["CPUPerc"], "25.00%");
        assert_eq!(r["MemUsage"], "1MiB / 64MiB");
        assert_eq!(r["MemPerc"], "1.56%");
        assert_eq!(r["PIDs"], "2");
        assert_eq!(r["NetIO"], "0B / 0B");
    }
}
