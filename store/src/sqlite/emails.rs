//! SQLite: the email outbox.

use super::{NOW, SqliteStore};
use crate::StoreError;
use crate::submissions::{EMAIL_RECEIVED, EmailJob, NewEmail};
use std::time::Duration;

impl SqliteStore {
    pub(crate) async fn to_outbox(&self, limit: usize) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
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

    pub(crate) async fn queue_written(&self, email: &NewEmail) -> Result<i64, StoreError> {
        email.check()?;
        Ok(sqlx::query_scalar(&format!(
            "INSERT INTO email_outbox (kind, recipient, subject, body, next_attempt_at, created_at) \
             VALUES (?, ?, ?, ?, {NOW}, {NOW}) RETURNING id"
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

    pub(crate) async fn sent(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE email_outbox SET sent_at = {NOW}, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL \
             WHERE id = ?"
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
            "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = {NOW} + ?, \
             claimed_by = NULL, claimed_until = NULL WHERE id = ?"
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

/// A JSON array of strings for `json_each`, escaped.
fn json_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", quoted.join(","))
}
