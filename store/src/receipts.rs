//! [`Receipts`] for both backends from one text.

use crate::{PgStore, Receipt, Receipts, SqliteStore, StoreError, rows};
use clickday_core::Submission;

/// `$skip_locked`: how PostgreSQL lets concurrent claimants pass over
/// each other's rows (SQLite has one writer: nothing to add).
macro_rules! receipts_for {
    ($store:ty, $now:expr, $skip_locked:expr) => {
        #[async_trait::async_trait]
        impl Receipts for $store {
            async fn claim_receipt_jobs(
                &self,
                limit: usize,
                lease: std::time::Duration,
            ) -> Result<Vec<Submission>, StoreError> {
                let (now, skip_locked) = ($now, $skip_locked);
                let rows = sqlx::query(&format!(
                    "UPDATE submissions SET receipt_leased_until = {now} + $2 \
                     WHERE submission_id IN (\
                     SELECT s.submission_id \
                     FROM submissions s JOIN ledger_leaves l ON l.submission_id = s.submission_id \
                     WHERE s.receipt_state = 'pending' \
                     AND (s.receipt_leased_until IS NULL OR s.receipt_leased_until < {now}) \
                     AND l.leaf_index < \
                     (SELECT max(c.size) FROM ledger_checkpoints c WHERE c.click_day = s.click_day) \
                     ORDER BY s.received_at LIMIT $1 {skip_locked}) \
                     RETURNING submission_id, account_id, key_id, application_id, click_day, \
                     category, province, form, received_at, node, node_seq, body, \
                     body_sha256, signature"
                ))
                .bind(limit as i64)
                .bind(lease.as_micros() as i64)
                .fetch_all(self.pool())
                .await?;
                let mut jobs = rows
                    .iter()
                    .map(rows::submission)
                    .collect::<Result<Vec<_>, _>>()?;
                // RETURNING keeps no order: oldest first again.
                jobs.sort_by_key(|s| (s.received_at(), s.stamp.node, s.stamp.seq));
                Ok(jobs)
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

            async fn applicant_names(
                &self,
                account_ids: &[&str],
            ) -> Result<std::collections::HashMap<String, String>, StoreError> {
                let mut ids: Vec<&str> = account_ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                let mut names = std::collections::HashMap::new();
                // One query per few hundred accounts (a receipt batch):
                // per-account queries cost more than the receipts.
                for chunk in ids.chunks(500) {
                    let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT account_id, full_name FROM portal_users WHERE account_id IN ({})",
                        list.join(", ")
                    );
                    let mut query = sqlx::query_as::<_, (String, String)>(&sql).persistent(false);
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    names.extend(query.fetch_all(self.pool()).await?);
                }
                Ok(names)
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

receipts_for!(PgStore, crate::postgres::NOW, "FOR UPDATE OF s SKIP LOCKED");
receipts_for!(SqliteStore, crate::sqlite::NOW, "");
