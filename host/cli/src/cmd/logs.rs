//! `wrun logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER`

use std::io::Write;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wrun_runtime::logs::{Entry, Follower, Stream, log_path, read_rotated};
use wrun_runtime::state::Status;

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Parses `--since`/`--until`: RFC 3339, a Unix time in seconds, or a Go
/// duration before now (`42m`, `1h30m`, `10s`).
pub(crate) fn parse_time(flag: &str, text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
            .map_err(|e| anyhow::anyhow!("invalid value {text:?} for {flag}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        anyhow::bail!("invalid value {text:?} for {flag}");
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| {
            anyhow::anyhow!(
                "invalid value {text:?} for {flag}: expected a time or a duration like 42m"
            )
        })?;
        total += n * match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => anyhow::bail!("invalid value {text:?} for {flag}: unknown unit {unit:?}"),
        };
        rest = next;
    }
    Ok(OffsetDateTime::now_utc() - Duration::from_secs_f64(total))
}

impl LogsArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let tail: Option<usize> = match self.tail.as_str() {
            "all" | "-1" => None,
            n => Some(n.parse().map_err(|_| {
                anyhow::anyhow!("invalid value {n:?} for --tail: expected a number or \"all\"")
            })?),
        };
        let since = self
            .since
            .as_deref()
            .map(|t| parse_time("--since", t))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|t| parse_time("--until", t))
            .transpose()?;
        let runtime = super::run::open_runtime(g)?;
        let state = runtime.get(&self.container).map_err(|e| {
            crate::exit::ExitError::new(1, format!("Error response from daemon: {e}"))
        })?;
        let dir = runtime.containers().dir(&state.id);
        let path = log_path(&dir);
        let keep = |e: &Entry| {
            let t = OffsetDateTime::parse(&e.time, &Rfc3339).ok();
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && until.is_none_or(|u| t.is_some_and(|t| t <= u))
        };

        // Rotated files first, then the current one through the follower,
        // which then goes on from exactly where the first read ended.
        let mut follower = Follower::from_start(&path)?;
        let mut entries = read_rotated(&path, state.host.log.max_file)?;
        entries.extend(follower.poll()?);
        entries.retain(keep);
        if let Some(n) = tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        self.print(&entries)?;
        if !self.follow {
            return Ok(0);
        }
        follow_until_stopped(&runtime, &state.id, Duration::from_millis(50), || {
            let mut new = follower.poll()?;
            new.retain(keep);
            self.print(&new)
        })?;
        Ok(0)
    }

    fn print(&self, entries: &[Entry]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for e in entries {
            let w: &mut dyn Write = match e.stream {
                Stream::Stdout => &mut out,
                Stream::Stderr => &mut err,
            };
            if self.timestamps {
                write!(w, "{} ", e.time)?;
            }
            w.write_all(e.log.as_bytes())?;
        }
        out.flush()?;
        Ok(())
    }
}

/// `-f` of `logs` and `audit`: calls `read` every `interval` while the
/// container runs, then once more after it has stopped for what it wrote
/// just before its exit.
pub(crate) fn follow_until_stopped(
    runtime: &wrun_runtime::launch::Runtime,
    id: &str,
    interval: Duration,
    mut read: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    loop {
        let running = runtime
            .reconcile(id)
            .ok()
            .flatten()
            .is_some_and(|s| s.status == Status::Running);
        read()?;
        if !running {
            return read();
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        let t = parse_time("--since", "2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_704_164_645);
        assert_eq!(
            parse_time("--since", "1704164645")
                .unwrap()
                .unix_timestamp(),
            1_704_164_645
        );
        let ago = OffsetDateTime::now_utc() - parse_time("--since", "1h30m").unwrap();
        assert!((ago.whole_seconds() - 5400).abs() <= 2);
        for bad in ["", "5 minutes", "10q", "yesterday"] {
            let err = parse_time("--since", bad).unwrap_err().to_string();
            assert!(err.contains("--since"), "{err}");
        }
    }
}
