//! [`Ledger`] for both backends from one text: the arrival ledger's state,
//! tiles and checkpoints (the Merkle arithmetic is `clickday-ledger`'s;
//! the store keeps bytes).

use crate::{PgStore, SqliteStore, StoreError, rows};
use clickday_core::Submission;

/// One appended batch of a click day's log, to commit as a whole.
#[derive(Debug, Clone)]
pub struct LedgerBatch<'a> {
    pub click_day: &'a str,
    /// The size the batch was appended to; the commit fails (returns
    /// `false`) if the stored log is no longer that size.
    pub old_size: u64,
    pub new_size: u64,
    pub root: [u8; 32],
    /// Tiles and entry bundles by path, as written by the batch.
    pub tiles: &'a [(String, Vec<u8>)],
    /// The submissions appended, in leaf order from `old_size`.
    pub submission_ids: &'a [String],
}

/// A public key to publish: `kind` is `receipt` (base64url of the
/// Ed25519 key, `verify-receipt --key`) or `ledger` (the log's verifier
/// key, `name+id+key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kind: String,
    pub key_id: String,
    pub public_key: String,
    /// First published, Unix microseconds.
    pub published_at: u64,
}

/// The arrival ledger's storage: the persister's integrator writes it, the
/// gateway serves it, `clickday ledger verify` reads it.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Up to `limit` stored submissions not yet in their click day's log,
    /// in the order they were stored.
    async fn unlogged(&self, limit: usize) -> Result<Vec<Submission>, StoreError>;

    /// Stored submissions of a click day not yet in its log.
    async fn unlogged_count(&self, click_day: &str) -> Result<u64, StoreError>;

    /// The committed size and root of a click day's log, if it has one.
    async fn ledger_state(&self, click_day: &str) -> Result<Option<(u64, [u8; 32])>, StoreError>;

    /// Commits a batch: its tiles, the leaf index of each submission and
    /// the new state, all or nothing. `Ok(false)`, with nothing written,
    /// when another integrator moved the log first.
    async fn append_ledger(&self, batch: &LedgerBatch<'_>) -> Result<bool, StoreError>;

    /// One tile or entry bundle by its path.
    async fn ledger_tile(&self, click_day: &str, path: &str)
    -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves a signed checkpoint; one per size (a second for the same size
    /// is ignored).
    async fn save_checkpoint(
        &self,
        click_day: &str,
        size: u64,
        note: &str,
    ) -> Result<(), StoreError>;

    /// Every checkpoint of a click day, smallest first, as (size, note).
    async fn checkpoints(&self, click_day: &str) -> Result<Vec<(u64, String)>, StoreError>;

    /// The newest checkpoint of a click day.
    async fn latest_checkpoint(&self, click_day: &str)
    -> Result<Option<(u64, String)>, StoreError>;

    /// Where a submission is in its click day's log, once appended.
    async fn leaf_index(&self, submission_id: &str) -> Result<Option<u64>, StoreError>;

    /// Click days with a log, by id.
    async fn ledger_days(&self) -> Result<Vec<String>, StoreError>;

    /// Publishes a public key (`published_at` is set here; a key already
    /// published keeps its first date).
    async fn publish_key(
        &self,
        kind: &str,
        key_id: &str,
        public_key: &str,
    ) -> Result<(), StoreError>;

    /// Every published key, oldest first: old receipts stay checkable.
    async fn published_keys(&self) -> Result<Vec<PublishedKey>, StoreError>;
}

macro_rules! ledger_for {
    ($store:ty, $now:expr, $take_pending:expr, $insert_leaves:expr, $ids:expr) => {
        #[async_trait::async_trait]
        impl Ledger for $store {
            async fn unlogged(&self, limit: usize) -> Result<Vec<Submission>, StoreError> {
                let rows = sqlx::query(
                    "SELECT s.submission_id, s.account_id, s.key_id, s.application_id, s.click_day, \
                     s.category, s.province, s.form, s.received_at, s.node, s.node_seq, s.body, \
                     s.body_sha256, s.signature \
                     FROM ledger_pending p JOIN submissions s ON s.submission_id = p.submission_id \
                     ORDER BY p.stored_at, s.received_at, s.node, s.node_seq LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(rows::submission).collect()
            }

            async fn unlogged_count(&self, click_day: &str) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM ledger_pending WHERE click_day = $1",
                )
                .bind(click_day)
                .fetch_one(self.pool())
                .await?;
                Ok(n as u64)
            }

            async fn ledger_state(
                &self,
                click_day: &str,
            ) -> Result<Option<(u64, [u8; 32])>, StoreError> {
                let row: Option<(i64, Vec<u8>)> =
                    sqlx::query_as("SELECT size, root FROM ledger_state WHERE click_day = $1")
                        .bind(click_day)
                        .fetch_optional(self.pool())
                        .await?;
                row.map(|(size, root)| {
                    let root = root.try_into().map_err(|_| StoreError::Corrupt {
                        column: "ledger_state.root".into(),
                        detail: "not 32 bytes".into(),
                    })?;
                    Ok((size as u64, root))
                })
                .transpose()
            }

            async fn append_ledger(&self, batch: &LedgerBatch<'_>) -> Result<bool, StoreError> {
                let mut tx = self.pool().begin().await?;
                let moved = if batch.old_size == 0 {
                    sqlx::query(
                        "INSERT INTO ledger_state (click_day, size, root) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(batch.click_day)
                    .bind(batch.new_size as i64)
                    .bind(batch.root.as_slice())
                    .execute(&mut *tx)
                    .await?
                } else {
                    sqlx::query(
                        "UPDATE ledger_state SET size = $2, root = $3 \
                         WHERE click_day = $1 AND size = $4",
                    )
                    .bind(batch.click_day)
                    .bind(batch.new_size as i64)
                    .bind(batch.root.as_slice())
                    .bind(batch.old_size as i64)
                    .execute(&mut *tx)
                    .await?
                };
                if moved.rows_affected() != 1 {
                    return Ok(false); // dropped: rolled back
                }
                for (path, data) in batch.tiles {
                    // A full tile never changes; a partial one of the same
                    // width is the same bytes.
                    sqlx::query(
                        "INSERT INTO ledger_tiles (click_day, path, data) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(batch.click_day)
                    .bind(path)
                    .bind(data.as_slice())
                    .execute(&mut *tx)
                    .await?;
                }
                let ids = ($ids)(batch.submission_ids);
                // Each submission leaves the pending list once: a second
                // append of it finds nothing to take and is refused.
                let taken = sqlx::query($take_pending)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                if taken.rows_affected() != batch.submission_ids.len() as u64 {
                    return Ok(false);
                }
                sqlx::query($insert_leaves)
                    .bind(&ids)
                    .bind(batch.old_size as i64)
                    .bind(batch.click_day)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn ledger_tile(
                &self,
                click_day: &str,
                path: &str,
            ) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT data FROM ledger_tiles WHERE click_day = $1 AND path = $2",
                )
                .bind(click_day)
                .bind(path)
                .fetch_optional(self.pool())
                .await?)
            }

            async fn save_checkpoint(
                &self,
                click_day: &str,
                size: u64,
                note: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO ledger_checkpoints (click_day, size, note, signed_at) \
                     VALUES ($1, $2, $3, {}) ON CONFLICT DO NOTHING",
                    $now
                ))
                .bind(click_day)
                .bind(size as i64)
                .bind(note)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn checkpoints(&self, click_day: &str) -> Result<Vec<(u64, String)>, StoreError> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT size, note FROM ledger_checkpoints WHERE click_day = $1 ORDER BY size",
                )
                .bind(click_day)
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(|(s, n)| (s as u64, n)).collect())
            }

            async fn latest_checkpoint(
                &self,
                click_day: &str,
            ) -> Result<Option<(u64, String)>, StoreError> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT size, note FROM ledger_checkpoints WHERE click_day = $1 \
                     ORDER BY size DESC LIMIT 1",
                )
                .bind(click_day)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.map(|(s, n)| (s as u64, n)))
            }

            async fn leaf_index(&self, submission_id: &str) -> Result<Option<u64>, StoreError> {
                let index: Option<i64> = sqlx::query_scalar(
                    "SELECT leaf_index FROM ledger_leaves WHERE submission_id = $1",
                )
                .bind(submission_id)
                .fetch_optional(self.pool())
                .await?;
                Ok(index.map(|i| i as u64))
            }

            async fn ledger_days(&self) -> Result<Vec<String>, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT click_day FROM ledger_state ORDER BY click_day")
                        .fetch_all(self.pool())
                        .await?,
                )
            }

            async fn publish_key(
                &self,
                kind: &str,
                key_id: &str,
                public_key: &str,
            ) -> Result<(), StoreError> {
                let now = $now;
                sqlx::query(&format!(
                    "INSERT INTO published_keys (kind, key_id, public_key, published_at) \
                     VALUES ($1, $2, $3, {now}) ON CONFLICT DO NOTHING"
                ))
                .bind(kind)
                .bind(key_id)
                .bind(public_key)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn published_keys(&self) -> Result<Vec<PublishedKey>, StoreError> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT kind, key_id, public_key, published_at FROM published_keys \
                     ORDER BY published_at, kind, key_id",
                )
                .fetch_all(self.pool())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(kind, key_id, public_key, at)| PublishedKey {
                        kind,
                        key_id,
                        public_key,
                        published_at: at.max(0) as u64,
                    })
                    .collect())
            }
        }
    };
}

// Taking a batch off the pending list and numbering its leaves, each in
// one statement, is where the backends differ: an array (with ordinality)
// or a JSON array (and its keys).
ledger_for!(
    PgStore,
    crate::postgres::NOW,
    "DELETE FROM ledger_pending WHERE submission_id = ANY($1)",
    "INSERT INTO ledger_leaves (submission_id, click_day, leaf_index) \
     SELECT u.id, $3, u.ord - 1 + $2 FROM UNNEST($1::text[]) WITH ORDINALITY AS u(id, ord)",
    |ids: &[String]| ids.to_vec()
);
ledger_for!(
    SqliteStore,
    crate::sqlite::NOW,
    "DELETE FROM ledger_pending WHERE submission_id IN (SELECT value FROM json_each($1))",
    "INSERT INTO ledger_leaves (submission_id, click_day, leaf_index) \
     SELECT j.value, $3, $2 + j.key FROM json_each($1) j",
    crate::sqlite::json_array
);
