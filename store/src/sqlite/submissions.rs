//! SQLite: submissions, forwarding, dead letters and the ranking.

use super::{NOW, SqliteStore};
use crate::StoreError;
use crate::submissions::{
    DeadLetter, Persisted, RankedRow, RankingFilter, RankingInput, StoredBody, conflict_letter,
};
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

    pub(crate) async fn rank_day(&self, input: &RankingInput) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM quotas WHERE click_day = ?")
            .bind(&input.click_day)
            .execute(&mut *tx)
            .await?;
        for q in &input.quotas {
            sqlx::query(
                "INSERT INTO quotas (click_day, category, province, places) VALUES (?, ?, ?, ?)",
            )
            .bind(&input.click_day)
            .bind(&q.category)
            .bind(&q.province)
            .bind(i64::from(q.places))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE submissions SET rank = NULL, within_quota = NULL WHERE click_day = ?")
            .bind(&input.click_day)
            .execute(&mut *tx)
            .await?;
        let ranked = sqlx::query(
            "UPDATE submissions AS s SET rank = r.rn, within_quota = (r.rn <= COALESCE(q.places, 0)) \
             FROM (SELECT submission_id, category, province, \
                          row_number() OVER (PARTITION BY category, province ORDER BY received_at, node, node_seq) AS rn \
                   FROM submissions WHERE click_day = ?1 AND received_at >= ?2 AND received_at < ?3) AS r \
             LEFT JOIN quotas AS q ON q.click_day = ?1 AND q.category = r.category AND q.province = r.province \
             WHERE s.submission_id = r.submission_id",
        )
        .bind(&input.click_day)
        .bind(input.opens_at as i64)
        .bind(input.closes_at as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "INSERT INTO rankings (click_day, opens_at, closes_at, ranked, ranked_at) VALUES (?, ?, ?, ?, {NOW}) \
             ON CONFLICT (click_day) DO UPDATE SET opens_at = excluded.opens_at, closes_at = excluded.closes_at, \
             ranked = excluded.ranked, ranked_at = excluded.ranked_at"
        ))
        .bind(&input.click_day)
        .bind(input.opens_at as i64)
        .bind(input.closes_at as i64)
        .bind(ranked as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ranked)
    }

    pub(crate) async fn ranked_at_day(&self, click_day: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT ranked_at FROM rankings WHERE click_day = ?")
                .bind(click_day)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub(crate) async fn ranking_rows(
        &self,
        click_day: &str,
        filter: &RankingFilter,
    ) -> Result<Vec<RankedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM submission_ranking WHERE click_day = ?1 AND (?2 IS NULL OR category = ?2) \
             AND (?3 IS NULL OR province = ?3) \
             ORDER BY category, province, rank IS NULL, rank, received_at, node, node_seq",
        )
        .bind(click_day)
        .bind(filter.category.as_deref())
        .bind(filter.province.as_deref())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crate::rows::ranked_row).collect()
    }

    pub(crate) async fn body_of(
        &self,
        submission_id: &str,
    ) -> Result<Option<StoredBody>, StoreError> {
        let row = sqlx::query("SELECT received_at, body, body_sha256, signature FROM submissions WHERE submission_id = ?")
            .bind(submission_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(crate::rows::stored_body).transpose()
    }

    pub(crate) async fn forwarding_of(
        &self,
        submission_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT office_kind FROM forwarding WHERE submission_id = ? ORDER BY office_kind",
        )
        .bind(submission_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub(crate) async fn all_dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows =
            sqlx::query("SELECT queue_id, shard, reason, record FROM dead_letters ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(crate::rows::dead_letter).collect()
    }
}
