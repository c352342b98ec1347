//! The store: database schema, migrations and queries, behind one contract
//! split by owner — [`Keys`], [`Submissions`], [`Receipts`], [`Outbox`]
//! (together [`Store`]) and [`PortalStore`] — with two backends, PostgreSQL
//! (production) and SQLite (the embedded default). Each operation's SQL is
//! written once for both (`$n` parameters, plain SQL both run); the
//! backends keep only what really differs: bulk writes (COPY and `UNNEST`
//! vs row by row) and leasing (`FOR UPDATE SKIP LOCKED`). Both pass the
//! same conformance suite (`tests/`).

mod accounts;
mod keys;
mod ledger;
mod migrate;
mod outbox;
pub mod portal;
mod portal_sql;
mod postgres;
mod receipts;
mod rows;
mod sqlite;
mod submissions;

pub use accounts::{KeyChanges, KeyRow, NewAccount, validate_account_id, validate_email};
pub use ledger::{Ledger, LedgerBatch, PublishedKey};
pub use portal::PortalStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use submissions::ReceivedSubmission;
pub use submissions::{
    DeadLetter, EMAIL_RECEIVED, EmailContent, EmailJob, NewEmail, OFFICES, Persisted, Quota,
    RankedRow, RankingFilter, RankingInput, Receipt, StoreStatus, StoredBody,
};

use clickday_core::Submission;
use std::sync::Arc;

/// Store failures, split by who can fix them: the caller (nothing was
/// written), the stored data, or the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A key is already registered to another account; nothing was written.
    #[error(
        "key {key_id} is registered to account {owner:?}, not {wanted:?}; nothing was imported"
    )]
    KeyConflict {
        key_id: String,
        owner: String,
        wanted: String,
    },
    /// A value that must be unique (a user's email, an application or a
    /// ticket id) is taken; nothing was written.
    #[error("{what} already exists")]
    Taken { what: &'static str },
    /// A value handed to the store breaks its rule; nothing was written.
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    /// The store URL names no backend.
    #[error("{url:?}: expected sqlite://PATH or postgres://…")]
    BadUrl { url: String },
    /// The folder of the SQLite file could not be made.
    #[error("{}: {source}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored value does not read back as what it must be (changed by
    /// hand, or written by a newer version).
    #[error("stored {column} is not valid: {detail}")]
    Corrupt { column: String, detail: String },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// Accounts and their keys: all the gateway needs.
#[async_trait::async_trait]
pub trait Keys: Send + Sync + 'static {
    /// Creates or updates accounts and registers their keys, all or nothing.
    /// Re-importing the same lines changes nothing; a key already registered
    /// to another account is refused ([`StoreError::KeyConflict`]).
    async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<(), StoreError>;

    /// Revokes a key; returns false when no such active key exists.
    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError>;

    /// Every key with its account, revoked ones included.
    async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError>;

    /// Keys changed at or after `since` (database microseconds; `None` =
    /// all), with the database time at which the read began.
    async fn key_changes(&self, since: Option<i64>) -> Result<KeyChanges, StoreError>;
}

/// Stored submissions, their forwarding entries, dead letters and the
/// ranking: the persister's ingestion and ranker, audits, `status`.
#[async_trait::async_trait]
pub trait Submissions: Send + Sync + 'static {
    /// Stores a batch in one transaction: new submissions with their
    /// forwarding entries, and dead letters. Idempotent: a submission id
    /// stored before is counted as `already` and left untouched; a
    /// submission contradicting a stored one (same account and application,
    /// other id) is dead-lettered, never stored twice.
    async fn persist_batch(
        &self,
        submissions: &[Submission],
        dead: &[DeadLetter],
    ) -> Result<Persisted, StoreError>;

    /// Ranks one click day per (category, province) by (received_at, node,
    /// node_seq), and marks `within_quota` from the quotas, which are stored
    /// too. Deterministic: running it twice changes nothing. Returns the
    /// number of ranked submissions.
    async fn rank(&self, input: &RankingInput) -> Result<u64, StoreError>;

    /// When the click day was last ranked (Unix microseconds), if ever.
    async fn ranked_at(&self, click_day: &str) -> Result<Option<i64>, StoreError>;

    /// Rows of the `submission_ranking` view for a click day, in ranking
    /// order (unranked rows last, by arrival).
    async fn ranking(
        &self,
        click_day: &str,
        filter: &RankingFilter,
    ) -> Result<Vec<RankedRow>, StoreError>;

    /// The stored bytes of one submission.
    async fn stored_body(&self, submission_id: &str) -> Result<Option<StoredBody>, StoreError>;

    /// Forwarding entries of one submission (office kinds).
    async fn forwarding(&self, submission_id: &str) -> Result<Vec<String>, StoreError>;

    /// Every dead letter, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;

    /// Counters of the whole pipeline (stored, receipts, emails, dead
    /// letters), in one read.
    async fn status(&self) -> Result<StoreStatus, StoreError>;
}

