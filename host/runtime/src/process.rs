//! Processes wrun did not start in this invocation: the monitor and shim
//! of a container started earlier. A pid alone is not an identity — the
//! kernel reuses pids — so every pid wrun stores comes with the process's
//! start time (field 22 of `/proc/PID/stat`, clock ticks since boot), and
//! a process only counts as "the same" when both match.

use nix::unistd::Pid;

/// The start time of `pid`, or `None` when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: fields after it are counted from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    // `rest` starts at field 3 (state); field 22 is the 20th from there.
    let starttime = fields.nth(19)?;
    // A zombie is already dead for every purpose of ours.
    if rest.starts_with('Z') {
        return None;
    }
    starttime.parse().ok()
}

/// True when `pid` still runs and is the process that started at `start`.
pub fn is_alive(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(pid), Some(start)) => start_time(pid) == Some(start),
        _ => false,
    }
}

/// Sends signal number `signo` to `pid` if it is still the process that
/// started at `start`. Returns whether it was sent.
pub fn signal_if_same(pid: Option<i32>, start: Option<u64>, signo: i32) -> bool {
    if !is_alive(pid, start) {
        return false;
    }
    let pid = Pid::from_raw(pid.unwrap_or(0));
    wrun_sys::process::send_signal(pid, signo).is_ok()
}

/// Parses a signal as Docker accepts it: `SIGTERM`, `TERM`, `term`, `15`,
/// `SIGRTMIN+3`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(format!("invalid signal: {text}"))
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rt) = name.strip_prefix("RTMIN") {
        let offset: i32 = if rt.is_empty() {
            0
        } else {
            rt.strip_prefix('+')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("invalid signal: {text}"))?
        };
        let n = libc::SIGRTMIN() + offset;
        return if n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(format!("invalid signal: {text}"))
        };
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| format!("invalid signal: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_start_time_is_stable() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_alive(Some(me), Some(t)));
        assert!(!is_alive(Some(me), Some(t + 1)));
        assert!(!is_alive(None, Some(t)));
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("QUIT").unwrap(), libc::SIGQUIT);
        for bad in ["SIGFOO", "0", "65", "-1", "RTMIN+99", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
