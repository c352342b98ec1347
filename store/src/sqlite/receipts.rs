//! SQLite: the receipt stage's queries.

use super::{NOW, SqliteStore};
use crate::StoreError;
use crate::submissions::Receipt;
use clickday_core::Submission;

impl SqliteStore {
    pub(crate) async fn jobs(&self, limit: usize) -> Result<Vec<Submission>, StoreError> {
        let rows = sqlx::query(
            "SELECT submission_id, account_id, key_id, application_id, click_day, category, province, form, \
             received_at, node, node_seq, body, body_sha256, signature FROM submissions WHERE receipt_state = 'pending' ORDER BY received_at LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crate::rows::submission).collect()
    }

    pub(crate) async fn save(&self, receipts: &[Receipt]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for r in receipts {
            sqlx::query(&format!(
                "INSERT INTO receipts (submission_id, statement, signature, key_id, pdf, created_at) \
                 VALUES (?, ?, ?, ?, ?, {NOW}) ON CONFLICT DO NOTHING"
            ))
            .bind(&r.submission_id)
            .bind(&r.statement)
            .bind(&r.signature)
            .bind(&r.key_id)
            .bind(&r.pdf)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE submissions SET receipt_state = 'ready' WHERE submission_id = ?")
                .bind(&r.submission_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn receipt_of(
        &self,
        submission_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        let row = sqlx::query("SELECT submission_id, statement, signature, key_id, pdf FROM receipts WHERE submission_id = ?")
            .bind(submission_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(crate::rows::receipt).transpose()
    }

    pub(crate) async fn oldest_pending_receipt(&self) -> Result<Option<u64>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT min(received_at) FROM submissions WHERE receipt_state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(at.map(|n| n as u64))
    }
}
