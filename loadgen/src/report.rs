//! The JSON report (schema `clickday-loadgen-report/1`, documented in
//! docs/loadgen-report.md), its plain-text summary, and the merge of the
//! reports of several shards into one.

use crate::engine::{ConnectionStats, RunResult};
use crate::record::{Ack, BUCKET_NANOS, Resends, WINDOW_NANOS};
use crate::schedule::Stage;
use crate::workload::Shard;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const SCHEMA: &str = "clickday-loadgen-report/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: String,
    pub run: RunInfo,
    pub totals: Totals,
    /// Answers per HTTP status, every attempt counted.
    pub statuses: BTreeMap<String, u64>,
    /// Final refusals per problem `code`.
    pub problems: BTreeMap<String, u64>,
    /// Attempts that got no HTTP answer, by error.
    pub transport_errors: BTreeMap<String, u64>,
    pub resends: Resends,
    pub connections: ConnectionStats,
    /// Intended send instant → final answer (no coordinated omission).
    pub latency: HistogramReport,
    /// Actual send → answer, per attempt.
    pub service_time: HistogramReport,
    /// First attempt's actual send − its intended instant.
    pub start_skew: HistogramReport,
    /// First attempt's actual send → the `received_at` finally kept, per
    /// acknowledged application: how far overload moved its place.
    #[serde(default)]
    pub stamp_lag: HistogramReport,
    /// Admission tickets received with `503`s and resends that used them.
    #[serde(default)]
    pub tickets: crate::record::Tickets,
    /// Per connection: its first socket write after the start − the start.
    pub first_write_skew: HistogramReport,
    pub timeline: Timeline,
    pub windows: Windows,
    /// The arrival ledger as verified after the run, when the runner
    /// checked it (`clickday demo` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerCheck>,
    /// loadgen's own CPU over the measurement (after a merge, the busiest
    /// shard's): saturated means the figures may be loadgen's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<crate::cpu::CpuUse>,
    /// Set by `run --agents`: the agents, their clocks, how they ended,
    /// and how far apart their gates opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<crate::agent::control::AgentsReport>,
    /// Every acknowledged submission, for the audit.
    pub acknowledged: Vec<Ack>,
}

/// What a verification of the click day's arrival ledger found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerCheck {
    /// The final signed checkpoint, verbatim (C2SP tlog-checkpoint).
    pub checkpoint: String,
    /// Where it is kept beside the report, if it was.
    pub checkpoint_file: Option<String>,
    /// The log's public key it was verified with.
    pub verifier_key: String,
    /// What was verified, one line per check.
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// `burst`, `rate` or `closed`.
    pub mode: String,
    pub target: String,
    /// `h1` or `h2`.
    pub protocol: clickday_transport::Protocol,
    pub connections: u64,
    pub streams: u64,
    pub seed: u64,
    pub accounts: u32,
    /// The shards this report covers (several after a merge).
    pub shards: Vec<Shard>,
    pub click_day: String,
    /// The requested start instant, RFC 3339, when one was given.
    pub start_instant: Option<String>,
    /// When the gate actually opened, Unix nanoseconds.
    pub started_unix_nanos: u64,
    pub stages: Option<Vec<Stage>>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Requests of the workload that were sent.
    pub requests: u64,
    /// 202 + 200: held durably by the gateway.
    pub acknowledged: u64,
    /// 202: new submissions.
    pub accepted: u64,
    /// 200 `duplicate: true`: resends recognised.
    pub duplicates: u64,
    /// Final 4xx/5xx answers other than 429/503.
    pub refused: u64,
    /// Still 429/503/timeouts/errors after `max_attempts`.
    pub gave_up: u64,
    pub attempts: u64,
    /// First sends more than 5 ms after their intended instant.
    pub late_sends: u64,
    /// From the start instant to the last final answer.
    pub duration_seconds: f64,
    pub acknowledged_per_second: f64,
}

