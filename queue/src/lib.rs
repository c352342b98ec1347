//! The submission queue: the durable hand-off between gateways and
//! persisters. One contract ([`Queue`]), three backends: Redis Streams for
//! production, the SQLite inbox for the embedded default, and an in-memory
//! one for benchmarks. All pass the same conformance suite (`tests/`).

mod batcher;
mod connection;
mod memory;
mod record;
mod redis;
mod sqlite;

pub use connection::{CLUSTER_SCHEME, CLUSTER_TLS_SCHEME};
pub use memory::MemoryQueue;
pub use record::shard_of;
pub use redis::RedisQueue;
pub use sqlite::SqliteInbox;

use clickday_core::Submission;
use std::sync::Arc;
use std::time::Duration;

/// What happened to an enqueued submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// New, and durable.
    New,
    /// The same account already queued this `application_id` with the same
    /// body bytes: here are the original id and stamp.
    Duplicate {
        submission_id: String,
        received_at: u64,
    },
    /// The same account already queued this `application_id` with other bytes.
    Conflict,
}

/// Failures of the queue itself (never the client's fault). Cloneable, so
/// one failed group commit answers every request of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The backend could not be reached or could not make the write durable.
    #[error("queue unavailable: {source}")]
    Unavailable {
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The write reached the primary but fewer replicas than asked
    /// confirmed it in time: not acknowledged (a resend finds it).
    #[error("queue write not replicated: {confirmed} of {wanted} replicas confirmed in time")]
    NotReplicated { wanted: u32, confirmed: u32 },
    /// The SQLite inbox's writer task has stopped (the process is ending).
    #[error("queue unavailable: the inbox writer has stopped")]
    Stopped,
    /// The folder of the SQLite inbox could not be made.
    #[error("queue folder {}: {source}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        source: Arc<std::io::Error>,
    },
    /// The queue URL names no backend.
    #[error(
        "{url:?}: expected sqlite://PATH, redis://HOST:PORT/DB or redis+cluster://HOST:PORT,HOST:PORT"
    )]
    BadUrl { url: String },
    /// The backend answered something this code does not understand.
    #[error("queue protocol error: {0}")]
    Protocol(String),
}

impl QueueError {
    /// The backend failed with `source`.
    pub(crate) fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        QueueError::Unavailable {
            source: Arc::new(source),
        }
    }
}

/// One entry handed to a consumer. `submission` is `Err` for an entry that
/// cannot be decoded; the consumer dead-letters it and acks it.
#[derive(Debug)]
pub struct Delivery {
    /// Backend-specific id to pass back to [`Queue::ack`].
    pub id: String,
    pub submission: Result<Submission, String>,
}

/// The queue contract shared by gateways (producers) and persisters
/// (consumer-group members).
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Dedupes on (account, application id) and appends, atomically: a
    /// resend can never be appended twice, even from two gateways at once.
    /// Returns only once the submission is durable.
    async fn enqueue(&self, submission: &Submission) -> Result<Enqueued, QueueError>;

    /// Reachable and writable now (for `/readyz`).
    async fn check_ready(&self) -> Result<(), QueueError>;

    /// The highest stamp ever queued by `node`, so a restarted gateway whose
    /// clock went back never reissues a stamp (0 if none).
    async fn last_stamp(&self, node: u16) -> Result<u64, QueueError>;

    /// Claims gateway node id `node` for `holder` until `lease` from now,
    /// or extends `holder`'s claim. `Ok(None)`: claimed; `Ok(Some(other))`:
    /// another holder's claim is still live (two live gateways with one
    /// node id would issue colliding stamps).
    async fn claim_node(
        &self,
        node: u16,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<String>, QueueError>;

    /// Ends `holder`'s claim on `node`, if it still has it.
    async fn release_node(&self, node: u16, holder: &str) -> Result<(), QueueError>;

    /// The queue server's clock, Unix nanoseconds, when the queue is a
    /// server every gateway talks to (the reference their clocks are
    /// compared against); `None` for an embedded queue.
    async fn server_time(&self) -> Result<Option<u64>, QueueError>;

    /// Independent partitions; consumers read each one.
    fn shards(&self) -> u16;

    /// Up to `max` never-delivered entries of `shard` for `consumer`,
    /// waiting up to `block` for the first one.
    async fn read_batch(
        &self,
        shard: u16,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError>;

    /// Takes over up to `max` entries delivered to some consumer at least
    /// `min_idle` ago and never acknowledged (that consumer likely died).
    async fn claim_stale(
        &self,
        shard: u16,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, QueueError>;

    /// Marks entries as done; acking twice is harmless.
    async fn ack(&self, shard: u16, ids: &[String]) -> Result<(), QueueError>;

    /// Entries delivered and not yet acknowledged.
    async fn pending(&self, shard: u16) -> Result<u64, QueueError>;

    /// Entries never delivered to any consumer yet.
    async fn backlog(&self, shard: u16) -> Result<u64, QueueError>;

    /// All submissions of `shard` ever queued and still retained, in queue
    /// order (for audits and tests; not for the hot path).
    async fn all_submissions(&self, shard: u16) -> Result<Vec<Submission>, QueueError>;
}

/// Submissions made durable together at most, per backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxBatch {
    /// Per Redis script call (1: a call per submission).
    pub redis: usize,
    /// Per SQLite group commit.
    pub sqlite: usize,
}

/// How many Redis replicas must confirm a write (`WAIT`) before it is
/// acknowledged, and how long to wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaAcks {
    /// 0: the primary's own durability (AOF) only.
    pub wanted: u32,
    pub timeout: Duration,
}

