use super::*;
use crate::engine::RunResult;
use crate::record::{Outcome, Recorder, histogram};
use clickday_transport::Protocol;

const SECOND: u64 = 1_000_000_000;

fn meta(shard: Shard) -> Meta {
    Meta {
        mode: "burst",
        target: "https://gw.example:8443".into(),
        connections: 10,
        streams: 2,
        seed: 1,
        accounts: 100,
        shard,
        click_day: "demo".into(),
        start_instant: None,
        stages: None,
        timeout_ms: 10_000,
        max_attempts: 5,
    }
}

/// A run whose requests were answered after `latencies_ms`, starting at
/// `start_unix` (Unix ns), with an epoch one second before the start.
fn run(start_unix: u64, latencies_ms: &[u64], prefix: &str) -> RunResult {
    let origin = SECOND;
    let mut r = Recorder::new(origin, 3);
    for (i, ms) in latencies_ms.iter().enumerate() {
        r.attempt(origin, Some(origin));
        r.answer(202, ms * 1_000_000);
        r.finish(
            Outcome::Acknowledged {
                status: 202,
                submission_id: format!("{prefix}-{i}"),
                received_at: 1_795_687_200_000_000_001, // 2026-11-26T10:00:00.000000001Z
                duplicate: false,
            },
            origin,
            origin + ms * 1_000_000,
            None,
        );
    }
    r.attempt(origin, Some(origin));
    r.answer(409, 1_000_000);
    r.finish(
        Outcome::Refused {
            status: 409,
            code: Some("conflict".into()),
        },
        origin,
        origin + 1_000_000,
        None,
    );
    RunResult {
        recorder: r,
        connections: Default::default(),
        started_unix_nanos: start_unix,
        origin,
        first_write_skew: histogram(),
        protocol: Protocol::Http2,
        cpu: Some(crate::cpu::CpuUse {
            seconds: 1.0,
            cores: 2,
            // Shard b's loadgen spun its cores; a's did not.
            loadgen_busy: if prefix == "b" { 0.95 } else { 0.4 },
            machine_busy: 0.5,
        }),
    }
}

fn shard(index: u32) -> Shard {
    Shard { index, count: 2 }
}

#[test]
fn a_report_survives_writing_and_reading() {
    let report = Report::new(meta(Shard::WHOLE), run(5 * SECOND, &[10, 20, 30], "a"));
    assert_eq!(report.totals.acknowledged, 3);
    assert_eq!(report.totals.refused, 1);
    assert_eq!(report.problems["conflict"], 1);
    assert_eq!(report.statuses["202"], 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    report.write(&path).unwrap();
    let back = Report::read(&path).unwrap();
    assert_eq!(back.acknowledged, report.acknowledged);
    assert_eq!(back.latency.p99_us, report.latency.p99_us);
    assert_eq!(back.latency.histogram().unwrap().len(), 4);
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for key in [
        "schema",
        "run",
        "totals",
        "latency",
        "timeline",
        "windows",
        "acknowledged",
    ] {
        assert!(value.get(key).is_some(), "{key} missing");
    }
    assert_eq!(value["schema"], SCHEMA);
    assert_eq!(value["run"]["protocol"], "h2");
    // Instants are numbers while running and RFC 3339 text in the file.
    assert_eq!(
        value["acknowledged"][0]["received_at"],
        "2026-11-26T10:00:00.000000001Z"
    );
}

#[test]
fn a_report_of_another_schema_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    std::fs::write(&path, r#"{"schema": "clickday-loadgen-report/0"}"#).unwrap();
    let err = Report::read(&path).unwrap_err().to_string();
    assert!(err.contains("clickday-loadgen-report/0"), "{err}");
    std::fs::write(&path, "not json").unwrap();
    assert!(
        Report::read(&path)
            .unwrap_err()
            .to_string()
            .contains("not a loadgen report")
    );
}

#[test]
fn merged_histograms_equal_the_histogram_of_all_samples() {
    let a: Vec<u64> = (1..=100).collect();
    let b: Vec<u64> = (500..=520).collect();
    let merged = merge(vec![
        Report::new(meta(shard(0)), run(5 * SECOND, &a, "a")),
        Report::new(meta(shard(1)), run(5 * SECOND, &b, "b")),
    ])
    .unwrap();
    // The busiest shard's CPU is the merged run's: it was saturated.
    let cpu = merged.cpu.unwrap();
    assert!(cpu.saturated() && (cpu.loadgen_busy - 0.95).abs() < 1e-9);
    assert!(merged.summary().contains("WARNING: loadgen was saturated"));
    assert!(crate::html::render(&merged).contains("loadgen was saturated"));
    let mut all = histogram();
    for ms in a.iter().chain(&b).chain([1, 1].iter()) {
        all.record(ms * 1_000).unwrap();
    }
    let h = merged.latency.histogram().unwrap();
    assert_eq!(h.len(), all.len());
    for q in [0.5, 0.9, 0.99, 1.0] {
        assert_eq!(h.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
    }
    assert_eq!(merged.totals.acknowledged, 121);
    assert_eq!(merged.acknowledged.len(), 121);
    assert_eq!(merged.problems["conflict"], 2);
    assert_eq!(merged.run.shards, vec![shard(0), shard(1)]);
    assert_eq!(merged.run.connections, 20);
}

#[test]
fn merged_timelines_line_up_on_the_wall_clock() {
    // Shard 1 started 300 ms after shard 0: its buckets move 3 to the right.
    let early = Report::new(meta(shard(0)), run(5 * SECOND, &[50], "a"));
    let late = Report::new(meta(shard(1)), run(5 * SECOND + 300_000_000, &[50], "b"));
    assert_eq!(early.timeline.acknowledged, vec![1]);
    let merged = merge(vec![late, early]).unwrap();
    assert_eq!(merged.timeline.origin_unix_nanos, 5 * SECOND);
    assert_eq!(merged.timeline.acknowledged, vec![1, 0, 0, 1]);
    assert_eq!(merged.timeline.sent, vec![2, 0, 0, 2]);
    assert_eq!(merged.windows.latency.len(), 1);
    assert_eq!(merged.windows.latency[0].count, 4);
}

#[test]
fn merging_the_same_shard_twice_is_refused() {
    let one = Report::new(meta(shard(0)), run(SECOND, &[1], "a"));
    let err = merge(vec![one.clone(), one]).unwrap_err().to_string();
    assert!(err.contains("shard 0/2 appears twice"), "{err}");
    let mut other = Report::new(meta(shard(1)), run(SECOND, &[1], "b"));
    other.run.mode = "rate".into();
    let err = merge(vec![
        Report::new(meta(shard(0)), run(SECOND, &[1], "a")),
        other,
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("not one run"), "{err}");
}