/// A histogram in microseconds: a summary for people, the whole HDR
/// histogram (V2 format, base64) for merging.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistogramReport {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub hdr: String,
}

impl Default for HistogramReport {
    /// An empty histogram (reports written before a field existed).
    fn default() -> Self {
        HistogramReport::of(&crate::record::histogram())
    }
}

impl HistogramReport {
    pub fn of(h: &Histogram<u64>) -> HistogramReport {
        let mut raw = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut raw)
            .expect("serialising into memory cannot fail");
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        HistogramReport {
            count: h.len(),
            min_us: if h.is_empty() { 0 } else { h.min() },
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
            hdr: STANDARD.encode(raw),
        }
    }

    /// p50, p90, p99, p99.9 and max, formatted in milliseconds.
    pub fn columns(&self) -> [String; 5] {
        [
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
        ]
        .map(ms)
    }

    pub fn histogram(&self) -> Result<Histogram<u64>, ReportError> {
        let raw = STANDARD
            .decode(&self.hdr)
            .map_err(|e| ReportError::Histogram(e.to_string()))?;
        Deserializer::new()
            .deserialize(&mut raw.as_slice())
            .map_err(|e| ReportError::Histogram(format!("{e:?}")))
    }
}

/// Counts per 100 ms from `origin_unix_nanos` (the start instant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    pub bucket_ms: u64,
    pub origin_unix_nanos: u64,
    pub sent: Vec<u64>,
    pub acknowledged: Vec<u64>,
    pub failed: Vec<u64>,
}

/// Latency (from intended) of the answers of each second after the origin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Windows {
    pub window_ms: u64,
    pub origin_unix_nanos: u64,
    pub latency: Vec<HistogramReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} is not a loadgen report: {1}")]
    Json(String, serde_json::Error),
    #[error("{0} has schema {1:?}; this tool reads {SCHEMA:?}")]
    Schema(String, String),
    #[error("unreadable histogram: {0}")]
    Histogram(String),
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// What the run was, for the report; the measurements come from the run.
#[derive(Debug, Clone)]
pub struct Meta {
    pub mode: &'static str,
    pub target: String,
    pub connections: u64,
    pub streams: u64,
    pub seed: u64,
    pub accounts: u32,
    pub shard: Shard,
    pub click_day: String,
    pub start_instant: Option<String>,
    pub stages: Option<Vec<Stage>>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
}

impl Report {
    /// Moves every wall-clock instant of the report by `nanos`: an agent's
    /// report onto its controller's clock.
    pub fn shift_clock(&mut self, nanos: i64) {
        let by = |t: u64| t.saturating_add_signed(nanos);
        let text = |t: &mut String| {
            if let Ok(at) = clickday_core::time::parse_rfc3339(t) {
                *t = clickday_core::time::format_rfc3339_nanos(by(at));
            }
        };
        self.run.started_unix_nanos = by(self.run.started_unix_nanos);
        self.timeline.origin_unix_nanos = by(self.timeline.origin_unix_nanos);
        self.windows.origin_unix_nanos = by(self.windows.origin_unix_nanos);
        if let Some(start) = &mut self.run.start_instant {
            text(start);
        }
        for ack in &mut self.acknowledged {
            ack.first_sent_at = ack.first_sent_at.map(by);
        }
    }

