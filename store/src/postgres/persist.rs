//! PostgreSQL: submissions, forwarding, dead letters and the ranking. A
//! batch is one multi-row `INSERT … SELECT FROM UNNEST(…)` per table.

use super::{NOW, PgStore};
use crate::StoreError;
use crate::submissions::{DeadLetter, Persisted, conflict_letter};
use clickday_core::Submission;
use sqlx::{Acquire as _, Postgres, Transaction};
use std::collections::HashSet;

async fn insert_dead(
    tx: &mut Transaction<'_, Postgres>,
    letters: &[DeadLetter],
) -> Result<(), sqlx::Error> {
    if letters.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = letters.iter().map(|l| l.queue_id.as_str()).collect();
    let shards: Vec<i64> = letters.iter().map(|l| i64::from(l.shard)).collect();
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    let records: Vec<&str> = letters.iter().map(|l| l.record.as_str()).collect();
    sqlx::query(&format!(
        "INSERT INTO dead_letters (queue_id, shard, reason, record, created_at) \
         SELECT id, shard, reason, record, {NOW} FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[]) \
         AS t(id, shard, reason, record) ON CONFLICT (shard, queue_id) DO NOTHING"
    ))
    .bind(&ids)
    .bind(&shards)
    .bind(&reasons)
    .bind(&records)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl PgStore {
    pub(crate) async fn persist(
        &self,
        submissions: &[Submission],
        dead: &[DeadLetter],
    ) -> Result<Persisted, StoreError> {
        let mut tx = self.pool().begin().await?;
        let ids: Vec<&str> = submissions
            .iter()
            .map(|s| s.submission_id.as_str())
            .collect();
        // Fast path: COPY, for a batch of new rows (the normal case). A
        // redelivered batch hits the primary key; then, and only then, the
        // idempotent INSERT … ON CONFLICT path decides row by row.
        let inserted: Vec<String> = if copy_new(&mut tx, submissions).await? {
            ids.iter().map(|id| id.to_string()).collect()
        } else {
            insert_idempotent(&mut tx, submissions).await?
        };
        let inserted: HashSet<String> = inserted.into_iter().collect();
        let rest: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !inserted.contains(*id))
            .collect();
        let known: HashSet<String> = if rest.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar::<_, String>(
                "SELECT submission_id FROM submissions WHERE submission_id = ANY($1)",
            )
            .bind(&rest)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        };
        let mut letters: Vec<DeadLetter> = submissions
            .iter()
            .filter(|s| !inserted.contains(&s.submission_id) && !known.contains(&s.submission_id))
            .map(conflict_letter)
            .collect();
        let conflicts = letters.len();
        letters.extend_from_slice(dead);
        insert_dead(&mut tx, &letters).await?;
        tx.commit().await?;
        Ok(Persisted {
            stored: inserted.len(),
            already: known.len(),
            dead: conflicts + dead.len(),
        })
    }
}

