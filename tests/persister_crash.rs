//! The real `clickday persister` process killed with SIGKILL in the middle
//! of draining: restarted (or replaced by a second persister that takes over
//! its pending entries), nothing is lost and nothing is stored twice.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_core::Submission;
use clickday_queue::{Enqueued, Queue};
use clickday_store::{RankingFilter, Store};
use clickday_testkit::{Postgres, RedisServer};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: u64 = 12_000;
const BASE: u64 = 1_700_000_000_000_000_000;

fn record(i: u64) -> Submission {
    let body = format!(
        "{{\"application_id\":\"app-{i}\",\"pad\":\"{}\"}}",
        "x".repeat(200)
    );
    let mut s = clickday_testkit::submission(
        &format!("acct-{}", i % 1_000),
        &format!("app-{i}"),
        body,
        BASE + i,
    );
    s.submission_id = format!("{:020}-00002", BASE + i);
    s.stamp.node = 2;
    s.stamp.seq = i;
    s
}

fn write_config(dir: &Path, queue: &str, store: &str) -> std::path::PathBuf {
    let text = format!(
        r#"node_id = 2
data_dir = "{dir}"
[queue]
url = "{queue}"
shards = 2
[store]
url = "{store}"
[persister]
batch_max = 200
claim_idle_ms = 500
max_backoff_ms = 200
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
"#,
        dir = dir.display()
    );
    let path = dir.join("clickday.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_persister(config: &Path, consumer: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clickday"))
        .args(["persister", "--config"])
        .arg(config)
        .env("CLICKDAY_PERSISTER__CONSUMER", consumer)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn fill(queue: Arc<dyn Queue>) {
    let mut ids: Vec<u64> = (0..N).collect();
    while !ids.is_empty() {
        let chunk: Vec<u64> = ids.drain(..ids.len().min(500)).collect();
        let tasks: Vec<_> = chunk
            .into_iter()
            .map(|i| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.enqueue(&record(i)).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Enqueued::New);
        }
    }
}

async fn stored(store: &dyn Store) -> usize {
    store
        .ranking("cd", &RankingFilter::default())
        .await
        .map(|r| r.len())
        .unwrap_or(0)
}

async fn kill_mid_drain(queue_url: &str, store_url: &str, dir: &Path, successor: &str) {
    let config = write_config(dir, queue_url, store_url);
    let options = clickday_queue::QueueOptions {
        shards: 2,
        redis_connections: 2,
        max_batch: clickday_queue::MaxBatch {
            redis: 64,
            sqlite: 256,
        },
        replica_acks: clickday_queue::ReplicaAcks::default(),
    };
    let queue = clickday_queue::open(queue_url, &options).await.unwrap();
    let store = clickday_store::open(store_url).await.unwrap();
    fill(queue.clone()).await;

    let mut first = spawn_persister(&config, "p1");
    let start = Instant::now();
    while stored(&*store).await < (N / 4) as usize {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "persister made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL, mid-drain
    first.wait().unwrap();
    let at_kill = stored(&*store).await;
    assert!(
        at_kill < N as usize,
        "the kill landed before the drain ended ({at_kill})"
    );
    // ...and before the arrival ledger had every stored row.
    let logged_at_kill = store
        .ledger_state("cd")
        .await
        .unwrap()
        .map_or(0, |(n, _)| n);
    assert!(logged_at_kill < N, "the ledger was complete at the kill");

    let mut second = spawn_persister(&config, successor);
    let start = Instant::now();
    loop {
        let mut unfinished = 0;
        for shard in 0..queue.shards() {
            unfinished += queue.pending(shard).await.unwrap() + queue.backlog(shard).await.unwrap();
        }
        if stored(&*store).await == N as usize && unfinished == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "drain did not finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The ledger catches up: every stored row once, in a signed checkpoint.
    clickday_testsystem::wait_for_checkpoint(&*store, "cd", N).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(store.dead_letters().await.unwrap().is_empty());
    // No leaf twice, no gap, root recomputed, stored rows = leaves.
    let verified = Command::new(env!("CARGO_BIN_EXE_clickday"))
        .args(["ledger", "verify", "cd", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && out.contains(&format!("{N} leaves")),
        "{out}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        out.contains(&format!("stored rows = leaves ({N})")),
        "{out}"
    );
    let rows = store
        .ranking("cd", &RankingFilter::default())
        .await
        .unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.submission_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N as usize, "every submission exactly once");
    for i in (0..N).step_by(997) {
        let r = record(i);
        let body = store.stored_body(&r.submission_id).await.unwrap().unwrap();
        assert_eq!(
            (body.received_at, body.body.as_slice()),
            (r.received_at(), r.body.as_ref())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persister_sigkill_then_restart_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("sqlite://{}", dir.path().join("queue.db").display());
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    kill_mid_drain(&queue, &store, dir.path(), "p1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persister_sigkill_then_another_takes_over_on_redis_and_postgres() {
    let (redis, pg) = (RedisServer::start(), Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    kill_mid_drain(&redis.url(), &pg.url(), dir.path(), "p2").await;
}