    pub fn new(meta: Meta, result: RunResult) -> Report {
        let r = result.recorder;
        let accepted = r.acks.iter().filter(|a| !a.duplicate).count() as u64;
        let acknowledged = r.acks.len() as u64;
        let refused = r.failed.iter().sum::<u64>() - r.gave_up;
        let duration = r.last_answer.saturating_sub(result.origin) as f64 / 1e9;
        let origin_unix = result.started_unix_nanos;
        Report {
            schema: SCHEMA.into(),
            tool: format!("clickday-loadgen {}", env!("CARGO_PKG_VERSION")),
            run: RunInfo {
                mode: meta.mode.into(),
                target: meta.target,
                protocol: result.protocol,
                connections: meta.connections,
                streams: meta.streams,
                seed: meta.seed,
                accounts: meta.accounts,
                shards: vec![meta.shard],
                click_day: meta.click_day,
                start_instant: meta.start_instant,
                started_unix_nanos: origin_unix,
                stages: meta.stages,
                timeout_ms: meta.timeout_ms,
                max_attempts: meta.max_attempts,
            },
            totals: Totals {
                requests: acknowledged + refused + r.gave_up,
                acknowledged,
                accepted,
                duplicates: acknowledged - accepted,
                refused,
                gave_up: r.gave_up,
                attempts: r.attempts,
                late_sends: r.late_sends,
                duration_seconds: duration,
                acknowledged_per_second: per_second(acknowledged, duration),
            },
            statuses: (r.statuses.into_iter())
                .map(|(status, n)| (status.to_string(), n))
                .collect(),
            problems: r.problems,
            transport_errors: r.transport_errors,
            resends: r.resends,
            connections: result.connections,
            latency: HistogramReport::of(&r.latency),
            service_time: HistogramReport::of(&r.service),
            start_skew: HistogramReport::of(&r.start_skew),
            stamp_lag: HistogramReport::of(&r.stamp_lag),
            tickets: r.tickets,
            first_write_skew: HistogramReport::of(&result.first_write_skew),
            timeline: Timeline {
                bucket_ms: BUCKET_NANOS / 1_000_000,
                origin_unix_nanos: origin_unix,
                sent: r.sent,
                acknowledged: r.acknowledged,
                failed: r.failed,
            },
            windows: Windows {
                window_ms: WINDOW_NANOS / 1_000_000,
                origin_unix_nanos: origin_unix,
                latency: r.windows.iter().map(HistogramReport::of).collect(),
            },
            ledger: None,
            cpu: result.cpu,
            agents: None,
            acknowledged: r.acks,
        }
    }

