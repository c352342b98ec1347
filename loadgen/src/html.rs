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
}

/// The report as one offline HTML page, titled for a loadgen run.
pub fn render(report: &Report) -> String {
    titled(
        report,
        &format!("clickday loadgen: {} run", report.run.mode),
    )
}

/// [`render`] under another title (e.g. the demo's).
pub fn titled(report: &Report, title: &str) -> String {
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
            },
            Series {
                name: "acknowledged",
                colour: "#1b7f3b",
                points: line(&report.timeline.acknowledged),
            },
            Series {
                name: "refused / gave up",
                colour: "#c0392b",
                points: line(&report.timeline.failed),
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
        &[
            Series {
                name: "p50",
                colour: "#1f77b4",
                points: window(|h| h.p50_us),
            },
            Series {
                name: "p99",
                colour: "#ff7f0e",
                points: window(|h| h.p99_us),
            },
            Series {
                name: "max",
                colour: "#c0392b",
                points: window(|h| h.max_us),
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
    let y_max = points.map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9);
    let sx = |x: f64| MARGIN + x / x_max * (WIDTH - 2.0 * MARGIN);
    let sy = |y: f64| HEIGHT - MARGIN - y / y_max * (HEIGHT - 2.0 * MARGIN);
    let mut svg = svg_open();
    axes(&mut svg);
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{}">{}</text>"#,
            s.colour,
            path.join(" "),
            WIDTH - MARGIN - 150.0,
            MARGIN + 14.0 * i as f64,
            s.colour,
            escape(s.name)
        );
    }
    for i in 0..=4 {
        let y = y_max * i as f64 / 4.0;
        let x = x_max * i as f64 / 4.0;
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}" font-size="11">{}</text><text x="{:.1}" y="{:.1}" font-size="11">{:.1}</text>"#,
            sy(y) + 4.0,
            compact(y),
            sx(x) - 8.0,
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

fn compact(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
