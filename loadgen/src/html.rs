//! The HTML report: one self-contained file (inline CSS and SVG, no
//! scripts, nothing fetched) with the summary and four plots: throughput
//! over time, latency percentiles over time, the latency distribution and
//! the start skew.

use crate::report::{HistogramReport, Report, ms};
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 56.0;

/// A line of a chart: name, colour, points.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    points: Vec<(f64, f64)>,
    /// Drawn thin and dashed: a bound the others stay under.
    dashed: bool,
}

/// The report as one offline HTML page, titled for a loadgen run.
pub fn render(report: &Report) -> String {
    titled(
        report,
        &format!("clickday loadgen: {} run", report.run.mode),
    )
}

/// A section a runner adds to the report (the demo: audit, receipts,
/// ranking, fairness): a heading, an explanation and `label: value` rows.
pub struct Section {
    pub heading: String,
    pub intro: String,
    pub rows: Vec<(String, String)>,
}

/// [`render`] under another title (e.g. the demo's).
pub fn titled(report: &Report, title: &str) -> String {
    titled_with(report, title, &[])
}

/// [`titled`] with `sections` after the summary, before the charts.
pub fn titled_with(report: &Report, title: &str, sections: &[Section]) -> String {
    let mut page = String::new();
    let t = &report.totals;
    let run = &report.run;
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:820px;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}svg{{background:#fafafa;border:1px solid #ddd}}
pre{{background:#f4f4f4;padding:1rem;overflow-x:auto}}
</style></head><body>
<h1>{title}</h1>
<p>{target} over {protocol}, {conns} connections × {streams} streams, click day <code>{day}</code>, started {started}.</p>
<table><tr><th>requests</th><th>acknowledged</th><th>new</th><th>duplicates</th><th>refused</th><th>gave up</th><th>acknowledged/s</th></tr>
<tr><td class="n">{requests}</td><td class="n">{acked}</td><td class="n">{new}</td><td class="n">{dups}</td><td class="n">{refused}</td><td class="n">{gave_up}</td><td class="n">{rate:.0}</td></tr></table>
"#,
        title = escape(title),
        target = escape(&run.target),
        protocol = run.protocol.name(),
        conns = run.connections,
        streams = run.streams,
        day = escape(&run.click_day),
        started = clickday_core::time::format_rfc3339_nanos(run.started_unix_nanos),
        requests = t.requests,
        acked = t.acknowledged,
        new = t.accepted,
        dups = t.duplicates,
        refused = t.refused,
        gave_up = t.gave_up,
        rate = t.acknowledged_per_second,
    );
    if let Some(cpu) = &report.cpu {
        let style = if cpu.saturated() {
            r#" style="background:#fdecea;border-left:4px solid #c0392b;padding:.5rem""#
        } else {
            ""
        };
        let _ = write!(page, "<p{style}>{}</p>", escape(&cpu.describe()));
    }
    if let Some(agents) = &report.agents {
        agents_table(&mut page, agents);
    }
    page.push_str("<h2>Latency</h2><table><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>n</th></tr>");
    for (name, h) in report.histograms() {
        page.push_str("<tr><td>");
        page.push_str(name);
        page.push_str("</td>");
        for cell in h.columns() {
            let _ = write!(page, r#"<td class="n">{cell}</td>"#);
        }
        let _ = write!(page, r#"<td class="n">{}</td></tr>"#, h.count);
    }
    page.push_str("</table>");
    for section in sections {
        let _ = write!(
            page,
            "<h2>{}</h2><p>{}</p><table>",
            escape(&section.heading),
            escape(&section.intro)
        );
        for (label, value) in &section.rows {
            let _ = write!(
                page,
                r#"<tr><th scope="row">{}</th><td class="n">{}</td></tr>"#,
                escape(label),
                escape(value)
            );
        }
        page.push_str("</table>");
    }

    let per_second = 1000.0 / report.timeline.bucket_ms as f64;
    let at = |i: usize| i as f64 * report.timeline.bucket_ms as f64 / 1000.0;
    let line = |v: &[u64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, n)| (at(i), *n as f64 * per_second))
            .collect()
    };
    page.push_str("<h2>Throughput over time</h2>");
    page.push_str(&line_chart(
        "seconds after the start",
        "per second",
        &[
            Series {
                name: "attempts sent",
                colour: "#888",
                points: line(&report.timeline.sent),
                dashed: false,
            },
            Series {
                name: "acknowledged",
                colour: "#1b7f3b",
                points: line(&report.timeline.acknowledged),
                dashed: false,
            },
            Series {
                name: "refused / gave up",
                colour: "#c0392b",
                points: line(&report.timeline.failed),
                dashed: false,
            },
        ],
    ));
    let window = |f: fn(&HistogramReport) -> u64| -> Vec<(f64, f64)> {
        report
            .windows
            .latency
            .iter()
            .enumerate()
            .filter(|(_, h)| h.count > 0)
            .map(|(i, h)| (i as f64 + 0.5, f(h) as f64 / 1000.0))
            .collect()
    };
    page.push_str("<h2>Latency percentiles over time</h2><p>Answers of each second, latency from the intended send instant.</p>");
    page.push_str(&line_chart(
        "seconds after the start",
        "ms",
        // Drawn max first (dashed), so p99 and p50 stay visible on top
        // where they meet it.
        &[
            Series {
                name: "max (dashed)",
                colour: "#c0392b",
                points: window(|h| h.max_us),
                dashed: true,
            },
            Series {
                name: "p99",
                colour: "#ff7f0e",
                points: window(|h| h.p99_us),
                dashed: false,
            },
            Series {
                name: "p50",
                colour: "#1f77b4",
                points: window(|h| h.p50_us),
                dashed: false,
            },
        ],
    ));
    page.push_str("<h2>Latency distribution</h2><p>Requests per latency band (from intended send), log-spaced bands.</p>");
    page.push_str(&distribution(&report.latency));
    page.push_str("<h2>Stamp lag</h2><p>Per acknowledged application, from the instant its first attempt was sent to the arrival instant the gateway kept for it. Overload must not move a place: with admission tickets a refused attempt keeps its stamp, so this stays near the network delay even when many attempts were answered 503.</p>");
    page.push_str(&distribution(&report.stamp_lag));
    page.push_str("<h2>Start skew</h2><p>First send of each request minus its intended instant; for a burst, how tightly the senders fired together.</p>");
    page.push_str(&distribution(&report.start_skew));
    if let Some(ledger) = &report.ledger {
        page.push_str("<h2>Arrival ledger</h2><p>Every stored application is a leaf of the click day's public Merkle log; the ranking was checked against the leaves sorted by arrival. The final signed checkpoint");
        if let Some(file) = &ledger.checkpoint_file {
            page.push_str(&format!(" (<a href=\"{0}\">{0}</a>)", escape(file)));
        }
        page.push_str(&format!(
            ", verified with the log key <code>{}</code>:</p><pre>{}</pre><ul>",
            escape(&ledger.verifier_key),
            escape(&ledger.checkpoint)
        ));
        for finding in &ledger.findings {
            page.push_str(&format!("<li>{}</li>", escape(finding)));
        }
        page.push_str("</ul>");
    }
    page.push_str("<h2>Everything else</h2><pre>");
    page.push_str(&escape(&report.summary()));
    page.push_str("</pre></body></html>\n");
    page
}

/// Bars of counts per log-spaced band of a histogram.
fn distribution(h: &HistogramReport) -> String {
    let Ok(hist) = h.histogram() else {
        return "<p>(unreadable histogram)</p>".into();
    };
    if hist.is_empty() {
        return "<p>(no samples)</p>".into();
    }
    let bands: Vec<(u64, u64)> = hist
        .iter_log(hist.min().max(1), 1.25)
        .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
        .collect();
    let top = bands.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let width = (WIDTH - 2.0 * MARGIN) / bands.len().max(1) as f64;
    let mut svg = svg_open();
    for (i, (upper, count)) in bands.iter().enumerate() {
        let height = (HEIGHT - 2.0 * MARGIN) * (*count as f64 / top);
        let x = MARGIN + i as f64 * width;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="#1f77b4"><title>≤ {}: {count}</title></rect>"##,
            HEIGHT - MARGIN - height,
            (width - 1.0).max(0.5),
            ms(*upper),
        );
    }
    let label_every = (bands.len() / 6).max(1);
    for (i, (upper, _)) in bands.iter().enumerate().step_by(label_every) {
        let x = MARGIN + i as f64 * width;
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11">{}</text>"#,
            HEIGHT - MARGIN + 16.0,
            ms(*upper)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{MARGIN}" y="16" font-size="12">requests (max {top:.0} per band)</text>"#
    );
    axes(&mut svg);
    svg.push_str("</svg>");
    svg
}

fn line_chart(x_label: &str, y_label: &str, series: &[Series<'_>]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points
        .clone()
        .map(|p| p.0)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    // The y axis ends at a round number, ticked at round steps.
    let (y_max, y_step) = nice_axis(points.map(|p| p.1).fold(0.0_f64, f64::max));
    let sx = |x: f64| MARGIN + x / x_max * (WIDTH - 2.0 * MARGIN);
    let sy = |y: f64| HEIGHT - MARGIN - y / y_max * (HEIGHT - 2.0 * MARGIN);
    let mut svg = svg_open();
    let ticks = (y_max / y_step).round() as usize;
    for i in 0..=ticks {
        let y = y_step * i as f64;
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN}" y1="{py:.1}" x2="{r}" y2="{py:.1}" stroke="#e4e4e4"/><text x="{lx:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{label}</text>"##,
            py = sy(y),
            r = WIDTH - MARGIN,
            lx = MARGIN - 6.0,
            ty = sy(y) + 4.0,
            label = compact(y, y_step),
        );
    }
    axes(&mut svg);
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="{}"{} points="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{}">{}</text>"#,
            s.colour,
            if s.dashed { "1.2" } else { "1.8" },
            if s.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            },
            path.join(" "),
            WIDTH - MARGIN - 150.0,
            MARGIN + 14.0 * i as f64,
            s.colour,
            escape(s.name)
        );
    }
    for i in 0..=4 {
        let x = x_max * i as f64 / 4.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.1}</text>"#,
            sx(x),
            HEIGHT - MARGIN + 16.0,
            x
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="12">{}</text><text x="4" y="16" font-size="12">{}</text></svg>"#,
        WIDTH / 2.0 - 60.0,
        HEIGHT - 12.0,
        escape(x_label),
        escape(y_label)
    );
    svg
}

