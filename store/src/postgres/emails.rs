//! PostgreSQL: the email outbox.

use super::{NOW, PgStore};
use crate::StoreError;
use crate::submissions::{EMAIL_RECEIVED, EmailJob, NewEmail};
use std::time::Duration;

impl PgStore {
    pub(crate) async fn to_outbox(&self, limit: usize) -> Result<u64, StoreError> {
        let taken: i64 = sqlx::query_scalar(&format!(
            "WITH picked AS (SELECT submission_id FROM submissions WHERE email_state = 'pending' \
                             ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
                  marked AS (UPDATE submissions s SET email_state = CASE WHEN EXISTS \
                                 (SELECT 1 FROM accounts a WHERE a.account_id = s.account_id) THEN 'queued' ELSE 'none' END \
                             FROM picked WHERE s.submission_id = picked.submission_id \
                             RETURNING s.submission_id, s.account_id), \
                  queued AS (INSERT INTO email_outbox (submission_id, kind, recipient, next_attempt_at, created_at) \
                             SELECT m.submission_id, $2, a.email, {NOW}, {NOW} FROM marked m \
                             JOIN accounts a ON a.account_id = m.account_id ON CONFLICT DO NOTHING RETURNING 1) \
             SELECT count(*) FROM marked"
        ))
        .bind(limit as i64)
        .bind(EMAIL_RECEIVED)
        .fetch_one(self.pool())
        .await?;
        Ok(taken as u64)
    }

    pub(crate) async fn queue_written(&self, email: &NewEmail) -> Result<i64, StoreError> {
        email.check()?;
        Ok(sqlx::query_scalar(&format!(
            "INSERT INTO email_outbox (kind, recipient, subject, body, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, {NOW}, {NOW}) RETURNING id"
        ))
        .bind(&email.kind)
        .bind(&email.recipient)
        .bind(&email.subject)
        .bind(&email.body)
        .fetch_one(self.pool())
        .await?)
    }

    pub(crate) async fn claim(
        &self,
        sender: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<EmailJob>, StoreError> {
        // SKIP LOCKED: concurrent senders take disjoint rows without waiting.
        let rows = sqlx::query(&format!(
            "WITH due AS (SELECT id FROM email_outbox WHERE sent_at IS NULL AND next_attempt_at <= {NOW} \
                          AND (claimed_until IS NULL OR claimed_until < {NOW}) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             leased AS (UPDATE email_outbox e SET claimed_by = $1, claimed_until = {NOW} + $2 FROM due \
                        WHERE e.id = due.id \
                        RETURNING e.id, e.kind, e.recipient, e.attempts, e.submission_id, e.subject, e.body) \
             SELECT l.*, s.account_id, s.application_id, s.click_day, s.category, s.province, s.received_at \
             FROM leased l LEFT JOIN submissions s ON s.submission_id = l.submission_id"
        ))
        .bind(sender)
        .bind(lease.as_micros() as i64)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        let mut jobs = rows
            .iter()
            .map(crate::rows::email_job)
            .collect::<Result<Vec<_>, StoreError>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    pub(crate) async fn sent(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE email_outbox SET sent_at = {NOW}, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $1"
        ))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE email_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = {NOW} + $2, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $3"
        ))
        .bind(error)
        .bind(retry_in.as_micros() as i64)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn unsent(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM email_outbox WHERE sent_at IS NULL) \
             + (SELECT count(*) FROM submissions WHERE email_state = 'pending')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n as u64)
    }
}
