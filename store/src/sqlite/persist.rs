//! SQLite: submissions, forwarding, dead letters and the ranking.

use super::{NOW, SqliteStore};
use crate::StoreError;
use crate::submissions::{DeadLetter, Persisted, conflict_letter};
use clickday_core::Submission;
use sqlx::{Sqlite, Transaction};

async fn insert_dead(
    tx: &mut Transaction<'_, Sqlite>,
    letter: &DeadLetter,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO dead_letters (queue_id, shard, reason, record, created_at) VALUES (?, ?, ?, ?, {NOW}) \
         ON CONFLICT (shard, queue_id) DO NOTHING"
    ))
    .bind(&letter.queue_id)
    .bind(i64::from(letter.shard))
    .bind(&letter.reason)
    .bind(&letter.record)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn persist(
        &self,
        submissions: &[Submission],
        dead: &[DeadLetter],
    ) -> Result<Persisted, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut outcome = Persisted::default();
        for s in submissions {
            let inserted = sqlx::query(&format!(
                "INSERT INTO submissions (submission_id, account_id, application_id, click_day, category, province, \
                 form, received_at, node, node_seq, key_id, body, body_sha256, signature, stored_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW}) ON CONFLICT DO NOTHING"
            ))
            .bind(&s.submission_id)
            .bind(&s.account_id)
            .bind(&s.application.application_id)
            .bind(&s.application.click_day)
            .bind(&s.application.category)
            .bind(&s.application.province)
            .bind(&s.application.form)
            .bind(s.stamp.unix_nanos as i64)
            .bind(i64::from(s.stamp.node))
            .bind(s.stamp.seq as i64)
            .bind(&s.key_id)
            .bind(s.body.as_ref())
            .bind(s.body_sha256.as_slice())
            .bind(s.signature.as_slice())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                // It now waits for the arrival ledger too.
                sqlx::query(
                    "INSERT INTO ledger_pending (submission_id, click_day, stored_at) \
                     SELECT submission_id, click_day, stored_at FROM submissions WHERE submission_id = ?",
                )
                .bind(&s.submission_id)
                .execute(&mut *tx)
                .await?;
                outcome.stored += 1;
                continue;
            }
            let known: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM submissions WHERE submission_id = ?")
                    .bind(&s.submission_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if known.is_some() {
                outcome.already += 1;
            } else {
                insert_dead(&mut tx, &conflict_letter(s)).await?;
                outcome.dead += 1;
            }
        }
        for letter in dead {
            insert_dead(&mut tx, letter).await?;
            outcome.dead += 1;
        }
        tx.commit().await?;
        Ok(outcome)
    }
}
