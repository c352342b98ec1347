//! Persister benchmarks, each printed as a ratio to a baseline measured in
//! the same run (not a test: `cargo bench --bench persister`).
//!
//! 1. Drain rate: the real persister (default settings for PostgreSQL: 8
//!    workers per shard, batches of 1,000) moving N records from a private
//!    Redis (AOF always) into a private PostgreSQL, against a plain `COPY`
//!    of the same rows into an identical table. Target: at least 0.7 of COPY.
//! 2. Receipts per second on one core (sign + render the PDF), against the
//!    2,000/s target, with the share spent on the Ed25519 signature.

use clickday_config::Config;
use clickday_core::Submission;
use clickday_queue::{Queue, RedisQueue};
use clickday_store::{Keys as _, PgStore, Store, Submissions as _};
use clickday_testkit::{Postgres, RedisServer};
use ed25519_dalek::SigningKey;
use sqlx::Executor as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const N: u64 = 100_000;

fn record(i: u64) -> Submission {
    let body = format!(
        r#"{{"application_id":"app-{i}","click_day":"cd","category":"lavoro-domestico","province":"RM","form":"LD","data":{{"employer":{{"name":"Rossi Mario","cf":"RSSMRA80A01H501U"}},"worker":{{"name":"Ana","surname":"Pop","born":"1990-02-03"}},"hours":30}}}}"#
    );
    let mut s = clickday_testkit::submission(
        &format!("acct-{}", i % 20_000),
        &format!("app-{i}"),
        body,
        1_700_000_000_000_000_000 + i,
    );
    s.key_id = "0123456789abcdef0123456789abcdef".into();
    s.stamp.seq = i;
    s
}

async fn drain_vs_copy() {
    let (redis, pg) = (RedisServer::start(), Postgres::start());
    let queue: Arc<dyn Queue> = Arc::new(
        RedisQueue::connect(&redis.url(), 2, 4, 64)
            .await
            .expect("redis"),
    );
    let store = Arc::new(PgStore::connect(&pg.url()).await.expect("postgres"));
    // Real accounts, so every submission also gets its outbox row as in production.
    let accounts: Vec<clickday_store::NewAccount> = (0..20_000u64)
        .map(|i| {
            let mut seed = [3u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            let key = SigningKey::from_bytes(&seed);
            clickday_store::NewAccount {
                account_id: format!("acct-{i}"),
                email: format!("acct-{i}@example.it"),
                public_key: clickday_core::PublicKey::from_bytes(&key.verifying_key().to_bytes())
                    .expect("key"),
            }
        })
        .collect();
    store.import_accounts(&accounts).await.expect("accounts");
    let records: Vec<Submission> = (0..N).map(record).collect();
    let fill = Instant::now();
    for chunk in records.chunks(1_000) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|r| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.enqueue(&r).await.expect("enqueue") })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    }
    println!("queued {N} records in {:.2?}", fill.elapsed());

    // The real persister, from the queue into PostgreSQL, acks included.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[store]\nurl = \"{}\"\n[persister]\nrank_after_close = false\nbatch_max = 1000\n",
        dir.path().display(),
        pg.url()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).expect("config");
    assert_eq!(
        cfg.persister.workers_per_shard, 8,
        "the PostgreSQL default is what is measured"
    );
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let metrics = Arc::new(clickday_persister::metrics::Metrics::default());
    let task = {
        let (queue, store, token, metrics) = (
            queue.clone(),
            store.clone() as Arc<dyn Store>,
            shutdown.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let clock: clickday_core::Clock = Arc::new(|| 0);
            clickday_persister::run_with_metrics(&cfg, queue, store, clock, metrics, token)
                .await
                .expect("persister")
        })
    };
    // The persister's own counter: a probe that puts no load on the
    // database it measures (a row is counted once its batch committed).
    while metrics.stored.get() < N {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = started.elapsed();
    shutdown.cancel();
    task.await.expect("persister task");

    // Baseline: COPY of the same rows into an identical, empty table.
    let pool = store.pool();
    pool.execute("CREATE TABLE copy_target (LIKE submissions INCLUDING ALL)")
        .await
        .expect("create");
    let mut csv = String::with_capacity(records.len() * 600);
    for r in &records {
        use std::fmt::Write as _;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},\"\\x{}\",\"\\x{}\",\"\\x{}\",pending,0",
            r.submission_id,
            r.account_id,
            r.application.application_id,
            r.application.click_day,
            r.application.category,
            r.application.province,
            r.application.form,
            r.stamp.unix_nanos,
            r.stamp.node,
            r.stamp.seq,
            r.key_id,
            hex(&r.body),
            hex(&r.body_sha256),
            hex(&r.signature)
        );
    }
    let started = Instant::now();
    let mut conn = pool.acquire().await.expect("connection");
    let mut copy = conn
        .copy_in_raw(
            "COPY copy_target (submission_id, account_id, application_id, click_day, category, province, form, \
             received_at, node, node_seq, key_id, body, body_sha256, signature, receipt_state, stored_at) \
             FROM STDIN (FORMAT csv)",
        )
        .await
        .expect("copy");
    copy.send(csv.as_bytes()).await.expect("send");
    copy.finish().await.expect("finish");
    let baseline = started.elapsed();
    // The store's own share: persist_batch alone on new rows, no queue.
    let fresh: Vec<Submission> = (N..2 * N).map(record).collect();
    let started = Instant::now();
    for batch in fresh.chunks(1_000) {
        store.persist_batch(batch, &[]).await.expect("persist");
    }
    let store_only = started.elapsed();
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    println!(
        "store alone (persist_batch, 1000 per transaction): {N} in {store_only:.2?} = {:.0}/s, ratio to COPY {:.2}",
        rate(store_only),
        rate(store_only) / rate(baseline)
    );
    println!(
        "drain into PostgreSQL: {N} in {drain:.2?} = {:.0}/s (persister: read, store, ack)",
        rate(drain)
    );
    println!(
        "plain COPY of the same rows: {N} in {baseline:.2?} = {:.0}/s",
        rate(baseline)
    );
    println!(
        "ratio drain/COPY = {:.2} (target >= 0.70)",
        rate(drain) / rate(baseline)
    );
}

fn receipts_per_core() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let jobs: Vec<Submission> = (0..2_000).map(record).collect();
    let started = Instant::now();
    let mut bytes = 0;
    for job in &jobs {
        bytes += clickday_persister::receipts::make_receipt(job, &key, None, Default::default())
            .pdf
            .len();
    }
    let whole = started.elapsed() / jobs.len() as u32;
    let started = Instant::now();
    for job in &jobs {
        let text = clickday_core::receipt::statement_text(job);
        std::hint::black_box(clickday_core::receipt::sign_statement(&text, &key));
    }
    let sign = started.elapsed() / jobs.len() as u32;
    let per_second = 1.0 / whole.as_secs_f64();
    println!(
        "receipts on one core: {whole:.2?} each = {per_second:.0}/s, {} bytes average; ratio to the 2000/s target = {:.2}; signing is {:.0}% of it",
        bytes / jobs.len(),
        per_second / 2_000.0,
        100.0 * sign.as_secs_f64() / whole.as_secs_f64()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    // `cargo test --benches` runs benches once as tests: keep that cheap.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    receipts_per_core();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(drain_vs_copy());
}
