//! Redis Streams backend. Per shard `s`, three keys share the hash tag
//! `{clickday:s}` so one shard lives in one Redis Cluster slot:
//! `…:stream` (the queue), `…:dedupe` (hash: account+application → digest,
//! id, stamp) and `…:nodes` (hash: node → highest stamp); with replica
//! acks, a fourth, `…:fence`, is written by readers (see
//! [`RedisQueue::delivered`]).
//!
//! Requests share a few multiplexed connections: concurrent enqueues are
//! pipelined on them, never a connection per request. The same code runs
//! on one Redis and on a Redis Cluster (see `connection.rs`).

use crate::batcher::{Call, ENQUEUE_LUA, ShardBatcher, script_args};
use crate::connection::{Connection, Target};
use crate::record::{decode, judge_previous};
use crate::{Delivery, Enqueued, MaxBatch, Queue, QueueError, QueueOptions, ReplicaAcks, shard_of};
use clickday_core::Submission;
use redis::{Script, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// `WAIT`s for the replicas to hold what a read delivered, at most.
const DELIVERY_WAITS: usize = 5;

/// The consumer group every persister joins.
pub const GROUP: &str = "persisters";

pub struct RedisQueue {
    /// Shared, pipelined, self-reconnecting connections for enqueues.
    connections: Vec<Connection>,
    next: AtomicUsize,
    /// A separate connection for blocking reads, so a consumer's
    /// `XREADGROUP … BLOCK` never holds up producers' pipelines.
    consumer: Connection,
    /// Per shard: its enqueue call (script, keys, replica acks).
    calls: Vec<Call>,
    scripts: NodeScripts,
    /// Per shard, the stage batching enqueues per round trip; `None` with
    /// `max_batch` 1 (a script call per submission).
    batchers: Option<Vec<ShardBatcher>>,
    shards: u16,
    /// Replicas that must hold an entry before it is delivered to a
    /// consumer, as before it is acknowledged to a client.
    replicas: ReplicaAcks,
}

/// The small scripts of node claims and the reference clock.
struct NodeScripts {
    claim: Script,
    release: Script,
    time: Script,
}

impl Default for NodeScripts {
    fn default() -> Self {
        NodeScripts {
            // Another live holder's name, or nil once ours (set or renewed).
            claim: Script::new(
                r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
",
            ),
            release: Script::new(
                r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
            ),
            time: Script::new("return redis.call('TIME')"),
        }
    }
}

fn unavailable(e: redis::RedisError) -> QueueError {
    QueueError::unavailable(e)
}

impl RedisQueue {
    /// A single Redis or a cluster, without replica acks: `connections`
    /// multiplexed connections for enqueues; up to `max_batch` submissions
    /// of a shard per script call (1: one call each, no batching stage).
    pub async fn connect(
        url: &str,
        shards: u16,
        connections: usize,
        max_batch: usize,
    ) -> Result<Self, QueueError> {
        let options = QueueOptions {
            shards,
            redis_connections: connections,
            max_batch: MaxBatch {
                redis: max_batch,
                sqlite: 1,
            },
            replica_acks: ReplicaAcks::default(),
        };
        Self::open(url, &options).await
    }

    /// `redis://…` or `redis+cluster://…` with every option.
    pub async fn open(url: &str, options: &QueueOptions) -> Result<Self, QueueError> {
        let target = Target::parse(url)?;
        let replicas = options.replica_acks;
        // A call may wait for its replicas as long as WAIT's own timeout.
        let response_timeout = Duration::from_secs(5) + replicas.timeout;
        let mut pool = Vec::with_capacity(options.redis_connections.max(1));
        for _ in 0..options.redis_connections.max(1) {
            pool.push(target.connect(response_timeout).await?);
        }
        // Blocking reads wait up to their own `block`; allow for it.
        let consumer = target.connect(Duration::from_secs(60)).await?;
        let shards = options.shards.max(1);
        let script = Arc::new(Script::new(ENQUEUE_LUA));
        let calls: Vec<Call> = (0..shards)
            .map(|shard| Call {
                script: script.clone(),
                keys: Arc::new(["stream", "dedupe", "nodes"].map(|what| Self::key(shard, what))),
                replicas,
            })
            .collect();
        let max_batch = options.max_batch.redis;
        // Each shard may have a call in flight on every connection.
        let batchers = (max_batch > 1).then(|| {
            calls
                .iter()
                .map(|call| ShardBatcher::start(call.clone(), pool.clone(), pool.len(), max_batch))
                .collect()
        });
        tracing::debug!(
            cluster = target.is_cluster(),
            shards,
            "Redis queue connected"
        );
        Ok(RedisQueue {
            connections: pool,
            next: AtomicUsize::new(0),
            consumer,
            calls,
            scripts: NodeScripts::default(),
            batchers,
            shards,
            replicas,
        })
    }

    /// Runs `read`, a command delivering entries of `shard`, on the
    /// consumer connection; with replica acks, only once what it delivered
    /// is on enough replicas. A persister must never store an entry that a
    /// failover can still take back: the gateway refused it (503), the
    /// client's resend is then a new arrival, and a stored row with the
    /// refused attempt's stamp would disagree with the acknowledgement.
    /// `WAIT` covers this connection's writes up to its last one, and a
    /// blocked `XREADGROUP` served later does not reliably count as one
    /// (on Redis 7.0.15 `WAIT 1` after it sometimes answered 1 while the
    /// only replica was stopped): a write after it, in the shard's slot,
    /// makes the mark. A replica that is only slow is waited for a few
    /// timeouts more; past that the entries stay pending, to be claimed
    /// again after `claim_idle`.
    async fn delivered(&self, shard: u16, read: redis::Cmd) -> Result<Value, QueueError> {
        let mut connection = self.consumer.clone();
        if self.replicas.wanted == 0 {
            return read.query_async(&mut connection).await.map_err(unavailable);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(read)
            .cmd("SET")
            .arg(Self::key(shard, "fence"))
            .arg(1)
            .ignore()
            .add_command(self.replicas.wait());
        let mut replies: Vec<Value> = pipe
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let mut judged = self.replicas.judge(replies.pop());
        for _ in 1..DELIVERY_WAITS {
            if !matches!(judged, Err(QueueError::NotReplicated { .. })) {
                break;
            }
            // The connection's mark still covers the fence.
            let answer: Value = self
                .replicas
                .wait()
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            judged = self.replicas.judge(Some(answer));
        }
        judged?;
        replies
            .pop()
            .ok_or_else(|| proto("a fenced read answered nothing"))
    }

    fn connection(&self) -> Connection {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }

    fn key(shard: u16, what: &str) -> String {
        format!("{{clickday:{shard}}}:{what}")
    }

    fn node_claim_key(node: u16) -> String {
        Self::key(0, &format!("node-claim:{node}"))
    }

    /// Returns `appendonly` and `appendfsync`, so the gateway can warn when
    /// an acknowledged submission could be lost on a Redis crash.
    pub async fn durability_settings(&self) -> Result<(String, String), QueueError> {
        let mut conn = self.connection();
        let mut get = async |name: &str| -> Result<String, QueueError> {
            let pair: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            pair.into_iter()
                .nth(1)
                .ok_or_else(|| QueueError::Protocol(format!("CONFIG GET {name} empty")))
        };
        Ok((get("appendonly").await?, get("appendfsync").await?))
    }

    /// Creates the consumer group of `shard` if it does not exist yet.
    async fn ensure_group(&self, shard: u16) -> Result<(), QueueError> {
        let mut conn = self.consumer.clone();
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(Self::key(shard, "stream"))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(unavailable),
        }
    }
}

#[async_trait::async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, record: &Submission) -> Result<Enqueued, QueueError> {
        let shard = shard_of(&record.account_id, self.shards);
        let args = script_args(record);
        let previous = match &self.batchers {
            Some(batchers) => batchers[usize::from(shard)].enqueue(args).await?,
            None => {
                let answers = self.calls[usize::from(shard)]
                    .run(&mut self.connection(), std::iter::once(&args))
                    .await?;
                answers.into_iter().next().flatten()
            }
        };
        match previous {
            None => Ok(Enqueued::New),
            Some(previous) => judge_previous(&previous, record),
        }
    }

    async fn check_ready(&self) -> Result<(), QueueError> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(QueueError::Protocol(format!("PING answered {pong:?}")))
        }
    }

    async fn last_stamp(&self, node: u16) -> Result<u64, QueueError> {
        let mut highest = 0;
        for shard in 0..self.shards {
            let stamp: Option<String> = redis::cmd("HGET")
                .arg(Self::key(shard, "nodes"))
                .arg(node)
                .query_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
            if let Some(stamp) = stamp {
                let stamp: u64 = stamp
                    .parse()
                    .map_err(|_| QueueError::Protocol(format!("bad node stamp {stamp:?}")))?;
                highest = highest.max(stamp);
            }
        }
        Ok(highest)
    }

    async fn claim_node(
        &self,
        node: u16,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<String>, QueueError> {
        let mut invocation = self.scripts.claim.key(Self::node_claim_key(node));
        invocation.arg(holder).arg(lease.as_millis().max(1) as u64);
        invocation
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)
    }

    async fn release_node(&self, node: u16, holder: &str) -> Result<(), QueueError> {
        let mut invocation = self.scripts.release.key(Self::node_claim_key(node));
        invocation.arg(holder);
        let _: i64 = invocation
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `TIME` of the primary of shard 0 (a keyed script, so a cluster
    /// always answers from the same node).
    async fn server_time(&self) -> Result<Option<u64>, QueueError> {
        let (secs, micros): (u64, u64) = self
            .scripts
            .time
            .key(Self::key(0, "nodes"))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(Some(secs * 1_000_000_000 + micros * 1_000))
    }

    fn shards(&self) -> u16 {
        self.shards
    }

    async fn read_batch(
        &self,
        shard: u16,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.ensure_group(shard).await?;
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(Self::key(shard, "stream"))
            .arg(">");
        let reply = self.delivered(shard, read).await?;
        // Nil on timeout, else [[stream, [entries]]].
        match reply {
            Value::Nil => Ok(Vec::new()),
            Value::Array(streams) => {
                let mut out = Vec::new();
                for stream in streams {
                    let mut parts = array(stream)?.into_iter();
                    let entries = parts
                        .nth(1)
                        .ok_or_else(|| proto("stream without entries"))?;
                    out.extend(entries_to_deliveries(entries)?);
                }
                Ok(out)
            }
            other => Err(proto(&format!("XREADGROUP answered {other:?}"))),
        }
    }

    async fn claim_stale(
        &self,
        shard: u16,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.ensure_group(shard).await?;
        let mut claim = redis::cmd("XAUTOCLAIM");
        claim
            .arg(Self::key(shard, "stream"))
            .arg(GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(max);
        let reply = self.delivered(shard, claim).await?;
        // [next-start, [entries], [deleted ids]]
        let entries = array(reply)?
            .into_iter()
            .nth(1)
            .ok_or_else(|| proto("XAUTOCLAIM reply too short"))?;
        entries_to_deliveries(entries)
    }

    async fn ack(&self, shard: u16, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let _: i64 = redis::cmd("XACK")
            .arg(Self::key(shard, "stream"))
            .arg(GROUP)
            .arg(ids)
            .query_async(&mut self.consumer.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn pending(&self, shard: u16) -> Result<u64, QueueError> {
        self.ensure_group(shard).await?;
        let reply: Value = redis::cmd("XPENDING")
            .arg(Self::key(shard, "stream"))
            .arg(GROUP)
            .query_async(&mut self.consumer.clone())
            .await
            .map_err(unavailable)?;
        match array(reply)?.into_iter().next() {
            Some(Value::Int(n)) => Ok(n.max(0) as u64),
            other => Err(proto(&format!("XPENDING answered {other:?}"))),
        }
    }

    /// Entries after the group's last delivered id, counted with XRANGE so
    /// the answer is exact even where XINFO's `lag` is unknown (exact up to
    /// 100,000; a lower bound above, which is enough to tell "drained").
    async fn backlog(&self, shard: u16) -> Result<u64, QueueError> {
        self.ensure_group(shard).await?;
        let groups: Value = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(Self::key(shard, "stream"))
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let mut last_delivered = None;
        for group in array(groups)? {
            let fields = match group {
                Value::Array(items) => items.into_iter().map(bulk).collect::<Vec<_>>(),
                Value::Map(pairs) => pairs
                    .into_iter()
                    .flat_map(|(k, v)| [bulk(k), bulk(v)])
                    .collect(),
                _ => continue,
            };
            let mut name = None;
            let mut last = None;
            for pair in fields.chunks(2) {
                match (
                    pair.first().cloned().flatten().as_deref(),
                    pair.get(1).cloned().flatten(),
                ) {
                    (Some(b"name"), value) => name = value,
                    (Some(b"last-delivered-id"), value) => last = value,
                    _ => {}
                }
            }
            if name.as_deref() == Some(GROUP.as_bytes()) {
                last_delivered = last;
            }
        }
        let start = match last_delivered {
            Some(id) => format!("({}", String::from_utf8_lossy(&id)),
            None => "-".to_string(),
        };
        let entries: Value = redis::cmd("XRANGE")
            .arg(Self::key(shard, "stream"))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(100_000)
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(array(entries)?.len() as u64)
    }

    async fn all_submissions(&self, shard: u16) -> Result<Vec<Submission>, QueueError> {
        let reply: Value = redis::cmd("XRANGE")
            .arg(Self::key(shard, "stream"))
            .arg("-")
            .arg("+")
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        entries_to_deliveries(reply)?
            .into_iter()
            .map(|d| d.submission.map_err(QueueError::Protocol))
            .collect()
    }
}

fn proto(what: &str) -> QueueError {
    QueueError::Protocol(what.to_string())
}

fn array(value: Value) -> Result<Vec<Value>, QueueError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(proto(&format!("expected an array, got {other:?}"))),
    }
}

fn bulk(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// `[[id, [field, value, …]], …]` → deliveries; an entry whose fields do
/// not form a record is delivered with the reason instead of a record.
fn entries_to_deliveries(entries: Value) -> Result<Vec<Delivery>, QueueError> {
    let mut out = Vec::new();
    for entry in array(entries)? {
        let mut parts = array(entry)?.into_iter();
        let id = parts
            .next()
            .and_then(bulk)
            .ok_or_else(|| proto("entry without id"))?;
        let id = String::from_utf8(id).map_err(|_| proto("entry id not UTF-8"))?;
        let fields = match parts.next() {
            Some(Value::Array(fields)) => fields,
            // A claimed entry that was deleted meanwhile has no fields.
            _ => Vec::new(),
        };
        let mut pairs = Vec::with_capacity(fields.len() / 2);
        let mut iter = fields.into_iter();
        while let (Some(name), Some(value)) = (iter.next(), iter.next()) {
            if let (Some(name), Some(value)) = (bulk(name), bulk(value)) {
                pairs.push((name, value));
            }
        }
        let submission = pairs
            .iter()
            .find(|(name, _)| name == crate::record::FIELD.as_bytes())
            .ok_or_else(|| format!("field {} missing", crate::record::FIELD))
            .and_then(|(_, value)| decode(value));
        out.push(Delivery { id, submission });
    }
    Ok(out)
}