/// Inserts what is new and returns the ids it inserted; rows already
/// stored (same submission id) or contradicting one (same account and
/// application) are left out.
async fn insert_idempotent(
    tx: &mut Transaction<'_, Postgres>,
    submissions: &[Submission],
) -> Result<Vec<String>, sqlx::Error> {
    let text = |f: fn(&Submission) -> &str| submissions.iter().map(f).collect::<Vec<&str>>();
    let ids = text(|s| &s.submission_id);
    let inserted: Vec<String> = sqlx::query_scalar(&format!(
            "INSERT INTO submissions (submission_id, account_id, application_id, click_day, category, province, form, \
             key_id, received_at, node, node_seq, body, body_sha256, signature, stored_at) \
             SELECT sid, acct, app, day, cat, prov, form, kid, at, node, seq, body, sha, sig, {NOW} \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
                         $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[], $13::bytea[], $14::bytea[]) \
             AS t(sid, acct, app, day, cat, prov, form, kid, at, node, seq, body, sha, sig) \
             ON CONFLICT DO NOTHING RETURNING submission_id"
        ))
        .bind(&ids)
        .bind(text(|s| &s.account_id))
        .bind(text(|s| &s.application.application_id))
        .bind(text(|s| &s.application.click_day))
        .bind(text(|s| &s.application.category))
        .bind(text(|s| &s.application.province))
        .bind(text(|s| &s.application.form))
        .bind(text(|s| &s.key_id))
        .bind(submissions.iter().map(|s| s.stamp.unix_nanos as i64).collect::<Vec<_>>())
        .bind(submissions.iter().map(|s| i64::from(s.stamp.node)).collect::<Vec<_>>())
        .bind(submissions.iter().map(|s| s.stamp.seq as i64).collect::<Vec<_>>())
        .bind(submissions.iter().map(|s| s.body.as_ref()).collect::<Vec<_>>())
        .bind(submissions.iter().map(|s| s.body_sha256.as_slice()).collect::<Vec<_>>())
        .bind(submissions.iter().map(|s| s.signature.as_slice()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO ledger_pending (submission_id, click_day, stored_at) \
         SELECT submission_id, click_day, stored_at FROM submissions WHERE submission_id = ANY($1)",
    )
    .bind(&inserted)
    .execute(&mut **tx)
    .await?;
    Ok(inserted)
}

/// COPY of the batch inside a savepoint; false (and nothing written) when
/// any row is already there.
async fn copy_new(
    tx: &mut Transaction<'_, Postgres>,
    submissions: &[Submission],
) -> Result<bool, sqlx::Error> {
    if submissions.is_empty() {
        return Ok(true);
    }
    let stored_at: i64 = sqlx::query_scalar(&format!("SELECT {NOW}"))
        .fetch_one(&mut **tx)
        .await?;
    let mut data = Vec::with_capacity(submissions.len() * (600 + submissions[0].body.len() * 2));
    // Each new row also waits for the arrival ledger (ledger_pending).
    let mut pending = Vec::with_capacity(submissions.len() * 100);
    for s in submissions {
        copy_text(&mut pending, &s.submission_id);
        pending.push(b'\t');
        copy_text(&mut pending, &s.application.click_day);
        pending.push(b'\t');
        pending.extend_from_slice(stored_at.to_string().as_bytes());
        pending.push(b'\n');
        for text in [
            &s.submission_id,
            &s.account_id,
            &s.application.application_id,
            &s.application.click_day,
            &s.application.category,
            &s.application.province,
            &s.application.form,
            &s.key_id,
        ] {
            copy_text(&mut data, text);
            data.push(b'\t');
        }
        for number in [
            s.stamp.unix_nanos as i64,
            i64::from(s.stamp.node),
            s.stamp.seq as i64,
            stored_at,
        ] {
            data.extend_from_slice(number.to_string().as_bytes());
            data.push(b'\t');
        }
        for bytes in [
            s.body.as_ref(),
            s.body_sha256.as_slice(),
            s.signature.as_slice(),
        ] {
            copy_bytea(&mut data, bytes);
            data.push(b'\t');
        }
        data.pop();
        data.push(b'\n');
    }
    let mut savepoint = tx.begin().await?;
    let mut copy = savepoint
        .copy_in_raw(
            "COPY submissions (submission_id, account_id, application_id, click_day, category, province, form, key_id, \
             received_at, node, node_seq, stored_at, body, body_sha256, signature) FROM STDIN",
        )
        .await?;
    copy.send(data).await?;
    match copy.finish().await {
        Ok(_) => {
            let mut copy = savepoint
                .copy_in_raw("COPY ledger_pending (submission_id, click_day, stored_at) FROM STDIN")
                .await?;
            copy.send(pending).await?;
            copy.finish().await?;
            savepoint.commit().await?;
            Ok(true)
        }
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("23505") => {
            savepoint.rollback().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A text field in COPY's text format: backslash, tab, newline and
/// carriage return escaped.
fn copy_text(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A bytea field in COPY's text format: `\\x` then hex (the backslash
/// itself escaped).
fn copy_bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\\\x");
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
}
