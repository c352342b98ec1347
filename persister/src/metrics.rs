//! Prometheus metrics of the persister. Counters are bumped where things
//! happen; the gauges describing what is waiting (backlog, receipts,
//! emails) are refreshed from the queue and the store every few seconds.

use clickday_queue::Queue;
use clickday_store::Store;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const REFRESH_EVERY: Duration = Duration::from_secs(5);

pub struct Metrics {
    registry: Registry,
    /// Submissions newly stored.
    pub stored: Counter,
    /// Redeliveries recognised as already stored.
    pub already: Counter,
    /// Queue entries dead-lettered: alert on any increase.
    pub dead_letters: Counter,
    /// Batches that failed to commit (the store was unavailable).
    pub store_errors: Counter,
    /// Entries per committed batch.
    pub batch_size: Histogram,
    pub receipts: Counter,
    /// Leaves appended to the arrival ledger.
    pub ledger_leaves: Counter,
    /// Checkpoints signed.
    pub ledger_checkpoints: Counter,
    pub emails_sent: Counter,
    pub email_failures: Counter,
    /// Age of the oldest stored submission still without a receipt (0 = none).
    pub oldest_without_receipt_seconds: Gauge<f64, AtomicU64>,
    pub unsent_emails: Gauge,
    /// Entries waiting in the queue, never delivered yet.
    pub queue_backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clickday_persister");
        let stored = Counter::default();
        registry.register("stored", "Submissions newly stored", stored.clone());
        let ledger_leaves = Counter::default();
        registry.register(
            "ledger_leaves",
            "Leaves appended to the arrival ledger",
            ledger_leaves.clone(),
        );
        let ledger_checkpoints = Counter::default();
        registry.register(
            "ledger_checkpoints",
            "Arrival-ledger checkpoints signed",
            ledger_checkpoints.clone(),
        );
        let already = Counter::default();
        registry.register(
            "redelivered",
            "Redeliveries recognised as already stored",
            already.clone(),
        );
        let dead_letters = Counter::default();
        registry.register(
            "dead_letters",
            "Queue entries dead-lettered (alert on any increase)",
            dead_letters.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Batches that could not be committed",
            store_errors.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "batch_size",
            "Entries per committed batch",
            batch_size.clone(),
        );
        let receipts = Counter::default();
        registry.register("receipts", "Receipts made", receipts.clone());
        let emails_sent = Counter::default();
        registry.register(
            "emails_sent",
            "Confirmation emails sent",
            emails_sent.clone(),
        );
        let email_failures = Counter::default();
        registry.register(
            "email_failures",
            "Failed email attempts (retried)",
            email_failures.clone(),
        );
        let oldest_without_receipt_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "oldest_without_receipt_seconds",
            "Age of the oldest stored submission without a receipt",
            oldest_without_receipt_seconds.clone(),
        );
        let unsent_emails = Gauge::default();
        registry.register(
            "unsent_emails",
            "Emails waiting to be sent",
            unsent_emails.clone(),
        );
        let queue_backlog = Gauge::default();
        registry.register(
            "queue_backlog",
            "Queue entries not yet delivered",
            queue_backlog.clone(),
        );
        Metrics {
            registry,
            stored,
            already,
            dead_letters,
            store_errors,
            batch_size,
            receipts,
            ledger_leaves,
            ledger_checkpoints,
            emails_sent,
            email_failures,
            oldest_without_receipt_seconds,
            unsent_emails,
            queue_backlog,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub(crate) async fn refresh_loop(
        self: Arc<Self>,
        queue: Arc<dyn Queue>,
        store: Arc<dyn Store>,
        clock: clickday_core::Clock,
        shutdown: CancellationToken,
    ) {
        loop {
            if let Ok(status) = store.status().await {
                let age = status
                    .oldest_without_receipt
                    .map_or(0, |at| clock().saturating_sub(at));
                self.oldest_without_receipt_seconds.set(age as f64 / 1e9);
                self.unsent_emails.set(status.unsent_emails as i64);
            }
            let mut backlog = 0;
            for shard in 0..queue.shards() {
                backlog += queue.backlog(shard).await.unwrap_or(0);
            }
            self.queue_backlog.set(backlog as i64);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(REFRESH_EVERY) => {}
            }
        }
    }
}
