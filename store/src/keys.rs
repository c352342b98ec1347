//! [`Keys`] for both backends from one text. Importing is each backend's
//! own: PostgreSQL writes a whole file of accounts with `UNNEST` arrays,
//! SQLite row by row inside one transaction.

use crate::{KeyChanges, KeyRow, Keys, NewAccount, PgStore, SqliteStore, StoreError, rows};

macro_rules! keys_for {
    ($store:ty, $now:expr) => {
        #[async_trait::async_trait]
        impl Keys for $store {
            async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<(), StoreError> {
                self.import(accounts).await
            }

            async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
                let now = $now;
                let done = sqlx::query(&format!(
                    "UPDATE account_keys SET revoked_at = {now}, updated_at = {now} \
                     WHERE key_id = $1 AND revoked_at IS NULL"
                ))
                .bind(key_id)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT key_id, account_id, public_key, revoked_at FROM account_keys \
                     ORDER BY account_id, key_id",
                )
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(rows::key_row).collect()
            }

            async fn key_changes(&self, since: Option<i64>) -> Result<KeyChanges, StoreError> {
                let now = $now;
                let db_now: i64 = sqlx::query_scalar(&format!("SELECT {now}"))
                    .fetch_one(self.pool())
                    .await?;
                let rows = sqlx::query(
                    "SELECT key_id, account_id, public_key, revoked_at FROM account_keys \
                     WHERE updated_at >= $1",
                )
                .bind(since.unwrap_or(i64::MIN))
                .fetch_all(self.pool())
                .await?;
                Ok(KeyChanges {
                    db_now,
                    rows: rows.iter().map(rows::key_row).collect::<Result<_, _>>()?,
                })
            }
        }
    };
}

keys_for!(PgStore, crate::postgres::NOW);
keys_for!(SqliteStore, crate::sqlite::NOW);
