//! The embedded queue: an "inbox" table in a SQLite file in WAL mode with
//! `synchronous=FULL`, so a committed row survives a process or power loss.
//!
//! One writer task owns the write connection and commits everything that is
//! waiting in one transaction (group commit): one fsync covers a whole burst
//! instead of one per request.

use crate::{Delivery, Enqueued, Queue, QueueError};
use bytes::Bytes;
use clickday_core::Clock;
use clickday_core::{Application, ArrivalStamp, Submission};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, SqliteConnection};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

type Reply = oneshot::Sender<Result<Enqueued, QueueError>>;

pub struct SqliteInbox {
    /// Hands records to the group-commit writer.
    writer: mpsc::Sender<(Submission, Reply)>,
    /// Readers and consumer-side updates (WAL lets them run beside the writer).
    pool: SqlitePool,
    /// Woken after each commit, so blocked consumers in this process see
    /// new rows at once; other processes fall back to polling.
    committed: Arc<Notify>,
    /// When entries were delivered, to find a dead consumer's stale ones.
    clock: Clock,
}

const COLUMNS: &str = "seq, submission_id, account_id, key_id, application_id, click_day, category, \
    province, form, received_at, node, node_seq, body, body_sha256, signature";

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::unavailable(e)
}

pub(crate) fn migrator() -> Migrator {
    let migration = |version, name, sql| {
        Migration::new(
            version,
            Cow::Borrowed(name),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )
    };
    Migrator {
        migrations: Cow::Owned(vec![
            migration(1, "inbox", include_str!("../migrations/0001_inbox.sql")),
            migration(
                2,
                "node_claims",
                include_str!("../migrations/0002_node_claims.sql"),
            ),
        ]),
        ..Migrator::DEFAULT
    }
}

impl SqliteInbox {
    pub async fn open(path: &Path, max_batch: usize) -> Result<Self, QueueError> {
        Self::open_with_clock(path, max_batch, clickday_core::system_clock()).await
    }

    /// [`SqliteInbox::open`] reading delivery times from `clock`.
    pub async fn open_with_clock(
        path: &Path,
        max_batch: usize,
        clock: Clock,
    ) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| QueueError::DataDir {
                path: dir.to_path_buf(),
                source: Arc::new(e),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // At the peak every commit is slow; sqlx would warn about each
            // with its SQL. The backlog metrics say what matters.
            .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        migrator().run(&pool).await.map_err(unavailable)?;
        let connection = SqliteConnection::connect_with(&options)
            .await
            .map_err(unavailable)?;
        let (writer, requests) = mpsc::channel(max_batch * 4);
        let committed = Arc::new(Notify::new());
        tokio::spawn(write_loop(
            connection,
            requests,
            max_batch.max(1),
            committed.clone(),
        ));
        Ok(SqliteInbox {
            writer,
            pool,
            committed,
            clock,
        })
    }

    fn now_ms(&self) -> u64 {
        (self.clock)() / 1_000_000
    }

    /// Hands a batch to a consumer: one UPDATE … RETURNING, so two consumers
    /// can never take the same row. `stale_before` (Unix ms) selects rows
    /// delivered before then and never acked; `None` selects fresh rows.
    async fn take(
        &self,
        consumer: &str,
        stale_before: Option<u64>,
        max: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let condition = match stale_before {
            None => "consumer IS NULL AND ?4 IS NULL",
            Some(_) => "consumer IS NOT NULL AND delivered_at <= ?4",
        };
        let sql = format!(
            "UPDATE inbox SET consumer = ?1, delivered_at = ?2 WHERE seq IN \
             (SELECT seq FROM inbox WHERE acked = 0 AND {condition} ORDER BY seq LIMIT ?3) RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(consumer)
            .bind(self.now_ms() as i64)
            .bind(max as i64)
            .bind(stale_before.map(|ms| ms as i64))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut out: Vec<Delivery> = rows.iter().map(row_to_delivery).collect();
        out.sort_by_key(|d| d.id.parse::<i64>().unwrap_or(i64::MAX));
        Ok(out)
    }
}

async fn write_loop(
    mut connection: SqliteConnection,
    mut requests: mpsc::Receiver<(Submission, Reply)>,
    max_batch: usize,
    committed: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while requests.recv_many(&mut batch, max_batch).await > 0 {
        let records: Vec<&Submission> = batch.iter().map(|(r, _)| r).collect();
        match commit(&mut connection, &records).await {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                committed.notify_waiters();
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "inbox commit failed");
                let failure = unavailable(e);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(failure.clone()));
                }
            }
        }
    }
}

