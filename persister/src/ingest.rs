//! Queue → store: read a batch, store it in one transaction, then ack.

use clickday_config::Config;
use clickday_core::Submission;
use clickday_queue::{Delivery, Queue};
use clickday_store::{DeadLetter, Store};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// First wait after a failure; doubles up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) struct Ingest {
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    consumer: String,
    batch_max: usize,
    batch_wait: Duration,
    claim_idle: Duration,
    max_backoff: Duration,
    /// Click days that received rows since they were last ranked.
    touched: Arc<Mutex<BTreeSet<String>>>,
    /// Raised while batches come back full (a backlog is waiting): the
    /// receipt stage yields the CPU to ingestion until it drops.
    backlog: Arc<AtomicBool>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Ingest {
    pub(crate) fn new(
        cfg: &Config,
        queue: Arc<dyn Queue>,
        store: Arc<dyn Store>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let p = &cfg.persister;
        Ingest {
            queue,
            store,
            consumer: p.consumer.clone(),
            batch_max: p.batch_max,
            batch_wait: p.batch_wait,
            claim_idle: p.claim_idle,
            max_backoff: p.max_backoff,
            touched: Arc::default(),
            backlog: Arc::default(),
            metrics,
        }
    }

    pub(crate) fn backlog_flag(&self) -> Arc<AtomicBool> {
        self.backlog.clone()
    }

    pub(crate) fn touched_days(&self) -> Arc<Mutex<BTreeSet<String>>> {
        self.touched.clone()
    }

    /// Consumes one shard until shutdown. Several workers per shard overlap
    /// one batch's round trips with the next one's work; each is its own
    /// group member (`<consumer>-<worker>`), so a restart with the same
    /// configuration finds its own pending entries again.
    pub(crate) async fn consume(
        self: Arc<Self>,
        shard: u16,
        worker: usize,
        shutdown: CancellationToken,
    ) {
        let consumer = format!("{}-{worker}", self.consumer);
        // Claim at once on start: after a crash our own entries are pending.
        let mut last_claim: Option<Instant> = None;
        let mut backoff = FIRST_BACKOFF;
        let mut acking: Option<tokio::task::JoinHandle<()>> = None;
        while !shutdown.is_cancelled() {
            let claim_due = last_claim.is_none_or(|t| t.elapsed() >= self.claim_idle / 2);
            let next = if claim_due {
                last_claim = Some(Instant::now());
                self.queue
                    .claim_stale(shard, &consumer, self.claim_idle, self.batch_max)
                    .await
            } else {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    batch = self.queue.read_batch(shard, &consumer, self.batch_max, self.batch_wait) => batch,
                }
            };
            match next {
                Ok(batch) if batch.is_empty() => {
                    backoff = FIRST_BACKOFF;
                    self.backlog.store(false, Ordering::Relaxed);
                }
                Ok(batch) => {
                    backoff = FIRST_BACKOFF;
                    self.backlog
                        .store(batch.len() >= self.batch_max, Ordering::Relaxed);
                    if let Some(ids) = self.store(shard, batch, &shutdown).await {
                        // The ack (after the commit, as always) overlaps the
                        // next read; at most one is outstanding per worker.
                        if let Some(previous) = acking.take() {
                            let _ = previous.await;
                        }
                        acking = Some(tokio::spawn(self.clone().ack(shard, ids, shutdown.clone())));
                    }
                }
                Err(e) => {
                    tracing::warn!(shard, error = %e, "queue read failed; retrying");
                    backoff = self.pause(backoff, &shutdown).await;
                }
            }
        }
        // Finish the last ack before stopping.
        if let Some(previous) = acking {
            let _ = previous.await;
        }
    }

    /// Stores the batch (retrying while the store is down) and returns the
    /// ids to acknowledge now that it is committed. Gives up (None, nothing
    /// acked) only when shutdown is requested while the store is
    /// unreachable: the entries stay pending and are claimed again later.
    async fn store(
        &self,
        shard: u16,
        batch: Vec<Delivery>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<String>> {
        let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
        let (submissions, dead) = split(shard, batch);
        let mut backoff = FIRST_BACKOFF;
        let outcome = loop {
            match self.store.persist_batch(&submissions, &dead).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    self.metrics.store_errors.inc();
                    tracing::warn!(shard, batch = ids.len(), error = %e, "store unavailable; batch not acknowledged, retrying");
                    if shutdown.is_cancelled() {
                        return None;
                    }
                    backoff = self.pause(backoff, shutdown).await;
                }
            }
        };
        self.metrics.stored.inc_by(outcome.stored as u64);
        self.metrics.already.inc_by(outcome.already as u64);
        self.metrics.dead_letters.inc_by(outcome.dead as u64);
        self.metrics.batch_size.observe(ids.len() as f64);
        if outcome.dead > 0 {
            tracing::error!(
                shard,
                dead = outcome.dead,
                "queue entries dead-lettered; inspect the dead_letters table"
            );
        }
        if outcome.stored > 0 {
            let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            touched.extend(submissions.iter().map(|s| s.application.click_day.clone()));
        }
        tracing::debug!(
            shard,
            stored = outcome.stored,
            already = outcome.already,
            "batch committed"
        );
        Some(ids)
    }

    /// Acknowledges a committed batch, retrying while the queue is down.
    /// Unacked entries would be redelivered and recognised: giving up at
    /// shutdown is safe.
    async fn ack(self: Arc<Self>, shard: u16, ids: Vec<String>, shutdown: CancellationToken) {
        let mut backoff = FIRST_BACKOFF;
        while let Err(e) = self.queue.ack(shard, &ids).await {
            tracing::warn!(shard, error = %e, "ack failed; retrying");
            if shutdown.is_cancelled() {
                return;
            }
            backoff = self.pause(backoff, &shutdown).await;
        }
    }

    async fn pause(&self, backoff: Duration, shutdown: &CancellationToken) -> Duration {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(backoff) => {}
        }
        (backoff * 2).min(self.max_backoff)
    }
}

/// Decoded submissions whose digest matches are stored; anything else is a
/// dead letter.
fn split(shard: u16, batch: Vec<Delivery>) -> (Vec<Submission>, Vec<DeadLetter>) {
    let mut submissions = Vec::with_capacity(batch.len());
    let mut dead = Vec::new();
    for delivery in batch {
        match delivery.submission {
            Ok(submission) if submission.digest_matches() => submissions.push(submission),
            Ok(submission) => dead.push(DeadLetter {
                queue_id: delivery.id,
                shard,
                reason: "body does not match its SHA-256".into(),
                record: format!("{submission:?}"),
            }),
            Err(reason) => dead.push(DeadLetter {
                queue_id: delivery.id,
                shard,
                reason,
                record: String::new(),
            }),
        }
    }
    (submissions, dead)
}
