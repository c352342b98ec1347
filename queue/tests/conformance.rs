//! One conformance suite, run by every queue backend: in-memory, the SQLite
//! inbox and Redis Streams (a private redis-server with AOF always).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_core::Submission;
use clickday_queue::{
    Enqueued, MaxBatch, MemoryQueue, Queue, QueueError, QueueOptions, RedisQueue, ReplicaAcks,
    SqliteInbox,
};
use clickday_testkit::{RedisCluster, RedisServer};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn record(account: &str, application: &str, body: &str, stamp: u64) -> Submission {
    clickday_testkit::submission(account, application, body.to_string(), stamp)
}

async fn dedupe_and_conflict(queue: &dyn Queue) {
    let first = record("a1", "app-1", "{\"x\":1}", 1_000);
    assert_eq!(queue.enqueue(&first).await.unwrap(), Enqueued::New);
    // A resend is stamped anew by the gateway but must get the original back.
    let resend = record("a1", "app-1", "{\"x\":1}", 2_000);
    assert_eq!(
        queue.enqueue(&resend).await.unwrap(),
        Enqueued::Duplicate {
            submission_id: first.submission_id.clone(),
            received_at: 1_000
        }
    );
    let other_bytes = record("a1", "app-1", "{\"x\":2}", 3_000);
    assert_eq!(
        queue.enqueue(&other_bytes).await.unwrap(),
        Enqueued::Conflict
    );
    // Same application id under another account is another application.
    assert_eq!(
        queue
            .enqueue(&record("a2", "app-1", "{\"x\":1}", 4_000))
            .await
            .unwrap(),
        Enqueued::New
    );
    assert_eq!(queue.last_stamp(1).await.unwrap(), 4_000);
    assert_eq!(queue.last_stamp(2).await.unwrap(), 0);
    let stored = all(queue).await;
    assert_eq!(stored.len(), 2);
    assert!(
        stored.contains(&first),
        "the record comes back byte for byte"
    );
}

async fn all(queue: &dyn Queue) -> Vec<Submission> {
    let mut out = Vec::new();
    for shard in 0..queue.shards() {
        out.extend(queue.all_submissions(shard).await.unwrap());
    }
    out
}

async fn concurrent_identical_resends(queue: Arc<dyn Queue>) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let queue = queue.clone();
            tokio::spawn(
                async move { queue.enqueue(&record("c1", "same", "{}", 10_000 + i)).await },
            )
        })
        .collect();
    let mut new = 0;
    let mut originals = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Enqueued::New => new += 1,
            Enqueued::Duplicate { submission_id, .. } => {
                originals.insert(submission_id);
            }
            Enqueued::Conflict => panic!("same bytes cannot conflict"),
        }
    }
    assert_eq!(new, 1, "exactly one of 50 concurrent resends is new");
    assert_eq!(
        originals.len(),
        1,
        "every duplicate points at the one original"
    );
    let count = all(&*queue)
        .await
        .iter()
        .filter(|r| r.account_id == "c1")
        .count();
    assert_eq!(count, 1);
}