    pub fn read(path: &std::path::Path) -> Result<Report, ReportError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| ReportError::Io(shown.clone(), e))?;
        #[derive(Deserialize)]
        struct Head {
            schema: String,
        }
        let head: Head =
            serde_json::from_slice(&text).map_err(|e| ReportError::Json(shown.clone(), e))?;
        if head.schema != SCHEMA {
            return Err(ReportError::Schema(shown, head.schema));
        }
        serde_json::from_slice(&text).map_err(|e| ReportError::Json(shown, e))
    }

    /// Writes the report whole or not at all (temporary file, then rename).
    pub fn write(&self, path: &std::path::Path) -> Result<(), ReportError> {
        let shown = path.display().to_string();
        let tmp = path.with_extension("json.partial");
        let text = serde_json::to_vec(self).map_err(|e| ReportError::Json(shown.clone(), e))?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| ReportError::Io(shown, e))
    }

    /// The latency-like histograms, named for people.
    pub fn histograms(&self) -> [(&'static str, &HistogramReport); 5] {
        [
            ("stamp lag (first send -> kept stamp)", &self.stamp_lag),
            ("latency (from intended send)", &self.latency),
            ("service time (per attempt)", &self.service_time),
            ("start skew (first send - instant)", &self.start_skew),
            (
                "first write per connection - instant",
                &self.first_write_skew,
            ),
        ]
    }

    /// `503` answers per acknowledged application (every attempt counted).
    pub fn unavailable_per_acknowledgement(&self) -> f64 {
        let unavailable = self.statuses.get("503").copied().unwrap_or(0);
        unavailable as f64 / self.totals.acknowledged.max(1) as f64
    }

    /// The plain-text summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let run = &self.run;
        let shards: Vec<String> = run.shards.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(
            out,
            "{} run against {} over {}: {} connections x {} streams, shard(s) {}",
            run.mode,
            run.target,
            run.protocol.name(),
            run.connections,
            run.streams,
            shards.join(", ")
        );
        let _ = writeln!(
            out,
            "requests {}: acknowledged {} (new {}, duplicates {}), refused {}, gave up {}; {} attempts",
            t.requests, t.acknowledged, t.accepted, t.duplicates, t.refused, t.gave_up, t.attempts
        );
        let _ = writeln!(
            out,
            "throughput {:.0} acknowledged/s over {:.2} s; late first sends (> 5 ms) {}",
            t.acknowledged_per_second, t.duration_seconds, t.late_sends
        );
        let r = &self.resends;
        let _ = writeln!(
            out,
            "resends: unavailable {}, rate limited {}, timeout {}, connection {}",
            r.unavailable, r.rate_limited, r.timeout, r.connection
        );
        let _ = writeln!(
            out,
            "fairness: {:.2} 503s per acknowledgement; admission tickets received {}, resent with {}",
            self.unavailable_per_acknowledgement(),
            self.tickets.received,
            self.tickets.resent_with
        );
        if let Some(cpu) = &self.cpu {
            let _ = writeln!(out, "{}", cpu.describe());
        }
        if let Some(agents) = &self.agents {
            agents.describe(&mut out);
        }
        let c = &self.connections;
        let _ = writeln!(
            out,
            "connections: {} warm at the start of {} ({:.2} s to open), {} failed, {} reopened",
            c.warm_at_start, c.requested, c.warmup_seconds, c.failed_to_open, c.reopened
        );
        for (name, h) in self.histograms() {
            let [p50, p90, p99, p999, max] = h.columns();
            let _ = writeln!(
                out,
                "{name:<36} p50 {p50} p90 {p90} p99 {p99} p99.9 {p999} max {max} (n={})",
                h.count
            );
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(out, "statuses (every attempt): {}", statuses.join(", "));
        if !self.problems.is_empty() {
            let problems: Vec<String> = self
                .problems
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            let _ = writeln!(out, "final refusals by code: {}", problems.join(", "));
        }
        for (error, n) in &self.transport_errors {
            let _ = writeln!(out, "transport error x{n}: {error}");
        }
        out
    }
}

pub fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// Merges shard reports of one run: counts add, histograms merge, the
/// timelines line up on their wall-clock origins.
pub fn merge(reports: Vec<Report>) -> Result<Report, ReportError> {
    let mut iter = reports.into_iter();
    let mut merged = iter
        .next()
        .ok_or_else(|| ReportError::Merge("no report given".into()))?;
    for next in iter {
        if next.run.mode != merged.run.mode || next.run.click_day != merged.run.click_day {
            return Err(ReportError::Merge(format!(
                "a {} run on {} and a {} run on {} are not one run",
                merged.run.mode, merged.run.click_day, next.run.mode, next.run.click_day
            )));
        }
        for shard in &next.run.shards {
            if merged.run.shards.contains(shard) {
                return Err(ReportError::Merge(format!("shard {shard} appears twice")));
            }
        }
        merge_into(&mut merged, next)?;
    }
    merged.run.shards.sort_by_key(|s| (s.count, s.index));
    Ok(merged)
}