fn svg_open() -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">"#
    )
}

fn axes(svg: &mut String) {
    let _ = write!(
        svg,
        r##"<line x1="{MARGIN}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{b}" stroke="#444"/>"##,
        b = HEIGHT - MARGIN,
        r = WIDTH - MARGIN
    );
}

/// The top of an axis showing values up to `max`, and its tick step: a
/// round step (1, 2 or 5 × 10ⁿ) giving four to eight ticks.
fn nice_axis(max: f64) -> (f64, f64) {
    if max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return (1.0, 0.25);
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| max / step <= 8.0)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil().max(1.0) * step, step)
}

/// A tick label: thousands as `k`, with as many decimals as the step needs
/// (`0, 2.5k, 5k`; `0, 0.2, 0.4`).
fn compact(v: f64, step: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if step >= 1000.0 || (v >= 1000.0 && step >= 100.0) {
        let k = v / 1000.0;
        if (k - k.round()).abs() < 1e-9 {
            format!("{k:.0}k")
        } else {
            format!("{k:.1}k")
        }
    } else if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let decimals = (-step.log10().floor()) as usize;
        format!("{v:.decimals$}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The agents of a `run --agents`: how each ended, its clock, and how far
/// apart the gates opened.
fn agents_table(page: &mut String, agents: &crate::agent::control::AgentsReport) {
    let _ = write!(
        page,
        "<h2>Agents</h2><p>Armed for {}; gates opened within {:.3} ms of each other (clock correction ± {:.3} ms).</p>\
         <table><tr><th>agent</th><th>shard</th><th>status</th><th>done</th><th>acknowledged</th><th>clock offset (ms)</th><th>round trip (ms)</th></tr>",
        escape(&agents.start_instant),
        agents.start_spread_us as f64 / 1000.0,
        agents.clock_uncertainty_us as f64 / 1000.0,
    );
    for a in &agents.agents {
        let style = if a.status == "reported" {
            ""
        } else {
            r#" style="background:#fdecea""#
        };
        let status = match &a.detail {
            Some(detail) => format!("{}: {detail}", a.status),
            None => a.status.clone(),
        };
        let _ = write!(
            page,
            r#"<tr{style}><td>{}</td><td>{}</td><td>{}</td><td class="n">{} of {}</td><td class="n">{}</td><td class="n">{:+.3}</td><td class="n">{:.3}</td></tr>"#,
            escape(&a.address),
            a.shard,
            escape(&status),
            a.done,
            a.requests,
            a.acknowledged,
            a.clock_offset_us as f64 / 1000.0,
            a.round_trip_us as f64 / 1000.0,
        );
    }
    page.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_at_round_numbers_with_round_ticks() {
        let near = |(top, step): (f64, f64), (t, st): (f64, f64)| {
            assert!(
                (top - t).abs() < 1e-9 && (step - st).abs() < 1e-9,
                "{top} {step}"
            );
        };
        near(nice_axis(10_470.0), (12_000.0, 2_000.0));
        near(nice_axis(5_235.0), (6_000.0, 1_000.0));
        near(nice_axis(0.37), (0.4, 0.05));
        near(nice_axis(0.0), (1.0, 0.25));
        let labels: Vec<String> = (0..=6)
            .map(|i| compact(i as f64 * 2_000.0, 2_000.0))
            .collect();
        assert_eq!(labels, ["0", "2k", "4k", "6k", "8k", "10k", "12k"]);
        assert_eq!(compact(2_500.0, 500.0), "2.5k");
        assert_eq!(compact(0.15, 0.05), "0.15");
    }
}