async fn consumers_share_without_overlap(queue: &dyn Queue) {
    for i in 0..20 {
        queue
            .enqueue(&record(&format!("k{i}"), "a", "{}", 50_000 + i))
            .await
            .unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut backlog = 0;
    for shard in 0..queue.shards() {
        backlog += queue.backlog(shard).await.unwrap();
    }
    assert!(
        backlog >= 20,
        "never-delivered entries are counted: {backlog}"
    );
    for shard in 0..queue.shards() {
        let first = queue
            .read_batch(shard, "p1", 7, Duration::from_millis(10))
            .await
            .unwrap();
        let second = queue
            .read_batch(shard, "p2", 100, Duration::from_millis(10))
            .await
            .unwrap();
        for d in first.iter().chain(&second) {
            assert!(
                seen.insert(d.submission.as_ref().unwrap().submission_id.clone()),
                "delivered twice"
            );
        }
        total += first.len() + second.len();
        // p1 "dies" holding its batch; p2 acks its own.
        let ids: Vec<String> = second.iter().map(|d| d.id.clone()).collect();
        queue.ack(shard, &ids).await.unwrap();
        assert_eq!(queue.pending(shard).await.unwrap(), first.len() as u64);
        // Not idle long enough yet: nothing to claim.
        assert!(
            queue
                .claim_stale(shard, "p3", Duration::from_secs(60), 100)
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        let claimed = queue
            .claim_stale(shard, "p3", Duration::from_millis(20), 100)
            .await
            .unwrap();
        let claimed_ids: BTreeSet<_> = claimed.iter().map(|d| d.id.clone()).collect();
        let first_ids: BTreeSet<_> = first.iter().map(|d| d.id.clone()).collect();
        assert_eq!(
            claimed_ids, first_ids,
            "the dead consumer's entries move to p3"
        );
        queue
            .ack(shard, &claimed_ids.into_iter().collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(queue.pending(shard).await.unwrap(), 0);
        assert!(
            queue
                .read_batch(shard, "p1", 100, Duration::from_millis(10))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Records from earlier steps of the suite are delivered too.
    assert!(total >= 20);
}

/// One live holder per node id; the claim is renewed by its holder,
/// refused to another until it lapses or is released.
async fn node_claims(queue: &dyn Queue) {
    let lease = Duration::from_millis(300);
    assert_eq!(queue.claim_node(9, "gw-a", lease).await.unwrap(), None);
    assert_eq!(queue.claim_node(9, "gw-a", lease).await.unwrap(), None);
    assert_eq!(
        queue.claim_node(9, "gw-b", lease).await.unwrap(),
        Some("gw-a".to_string())
    );
    assert_eq!(queue.claim_node(10, "gw-b", lease).await.unwrap(), None);
    // Not the holder: releasing changes nothing.
    queue.release_node(9, "gw-b").await.unwrap();
    assert_eq!(
        queue.claim_node(9, "gw-b", lease).await.unwrap(),
        Some("gw-a".to_string())
    );
    queue.release_node(9, "gw-a").await.unwrap();
    assert_eq!(queue.claim_node(9, "gw-b", lease).await.unwrap(), None);
    // A holder that stops renewing (killed) loses its claim with the lease.
    clickday_testkit::eventually(
        "the claim on node 10 to lapse",
        Duration::from_secs(5),
        async || (queue.claim_node(10, "gw-c", lease).await.unwrap().is_none()).then_some(()),
    )
    .await;
}

/// A server queue answers with its clock (the gateways' common reference).
async fn server_clock(queue: &dyn Queue) {
    let now = clickday_core::system_clock()();
    let theirs = queue.server_time().await.unwrap().expect("a server clock");
    assert!(
        theirs.abs_diff(now) < 5_000_000_000,
        "Redis TIME {theirs} vs local {now}"
    );
}

async fn suite(queue: Arc<dyn Queue>) {
    node_claims(&*queue).await;
    dedupe_and_conflict(&*queue).await;
    concurrent_identical_resends(queue.clone()).await;
    consumers_share_without_overlap(&*queue).await;
}

#[tokio::test]
async fn memory_backend_conforms() {
    suite(Arc::new(MemoryQueue::new())).await;
}

#[tokio::test]
async fn sqlite_backend_conforms_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let queue = Arc::new(SqliteInbox::open(&path, 64).await.unwrap());
    suite(queue.clone()).await;
    let before = all(&*queue).await;
    drop(queue);
    let reopened = SqliteInbox::open(&path, 64).await.unwrap();
    assert_eq!(all(&reopened).await, before);
    // Dedupe state is durable too.
    assert!(matches!(
        reopened
            .enqueue(&record("a1", "app-1", "{\"x\":1}", 99_000))
            .await
            .unwrap(),
        Enqueued::Duplicate {
            received_at: 1_000,
            ..
        }
    ));
}

#[tokio::test]
async fn redis_backend_conforms_with_one_and_many_shards_batched_or_not() {
    for (shards, max_batch) in [(1, 1), (4, 1), (1, 64), (4, 64)] {
        let redis = RedisServer::start();
        let queue = Arc::new(
            RedisQueue::connect(&redis.url(), shards, 2, max_batch)
                .await
                .unwrap(),
        );
        let (appendonly, fsync) = queue.durability_settings().await.unwrap();
        assert_eq!((appendonly.as_str(), fsync.as_str()), ("yes", "always"));
        server_clock(&*queue).await;
        suite(queue).await;
    }
}

#[tokio::test]
async fn redis_killed_means_errors_and_restart_keeps_every_acknowledged_record() {
    let mut redis = RedisServer::start();
    let queue = RedisQueue::connect(&redis.url(), 2, 2, 64).await.unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..200 {
        let r = record(&format!("acct-{i}"), "app", "{}", 1_000 + i);
        assert_eq!(queue.enqueue(&r).await.unwrap(), Enqueued::New);
        acknowledged.push(r);
    }
    redis.kill();
    for i in 0..5 {
        let outcome = queue
            .enqueue(&record("late", &format!("x{i}"), "{}", 9_000 + i))
            .await;
        assert!(
            matches!(outcome, Err(QueueError::Unavailable { .. })),
            "no success while Redis is down: {outcome:?}"
        );
    }
    redis.restart();
    // The same client reconnects by itself; resends are deduped against the AOF.
    let resend = record("acct-7", "app", "{}", 50_000);
    let outcome = loop {
        match queue.enqueue(&resend).await {
            Ok(outcome) => break outcome,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            submission_id: acknowledged[7].submission_id.clone(),
            received_at: 1_007
        }
    );
    // Each pooled connection reconnects on its own first use after the
    // restart: read once every one of them is back.
    let stored = loop {
        let mut stored = Vec::new();
        let mut failed = false;
        for shard in 0..queue.shards() {
            match queue.all_submissions(shard).await {
                Ok(some) => stored.extend(some),
                Err(_) => failed = true,
            }
        }
        if !failed {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for r in &acknowledged {
        assert_eq!(
            stored.iter().filter(|s| *s == r).count(),
            1,
            "{} exactly once after AOF replay",
            r.submission_id
        );
    }
    assert_eq!(stored.len(), acknowledged.len());
}

fn options(shards: u16, max_batch: usize, replicas: u32) -> QueueOptions {
    QueueOptions {
        shards,
        redis_connections: 2,
        max_batch: MaxBatch {
            redis: max_batch,
            sqlite: 1,
        },
        replica_acks: ReplicaAcks {
            wanted: replicas,
            timeout: Duration::from_millis(2_000),
        },
    }
}

#[tokio::test]
async fn redis_cluster_conforms_batched_with_replica_acks_and_one_by_one_without() {
    let mut cluster = RedisCluster::start();
    // Four shards over three primaries: batches go to different nodes.
    let queue = Arc::new(
        RedisQueue::open(&cluster.url(), &options(4, 64, 1))
            .await
            .unwrap(),
    );
    server_clock(&*queue).await;
    suite(queue).await;
    cluster.flush();
    let queue = Arc::new(
        RedisQueue::open(&cluster.url(), &options(3, 1, 0))
            .await
            .unwrap(),
    );
    suite(queue).await;
}

#[tokio::test]
async fn a_write_no_replica_confirms_is_refused_and_a_resend_finds_it() {
    // A lone Redis has no replica: WAIT 1 can never be satisfied.
    let redis = RedisServer::start();
    let mut strict = options(1, 64, 1);
    strict.replica_acks.timeout = Duration::from_millis(50);
    let queue = RedisQueue::open(&redis.url(), &strict).await.unwrap();
    let first = record("r1", "app", "{}", 1_000);
    let refused = queue.enqueue(&first).await;
    assert!(
        matches!(
            refused,
            Err(QueueError::NotReplicated {
                wanted: 1,
                confirmed: 0
            })
        ),
        "{refused:?}"
    );
    // Refused, yet appended on the primary: the resend gets it back, so
    // the client that saw a 503 keeps its first arrival.
    let relaxed = RedisQueue::open(&redis.url(), &options(1, 64, 0))
        .await
        .unwrap();
    assert_eq!(
        relaxed
            .enqueue(&record("r1", "app", "{}", 2_000))
            .await
            .unwrap(),
        Enqueued::Duplicate {
            submission_id: first.submission_id.clone(),
            received_at: 1_000
        }
    );
}

/// With replica acks, a consumer is given only entries the replicas hold:
/// one a failover could still take back (its gateway answered 503, so the
/// resend is a new arrival) must not be stored. The reader is blocked when
/// the entry arrives, the case where `WAIT` alone is not reliable.
#[tokio::test]
async fn a_consumer_is_given_only_entries_the_replicas_hold() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let mut strict = options(1, 1, 1);
    strict.replica_acks.timeout = Duration::from_millis(400);
    let consumer = Arc::new(RedisQueue::open(&primary.url(), &strict).await.unwrap());
    let producer = RedisQueue::open(&primary.url(), &options(1, 1, 0))
        .await
        .unwrap();
    // An empty read first: the group exists, and the replica has confirmed
    // every write of the consumer's connection so far.
    let empty = consumer
        .read_batch(0, "c", 10, Duration::from_millis(1))
        .await;
    assert!(empty.unwrap().is_empty());
    let reader = blocked_reader(&consumer, &primary).await;
    replica.pause();
    let unreplicated = record("f1", "app", "{}", 1_000);
    assert_eq!(
        producer.enqueue(&unreplicated).await.unwrap(),
        Enqueued::New
    );
    let read = reader.await.unwrap();
    assert!(
        matches!(
            read,
            Err(QueueError::NotReplicated {
                wanted: 1,
                confirmed: 0
            })
        ),
        "delivered before a replica had it: {read:?}"
    );
    replica.resume();
    let delivered = clickday_testkit::eventually(
        "the entry delivered once replicated",
        Duration::from_secs(20),
        async || {
            let batch = consumer
                .claim_stale(0, "c", Duration::ZERO, 10)
                .await
                .ok()?;
            (!batch.is_empty()).then_some(batch)
        },
    )
    .await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].submission.as_ref().unwrap().submission_id,
        unreplicated.submission_id
    );

    // A replica that is only slow delays the delivery, no more: the
    // consumer waits again when a WAIT times out, until it is back.
    consumer.ack(0, &[delivered[0].id.clone()]).await.unwrap();
    let reader = blocked_reader(&consumer, &primary).await;
    replica.pause();
    let waits_before = wait_calls(&primary);
    let slow = record("f2", "app", "{}", 2_000);
    assert_eq!(producer.enqueue(&slow).await.unwrap(), Enqueued::New);
    clickday_testkit::eventually(
        "a WAIT to time out and the consumer to wait again",
        Duration::from_secs(20),
        async || (wait_calls(&primary) >= waits_before + 2).then_some(()),
    )
    .await;
    replica.resume();
    let read = reader.await.unwrap().unwrap();
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        read[0].submission.as_ref().unwrap().submission_id,
        slow.submission_id
    );
}

/// A read of shard 0 by consumer "c", once it is blocked on the stream.
async fn blocked_reader(
    consumer: &Arc<RedisQueue>,
    primary: &RedisServer,
) -> tokio::task::JoinHandle<Result<Vec<clickday_queue::Delivery>, QueueError>> {
    let reader = tokio::spawn({
        let consumer = consumer.clone();
        async move {
            consumer
                .read_batch(0, "c", 10, Duration::from_secs(20))
                .await
        }
    });
    clickday_testkit::eventually(
        "the consumer to block on the stream",
        Duration::from_secs(20),
        async || {
            primary
                .info("clients")
                .contains("blocked_clients:1")
                .then_some(())
        },
    )
    .await;
    reader
}

/// `WAIT` commands the server has run.
fn wait_calls(redis: &RedisServer) -> u64 {
    let stats = redis.info("commandstats");
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_wait:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Resharding under load: while submissions of one shard keep arriving,
/// that shard's slot moves to another primary key by key (clients meet
/// `ASK`, `TRYAGAIN`, then `MOVED`). A call that fails is retried as a
/// gateway's client would resend; in the end every submission is in the
/// queue exactly once, on the new primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_moved_to_another_primary_under_load_keeps_everything_once() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let cluster = Arc::new(RedisCluster::start());
    let queue: Arc<dyn Queue> = Arc::new(
        RedisQueue::open(&cluster.url(), &options(1, 64, 1))
            .await
            .unwrap(),
    );
    let key = "{clickday:0}:stream";
    let before = cluster.primary_of(key);
    let (moved, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let senders: Vec<_> = (0..8u64)
        .map(|t| {
            let (queue, moved, sent) = (queue.clone(), moved.clone(), sent.clone());
            tokio::spawn(async move {
                let (mut retried, mut after_move) = (0, 0);
                for i in 0.. {
                    if moved.load(Ordering::SeqCst) {
                        after_move += 1;
                        if after_move > 20 {
                            break;
                        }
                    }
                    let stamp = 1 + t * 1_000_000 + i;
                    let r = record(&format!("acct-{t}"), &format!("app-{i}"), "{}", stamp);
                    loop {
                        match queue.enqueue(&r).await {
                            Ok(Enqueued::New | Enqueued::Duplicate { .. }) => break,
                            Ok(Enqueued::Conflict) => panic!("same bytes cannot conflict"),
                            Err(_) => {
                                retried += 1;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                retried
            })
        })
        .collect();
    // Some records first, so there are keys to move.
    clickday_testkit::eventually("records to move", Duration::from_secs(30), async || {
        (sent.load(Ordering::SeqCst) >= 200).then_some(())
    })
    .await;
    let at_start = sent.load(Ordering::SeqCst);
    let mover = cluster.clone();
    let after = tokio::task::spawn_blocking(move || mover.move_slot_of(key))
        .await
        .unwrap();
    let during = sent.load(Ordering::SeqCst) - at_start;
    moved.store(true, Ordering::SeqCst);
    let mut retried = 0;
    for sender in senders {
        retried += sender.await.unwrap();
    }
    assert_ne!(after, before);
    assert_eq!(cluster.primary_of(key), after);
    assert!(during > 0, "submissions kept arriving while the slot moved");
    let total = sent.load(Ordering::SeqCst) as usize;
    let stored = queue.all_submissions(0).await.unwrap();
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.submission_id.as_str()).collect();
    eprintln!("{total} sent, {during} while the slot moved, {retried} calls retried");
    assert_eq!(stored.len(), total, "every submission once");
    assert_eq!(ids.len(), total);
}
