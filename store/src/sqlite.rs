//! SQLite backend of the store (the embedded default).

use crate::accounts::{KeyChanges, KeyRow, NewAccount, dedupe_accounts, key_conflict};
use crate::submissions::{
    DeadLetter, Persisted, RankedRow, RankingFilter, RankingInput, Receipt, StoredBody,
};
use crate::{EmailJob, Store, StoreError, StoreStatus};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

mod emails;
mod receipts;
mod submissions;

/// The database clock in Unix microseconds.
pub(crate) const NOW: &str = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Rejected(format!("{}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        crate::migrate::sqlite().run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for account in dedupe_accounts(accounts) {
            sqlx::query(&format!(
                "INSERT INTO accounts (account_id, email, created_at) VALUES (?, ?, {NOW}) \
                 ON CONFLICT (account_id) DO UPDATE SET email = excluded.email"
            ))
            .bind(&account.account_id)
            .bind(&account.email)
            .execute(&mut *tx)
            .await?;
        }
        for account in accounts {
            let key_id = account.public_key.id().to_string();
            let owner: String = sqlx::query_scalar(&format!(
                "INSERT INTO account_keys (key_id, account_id, public_key, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, {NOW}, {NOW}) \
                 ON CONFLICT (key_id) DO UPDATE SET key_id = key_id RETURNING account_id"
            ))
            .bind(&key_id)
            .bind(&account.account_id)
            .bind(account.public_key.to_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await?;
            if owner != account.account_id {
                return Err(key_conflict(&key_id, &owner, &account.account_id));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE account_keys SET revoked_at = {NOW}, updated_at = {NOW} WHERE key_id = ? AND revoked_at IS NULL"
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
        let rows = sqlx::query("SELECT key_id, account_id, public_key, revoked_at FROM account_keys WHERE updated_at >= ?")
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
