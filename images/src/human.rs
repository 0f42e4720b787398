//! Sizes and ages as the Docker CLI prints them (its `go-units` rules), so
//! `wrun images` reads like `docker images`: `7.21MB`, `2 hours ago`.

use std::time::Duration;

/// Decimal units, three significant digits: `0B`, `999B`, `1.23kB`, `7.21MB`, `139MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(v), UNITS[i])
}

/// `%.3g` without exponents: 3 significant digits, trailing zeros dropped.
fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Docker's `HumanDuration`: `Less than a second`, `About a minute`,
/// `2 hours`, `3 weeks`, `2 years`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let mins = secs / 60;
    let hours_f = d.as_secs_f64() / 3600.0;
    let hours = (hours_f + 0.5) as u64;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", (hours_f / 24.0 / 365.0) as u64),
    }
}

/// `2 hours ago` for a time in the past (`N/A` when unknown).
pub fn ago(t: Option<time::OffsetDateTime>) -> String {
    match t {
        Some(t) => {
            let d = time::OffsetDateTime::now_utc() - t;
            let d = Duration::from_secs_f64(d.as_seconds_f64().max(0.0));
            format!("{} ago", human_duration(d))
        }
        None => "N/A".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1234, "1.23kB"),
            (7_210_000, "7.21MB"),
            (4_261_550, "4.26MB"),
            (139_000_000, "139MB"),
            (12_340_000_000, "12.3GB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (150, "2 minutes"),
            (3600, "About an hour"),
            (7200, "2 hours"),
            (3 * 86400, "3 days"),
            (21 * 86400, "3 weeks"),
            (90 * 86400, "3 months"),
            (800 * 86400, "2 years"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(s)), want, "{s}");
        }
    }
}
