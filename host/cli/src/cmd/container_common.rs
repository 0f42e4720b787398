//! What the container commands share: Docker's STATUS and COMMAND columns,
//! and running one action over several containers the way Docker does
//! (each named on success, an error line per failure, exit 1 if any
//! failed).

use std::time::Duration;

use wrun_images::human::human_duration;
use wrun_runtime::state::{ContainerState, Status};

/// Seconds since an RFC 3339 time, or `None` if it does not parse.
pub fn since(rfc3339: Option<&str>) -> Option<Duration> {
    let t = time::OffsetDateTime::parse(rfc3339?, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let d = time::OffsetDateTime::now_utc() - t;
    Some(Duration::from_secs_f64(d.as_seconds_f64().max(0.0)))
}

/// `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
pub fn status_text(s: &ContainerState) -> String {
    match s.status {
        Status::Running => format!(
            "Up {}",
            human_duration(since(s.started_at.as_deref()).unwrap_or_default())
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code.unwrap_or(0),
            human_duration(since(s.finished_at.as_deref()).unwrap_or_default())
        ),
        Status::Created => "Created".into(),
    }
}

/// [`status_text`] with the health in brackets while a running container
/// has a healthcheck: `Up 3 seconds (healthy)`, `(health: starting)`.
pub fn status_with_health(s: &ContainerState, dir: &std::path::Path) -> String {
    let text = status_text(s);
    if s.status != Status::Running {
        return text;
    }
    match wrun_runtime::health::read_state(dir) {
        Some(h) if h.status == "starting" => format!("{text} (health: starting)"),
        Some(h) => format!("{text} ({})", h.status),
        None => text,
    }
}

/// Docker's COMMAND column: the command line in quotes, cut at 20
/// characters with an ellipsis unless `--no-trunc`.
pub fn command_text(command: &[String], no_trunc: bool) -> String {
    let full = command.join(" ");
    if no_trunc || full.chars().count() <= 20 {
        return format!("\"{full}\"");
    }
    let cut: String = full.chars().take(19).collect();
    format!("\"{cut}…\"")
}

/// Runs `action` on each named container; prints the name on success and
/// `Error response from daemon: …` on failure, as Docker does.
pub fn for_each(
    names: &[String],
    mut action: impl FnMut(&str) -> Result<(), wrun_runtime::Error>,
) -> i32 {
    let mut code = 0;
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_column() {
        let cmd: Vec<String> = ["sh", "-c", "while true; do sleep 1; done"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_text(&cmd, false), "\"sh -c while true; d…\"");
        assert_eq!(command_text(&cmd[..1], false), "\"sh\"");
        assert_eq!(
            command_text(&cmd, true),
            "\"sh -c while true; do sleep 1; done\""
        );
    }
}
