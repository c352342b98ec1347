//! PostgreSQL backend of the store (production). Bulk writes go through
//! `UNNEST` of arrays: one statement per chunk, not one per row.

use crate::StoreError;
use crate::accounts::{NewAccount, dedupe_accounts, key_conflict};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

mod outbox;
mod persist;

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
        let options: sqlx::postgres::PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(crate::quiet_slow_statements(options))
            .await?;
        crate::migrate::postgres().run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PgStore {
    /// [`crate::Keys::import_accounts`]: accounts and keys in `UNNEST`
    /// chunks, then one query for a key that belongs to someone else.
    pub(crate) async fn import(&self, accounts: &[NewAccount]) -> Result<(), StoreError> {
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
}
