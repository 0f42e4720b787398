//! The comparison's outputs: JSON for machines and a table for people.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{SuiteReport, Workload, stats};

/// Format a value with a precision suited to its size.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The word a table shows for a cell without a value: "n/a" where the
/// workload does not apply to the subject (no published ports), "failed"
/// otherwise (the error is listed under the table).
pub fn missing_word(error: Option<&str>) -> &'static str {
    match error {
        Some(e) if e.starts_with("not applicable") => "n/a",
        _ => "failed",
    }
}

/// A ratio with two significant digits or so: ×1250, ×12, ×1.3, ×0.42,
/// ×0.0083.
pub fn format_ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("×{x:.0}")
    } else if x >= 1.0 {
        format!("×{x:.1}")
    } else if x >= 0.1 {
        format!("×{x:.2}")
    } else {
        format!("×{x:.4}")
    }
}

/// The JSON document: machine, settings, subjects, and per workload and
/// metric the samples, median, min, max and ratio to the native process
/// of every subject (or its error).
pub fn to_json(r: &SuiteReport) -> Value {
    let subjects: Vec<Value> = r
        .subjects
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "label": s.label,
                "how": s.how,
                "unavailable": s.unavailable,
            })
        })
        .collect();
    let mut workloads = serde_json::Map::new();
    for &w in &r.workloads {
        let mut metrics = serde_json::Map::new();
        for m in w.metrics() {
            let mut per_subject = serde_json::Map::new();
            for s in &r.subjects {
                let Some(cell) = r.cell(&s.name, m.name) else {
                    continue;
                };
                let value = match (&cell.error, stats::spread(&cell.samples)) {
                    (None, Some(sp)) => json!({
                        "median": sp.median,
                        "min": sp.min,
                        "max": sp.max,
                        "runs": sp.n,
                        "ratio_to_native": r.ratio_to_native(&s.name, m.name),
                        "samples": cell.samples,
                    }),
                    (err, _) => json!({
                        "error": err.clone().unwrap_or_else(|| "no samples".into()),
                    }),
                };
                per_subject.insert(s.name.clone(), value);
            }
            metrics.insert(
                m.name.to_string(),
                json!({
                    "unit": m.unit,
                    "higher_is_better": m.higher_is_better,
                    "about": m.about,
                    "subjects": per_subject,
                }),
            );
        }
        workloads.insert(
            w.name().to_string(),
            json!({
                "rounds": r.rounds.get(&w),
                "metrics": metrics,
            }),
        );
    }
    json!({
        "machine": r.machine,
        "load_average_before": r.load_before,
        "load_average_after": r.load_after,
        "quick": r.quick,
        "seconds": r.seconds,
        "memory_method": r.memory_method,
        "harness_overhead": {
            "empty_workload_ns": r.overhead.empty_ns,
            "percent_of_smallest_median": r.overhead.percent_of_smallest,
        },
        "subjects": subjects,
        "workloads": workloads,
    })
}

