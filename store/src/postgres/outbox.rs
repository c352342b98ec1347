//! PostgreSQL: the email outbox.

use super::{NOW, PgStore};
use crate::StoreError;
use crate::submissions::{EMAIL_RECEIVED, EmailJob};
use std::time::Duration;

impl PgStore {
    pub(crate) async fn confirmations_to_outbox(&self, limit: usize) -> Result<u64, StoreError> {
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

    pub(crate) async fn lease_emails(
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
}