/// Signed receipts: the persister's receipt stage and whoever shows them.
#[async_trait::async_trait]
pub trait Receipts: Send + Sync + 'static {
    /// Leases, for `lease`, up to `limit` stored submissions still without
    /// a receipt whose leaf a signed checkpoint of the arrival ledger
    /// covers (a receipt carries its inclusion proof), oldest first: two
    /// persisters asking at once get disjoint jobs; a job whose receipt is
    /// not saved in time is handed out again.
    async fn claim_receipt_jobs(
        &self,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<Submission>, StoreError>;

    /// Saves receipts and marks their submissions `ready`, in one
    /// transaction; a receipt already saved (by another persister) is kept.
    async fn save_receipts(&self, receipts: &[Receipt]) -> Result<(), StoreError>;

    /// The receipt of one submission, if made.
    async fn receipt(&self, submission_id: &str) -> Result<Option<Receipt>, StoreError>;

    /// Arrival stamp of the oldest stored submission without a receipt.
    async fn oldest_without_receipt(&self) -> Result<Option<u64>, StoreError>;

    /// The names of the portal users behind these accounts (receipts name
    /// the applicant); accounts without a portal user are left out.
    async fn applicant_names(
        &self,
        account_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, String>, StoreError>;
}

/// The email outbox: confirmations of stored submissions and messages
/// written by the portal, leased to senders.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Turns up to `limit` stored submissions still waiting for their
    /// confirmation into outbox rows (or marks them as having no address);
    /// returns how many submissions it took, so callers know to come back.
    async fn queue_confirmations(&self, limit: usize) -> Result<u64, StoreError>;

    /// Queues a message its sender wrote (the portal's confirmations,
    /// resets, tickets) in the same outbox; returns its outbox id.
    async fn queue_written_email(&self, email: &NewEmail) -> Result<i64, StoreError>;

    /// Leases up to `limit` due, unsent emails to `sender` for `lease`
    /// (another sender cannot take them meanwhile), oldest first.
    async fn claim_emails(
        &self,
        sender: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<EmailJob>, StoreError>;

    /// Marks an email sent (it is never sent again).
    async fn email_sent(&self, id: i64) -> Result<(), StoreError>;

    /// Records a failed attempt; the email is due again after `retry_in`.
    async fn email_failed(
        &self,
        id: i64,
        error: &str,
        retry_in: std::time::Duration,
    ) -> Result<(), StoreError>;

    /// Emails not yet sent, including submissions not yet in the outbox.
    async fn unsent_emails(&self) -> Result<u64, StoreError>;
}

/// The whole store as the pipeline sees it; each part is its own trait so a
/// reader finds an operation by its owner. Every backend that implements
/// the parts is a `Store`.
pub trait Store: Keys + Submissions + Receipts + Outbox + Ledger {}

impl<T: Keys + Submissions + Receipts + Outbox + Ledger> Store for T {}

/// Opens (creating and migrating) the store named by `url`:
/// `sqlite://PATH` or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_portal(url).await?)
}

/// The store with the portal's tables, from a `--store` URL.
pub async fn open_portal(url: &str) -> Result<Arc<dyn PortalStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else {
        Err(StoreError::BadUrl {
            url: url.to_string(),
        })
    }
}

/// sqlx warns about every statement slower than a second with the whole
/// SQL text (a bulk COPY's is kilobytes), which buries real warnings at a
/// click day's peak, when every statement is slow. Reported at INFO
/// instead (`RUST_LOG=sqlx=info` shows them); slowness that matters shows
/// in the stages' own metrics (backlog, oldest without a receipt).
pub(crate) fn quiet_slow_statements<O: sqlx::ConnectOptions>(options: O) -> O {
    options.log_slow_statements(log::LevelFilter::Info, std::time::Duration::from_secs(1))
}
