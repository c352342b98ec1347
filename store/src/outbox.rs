//! [`Outbox`] for both backends from one text. Moving confirmations into
//! the outbox and leasing due emails are each backend's own: PostgreSQL
//! lets concurrent senders take disjoint rows with `FOR UPDATE SKIP
//! LOCKED`; SQLite has one writer and cannot read joined tables in
//! `RETURNING`.

use crate::{EmailJob, NewEmail, Outbox, PgStore, SqliteStore, StoreError};
use std::time::Duration;

macro_rules! outbox_for {
    ($store:ty, $now:expr) => {
        #[async_trait::async_trait]
        impl Outbox for $store {
            async fn queue_confirmations(&self, limit: usize) -> Result<u64, StoreError> {
                self.confirmations_to_outbox(limit).await
            }

            async fn queue_written_email(&self, email: &NewEmail) -> Result<i64, StoreError> {
                email.check()?;
                let now = $now;
                Ok(sqlx::query_scalar(&format!(
                    "INSERT INTO email_outbox (kind, recipient, subject, body, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, {now}, {now}) RETURNING id"
                ))
                .bind(&email.kind)
                .bind(&email.recipient)
                .bind(&email.subject)
                .bind(&email.body)
                .fetch_one(self.pool())
                .await?)
            }

            async fn claim_emails(
                &self,
                sender: &str,
                limit: usize,
                lease: Duration,
            ) -> Result<Vec<EmailJob>, StoreError> {
                self.lease_emails(sender, limit, lease).await
            }

            async fn email_sent(&self, id: i64) -> Result<(), StoreError> {
                let now = $now;
                sqlx::query(&format!(
                    "UPDATE email_outbox SET sent_at = {now}, attempts = attempts + 1, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = $1"
                ))
                .bind(id)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn email_failed(
                &self,
                id: i64,
                error: &str,
                retry_in: Duration,
            ) -> Result<(), StoreError> {
                let now = $now;
                sqlx::query(&format!(
                    "UPDATE email_outbox SET attempts = attempts + 1, last_error = $1, \
                     next_attempt_at = {now} + $2, claimed_by = NULL, claimed_until = NULL WHERE id = $3"
                ))
                .bind(error)
                .bind(retry_in.as_micros() as i64)
                .bind(id)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn unsent_emails(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM email_outbox WHERE sent_at IS NULL) \
                     + (SELECT count(*) FROM submissions WHERE email_state = 'pending')",
                )
                .fetch_one(self.pool())
                .await?;
                Ok(n as u64)
            }
        }
    };
}

outbox_for!(PgStore, crate::postgres::NOW);
outbox_for!(SqliteStore, crate::sqlite::NOW);
