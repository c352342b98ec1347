//! SQLite backend of the store (the embedded default).

use crate::StoreError;
use crate::accounts::{NewAccount, dedupe_accounts, key_conflict};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

mod outbox;
pub(crate) use outbox::json_array;
mod persist;

/// The database clock in Unix microseconds.
pub(crate) const NOW: &str = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
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
            .connect_with(crate::quiet_slow_statements(options))
            .await?;
        crate::migrate::sqlite().run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl SqliteStore {
    /// [`crate::Keys::import_accounts`]: row by row in one transaction.
    pub(crate) async fn import(&self, accounts: &[NewAccount]) -> Result<(), StoreError> {
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
}
