//! The persister: a consumer-group member that moves accepted submissions
//! from the queue into the store, exactly once, and ranks each click day
//! once it has closed and the queue has drained.
//!
//! Exactly once = at-least-once delivery (nothing is acknowledged before the
//! store committed it) + idempotent storage (a redelivered submission id is
//! recognised and left alone).

mod email;
mod ingest;
mod ledger;
pub mod metrics;
mod ranking;
pub mod receipts;

pub use ranking::rank_click_day;

use clickday_config::Config;
use clickday_queue::Queue;
use clickday_store::Store;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why the persister could not start (once running, it retries instead).
#[derive(Debug, thiserror::Error)]
pub enum PersisterError {
    /// The receipt signing key could not be read or created.
    #[error("receipt key {}: {source}", path.display())]
    ReceiptKey {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The arrival ledger's key could not be read or created.
    #[error("ledger key: {0}")]
    LedgerKey(#[from] clickday_ledger::KeyError),
    /// `email.from` is not a mailbox.
    #[error("email.from {from:?}: {source}")]
    Sender {
        from: String,
        #[source]
        source: lettre::address::AddressError,
    },
    /// The folder of written emails could not be made.
    #[error("email folder {}: {source}", path.display())]
    Outbox {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the persister until `shutdown`: one consumer task per queue shard,
/// the receipt stage, the arrival-ledger stage and the ranking task. Each consumer finishes (stores
/// and acks) the batch it holds before it stops.
pub async fn run(
    cfg: &Config,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    clock: clickday_core::Clock,
    shutdown: CancellationToken,
) -> Result<(), PersisterError> {
    run_with_metrics(cfg, queue, store, clock, Arc::default(), shutdown).await
}

/// [`run`], recording into `metrics` (so a process can expose them).
pub async fn run_with_metrics(
    cfg: &Config,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    clock: clickday_core::Clock,
    metrics: Arc<metrics::Metrics>,
    shutdown: CancellationToken,
) -> Result<(), PersisterError> {
    let key = receipts::load_or_create_key(&cfg.receipts.key_file).map_err(|source| {
        PersisterError::ReceiptKey {
            path: cfg.receipts.key_file.clone(),
            source,
        }
    })?;
    let shared = Arc::new(ingest::Ingest::new(
        cfg,
        queue.clone(),
        store.clone(),
        metrics.clone(),
    ));
    let (log_key, created) =
        clickday_ledger::LogKey::load_or_create(&cfg.ledger.key_file, &cfg.ledger.origin)?;
    if created {
        tracing::warn!(path = %cfg.ledger.key_file.display(), verifier_key = %log_key.verifier_key(),
            "generated a new arrival-ledger key; publish its verifier key");
    }
    let log_key = Arc::new(log_key);
    let mut tasks = JoinSet::new();
    tasks.spawn(publish_keys(
        store.clone(),
        published(&key, log_key.verifier_key()),
        shutdown.clone(),
    ));
    let stage = receipts::ReceiptStage {
        store: store.clone(),
        key: Arc::new(key),
        ledger: Arc::new(log_key.verifier()),
        origin: cfg.ledger.origin.clone(),
        batch: cfg.receipts.batch_max,
        ingest_backlog: shared.backlog_flag(),
        metrics: metrics.clone(),
        models: Arc::new(cfg.application_models.clone()),
    };
    tasks.spawn(stage.run(shutdown.clone()));
    let ledger = ledger::LedgerStage::new(&cfg.ledger, store.clone(), log_key, metrics.clone());
    tasks.spawn(ledger.run(shutdown.clone()));
    let email = email::EmailStage::new(
        &cfg.email,
        &cfg.portal.public_url,
        store.clone(),
        &cfg.persister.consumer,
        metrics.clone(),
        shared.backlog_flag(),
    )?;
    tasks.spawn(metrics.clone().refresh_loop(
        queue.clone(),
        store.clone(),
        clock.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(email.run(shutdown.clone()));
    for shard in 0..queue.shards() {
        for worker in 0..cfg.persister.workers_per_shard {
            tasks.spawn(shared.clone().consume(shard, worker, shutdown.clone()));
        }
    }
    if cfg.persister.rank_after_close {
        let ranker = ranking::Ranker::new(cfg, queue, store, shared.touched_days(), clock);
        tasks.spawn(ranker.run(shutdown.clone()));
    }
    tracing::info!(consumer = %cfg.persister.consumer, shards = tasks.len(), "persister running");
    while tasks.join_next().await.is_some() {}
    tracing::info!("persister stopped");
    Ok(())
}

/// What this persister signs with, to publish: (kind, key id, public key).
fn published(
    receipt: &ed25519_dalek::SigningKey,
    verifier_key: &str,
) -> [(String, String, String); 2] {
    use base64::Engine as _;
    let public = receipt.verifying_key();
    let ledger_id = verifier_key.split('+').nth(1).unwrap_or_default();
    [
        (
            "receipt".into(),
            clickday_core::receipt::receipt_key_id(receipt).to_string(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public.as_bytes()),
        ),
        ("ledger".into(), ledger_id.into(), verifier_key.into()),
    ]
}

/// Publishes the keys in the store (the gateways serve them at
/// `GET /v1/keys`), retrying while the store is unreachable.
async fn publish_keys(
    store: Arc<dyn Store>,
    keys: [(String, String, String); 2],
    shutdown: CancellationToken,
) {
    for (kind, key_id, public_key) in &keys {
        while let Err(e) = store.publish_key(kind, key_id, public_key).await {
            tracing::warn!(error = %e, kind, "cannot publish the key yet; retrying");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}
