//! `wrun top CONTAINER [ps OPTIONS]`
//!
//! As Docker does: run the host's `ps` with the options (default `-ef`),
//! find the PID column in its heading, and keep the lines whose pid is in
//! the container's cgroup. The pids are the host's.

use std::io::Write;
use std::process::Command;

use super::container::{DaemonError, daemon_errors};
use crate::global::Global;

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(value_name = "ps OPTIONS", allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `ps` output reduced to the container's processes: headings, then one
/// row per process, each split into as many cells as there are headings
/// (the last cell, the command, keeps its spaces).
#[derive(Debug, PartialEq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Parses `ps` output and keeps the rows of `pids` (Docker's
/// `parsePSOutput`).
pub fn parse_ps(output: &str, pids: &[i32]) -> anyhow::Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| anyhow::anyhow!("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells = split_cells(line, titles.len());
        let pid: i32 = cells
            .get(pid_col)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!("unexpected pid {:?} in ps output", cells.get(pid_col))
            })?;
        if pids.contains(&pid) {
            processes.push(cells);
        }
    }
    Ok(Top { titles, processes })
}

/// Splits `line` at whitespace into at most `n` cells; the last keeps the
/// rest of the line.
fn split_cells(line: &str, n: usize) -> Vec<String> {
    let mut cells = Vec::new();
    let mut rest = line.trim_start();
    while cells.len() + 1 < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        cells.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        cells.push(rest.trim_end().to_string());
    }
    cells
}

/// Docker's top table: tab stops at least 20 wide, 3 spaces of padding.
fn write_top(out: &mut impl Write, top: &Top) -> std::io::Result<()> {
    let mut width: Vec<usize> = top.titles.iter().map(|t| (t.len() + 3).max(20)).collect();
    for row in &top.processes {
        for (i, c) in row.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.chars().count() + 3);
            }
        }
    }
    for row in std::iter::once(&top.titles).chain(&top.processes) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', width[i] - c.chars().count()));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

impl TopArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        daemon_errors(self.top(g))
    }

    fn top(self, g: &Global) -> anyhow::Result<i32> {
        let daemon =
            |e: &dyn std::fmt::Display| -> anyhow::Error { DaemonError(e.to_string()).into() };
        let runtime = super::run::open_runtime(g)?;
        let pids = runtime
            .container_pids(&self.container)
            .map_err(|e| daemon(&e))?;
        let args: Vec<String> = if self.ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            self.ps_args.clone()
        };
        let output = Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| daemon(&format!("running ps: {e}")))?;
        if !output.status.success() {
            return Err(daemon(&format!(
                "ps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let top =
            parse_ps(&String::from_utf8_lossy(&output.stdout), &pids).map_err(|e| daemon(&e))?;
        write_top(&mut std::io::stdout().lock(), &top)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 07:00 ?        00:00:01 /sbin/init splash
root        4242    4240  0 07:50 ?        00:00:00 wrun-shim /var/lib/wrun/containers/x
root        4243    4242  0 07:50 ?        00:00:00 sleep 30
";

    #[test]
    fn keeps_only_the_containers_pids() {
        let top = parse_ps(PS_EF, &[4242, 4243]).unwrap();
        assert_eq!(
            top.titles,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[1][7], "sleep 30");
        assert_eq!(top.processes[0][1], "4242");
    }

    #[test]
    fn pid_column_found_anywhere_or_refused() {
        let top = parse_ps("USER PID %CPU COMMAND\nroot 7 0.0 sh -c x\n", &[7]).unwrap();
        assert_eq!(top.processes, [vec!["root", "7", "0.0", "sh -c x"]]);
        let e = parse_ps("USER COMMAND\nroot sh\n", &[7]).unwrap_err();
        assert!(e.to_string().contains("PID"), "{e}");
    }

    #[test]
    fn table_like_docker() {
        let top = parse_ps(PS_EF, &[4243]).unwrap();
        let mut out = Vec::new();
        write_top(&mut out, &top).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("UID                 PID                 PPID"),
            "{text}"
        );
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .ends_with("00:00:00            sleep 30")
        );
    }

    #[test]
    fn ps_options_follow_the_container() {
        use clap::Parser;
        let cli =
            crate::cmd::Cli::try_parse_from(["wrun", "top", "web", "-o", "pid,comm"]).unwrap();
        match cli.command {
            crate::cmd::Command::Top(a) => {
                assert_eq!(a.container, "web");
                assert_eq!(a.ps_args, ["-o", "pid,comm"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
