//! [`Receipts`] for both backends from one text.

use crate::{PgStore, Receipt, Receipts, SqliteStore, StoreError, rows};
use clickday_core::Submission;

macro_rules! receipts_for {
    ($store:ty, $now:expr) => {
        #[async_trait::async_trait]
        impl Receipts for $store {
            async fn awaiting_receipt(&self, limit: usize) -> Result<Vec<Submission>, StoreError> {
                let rows = sqlx::query(
                    "SELECT s.submission_id, s.account_id, s.key_id, s.application_id, s.click_day, \
                     s.category, s.province, s.form, s.received_at, s.node, s.node_seq, s.body, \
                     s.body_sha256, s.signature \
                     FROM submissions s JOIN ledger_leaves l ON l.submission_id = s.submission_id \
                     WHERE s.receipt_state = 'pending' AND l.leaf_index < \
                     (SELECT max(c.size) FROM ledger_checkpoints c WHERE c.click_day = s.click_day) \
                     ORDER BY s.received_at LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(rows::submission).collect()
            }

            async fn save_receipts(&self, receipts: &[Receipt]) -> Result<(), StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                for r in receipts {
                    sqlx::query(&format!(
                        "INSERT INTO receipts (submission_id, statement, signature, key_id, pdf, created_at, ledger_proof) \
                         VALUES ($1, $2, $3, $4, $5, {now}, $6) ON CONFLICT DO NOTHING"
                    ))
                    .bind(&r.submission_id)
                    .bind(&r.statement)
                    .bind(&r.signature)
                    .bind(&r.key_id)
                    .bind(&r.pdf)
                    .bind(&r.ledger_proof)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE submissions SET receipt_state = 'ready' WHERE submission_id = $1",
                    )
                    .bind(&r.submission_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn receipt(&self, submission_id: &str) -> Result<Option<Receipt>, StoreError> {
                let row = sqlx::query(
                    "SELECT submission_id, statement, signature, key_id, pdf, ledger_proof FROM receipts \
                     WHERE submission_id = $1",
                )
                .bind(submission_id)
                .fetch_optional(self.pool())
                .await?;
                row.as_ref().map(rows::receipt).transpose()
            }

            async fn oldest_without_receipt(&self) -> Result<Option<u64>, StoreError> {
                let at: Option<i64> = sqlx::query_scalar(
                    "SELECT min(received_at) FROM submissions WHERE receipt_state = 'pending'",
                )
                .fetch_one(self.pool())
                .await?;
                Ok(at.map(|n| n as u64))
            }
        }
    };
}

receipts_for!(PgStore, crate::postgres::NOW);
receipts_for!(SqliteStore, crate::sqlite::NOW);