/// One transaction for the whole batch; outcomes in the batch's order.
async fn commit(
    connection: &mut SqliteConnection,
    records: &[&Submission],
) -> Result<Vec<Enqueued>, sqlx::Error> {
    let mut tx = connection.begin().await?;
    let mut outcomes = Vec::with_capacity(records.len());
    for record in records {
        let inserted = sqlx::query(
            "INSERT INTO inbox (submission_id, account_id, key_id, application_id, click_day, category, \
             province, form, received_at, node, node_seq, body, body_sha256, signature) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (account_id, application_id) DO NOTHING",
        )
        .bind(&record.submission_id)
        .bind(&record.account_id)
        .bind(&record.key_id)
        .bind(&record.application.application_id)
        .bind(&record.application.click_day)
        .bind(&record.application.category)
        .bind(&record.application.province)
        .bind(&record.application.form)
        .bind(record.stamp.unix_nanos as i64)
        .bind(i64::from(record.stamp.node))
        .bind(record.stamp.seq as i64)
        .bind(record.body.as_ref())
        .bind(record.body_sha256.as_slice())
        .bind(record.signature.as_slice())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            outcomes.push(Enqueued::New);
            continue;
        }
        let previous = sqlx::query(
            "SELECT submission_id, received_at, body_sha256 FROM inbox WHERE account_id = ? AND application_id = ?",
        )
        .bind(&record.account_id)
        .bind(&record.application.application_id)
        .fetch_one(&mut *tx)
        .await?;
        let sha: Vec<u8> = previous.try_get("body_sha256")?;
        outcomes.push(if sha == record.body_sha256 {
            Enqueued::Duplicate {
                submission_id: previous.try_get("submission_id")?,
                received_at: previous.try_get::<i64, _>("received_at")? as u64,
            }
        } else {
            Enqueued::Conflict
        });
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn row_to_submission(row: &SqliteRow) -> Result<Submission, String> {
    let text = |name: &str| {
        row.try_get::<String, _>(name)
            .map_err(|e| format!("{name}: {e}"))
    };
    let int = |name: &str| {
        row.try_get::<i64, _>(name)
            .map_err(|e| format!("{name}: {e}"))
    };
    let blob = |name: &str| {
        row.try_get::<Vec<u8>, _>(name)
            .map_err(|e| format!("{name}: {e}"))
    };
    Ok(Submission {
        submission_id: text("submission_id")?,
        account_id: text("account_id")?,
        key_id: text("key_id")?,
        application: Application {
            application_id: text("application_id")?,
            click_day: text("click_day")?,
            category: text("category")?,
            province: text("province")?,
            form: text("form")?,
        },
        stamp: ArrivalStamp {
            unix_nanos: int("received_at")? as u64,
            node: u16::try_from(int("node")?).map_err(|_| "node out of range")?,
            seq: int("node_seq")? as u64,
        },
        body: Bytes::from(blob("body")?),
        body_sha256: blob("body_sha256")?
            .try_into()
            .map_err(|_| "body_sha256 is not 32 bytes")?,
        signature: blob("signature")?
            .try_into()
            .map_err(|_| "signature is not 64 bytes")?,
    })
}

fn row_to_delivery(row: &SqliteRow) -> Delivery {
    Delivery {
        id: row.try_get::<i64, _>("seq").unwrap_or_default().to_string(),
        submission: row_to_submission(row),
    }
}

#[async_trait::async_trait]
impl Queue for SqliteInbox {
    async fn enqueue(&self, record: &Submission) -> Result<Enqueued, QueueError> {
        let (reply, outcome) = oneshot::channel();
        self.writer
            .send((record.clone(), reply))
            .await
            .map_err(|_| QueueError::Stopped)?;
        outcome.await.map_err(|_| QueueError::Stopped)?
    }

    async fn check_ready(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if self.writer.is_closed() {
            return Err(QueueError::Stopped);
        }
        Ok(())
    }

    async fn last_stamp(&self, node: u16) -> Result<u64, QueueError> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT max(received_at) FROM inbox WHERE node = ?")
                .bind(i64::from(node))
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(max.unwrap_or(0) as u64)
    }

    async fn claim_node(
        &self,
        node: u16,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<String>, QueueError> {
        let now = self.now_ms() as i64;
        // Taken when free, expired, or already ours; one statement, so two
        // claimants cannot both win.
        let won: Option<String> = sqlx::query_scalar(
            "INSERT INTO node_claims (node, holder, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE node_claims.holder = excluded.holder OR node_claims.expires_ms <= ?4 \
             RETURNING holder",
        )
        .bind(i64::from(node))
        .bind(holder)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if won.is_some() {
            return Ok(None);
        }
        let other: String = sqlx::query_scalar("SELECT holder FROM node_claims WHERE node = ?")
            .bind(i64::from(node))
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(Some(other))
    }

    async fn release_node(&self, node: u16, holder: &str) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM node_claims WHERE node = ? AND holder = ?")
            .bind(i64::from(node))
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn server_time(&self) -> Result<Option<u64>, QueueError> {
        Ok(None)
    }

    fn shards(&self) -> u16 {
        1
    }

    async fn read_batch(
        &self,
        _shard: u16,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so a commit in between is not missed.
            let notified = self.committed.notified();
            let batch = self.take(consumer, None, max).await?;
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(batch);
            }
            // Another process may be the writer: poll at least every 50 ms.
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_millis(50));
            let _ = tokio::time::timeout_at(wake, notified).await;
        }
    }

    async fn claim_stale(
        &self,
        _shard: u16,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let stale_before = self.now_ms().saturating_sub(min_idle.as_millis() as u64);
        self.take(consumer, Some(stale_before), max).await
    }

    async fn ack(&self, _shard: u16, ids: &[String]) -> Result<(), QueueError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        for id in ids {
            let seq: i64 = id
                .parse()
                .map_err(|_| QueueError::Protocol(format!("bad delivery id {id:?}")))?;
            sqlx::query("UPDATE inbox SET acked = 1 WHERE seq = ?")
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn pending(&self, _shard: u16) -> Result<u64, QueueError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM inbox WHERE acked = 0 AND consumer IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(n as u64)
    }

    async fn backlog(&self, _shard: u16) -> Result<u64, QueueError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE acked = 0 AND consumer IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(n as u64)
    }

    async fn all_submissions(&self, _shard: u16) -> Result<Vec<Submission>, QueueError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM inbox ORDER BY seq"))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| row_to_submission(r).map_err(QueueError::Protocol))
            .collect()
    }
}
