//! The gateway under hostile or broken conditions: restarts, concurrent
//! resends, rate limits, floods of unknown keys, slow bodies, Redis dying,
//! keys changing at run time, and shutdown with requests in flight.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use clickday_core::PublicKey;
use clickday_store::NewAccount;
use clickday_testkit::{Applicant, Client, Proto};
use common::{Backend, TestGateway, body, over_every_protocol};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn resend_after_restart(backend: Backend) {
    let mut gw = TestGateway::start(backend, "").await;
    let alice = Applicant::new(1);
    let original = gw
        .client(Proto::Http2)
        .await
        .submit(&alice, &body("keep"))
        .await
        .unwrap();
    assert_eq!(original.status, 202);
    gw.restart().await;
    // Later on the clock, on the new process, over the other protocol.
    gw.set_now("2011-01-31T09:00:00+01:00");
    let mut c = gw.client(Proto::Http1).await;
    let again = c.submit(&alice, &body("keep")).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(
        again.json()["submission_id"],
        original.json()["submission_id"]
    );
    assert_eq!(again.json()["received_at"], original.json()["received_at"]);
    let mut changed = body("keep");
    changed.push(b'\n');
    assert_eq!(c.submit(&alice, &changed).await.unwrap().code(), "conflict");
    assert_eq!(gw.records().await.len(), 1);
}

