//! Ranking: automatically once a click day has closed and the queue has
//! drained, again if rows arrive for it later, and on demand.

use clickday_config::Config;
use clickday_core::{Calendar, ClickDay};
use clickday_queue::Queue;
use clickday_store::{Quota, RankingInput, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the ranker looks at the calendar.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Ranks `day` from the stored rows and the configured quotas, recording
/// the size its arrival ledger had.
pub async fn rank_click_day(store: &dyn Store, day: &ClickDay) -> Result<u64, StoreError> {
    let ledger_size = store.ledger_state(&day.id).await?.map(|(size, _)| size);
    let input = RankingInput {
        ledger_size,
        click_day: day.id.clone(),
        opens_at: day.opens_at,
        closes_at: day.closes_at,
        quotas: day
            .quotas
            .iter()
            .map(|((category, province), places)| Quota {
                category: category.clone(),
                province: province.clone(),
                places: *places,
            })
            .collect(),
    };
    store.rank(&input).await
}

pub(crate) struct Ranker {
    calendar: Calendar,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    touched: Arc<Mutex<BTreeSet<String>>>,
    clock: clickday_core::Clock,
    /// How long after a click day closes its ranking may still change:
    /// admission tickets are honoured that long (a resend keeps a stamp from
    /// before the close), and a submission stamped just before the close
    /// may still be on its way into the queue for an enqueue timeout.
    grace: u64,
}

impl Ranker {
    pub(crate) fn new(
        cfg: &Config,
        queue: Arc<dyn Queue>,
        store: Arc<dyn Store>,
        touched: Arc<Mutex<BTreeSet<String>>>,
        clock: clickday_core::Clock,
    ) -> Self {
        Ranker {
            calendar: cfg.calendar.clone(),
            queue,
            store,
            touched,
            clock,
            grace: (cfg.gateway.ticket_valid_after_close + 2 * cfg.gateway.enqueue_timeout)
                .as_nanos() as u64,
        }
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            if let Err(e) = self.rank_due().await {
                tracing::warn!(error = %e, "ranking check failed; will retry");
            }
        }
    }

    async fn drained(&self) -> Result<bool, clickday_queue::QueueError> {
        for shard in 0..self.queue.shards() {
            if self.queue.backlog(shard).await? > 0 || self.queue.pending(shard).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether every stored submission of `day` is in its ledger and the
    /// newest checkpoint covers them all: the ranking is computed from (and
    /// names) that final checkpoint.
    async fn ledger_final(&self, day: &str) -> Result<bool, StoreError> {
        if self.store.unlogged_count(day).await? > 0 {
            return Ok(false);
        }
        let size = self
            .store
            .ledger_state(day)
            .await?
            .map_or(0, |(size, _)| size);
        let signed = self
            .store
            .latest_checkpoint(day)
            .await?
            .map_or(0, |(size, _)| size);
        Ok(signed == size)
    }

    async fn rank_due(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let now = (self.clock)();
        let closed: Vec<&ClickDay> = self
            .calendar
            .days()
            .filter(|d| now >= d.closes_at + self.grace)
            .collect();
        if closed.is_empty() || !self.drained().await? {
            return Ok(());
        }
        for day in closed {
            let touched = self
                .touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&day.id);
            if (touched || self.store.ranked_at(&day.id).await?.is_none())
                && self.ledger_final(&day.id).await?
            {
                let ranked = rank_click_day(&*self.store, day).await?;
                // Only now: a failed ranking keeps the day marked for the next try.
                self.touched
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&day.id);
                tracing::info!(click_day = %day.id, ranked, "click day ranked");
            }
        }
        Ok(())
    }
}
