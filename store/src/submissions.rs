//! Stored submissions, their forwarding entries, dead letters and the
//! ranking, as values shared by both backends. The submission itself is
//! [`clickday_core::Submission`].

use clickday_core::Submission;

/// A queue entry that cannot become a submission, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue_id: String,
    pub shard: u16,
    pub reason: String,
    /// What could be read of the entry, for a human to inspect.
    pub record: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Persisted {
    /// Newly stored.
    pub stored: usize,
    /// Already stored before (a redelivery): nothing changed.
    pub already: usize,
    /// Dead-lettered, including submissions that contradict a stored one.
    pub dead: usize,
}

/// The offices every stored submission is forwarded to (the `offices` table
/// holds the same list; the `forwarding` view pairs them with submissions).
pub const OFFICES: [&str; 3] = ["sportello_unico", "questura", "labour_office"];

/// Places for one (category, province) of a click day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub category: String,
    pub province: String,
    pub places: u32,
}

/// What the ranking of one click day needs besides the stored rows.
#[derive(Debug, Clone)]
pub struct RankingInput {
    pub click_day: String,
    /// Only arrivals in `[opens_at, closes_at)` are ranked.
    pub opens_at: u64,
    pub closes_at: u64,
    pub quotas: Vec<Quota>,
    /// The size of the click day's ledger the ranking was computed from
    /// (its final checkpoint's), recorded with the ranking.
    pub ledger_size: Option<u64>,
}

/// One row of the `submission_ranking` view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedRow {
    pub submission_id: String,
    pub account_id: String,
    pub application_id: String,
    pub category: String,
    pub province: String,
    pub received_at: u64,
    pub node: u16,
    pub node_seq: u64,
    pub rank: Option<u64>,
    pub within_quota: Option<bool>,
}

/// Filters for reading a ranking.
#[derive(Debug, Clone, Default)]
pub struct RankingFilter {
    pub category: Option<String>,
    pub province: Option<String>,
}

/// The exact stored bytes of one submission (for audits and receipts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub received_at: u64,
    pub body: Vec<u8>,
    pub body_sha256: [u8; 32],
    pub signature: [u8; 64],
}

/// A made receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub submission_id: String,
    /// The canonical statement text that was signed.
    pub statement: String,
    /// Base64url Ed25519 signature over `statement`.
    pub signature: String,
    /// The receipt key's id.
    pub key_id: String,
    pub pdf: Vec<u8>,
    /// The submission's place in the arrival ledger: a C2SP tlog-proof
    /// against a signed checkpoint (also printed in the PDF).
    pub ledger_proof: Option<String>,
}

/// An email due to be sent, leased to one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailJob {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub attempts: u32,
    pub content: EmailContent,
}

/// What an outbox row holds: a submission to write about, or a message
/// its sender already wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailContent {
    /// "Domanda ricevuta", rendered by the email stage.
    Received(ReceivedSubmission),
    /// Written by whoever queued it (the portal's confirmations, resets,
    /// tickets), sent as it is.
    Written { subject: String, body: String },
}

/// The submission a "domanda ricevuta" email is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSubmission {
    pub submission_id: String,
    pub account_id: String,
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub received_at: u64,
}

impl EmailJob {
    /// What the email is about, for logs and file names.
    pub fn reference(&self) -> String {
        match &self.content {
            EmailContent::Received(s) => s.submission_id.clone(),
            EmailContent::Written { .. } => format!("outbox-{}", self.id),
        }
    }
}

impl NewEmail {
    /// Refuses what would make a broken or forged email: a bad address, a
    /// line break in the subject (header injection), an empty body.
    pub(crate) fn check(&self) -> Result<(), crate::StoreError> {
        let reject = |field, rule: &str| {
            Err(crate::StoreError::Invalid {
                field,
                rule: rule.to_string(),
            })
        };
        if self.kind.is_empty()
            || self.kind.len() > 64
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return reject("email kind", "letters, digits and '-', up to 64");
        }
        crate::validate_email(&self.recipient).map_err(|rule| crate::StoreError::Invalid {
            field: "email recipient",
            rule,
        })?;
        if self.subject.trim().is_empty()
            || self.subject.contains(['\r', '\n'])
            || self.subject.len() > 200
        {
            return reject("email subject", "one line of 1 to 200 bytes");
        }
        if self.body.trim().is_empty() {
            return reject("email body", "empty");
        }
        Ok(())
    }
}

/// A message to queue in the outbox, already written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    /// What it is, e.g. `registration-confirmation` (one word, for logs).
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// Counters for `clickday status` and the persister's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatus {
    pub submissions: u64,
    pub without_receipt: u64,
    /// Arrival stamp of the oldest submission without a receipt.
    pub oldest_without_receipt: Option<u64>,
    pub unsent_emails: u64,
    pub dead_letters: u64,
}

/// The confirmation every stored submission gets.
pub const EMAIL_RECEIVED: &str = "received";

pub(crate) fn conflict_letter(s: &Submission) -> DeadLetter {
    DeadLetter {
        queue_id: format!("submission:{}", s.submission_id),
        shard: 0,
        reason: format!(
            "account {} already has application {} stored under another submission id",
            s.account_id, s.application.application_id
        ),
        record: format!("{s:?}"),
    }
}

