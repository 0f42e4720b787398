//! The comparison as an SVG chart, written by hand: one panel per metric
//! (each metric has its own unit), in each panel one bar per subject —
//! the median, with a whisker from min to max — in the subject's colour.
//! A panel whose medians span more than a factor of 30 uses a log scale
//! (the VM's start-up would flatten every container's bar otherwise);
//! subjects without a value are marked "n/a".

use std::fmt::Write as _;

use super::{SuiteReport, stats};
use crate::suite::report::format_value;

const PALETTE: [&str; 12] = [
    "#4c4c4c", "#8c6d31", "#1f77b4", "#17becf", "#2ca02c", "#98df8a", "#d62728", "#ff7f0e",
    "#9467bd", "#e377c2", "#bcbd22", "#7f7f7f",
];

const PANEL_W: f64 = 470.0;
const PANEL_H: f64 = 300.0;
const COLS: usize = 2;
const MARGIN_L: f64 = 62.0;
const MARGIN_T: f64 = 34.0;
const MARGIN_B: f64 = 24.0;
const HEADER_H: f64 = 96.0;

/// Escape text for SVG content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A vertical scale mapping values to pixel heights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear { max: f64 },
    Log { lo_exp: i32, hi_exp: i32 },
}

impl Scale {
    /// Log when the positive values span more than 30×.
    pub fn for_values(values: &[f64]) -> Scale {
        let pos: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let max = pos.iter().copied().fold(0.0, f64::max);
        let min = pos.iter().copied().fold(f64::INFINITY, f64::min);
        if !pos.is_empty() && max / min > 30.0 {
            // One decade below the smallest value, so that its bar shows.
            let lo = min.log10().floor() - 1.0;
            Scale::Log {
                lo_exp: lo as i32,
                hi_exp: max.log10().ceil().max(lo + 1.0) as i32,
            }
        } else {
            Scale::Linear {
                max: nice_ceiling(if max > 0.0 { max } else { 1.0 }),
            }
        }
    }

    /// Fraction (0..=1) of the plot height for `v`.
    pub fn frac(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { max } => (v / max).clamp(0.0, 1.0),
            Scale::Log { lo_exp, hi_exp } => {
                if v <= 0.0 {
                    return 0.0;
                }
                ((v.log10() - lo_exp as f64) / (hi_exp - lo_exp) as f64).clamp(0.0, 1.0)
            }
        }
    }

    fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { max } => (0..=5).map(|i| max * i as f64 / 5.0).collect(),
            Scale::Log { lo_exp, hi_exp } => (lo_exp..=hi_exp).map(|e| 10f64.powi(e)).collect(),
        }
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * e >= v * (1.0 - 1e-12) {
            return m * e;
        }
    }
    10.0 * e
}