fn merge_into(into: &mut Report, from: Report) -> Result<(), ReportError> {
    let origin = into.run.started_unix_nanos.min(from.run.started_unix_nanos);
    let end = |r: &Report| r.run.started_unix_nanos as f64 / 1e9 + r.totals.duration_seconds;
    let last = end(into).max(end(&from));
    into.run.shards.extend(from.run.shards);
    // The busiest shard's loadgen decides whether the run measured loadgen.
    into.cpu = match (into.cpu, from.cpu) {
        (Some(a), Some(b)) => Some(if b.loadgen_busy > a.loadgen_busy {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    };
    into.run.connections += from.run.connections;
    into.run.started_unix_nanos = origin;
    let (a, b) = (&mut into.totals, &from.totals);
    a.requests += b.requests;
    a.acknowledged += b.acknowledged;
    a.accepted += b.accepted;
    a.duplicates += b.duplicates;
    a.refused += b.refused;
    a.gave_up += b.gave_up;
    a.attempts += b.attempts;
    a.late_sends += b.late_sends;
    a.duration_seconds = last - origin as f64 / 1e9;
    a.acknowledged_per_second = per_second(a.acknowledged, a.duration_seconds);
    add_counts(&mut into.statuses, from.statuses);
    add_counts(&mut into.problems, from.problems);
    add_counts(&mut into.transport_errors, from.transport_errors);
    let (r, s) = (&mut into.resends, from.resends);
    r.unavailable += s.unavailable;
    r.rate_limited += s.rate_limited;
    r.timeout += s.timeout;
    r.connection += s.connection;
    let (c, d) = (&mut into.connections, from.connections);
    c.requested += d.requested;
    c.warm_at_start += d.warm_at_start;
    c.failed_to_open += d.failed_to_open;
    c.reopened += d.reopened;
    c.warmup_seconds = c.warmup_seconds.max(d.warmup_seconds);
    into.latency = add_histograms(&into.latency, &from.latency)?;
    into.service_time = add_histograms(&into.service_time, &from.service_time)?;
    into.start_skew = add_histograms(&into.start_skew, &from.start_skew)?;
    into.stamp_lag = add_histograms(&into.stamp_lag, &from.stamp_lag)?;
    into.tickets.received += from.tickets.received;
    into.tickets.resent_with += from.tickets.resent_with;
    into.first_write_skew = add_histograms(&into.first_write_skew, &from.first_write_skew)?;
    let t = &mut into.timeline;
    let shift = |o: u64, width_ms: u64| ((o - origin) / (width_ms * 1_000_000)) as usize;
    let (mine, theirs) = (
        shift(t.origin_unix_nanos, t.bucket_ms),
        shift(from.timeline.origin_unix_nanos, t.bucket_ms),
    );
    for (series, other) in [
        (&mut t.sent, &from.timeline.sent),
        (&mut t.acknowledged, &from.timeline.acknowledged),
        (&mut t.failed, &from.timeline.failed),
    ] {
        *series = add_series(series, mine, other, theirs);
    }
    t.origin_unix_nanos = origin;
    let w = &mut into.windows;
    let (mine, theirs) = (
        shift(w.origin_unix_nanos, w.window_ms),
        shift(from.windows.origin_unix_nanos, w.window_ms),
    );
    let len = (w.latency.len() + mine).max(from.windows.latency.len() + theirs);
    let empty = HistogramReport::of(&crate::record::histogram());
    let mut windows = vec![empty; len];
    for (i, h) in w.latency.iter().enumerate() {
        windows[i + mine] = add_histograms(&windows[i + mine], h)?;
    }
    for (i, h) in from.windows.latency.iter().enumerate() {
        windows[i + theirs] = add_histograms(&windows[i + theirs], h)?;
    }
    w.latency = windows;
    w.origin_unix_nanos = origin;
    into.acknowledged.extend(from.acknowledged);
    Ok(())
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

fn add_histograms(
    a: &HistogramReport,
    b: &HistogramReport,
) -> Result<HistogramReport, ReportError> {
    let mut h = a.histogram()?;
    h.add(b.histogram()?)
        .map_err(|e| ReportError::Histogram(format!("{e:?}")))?;
    Ok(HistogramReport::of(&h))
}

fn add_series(a: &[u64], a_shift: usize, b: &[u64], b_shift: usize) -> Vec<u64> {
    let mut out = vec![0; (a.len() + a_shift).max(b.len() + b_shift)];
    for (i, v) in a.iter().enumerate() {
        out[i + a_shift] += v;
    }
    for (i, v) in b.iter().enumerate() {
        out[i + b_shift] += v;
    }
    out
}

#[cfg(test)]
mod tests;
