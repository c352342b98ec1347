//! The persister against real queues and stores: exactly once on every
//! combination, several persisters, a dead consumer's entries taken over,
//! PostgreSQL stopped mid-drain, garbage in the queue, automatic ranking.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_core::Submission;
use clickday_queue::{Enqueued, Queue, RedisQueue, SqliteInbox};
use clickday_store::{PgStore, RankingFilter, SqliteStore, Store};
use clickday_testkit::{Postgres, RedisServer, eventually};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const OPENS: u64 = 1_296_457_200_000_000_000; // 2011-01-31T07:00:00Z
const CLOSES: u64 = OPENS + 3_600_000_000_000;

fn config(consumer: &str, extra: &str) -> Config {
    // Under target/, not /tmp: the keys outlive the tests that share them.
    let keys = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("clickday-receipt-key-{}", std::process::id()));
    let text = format!(
        r#"
data_dir = "{keys}"
[persister]
consumer = "{consumer}"
batch_max = 200
batch_wait_ms = 20
claim_idle_ms = 400
max_backoff_ms = 200
{extra}
[[click_days]]
id = "cd"
opens_at = "2011-01-31T07:00:00Z"
closes_at = "2011-01-31T08:00:00Z"
categories = ["lavoro-domestico"]
[[click_days.quotas]]
category = "lavoro-domestico"
province = "RM"
places = 10
"#,
        keys = keys.display()
    );
    Config::from_toml(&text, std::iter::empty(), 0).unwrap()
}

fn record(i: u64) -> Submission {
    let mut s = clickday_testkit::submission(
        &format!("acct-{}", i % 97),
        &format!("app-{i}"),
        format!("{{\"application_id\":\"app-{i}\"}}"),
        OPENS + i,
    );
    s.application.province = if i.is_multiple_of(2) { "RM" } else { "MI" }.into();
    s.stamp.seq = i;
    s
}

async fn fill(queue: &dyn Queue, range: std::ops::Range<u64>) -> Vec<Submission> {
    let mut out = Vec::new();
    for i in range {
        let r = record(i);
        assert_eq!(queue.enqueue(&r).await.unwrap(), Enqueued::New);
        out.push(r);
    }
    out
}

/// After the click day and its admission tickets (honoured 15 minutes past
/// the close by default): the ranker may run.
fn after_close() -> clickday_core::Clock {
    Arc::new(|| CLOSES + 16 * 60_000_000_000)
}

/// During the click day: the ranker must not run yet.
fn during() -> clickday_core::Clock {
    Arc::new(|| OPENS + 1)
}

fn start(
    cfg: &Config,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    clock: clickday_core::Clock,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let cfg = cfg.clone();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        clickday_persister::run(&cfg, queue, store, clock, token)
            .await
            .unwrap()
    });
    (shutdown, task)
}

async fn stored_count(store: &dyn Store) -> usize {
    store
        .ranking("cd", &RankingFilter::default())
        .await
        .map(|r| r.len())
        .unwrap_or(0)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    eventually(what, limit, async || done().await.then_some(())).await
}

async fn drained(queue: &dyn Queue) -> bool {
    for shard in 0..queue.shards() {
        if queue.pending(shard).await.unwrap() > 0 || queue.backlog(shard).await.unwrap() > 0 {
            return false;
        }
    }
    true
}