/// The chart.
pub fn chart(r: &SuiteReport) -> String {
    let metrics: Vec<&super::Metric> = r.workloads.iter().flat_map(|w| w.metrics()).collect();
    let rows = metrics.len().div_ceil(COLS).max(1);
    let width = PANEL_W * COLS as f64 + 20.0;
    let height = HEADER_H + PANEL_H * rows as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="15" font-weight="bold">wrun bench: isolation levels side by side (median, whisker min–max)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#444">{}</text>"##,
        escape(&r.machine)
    );
    // Legend: one swatch per subject, with its colour.
    for (i, subj) in r.subjects.iter().enumerate() {
        let x = 10.0 + (i % 4) as f64 * 235.0;
        let y = 52.0 + (i / 4) as f64 * 15.0;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"##,
            y - 9.0,
            PALETTE[i % PALETTE.len()],
            x + 14.0,
            y,
            escape(&subj.label)
        );
    }
    for (k, m) in metrics.iter().enumerate() {
        let ox = 10.0 + (k % COLS) as f64 * PANEL_W;
        let oy = HEADER_H + (k / COLS) as f64 * PANEL_H;
        panel(&mut s, r, m, ox, oy);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, r: &SuiteReport, m: &super::Metric, ox: f64, oy: f64) {
    let plot_w = PANEL_W - MARGIN_L - 16.0;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let x0 = ox + MARGIN_L;
    let y0 = oy + MARGIN_T + plot_h; // baseline
    let values: Vec<Option<stats::Spread>> = r
        .subjects
        .iter()
        .map(|subj| {
            r.cell(&subj.name, m.name)
                .filter(|c| c.error.is_none())
                .and_then(|c| stats::spread(&c.samples))
        })
        .collect();
    let all: Vec<f64> = values
        .iter()
        .flatten()
        .flat_map(|sp| [sp.median, sp.max, sp.min])
        .collect();
    let scale = Scale::for_values(&all);
    let better = if m.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    let log = if matches!(scale, Scale::Log { .. }) {
        ", log scale"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="12" font-weight="bold">{} ({}) — {better}{log}</text>"##,
        ox + 4.0,
        oy + 18.0,
        escape(m.name),
        escape(m.unit)
    );
    for t in scale.ticks() {
        let y = y0 - scale.frac(t) * plot_h;
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            x0 + plot_w,
            x0 - 4.0,
            y + 3.5,
            escape(&short(t))
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" y1="{y0:.1}" x2="{:.1}" y2="{y0:.1}" stroke="#333"/>"##,
        x0 + plot_w
    );
    let n = r.subjects.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).max(2.0);
    for (i, v) in values.iter().enumerate() {
        let cx = x0 + slot * (i as f64 + 0.5);
        let colour = PALETTE[i % PALETTE.len()];
        match v {
            Some(sp) => {
                let h = scale.frac(sp.median) * plot_h;
                let _ = writeln!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}"><title>{}: {} {}</title></rect>"##,
                    cx - bar_w / 2.0,
                    y0 - h,
                    escape(&r.subjects[i].label),
                    escape(&format_value(sp.median)),
                    escape(m.unit)
                );
                let (ylo, yhi) = (
                    y0 - scale.frac(sp.min) * plot_h,
                    y0 - scale.frac(sp.max) * plot_h,
                );
                let _ = writeln!(
                    s,
                    r##"<line x1="{cx:.1}" y1="{ylo:.1}" x2="{cx:.1}" y2="{yhi:.1}" stroke="black"/>"##
                );
                let _ = writeln!(
                    s,
                    r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"##,
                    (y0 - h).min(yhi) - 3.0,
                    escape(&short(sp.median))
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="{colour}">n/a</text>"##,
                    y0 - 4.0
                );
            }
        }
    }
}

/// A short tick or value label: 0.5, 12, 3.4k, 1.2M.
fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::report::tests::sample_report;

    /// A minimal well-formedness check: every tag closes in order, every
    /// attribute value is quoted, no stray `&` or `<`.
    fn well_formed(xml: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            check_text(text)?;
            let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
            let tag = &rest[lt + 1..gt];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .ok_or(format!("</{name}> without opening tag"))?;
                if open != name {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name = body.split_whitespace().next().ok_or("empty tag")?;
                if body.matches('"').count() % 2 != 0 {
                    return Err(format!("unbalanced quotes in <{body}>"));
                }
                if !self_closing {
                    stack.push(name.to_string());
                }
            }
            rest = &rest[gt + 1..];
        }
        check_text(rest)?;
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    fn check_text(text: &str) -> Result<(), String> {
        for (i, _) in text.match_indices('&') {
            let ent = &text[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| ent.starts_with(e))
            {
                return Err(format!("bare & in {text:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn chart_is_well_formed_and_escapes_labels() {
        let svg = chart(&sample_report());
        well_formed(&svg).expect("well-formed");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("wrun &lt;namespaces&gt; &amp; co"));
        assert!(svg.contains("n/a"), "missing values are marked");
        // Two panels: start-exit and http.
        assert!(svg.contains("start-exit (ms)") && svg.contains("http (req/s)"));
    }

    #[test]
    fn checker_rejects_broken_xml() {
        assert!(well_formed("<svg><g></svg>").is_err());
        assert!(well_formed("<svg>a & b</svg>").is_err());
        assert!(well_formed("<svg><rect x=\"1/></svg>").is_err());
        assert!(well_formed("<svg><rect x=\"1\"/></svg>").is_ok());
    }

    #[test]
    fn wide_ranges_use_a_log_scale() {
        assert_eq!(
            Scale::for_values(&[0.7, 3.0, 1400.0]),
            Scale::Log {
                lo_exp: -2,
                hi_exp: 4
            }
        );
        assert_eq!(
            Scale::for_values(&[10.0, 30.0]),
            Scale::Linear { max: 50.0 }
        );
        let log = Scale::Log {
            lo_exp: 0,
            hi_exp: 2,
        };
        assert!((log.frac(10.0) - 0.5).abs() < 1e-9);
        assert_eq!(log.frac(0.0), 0.0);
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(30.0), 50.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
    }
}