/// The same text on both backends: plain counts, no parameters.
pub(crate) const STATUS_SQL: &str = "SELECT \
    (SELECT count(*) FROM submissions), \
    (SELECT count(*) FROM submissions WHERE receipt_state = 'pending'), \
    (SELECT min(received_at) FROM submissions WHERE receipt_state = 'pending'), \
    (SELECT count(*) FROM email_outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM submissions WHERE email_state = 'pending'), \
    (SELECT count(*) FROM dead_letters)";

macro_rules! submissions_for {
    ($store:ty, $now:expr) => {
        #[async_trait::async_trait]
        impl crate::Submissions for $store {
            async fn persist_batch(
                &self,
                submissions: &[Submission],
                dead: &[DeadLetter],
            ) -> Result<Persisted, crate::StoreError> {
                self.persist(submissions, dead).await
            }

            async fn rank(&self, input: &RankingInput) -> Result<u64, crate::StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                sqlx::query("DELETE FROM quotas WHERE click_day = $1")
                    .bind(&input.click_day)
                    .execute(&mut *tx)
                    .await?;
                // A few hundred (category, province) rows: one by one is fine.
                for q in &input.quotas {
                    sqlx::query(
                        "INSERT INTO quotas (click_day, category, province, places) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&input.click_day)
                    .bind(&q.category)
                    .bind(&q.province)
                    .bind(i64::from(q.places))
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE submissions SET rank = NULL, within_quota = NULL WHERE click_day = $1",
                )
                .bind(&input.click_day)
                .execute(&mut *tx)
                .await?;
                let ranked = sqlx::query(
                    "UPDATE submissions AS s SET rank = r.rn, within_quota = (r.rn <= COALESCE(q.places, 0)) \
                     FROM (SELECT submission_id, category, province, \
                                  row_number() OVER (PARTITION BY category, province ORDER BY received_at, node, node_seq) AS rn \
                           FROM submissions WHERE click_day = $1 AND received_at >= $2 AND received_at < $3) AS r \
                     LEFT JOIN quotas AS q ON q.click_day = $1 AND q.category = r.category AND q.province = r.province \
                     WHERE s.submission_id = r.submission_id",
                )
                .bind(&input.click_day)
                .bind(input.opens_at as i64)
                .bind(input.closes_at as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(&format!(
                    "INSERT INTO rankings (click_day, opens_at, closes_at, ranked, ranked_at, ledger_size) \
                     VALUES ($1, $2, $3, $4, {now}, $5) \
                     ON CONFLICT (click_day) DO UPDATE SET opens_at = excluded.opens_at, \
                     closes_at = excluded.closes_at, ranked = excluded.ranked, ranked_at = excluded.ranked_at, \
                     ledger_size = excluded.ledger_size"
                ))
                .bind(&input.click_day)
                .bind(input.opens_at as i64)
                .bind(input.closes_at as i64)
                .bind(ranked as i64)
                .bind(input.ledger_size.map(|n| n as i64))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(ranked)
            }

            async fn ranked_at(&self, click_day: &str) -> Result<Option<i64>, crate::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT ranked_at FROM rankings WHERE click_day = $1")
                        .bind(click_day)
                        .fetch_optional(self.pool())
                        .await?,
                )
            }

            async fn ranking(
                &self,
                click_day: &str,
                filter: &RankingFilter,
            ) -> Result<Vec<RankedRow>, crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM submission_ranking WHERE click_day = $1 \
                     AND (CAST($2 AS TEXT) IS NULL OR category = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR province = $3) \
                     ORDER BY category, province, rank IS NULL, rank, received_at, node, node_seq",
                )
                .bind(click_day)
                .bind(filter.category.as_deref())
                .bind(filter.province.as_deref())
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(crate::rows::ranked_row).collect()
            }

            async fn stored_body(
                &self,
                submission_id: &str,
            ) -> Result<Option<StoredBody>, crate::StoreError> {
                let row = sqlx::query(
                    "SELECT received_at, body, body_sha256, signature FROM submissions \
                     WHERE submission_id = $1",
                )
                .bind(submission_id)
                .fetch_optional(self.pool())
                .await?;
                row.as_ref().map(crate::rows::stored_body).transpose()
            }

            async fn forwarding(&self, submission_id: &str) -> Result<Vec<String>, crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT office_kind FROM forwarding WHERE submission_id = $1 ORDER BY office_kind",
                )
                .bind(submission_id)
                .fetch_all(self.pool())
                .await?)
            }

            async fn dead_letters(&self) -> Result<Vec<DeadLetter>, crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT queue_id, shard, reason, record FROM dead_letters ORDER BY id",
                )
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(crate::rows::dead_letter).collect()
            }

            async fn status(&self) -> Result<StoreStatus, crate::StoreError> {
                let (submissions, without_receipt, oldest, unsent, dead): (
                    i64,
                    i64,
                    Option<i64>,
                    i64,
                    i64,
                ) = sqlx::query_as(STATUS_SQL).fetch_one(self.pool()).await?;
                Ok(StoreStatus {
                    submissions: submissions as u64,
                    without_receipt: without_receipt as u64,
                    oldest_without_receipt: oldest.map(|n| n as u64),
                    unsent_emails: unsent as u64,
                    dead_letters: dead as u64,
                })
            }
        }
    };
}

submissions_for!(crate::PgStore, crate::postgres::NOW);
submissions_for!(crate::SqliteStore, crate::sqlite::NOW);
