//! An in-memory queue with the same semantics and no durability: for
//! benchmarks of the gateway's own cost, and as a reference for the suite.

use crate::{Delivery, Enqueued, Queue, QueueError};
use clickday_core::Submission;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// node → (holder, claim expiry)
    claims: HashMap<u16, (String, Instant)>,
    records: Vec<Submission>,
    /// (account, application) → index in `records`.
    dedupe: HashMap<(String, String), usize>,
    /// index → (consumer, delivered at, acked)
    delivered: HashMap<usize, (String, Instant, bool)>,
    next_undelivered: usize,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn delivery(index: usize, submission: &Submission) -> Delivery {
    Delivery {
        id: index.to_string(),
        submission: Ok(submission.clone()),
    }
}

#[async_trait::async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, record: &Submission) -> Result<Enqueued, QueueError> {
        let mut state = self.state();
        let key = (
            record.account_id.clone(),
            record.application.application_id.clone(),
        );
        if let Some(&index) = state.dedupe.get(&key) {
            let previous = &state.records[index];
            return Ok(if previous.body_sha256 == record.body_sha256 {
                Enqueued::Duplicate {
                    submission_id: previous.submission_id.clone(),
                    received_at: previous.received_at(),
                }
            } else {
                Enqueued::Conflict
            });
        }
        let index = state.records.len();
        state.records.push(record.clone());
        state.dedupe.insert(key, index);
        Ok(Enqueued::New)
    }

    async fn check_ready(&self) -> Result<(), QueueError> {
        Ok(())
    }

    async fn last_stamp(&self, node: u16) -> Result<u64, QueueError> {
        Ok(self
            .state()
            .records
            .iter()
            .filter(|r| r.stamp.node == node)
            .map(|r| r.received_at())
            .max()
            .unwrap_or(0))
    }

    fn shards(&self) -> u16 {
        1
    }

    async fn claim_node(
        &self,
        node: u16,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<String>, QueueError> {
        let mut state = self.state();
        let now = Instant::now();
        match state.claims.get(&node) {
            Some((other, until)) if other != holder && *until > now => Ok(Some(other.clone())),
            _ => {
                state.claims.insert(node, (holder.to_string(), now + lease));
                Ok(None)
            }
        }
    }

    async fn release_node(&self, node: u16, holder: &str) -> Result<(), QueueError> {
        let mut state = self.state();
        if state.claims.get(&node).is_some_and(|(h, _)| h == holder) {
            state.claims.remove(&node);
        }
        Ok(())
    }

    async fn server_time(&self) -> Result<Option<u64>, QueueError> {
        Ok(None)
    }

    async fn read_batch(
        &self,
        _shard: u16,
        consumer: &str,
        max: usize,
        _block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut state = self.state();
        let start = state.next_undelivered;
        let end = (start + max).min(state.records.len());
        let now = Instant::now();
        for index in start..end {
            state
                .delivered
                .insert(index, (consumer.to_string(), now, false));
        }
        state.next_undelivered = end;
        Ok((start..end)
            .map(|i| delivery(i, &state.records[i]))
            .collect())
    }

    async fn claim_stale(
        &self,
        _shard: u16,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut state = self.state();
        let now = Instant::now();
        let mut stale: Vec<usize> = state
            .delivered
            .iter()
            .filter(|(_, (_, at, acked))| !acked && now.duration_since(*at) >= min_idle)
            .map(|(&i, _)| i)
            .collect();
        stale.sort_unstable();
        stale.truncate(max);
        for &index in &stale {
            state
                .delivered
                .insert(index, (consumer.to_string(), now, false));
        }
        Ok(stale
            .into_iter()
            .map(|i| delivery(i, &state.records[i]))
            .collect())
    }

    async fn ack(&self, _shard: u16, ids: &[String]) -> Result<(), QueueError> {
        let mut state = self.state();
        for id in ids {
            let index: usize = id
                .parse()
                .map_err(|_| QueueError::Protocol(format!("bad id {id:?}")))?;
            if let Some(entry) = state.delivered.get_mut(&index) {
                entry.2 = true;
            }
        }
        Ok(())
    }

    async fn pending(&self, _shard: u16) -> Result<u64, QueueError> {
        Ok(self
            .state()
            .delivered
            .values()
            .filter(|(_, _, acked)| !acked)
            .count() as u64)
    }

    async fn backlog(&self, _shard: u16) -> Result<u64, QueueError> {
        let state = self.state();
        Ok((state.records.len() - state.next_undelivered) as u64)
    }

    async fn all_submissions(&self, _shard: u16) -> Result<Vec<Submission>, QueueError> {
        Ok(self.state().records.clone())
    }
}
