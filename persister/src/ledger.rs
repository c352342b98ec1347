//! The ledger stage: appends stored submissions to their click day's
//! arrival ledger in batches, in the order they were stored, and signs a
//! checkpoint at most every `ledger.checkpoint_interval` while leaves
//! arrive — and once more for whatever is left when it stops.
//!
//! Each batch commits with the log's new state and the submissions' leaf
//! indexes in one transaction (the store's `append_ledger`), so a crash
//! loses the batch whole and the next start appends it again: never a leaf
//! twice, never a gap. The right edge of each log stays in memory between
//! batches; it is read back from the stored tiles (and checked against the
//! stored root) on start or after another persister moved the log.

use crate::metrics::Metrics;
use clickday_ledger::{Hash, Leaf, LogKey, LogTree, origin_for};
use clickday_store::{LedgerBatch, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long to wait when every stored submission is in the ledger.
const IDLE: Duration = Duration::from_millis(100);
/// The wait after a failed round (the store is unavailable).
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("click day {click_day}: {detail}")]
    Tree { click_day: String, detail: String },
}

/// One click day's log as this persister knows it.
struct Log {
    tree: LogTree,
    root: Hash,
    /// Size of the newest checkpoint, and when this stage signed last.
    signed_size: u64,
    signed_at: Option<Instant>,
}

pub(crate) struct LedgerStage {
    pub store: Arc<dyn Store>,
    pub key: Arc<LogKey>,
    pub origin: String,
    pub batch: usize,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    logs: HashMap<String, Log>,
}

impl LedgerStage {
    pub(crate) fn new(
        cfg: &clickday_config::LedgerConfig,
        store: Arc<dyn Store>,
        key: Arc<LogKey>,
        metrics: Arc<Metrics>,
    ) -> Self {
        LedgerStage {
            store,
            key,
            origin: cfg.origin.clone(),
            batch: cfg.batch_max,
            interval: cfg.checkpoint_interval,
            metrics,
            logs: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let outcome = match self.load_all().await {
                Ok(()) => self.integrate().await,
                Err(e) => Err(e),
            };
            let signed = self.sign_due(false).await;
            let wait = match (outcome, signed) {
                (Ok(appended), Ok(())) if appended >= self.batch => Duration::ZERO,
                (Ok(_), Ok(())) => IDLE,
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "arrival ledger round failed; retrying");
                    // Read the edge back: a failed commit may have moved it.
                    self.logs.clear();
                    RETRY
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        // What was appended gets a checkpoint before the process goes.
        if let Err(e) = self.sign_due(true).await {
            tracing::warn!(error = %e, "final ledger checkpoint not signed");
        }
    }

    /// Reads every stored log when none is in memory (on start, after a
    /// failure), so one appended but not yet checkpointed gets signed.
    async fn load_all(&mut self) -> Result<(), LedgerError> {
        if self.logs.is_empty() {
            for day in self.store.ledger_days().await? {
                self.log(&day).await?;
            }
        }
        Ok(())
    }

    /// Appends one batch of unlogged submissions; returns how many.
    async fn integrate(&mut self) -> Result<usize, LedgerError> {
        let rows = self.store.unlogged(self.batch).await?;
        let mut by_day: Vec<(String, Vec<Leaf>)> = Vec::new();
        for row in &rows {
            let leaf = Leaf::of(row);
            match by_day.iter_mut().find(|(day, _)| *day == leaf.click_day) {
                Some((_, leaves)) => leaves.push(leaf),
                None => by_day.push((leaf.click_day.clone(), vec![leaf])),
            }
        }
        let mut appended = 0;
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        for (day, leaves) in by_day {
            let log = self.log(&day).await?;
            let bytes: Vec<Vec<u8>> = leaves.iter().map(Leaf::to_bytes).collect();
            let (next, batch) = log
                .tree
                .append(bytes.iter().map(Vec::as_slice))
                .map_err(|e| LedgerError::Tree {
                    click_day: day.clone(),
                    detail: e.to_string(),
                })?;
            let tiles: Vec<(String, Vec<u8>)> = batch
                .tiles
                .into_iter()
                .map(|(path, data)| (path.to_string(), data))
                .collect();
            let ids: Vec<String> = leaves.into_iter().map(|l| l.submission_id).collect();
            let committed = store
                .append_ledger(&LedgerBatch {
                    click_day: &day,
                    old_size: batch.old_size,
                    new_size: batch.size,
                    root: batch.root.0,
                    tiles: &tiles,
                    submission_ids: &ids,
                })
                .await?;
            if committed {
                log.tree = next;
                log.root = batch.root;
                appended += ids.len();
                metrics.ledger_leaves.inc_by(ids.len() as u64);
            } else {
                // Another persister appended first: read its edge next round.
                tracing::debug!(click_day = %day, "ledger moved under us; reloading");
                self.logs.remove(&day);
            }
        }
        Ok(appended)
    }

    /// The log of `day`, read from the store the first time.
    async fn log(&mut self, day: &str) -> Result<&mut Log, LedgerError> {
        if !self.logs.contains_key(day) {
            let tree_error = |detail: String| LedgerError::Tree {
                click_day: day.to_string(),
                detail,
            };
            let (tree, root) = match self.store.ledger_state(day).await? {
                None => (LogTree::empty(), clickday_ledger::empty_root()),
                Some((size, root)) => {
                    let mut tiles = Vec::new();
                    for path in LogTree::edge_paths(size) {
                        let data = self
                            .store
                            .ledger_tile(day, &path.to_string())
                            .await?
                            .ok_or_else(|| tree_error(format!("stored tile {path} is missing")))?;
                        tiles.push((path, data));
                    }
                    let tree = LogTree::resume(size, Hash(root), tiles)
                        .map_err(|e| tree_error(e.to_string()))?;
                    (tree, Hash(root))
                }
            };
            let signed_size = self
                .store
                .latest_checkpoint(day)
                .await?
                .map_or(0, |(size, _)| size);
            self.logs.insert(
                day.to_string(),
                Log {
                    tree,
                    root,
                    signed_size,
                    signed_at: None,
                },
            );
        }
        Ok(self.logs.get_mut(day).expect("inserted above"))
    }

    /// Signs a checkpoint for every log that grew since its last one, if
    /// the interval has passed (or `now`).
    async fn sign_due(&mut self, now: bool) -> Result<(), LedgerError> {
        for (day, log) in &mut self.logs {
            let size = log.tree.size();
            let due = log.signed_at.is_none_or(|at| at.elapsed() >= self.interval);
            if size > log.signed_size && (due || now) {
                let checkpoint = self
                    .key
                    .sign(&origin_for(&self.origin, day), size, &log.root);
                self.store
                    .save_checkpoint(day, size, &checkpoint.note)
                    .await?;
                log.signed_size = size;
                log.signed_at = Some(Instant::now());
                self.metrics.ledger_checkpoints.inc();
            }
        }
        Ok(())
    }
}
