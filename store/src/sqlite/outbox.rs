//! SQLite: the email outbox.

use super::{NOW, SqliteStore};
use crate::StoreError;
use crate::submissions::{EMAIL_RECEIVED, EmailJob};
use std::time::Duration;

impl SqliteStore {
    pub(crate) async fn confirmations_to_outbox(&self, limit: usize) -> Result<u64, StoreError> {
        // IMMEDIATE: this transaction reads before it writes, and a deferred
        // one then fails at once with "database is locked" when the
        // persister committed in between (a WAL snapshot cannot be
        // upgraded); taking the write lock first waits on busy_timeout.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT submission_id FROM submissions WHERE email_state = 'pending' ORDER BY received_at LIMIT ?")
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let ids_json = json_array(&ids);
        sqlx::query(&format!(
            "INSERT INTO email_outbox (submission_id, kind, recipient, next_attempt_at, created_at) \
             SELECT s.submission_id, ?, a.email, {NOW}, {NOW} FROM submissions s \
             JOIN accounts a ON a.account_id = s.account_id \
             WHERE s.submission_id IN (SELECT value FROM json_each(?)) ON CONFLICT DO NOTHING"
        ))
        .bind(EMAIL_RECEIVED)
        .bind(&ids_json)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE submissions SET email_state = CASE WHEN EXISTS \
             (SELECT 1 FROM accounts a WHERE a.account_id = submissions.account_id) THEN 'queued' ELSE 'none' END \
             WHERE submission_id IN (SELECT value FROM json_each(?))",
        )
        .bind(&ids_json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    pub(crate) async fn lease_emails(
        &self,
        sender: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<EmailJob>, StoreError> {
        // RETURNING cannot see joined tables in SQLite: lease, then read.
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "UPDATE email_outbox SET claimed_by = ?1, claimed_until = {NOW} + ?2 WHERE id IN \
             (SELECT id FROM email_outbox WHERE sent_at IS NULL AND next_attempt_at <= {NOW} \
              AND (claimed_until IS NULL OR claimed_until < {NOW}) ORDER BY id LIMIT ?3) RETURNING id"
        ))
        .bind(sender)
        .bind(lease.as_micros() as i64)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids_json = format!(
            "[{}]",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        let rows = sqlx::query(
            "SELECT e.id, e.kind, e.recipient, e.attempts, e.submission_id, e.subject, e.body, s.account_id, \
             s.application_id, s.click_day, s.category, s.province, s.received_at FROM email_outbox e \
             LEFT JOIN submissions s ON s.submission_id = e.submission_id \
             WHERE e.id IN (SELECT value FROM json_each(?)) ORDER BY e.id",
        )
        .bind(ids_json)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crate::rows::email_job).collect()
    }
}

/// A JSON array of strings for `json_each`, escaped.
/// Ids as a JSON array for `json_each` (SQLite has no array binds).
pub(crate) fn json_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", quoted.join(","))
}
