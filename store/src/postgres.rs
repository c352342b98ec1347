//! PostgreSQL backend of the store (production). Bulk writes go through
//! `UNNEST` of arrays: one statement per chunk, not one per row.

use crate::accounts::{KeyChanges, KeyRow, NewAccount, dedupe_accounts, key_conflict};
use crate::submissions::{
    DeadLetter, Persisted, RankedRow, RankingFilter, RankingInput, Receipt, StoredBody,
};
use crate::{EmailJob, Store, StoreError, StoreStatus};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

mod emails;
mod receipts;
mod submissions;

/// The database clock in Unix microseconds (`clock_timestamp`, not the
/// transaction start, so long imports do not hide behind an old time).
pub(crate) const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// Rows per bulk statement: keeps bind arrays well under protocol limits.
const CHUNK: usize = 10_000;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        crate::migrate::postgres().run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in dedupe_accounts(accounts).chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|a| a.account_id.as_str()).collect();
            let emails: Vec<&str> = chunk.iter().map(|a| a.email.as_str()).collect();
            sqlx::query(&format!(
                "INSERT INTO accounts (account_id, email, created_at) \
                 SELECT id, email, {NOW} FROM UNNEST($1::text[], $2::text[]) AS t(id, email) \
                 ON CONFLICT (account_id) DO UPDATE SET email = EXCLUDED.email"
            ))
            .bind(&ids)
            .bind(&emails)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in accounts.chunks(CHUNK) {
            let key_ids: Vec<String> = chunk
                .iter()
                .map(|a| a.public_key.id().to_string())
                .collect();
            let owners: Vec<&str> = chunk.iter().map(|a| a.account_id.as_str()).collect();
            let keys: Vec<Vec<u8>> = chunk
                .iter()
                .map(|a| a.public_key.to_bytes().to_vec())
                .collect();
            sqlx::query(&format!(
                "INSERT INTO account_keys (key_id, account_id, public_key, created_at, updated_at) \
                 SELECT kid, owner, pk, {NOW}, {NOW} FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS t(kid, owner, pk) \
                 ON CONFLICT (key_id) DO NOTHING"
            ))
            .bind(&key_ids)
            .bind(&owners)
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
            // A key that already existed must belong to the same account.
            let clash: Option<(String, String, String)> = sqlx::query_as(
                "SELECT k.key_id, k.account_id, t.owner FROM account_keys k \
                 JOIN UNNEST($1::text[], $2::text[]) AS t(kid, owner) ON k.key_id = t.kid \
                 WHERE k.account_id <> t.owner LIMIT 1",
            )
            .bind(&key_ids)
            .bind(&owners)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((key_id, owner, wanted)) = clash {
                return Err(key_conflict(&key_id, &owner, &wanted));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE account_keys SET revoked_at = {NOW}, updated_at = {NOW} WHERE key_id = $1 AND revoked_at IS NULL"
        ))
        .bind(key_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query("SELECT key_id, account_id, public_key, revoked_at FROM account_keys ORDER BY account_id, key_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(crate::rows::key_row).collect()
    }

    async fn key_changes(&self, since: Option<i64>) -> Result<KeyChanges, StoreError> {
        let db_now: i64 = sqlx::query_scalar(&format!("SELECT {NOW}"))
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT key_id, account_id, public_key, revoked_at FROM account_keys WHERE updated_at >= $1")
            .bind(since.unwrap_or(i64::MIN))
            .fetch_all(&self.pool)
            .await?;
        Ok(KeyChanges {
            db_now,
            rows: rows
                .iter()
                .map(crate::rows::key_row)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn persist_batch(
        &self,
        submissions: &[clickday_core::Submission],
        dead: &[DeadLetter],
    ) -> Result<Persisted, StoreError> {
        self.persist(submissions, dead).await
    }

    async fn rank(&self, input: &RankingInput) -> Result<u64, StoreError> {
        self.rank_day(input).await
    }

    async fn ranked_at(&self, click_day: &str) -> Result<Option<i64>, StoreError> {
        self.ranked_at_day(click_day).await
    }

    async fn ranking(
        &self,
        click_day: &str,
        filter: &RankingFilter,
    ) -> Result<Vec<RankedRow>, StoreError> {
        self.ranking_rows(click_day, filter).await
    }

    async fn stored_body(&self, submission_id: &str) -> Result<Option<StoredBody>, StoreError> {
        self.body_of(submission_id).await
    }

    async fn forwarding(&self, submission_id: &str) -> Result<Vec<String>, StoreError> {
        self.forwarding_of(submission_id).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.all_dead_letters().await
    }

    async fn receipt_jobs(
        &self,
        limit: usize,
    ) -> Result<Vec<clickday_core::Submission>, StoreError> {
        self.jobs(limit).await
    }

    async fn save_receipts(&self, receipts: &[Receipt]) -> Result<(), StoreError> {
        self.save(receipts).await
    }

    async fn receipt(&self, submission_id: &str) -> Result<Option<Receipt>, StoreError> {
        self.receipt_of(submission_id).await
    }

    async fn oldest_without_receipt(&self) -> Result<Option<u64>, StoreError> {
        self.oldest_pending_receipt().await
    }

    async fn queue_written_email(&self, email: &crate::NewEmail) -> Result<i64, StoreError> {
        self.queue_written(email).await
    }

    async fn claim_emails(
        &self,
        sender: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<EmailJob>, StoreError> {
        self.claim(sender, limit, lease).await
    }

    async fn email_sent(&self, id: i64) -> Result<(), StoreError> {
        self.sent(id).await
    }

    async fn email_failed(
        &self,
        id: i64,
        error: &str,
        retry_in: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.failed(id, error, retry_in).await
    }

    async fn unsent_emails(&self) -> Result<u64, StoreError> {
        self.unsent().await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let (submissions, without_receipt, oldest, unsent, dead): (
            i64,
            i64,
            Option<i64>,
            i64,
            i64,
        ) = sqlx::query_as(crate::submissions::STATUS_SQL)
            .fetch_one(self.pool())
            .await?;
        Ok(StoreStatus {
            submissions: submissions as u64,
            without_receipt: without_receipt as u64,
            oldest_without_receipt: oldest.map(|n| n as u64),
            unsent_emails: unsent as u64,
            dead_letters: dead as u64,
        })
    }

    async fn queue_emails(&self, limit: usize) -> Result<u64, StoreError> {
        self.to_outbox(limit).await
    }
}
