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
        let reject = |m: String| Err(crate::StoreError::Rejected(m));
        if self.kind.is_empty()
            || self.kind.len() > 64
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return reject(format!(
                "email kind {:?}: letters, digits and '-', up to 64",
                self.kind
            ));
        }
        crate::validate_email(&self.recipient).map_err(crate::StoreError::Rejected)?;
        if self.subject.trim().is_empty()
            || self.subject.contains(['\r', '\n'])
            || self.subject.len() > 200
        {
            return reject("email subject: one line of 1 to 200 bytes".into());
        }
        if self.body.trim().is_empty() {
            return reject("email body: empty".into());
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