impl ReplicaAcks {
    /// `WAIT` for these replicas, on the connection of the writes it covers.
    pub(crate) fn wait(&self) -> ::redis::Cmd {
        let mut wait = ::redis::cmd("WAIT");
        wait.arg(self.wanted).arg(self.timeout.as_millis() as u64);
        wait
    }

    /// Judges `WAIT`'s answer: enough replicas confirmed, or why not.
    pub(crate) fn judge(&self, answer: Option<::redis::Value>) -> Result<(), QueueError> {
        let confirmed = match answer {
            Some(::redis::Value::Int(n)) => u32::try_from(n).unwrap_or(0),
            other => return Err(QueueError::Protocol(format!("WAIT answered {other:?}"))),
        };
        if confirmed < self.wanted {
            return Err(QueueError::NotReplicated {
                wanted: self.wanted,
                confirmed,
            });
        }
        Ok(())
    }
}

/// Everything [`open`] needs besides the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    pub shards: u16,
    /// Multiplexed Redis connections for enqueues (per cluster node).
    pub redis_connections: usize,
    pub max_batch: MaxBatch,
    pub replica_acks: ReplicaAcks,
}

impl From<&clickday_config::QueueConfig> for QueueOptions {
    fn from(cfg: &clickday_config::QueueConfig) -> Self {
        QueueOptions {
            shards: cfg.shards,
            redis_connections: cfg.redis_connections,
            max_batch: MaxBatch {
                redis: cfg.redis_max_batch,
                sqlite: cfg.sqlite_max_batch,
            },
            replica_acks: ReplicaAcks {
                wanted: cfg.replica_acks,
                timeout: cfg.replica_ack_timeout,
            },
        }
    }
}

/// Opens the queue named by `url`: `sqlite://PATH`, `redis://…` or
/// `redis+cluster://…`. For Redis, warns loudly when an acknowledged
/// submission could be lost on a Redis crash (AOF off, or not fsynced on
/// every write, and no replica acks asked).
pub async fn open(url: &str, options: &QueueOptions) -> Result<Arc<dyn Queue>, QueueError> {
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with(CLUSTER_SCHEME)
        || url.starts_with(CLUSTER_TLS_SCHEME)
    {
        let queue = RedisQueue::open(url, options).await?;
        let replicas = options.replica_acks.wanted;
        match queue.durability_settings().await {
            Ok((aof, fsync)) if aof == "yes" && fsync == "always" => {
                tracing::info!(
                    replica_acks = replicas,
                    "Redis persistence: appendonly yes, appendfsync always"
                );
            }
            Ok((aof, fsync)) if replicas > 0 => tracing::warn!(
                appendonly = %aof,
                appendfsync = %fsync,
                replica_acks = replicas,
                "Redis primaries do not fsync every write: an acknowledged submission survives \
                 the loss of a primary through its replicas, not a power loss of all of them"
            ),
            Ok((aof, fsync)) => tracing::warn!(
                appendonly = %aof,
                appendfsync = %fsync,
                "REDIS IS NOT DURABLE: acknowledged submissions can be lost if Redis crashes; \
                 run it with appendonly yes and appendfsync always (or replicas + queue.replica_acks)"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read Redis persistence settings (CONFIG disabled?); make sure appendfsync is always")
            }
        }
        Ok(Arc::new(queue))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            SqliteInbox::open(std::path::Path::new(path), options.max_batch.sqlite).await?,
        ))
    } else {
        Err(QueueError::BadUrl {
            url: url.to_string(),
        })
    }
}