#[tokio::test]
async fn resend_after_restart_sqlite() {
    resend_after_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn resend_after_restart_redis() {
    resend_after_restart(Backend::Redis).await;
}

async fn concurrent_identical_resends(backend: Backend) {
    let gw = TestGateway::start(backend, "").await;
    let payload = body("same-50");
    // 25 streams on one HTTP/2 connection and 25 HTTP/1.1 connections.
    let mut tasks = Vec::new();
    let h2 = gw.client(Proto::Http2).await;
    for i in 0..50 {
        let payload = payload.clone();
        let mut client = if i % 2 == 0 {
            gw.client(Proto::Http1).await
        } else {
            h2.clone_multiplexed()
        };
        tasks.push(tokio::spawn(async move {
            client.submit(&Applicant::new(1), &payload).await.unwrap()
        }));
    }
    let mut statuses = Vec::new();
    let mut ids = BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        statuses.push(reply.status.as_u16());
        ids.insert(reply.json()["submission_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(ids.len(), 1, "all 50 answers name the one original");
    assert_eq!(gw.records().await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_resends_one_entry_sqlite() {
    concurrent_identical_resends(Backend::Sqlite).await;
}

#[tokio::test]
async fn fifty_concurrent_resends_one_entry_redis() {
    concurrent_identical_resends(Backend::Redis).await;
}

over_every_protocol!(rate_limits_per_ip_and_per_key_with_retry_after => rate_limits_per_ip_and_per_key);

async fn rate_limits_per_ip_and_per_key(proto: Proto) {
    let gw = TestGateway::start(
        Backend::Memory,
        "[gateway.rate_limit]\nper_ip_per_second = 1\nper_ip_burst = 6\nper_key_per_second = 1\nper_key_burst = 3",
    )
    .await;
    let mut c = gw.client(proto).await;
    let alice = Applicant::new(1);
    // Per key: three in the burst, then 429 with Retry-After, and the
    // refused one was not queued.
    for i in 0..3 {
        assert_eq!(
            c.submit(&alice, &body(&format!("k{i}")))
                .await
                .unwrap()
                .status,
            202
        );
    }
    let r = c.submit(&alice, &body("k3")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited".into()));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Per IP: the IP bucket (6) is shared by all keys; it has served 4.
    let bob = Applicant::new(2);
    assert_eq!(c.submit(&bob, &body("b0")).await.unwrap().status, 202);
    assert_eq!(c.submit(&bob, &body("b1")).await.unwrap().status, 202);
    let r = c.submit(&bob, &body("b2")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited".into()));
    // The per-IP limit comes before everything, even the key check.
    assert_eq!(
        c.submit(&Applicant::new(999), &body("x"))
            .await
            .unwrap()
            .code(),
        "rate_limited"
    );
    assert_eq!(gw.records().await.len(), 5);
}

over_every_protocol!(forged_signatures_do_not_spend_a_victims_key_budget => forged_signatures_do_not_spend_a_victims_budget);

/// F6: garbage signatures under someone else's `key_id` are refused as
/// `bad_signature` and charge nothing to that key's budget (the per-key
/// limit comes after the signature check since PROTOCOL v1.1).
async fn forged_signatures_do_not_spend_a_victims_budget(proto: Proto) {
    let gw = TestGateway::start(
        Backend::Memory,
        "[gateway.rate_limit]\nper_ip_per_second = 0\nper_key_per_second = 1\nper_key_burst = 2",
    )
    .await;
    let mut c = gw.client(proto).await;
    let victim = Applicant::new(1);
    for i in 0..20 {
        let forged = c.raw_submission(
            Some(&victim.key_id()),
            Some(&"A".repeat(86)),
            "application/json",
            &body(&format!("forged-{i}")),
        );
        assert_eq!(c.send(forged).await.unwrap().code(), "bad_signature");
    }
    for i in 0..2 {
        let r = c
            .submit(&victim, &body(&format!("real-{i}")))
            .await
            .unwrap();
        assert_eq!(r.status, 202, "{proto:?}: the victim's budget is intact");
    }
    assert_eq!(gw.records().await.len(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_keys_leaves_memory_bounded() {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(Proto::Http2).await;
    let payload = body("flood");
    for i in 0..3_000u32 {
        let key = format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15);
        let req = c.raw_submission(Some(&key), Some("AAAA"), "application/json", &payload);
        assert_eq!(c.send(req).await.unwrap().code(), "unknown_key");
    }
    let gateway = &gw.running.as_ref().unwrap().gateway;
    // Unknown keys never reach the per-key limiter or the key registry.
    assert_eq!(gateway.limiters().tracked(), (1, 0));
    assert_eq!(gateway.keys().len(), 20);
    assert!(gw.records().await.is_empty());
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_and_nothing_is_queued() {
    let gw = TestGateway::start(Backend::Sqlite, "body_read_timeout_ms = 300").await;
    let alice = Applicant::new(1);
    let payload = body("slow");
    for proto in Proto::ALL {
        let mut c = gw.client(proto).await;
        let (tx, reply) = c.send_streaming(c.submission(&alice, &payload)).unwrap();
        let started = Instant::now();
        let trickle = {
            let payload = payload.clone();
            tokio::spawn(async move {
                for byte in payload {
                    if tx.send(Bytes::from(vec![byte])).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let r = reply.await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (408, "timeout".into()),
            "{proto:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        trickle.abort();
    }
    assert!(gw.records().await.is_empty());
}

over_every_protocol!(redis_down_means_503_never_2xx_and_nothing_acknowledged_is_lost => redis_down_means_503);

async fn redis_down_means_503(proto: Proto) {
    let mut gw = TestGateway::start(Backend::Redis, "enqueue_timeout_ms = 1000").await;
    let mut c = gw.client(proto).await;
    let mut acknowledged = Vec::new();
    for i in 1..=10 {
        let r = c.submit(&Applicant::new(i), &body("before")).await.unwrap();
        assert_eq!(r.status, 202);
        acknowledged.push(r.json());
    }
    gw.redis.as_mut().unwrap().kill();
    for i in 1..=10 {
        let r = c.submit(&Applicant::new(i), &body("during")).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "unavailable".into()),
            "no 2xx while Redis is down"
        );
        // Grows with the crowd turned away: here 1 then 2 sheds per admitted.
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "{wait}");
    }
    let ready = c.get("/readyz").await.unwrap();
    assert_eq!(
        (ready.status.as_u16(), ready.json()["ready"].clone()),
        (503, serde_json::json!(false))
    );
    gw.redis.as_mut().unwrap().restart();
    // A client that obeys Retry-After and resends the same bytes gets in.
    clickday_testkit::eventually(
        "the gateway recovered",
        Duration::from_secs(10),
        async || {
            let r = c.submit(&Applicant::new(1), &body("during")).await.unwrap();
            (r.status == 202).then_some(())
        },
    )
    .await;
    let records = gw.records().await;
    for ack in &acknowledged {
        let id = ack["submission_id"].as_str().unwrap();
        assert_eq!(
            records.iter().filter(|r| r.submission_id == id).count(),
            1,
            "{id} exactly once"
        );
    }
    assert_eq!(records.len(), 11);
}

#[tokio::test]
async fn new_and_revoked_keys_are_seen_without_restart() {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(Proto::Http1).await;
    let newcomer = Applicant::new(500);
    assert_eq!(
        c.submit(&newcomer, &body("n")).await.unwrap().code(),
        "unknown_key"
    );
    let account = NewAccount {
        account_id: newcomer.account_id.clone(),
        email: newcomer.email.clone(),
        public_key: PublicKey::from_base64(&newcomer.public_key_b64()).unwrap(),
    };
    gw.store.import_accounts(&[account]).await.unwrap();
    clickday_testkit::eventually("a new key working", Duration::from_secs(5), async || {
        (c.submit(&newcomer, &body("n")).await.unwrap().status == 202).then_some(())
    })
    .await;
    assert!(gw.store.revoke_key(&newcomer.key_id()).await.unwrap());
    let mut c = gw.client(Proto::Http1).await;
    clickday_testkit::eventually(
        "a revoked key refused",
        Duration::from_secs(5),
        async || {
            (c.submit(&newcomer, &body("n2")).await.unwrap().code() == "unknown_key").then_some(())
        },
    )
    .await;
}

over_every_protocol!(shutdown_finishes_in_flight_requests_then_stops_accepting => shutdown_finishes_in_flight_requests);

async fn shutdown_finishes_in_flight_requests(proto: Proto) {
    let gw = TestGateway::start(Backend::Sqlite, "").await;
    let alice = Applicant::new(1);
    let payload = body("in-flight");
    let mut c = gw.client(proto).await;
    let (tx, reply) = c.send_streaming(c.submission(&alice, &payload)).unwrap();
    tx.send(Bytes::copy_from_slice(&payload[..10]))
        .await
        .unwrap();
    gw.wait_in_flight(1).await;
    gw.shutdown.cancel();
    // The TCP listener closes as the drain begins.
    clickday_testkit::eventually("the listener closed", Duration::from_secs(10), async || {
        Client::connect(gw.addr(), Proto::Http1, Some(&gw.ca))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    tx.send(Bytes::copy_from_slice(&payload[10..]))
        .await
        .unwrap();
    drop(tx);
    let r = reply.await.unwrap();
    assert_eq!(r.status, 202, "the request in flight at shutdown completes");
    // Refused, or (QUIC) never answered.
    let late = tokio::time::timeout(
        Duration::from_secs(2),
        Client::connect(gw.addr(), proto, Some(&gw.ca)),
    )
    .await;
    assert!(!matches!(late, Ok(Ok(_))), "no new connections");
    assert_eq!(gw.records().await.len(), 1);
}

#[tokio::test]
async fn past_max_in_flight_submissions_are_shed_with_503_and_nothing_is_queued() {
    let gw = TestGateway::start(Backend::Sqlite, "max_in_flight = 1").await;
    let alice = Applicant::new(1);
    let held = body("held");
    // One submission holds the only permit while its body trickles in.
    let mut slow = gw.client(Proto::Http2).await;
    let (tx, reply) = slow.send_streaming(slow.submission(&alice, &held)).unwrap();
    tx.send(Bytes::copy_from_slice(&held[..10])).await.unwrap();
    gw.wait_in_flight(1).await;
    for proto in Proto::ALL {
        let mut c = gw.client(proto).await;
        let r = c.submit(&alice, &body("shed")).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "unavailable".into()),
            "{proto:?}"
        );
        // Grows with the crowd turned away: 1, 2, 3 sheds per admitted.
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3).contains(&wait), "{wait}");
    }
    assert!(
        gw.records().await.is_empty(),
        "a shed submission was queued"
    );
    // The held one completes; the permit is back and the resend is taken.
    tx.send(Bytes::copy_from_slice(&held[10..])).await.unwrap();
    drop(tx);
    assert_eq!(reply.await.unwrap().status, 202);
    let mut c = gw.client(Proto::Http2).await;
    assert_eq!(c.submit(&alice, &body("shed")).await.unwrap().status, 202);
    assert_eq!(gw.records().await.len(), 2);
}