/// The terminal table: one row per subject, one column per metric, each
/// cell `median (×ratio)`; then ranges, errors and how each subject ran.
pub fn table(r: &SuiteReport) -> String {
    let metrics: Vec<(Workload, &super::Metric)> = r
        .workloads
        .iter()
        .flat_map(|&w| w.metrics().iter().map(move |m| (w, m)))
        .collect();
    let mut header = vec!["subject".to_string()];
    for (_, m) in &metrics {
        header.push(format!("{} ({})", m.name, m.unit));
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for s in &r.subjects {
        let mut row = vec![s.label.clone()];
        if let Some(why) = &s.unavailable {
            row.extend(metrics.iter().map(|_| "—".to_string()));
            rows.push(row);
            problems.push(format!("{}: {why}", s.label));
            continue;
        }
        for (_, m) in &metrics {
            let cell = r.cell(&s.name, m.name);
            let text = match cell {
                Some(c) if c.error.is_none() => match stats::median(&c.samples) {
                    Some(med) => match r.ratio_to_native(&s.name, m.name) {
                        Some(x) if s.name != "native" => {
                            format!("{} {}", format_value(med), format_ratio(x))
                        }
                        _ => format_value(med),
                    },
                    None => "—".into(),
                },
                Some(c) => {
                    let e = c.error.clone().unwrap_or_default();
                    let line = format!("{} / {}: {e}", s.label, m.name);
                    if !problems.contains(&line) {
                        problems.push(line);
                    }
                    missing_word(c.error.as_deref()).into()
                }
                None => "—".into(),
            };
            row.push(text);
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}", r.machine);
    let _ = writeln!(
        out,
        "Load average (1, 5, 15 min): {} before, {} after; {:.0} s{}",
        r.load_before,
        r.load_after,
        r.seconds,
        if r.quick { "; --quick" } else { "" }
    );
    let rounds: Vec<String> = r.rounds.iter().map(|(w, n)| format!("{w} {n}")).collect();
    let _ = writeln!(
        out,
        "Rounds (interleaved, rotated order): {}. Cells: median ×ratio to the native process (req/s: higher is better).\n",
        rounds.join(", ")
    );
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            if i == 0 {
                let _ = write!(l, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(l, "  {}{c}", " ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&header));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(out, "\nRange (min–max) of each measured cell:");
    for s in &r.subjects {
        let mut parts = Vec::new();
        for (_, m) in &metrics {
            if let Some(sp) = r
                .cell(&s.name, m.name)
                .filter(|c| c.error.is_none())
                .and_then(|c| stats::spread(&c.samples))
            {
                parts.push(format!(
                    "{} {}–{}",
                    m.name,
                    format_value(sp.min),
                    format_value(sp.max)
                ));
            }
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "  {}: {}", s.label, parts.join(", "));
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(out, "\nNot measured:");
        for p in &problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    let _ = writeln!(out, "\nMemory: {}.", r.memory_method);
    let _ = writeln!(
        out,
        "Harness overhead: {:.0} ns per timed run with an empty workload{}.",
        r.overhead.empty_ns,
        r.overhead
            .percent_of_smallest
            .map(|p| format!(" = {p:.4}% of the native start-exit median"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "\nHow each subject ran:");
    for s in r.subjects.iter().filter(|s| s.unavailable.is_none()) {
        let _ = writeln!(out, "  {}: {}", s.label, s.how);
    }
    out
}

/// The table as markdown (for docs/benchmarks.md).
pub fn markdown(r: &SuiteReport) -> String {
    let metrics: Vec<&super::Metric> = r.workloads.iter().flat_map(|w| w.metrics()).collect();
    let mut out = String::new();
    out.push_str("| subject |");
    for m in &metrics {
        let _ = write!(out, " {} ({}) |", m.name, m.unit);
    }
    out.push_str("\n| --- |");
    for _ in &metrics {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for s in &r.subjects {
        let _ = write!(out, "| {} |", s.label);
        for m in &metrics {
            let text = if s.unavailable.is_some() {
                "not measured".to_string()
            } else {
                match r.cell(&s.name, m.name) {
                    Some(c) if c.error.is_none() => match stats::spread(&c.samples) {
                        Some(sp) => {
                            let ratio = r
                                .ratio_to_native(&s.name, m.name)
                                .filter(|_| s.name != "native")
                                .map(|x| format!(" ({})", format_ratio(x)))
                                .unwrap_or_default();
                            format!(
                                "{}{ratio}<br>{}–{}",
                                format_value(sp.median),
                                format_value(sp.min),
                                format_value(sp.max)
                            )
                        }
                        None => "—".into(),
                    },
                    Some(c) => missing_word(c.error.as_deref()).into(),
                    None => "—".into(),
                }
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::super::{Cell, Overhead, SubjectInfo};
    use super::*;

    /// A small report: native and one container, two workloads, one
    /// failure, one subject not installed.
    pub(crate) fn sample_report() -> SuiteReport {
        let subj = |name: &str, label: &str, unavailable: Option<&str>| SubjectInfo {
            name: name.into(),
            label: label.into(),
            how: format!("run {name}"),
            unavailable: unavailable.map(str::to_string),
        };
        let cell = |s: &str, w, m, unit, samples: &[f64], error: Option<&str>| Cell {
            subject: s.into(),
            workload: w,
            metric: m,
            unit,
            samples: samples.to_vec(),
            error: error.map(str::to_string),
        };
        let mut rounds = BTreeMap::new();
        rounds.insert(Workload::StartExit, 3);
        rounds.insert(Workload::Http, 1);
        SuiteReport {
            machine: "test machine".into(),
            load_before: "0.1 0.2 0.3".into(),
            load_after: "0.2 0.2 0.3".into(),
            quick: true,
            rounds,
            workloads: vec![Workload::StartExit, Workload::Http],
            subjects: vec![
                subj("native", "native process", None),
                subj("namespaces", "wrun <namespaces> & co", None),
                subj("runsc", "runsc", Some("not installed (apt install runsc)")),
            ],
            cells: vec![
                cell(
                    "native",
                    Workload::StartExit,
                    "start-exit",
                    "ms",
                    &[1.0, 0.8, 1.2],
                    None,
                ),
                cell(
                    "namespaces",
                    Workload::StartExit,
                    "start-exit",
                    "ms",
                    &[3.0, 3.2, 2.9],
                    None,
                ),
                cell("native", Workload::Http, "http", "req/s", &[20000.0], None),
                cell(
                    "namespaces",
                    Workload::Http,
                    "http",
                    "req/s",
                    &[],
                    Some("bind: address in use"),
                ),
            ],
            overhead: Overhead {
                empty_ns: 40.0,
                percent_of_smallest: Some(0.004),
            },
            memory_method: "cgroup".into(),
            seconds: 12.0,
        }
    }

    #[test]
    fn json_has_medians_ratios_and_errors() {
        let r = sample_report();
        let j = to_json(&r);
        let se = &j["workloads"]["start-exit"]["metrics"]["start-exit"]["subjects"];
        assert_eq!(se["native"]["median"], 1.0);
        assert_eq!(se["namespaces"]["median"], 3.0);
        assert_eq!(se["namespaces"]["min"], 2.9);
        assert_eq!(se["namespaces"]["max"], 3.2);
        assert_eq!(se["namespaces"]["ratio_to_native"], 3.0);
        assert_eq!(
            se["runsc"]["error"].as_str(),
            None,
            "unavailable subjects have no cells of their own in this sample"
        );
        let http = &j["workloads"]["http"]["metrics"]["http"];
        assert_eq!(http["unit"], "req/s");
        assert_eq!(http["higher_is_better"], true);
        assert_eq!(
            http["subjects"]["namespaces"]["error"],
            "bind: address in use"
        );
        assert_eq!(
            j["subjects"][2]["unavailable"],
            "not installed (apt install runsc)"
        );
        assert_eq!(j["harness_overhead"]["empty_workload_ns"], 40.0);
        // It round-trips as text.
        let text = serde_json::to_string_pretty(&j).expect("serialize");
        let back: Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, j);
    }

    #[test]
    fn table_shows_ratios_failures_and_missing_peers() {
        let t = table(&sample_report());
        assert!(t.contains("3.000 ×3.0"), "{t}");
        assert!(t.contains("failed"), "{t}");
        assert!(
            t.contains("runsc: not installed (apt install runsc)"),
            "{t}"
        );
        assert!(t.contains("http: bind: address in use"), "{t}");
        assert!(t.contains("Harness overhead: 40 ns"), "{t}");
        // Columns line up: every table row is as wide as the header or
        // narrower only by trailing blanks.
        let lines: Vec<&str> = t
            .lines()
            .skip_while(|l| !l.starts_with("subject"))
            .take(4)
            .collect();
        assert_eq!(lines.len(), 4);
        let start_col = lines[0].find("start-exit").expect("column");
        for l in &lines[1..] {
            assert!(l.len() > start_col, "{l}");
        }
    }

    #[test]
    fn markdown_has_a_row_per_subject() {
        let md = markdown(&sample_report());
        assert_eq!(md.lines().count(), 2 + 3);
        assert!(
            md.contains("| runsc | not measured | not measured |"),
            "{md}"
        );
        assert!(md.contains("3.000 (×3.0)<br>2.900–3.200"), "{md}");
        assert_eq!(missing_word(Some("not applicable: no ports")), "n/a");
        assert_eq!(missing_word(Some("exited with 125")), "failed");
    }

    #[test]
    fn values_are_formatted_by_size() {
        assert_eq!(format_value(12345.6), "12346");
        assert_eq!(format_value(123.45), "123.5");
        assert_eq!(format_value(12.345), "12.35");
        assert_eq!(format_value(1.23456), "1.235");
        assert_eq!(format_ratio(1250.4), "×1250");
        assert_eq!(format_ratio(3.0), "×3.0");
        assert_eq!(format_ratio(0.4249), "×0.42");
        assert_eq!(format_ratio(0.00834), "×0.0083");
    }
}
