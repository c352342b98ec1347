//! loadgen against an in-process gateway + persister (embedded SQLite,
//! TLS): small bursts and rate runs over HTTP/1.1, HTTP/2 and HTTP/3 audit
//! clean, resends after 429 keep the same bytes and end acknowledged, the
//! audit really fails when a stored row is removed or altered, and the
//! connection set-up measurement opens and closes real connections.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_loadgen::audit::{AuditResult, audit};
use clickday_loadgen::schedule::parse_stages;
use clickday_loadgen::{LoadTest, Mode, Protocol, Report, Shard, Start, Trust, handshakes};
use clickday_store::NewAccount;
use clickday_testsystem::System;
use clickday_transport::{Gate, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS: u32 = 40;

/// Gateway and persister in-process, with the accounts of `seeds` imported.
async fn system(rate_limit: &str, seeds: &[u64]) -> System {
    system_with(rate_limit, seeds, "").await
}

/// [`system`] with `extra` configuration sections at the end.
async fn system_with(rate_limit: &str, seeds: &[u64], extra: &str) -> System {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
[gateway.rate_limit]
per_ip_per_second = 0
{rate_limit}
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico", "lavoro-stagionale"]
[[click_days.quotas]]
category = "lavoro-domestico"
province = "RM"
places = 5
{extra}
"#,
        dir = dir.path().display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await.owning(dir);
    for seed in seeds {
        let accounts: Vec<NewAccount> =
            clickday_loadgen::workload::accounts(*seed, ACCOUNTS, Shard::WHOLE)
                .iter()
                .map(|a| NewAccount {
                    account_id: a.account_id.clone(),
                    email: a.email.clone(),
                    public_key: clickday_core::PublicKey::from_bytes(&a.public_key()).unwrap(),
                })
                .collect();
        sys.store.import_accounts(&accounts).await.unwrap();
    }
    sys.with_gateway().await.with_persister()
}

fn load(sys: &System, protocol: Protocol, seed: u64, mode: Mode) -> LoadTest {
    LoadTest {
        targets: vec![sys.gateway_url()],
        trust: Some(Trust::CaFile(sys.gateway_ca())),
        protocol,
        connections: 10,
        streams: 4,
        mode,
        start: Start::In(Duration::from_millis(500)),
        seed,
        accounts: ACCOUNTS,
        shard: Shard::WHOLE,
        click_day: None,
        provinces: vec!["RM".into(), "MI".into()],
        timeout: Duration::from_secs(10),
        max_attempts: 10,
        progress: false,
        clock: Default::default(),
        tally: Default::default(),
    }
}

/// Waits until `n` submissions are stored, ranks, audits.
async fn stored_then_audit(sys: &System, report: &Report, n: u64) -> AuditResult {
    clickday_testkit::eventually("all stored", Duration::from_secs(60), async || {
        (sys.store.status().await.unwrap().submissions >= n).then_some(())
    })
    .await;
    let day = sys.cfg.calendar.get("cd").unwrap();
    clickday_persister::rank_click_day(sys.store.as_ref(), day)
        .await
        .unwrap();
    audit(report, &sys.cfg.store.to_url()).await.unwrap()
}

/// Redis killed across the opening instant: every attempt while it is down
/// is answered 503 with an admission ticket; after the restart loadgen's
/// resends carry them, and every application is stored once with the
/// stamp of its first attempt — nothing lost or doubled, nobody overtaken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_across_the_opening_every_application_keeps_its_first_arrival() {
    let mut redis = clickday_testkit::RedisServer::start();
    let sys = system_with(
        "",
        &[7],
        &format!("[queue]\nurl = \"{}\"\nshards = 2", redis.url()),
    )
    .await;
    redis.kill();
    let mut test = load(&sys, Protocol::Http2, 7, Mode::Burst { per_account: 1 });
    test.max_attempts = 30;
    let run = tokio::spawn(async move { clickday_loadgen::load_test(&test).await });
    // Every application refused at least once, each with a ticket.
    let gateway = sys.gateway.as_ref().unwrap().local_addr;
    let ca = clickday_testkit::client::read_ca(&sys.gateway_ca()).unwrap();
    clickday_testkit::eventually(
        "a ticket for every application",
        Duration::from_secs(30),
        async || {
            let metrics = clickday_testkit::client::metrics(gateway, Some(&ca))
                .await
                .ok()?;
            let issued = clickday_testkit::client::counter(
                &metrics,
                "clickday_gateway_tickets_total",
                "event=\"issued\"",
            );
            (issued >= u64::from(ACCOUNTS)).then_some(())
        },
    )
    .await;
    let restarted = clickday_loadgen::engine::unix_nanos(std::time::SystemTime::now());
    redis.restart();
    let report = run.await.unwrap().unwrap();
    assert_eq!(
        report.totals.accepted,
        u64::from(ACCOUNTS),
        "{}",
        report.summary()
    );
    assert!(report.tickets.received >= u64::from(ACCOUNTS));
    assert!(report.tickets.resent_with >= u64::from(ACCOUNTS));
    for ack in &report.acknowledged {
        let kept = ack.received_at;
        assert!(
            kept < restarted,
            "{} kept a stamp from after the restart",
            ack.submission_id
        );
    }
    assert_eq!(report.stamp_lag.count, u64::from(ACCOUNTS));
    // loadgen measured its own CPU over the run and says it.
    let cpu = report.cpu.expect("CPU measured on Linux");
    assert!(
        cpu.cores >= 1 && cpu.seconds > 0.0 && cpu.loadgen_busy > 0.0,
        "{cpu:?}"
    );
    assert!(
        report
            .summary()
            .contains("loadgen CPU (its whole process): ")
    );
    let result = stored_then_audit(&sys, &report, u64::from(ACCOUNTS)).await;
    assert!(result.clean(), "{}", result.summary());
    assert_eq!(
        (result.lost, result.duplicated, result.overtaken),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_and_rates_over_every_protocol_audit_clean() {
    let seeds = [1, 2, 3, 4, 5, 6];
    let sys = system("", &seeds).await;
    let mut stored = 0;
    for (protocol, burst_seed, rate_seed) in [
        (Protocol::Http1, 1, 2),
        (Protocol::Http2, 3, 4),
        (Protocol::Http3, 5, 6),
    ] {
        let burst = clickday_loadgen::load_test(&load(
            &sys,
            protocol,
            burst_seed,
            Mode::Burst { per_account: 3 },
        ))
        .await
        .unwrap();
        let t = &burst.totals;
        assert_eq!(
            (t.requests, t.accepted, t.duplicates),
            (120, 120, 0),
            "{protocol:?}"
        );
        assert_eq!(burst.connections.warm_at_start, 10);
        assert_eq!(burst.start_skew.count, 120);
        // The first requests were sent and held before the instant: none
        // may have reached the gateway (same machine, same clock) early.
        let opened = burst.run.started_unix_nanos;
        let first = burst.acknowledged.iter().map(|a| a.received_at).min();
        assert!(
            first.is_some_and(|first| first >= opened),
            "{protocol:?}: first arrival {first:?}, instant {opened}"
        );
        assert_eq!(burst.timeline.acknowledged.iter().sum::<u64>(), 120);
        stored += 120;
        let result = stored_then_audit(&sys, &burst, stored).await;
        assert!(result.clean(), "{}", result.summary());
        assert_eq!((result.acknowledged, result.lost), (120, 0));
        assert!(result.ranked_groups > 0);

        let stages = parse_stages("0s:200,1s:200").unwrap();
        let rate = clickday_loadgen::load_test(&load(
            &sys,
            protocol,
            rate_seed,
            Mode::Rate {
                start_per_second: 0.0,
                stages,
            },
        ))
        .await
        .unwrap();
        assert_eq!(rate.totals.accepted, 200, "{protocol:?}");
        // The open model spread the sends over the second.
        let sent = &rate.timeline.sent;
        assert!(sent.iter().filter(|n| **n > 0).count() >= 8, "{sent:?}");
        stored += 200;
        let result = stored_then_audit(&sys, &rate, stored).await;
        assert!(result.clean(), "{}", result.summary());
        assert_eq!(result.acknowledged, 200);
        let page = clickday_loadgen::html::render(&rate);
        assert!(page.contains("<svg") && !page.contains("<script"));
    }

    // The same seed again: every application is a resend, answered with
    // its original id and stamp, and the audit still finds each once.
    let again = clickday_loadgen::load_test(&load(
        &sys,
        Protocol::Http2,
        1,
        Mode::Burst { per_account: 3 },
    ))
    .await
    .unwrap();
    assert_eq!((again.totals.accepted, again.totals.duplicates), (0, 120));
    let result = stored_then_audit(&sys, &again, stored).await;
    assert!(result.clean(), "{}", result.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_sends_are_resent_until_acknowledged() {
    // One token per key at a time: most of each account's applications
    // are refused 429 at first and must be resent after Retry-After.
    let sys = system("per_key_per_second = 4\nper_key_burst = 1", &[9]).await;
    let mut test = load(&sys, Protocol::Http2, 9, Mode::Burst { per_account: 3 });
    test.accounts = 10;
    let report = clickday_loadgen::load_test(&test).await.unwrap();
    assert_eq!(report.totals.accepted, 30, "{}", report.summary());
    assert!(report.resends.rate_limited >= 20, "{:?}", report.resends);
    assert_eq!(report.statuses["429"], report.resends.rate_limited);
    assert!(report.totals.attempts > 30);
    let result = stored_then_audit(&sys, &report, 30).await;
    assert!(result.clean(), "{}", result.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_fails_when_a_stored_row_is_removed_or_altered() {
    let sys = system("", &[5]).await;
    let report = clickday_loadgen::load_test(&load(
        &sys,
        Protocol::Http2,
        5,
        Mode::Burst { per_account: 1 },
    ))
    .await
    .unwrap();
    assert!(stored_then_audit(&sys, &report, 40).await.clean());

    let db = sqlx::SqlitePool::connect(&sys.cfg.store.to_url())
        .await
        .unwrap();
    let removed = &report.acknowledged[3].submission_id;
    // Its receipt, email and ledger position go with it (the ledger's
    // own leaf stays: the log is append-only).
    for table in ["receipts", "email_outbox", "ledger_leaves", "submissions"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE submission_id = ?"))
            .bind(removed)
            .execute(&db)
            .await
            .unwrap();
    }
    let result = audit(&report, &sys.cfg.store.to_url()).await.unwrap();
    assert_eq!(
        (result.lost, result.mismatched),
        (1, 0),
        "{}",
        result.summary()
    );
    assert!(!result.clean());
    assert!(result.examples.iter().any(|e| e.contains(removed.as_str())));

    let altered = &report.acknowledged[7].submission_id;
    sqlx::query("UPDATE submissions SET received_at = received_at + 1 WHERE submission_id = ?")
        .bind(altered)
        .execute(&db)
        .await
        .unwrap();
    let result = audit(&report, &sys.cfg.store.to_url()).await.unwrap();
    assert_eq!(
        (result.lost, result.mismatched),
        (1, 1),
        "{}",
        result.summary()
    );
    assert!(!result.clean());
    // The ledger still has both as acknowledged: it is the store that moved.
    assert_eq!(
        (
            result.ledger_missing,
            result.ledger_mismatched,
            result.ledger_leaves
        ),
        (0, 0, 40),
        "{}",
        result.summary()
    );

    // A leaf whose stamp differs from the acknowledgement: its bundle
    // rewritten (the root no longer matches the checkpoint either).
    let (path, data): (String, Vec<u8>) = sqlx::query_as(
        "SELECT path, data FROM ledger_tiles WHERE path LIKE 'tile/entries/%' ORDER BY length(data) DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let mut leaves: Vec<Vec<u8>> = clickday_ledger::bundle_entries(&data)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let mut leaf = clickday_ledger::Leaf::from_bytes(&leaves[0]).unwrap();
    leaf.stamp.unix_nanos += 1;
    leaves[0] = leaf.to_bytes();
    sqlx::query("UPDATE ledger_tiles SET data = ? WHERE path = ?")
        .bind(clickday_ledger::entry_bundle(
            leaves.iter().map(Vec::as_slice),
        ))
        .bind(&path)
        .execute(&db)
        .await
        .unwrap();
    let refused = audit(&report, &sys.cfg.store.to_url()).await.unwrap_err();
    assert!(refused.to_string().contains("another root"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_open_prove_and_close_connections_over_http2_and_http3() {
    let sys = system("", &[]).await;
    let trust = Trust::CaFile(sys.gateway_ca());
    let h2 = Target::new(&sys.gateway_url(), Protocol::Http2, Some(&trust))
        .await
        .unwrap();
    for protocol in [Protocol::Http2, Protocol::Http3] {
        let target = Target::new(&sys.gateway_url(), protocol, Some(&trust))
            .await
            .unwrap();
        let r = handshakes::measure(&target, 2, Duration::from_millis(300)).await;
        assert_eq!(r.failed, 0, "{}", r.summary());
        assert!(r.established >= 2, "{}", r.summary());
        assert!(r.p99_ms >= r.p50_ms && r.p50_ms > 0.0, "{}", r.summary());
        // Every one of them was closed, not left to time out: the gateway
        // counts no open connection of that protocol (but the one asking).
        let label = if protocol == Protocol::Http3 {
            "h3"
        } else {
            "h2"
        };
        let line = format!("clickday_gateway_connections{{protocol=\"{label}\"}} ");
        let asking = usize::from(protocol == Protocol::Http2);
        clickday_testkit::eventually(
            &format!("{label}: the run's connections closed"),
            Duration::from_secs(5),
            async || {
                let connection = h2
                    .connect(Arc::new(Gate::new(Instant::now())))
                    .await
                    .unwrap();
                let metrics = connection
                    .send(
                        http::Request::get(h2.uri("/metrics"))
                            .body(bytes::Bytes::new())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let text = String::from_utf8_lossy(&metrics.body).into_owned();
                let open: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix(&line))
                    .map_or(0, |n| n.parse().unwrap());
                (open == asking).then_some(())
            },
        )
        .await;
    }
}

/// The gateway answers an oversized body at once (413) and stops the
/// upload; the answer must still be read, not reported as a failed send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_whole_body_is_read_over_every_protocol() {
    let sys = system("", &[]).await;
    let trust = Trust::CaFile(sys.gateway_ca());
    for protocol in [Protocol::Http1, Protocol::Http2, Protocol::Http3] {
        let target = Target::new(&sys.gateway_url(), protocol, Some(&trust))
            .await
            .unwrap();
        let connection = target
            .connect(Arc::new(Gate::new(Instant::now())))
            .await
            .unwrap();
        let oversized = bytes::Bytes::from(vec![b' '; 1 << 20]);
        let request = http::Request::post(target.uri("/v1/submissions"))
            .header("content-type", "application/json")
            .header("content-length", oversized.len())
            .body(oversized)
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), connection.send(request))
            .await
            .unwrap_or_else(|_| panic!("{protocol:?}: no answer"))
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
        assert_eq!(answer.status, 413, "{protocol:?}");
    }
}
