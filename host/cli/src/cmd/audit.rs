//! `wrun audit [-f] [--format json|table] CONTAINER`: the decisions the
//! policy of a `--isolation wasm` container made (see docs/policy.md).

use std::io::{BufRead, Seek, SeekFrom, Write};
use std::time::Duration;

use wrun_supervisor::{AUDIT_FILE, Record};

use crate::global::Global;

#[derive(Debug, clap::Args)]
#[command(about = "Show the policy decisions of a container")]
pub struct AuditArgs {
    /// Follow the log until the container stops
    #[arg(short, long)]
    pub follow: bool,
    /// Output format: table (default) or json (one record per line)
    #[arg(long, default_value = "table")]
    pub format: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

impl AuditArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let format = match self.format.as_str() {
            "table" => Format::Table,
            "json" => Format::Json,
            other => anyhow::bail!("invalid value {other:?} for --format: expected json or table"),
        };
        let runtime = super::run::open_runtime(g)?;
        let state = runtime.get(&self.container).map_err(|e| {
            crate::exit::ExitError::new(1, format!("Error response from daemon: {e}"))
        })?;
        if state.host.policy.is_none() {
            return Err(crate::exit::ExitError::new(
                1,
                format!(
                    "Error response from daemon: container {} has no policy (run it with --isolation wasm --policy NAME)",
                    state.name
                ),
            )
            .into());
        }
        let path = runtime.containers().dir(&state.id).join(AUDIT_FILE);
        let mut out = std::io::stdout().lock();
        if format == Format::Table {
            writeln!(
                out,
                "{:<27} {:>7} {:<9} {:<6} {:>5} {:>9}  PATH/ADDRESS",
                "TIME", "PID", "OP", "RESULT", "ERRNO", "LATENCY"
            )?;
        }
        let mut reader = Reader::open(&path)?;
        reader.print(&mut out, format)?;
        if !self.follow {
            return Ok(0);
        }
        super::logs::follow_until_stopped(&runtime, &state.id, Duration::from_millis(100), || {
            reader.print(&mut out, format)
        })?;
        Ok(0)
    }
}

/// Reads whole lines of the log from where the last read ended.
struct Reader {
    path: std::path::PathBuf,
    offset: u64,
}

impl Reader {
    fn open(path: &std::path::Path) -> anyhow::Result<Reader> {
        Ok(Reader {
            path: path.to_owned(),
            offset: 0,
        })
    }

    fn print(&mut self, out: &mut impl Write, format: Format) -> anyhow::Result<()> {
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            // Nothing was audited yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", self.path.display())),
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut r = std::io::BufReader::new(f);
        let mut line = String::new();
        loop {
            line.clear();
            let n = r.read_line(&mut line)?;
            // A line still being written is read again next time.
            if n == 0 || !line.ends_with('\n') {
                return Ok(());
            }
            self.offset += n as u64;
            let rec: Record = serde_json::from_str(&line).map_err(|e| {
                anyhow::anyhow!("{}: not an audit record: {e}", self.path.display())
            })?;
            match format {
                Format::Json => out.write_all(line.as_bytes())?,
                Format::Table => writeln!(out, "{}", table_row(&rec))?,
            }
        }
    }
}

fn table_row(r: &Record) -> String {
    let mut what = r.target();
    if let Some(reason) = &r.reason {
        what.push_str(&format!(" ({reason})"));
    }
    format!(
        "{:<27} {:>7} {:<9} {:<6} {:>5} {:>7}µs  {}",
        r.time,
        r.pid,
        r.op,
        r.decision,
        if r.errno == 0 {
            "-".to_string()
        } else {
            r.errno.to_string()
        },
        r.latency_us,
        what
    )
}
