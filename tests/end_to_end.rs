//! Gateway and persister together, in-process, on every queue × store
//! combination: everything the gateway acknowledged over HTTP/2 with TLS is
//! stored exactly once with the same stamp and bytes, forwarded to three
//! offices, given a verifiable receipt and a confirmation email.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_core::PublicKey;
use clickday_store::{NewAccount, RankingFilter};
use clickday_testkit::{Applicant, Client, Postgres, Proto, RedisServer, eventually};
use clickday_testsystem::System;
use std::collections::HashMap;
use std::time::Duration;

const APPLICANTS: u64 = 30;
const EACH: usize = 10;

async fn acknowledged_means_stored(queue_url: &str, store_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
[gateway.rate_limit]
per_ip_per_second = 0
[queue]
url = "{queue_url}"
shards = 2
[store]
url = "{store_url}"
[persister]
claim_idle_ms = 1000
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
"#,
        dir = dir.path().display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await;
    let accounts: Vec<NewAccount> = (1..=APPLICANTS)
        .map(|n| {
            let a = Applicant::new(n);
            NewAccount {
                account_id: a.account_id.clone(),
                email: a.email.clone(),
                public_key: PublicKey::from_base64(&a.public_key_b64()).unwrap(),
            }
        })
        .collect();
    sys.store.import_accounts(&accounts).await.unwrap();
    let sys = sys.with_gateway().await.with_persister();
    let store = sys.store.clone();
    let running = sys.gateway.as_ref().unwrap();
    let ca = clickday_gateway::tls::read_certificate(running.cert_path.as_ref().unwrap()).unwrap();
    let addr = running.local_addr;

    let mut tasks = Vec::new();
    for n in 1..=APPLICANTS {
        let ca = ca.clone();
        tasks.push(tokio::spawn(async move {
            let applicant = Applicant::new(n);
            let mut c = Client::connect(addr, Proto::Http2, Some(&ca))
                .await
                .unwrap();
            let mut acks = Vec::new();
            for i in 0..EACH {
                let body = clickday_testkit::signer::body(&format!("app-{i}"), "cd");
                let reply = c.submit(&applicant, &body).await.unwrap();
                assert_eq!(reply.status, 202, "{:?}", reply.body);
                let j = reply.json();
                acks.push((
                    j["submission_id"].as_str().unwrap().to_string(),
                    j["received_at"].as_str().unwrap().to_string(),
                    body,
                ));
            }
            acks
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap());
    }
    let total = acks.len();

    eventually(
        "all stored, receipted and mailed",
        Duration::from_secs(60),
        async || {
            let s = store.status().await.unwrap();
            (s.submissions as usize == total && s.without_receipt == 0 && s.unsent_emails == 0)
                .then_some(())
        },
    )
    .await;
    sys.stop().await;

    let rows = store
        .ranking("cd", &RankingFilter::default())
        .await
        .unwrap();
    let by_id: HashMap<&str, usize> = rows.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.submission_id.as_str()).or_default() += 1;
        m
    });
    assert_eq!(rows.len(), total);
    for (id, at, body) in &acks {
        assert_eq!(by_id.get(id.as_str()), Some(&1), "{id} stored exactly once");
        let stored = store.stored_body(id).await.unwrap().unwrap();
        assert_eq!(
            clickday_core::time::format_rfc3339_nanos(stored.received_at),
            *at,
            "same stamp"
        );
        assert_eq!(&stored.body, body, "same bytes");
        assert_eq!(store.forwarding(id).await.unwrap().len(), 3);
        assert!(
            store
                .receipt(id)
                .await
                .unwrap()
                .unwrap()
                .statement
                .contains(id.as_str())
        );
    }
    let outbox = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(outbox, total, "one confirmation email per submission");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sqlite_queue_and_store() {
    let dir = tempfile::tempdir().unwrap();
    let q = format!("sqlite://{}", dir.path().join("q.db").display());
    let s = format!("sqlite://{}", dir.path().join("s.db").display());
    acknowledged_means_stored(&q, &s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_and_postgres_store() {
    let (redis, pg) = (RedisServer::start(), Postgres::start());
    acknowledged_means_stored(&redis.url(), &pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_and_sqlite_store() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    acknowledged_means_stored(
        &redis.url(),
        &format!("sqlite://{}", dir.path().join("s.db").display()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_and_postgres_store() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    acknowledged_means_stored(
        &format!("sqlite://{}", dir.path().join("q.db").display()),
        &pg.url(),
    )
    .await;
}