/// Everything queued is stored exactly once, byte for byte, then ranked.
async fn exactly_once_then_ranked(queue: Arc<dyn Queue>, store: Arc<dyn Store>) {
    let records = fill(&*queue, 0..1_500).await;
    let (shutdown, task) = start(
        &config("p1", ""),
        queue.clone(),
        store.clone(),
        after_close(),
    );
    wait_for("all stored", Duration::from_secs(60), async || {
        stored_count(&*store).await == records.len()
    })
    .await;
    wait_for("queue drained", Duration::from_secs(10), async || {
        drained(&*queue).await
    })
    .await;
    for r in records.iter().step_by(37) {
        let stored = store.stored_body(&r.submission_id).await.unwrap().unwrap();
        assert_eq!(
            (stored.received_at, stored.body.as_slice(), stored.signature),
            (r.received_at(), r.body.as_ref(), r.signature)
        );
    }
    assert_eq!(
        store
            .forwarding(&records[5].submission_id)
            .await
            .unwrap()
            .len(),
        3
    );
    wait_for("ranking", Duration::from_secs(10), async || {
        store.ranked_at("cd").await.unwrap().is_some()
    })
    .await;
    let rome = store
        .ranking(
            "cd",
            &RankingFilter {
                province: Some("RM".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rome.len(), 750);
    assert!(
        rome.iter()
            .enumerate()
            .all(|(i, r)| r.rank == Some(i as u64 + 1) && r.within_quota == Some(i < 10))
    );
    assert!(rome.windows(2).all(|w| w[0].received_at < w[1].received_at));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_to_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(
        SqliteInbox::open(&dir.path().join("q.db"), 64)
            .await
            .unwrap(),
    );
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    exactly_once_then_ranked(queue, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_to_postgres_store() {
    let (redis, pg) = (RedisServer::start(), Postgres::start());
    let queue = Arc::new(RedisQueue::connect(&redis.url(), 3, 2, 64).await.unwrap());
    let store = Arc::new(PgStore::connect(&pg.url()).await.unwrap());
    exactly_once_then_ranked(queue, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_to_sqlite_store() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(RedisQueue::connect(&redis.url(), 2, 2, 64).await.unwrap());
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    exactly_once_then_ranked(queue, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_to_postgres_store() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(
        SqliteInbox::open(&dir.path().join("q.db"), 64)
            .await
            .unwrap(),
    );
    let store = Arc::new(PgStore::connect(&pg.url()).await.unwrap());
    exactly_once_then_ranked(queue, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_persisters_share_a_queue_without_duplicates() {
    let (redis, pg) = (RedisServer::start(), Postgres::start());
    let queue: Arc<dyn Queue> =
        Arc::new(RedisQueue::connect(&redis.url(), 2, 2, 64).await.unwrap());
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url()).await.unwrap());
    let (s1, t1) = start(&config("p1", ""), queue.clone(), store.clone(), during());
    let (s2, t2) = start(&config("p2", ""), queue.clone(), store.clone(), during());
    let records = fill(&*queue, 0..2_000).await;
    wait_for("all stored", Duration::from_secs(60), async || {
        stored_count(&*store).await == records.len()
    })
    .await;
    wait_for("nothing pending", Duration::from_secs(10), async || {
        drained(&*queue).await
    })
    .await;
    assert!(
        store.dead_letters().await.unwrap().is_empty(),
        "no contradictions, no duplicates"
    );
    assert!(
        store.ranked_at("cd").await.unwrap().is_none(),
        "not ranked while the click day is open"
    );
    s1.cancel();
    s2.cancel();
    t1.await.unwrap();
    t2.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entries_are_taken_over() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn Queue> =
        Arc::new(RedisQueue::connect(&redis.url(), 1, 2, 64).await.unwrap());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let records = fill(&*queue, 0..300).await;
    // A persister that took 120 entries and died before acking them.
    let held = queue
        .read_batch(0, "dead", 120, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(held.len(), 120);
    let (shutdown, task) = start(&config("heir", ""), queue.clone(), store.clone(), during());
    wait_for("all stored", Duration::from_secs(30), async || {
        stored_count(&*store).await == records.len()
    })
    .await;
    wait_for("nothing pending", Duration::from_secs(10), async || {
        drained(&*queue).await
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_mid_drain_loses_nothing_and_acks_nothing_early() {
    let redis = RedisServer::start();
    let mut pg = Postgres::start();
    let queue: Arc<dyn Queue> =
        Arc::new(RedisQueue::connect(&redis.url(), 2, 2, 64).await.unwrap());
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url()).await.unwrap());
    let records = fill(&*queue, 0..3_000).await;
    let metrics: Arc<clickday_persister::metrics::Metrics> = Arc::default();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (cfg, queue, store, metrics, token) = (
            config("p1", ""),
            queue.clone(),
            store.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        async move {
            clickday_persister::run_with_metrics(&cfg, queue, store, during(), metrics, token)
                .await
                .unwrap()
        }
    });
    wait_for("some stored", Duration::from_secs(30), async || {
        stored_count(&*store).await > 0
    })
    .await;
    pg.stop_immediate();
    // While the database is down nothing more can be acknowledged: wait
    // until a batch has failed against it, then look at the queue.
    eventually(
        "a batch refused by the stopped database",
        Duration::from_secs(30),
        async || (metrics.store_errors.get() > 0).then_some(()),
    )
    .await;
    let mut unfinished = 0;
    for shard in 0..queue.shards() {
        unfinished += queue.pending(shard).await.unwrap() + queue.backlog(shard).await.unwrap();
    }
    assert!(
        unfinished > 0,
        "the drain cannot finish without the database"
    );
    pg.start_server();
    wait_for("all stored", Duration::from_secs(60), async || {
        stored_count(&*store).await == records.len()
    })
    .await;
    wait_for("nothing pending", Duration::from_secs(10), async || {
        drained(&*queue).await
    })
    .await;
    for r in records.iter().step_by(101) {
        assert_eq!(
            store
                .stored_body(&r.submission_id)
                .await
                .unwrap()
                .unwrap()
                .received_at,
            r.received_at()
        );
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_record_is_dead_lettered_while_the_rest_flows() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn Queue> =
        Arc::new(RedisQueue::connect(&redis.url(), 1, 2, 64).await.unwrap());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    fill(&*queue, 0..50).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg("{clickday:0}:stream")
        .arg("*")
        .arg("sid")
        .arg("x")
        .arg("junk")
        .arg("\u{0}\u{1}")
        .query_async(&mut conn)
        .await
        .unwrap();
    fill(&*queue, 50..100).await;
    let (shutdown, task) = start(&config("p1", ""), queue.clone(), store.clone(), during());
    wait_for("the rest stored", Duration::from_secs(30), async || {
        stored_count(&*store).await == 100
    })
    .await;
    wait_for("nothing pending", Duration::from_secs(10), async || {
        drained(&*queue).await
    })
    .await;
    let letters = store.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("missing"), "{letters:?}");
    shutdown.cancel();
    task.await.unwrap();
}
